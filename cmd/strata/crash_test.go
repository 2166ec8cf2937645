package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/bronze"
	"github.com/strata-data/strata/cdc"
)

// childArgs makes the test binary run the strata command line it holds (arguments
// separated by the unit separator 0x1f), so a test can SIGKILL a real strata process.
const childArgs = "STRATA_CLI_CHILD_ARGS"

func TestMain(m *testing.M) {
	if a := os.Getenv(childArgs); a != "" {
		os.Exit(run(strings.Split(a, "\x1f"), os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// startStrata starts the command line args as a child process.
func startStrata(t *testing.T, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childArgs+"="+strings.Join(args, "\x1f"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	return cmd, &out
}

// generatorJSON returns the generator's events as the assembler orders them, as
// normalized JSON: what a lake of the same stream must replay, byte for byte.
func generatorJSON(t *testing.T, cfg cdc.GeneratorConfig) []string {
	t.Helper()
	ctx := context.Background()
	g := cdc.NewGenerator(cfg)
	require.NoError(t, g.Open(ctx, cdc.Position{}))
	a := cdc.NewAssembler(cdc.AssemblerConfig{})
	var out []string
	take := func() {
		for tx, ok := a.Next(); ok; tx, ok = a.Next() {
			for i := range tx.Events {
				out = append(out, string(cdc.AppendEventJSON(nil, &tx.Events[i])))
			}
		}
	}
	for {
		ev, err := g.Read(ctx)
		if errors.Is(err, io.EOF) {
			require.NoError(t, a.Flush(ctx))
			take()
			return out
		}
		require.NoError(t, err)
		require.NoError(t, a.Add(ctx, &ev))
		take()
	}
}

// An ingest killed with SIGKILL at random instants and restarted each time ends with a
// lake that holds every generated event exactly once, verifies, and replays in commit
// order: the same events, in the same order, as the source stream assembled directly.
func TestIngestSurvivesSIGKILL(t *testing.T) {
	rounds, events := crashRounds, crashEvents
	for round := range rounds {
		seed := int64(100 + round)
		lake := t.TempDir()
		from := fmt.Sprintf("gen://?seed=%d&events=%d", seed, events)
		r := rand.New(rand.NewPCG(uint64(seed), 1))
		kills := 0
		for attempt := 0; ; attempt++ {
			cmd, out := startStrata(t, "ingest", "--from", from, "--lake", lake, "--commit-events", fmt.Sprint(500+r.IntN(3000)), "--quiet")
			if attempt < 3 {
				done := make(chan error, 1)
				go func() { done <- cmd.Wait() }()
				select {
				case err := <-done: // finished before the kill
					require.NoError(t, err, "round %d: %s", round, out)
				case <-time.After(time.Duration(20+r.IntN(600)) * time.Millisecond):
					require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
					<-done
					kills++
					continue
				}
			} else {
				require.NoError(t, cmd.Wait(), "round %d: %s", round, out)
			}
			require.Contains(t, out.String(), "ingested")
			break
		}
		store, err := bronze.OpenDir(lake)
		require.NoError(t, err)
		rd, err := bronze.OpenReader(context.Background(), store)
		require.NoError(t, err)
		rep, err := rd.Verify(context.Background())
		require.NoError(t, err, "round %d", round)
		require.EqualValues(t, events, rep.Events, "round %d after %d kills", round, kills)
		require.Zero(t, rep.DuplicatePositions)
		require.Zero(t, rep.OutOfOrder)

		want := generatorJSON(t, cdc.GeneratorConfig{Seed: seed, Events: events})
		i := 0
		for ev, err := range rd.Replay(context.Background(), bronze.ReplayOptions{}) {
			require.NoError(t, err)
			require.Less(t, i, len(want))
			require.Equal(t, want[i], string(cdc.AppendEventJSON(nil, &ev)), "round %d: event %d", round, i)
			i++
		}
		require.Equal(t, len(want), i)
		t.Logf("round %d: %d kills, %d commits, %d events", round, kills, rep.Commits, rep.Events)

		// The CLI's verify agrees.
		var vout, verr bytes.Buffer
		require.Equal(t, 0, run([]string{"bronze", "verify", "--lake", lake}, &vout, &verr), verr.String())
		require.Contains(t, vout.String(), fmt.Sprintf("events %d\n", events))
		require.Contains(t, vout.String(), "duplicate positions 0\n")
	}
}
