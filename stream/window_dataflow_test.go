package stream_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/state"
	"github.com/strata-data/strata/stream"
)

// clickTxs makes one transaction per batch of click rows, commit positions 1, 2, ...
func clickTxs(t *testing.T, mem memory.Allocator, batches [][][]any) []stream.TxBatches {
	t.Helper()
	var txs []stream.TxBatches
	for i, rows := range batches {
		b, err := change.FromRows(mem, clickSchema, rows)
		if err != nil {
			t.Fatal(err)
		}
		txs = append(txs, stream.TxBatches{Commit: cdc.Position{Major: uint64(i + 1)}, Tables: []string{"clicks"}, Batches: []*change.Batch{b}})
	}
	t.Cleanup(func() {
		for i := range txs {
			txs[i].Release()
		}
	})
	return txs
}

// failingSource fails once after its transaction failAt has been read.
type failingSource struct {
	sliceSource
	failAt int
}

var errInjected = errors.New("injected source failure")

func (s *failingSource) Next(ctx context.Context) (stream.TxBatches, error) {
	if s.failAt > 0 && s.i == s.failAt {
		s.failAt = 0
		return stream.TxBatches{}, errInjected
	}
	return s.sliceSource.Next(ctx)
}

// windowFlow is a two-stage dataflow, both stages partitioned by user: a filter
// (every row passes) and a tumbling window aggregate. Late rows are collected.
type windowFlow struct {
	mu   sync.Mutex
	late []string
}

func (wf *windowFlow) stages(t *testing.T, be state.Backend, mem memory.Allocator, win stream.Windows) []stream.Stage {
	return []stream.Stage{
		{Name: "pass", Inputs: []stream.StageInput{{Table: "clicks", Key: []string{"user"}}},
			Build: func(int) (stream.Node, error) {
				return stream.Single(clickSchema, &stream.Filter{In: clickSchema, Mem: mem, Pred: func(b *change.Batch) ([]bool, error) {
					keep := make([]bool, b.Len())
					for i := range keep {
						keep[i] = true
					}
					return keep, nil
				}}), nil
			}},
		{Name: "windows", Inputs: []stream.StageInput{{Stage: "pass", Key: []string{"user"}}},
			Build: func(int) (stream.Node, error) {
				w, err := stream.NewWindowAggregate(stream.WindowAggregateConfig{ID: "win", Schema: clickSchema, Time: "ts",
					Windows: win, GroupBy: []string{"user"}, Aggs: clickAggs, ExternalWatermark: true,
					AllowedLateness: 3 * time.Second, State: be, Mem: mem,
					Late: func(b *change.Batch) error {
						defer b.Release()
						wf.mu.Lock()
						defer wf.mu.Unlock()
						for _, r := range b.Plain() {
							wf.late = append(wf.late, plainRow(r))
						}
						return nil
					}})
				if err != nil {
					return nil, err
				}
				return stream.Single(clickSchema, w), nil
			}},
	}
}

// writes renders a recordSink's writes of schema sc as "position: row" lines.
func writes(s *recordSink, sc *change.Schema) []string {
	var out []string
	for _, w := range s.writes {
		for i, r := range w.rows {
			vals := []any{w.ops[i]}
			for c, v := range r {
				vals = append(vals, v.Any(sc.Field(c).Type))
			}
			out = append(out, fmt.Sprintf("%d: %s", w.pos.Major, plainRow(vals)))
		}
	}
	return out
}

// outSchema is the schema the last stage emits.
func outSchema(t *testing.T, stages []stream.Stage) *change.Schema {
	t.Helper()
	n, err := stages[len(stages)-1].Build(0)
	if err != nil {
		t.Fatal(err)
	}
	return n.Schema()
}

// TestDataflowWindowIdlePartitions runs one user's clicks through four partitions:
// three partitions of each stage get no rows, yet windows close as the source's
// watermark passes them, not only at the end.
func TestDataflowWindowIdlePartitions(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) }) // after the transactions' release
	var batches [][][]any
	for i := range int64(30) {
		batches = append(batches, [][]any{click(change.Insert, i+1, "a", i, i)})
	}
	txs := clickTxs(t, mem, batches)
	be := newMemoryState(t)
	wf := &windowFlow{}
	stages := wf.stages(t, be, mem, stream.Tumbling(10*time.Second))
	out := &recordSink{}
	df, err := stream.NewDataflow(stream.DataflowConfig{Source: &sliceSource{txs: txs}, Stages: stages, Sink: out,
		State: be, Partitions: 4, Mem: mem,
		Watermark: stream.WatermarkConfig{Columns: map[string]string{"clicks": "ts"}, OutOfOrderness: 2 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	if err := df.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The watermark reaches 10 with the click at 12 (transaction 13).
	want := []string{"13: +I 0 10 a 10 45 0 9 10", "23: +I 10 20 a 10 145 10 19 10", "30: +I 20 30 a 10 245 20 29 10"}
	if got := writes(out, outSchema(t, stages)); !slices.Equal(got, want) {
		t.Errorf("sink got %q\nwant %q", got, want)
	}
	if len(wf.late) != 0 {
		t.Errorf("late rows %q", wf.late)
	}
}

// TestDataflowWindowRestart fails the source mid-stream, after checkpoints, and
// runs the dataflow again on the checkpoint directory: the committed output and
// the run after the restart make exactly the output of an uninterrupted run.
func TestDataflowWindowRestart(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) }) // after the transactions' release
	g := &wgen{r: rand.New(rand.NewPCG(5, 5)), live: map[int64]wrow{}}
	var batches [][][]any
	for range 60 {
		batches = append(batches, g.batch(1+g.r.IntN(6)))
	}
	txs := clickTxs(t, mem, batches)
	wcfg := stream.WatermarkConfig{Columns: map[string]string{"clicks": "ts"}, OutOfOrderness: 4 * time.Second}
	var sc *change.Schema
	run := func(be state.Backend, src stream.BatchSource, dir string) ([]string, error) {
		wf := &windowFlow{}
		out := &recordSink{}
		stages := wf.stages(t, be, mem, stream.Session(3*time.Second))
		sc = outSchema(t, stages)
		cfg := stream.DataflowConfig{Source: src, Stages: stages, Sink: out,
			State: be, Partitions: 3, Mem: mem, Watermark: wcfg}
		if dir != "" {
			cfg.CheckpointDir, cfg.CheckpointInterval = dir, time.Nanosecond // a checkpoint after every transaction
		}
		df, err := stream.NewDataflow(cfg)
		if err != nil {
			t.Fatal(err)
		}
		err = df.Run(context.Background())
		return writes(out, sc), err
	}
	// Partitioned, the result is the one operator's alone (its own watermark, one
	// batch per transaction), however the partitions' goroutines interleave: run
	// several times, as a race between them (a partition reading the shared
	// watermark after another moved it, a sender's rows overtaking a watermark)
	// shows in some runs only.
	alone := newWindowHarness(t, newMemoryState(t), stream.WindowAggregateConfig{Windows: stream.Session(3 * time.Second),
		OutOfOrderness: wcfg.OutOfOrderness, AllowedLateness: 3 * time.Second})
	for _, b := range batches {
		alone.process(b...)
	}
	alone.watermark(stream.MaxWatermark)
	aloneOut, _ := alone.take()
	var whole []string
	for i := range 20 {
		var err error
		whole, err = run(newMemoryState(t), &sliceSource{txs: txs}, "")
		if err != nil {
			t.Fatal(err)
		}
		var flowOut []string
		for _, w := range whole {
			flowOut = append(flowOut, w[strings.Index(w, ": ")+2:])
		}
		if d := diffWindowTables(materializeWindows(t, flowOut), materializeWindows(t, aloneOut)); d != "" {
			t.Fatalf("run %d: partitioned result differs from the operator's alone:\n%s", i, d)
		}
	}

	dir := filepath.Join(t.TempDir(), "ckpt")
	be := newMemoryState(t)
	first, err := run(be, &failingSource{sliceSource: sliceSource{txs: txs}, failAt: 35}, dir)
	if !errors.Is(err, errInjected) {
		t.Fatalf("first run: %v, want the injected failure", err)
	}
	meta, ok, err := stream.LatestCheckpoint(dir)
	if err != nil || !ok || meta.Position.Major < 20 {
		t.Fatalf("latest checkpoint %+v %v %v: want one past transaction 20", meta, ok, err)
	}
	second, err := run(be, &sliceSource{txs: txs}, dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range first {
		var pos uint64
		fmt.Sscanf(w, "%d:", &pos)
		if pos <= meta.Position.Major { // committed before the failure
			got = append(got, w)
		}
	}
	got = append(got, second...)
	// Partitions write an epoch's rows in any order between them.
	byPosition := func(lines []string) []string {
		out := slices.Clone(lines)
		slices.SortStableFunc(out, func(a, b string) int {
			var pa, pb uint64
			fmt.Sscanf(a, "%d:", &pa)
			fmt.Sscanf(b, "%d:", &pb)
			if pa != pb {
				return cmp.Compare(pa, pb)
			}
			return strings.Compare(a, b)
		})
		return out
	}
	got, whole = byPosition(got), byPosition(whole)
	if !slices.Equal(got, whole) || len(whole) == 0 {
		t.Errorf("output with a restart:\n got %q\nwant %q", got, whole)
	}
}
