package derive_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/bronze"
	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/plan"
	"github.com/strata-data/strata/reduce"
	"github.com/strata-data/strata/silver"
	"github.com/strata-data/strata/silver/derive"
	"github.com/strata-data/strata/stream"
)

const (
	customers = "shop.customers"
	addresses = "shop.addresses"
	orders    = "shop.orders"
	derived   = "derived.customer_360"
)

var (
	customerSchema = change.MustSchema([]arrow.Field{
		change.NotNull("id", arrow.PrimitiveTypes.Int64),
		change.Col("name", arrow.BinaryTypes.String),
		change.Col("segment", arrow.BinaryTypes.String),
	}, "id")
	addressSchema = change.MustSchema([]arrow.Field{
		change.NotNull("id", arrow.PrimitiveTypes.Int64),
		change.NotNull("customer_id", arrow.PrimitiveTypes.Int64),
		change.NotNull("valid_from", arrow.PrimitiveTypes.Int64),
		change.Col("city", arrow.BinaryTypes.String),
	}, "id")
	orderSchema = change.MustSchema([]arrow.Field{
		change.NotNull("id", arrow.PrimitiveTypes.Int64),
		change.NotNull("customer_id", arrow.PrimitiveTypes.Int64),
		change.NotNull("amount", arrow.PrimitiveTypes.Int64),
	}, "id")
	schemas = map[string]*change.Schema{customers: customerSchema, addresses: addressSchema, orders: orderSchema}
)

// customer360 is the query: each customer with its latest address (the one with
// the greatest valid_from) and the count and sum of its orders.
func customer360(in derive.Inputs) ([]stream.Stage, error) {
	be := in.State
	latestAgg := func() (*stream.Aggregate, error) {
		return stream.NewAggregate(stream.AggregateConfig{ID: "latest", Schema: in.Schemas[addresses],
			GroupBy: []string{"customer_id"}, Aggs: []reduce.Agg{{Func: reduce.Max, Column: "valid_from", As: "latest_from"}}, State: be})
	}
	latest, err := latestAgg()
	if err != nil {
		return nil, err
	}
	addrJoin := func() (*stream.Join, error) {
		return stream.NewJoin(stream.JoinConfig{ID: "address", Left: latest.Schema(), Right: in.Schemas[addresses],
			LeftKeys: []string{"customer_id", "latest_from"}, RightKeys: []string{"customer_id", "valid_from"},
			RightPrefix: "a_", State: be})
	}
	addr, err := addrJoin()
	if err != nil {
		return nil, err
	}
	orderAgg := func() (*stream.Aggregate, error) {
		return stream.NewAggregate(stream.AggregateConfig{ID: "orders", Schema: in.Schemas[orders], GroupBy: []string{"customer_id"},
			Aggs: []reduce.Agg{{Func: reduce.CountStar, As: "orders"}, {Func: reduce.Sum, Column: "amount", As: "total"}}, State: be})
	}
	summary, err := orderAgg()
	if err != nil {
		return nil, err
	}
	custAddr := func() (*stream.Join, error) {
		return stream.NewJoin(stream.JoinConfig{ID: "cust-addr", Type: reduce.LeftJoin, Left: in.Schemas[customers], Right: addr.Schema(),
			LeftKeys: []string{"id"}, RightKeys: []string{"customer_id"}, RightPrefix: "ca_", State: be})
	}
	ca, err := custAddr()
	if err != nil {
		return nil, err
	}
	custAll := func() (*stream.Join, error) {
		return stream.NewJoin(stream.JoinConfig{ID: "cust-all", Type: reduce.LeftJoin, Left: ca.Schema(), Right: summary.Schema(),
			LeftKeys: []string{"id"}, RightKeys: []string{"customer_id"}, RightPrefix: "o_", State: be})
	}
	all, err := custAll()
	if err != nil {
		return nil, err
	}
	proj, err := stream.NewProject(all.Schema(), []string{"id", "name", "segment", "city", "valid_from", "orders", "total"}, "id")
	if err != nil {
		return nil, err
	}
	return []stream.Stage{
		{Name: "latest", Inputs: []stream.StageInput{{Table: addresses, Key: []string{"customer_id"}}},
			Build: func(int) (stream.Node, error) {
				a, err := latestAgg()
				return stream.Single(in.Schemas[addresses], a), err
			}},
		{Name: "address", Inputs: []stream.StageInput{{Stage: "latest", Key: []string{"customer_id"}}, {Table: addresses, Key: []string{"customer_id"}}},
			Build: func(int) (stream.Node, error) { return addrJoin() }},
		{Name: "summary", Inputs: []stream.StageInput{{Table: orders, Key: []string{"customer_id"}}},
			Build: func(int) (stream.Node, error) { a, err := orderAgg(); return stream.Single(in.Schemas[orders], a), err }},
		{Name: "cust-addr", Inputs: []stream.StageInput{{Table: customers, Key: []string{"id"}}, {Stage: "address", Key: []string{"customer_id"}}},
			Build: func(int) (stream.Node, error) { return custAddr() }},
		{Name: "cust-all", Inputs: []stream.StageInput{{Stage: "cust-addr", Key: []string{"id"}}, {Stage: "summary", Key: []string{"customer_id"}}},
			Build: func(int) (stream.Node, error) { return custAll() }},
		{Name: "out", Inputs: []stream.StageInput{{Stage: "cust-all", Key: []string{"id"}}},
			Build: func(int) (stream.Node, error) { return stream.Single(all.Schema(), proj), nil }},
	}, nil
}

// workload writes random transactions into bronze: customers, their addresses over
// time and their orders, inserted, updated and deleted.
type workload struct {
	rng   *rand.Rand
	w     *bronze.Writer
	lsn   uint64
	clock int64 // valid_from values, unique
	rows  map[string]map[int64]change.Row
	next  map[string]int64
	// moveAddresses lets updates give an address to another customer: its join key
	// changes, and on several partitions the row moves between them.
	moveAddresses bool
}

func newWorkload(t *testing.T, store bronze.Store, seed uint64) *workload {
	w, err := bronze.OpenWriter(context.Background(), bronze.WriterConfig{Store: store})
	require.NoError(t, err)
	return &workload{rng: rand.New(rand.NewPCG(seed, 7)), w: w, rows: map[string]map[int64]change.Row{
		customers: {}, addresses: {}, orders: {}}, next: map[string]int64{}}
}

func (wl *workload) event(table string, op cdc.Op, before, after change.Row) cdc.Event {
	wl.lsn++
	s := schemas[table]
	ev := cdc.Event{Table: table, Op: op, Schema: s, SchemaVersion: 1, Before: before, After: after,
		Pos: cdc.Position{Major: wl.lsn, Minor: wl.lsn}}
	return ev
}

func (wl *workload) pick(table string) (int64, bool) {
	if len(wl.rows[table]) == 0 {
		return 0, false
	}
	ids := make([]int64, 0, len(wl.rows[table]))
	for id := range wl.rows[table] {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids[wl.rng.IntN(len(ids))], true
}

func (wl *workload) customerID() int64 {
	if id, ok := wl.pick(customers); ok && wl.rng.IntN(10) > 0 {
		return id
	}
	return wl.rng.Int64N(wl.next[customers] + 3) // sometimes a customer that does not exist (yet)
}

func (wl *workload) newRow(table string) change.Row {
	id := wl.next[table]
	wl.next[table]++
	switch table {
	case customers:
		return change.Row{change.Int(id), change.Str(fmt.Sprintf("c%d", id)), change.Str([]string{"retail", "smb", "corp"}[wl.rng.IntN(3)])}
	case addresses:
		wl.clock++
		return change.Row{change.Int(id), change.Int(wl.customerID()), change.Int(wl.clock), change.Str(fmt.Sprintf("city%d", wl.rng.IntN(20)))}
	default:
		return change.Row{change.Int(id), change.Int(wl.customerID()), change.Int(wl.rng.Int64N(1000))}
	}
}

// change returns one random row event.
func (wl *workload) change() cdc.Event {
	table := []string{customers, customers, addresses, addresses, orders, orders, orders}[wl.rng.IntN(7)]
	id, ok := wl.pick(table)
	r := wl.rng.IntN(10)
	switch {
	case !ok || r < 5:
		row := wl.newRow(table)
		wl.rows[table][row[0].AsInt()] = row
		return wl.event(table, cdc.OpCreate, nil, row)
	case r < 8:
		old := wl.rows[table][id]
		row := slices.Clone(old)
		switch table {
		case customers:
			row[2] = change.Str([]string{"retail", "smb", "corp", "gov"}[wl.rng.IntN(4)])
		case addresses:
			if wl.rng.IntN(2) == 0 {
				wl.clock++
				row[2] = change.Int(wl.clock) // moved again
			} else {
				row[3] = change.Str(fmt.Sprintf("city%d", wl.rng.IntN(20)))
			}
			if wl.moveAddresses && wl.rng.IntN(4) == 0 {
				row[1] = change.Int(wl.customerID()) // another customer's now
			}
		default:
			row[2] = change.Int(wl.rng.Int64N(1000))
			if wl.rng.IntN(4) == 0 {
				row[1] = change.Int(wl.customerID())
			}
		}
		wl.rows[table][id] = row
		return wl.event(table, cdc.OpUpdate, old, row)
	default:
		old := wl.rows[table][id]
		delete(wl.rows[table], id)
		return wl.event(table, cdc.OpDelete, old, nil)
	}
}

// round commits txs transactions of up to 5 changes each to bronze.
func (wl *workload) round(t *testing.T, txs int) {
	for range txs {
		var evs []cdc.Event
		for range 1 + wl.rng.IntN(5) {
			evs = append(evs, wl.change())
		}
		require.NoError(t, wl.w.Append(cdc.Tx{ID: fmt.Sprint(wl.lsn), Events: evs, Commit: evs[len(evs)-1].Pos}))
	}
	_, err := wl.w.Commit(context.Background())
	require.NoError(t, err)
}

// expected recomputes the derived table from the workload's rows, in Go.
func (wl *workload) expected() []string {
	latest := map[int64]change.Row{}
	for _, a := range wl.rows[addresses] {
		c := a[1].AsInt()
		if l, ok := latest[c]; !ok || a[2].AsInt() > l[2].AsInt() {
			latest[c] = a
		}
	}
	count, sum := map[int64]int64{}, map[int64]int64{}
	for _, o := range wl.rows[orders] {
		count[o[1].AsInt()]++
		sum[o[1].AsInt()] += o[2].AsInt()
	}
	var out []string
	for id, c := range wl.rows[customers] {
		row := change.Row{c[0], c[1], c[2], change.Null(), change.Null(), change.Null(), change.Null()}
		if a, ok := latest[id]; ok {
			row[3], row[4] = a[3], a[2]
		}
		if n, ok := count[id]; ok {
			row[5], row[6] = change.Int(n), change.Decimal(decimal128.FromI64(sum[id])) // SUM(bigint) is a decimal
		}
		out = append(out, row.String())
	}
	sort.Strings(out)
	return out
}

func tableRows(t *testing.T, tb *silver.Table) []string {
	t.Helper()
	if _, ok := tb.Latest(); !ok {
		return nil
	}
	sc, err := tb.Scan(context.Background(), silver.ScanOptions{})
	require.NoError(t, err)
	var out []string
	for b, err := range sc.All() {
		require.NoError(t, err)
		for _, r := range b.Rows() {
			out = append(out, r.String())
		}
	}
	sort.Strings(out)
	return out
}

func newApplier(t *testing.T, store bronze.Store) *silver.Applier {
	a, err := silver.NewApplier(silver.ApplierConfig{Store: store, BatchChanges: 40, Compact: true,
		Table: silver.Config{Compaction: silver.CompactPolicy{MaxFiles: 4}}})
	require.NoError(t, err)
	return a
}

// openDerived opens the customer 360 table; with mem, its Arrow buffers come from
// a checked allocator that must be back to zero at the end of the test. (Not for
// tests that cancel a run: a dataflow stopped mid-route can drop a reference.)
func openDerived(t *testing.T, store bronze.Store, dir string, partitions int, checked bool) *derive.Table {
	t.Helper()
	var mem memory.Allocator
	if checked {
		cm := memory.NewCheckedAllocator(memory.NewGoAllocator())
		t.Cleanup(func() { cm.AssertSize(t, 0) })
		mem = cm
	}
	d, err := derive.Open(context.Background(), derive.Config{Store: store, Name: derived,
		Inputs: []string{customers, addresses, orders}, Build: customer360, CheckpointDir: dir, Partitions: partitions,
		PollInterval: 5 * time.Millisecond, CheckpointInterval: time.Hour, MaxPendingChanges: 1, Table: silver.Config{Mem: mem}})
	require.NoError(t, err)
	t.Cleanup(func() { d.Close() })
	return d
}

// After every round of random inserts, updates and deletes applied to silver, the
// derived table equals the query recomputed from scratch; on two partitions, and
// reopened between rounds (a restart resumes from the checkpoint).
func TestDerivedFollowsInputs(t *testing.T) {
	for _, partitions := range []int{1, 2} {
		t.Run(fmt.Sprint("partitions=", partitions), func(t *testing.T) {
			ctx := context.Background()
			store := bronze.NewMemStore()
			wl := newWorkload(t, store, uint64(partitions))
			wl.moveAddresses = true
			app := newApplier(t, store)
			wl.round(t, 30) // every input has a snapshot before Open
			_, err := app.CatchUp(ctx)
			require.NoError(t, err)
			dir := t.TempDir()
			d := openDerived(t, store, dir, partitions, true)
			for round := range 12 {
				if round > 0 {
					wl.round(t, 10+wl.rng.IntN(60))
					_, err := app.CatchUp(ctx)
					require.NoError(t, err)
				}
				if round%4 == 3 {
					require.NoError(t, d.Close())
					d = openDerived(t, store, dir, partitions, true)
				}
				require.NoError(t, d.CatchUp(ctx))
				want := wl.expected()
				require.NotEmpty(t, want)
				require.Equal(t, want, tableRows(t, d.Table()), "round %d", round)
			}
			for _, n := range []string{customers, addresses, orders} {
				tb, _ := app.Table(n)
				t.Logf("%s: %d snapshots", n, len(tb.Snapshots()))
			}
			t.Logf("rows %d, derived snapshots %d", len(wl.expected()), len(d.Table().Snapshots()))
			// Nothing new: a catch-up publishes nothing.
			before, _ := d.Table().Latest()
			require.NoError(t, d.CatchUp(ctx))
			after, _ := d.Table().Latest()
			require.Equal(t, before.ID, after.ID)
		})
	}
}

// A run stopped mid-way (its state lost, as in a crash) after the table got ahead
// of its last checkpoint: the next run, in a fresh process state, restores the
// checkpoint, replays the feed steps after it exactly as they were emitted (the
// inputs have moved on since), skips what the table holds and ends equal to the
// recomputation.
func TestDerivedResumesAfterStop(t *testing.T) {
	ctx := context.Background()
	store := bronze.NewMemStore()
	wl := newWorkload(t, store, 42)
	app := newApplier(t, store)
	wl.round(t, 40)
	_, err := app.CatchUp(ctx)
	require.NoError(t, err)
	dir := t.TempDir()
	for stop := range 4 {
		d := openDerived(t, store, dir, 2, false)
		if stop == 0 {
			require.NoError(t, d.CatchUp(ctx))
		}
		meta, ok, err := stream.LatestCheckpoint(dir)
		require.NoError(t, err)
		require.True(t, ok)
		// Follow while the inputs change, and stop once the table is past the
		// checkpoint.
		fctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- d.Follow(fctx) }()
		for range 5 {
			wl.round(t, 20)
			_, err := app.CatchUp(ctx)
			require.NoError(t, err)
		}
		require.Eventually(t, func() bool { return meta.Position.Less(d.Table().Position()) }, 10*time.Second, time.Millisecond)
		cancel()
		require.NoError(t, <-done)
		require.NoError(t, d.Close())
		after, _, err := stream.LatestCheckpoint(dir)
		require.NoError(t, err)
		require.Equal(t, meta, after, "the stopped run checkpointed nothing")
		// More input changes before the restart.
		wl.round(t, 30)
		_, err = app.CatchUp(ctx)
		require.NoError(t, err)
	}
	// A checkpoint restores into as many partitions as took it.
	d := openDerived(t, store, dir, 2, false)
	require.NoError(t, d.CatchUp(ctx))
	require.Equal(t, wl.expected(), tableRows(t, d.Table()))
}

// Follow delivers each change within about a checkpoint interval, also the last
// one before the inputs go quiet.
func TestDerivedFollowDeliversWhileIdle(t *testing.T) {
	ctx := context.Background()
	store := bronze.NewMemStore()
	wl := newWorkload(t, store, 5)
	app := newApplier(t, store)
	wl.round(t, 30)
	_, err := app.CatchUp(ctx)
	require.NoError(t, err)
	d, err := derive.Open(ctx, derive.Config{Store: store, Name: derived, Inputs: []string{customers, addresses, orders},
		Build: customer360, CheckpointDir: t.TempDir(), PollInterval: 2 * time.Millisecond, CheckpointInterval: 20 * time.Millisecond})
	require.NoError(t, err)
	defer d.Close()
	fctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Follow(fctx) }()
	for range 3 {
		wl.round(t, 20)
		_, err := app.CatchUp(ctx)
		require.NoError(t, err)
		want := wl.expected()
		require.Eventually(t, func() bool { return slices.Equal(want, tableRows(t, d.Table())) }, 10*time.Second, 5*time.Millisecond)
	}
	cancel()
	require.NoError(t, <-done)
}

// customer360SQL is the query in SQL, for the planner: the batch recomputation.
const customer360SQL = `
SELECT c.id, c.name, c.segment, a.city, a.valid_from, o.orders, o.total
FROM shop.customers c
LEFT JOIN (SELECT x.customer_id, x.city, x.valid_from
           FROM shop.addresses x
           JOIN (SELECT customer_id, max(valid_from) AS latest FROM shop.addresses GROUP BY customer_id) l
             ON x.customer_id = l.customer_id AND x.valid_from = l.latest) a ON a.customer_id = c.id
LEFT JOIN (SELECT customer_id, count(*) AS orders, sum(amount) AS total FROM shop.orders GROUP BY customer_id) o
  ON o.customer_id = c.id
ORDER BY c.id`

func sqlRows(t *testing.T, store bronze.Store, sql string) []string {
	t.Helper()
	res, err := plan.Query(context.Background(), plan.NewLakeCatalog(store), sql)
	require.NoError(t, err)
	defer res.Release()
	var out []string
	for _, rec := range res.Batches {
		for i := range int(rec.NumRows()) {
			var row []string
			for _, col := range rec.Columns() {
				row = append(row, col.ValueStr(i))
			}
			out = append(out, strings.Join(row, "|"))
		}
	}
	return out
}

// The derived table is a table of the lake like any other: the planner reads it by
// name, and it equals the planner's batch evaluation of the same query over the
// inputs.
func TestDerivedEqualsSQL(t *testing.T) {
	ctx := context.Background()
	store := bronze.NewMemStore()
	wl := newWorkload(t, store, 77)
	wl.moveAddresses = true
	app := newApplier(t, store)
	wl.round(t, 200)
	_, err := app.CatchUp(ctx)
	require.NoError(t, err)
	d := openDerived(t, store, t.TempDir(), 1, true)
	require.NoError(t, d.CatchUp(ctx))
	for range 3 {
		wl.round(t, 100)
		_, err := app.CatchUp(ctx)
		require.NoError(t, err)
		require.NoError(t, d.CatchUp(ctx))
		want := sqlRows(t, store, customer360SQL)
		require.Len(t, want, len(wl.expected()))
		require.Equal(t, want, sqlRows(t, store, "SELECT * FROM derived.customer_360 ORDER BY id"))
		t.Logf("%d rows, e.g. %s", len(want), want[len(want)/2])
	}
}
