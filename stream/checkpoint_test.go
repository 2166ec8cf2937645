package stream_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/bronze"
	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/sink"
	"github.com/strata-data/strata/state"
	"github.com/strata-data/strata/stream"
)

// crashChild makes the test binary run revenueJob on the directory it names (see
// TestMain), so a test can SIGKILL a real process mid-stream.
const crashChild = "STRATA_STREAM_CRASH_CHILD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChild); dir != "" {
		events, _ := strconv.Atoi(os.Getenv(crashChild + "_EVENTS"))
		rate, _ := strconv.ParseFloat(os.Getenv(crashChild+"_RATE"), 64)
		if err := revenueJob(context.Background(), jobConfig{dir: dir, events: events, rate: rate,
			backend: "pebble", interval: 100 * time.Millisecond}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type jobConfig struct {
	dir      string
	events   int
	rate     float64
	backend  string
	interval time.Duration
	// during runs with the dataflow running (e.g. to ask for a checkpoint and cancel).
	during func(ctx context.Context, df *stream.Dataflow, stop func())
	mem    memory.Allocator
	// stages plans the flow (default revenueStages).
	stages func(map[string]*change.Schema, state.Backend, memory.Allocator) []stream.Stage
}

// revenueJob runs the generator workload into a Parquet table under dir/lake,
// with state in dir/state (Pebble) and checkpoints in dir/ckpt.
func revenueJob(ctx context.Context, cfg jobConfig) (err error) {
	sc, err := readShopSchemas()
	if err != nil {
		return err
	}
	var be state.Backend
	if cfg.backend == "pebble" {
		be, err = state.OpenPebble(state.PebbleConfig{Dir: filepath.Join(cfg.dir, "state"), CacheSize: 8 << 20, MemTableSize: 4 << 20})
	} else {
		be, err = state.NewMemory(state.MemoryConfig{})
	}
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, be.Close()) }()
	if cfg.stages == nil {
		cfg.stages = revenueStages
	}
	stages := cfg.stages(sc, be, cfg.mem)
	last, err := stages[len(stages)-1].Build(0)
	if err != nil {
		return err
	}
	store, err := bronze.OpenDir(filepath.Join(cfg.dir, "lake"))
	if err != nil {
		return err
	}
	out, err := sink.OpenParquet(ctx, sink.ParquetConfig{Store: store, Prefix: "gold/revenue", Schema: last.Schema(), Mem: cfg.mem})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, out.Close()) }()
	gc := genConfig(cfg.events)
	gc.Rate = cfg.rate
	src, err := stream.NewCDCSource(stream.CDCSourceConfig{Source: cdc.NewGenerator(gc), Mem: cfg.mem})
	if err != nil {
		return err
	}
	df, err := stream.NewDataflow(stream.DataflowConfig{Source: src, Stages: stages, Sink: out, State: be,
		Partitions: 2, CheckpointDir: filepath.Join(cfg.dir, "ckpt"), CheckpointInterval: cfg.interval, Mem: cfg.mem})
	if err != nil {
		return err
	}
	if cfg.during != nil {
		ctx2, cancel := context.WithCancel(ctx)
		defer cancel()
		go cfg.during(ctx2, df, cancel)
		return df.Run(ctx2)
	}
	return df.Run(ctx)
}

// readRevenue reads the committed table as sorted rows.
func readRevenue(t *testing.T, dir string) []string {
	return readRevenueOf(t, dir, revenueStages)
}

// readRevenueOf reads the table the stages of stagesOf wrote.
func readRevenueOf(t *testing.T, dir string, stagesOf func(map[string]*change.Schema, state.Backend, memory.Allocator) []stream.Stage) []string {
	t.Helper()
	store, err := bronze.OpenDir(filepath.Join(dir, "lake"))
	if err != nil {
		t.Fatal(err)
	}
	sc := shopSchemas(t)
	be, err := state.NewMemory(state.MemoryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	stages := stagesOf(sc, be, nil)
	last, err := stages[len(stages)-1].Build(0)
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	_, err = sink.ReadParquet(context.Background(), store, "gold/revenue", last.Schema(), nil, func(b *change.Batch) {
		for _, r := range b.Rows() {
			rows = append(rows, r.String())
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(rows)
	if len(rows) == 0 {
		t.Fatal("empty revenue table")
	}
	return rows
}

// TestDataflowCheckpointRestart: a run stopped after an on-demand checkpoint and
// restarted (state restored, sink recovered, source reopened at the checkpoint's
// position) ends with the table of an uninterrupted run. The eager plan's run
// ends with the values of the lazy plan's uninterrupted one.
func TestDataflowCheckpointRestart(t *testing.T) {
	for _, tc := range []struct {
		backend string
		eager   bool
	}{{"memory", false}, {"pebble", false}, {"memory", true}, {"pebble", true}} {
		name, stages := tc.backend, revenueStages
		if tc.eager {
			name, stages = name+"-eager", revenueStagesOf(stream.PlanEager)
		}
		backend := tc.backend
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			const events = 3000
			whole := t.TempDir()
			if err := revenueJob(ctx, jobConfig{dir: whole, events: events, backend: backend}); err != nil {
				t.Fatal(err)
			}
			want := readRevenue(t, whole)

			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			dir := t.TempDir()
			var ckptErr error
			var ckptID uint64
			err := revenueJob(ctx, jobConfig{dir: dir, events: events, rate: 20000, backend: backend, mem: mem, stages: stages,
				during: func(ctx context.Context, df *stream.Dataflow, stop func()) {
					time.Sleep(40 * time.Millisecond)
					ckptErr = df.Checkpoint(ctx)
					ckptID, _ = df.LastCheckpoint()
					time.Sleep(20 * time.Millisecond)
					stop()
				}})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("stopped run: %v, want context.Canceled", err)
			}
			if ckptErr != nil || ckptID == 0 {
				t.Fatalf("on-demand checkpoint: id %d, %v", ckptID, ckptErr)
			}
			meta, found, err := stream.LatestCheckpoint(filepath.Join(dir, "ckpt"))
			if err != nil || !found || meta.Position.IsZero() {
				t.Fatalf("latest checkpoint %+v %v %v", meta, found, err)
			}
			if err := revenueJob(ctx, jobConfig{dir: dir, events: events, backend: backend, mem: mem, stages: stages}); err != nil {
				t.Fatal(err)
			}
			if got := readRevenueOf(t, dir, stages); !slices.Equal(got, want) {
				t.Fatalf("restarted run:\n%s\nuninterrupted:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// TestDataflowCrash SIGKILLs a process running the workload once it has
// checkpointed, restarts it, and checks that the final table equals an
// uninterrupted run's exactly.
func TestDataflowCrash(t *testing.T) {
	crashTest(t, 4000, 1)
}

func crashTest(t *testing.T, events, kills int) {
	whole := t.TempDir()
	if err := revenueJob(context.Background(), jobConfig{dir: whole, events: events, backend: "memory"}); err != nil {
		t.Fatal(err)
	}
	want := readRevenue(t, whole)
	dir := t.TempDir()
	start := func(rate float64) (*exec.Cmd, *strings.Builder) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChild+"="+dir, fmt.Sprintf("%s_EVENTS=%d", crashChild, events),
			fmt.Sprintf("%s_RATE=%g", crashChild, rate))
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, &out
	}
	ckdir := filepath.Join(dir, "ckpt")
	var lastKilledAt uint64
	for k := range kills {
		cmd, out := start(float64(events))
		deadline := time.Now().Add(30 * time.Second)
		for {
			meta, found, err := stream.LatestCheckpoint(ckdir)
			if err != nil {
				t.Fatal(err)
			}
			if found && meta.ID >= lastKilledAt+2 {
				lastKilledAt = meta.ID
				break
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatalf("kill %d: no new checkpoint in 30 s; child said:\n%s", k, out)
			}
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(time.Duration(k%3) * 15 * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("kill %d: child ended by itself before the kill (%v):\n%s", k, err, out)
		}
	}
	cmd, out := start(0)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("restarted child: %v\n%s", err, out)
	}
	if got := readRevenue(t, dir); !slices.Equal(got, want) {
		t.Fatalf("after %d kills:\n%s\nuninterrupted:\n%s", kills, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
