package state_test

import (
	"testing"
	"time"

	"github.com/strata-data/strata/state"
	"github.com/strata-data/strata/state/statetest"
)

func newMemory(t *testing.T, now func() time.Time) state.Backend {
	b, err := state.NewMemory(state.MemoryConfig{Config: state.Config{Now: now, SweepInterval: -1}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newPebble(t *testing.T, now func() time.Time) state.Backend {
	b, err := state.OpenPebble(state.PebbleConfig{Dir: t.TempDir() + "/db",
		Config: state.Config{Now: now, SweepInterval: -1}, CacheSize: 8 << 20, MemTableSize: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMemoryConformance(t *testing.T) { statetest.Run(t, newMemory) }
func TestPebbleConformance(t *testing.T) { statetest.Run(t, newPebble) }
