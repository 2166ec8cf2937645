package stream_test

import (
	"context"
	"errors"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/reduce"
	"github.com/strata-data/strata/stream"
)

// The generator's tables as JoinAggregate inputs: orders (REPLICA IDENTITY
// DEFAULT: an update's before-image is the key), customers and payments (FULL).
func shopInputs(sc map[string]*change.Schema, customersJoin reduce.JoinType) []stream.JoinInput {
	return []stream.JoinInput{
		{Name: "o", Table: "public.orders", Schema: sc["public.orders"]},
		{Name: "c", Table: "public.customers", Schema: sc["public.customers"], Type: customersJoin,
			To: "o", ToKeys: []string{"customer_id"}, Keys: []string{"id"}},
		{Name: "p", Table: "public.payments", Schema: sc["public.payments"],
			To: "o", ToKeys: []string{"id"}, Keys: []string{"order_id"}},
	}
}

// runJoinAggregate runs the query over the generator workload and returns the
// sink's writes.
func runJoinAggregate(t *testing.T, cfg stream.JoinAggregateConfig, backend string, partitions, epoch, events int) (*stream.JoinAggregate, []recorded) {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	be := openBackend(t, backend)
	cfg.State, cfg.Mem = be, mem
	q, err := stream.NewJoinAggregate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	src, err := stream.NewCDCSource(stream.CDCSourceConfig{Source: cdc.NewGenerator(genConfig(events)), Mem: mem})
	if err != nil {
		t.Fatal(err)
	}
	out := &recordSink{}
	df, err := stream.NewDataflow(stream.DataflowConfig{Source: src, Stages: q.Stages(), Sink: out, State: be,
		Partitions: partitions, ChannelDepth: 4, Mem: mem, EpochTxs: epoch})
	if err != nil {
		t.Fatal(err)
	}
	if err := df.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return q, out.writes
}

// applyByKey applies writes to a result keyed by its first nkey columns.
func applyByKey(t *testing.T, m map[string]string, w recorded, nkey int) {
	t.Helper()
	for i, op := range w.ops {
		row := w.rows[i]
		k := row[:nkey].String()
		if op.IsRetraction() {
			if m[k] != row.String() {
				t.Fatalf("at %s: retraction of %s, held %q", w.pos, row, m[k])
			}
			delete(m, k)
			continue
		}
		if _, ok := m[k]; ok {
			t.Fatalf("at %s: %s added over %s", w.pos, row, m[k])
		}
		m[k] = row.String()
	}
}

// TestJoinAggregateEagerEqualsLazy runs queries of several shapes with both plans
// over the generator workload; the results must be equal after every transaction
// either plan wrote at.
func TestJoinAggregateEagerEqualsLazy(t *testing.T) {
	sc := shopSchemas(t)
	agg := func(f reduce.AggFunc, col string) reduce.Agg { return reduce.Agg{Func: f, Column: col} }
	for _, tc := range []struct {
		name  string
		cfg   stream.JoinAggregateConfig
		parts int
		epoch int
	}{
		{"payments-by-segment-and-method", stream.JoinAggregateConfig{Inputs: shopInputs(sc, reduce.LeftJoin),
			GroupBy: []string{"c.segment", "p.method"},
			Aggs: []reduce.Agg{agg(reduce.Sum, "p.amount"), agg(reduce.Avg, "p.amount"), {Func: reduce.CountStar},
				agg(reduce.Min, "p.amount"), agg(reduce.Max, "p.amount"), agg(reduce.Count, "p.amount")}}, 2, 1},
		// Group-by columns of the middle input; inner joins.
		{"payments-by-status-inner", stream.JoinAggregateConfig{Inputs: shopInputs(sc, reduce.InnerJoin),
			GroupBy: []string{"o.status"}, Aggs: []reduce.Agg{agg(reduce.Sum, "p.amount"), {Func: reduce.CountStar}}}, 1, 3},
		// count(*) only, no group-by: a single global row.
		{"count-only", stream.JoinAggregateConfig{Inputs: shopInputs(sc, reduce.LeftJoin),
			Aggs: []reduce.Agg{{Func: reduce.CountStar}}}, 2, 1},
		// Two inputs, aggregating orders: their updates carry only the key before
		// the change, which the row store resolves.
		{"orders-by-segment", stream.JoinAggregateConfig{Inputs: shopInputs(sc, reduce.LeftJoin)[:2],
			GroupBy: []string{"c.segment"},
			Aggs: []reduce.Agg{agg(reduce.Sum, "o.amount"), agg(reduce.Avg, "o.amount"), {Func: reduce.CountStar},
				agg(reduce.Max, "o.amount")}}, 3, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var writes [2][]recorded
			for i, plan := range []stream.JoinAggregatePlan{stream.PlanLazy, stream.PlanEager} {
				cfg := tc.cfg
				cfg.ID, cfg.Plan = "q", plan
				q, w := runJoinAggregate(t, cfg, "memory", tc.parts, tc.epoch, 3000)
				if q.Eager() != (plan == stream.PlanEager) {
					t.Fatalf("plan %d: eager %v (%s)", plan, q.Eager(), q.NotEager())
				}
				writes[i] = w
			}
			ng := len(tc.cfg.GroupBy)
			var pos []cdc.Position
			for _, ws := range writes {
				for _, w := range ws {
					pos = append(pos, w.pos)
				}
			}
			slices.SortFunc(pos, func(a, b cdc.Position) int {
				if a.Less(b) {
					return -1
				} else if b.Less(a) {
					return 1
				}
				return 0
			})
			pos = slices.Compact(pos)
			res := [2]map[string]string{{}, {}}
			next := [2]int{}
			for _, p := range pos {
				for i, ws := range writes {
					for ; next[i] < len(ws) && !p.Less(ws[next[i]].pos); next[i]++ {
						applyByKey(t, res[i], ws[next[i]], ng)
					}
				}
				if !maps.Equal(res[0], res[1]) {
					t.Fatalf("at %s: lazy %v, eager %v", p, res[0], res[1])
				}
			}
			if len(res[1]) == 0 {
				t.Fatal("empty result: the test checks nothing")
			}
			t.Logf("%d positions, %d groups at the end, lazy %d writes, eager %d", len(pos), len(res[1]), len(writes[0]), len(writes[1]))
		})
	}
}

// Without the row store, an orders update's key-only before-image would retract
// NULLs from the partial aggregate: the eager plan over orders must equal a batch
// recomputation, not only the lazy plan.
func TestJoinAggregateEagerKeyOnlyRetractions(t *testing.T) {
	sc := shopSchemas(t)
	cfg := stream.JoinAggregateConfig{ID: "q", Plan: stream.PlanEager, Inputs: shopInputs(sc, reduce.LeftJoin)[:2],
		GroupBy: []string{"c.segment"}, Aggs: []reduce.Agg{{Func: reduce.Sum, Column: "o.amount"}, {Func: reduce.CountStar}}}
	_, writes := runJoinAggregate(t, cfg, "pebble", 2, 1, 3000)
	got := map[string]revenue{}
	for _, w := range writes {
		applyRevenue(t, got, w)
	}
	// The batch result over the final tables.
	ref, err := stream.NewCDCSource(stream.CDCSourceConfig{Source: cdc.NewGenerator(genConfig(3000))})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := ref.Open(ctx, cdc.Position{}); err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	tables := map[string]map[int64]change.Row{}
	updates := 0
	for {
		tx, err := ref.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for i, b := range tx.Batches {
			if tx.Tables[i] == "public.orders" && slices.Contains(b.Ops(), change.UpdateBefore) {
				updates++
			}
		}
		applyTx(tables, tx)
		tx.Release()
	}
	if updates == 0 {
		t.Fatal("no orders updates: the test checks nothing")
	}
	o, c := sc["public.orders"], sc["public.customers"]
	want := map[string]revenue{}
	for _, row := range tables["public.orders"] {
		seg := "<null>"
		if cu, ok := tables["public.customers"][row[o.FieldIndex("customer_id")].AsInt()]; ok && !cu[c.FieldIndex("segment")].IsNull() {
			seg = cu[c.FieldIndex("segment")].AsString()
		}
		r := want[seg]
		r.count++
		r.sum += int64(row[o.FieldIndex("amount")].AsDecimal().LowBits())
		want[seg] = r
	}
	if !maps.Equal(got, want) {
		t.Fatalf("streaming %v, batch %v (%d orders updates)", got, want, updates)
	}
}

// NewJoinAggregate plans lazily when eager aggregation would change the result,
// and says why; PlanEager then fails.
func TestJoinAggregateNotEager(t *testing.T) {
	sc := shopSchemas(t)
	be := openBackend(t, "memory")
	for _, tc := range []struct {
		name   string
		inputs []stream.JoinInput
		aggs   []reduce.Agg
		why    string
	}{
		{"count distinct", shopInputs(sc, reduce.LeftJoin), []reduce.Agg{{Func: reduce.CountDistinct, Column: "p.method"}}, "not decomposable"},
		{"two inputs aggregated", shopInputs(sc, reduce.LeftJoin), []reduce.Agg{{Func: reduce.Sum, Column: "p.amount"},
			{Func: reduce.Sum, Column: "o.amount", As: "order_amount"}}, "two inputs"},
		{"aggregated input in the middle", shopInputs(sc, reduce.LeftJoin), []reduce.Agg{{Func: reduce.Sum, Column: "o.amount"}}, "not at an end"},
		// customers ⟕ orders ⋈ payments counts customers without orders: the
		// NULL-extended side holds the aggregated input.
		{"left join keeping the far side", []stream.JoinInput{
			{Name: "c", Table: "public.customers", Schema: sc["public.customers"]},
			{Name: "o", Table: "public.orders", Schema: sc["public.orders"], Type: reduce.LeftJoin,
				To: "c", ToKeys: []string{"id"}, Keys: []string{"customer_id"}}},
			[]reduce.Agg{{Func: reduce.Sum, Column: "o.amount"}}, "keeps the rows of c"},
	} {
		cfg := stream.JoinAggregateConfig{ID: "q", Inputs: tc.inputs, GroupBy: []string{"c.segment"}, Aggs: tc.aggs, State: be}
		q, err := stream.NewJoinAggregate(cfg)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if q.Eager() || !strings.Contains(q.NotEager(), tc.why) {
			t.Fatalf("%s: eager %v, why %q, want %q", tc.name, q.Eager(), q.NotEager(), tc.why)
		}
		cfg.Plan = stream.PlanEager
		if _, err := stream.NewJoinAggregate(cfg); !errors.Is(err, stream.ErrConfig) {
			t.Fatalf("%s: PlanEager: %v, want ErrConfig", tc.name, err)
		}
	}
}
