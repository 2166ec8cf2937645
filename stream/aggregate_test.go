package stream_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/reduce"
	"github.com/strata-data/strata/shuffle"
	"github.com/strata-data/strata/state"
	"github.com/strata-data/strata/stream"
)

var orderSchema = change.MustSchema([]arrow.Field{
	change.NotNull("id", arrow.PrimitiveTypes.Int64),
	change.Col("region", arrow.BinaryTypes.String),
	change.NotNull("tier", arrow.PrimitiveTypes.Int32),
	change.Col("amount", arrow.PrimitiveTypes.Int64),
	change.Col("weight", arrow.PrimitiveTypes.Float64),
	change.Col("price", &arrow.Decimal128Type{Precision: 12, Scale: 2}),
	change.Col("sku", arrow.BinaryTypes.String),
	change.Col("small", arrow.PrimitiveTypes.Int32),
}, "id")

var allAggs = []reduce.Agg{
	{Func: reduce.CountStar},
	{Func: reduce.Count, Column: "amount"},
	{Func: reduce.Sum, Column: "amount"},
	{Func: reduce.Avg, Column: "amount"},
	{Func: reduce.Min, Column: "amount"},
	{Func: reduce.Max, Column: "amount"},
	{Func: reduce.CountDistinct, Column: "amount"},
	{Func: reduce.Sum, Column: "weight"},
	{Func: reduce.Avg, Column: "weight"},
	{Func: reduce.Max, Column: "weight"},
	{Func: reduce.Sum, Column: "price"},
	{Func: reduce.Avg, Column: "price"},
	{Func: reduce.Min, Column: "price"},
	{Func: reduce.Min, Column: "sku"},
	{Func: reduce.Max, Column: "sku"},
	{Func: reduce.CountDistinct, Column: "sku"},
	{Func: reduce.Sum, Column: "small"},
}

// gen makes random change batches over a table of orders and keeps the current rows.
type gen struct {
	r    *rand.Rand
	rows map[int64][]any // id -> row values (without op)
	next int64
}

func newGen(seed uint64) *gen {
	return &gen{r: rand.New(rand.NewPCG(seed, seed^0x5eed)), rows: map[int64][]any{}}
}

func (g *gen) row(id int64) []any {
	r := g.r
	var region, amount, weight, price, sku, small any
	if r.IntN(8) > 0 {
		region = []string{"eu", "us", "apac", ""}[r.IntN(4)]
	}
	if r.IntN(6) > 0 {
		amount = int64(r.IntN(41) - 10) // few distinct values: duplicates and negatives
	}
	if r.IntN(6) > 0 {
		weight = float64(r.IntN(200) - 50) // integral: exact sums
	}
	if r.IntN(6) > 0 {
		price = decimal128.FromI64(int64(r.IntN(100000) - 20000)) // cents
	}
	if r.IntN(6) > 0 {
		sku = fmt.Sprintf("sku-%d%s", r.IntN(12), []string{"", "\x00", "\xff", "a"}[r.IntN(4)])
	}
	if r.IntN(6) > 0 {
		small = int32(r.IntN(1000))
	}
	return []any{id, region, int32(r.IntN(3)), amount, weight, price, sku, small}
}

// batch returns the next change batch: inserts, deletes and updates (which may move
// a row to another group).
func (g *gen) batch(n int) [][]any {
	var out [][]any
	touched := map[int64]bool{}
	for range n {
		ids := make([]int64, 0, len(g.rows))
		for id := range g.rows {
			if !touched[id] {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		switch k := g.r.IntN(10); {
		case k < 4 || len(ids) == 0:
			g.next++
			row := g.row(g.next)
			g.rows[g.next] = row
			touched[g.next] = true
			out = append(out, append([]any{change.Insert}, row...))
		case k < 6:
			id := ids[g.r.IntN(len(ids))]
			out = append(out, append([]any{change.Delete}, g.rows[id]...))
			delete(g.rows, id)
		default:
			id := ids[g.r.IntN(len(ids))]
			old := g.rows[id]
			row := g.row(id)
			if g.r.IntN(3) == 0 {
				row = slices.Clone(old) // a change that leaves the aggregates as they were
				row[7] = int32(g.r.IntN(1000))
			}
			g.rows[id] = row
			touched[id] = true
			out = append(out, append([]any{change.UpdateBefore}, old...), append([]any{change.UpdateAfter}, row...))
		}
	}
	return out
}

func (g *gen) current() [][]any {
	ids := make([]int64, 0, len(g.rows))
	for id := range g.rows {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := make([][]any, len(ids))
	for i, id := range ids {
		out[i] = append([]any{change.Insert}, g.rows[id]...)
	}
	return out
}

// table is a materialised output: rows by group key, with checks that the
// changelog is well formed (a retraction names the row that is there).
type table struct {
	groups int
	rows   map[string][]any
}

func (tb *table) apply(t *testing.T, b *change.Batch) {
	t.Helper()
	plain := b.Plain()
	for i, r := range plain {
		op, vals := r[0].(change.Op), r[1:]
		k := fmt.Sprint(vals[:tb.groups])
		switch op {
		case change.Insert:
			if _, ok := tb.rows[k]; ok {
				t.Fatalf("+I of group %s that exists", k)
			}
			tb.rows[k] = vals
		case change.UpdateBefore, change.Delete:
			if have, ok := tb.rows[k]; !ok || !reflect.DeepEqual(have, vals) {
				t.Fatalf("%s of group %s retracts %v, but the table holds %v (present %v)", op, k, vals, have, ok)
			}
			delete(tb.rows, k)
			if op == change.UpdateBefore && (i+1 >= len(plain) || plain[i+1][0] != change.UpdateAfter ||
				fmt.Sprint(plain[i+1][1:1+tb.groups]) != k) {
				t.Fatalf("-U of group %s not followed by its +U", k)
			}
		case change.UpdateAfter:
			if i == 0 || plain[i-1][0] != change.UpdateBefore {
				t.Fatalf("+U of group %s without its -U", k)
			}
			tb.rows[k] = vals
		}
	}
}

// reference aggregates rows from scratch with reduce.HashAggregate.
func reference(t *testing.T, mem memory.Allocator, groupBy []string, aggs []reduce.Agg, rows [][]any) map[string][]any {
	t.Helper()
	out := map[string][]any{}
	if len(rows) == 0 {
		return out
	}
	ha, err := reduce.NewHashAggregate(reduce.AggregateConfig{Schema: orderSchema, GroupBy: groupBy, Aggs: aggs})
	if err != nil {
		t.Fatal(err)
	}
	in, err := change.FromRows(mem, orderSchema, rows)
	if err != nil {
		t.Fatal(err)
	}
	err = ha.Reduce(context.Background(), []shuffle.Stream{shuffle.NewSliceStream(in)}, func(b *change.Batch) error {
		defer b.Release()
		for _, r := range b.Plain() {
			out[fmt.Sprint(r[1:1+len(groupBy)])] = r[1:]
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func newMemoryState(t *testing.T) state.Backend {
	b, err := state.NewMemory(state.MemoryConfig{Config: state.Config{SweepInterval: -1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func newPebbleState(t *testing.T) state.Backend {
	b, err := state.OpenPebble(state.PebbleConfig{Dir: filepath.Join(t.TempDir(), "db"),
		Config: state.Config{SweepInterval: -1}, CacheSize: 8 << 20, MemTableSize: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// TestAggregateDifferential feeds random change streams to the aggregate and checks,
// after every batch, that the output applied to a table equals reduce's aggregate
// of the current input rows.
func TestAggregateDifferential(t *testing.T) {
	cases := []struct {
		name    string
		groupBy []string
		backend func(*testing.T) state.Backend
		batches int
	}{
		{"region-tier/memory", []string{"region", "tier"}, newMemoryState, 300},
		{"tier/memory", []string{"tier"}, newMemoryState, 300},
		{"sku/memory", []string{"sku"}, newMemoryState, 200},
		{"price/memory", []string{"price"}, newMemoryState, 100},
		{"region-tier/pebble", []string{"region", "tier"}, newPebbleState, 120},
		{"none/memory", nil, newMemoryState, 100},
	}
	for ci, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			agg, err := stream.NewAggregate(stream.AggregateConfig{ID: "agg", Schema: orderSchema,
				GroupBy: c.groupBy, Aggs: allAggs, State: c.backend(t), Mem: mem})
			if err != nil {
				t.Fatal(err)
			}
			g := newGen(uint64(ci + 1))
			tb := &table{groups: len(c.groupBy), rows: map[string][]any{}}
			emitted := 0
			for i := range c.batches {
				rows := g.batch(1 + g.r.IntN(12))
				in, err := change.FromRows(mem, orderSchema, rows)
				if err != nil {
					t.Fatal(err)
				}
				err = agg.Process(context.Background(), in, func(b *change.Batch) error {
					defer b.Release()
					emitted += b.Len()
					tb.apply(t, b)
					return nil
				})
				if err != nil {
					t.Fatalf("batch %d: %v", i, err)
				}
				want := reference(t, mem, c.groupBy, allAggs, g.current())
				if c.groupBy == nil && len(g.rows) == 0 {
					want = map[string][]any{}
				}
				if !reflect.DeepEqual(tb.rows, want) {
					t.Fatalf("after batch %d (%d input rows):\n%s", i, len(g.rows), diffTables(tb.rows, want))
				}
			}
			if emitted == 0 {
				t.Fatal("nothing emitted")
			}
		})
	}
}

func diffTables(got, want map[string][]any) string {
	var sb strings.Builder
	for k, w := range want {
		if g, ok := got[k]; !ok {
			fmt.Fprintf(&sb, "missing group %s: want %v\n", k, w)
		} else if !reflect.DeepEqual(g, w) {
			fmt.Fprintf(&sb, "group %s:\n   got %v\n  want %v\n", k, g, w)
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			fmt.Fprintf(&sb, "extra group %s: %v\n", k, g)
		}
	}
	return sb.String()
}

// TestAggregateSnapshotRestore checkpoints the backend between batches, goes on,
// then restores the checkpoint into a new backend and replays the same batches: the
// restored operator emits exactly what the original did.
func TestAggregateSnapshotRestore(t *testing.T) {
	for _, kind := range []string{"memory", "pebble"} {
		t.Run(kind, func(t *testing.T) {
			open := newMemoryState
			if kind == "pebble" {
				open = newPebbleState
			}
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			ctx := context.Background()
			cfg := stream.AggregateConfig{ID: "rev", Schema: orderSchema, GroupBy: []string{"region"}, Aggs: allAggs, Mem: mem}
			run := func(agg *stream.Aggregate, batches [][][]any) [][]any {
				var out [][]any
				for _, rows := range batches {
					in, err := change.FromRows(mem, orderSchema, rows)
					if err != nil {
						t.Fatal(err)
					}
					if err := agg.Process(ctx, in, func(b *change.Batch) error {
						defer b.Release()
						out = append(out, b.Plain()...)
						return nil
					}); err != nil {
						t.Fatal(err)
					}
				}
				return out
			}
			g := newGen(42)
			var before, after [][][]any
			for range 60 {
				before = append(before, g.batch(8))
			}
			for range 60 {
				after = append(after, g.batch(8))
			}
			st := open(t)
			cfg.State = st
			agg, err := stream.NewAggregate(cfg)
			if err != nil {
				t.Fatal(err)
			}
			run(agg, before)
			cp := filepath.Join(t.TempDir(), "cp")
			if err := st.Checkpoint(ctx, cp); err != nil {
				t.Fatal(err)
			}
			want := run(agg, after)

			st2 := open(t)
			if err := st2.Restore(ctx, cp); err != nil {
				t.Fatal(err)
			}
			cfg.State = st2
			agg2, err := stream.NewAggregate(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got := run(agg2, after); !reflect.DeepEqual(got, want) {
				t.Fatalf("restored operator emitted %d rows that differ from the original's %d", len(got), len(want))
			}
			// The state holds only the operator's namespaces.
			stats, err := st2.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			names := agg2.Namespaces()
			for _, s := range stats {
				if !slices.Contains(names, s.Namespace) {
					t.Fatalf("namespace %q is not one of the operator's %q", s.Namespace, names)
				}
			}
		})
	}
}

func TestAggregateRejectsBadInput(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	agg, err := stream.NewAggregate(stream.AggregateConfig{ID: "a", Schema: orderSchema, GroupBy: []string{"region"},
		Aggs: allAggs, State: newMemoryState(t), Mem: mem})
	if err != nil {
		t.Fatal(err)
	}
	drop := func(b *change.Batch) error { b.Release(); return nil }
	row := []any{int64(1), "eu", int32(1), int64(5), 1.0, decimal128.FromI64(100), "x", int32(1)}
	in, _ := change.FromRows(mem, orderSchema, [][]any{append([]any{change.Delete}, row...)})
	if err := agg.Process(ctx, in, drop); !errorsIs(err, stream.ErrInput) {
		t.Fatalf("delete of a row never inserted: %v, want ErrInput", err)
	}
	other := change.MustSchema([]arrow.Field{change.Col("x", arrow.PrimitiveTypes.Int64)})
	in, _ = change.FromRows(mem, other, [][]any{{change.Insert, int64(1)}})
	if err := agg.Process(ctx, in, drop); !errorsIs(err, stream.ErrInput) {
		t.Fatalf("batch of another schema: %v, want ErrInput", err)
	}
	for _, cfg := range []stream.AggregateConfig{
		{Schema: orderSchema, State: newMemoryState(t), Aggs: allAggs},
		{ID: "x", Schema: orderSchema, Aggs: allAggs},
		{ID: "x", Schema: orderSchema, State: newMemoryState(t), Aggs: []reduce.Agg{{Func: reduce.Sum, Column: "sku"}}},
		{ID: "x", Schema: orderSchema, State: newMemoryState(t), GroupBy: []string{"nope"}, Aggs: allAggs},
	} {
		if _, err := stream.NewAggregate(cfg); !errorsIs(err, stream.ErrConfig) {
			t.Fatalf("NewAggregate(%+v): %v, want ErrConfig", cfg, err)
		}
	}
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }
