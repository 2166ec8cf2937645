package stream_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/stream"
)

// Addresses move between customers: each move is a -U to the partition of the old
// customer and a +U to the new one's, which may apply its insert first. The
// partitioned join must give what one partition gives, and what joining the final
// tables gives. (It failed with "right row inserted twice" when the partitions
// shared the join's primary-key entries.)
func TestDataflowJoinKeyMovesAcrossPartitions(t *testing.T) {
	addr := change.MustSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "cust", Type: arrow.PrimitiveTypes.Int64}, {Name: "city", Type: arrow.BinaryTypes.String}}, "id")
	cust := change.MustSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "name", Type: arrow.BinaryTypes.String}}, "id")
	rng := rand.New(rand.NewPCG(7, 9))
	const nCust, nAddr = 40, 200
	var txs []stream.TxBatches
	batch := func(s *change.Schema, rows [][]any) *change.Batch {
		b, err := change.FromRows(nil, s, rows)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var custRows [][]any
	for c := range nCust {
		custRows = append(custRows, []any{change.Insert, int64(c), fmt.Sprint("c", c)})
	}
	where := map[int64]int64{} // address -> customer
	var addrRows [][]any
	for a := range int64(nAddr) {
		where[a] = rng.Int64N(nCust)
		addrRows = append(addrRows, []any{change.Insert, a, where[a], fmt.Sprint("city", a)})
	}
	txs = append(txs, stream.TxBatches{Commit: cdc.Position{Major: 1}, Tables: []string{"cust", "addr"},
		Batches: []*change.Batch{batch(cust, custRows), batch(addr, addrRows)}})
	for i := range 300 {
		var rows [][]any
		for range 1 + rng.IntN(6) {
			a := rng.Int64N(nAddr)
			to := rng.Int64N(nCust)
			rows = append(rows, []any{change.UpdateBefore, a, where[a], fmt.Sprint("city", a)},
				[]any{change.UpdateAfter, a, to, fmt.Sprint("city", a)})
			where[a] = to
		}
		txs = append(txs, stream.TxBatches{Commit: cdc.Position{Major: uint64(i + 2)}, Tables: []string{"addr"},
			Batches: []*change.Batch{batch(addr, rows)}})
	}
	defer func() {
		for _, tx := range txs {
			tx.Release()
		}
	}()
	var want []string
	for a, c := range where {
		want = append(want, fmt.Sprintf("%d %d city%d %d c%d", a, c, a, c, c))
	}
	slices.Sort(want)

	for _, partitions := range []int{1, 2, 4} {
		for _, epoch := range []int{1, 50} {
			t.Run(fmt.Sprintf("partitions=%d/epoch=%d", partitions, epoch), func(t *testing.T) {
				be := openBackend(t, "memory")
				build := func(int) (stream.Node, error) {
					return stream.NewJoin(stream.JoinConfig{ID: "ac", Left: addr, Right: cust,
						LeftKeys: []string{"cust"}, RightKeys: []string{"id"}, RightPrefix: "c_", State: be})
				}
				out := &recordSink{}
				df, err := stream.NewDataflow(stream.DataflowConfig{Source: &sliceSource{txs: txs},
					Stages: []stream.Stage{{Name: "join", Inputs: []stream.StageInput{{Table: "addr", Key: []string{"cust"}},
						{Table: "cust", Key: []string{"id"}}}, Build: build}},
					Sink: out, State: be, Partitions: partitions, EpochTxs: epoch})
				if err != nil {
					t.Fatal(err)
				}
				if err := df.Run(context.Background()); err != nil {
					t.Fatal(err)
				}
				held := map[string]int{}
				for _, w := range out.writes {
					for i, op := range w.ops {
						var b strings.Builder
						for j, v := range w.rows[i] {
							if j > 0 {
								b.WriteByte(' ')
							}
							b.WriteString(v.String())
						}
						if op.IsRetraction() {
							held[b.String()]--
						} else {
							held[b.String()]++
						}
					}
				}
				var got []string
				for r, n := range held {
					if n < 0 || n > 1 {
						t.Fatalf("row %q held %d times", r, n)
					}
					if n == 1 {
						got = append(got, strings.ReplaceAll(r, `"`, ""))
					}
				}
				slices.Sort(got)
				if !slices.Equal(got, want) {
					t.Fatalf("%d joined rows, want %d; first %q vs %q", len(got), len(want), got[:min(3, len(got))], want[:3])
				}
			})
		}
	}
}

// A checkpoint restores only into as many partitions as took it: the joins' primary-key
// entries are kept per partition.
func TestDataflowRestoreChecksPartitions(t *testing.T) {
	sc := shopSchemas(t)
	dir := t.TempDir()
	run := func(partitions int) error {
		be := openBackend(t, "memory")
		src, err := stream.NewCDCSource(stream.CDCSourceConfig{Source: cdc.NewGenerator(genConfig(300))})
		if err != nil {
			t.Fatal(err)
		}
		df, err := stream.NewDataflow(stream.DataflowConfig{Source: src, Stages: revenueStages(sc, be, nil), Sink: &recordSink{},
			State: be, Partitions: partitions, CheckpointDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		return df.Run(context.Background())
	}
	if err := run(2); err != nil {
		t.Fatal(err)
	}
	if err := run(3); !errors.Is(err, stream.ErrConfig) || !strings.Contains(err.Error(), "taken with 2 partitions") {
		t.Fatalf("restore into 3 partitions: %v, want ErrConfig naming the 2 partitions", err)
	}
	if err := run(2); err != nil {
		t.Fatalf("restore into 2 partitions: %v", err)
	}
}

// stuckOp takes its first batch and then waits for the run to be cancelled, so the
// channel before it fills up and the source waits to route to it.
type stuckOp struct{ s *change.Schema }

func (o stuckOp) Schema() *change.Schema { return o.s }
func (o stuckOp) Process(ctx context.Context, in *change.Batch, emit stream.Emit) error {
	in.Release()
	<-ctx.Done()
	return context.Cause(ctx)
}

// A run cancelled while the source waits to route a table that feeds two stages
// releases every batch (the reference kept for a later route leaked).
func TestDataflowCancelReleasesBatches(t *testing.T) {
	kv := change.MustSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "v", Type: arrow.BinaryTypes.String}}, "id")
	for round := range 5 {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		var txs []stream.TxBatches
		for i := range 50 { // big transactions: the source routes every 4096 rows, no barrier between
			var rows [][]any
			for j := range 500 {
				rows = append(rows, []any{change.Insert, int64(i*500 + j), "v"})
			}
			b, err := change.FromRows(mem, kv, rows)
			if err != nil {
				t.Fatal(err)
			}
			txs = append(txs, stream.TxBatches{Commit: cdc.Position{Major: uint64(i + 1)}, Tables: []string{"kv"}, Batches: []*change.Batch{b}})
		}
		be := openBackend(t, "memory")
		ctx, cancel := context.WithCancel(context.Background())
		df, err := stream.NewDataflow(stream.DataflowConfig{Source: &sliceSource{txs: txs},
			Stages: []stream.Stage{
				{Name: "a", Inputs: []stream.StageInput{{Table: "kv", Key: []string{"id"}}},
					Build: func(int) (stream.Node, error) { return stream.Single(kv, stuckOp{kv}), nil }},
				{Name: "b", Inputs: []stream.StageInput{{Stage: "a", Key: []string{"id"}}, {Table: "kv", Key: []string{"id"}}},
					Build: func(int) (stream.Node, error) {
						return stream.NewJoin(stream.JoinConfig{ID: "j", Left: kv, Right: kv,
							LeftKeys: []string{"id"}, RightKeys: []string{"id"}, State: be})
					}}},
			Sink: &recordSink{}, State: be, Partitions: 2, ChannelDepth: 1, EpochTxs: 1000, Mem: mem})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- df.Run(ctx) }()
		time.Sleep(time.Duration(10+round*10) * time.Millisecond)
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("run: %v, want canceled", err)
		}
		for _, tx := range txs {
			tx.Release()
		}
		mem.AssertSize(t, 0)
	}
}
