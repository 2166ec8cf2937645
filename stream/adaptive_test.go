package stream_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/stream"
)

// insertTxs makes n transactions of one insert each into table "t".
func insertTxs(t *testing.T, mem memory.Allocator, n int) (*change.Schema, []stream.TxBatches) {
	sc := change.MustSchema([]arrow.Field{change.NotNull("id", arrow.PrimitiveTypes.Int64)}, "id")
	txs := make([]stream.TxBatches, n)
	for i := range txs {
		b, err := change.FromRows(mem, sc, [][]any{{change.Insert, i}})
		if err != nil {
			t.Fatal(err)
		}
		txs[i] = stream.TxBatches{Commit: cdc.Position{Major: uint64(i + 1)}, Tables: []string{"t"}, Batches: []*change.Batch{b}}
	}
	return sc, txs
}

// positionSink records the positions it was written at, and wakes whoever waits
// for one.
type positionSink struct {
	mu   sync.Mutex
	cond *sync.Cond
	rows int
	pos  []cdc.Position
}

func newPositionSink() *positionSink {
	s := &positionSink{}
	s.cond = sync.NewCond(&s.mu)
	return s
}

func (s *positionSink) Write(ctx context.Context, b *change.Batch, pos cdc.Position) error {
	defer b.Release()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rows += b.Len()
	if n := len(s.pos); n == 0 || s.pos[n-1] != pos {
		s.pos = append(s.pos, pos)
	}
	s.cond.Broadcast()
	return nil
}
func (s *positionSink) Flush(context.Context) error { return nil }
func (s *positionSink) Close() error                { return nil }

// waitFor waits until the sink has been written at pos, or d has passed.
func (s *positionSink) waitFor(pos cdc.Position, d time.Duration) bool {
	deadline := time.Now().Add(d)
	stop := time.AfterFunc(d, func() { s.mu.Lock(); s.cond.Broadcast(); s.mu.Unlock() })
	defer stop.Stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if n := len(s.pos); n > 0 && !s.pos[n-1].Less(pos) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		s.cond.Wait()
	}
}

// gatedSource hands out transaction i only once the sink has the output of
// transaction i-1: a source that is slower than the flow.
type gatedSource struct {
	sliceSource
	out *positionSink
}

func (s *gatedSource) Next(ctx context.Context) (stream.TxBatches, error) {
	if s.i > 0 && s.i < len(s.txs) && !s.out.waitFor(s.txs[s.i-1].Commit, 5*time.Second) {
		return stream.TxBatches{}, fmt.Errorf("transaction %s never reached the sink: its epoch waited for more", s.txs[s.i-1].Commit)
	}
	return s.sliceSource.Next(ctx)
}

func passThrough(t *testing.T, sc *change.Schema) []stream.Stage {
	p, err := stream.NewProject(sc, []string{"id"})
	if err != nil {
		t.Fatal(err)
	}
	return []stream.Stage{{Name: "p", Inputs: []stream.StageInput{{Table: "t", Key: []string{"id"}}},
		Build: func(int) (stream.Node, error) { return stream.Single(sc, p), nil }}}
}

// With adaptive epochs, a transaction goes to the sink as soon as the source has
// nothing more ready; when the source has many ready, epochs take up to
// MaxEpochTxs of them.
func TestDataflowAdaptiveEpochs(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	const n, maxEpoch = 1000, 16
	sc, txs := insertTxs(t, mem, n)
	defer func() {
		for i := range txs {
			txs[i].Release()
		}
	}()
	run := func(t *testing.T, src stream.BatchSource, out *positionSink, rows int) {
		t.Helper()
		df, err := stream.NewDataflow(stream.DataflowConfig{Source: src, Stages: passThrough(t, sc), Sink: out,
			State: openBackend(t, "memory"), Partitions: 2, Mem: mem, MaxEpochTxs: maxEpoch})
		if err != nil {
			t.Fatal(err)
		}
		if err := df.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		if out.rows != rows {
			t.Fatalf("sink got %d rows, want %d", out.rows, rows)
		}
	}

	t.Run("slow-source", func(t *testing.T) {
		out := newPositionSink()
		run(t, &gatedSource{sliceSource: sliceSource{txs: txs[:50]}, out: out}, out, 50)
	})

	t.Run("busy-source", func(t *testing.T) {
		// On one core the read-ahead goroutine runs only when the flow yields: the
		// epoch must not end just because it has not run yet.
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
		out := newPositionSink()
		run(t, &sliceSource{txs: txs}, out, n)
		prev := uint64(0)
		for _, p := range out.pos {
			if p.Major-prev > maxEpoch {
				t.Fatalf("an epoch of %d transactions ended at %s: more than MaxEpochTxs %d", p.Major-prev, p, maxEpoch)
			}
			prev = p.Major
		}
		if prev != n {
			t.Fatalf("last epoch ended at %d, want %d", prev, n)
		}
		if most := n / maxEpoch * 3 / 2; len(out.pos) > most {
			t.Fatalf("%d epochs for %d transactions that were all ready, want at most %d: epochs did not grow", len(out.pos), n, most)
		}
		t.Logf("%d transactions in %d epochs", n, len(out.pos))
	})
}
