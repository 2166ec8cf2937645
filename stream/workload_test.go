package stream_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/reduce"
	"github.com/strata-data/strata/state"
	"github.com/strata-data/strata/stream"
)

// The generator workload: orders ⟕ customers (on customer_id; an order whose
// customer was deleted has a NULL segment) ⋈ payments (on order_id), then revenue
// per segment: sum(payment amount) and count(*).

func genConfig(events int) cdc.GeneratorConfig {
	return cdc.GeneratorConfig{Seed: 3, Events: events, TxMetadata: true, AddColumnAt: -1, Customers: 50}
}

// shopSchemas reads the generator's table schemas off its first events.
func shopSchemas(t testing.TB) map[string]*change.Schema {
	t.Helper()
	sc, err := readShopSchemas()
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func readShopSchemas() (map[string]*change.Schema, error) {
	ctx := context.Background()
	g := cdc.NewGenerator(genConfig(2000))
	if err := g.Open(ctx, cdc.Position{}); err != nil {
		return nil, err
	}
	defer g.Close()
	out := map[string]*change.Schema{}
	for len(out) < 3 {
		ev, err := g.Read(ctx)
		if err != nil {
			return nil, err
		}
		if ev.Schema != nil {
			out[ev.Table] = ev.Schema
		}
	}
	return out, nil
}

// revenueStages builds the three stages on be.
func revenueStages(sc map[string]*change.Schema, be state.Backend, mem memory.Allocator) []stream.Stage {
	orders, customers, payments := sc["public.orders"], sc["public.customers"], sc["public.payments"]
	oc := func() (*stream.Join, error) {
		return stream.NewJoin(stream.JoinConfig{ID: "oc", Type: reduce.LeftJoin, Left: orders, Right: customers,
			LeftKeys: []string{"customer_id"}, RightKeys: []string{"id"}, RightPrefix: "c_", State: be, Mem: mem})
	}
	j1, err := oc()
	if err != nil {
		panic(err)
	}
	ocp := func() (*stream.Join, error) {
		return stream.NewJoin(stream.JoinConfig{ID: "ocp", Left: j1.Schema(), Right: payments,
			LeftKeys: []string{"id"}, RightKeys: []string{"order_id"}, RightPrefix: "p_", State: be, Mem: mem})
	}
	j2, err := ocp()
	if err != nil {
		panic(err)
	}
	agg := func() (stream.Node, error) {
		proj, err := stream.NewProject(j2.Schema(), []string{"segment", "p_amount"})
		if err != nil {
			return nil, err
		}
		a, err := stream.NewAggregate(stream.AggregateConfig{ID: "rev", Schema: proj.Schema(), GroupBy: []string{"segment"},
			Aggs: []reduce.Agg{{Func: reduce.Sum, Column: "p_amount"}, {Func: reduce.CountStar}}, State: be, Mem: mem})
		if err != nil {
			return nil, err
		}
		return stream.Single(j2.Schema(), stream.Chain(proj, a)), nil
	}
	return []stream.Stage{
		{Name: "orders-customers", Inputs: []stream.StageInput{{Table: "public.orders", Key: []string{"customer_id"}},
			{Table: "public.customers", Key: []string{"id"}}}, Build: func(int) (stream.Node, error) { return oc() }},
		{Name: "payments", Inputs: []stream.StageInput{{Stage: "orders-customers", Key: []string{"id"}},
			{Table: "public.payments", Key: []string{"order_id"}}}, Build: func(int) (stream.Node, error) { return ocp() }},
		{Name: "revenue", Inputs: []stream.StageInput{{Stage: "payments", Key: []string{"segment"}}}, Build: func(int) (stream.Node, error) { return agg() }},
	}
}

// projectedJoin is a join whose inputs are first projected to the columns the
// flow needs: what a planner's projection pushdown makes of revenueStages. A
// change to a column nobody reads then becomes an update pair that changes
// nothing, which the join drops.
type projectedJoin struct {
	*stream.Join
	in   [2]*change.Schema
	proj [2]*stream.Project // nil: the input as it is
}

func (p projectedJoin) InputSchema(port int) *change.Schema { return p.in[port] }
func (p projectedJoin) ProcessPort(ctx context.Context, port int, b *change.Batch, emit stream.Emit) error {
	if p.proj[port] == nil {
		return p.Join.ProcessPort(ctx, port, b, emit)
	}
	return p.proj[port].Process(ctx, b, func(pb *change.Batch) error { return p.Join.ProcessPort(ctx, port, pb, emit) })
}

// revenueStagesPruned computes what revenueStages does, each table projected to
// the columns the joins and the aggregate read.
func revenueStagesPruned(sc map[string]*change.Schema, be state.Backend, mem memory.Allocator) []stream.Stage {
	orders, customers, payments := sc["public.orders"], sc["public.customers"], sc["public.payments"]
	must := func(p *stream.Project, err error) *stream.Project {
		if err != nil {
			panic(err)
		}
		return p
	}
	po := must(stream.NewProject(orders, []string{"id", "customer_id"}))
	pc := must(stream.NewProject(customers, []string{"id", "segment"}))
	pp := must(stream.NewProject(payments, []string{"id", "order_id", "amount"}))
	oc := func() (stream.Node, error) {
		j, err := stream.NewJoin(stream.JoinConfig{ID: "oc", Type: reduce.LeftJoin, Left: po.Schema(), Right: pc.Schema(),
			LeftKeys: []string{"customer_id"}, RightKeys: []string{"id"}, RightPrefix: "c_", State: be, Mem: mem})
		return projectedJoin{j, [2]*change.Schema{orders, customers}, [2]*stream.Project{po, pc}}, err
	}
	j1, err := oc()
	if err != nil {
		panic(err)
	}
	ocp := func() (stream.Node, error) {
		j, err := stream.NewJoin(stream.JoinConfig{ID: "ocp", Left: j1.Schema(), Right: pp.Schema(),
			LeftKeys: []string{"id"}, RightKeys: []string{"order_id"}, RightPrefix: "p_", State: be, Mem: mem})
		return projectedJoin{j, [2]*change.Schema{j1.Schema(), payments}, [2]*stream.Project{nil, pp}}, err
	}
	j2, err := ocp()
	if err != nil {
		panic(err)
	}
	agg := func() (stream.Node, error) {
		proj, err := stream.NewProject(j2.Schema(), []string{"segment", "amount"})
		if err != nil {
			return nil, err
		}
		a, err := stream.NewAggregate(stream.AggregateConfig{ID: "rev", Schema: proj.Schema(), GroupBy: []string{"segment"},
			Aggs: []reduce.Agg{{Func: reduce.Sum, Column: "amount"}, {Func: reduce.CountStar}}, State: be, Mem: mem})
		if err != nil {
			return nil, err
		}
		return stream.Single(j2.Schema(), stream.Chain(proj, a)), nil
	}
	return []stream.Stage{
		{Name: "orders-customers", Inputs: []stream.StageInput{{Table: "public.orders", Key: []string{"customer_id"}},
			{Table: "public.customers", Key: []string{"id"}}}, Build: func(int) (stream.Node, error) { return oc() }},
		{Name: "payments", Inputs: []stream.StageInput{{Stage: "orders-customers", Key: []string{"id"}},
			{Table: "public.payments", Key: []string{"order_id"}}}, Build: func(int) (stream.Node, error) { return ocp() }},
		{Name: "revenue", Inputs: []stream.StageInput{{Stage: "payments", Key: []string{"segment"}}}, Build: func(int) (stream.Node, error) { return agg() }},
	}
}

// revenueQuery is the revenue flow as a JoinAggregate: orders ⟕ customers ⋈
// payments, sum(p.amount) and count(*) per c.segment.
func revenueQuery(sc map[string]*change.Schema, be state.Backend, mem memory.Allocator, plan stream.JoinAggregatePlan) (*stream.JoinAggregate, error) {
	return stream.NewJoinAggregate(stream.JoinAggregateConfig{ID: "rev", Plan: plan, State: be, Mem: mem,
		Inputs: []stream.JoinInput{
			{Name: "o", Table: "public.orders", Schema: sc["public.orders"]},
			{Name: "c", Table: "public.customers", Schema: sc["public.customers"], Type: reduce.LeftJoin,
				To: "o", ToKeys: []string{"customer_id"}, Keys: []string{"id"}},
			{Name: "p", Table: "public.payments", Schema: sc["public.payments"],
				To: "o", ToKeys: []string{"id"}, Keys: []string{"order_id"}},
		},
		GroupBy: []string{"c.segment"},
		Aggs:    []reduce.Agg{{Func: reduce.Sum, Column: "p.amount"}, {Func: reduce.CountStar}}})
}

// revenueStagesOf returns the revenue flow's stages planned by JoinAggregate.
func revenueStagesOf(plan stream.JoinAggregatePlan) func(map[string]*change.Schema, state.Backend, memory.Allocator) []stream.Stage {
	return func(sc map[string]*change.Schema, be state.Backend, mem memory.Allocator) []stream.Stage {
		q, err := revenueQuery(sc, be, mem, plan)
		if err != nil {
			panic(err)
		}
		if q.Eager() != (plan != stream.PlanLazy) {
			panic("revenue query: eager " + strconv.FormatBool(q.Eager()) + ": " + q.NotEager())
		}
		return q.Stages()
	}
}

// revenue is one segment's result: the sum's unscaled value and the count.
type revenue struct {
	sum   int64
	count int64
}

// refRevenue recomputes revenue per segment from the current tables (batch).
func refRevenue(tables map[string]map[int64]change.Row, sc map[string]*change.Schema) map[string]revenue {
	orders, customers := tables["public.orders"], tables["public.customers"]
	oc, cid := sc["public.orders"].FieldIndex("customer_id"), sc["public.customers"].FieldIndex("id")
	seg := sc["public.customers"].FieldIndex("segment")
	po, pa := sc["public.payments"].FieldIndex("order_id"), sc["public.payments"].FieldIndex("amount")
	out := map[string]revenue{}
	for _, p := range tables["public.payments"] {
		if p[po].IsNull() {
			continue
		}
		o, ok := orders[p[po].AsInt()]
		if !ok {
			continue
		}
		s := "<null>"
		if !o[oc].IsNull() {
			if c, ok := customers[o[oc].AsInt()]; ok && int64(c[cid].AsInt()) == o[oc].AsInt() && !c[seg].IsNull() {
				s = c[seg].AsString()
			}
		}
		r := out[s]
		r.count++
		if !p[pa].IsNull() {
			r.sum += int64(p[pa].AsDecimal().LowBits())
		}
		out[s] = r
	}
	return out
}

// applyTx applies a transaction's batches to the tables, keyed by id.
func applyTx(tables map[string]map[int64]change.Row, tx stream.TxBatches) {
	for i, b := range tx.Batches {
		t := tables[tx.Tables[i]]
		if t == nil {
			t = map[int64]change.Row{}
			tables[tx.Tables[i]] = t
		}
		for r, op := range b.Ops() {
			row := b.Row(r)
			if op.IsRetraction() {
				delete(t, row[0].AsInt())
			} else {
				t[row[0].AsInt()] = row
			}
		}
	}
}

// recordSink is a sink.Sink keeping every write with its position, for checking
// the output after each transaction.
type recordSink struct {
	mu     sync.Mutex
	writes []recorded
	flushs int
}

type recorded struct {
	pos  cdc.Position
	ops  []change.Op
	rows []change.Row
}

func (s *recordSink) Write(ctx context.Context, b *change.Batch, pos cdc.Position) error {
	defer b.Release()
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.writes); n > 0 && pos.Less(s.writes[n-1].pos) {
		return fmt.Errorf("write at %s after %s", pos, s.writes[n-1].pos)
	}
	s.writes = append(s.writes, recorded{pos: pos, ops: slices.Clone(b.Ops()), rows: b.Rows()})
	return nil
}
func (s *recordSink) Flush(context.Context) error { s.mu.Lock(); s.flushs++; s.mu.Unlock(); return nil }
func (s *recordSink) Close() error                { return nil }

// applyRevenue applies written changes to the materialized result, keyed by segment.
func applyRevenue(t testing.TB, m map[string]revenue, w recorded) {
	for i, op := range w.ops {
		row := w.rows[i]
		s := "<null>"
		if !row[0].IsNull() {
			s = row[0].AsString()
		}
		if op.IsRetraction() {
			if _, ok := m[s]; !ok {
				t.Fatalf("at %s: retraction of segment %s not held", w.pos, s)
			}
			delete(m, s)
			continue
		}
		var sum int64
		if !row[1].IsNull() {
			sum = int64(row[1].AsDecimal().LowBits())
		}
		m[s] = revenue{sum: sum, count: row[2].AsInt()}
	}
}

// TestDataflowGeneratorDifferential runs the workload through a partitioned
// dataflow and checks the output after every transaction against a batch
// recomputation over the same prefix of transactions.
func TestDataflowGeneratorDifferential(t *testing.T) {
	for _, tc := range []struct {
		backend    string
		partitions int
		epoch      int
		variant    string
		maxEpoch   int // adaptive epochs up to this many transactions
	}{{"memory", 1, 1, "", 0}, {"memory", 3, 1, "", 0}, {"pebble", 2, 1, "", 0}, {"memory", 1, 7, "", 0},
		{"memory", 2, 50, "", 0}, {"memory", 2, 1, "pruned", 0}, {"memory", 1, 9, "pruned", 0},
		{"memory", 1, 1, "lazy", 0}, {"memory", 3, 4, "lazy", 0},
		{"memory", 1, 1, "eager", 0}, {"memory", 3, 1, "eager", 0}, {"pebble", 2, 1, "eager", 0}, {"memory", 2, 50, "eager", 0},
		{"memory", 1, 1, "eager", 64}, {"memory", 3, 2, "", 16}, {"pebble", 2, 1, "eager", 64}} {
		name := fmt.Sprintf("%s-%d-epoch%d", tc.backend, tc.partitions, tc.epoch)
		if tc.maxEpoch > 0 {
			name += fmt.Sprintf("to%d", tc.maxEpoch)
		}
		stages := revenueStages
		switch tc.variant {
		case "pruned":
			stages = revenueStagesPruned
		case "lazy":
			stages = revenueStagesOf(stream.PlanLazy)
		case "eager":
			stages = revenueStagesOf(stream.PlanEager)
		}
		if tc.variant != "" {
			name += "-" + tc.variant
		}
		t.Run(name, func(t *testing.T) {
			testGeneratorDifferential(t, stages, tc.backend, tc.partitions, tc.epoch, tc.maxEpoch, 3000)
		})
	}
}

// countingNode counts the batches a stage's partition processes.
type countingNode struct {
	stream.Node
	batches *int
}

func (c countingNode) ProcessPort(ctx context.Context, port int, in *change.Batch, emit stream.Emit) error {
	*c.batches++
	return c.Node.ProcessPort(ctx, port, in, emit)
}

// Within an epoch, a table's changes from consecutive transactions reach the
// operators as one batch (the differential test above checks the results).
func TestDataflowCoalescesEpochs(t *testing.T) {
	txs, _ := readTxs(t, 3000)
	defer func() {
		for i := range txs {
			txs[i].Release()
		}
	}()
	sc := shopSchemas(t)
	for _, epoch := range []int{1, 50} {
		be := openBackend(t, "memory")
		stages := revenueStages(sc, be, nil)
		batches := 0
		build := stages[0].Build
		stages[0].Build = func(p int) (stream.Node, error) {
			n, err := build(p)
			return countingNode{n, &batches}, err
		}
		df, err := stream.NewDataflow(stream.DataflowConfig{Source: &sliceSource{txs: txs}, Stages: stages,
			Sink: &recordSink{}, State: be, Partitions: 1, EpochTxs: epoch})
		if err != nil {
			t.Fatal(err)
		}
		if err := df.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		// Each transaction touches orders or customers or both; an epoch of 50
		// gives at most two batches (one per table), a few more at the row limit.
		if epoch == 1 && batches < len(txs) || epoch > 1 && batches > 3*(len(txs)/epoch+1) {
			t.Fatalf("epoch %d: %d transactions reached the first stage in %d batches", epoch, len(txs), batches)
		}
	}
}

func testGeneratorDifferential(t *testing.T, stagesOf func(map[string]*change.Schema, state.Backend, memory.Allocator) []stream.Stage,
	backend string, partitions, epochTxs, maxEpochTxs, events int) {
	ctx := context.Background()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	sc := shopSchemas(t)
	be := openBackend(t, backend)
	src, err := stream.NewCDCSource(stream.CDCSourceConfig{Source: cdc.NewGenerator(genConfig(events)), Mem: mem})
	if err != nil {
		t.Fatal(err)
	}
	out := &recordSink{}
	df, err := stream.NewDataflow(stream.DataflowConfig{Source: src, Stages: stagesOf(sc, be, mem), Sink: out,
		State: be, Partitions: partitions, ChannelDepth: 4, Mem: mem, EpochTxs: epochTxs, MaxEpochTxs: maxEpochTxs})
	if err != nil {
		t.Fatal(err)
	}
	if err := df.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if out.flushs != 1 {
		t.Fatalf("sink flushed %d times, want once at the end", out.flushs)
	}
	// The reference: the same transactions, applied to tables and recomputed.
	ref, err := stream.NewCDCSource(stream.CDCSourceConfig{Source: cdc.NewGenerator(genConfig(events))})
	if err != nil {
		t.Fatal(err)
	}
	if err := ref.Open(ctx, cdc.Position{}); err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	tables := map[string]map[int64]change.Row{}
	got := map[string]revenue{}
	w, txs, nonEmpty, checked := 0, 0, 0, 0
	epochs := 0
	for {
		tx, err := ref.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		applyTx(tables, tx)
		tx.Release()
		txs++
		for ; w < len(out.writes) && !tx.Commit.Less(out.writes[w].pos); w++ {
			if out.writes[w].pos != tx.Commit {
				t.Fatalf("write at %s is no transaction's commit (next %s)", out.writes[w].pos, tx.Commit)
			}
			applyRevenue(t, got, out.writes[w])
		}
		if maxEpochTxs == 0 && txs%epochTxs != 0 {
			continue // the sink sees an epoch's output at its end
		}
		if maxEpochTxs > 0 {
			// Adaptive epochs end where the sink was written (an epoch whose
			// output netted to nothing is checked with the next).
			if w == 0 || out.writes[w-1].pos != tx.Commit {
				continue
			}
			epochs++
		}
		want := refRevenue(tables, sc)
		if !maps.Equal(got, want) {
			t.Fatalf("after transaction %d (commit %s): streaming %v, batch %v", txs, tx.Commit, got, want)
		}
		checked++
		if len(want) > 0 {
			nonEmpty++
		}
	}
	if want := refRevenue(tables, sc); !maps.Equal(got, want) {
		t.Fatalf("at the end: streaming %v, batch %v", got, want)
	}
	if w != len(out.writes) {
		t.Fatalf("%d writes past the last transaction", len(out.writes)-w)
	}
	if nonEmpty < checked/2 {
		t.Fatalf("only %d of %d checked transactions had revenue: the workload checks little", nonEmpty, checked)
	}
	if maxEpochTxs > 0 && epochs*2 > txs {
		t.Fatalf("adaptive epochs: %d epochs with output for %d transactions: an unpaced source should fill them", epochs, txs)
	}
	t.Logf("%d transactions, %d sink writes (%d epochs checked), %d segments at the end", txs, len(out.writes), epochs, len(got))
}
