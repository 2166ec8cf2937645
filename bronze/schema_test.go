package bronze_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/bronze"
	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/change"
)

// Schemas of "public.orders": v1, v2 adds a nullable column, and bad narrows amount.
func ordersV1() *change.Schema {
	return change.MustSchema([]arrow.Field{
		change.NotNull("id", arrow.PrimitiveTypes.Int64),
		change.Col("amount", &arrow.Decimal128Type{Precision: 10, Scale: 2}),
	}, "id")
}

func ordersV2() *change.Schema {
	return change.MustSchema([]arrow.Field{
		change.NotNull("id", arrow.PrimitiveTypes.Int64),
		change.Col("amount", &arrow.Decimal128Type{Precision: 10, Scale: 2}),
		change.Col("note", arrow.BinaryTypes.String),
	}, "id")
}

func ordersNarrowed() *change.Schema {
	return change.MustSchema([]arrow.Field{
		change.NotNull("id", arrow.PrimitiveTypes.Int64),
		change.Col("amount", arrow.PrimitiveTypes.Int32),
	}, "id")
}

var keySchema = change.MustSchema([]arrow.Field{change.NotNull("id", arrow.PrimitiveTypes.Int64)})

// insert is a create event of table at position lsn, with the decoder's version decVer.
func insert(table string, s *change.Schema, decVer int, lsn uint64, id int64) cdc.Event {
	after := make(change.Row, s.NumFields())
	after[0] = change.Int(id)
	return cdc.Event{Table: table, Op: cdc.OpCreate, Schema: s, SchemaVersion: decVer,
		KeySchema: keySchema, Key: change.Row{change.Int(id)}, After: after,
		Pos: cdc.Position{Major: lsn, Minor: lsn}, Origin: cdc.Origin{Topic: "shop." + table, Offset: int64(lsn)}}
}

// tx wraps events into a transaction committed at the last one's position.
func tx(id string, evs ...cdc.Event) cdc.Tx {
	return cdc.Tx{ID: id, Events: evs, Commit: evs[len(evs)-1].Pos}
}

// versionsOf returns table's registered versions as "v: schema" lines.
func versionsOf(t *testing.T, ctx context.Context, store bronze.Store, table string) []string {
	t.Helper()
	m, err := bronze.OpenManifest(ctx, store)
	require.NoError(t, err)
	reg, err := m.Schemas()
	require.NoError(t, err)
	var out []string
	for _, sv := range reg.Versions(table) {
		out = append(out, fmt.Sprintf("%d: %s", sv.Version, sv.Schema))
	}
	return out
}

// lakeVersions returns "table v" of every committed event, in file order.
func lakeVersions(t *testing.T, ctx context.Context, store bronze.Store) []string {
	var out []string
	for _, ev := range lakeEvents(t, ctx, store) {
		out = append(out, fmt.Sprintf("%s %d %s", ev.Table, ev.SchemaVersion, ev.Op))
	}
	return out
}

func TestWriterNumbersSchemaVersions(t *testing.T) {
	ctx := context.Background()
	store := bronze.NewMemStore()
	w, err := bronze.OpenWriter(ctx, bronze.WriterConfig{Store: store})
	require.NoError(t, err)

	// The decoder's numbers mean nothing to the lake: v1 of the lake whatever they say.
	require.NoError(t, w.Append(tx("1", insert("public.orders", ordersV1(), 5, 10, 1))))
	// An identical schema under another pointer keeps the version.
	require.NoError(t, w.Append(tx("2", insert("public.orders", ordersV1(), 6, 20, 2),
		cdc.Event{Table: "public.orders", Op: cdc.OpTruncate, SchemaVersion: 3, Pos: cdc.Position{Major: 20, Minor: 21}})))
	c1, err := w.Commit(ctx)
	require.NoError(t, err)
	require.Len(t, c1.Schemas, 1)
	assert.Equal(t, "public.orders", c1.Schemas[0].Table)
	assert.Equal(t, 1, c1.Schemas[0].Version)

	// A compatible evolution is the next version, registered once, with its first file.
	v2 := ordersV2()
	require.NoError(t, w.Append(tx("3", insert("public.orders", v2, 1, 30, 3))))
	require.NoError(t, w.Append(tx("4", insert("public.orders", v2, 1, 40, 4), insert("public.orders", ordersV2(), 1, 40, 5))))
	c2, err := w.Commit(ctx)
	require.NoError(t, err)
	require.Len(t, c2.Schemas, 1)
	assert.Equal(t, 2, c2.Schemas[0].Version)
	for _, f := range c2.Files {
		assert.Equal(t, 2, f.SchemaVersion, "every file of the commit uses the version it registers")
	}
	require.NoError(t, w.Append(tx("5", insert("public.orders", v2, 1, 50, 6))))
	c3, err := w.Commit(ctx)
	require.NoError(t, err)
	assert.Empty(t, c3.Schemas, "a version is registered once")

	assert.Equal(t, []string{
		"1: id int64 not null, amount decimal(10, 2) (key: id)",
		"2: id int64 not null, amount decimal(10, 2), note utf8 (key: id)",
	}, versionsOf(t, ctx, store, "public.orders"))
	// Events read back carry the lake's versions; events without a schema carry 0.
	assert.ElementsMatch(t, []string{
		"public.orders 1 create", "public.orders 1 create", "public.orders 0 truncate",
		"public.orders 2 create", "public.orders 2 create", "public.orders 2 create", "public.orders 2 create",
	}, lakeVersions(t, ctx, store))
}

// A schema is compared with the table's latest version, not with older ones: going back
// to an older layout is an evolution of the latest like any other, and gets a new version.
func TestWriterComparesWithTheLatestVersion(t *testing.T) {
	ctx := context.Background()
	store := bronze.NewMemStore()
	w, err := bronze.OpenWriter(ctx, bronze.WriterConfig{Store: store})
	require.NoError(t, err)
	v1, v2 := ordersV1(), ordersV2()
	require.NoError(t, w.Append(tx("1", insert("t", v1, 1, 10, 1))))
	// In one transaction: v1 (known), then v2 (a new version), then v1 again.
	require.NoError(t, w.Append(tx("2", insert("t", v1, 1, 20, 2), insert("t", v2, 2, 20, 3), insert("t", v1, 1, 20, 4))))
	// The pointers seen before now follow version 3.
	require.NoError(t, w.Append(tx("3", insert("t", v1, 1, 30, 5), insert("t", v2, 2, 30, 6))))
	_, err = w.Commit(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{
		"1: id int64 not null, amount decimal(10, 2) (key: id)",
		"2: id int64 not null, amount decimal(10, 2), note utf8 (key: id)",
		"3: id int64 not null, amount decimal(10, 2) (key: id)",
		"4: id int64 not null, amount decimal(10, 2), note utf8 (key: id)",
	}, versionsOf(t, ctx, store, "t"))
	assert.Equal(t, []string{"t 1 create", "t 1 create", "t 2 create", "t 3 create", "t 3 create", "t 4 create"}, lakeVersions(t, ctx, store))
}

// A version registered by a commit that failed is registered by its retry, exactly once.
func TestWriterRegistersVersionOnceAcrossCommitRetries(t *testing.T) {
	ctx := context.Background()
	mem := bronze.NewMemStore()
	f := bronze.NewFaultStore(mem)
	w, err := bronze.OpenWriter(ctx, bronze.WriterConfig{Store: f})
	require.NoError(t, err)
	require.NoError(t, w.Append(tx("1", insert("t", ordersV1(), 1, 10, 1))))
	_, err = w.Commit(ctx)
	require.NoError(t, err)

	require.NoError(t, w.Append(tx("2", insert("t", ordersV2(), 2, 20, 2))))
	f.Inject(bronze.Fault{Op: "put", Prefix: bronze.ManifestPrefix, Times: 2})
	for range 2 {
		_, err = w.Commit(ctx)
		require.ErrorIs(t, err, bronze.ErrInjected)
	}
	require.NoError(t, w.Append(tx("3", insert("t", ordersV2(), 2, 30, 3))))
	c, err := w.Commit(ctx)
	require.NoError(t, err)
	require.Len(t, c.Schemas, 1)
	assert.Equal(t, 2, c.Schemas[0].Version)
	assert.Len(t, versionsOf(t, ctx, mem, "t"), 2)
	assert.Equal(t, []string{"t 1 create", "t 2 create", "t 2 create"}, lakeVersions(t, ctx, mem))
}

func deadLettersTotal(t *testing.T, reg *prometheus.Registry) float64 {
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == "strata_cdc_dead_letters_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}

func TestWriterDeadLettersIncompatibleTransactionsWhole(t *testing.T) {
	ctx := context.Background()
	store, err := bronze.OpenDir(t.TempDir())
	require.NoError(t, err)
	dls := cdc.NewMemoryDeadLetters()
	reg := prometheus.NewRegistry()
	w, err := bronze.OpenWriter(ctx, bronze.WriterConfig{Store: store, DeadLetters: dls, Metrics: cdc.NewMetrics(reg)})
	require.NoError(t, err)
	require.NoError(t, w.Append(tx("1", insert("public.orders", ordersV1(), 1, 10, 1), insert("public.customers", ordersV1(), 1, 10, 2))))

	// One transaction: a customers event that would register a version, then an orders
	// event that narrows a column. Neither lands; both are dead letters.
	bad := tx("2", insert("public.customers", ordersV2(), 2, 20, 3), insert("public.orders", ordersNarrowed(), 2, 21, 4))
	require.NoError(t, w.Append(bad))
	c, err := w.Commit(ctx)
	require.NoError(t, err)
	assert.Equal(t, bad.Commit, c.Position, "the refused transaction's position is committed, so the source is acked past it")
	assert.Equal(t, int64(1), c.Txs, "only the stored transaction counts")
	assert.Len(t, c.Files, 2, "only the first transaction's events are stored")

	got := dls.All()
	require.Len(t, got, 2)
	for i, dl := range got {
		ev := bad.Events[i]
		assert.Equal(t, ev.Table, dl.Table)
		assert.Equal(t, ev.Pos, dl.Pos)
		assert.Equal(t, ev.Origin, dl.Record.Origin())
		assert.Equal(t, `bronze: transaction "2" refused: table "public.orders" at 15/15/0: schema cannot follow version 1: `+
			`change: incompatible schema change: column "amount": decimal(10, 2) cannot become int32 (not a widening)`, dl.Reason)
		var js map[string]any
		require.NoError(t, json.Unmarshal(dl.Record.Value, &js), "the event is kept as JSON")
		assert.Equal(t, ev.Table, js["table"])
		assert.Equal(t, "create", js["op"])
		assert.Equal(t, float64(ev.Key[0].AsInt()), js["after"].(map[string]any)["id"])
	}
	assert.Equal(t, float64(2), deadLettersTotal(t, reg))

	// A refused transaction alone still makes a commit, to move the position past it.
	alone := tx("2b", insert("public.orders", ordersNarrowed(), 2, 25, 9))
	require.NoError(t, w.Append(alone))
	assert.Equal(t, int64(1), w.Pending())
	c, err = w.Commit(ctx)
	require.NoError(t, err)
	assert.Equal(t, alone.Commit, c.Position)
	assert.Empty(t, c.Files)
	assert.Zero(t, c.Txs)
	assert.Equal(t, 3, dls.Len())

	// Later transactions land: customers' would-be version 2 was never registered, so
	// it is registered now, and orders carries on at version 1.
	require.NoError(t, w.Append(tx("3", insert("public.customers", ordersV2(), 2, 30, 5), insert("public.orders", ordersV1(), 2, 30, 6))))
	_, err = w.Commit(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{
		"public.orders 1 create", "public.customers 1 create",
		"public.customers 2 create", "public.orders 1 create",
	}, lakeVersions(t, ctx, store))
	assert.Len(t, versionsOf(t, ctx, store, "public.orders"), 1)
	assert.Len(t, versionsOf(t, ctx, store, "public.customers"), 2)
}

func TestWriterWithoutDeadLettersRefusesIncompatible(t *testing.T) {
	ctx := context.Background()
	store := bronze.NewMemStore()
	w, err := bronze.OpenWriter(ctx, bronze.WriterConfig{Store: store})
	require.NoError(t, err)
	require.NoError(t, w.Append(tx("1", insert("t", ordersV1(), 1, 10, 1))))

	bad := tx("2", insert("u", ordersV1(), 1, 20, 2), insert("t", ordersNarrowed(), 2, 20, 3))
	err = w.Append(bad)
	require.ErrorIs(t, err, change.ErrIncompatible)
	assert.ErrorContains(t, err, `table "t" at 14/14/0`)
	assert.ErrorContains(t, err, `column "amount"`)
	assert.Equal(t, int64(1), w.Pending(), "nothing of the refused transaction is buffered")
	require.ErrorIs(t, w.Append(bad), change.ErrIncompatible, "still refused: the position did not move")

	require.NoError(t, w.Append(tx("3", insert("t", ordersV2(), 2, 30, 4))))
	_, err = w.Commit(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"t 1 create", "t 2 create"}, lakeVersions(t, ctx, store))
	assert.Empty(t, versionsOf(t, ctx, store, "u"), "u's version from the refused transaction was not registered")
}

// Versions survive restarts: a new decoder numbers from 1 again, the lake does not.
func TestWriterSchemaVersionsSurviveRestart(t *testing.T) {
	ctx := context.Background()
	store, err := bronze.OpenDir(t.TempDir())
	require.NoError(t, err)
	write := func(lsn uint64, after string) (cdc.Event, bronze.Commit) {
		t.Helper()
		d := cdc.NewDebeziumDecoder(cdc.DebeziumConfig{}) // a fresh process
		ev, err := d.Decode(&cdc.Record{Topic: "shop.public.orders", Offset: int64(lsn),
			Value: fmt.Appendf(nil, `{"op":"c","after":%s,"source":{"schema":"public","table":"orders","lsn":%d}}`, after, lsn)})
		require.NoError(t, err)
		require.Equal(t, 1, ev.SchemaVersion, "the decoder's count restarts")
		w, err := bronze.OpenWriter(ctx, bronze.WriterConfig{Store: store})
		require.NoError(t, err)
		require.NoError(t, w.Append(cdc.Tx{ID: fmt.Sprint(lsn), Events: []cdc.Event{ev}, Commit: ev.Pos}))
		c, err := w.Commit(ctx)
		require.NoError(t, err)
		return ev, c
	}
	_, c1 := write(10, `{"id":1,"status":"new"}`)
	ev2, c2 := write(20, `{"id":2,"status":"new","note":"gift"}`)
	_, c3 := write(30, `{"id":3,"status":"paid","note":"x"}`)
	assert.Equal(t, 1, c1.Files[0].SchemaVersion)
	assert.Equal(t, 2, c2.Files[0].SchemaVersion)
	assert.Equal(t, 2, c3.Files[0].SchemaVersion)
	assert.Len(t, c1.Schemas, 1)
	assert.Len(t, c2.Schemas, 1)
	assert.Empty(t, c3.Schemas)
	assert.Equal(t, []string{"public.orders 1 create", "public.orders 2 create", "public.orders 2 create"}, lakeVersions(t, ctx, store))

	// A reopened manifest sees the registry, with schemas equal to the events'.
	m, err := bronze.OpenManifest(ctx, store)
	require.NoError(t, err)
	reg, err := m.Schemas()
	require.NoError(t, err)
	assert.Equal(t, []string{"public.orders"}, reg.Tables())
	latest, ok := reg.Latest("public.orders")
	require.True(t, ok)
	assert.Equal(t, 2, latest.Version)
	assert.Equal(t, c2.ID, latest.Commit)
	assert.True(t, latest.Schema.Equal(ev2.Schema), "%s vs %s", latest.Schema, ev2.Schema)
	v1, ok := reg.Version("public.orders", 1)
	require.True(t, ok)
	assert.Equal(t, "id int64, status utf8", v1.Schema.String())
	_, ok = reg.Version("public.orders", 3)
	assert.False(t, ok)
	_, ok = reg.Latest("public.customers")
	assert.False(t, ok)
}

func TestSchemasFromCommits(t *testing.T) {
	entry := func(table string, v int, s *change.Schema) bronze.SchemaEntry {
		e, err := registered(s) // the form the writer registers
		require.NoError(t, err)
		e.Table, e.Version = table, v
		return e
	}
	good := []bronze.Commit{
		{ID: 1, Schemas: []bronze.SchemaEntry{entry("a", 1, ordersV1()), entry("b", 1, ordersV2())}},
		{ID: 2},
		{ID: 3, Schemas: []bronze.SchemaEntry{entry("a", 2, ordersV2()), entry("a", 3, ordersV1())}},
	}
	reg, err := bronze.NewSchemas(good)
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b"}, reg.Tables())
	vs := reg.Versions("a")
	require.Len(t, vs, 3)
	for i, want := range []*change.Schema{ordersV1(), ordersV2(), ordersV1()} {
		assert.Equal(t, i+1, vs[i].Version)
		assert.True(t, want.Equal(vs[i].Schema))
		assert.True(t, keySchema.Equal(vs[i].KeySchema))
	}
	assert.Equal(t, []uint64{1, 3, 3}, []uint64{vs[0].Commit, vs[1].Commit, vs[2].Commit})
	assert.Nil(t, reg.Versions("c"))

	for name, c := range map[string]struct {
		commits []bronze.Commit
		want    string
	}{
		"gap":       {[]bronze.Commit{{ID: 1, Schemas: []bronze.SchemaEntry{entry("a", 1, ordersV1())}}, {ID: 2, Schemas: []bronze.SchemaEntry{entry("a", 3, ordersV1())}}}, `commit 2 registers version 3 of table "a", expected version 2`},
		"not first": {[]bronze.Commit{{ID: 1, Schemas: []bronze.SchemaEntry{entry("a", 2, ordersV1())}}}, `commit 1 registers version 2 of table "a", expected version 1`},
		"repeated":  {[]bronze.Commit{{ID: 1, Schemas: []bronze.SchemaEntry{entry("a", 1, ordersV1())}}, {ID: 2, Schemas: []bronze.SchemaEntry{entry("a", 1, ordersV1())}}}, `commit 2 registers version 1`},
		"damaged":   {[]bronze.Commit{{ID: 1}, {ID: 2, Schemas: []bronze.SchemaEntry{{Table: "a", Version: 1, Schema: json.RawMessage(`{"fields":[{"name":"x","type":"list"}]}`)}}}}, `bronze: damaged manifest: commit 2: version 1 of table "a": schema: column type "list"`},
		"missing":   {[]bronze.Commit{{ID: 4, Schemas: []bronze.SchemaEntry{{Table: "a", Version: 1}}}}, `commit 4: version 1 of table "a": no schema`},
		"bad key":   {[]bronze.Commit{{ID: 1, Schemas: []bronze.SchemaEntry{{Table: "a", Version: 1, Schema: entry("a", 1, ordersV1()).Schema, KeySchema: json.RawMessage(`[1]`)}}}}, `commit 1: version 1 of table "a": key schema: json: cannot unmarshal array`},
	} {
		_, err := bronze.NewSchemas(c.commits)
		require.ErrorIs(t, err, bronze.ErrManifest, name)
		assert.ErrorContains(t, err, c.want, name)
	}
}

// registered returns the registration the writer publishes for s (with keySchema) as
// version 1 of a table, by letting a writer publish it.
func registered(s *change.Schema) (bronze.SchemaEntry, error) {
	ctx := context.Background()
	w, err := bronze.OpenWriter(ctx, bronze.WriterConfig{Store: bronze.NewMemStore()})
	if err != nil {
		return bronze.SchemaEntry{}, err
	}
	if err := w.Append(tx("1", insert("x", s, 1, 1, 1))); err != nil {
		return bronze.SchemaEntry{}, err
	}
	c, err := w.Commit(ctx)
	if err != nil {
		return bronze.SchemaEntry{}, err
	}
	if len(c.Schemas) != 1 {
		return bronze.SchemaEntry{}, fmt.Errorf("commit registers %d schemas", len(c.Schemas))
	}
	return c.Schemas[0], nil
}

// A damaged registration stops the writer from opening, rather than renumbering.
func TestOpenWriterChecksSchemaRegistry(t *testing.T) {
	ctx := context.Background()
	store := bronze.NewMemStore()
	m, err := bronze.OpenManifest(ctx, store)
	require.NoError(t, err)
	_, err = m.Append(ctx, bronze.Commit{Schemas: []bronze.SchemaEntry{{Table: "t", Version: 2, Schema: json.RawMessage(`{"fields":[]}`)}}})
	require.NoError(t, err)
	_, err = bronze.OpenWriter(ctx, bronze.WriterConfig{Store: store})
	require.ErrorIs(t, err, bronze.ErrManifest)
	assert.ErrorContains(t, err, `commit 1 registers version 2 of table "t"`)
}
