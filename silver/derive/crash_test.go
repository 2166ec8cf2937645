package derive_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/bronze"
	"github.com/strata-data/strata/silver/derive"
)

// crashChild makes the test binary follow the lake in the directory it names (see
// TestMain), so a test can SIGKILL a real process at any instant.
const crashChild = "STRATA_DERIVE_CRASH_CHILD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChild); dir != "" {
		if err := follow(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// follow maintains the derived table of the lake in dir/lake until killed, with
// frequent checkpoints and an apply per feed step.
func follow(dir string) error {
	ctx := context.Background()
	store, err := bronze.OpenDir(filepath.Join(dir, "lake"))
	if err != nil {
		return err
	}
	// OpenDir removes the temporary files of Puts in progress, also the parent's:
	// the parent writes again only once the store is open.
	fmt.Println("ready")
	d, err := derive.Open(ctx, derive.Config{Store: store, Name: derived, Inputs: []string{customers, addresses, orders},
		Build: customer360, CheckpointDir: filepath.Join(dir, "ckpt"), Partitions: 2, PollInterval: 2 * time.Millisecond,
		CheckpointInterval: 15 * time.Millisecond, MaxPendingChanges: 1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	return d.Follow(ctx)
}

// A process maintaining the derived table is SIGKILLed again and again while the
// inputs change: after the last restart catches up, the table equals the
// recomputation.
func TestDerivedSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	ctx := context.Background()
	dir := t.TempDir()
	store, err := bronze.OpenDir(filepath.Join(dir, "lake"))
	require.NoError(t, err)
	wl := newWorkload(t, store, 9)
	app := newApplier(t, store)
	wl.round(t, 40)
	_, err = app.CatchUp(ctx)
	require.NoError(t, err)
	exe, err := os.Executable()
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(9, 9))
	for kill := range 8 {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChild+"="+dir)
		out, err := os.CreateTemp(dir, "child-*.log")
		require.NoError(t, err)
		cmd.Stderr = out
		ready, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		line, err := bufio.NewReader(ready).ReadString('\n')
		require.NoError(t, err)
		require.Equal(t, "ready\n", line)
		deadline := time.Now().Add(time.Duration(50+rng.IntN(400)) * time.Millisecond)
		for time.Now().Before(deadline) {
			wl.round(t, 5+rng.IntN(30))
			_, err := app.CatchUp(ctx)
			require.NoError(t, err)
		}
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		err = cmd.Wait()
		log, _ := os.ReadFile(out.Name())
		require.Error(t, err, "kill %d: the child ended by itself: %s", kill, log)
		require.Empty(t, string(log), "kill %d", kill)
	}
	d := openDerived(t, store, filepath.Join(dir, "ckpt"), 2, false)
	before := d.Table().Position()
	require.NoError(t, d.CatchUp(ctx))
	t.Logf("derived table at step %s before the last catch-up, %s after; %d snapshots", before, d.Table().Position(), len(d.Table().Snapshots()))
	require.False(t, before.IsZero(), "the children applied something")
	require.Equal(t, wl.expected(), tableRows(t, d.Table()))
}
