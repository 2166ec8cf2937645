package bronze_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/bronze"
	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/change"
)

// quiet discards compaction and retention logs in tests.
var quiet = slog.New(slog.DiscardHandler)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// The hand-built tables: orders (keyed; a seconds timestamp, a decimal, bytes) and
// audit (no primary key).
var (
	ordersSchema = change.MustSchema([]arrow.Field{
		change.NotNull("id", arrow.PrimitiveTypes.Int64),
		change.Col("status", arrow.BinaryTypes.String),
		change.Col("amount", &arrow.Decimal128Type{Precision: 12, Scale: 2}),
		change.Col("placed", &arrow.TimestampType{Unit: arrow.Second, TimeZone: "UTC"}),
		change.Col("note", arrow.BinaryTypes.Binary),
	}, "id")
	ordersKey   = change.MustSchema([]arrow.Field{change.NotNull("id", arrow.PrimitiveTypes.Int64)})
	auditSchema = change.MustSchema([]arrow.Field{change.Col("line", arrow.BinaryTypes.String)})
)

const (
	orders = "public.orders"
	audit  = "public.audit"
)

func order(id int64, status string, cents int64, placed int64, note string) change.Row {
	return change.Row{change.Int(id), change.Str(status), change.Decimal(decimal128.FromI64(cents)),
		change.Int(placed), change.Bytes([]byte(note))}
}

func key(id int64) change.Row { return change.Row{change.Int(id)} }

func upsert(op cdc.Op, after change.Row) cdc.Event {
	return cdc.Event{Table: orders, Op: op, Schema: ordersSchema, SchemaVersion: 1, KeySchema: ordersKey,
		Key: change.Row{after[0]}, After: after}
}

func ins(after change.Row) cdc.Event { return upsert(cdc.OpCreate, after) }
func upd(after change.Row) cdc.Event { return upsert(cdc.OpUpdate, after) }

// partial is an update whose after image carries only the id and the status: the
// other columns are unchanged TOAST values, absent.
func partial(id int64, status string) cdc.Event {
	return upd(change.Row{change.Int(id), change.Str(status), change.Absent(), change.Absent(), change.Absent()})
}

func del(id int64) cdc.Event {
	return cdc.Event{Table: orders, Op: cdc.OpDelete, Schema: ordersSchema, SchemaVersion: 1, KeySchema: ordersKey,
		Key: key(id), Before: change.Row{change.Int(id), change.Absent(), change.Absent(), change.Absent(), change.Absent()}}
}

func truncate() cdc.Event { return cdc.Event{Table: orders, Op: cdc.OpTruncate} }

func auditLine(s string) cdc.Event {
	return cdc.Event{Table: audit, Op: cdc.OpCreate, Schema: auditSchema, SchemaVersion: 1, After: change.Row{change.Str(s)}}
}

func message() cdc.Event {
	return cdc.Event{Op: cdc.OpMessage, Message: &cdc.Message{Prefix: "app", Content: []byte("hello")}}
}

// script numbers hand-built transactions in commit order.
type script struct{ n uint64 }

func (s *script) tx(evs ...cdc.Event) cdc.Tx {
	s.n++
	for i := range evs {
		evs[i].Pos = cdc.Position{Major: s.n, Minor: uint64(i + 1)}
	}
	return cdc.Tx{ID: fmt.Sprint(s.n), Events: evs, Commit: evs[len(evs)-1].Pos}
}

// oracle is the naive fold compaction must agree with: events applied one by one in
// the order they were appended. It keeps each row as plain values by column name, so
// rows of older schema versions need no conversion: a column a row never had reads NULL.
type oracle struct {
	table string
	rows  map[string]map[string]any // key text -> column -> plain value
}

func newOracle(table string) *oracle { return &oracle{table: table, rows: map[string]map[string]any{}} }

// plainOf returns a value as a comparable plain Go value (Value.Any), with decimals as
// exact rationals, so that a decimal rescaled by a schema evolution compares equal.
func plainOf(v change.Value, t arrow.DataType) any {
	x := v.Any(t)
	if s, ok := x.(string); ok && t.ID() == arrow.DECIMAL128 {
		r, ok := new(big.Rat).SetString(s)
		if !ok {
			panic("bad decimal " + s)
		}
		return r.RatString()
	}
	return x
}

// keyText renders the values of row at cols (typed by s) as a key.
func keyText(s *change.Schema, row change.Row, cols []int) string {
	vals := make([]any, len(cols))
	for i, c := range cols {
		vals[i] = plainOf(row[c], s.Field(c).Type)
	}
	return fmt.Sprint(vals)
}

func allColumns(s *change.Schema) []int {
	out := make([]int, s.NumFields())
	for i := range out {
		out[i] = i
	}
	return out
}

func (o *oracle) apply(evs ...cdc.Event) {
	for _, ev := range evs {
		if ev.Table != o.table {
			continue
		}
		k := ""
		if ev.Key != nil {
			k = keyText(ev.KeySchema, ev.Key, allColumns(ev.KeySchema))
		}
		switch ev.Op {
		case cdc.OpCreate, cdc.OpRead, cdc.OpUpdate:
			if k == "" {
				k = keyText(ev.Schema, ev.After, ev.Schema.Key())
			}
			row := o.rows[k]
			if row == nil {
				row = map[string]any{}
				o.rows[k] = row
			}
			for i, f := range ev.Schema.Fields() {
				if !ev.After[i].IsAbsent() { // absent: the previous row's value stays
					row[f.Name] = plainOf(ev.After[i], f.Type)
				}
			}
		case cdc.OpDelete:
			if k == "" {
				k = keyText(ev.Schema, ev.Before, ev.Schema.Key())
			}
			delete(o.rows, k)
		case cdc.OpTruncate:
			clear(o.rows)
		}
	}
}

func (o *oracle) applyTxs(txs []cdc.Tx) {
	for _, tx := range txs {
		o.apply(tx.Events...)
	}
}

// loadBatch replaces the oracle's state with a snapshot's rows.
func (o *oracle) loadBatch(b *change.Batch) {
	clear(o.rows)
	s := b.Schema()
	for i := 0; i < b.Len(); i++ {
		row := b.Row(i)
		vals := map[string]any{}
		for c, f := range s.Fields() {
			vals[f.Name] = plainOf(row[c], f.Type)
		}
		o.rows[keyText(s, row, s.Key())] = vals
	}
}

// plain renders the oracle's rows in the columns of s: key text -> values.
func plain(s *change.Schema, o *oracle) map[string][]any {
	out := make(map[string][]any, len(o.rows))
	for k, row := range o.rows {
		vals := make([]any, s.NumFields())
		for i, f := range s.Fields() {
			vals[i] = row[f.Name]
		}
		out[k] = vals
	}
	return out
}

// requireSnapshot reads a snapshot back and requires it to hold the oracle's state, in
// key order.
func requireSnapshot(t *testing.T, ctx context.Context, store bronze.Store, e bronze.SnapshotEntry, want *oracle) *change.Schema {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	b, err := bronze.ReadSnapshot(ctx, store, e, mem)
	require.NoError(t, err)
	defer b.Release()
	require.Equal(t, int64(b.Len()), e.Rows)
	for i, op := range b.Ops() {
		require.Equal(t, change.Insert, op, "row %d", i)
	}
	got := newOracle(want.table)
	got.loadBatch(b)
	assert.Equal(t, plain(b.Schema(), want), plain(b.Schema(), got), "snapshot %s", e.Name)
	for i := 1; i < b.Len(); i++ {
		require.Less(t, b.Value(i-1, b.Schema().Key()[0]).AsInt(), b.Value(i, b.Schema().Key()[0]).AsInt(), "rows sorted by key")
	}
	return b.Schema()
}

// openLake returns a directory store and a writer on it with the clock.
func openLake(t *testing.T, ctx context.Context, clk *clock) (bronze.Store, *bronze.Writer) {
	t.Helper()
	store, err := bronze.OpenDir(t.TempDir())
	require.NoError(t, err)
	w, err := bronze.OpenWriter(ctx, bronze.WriterConfig{Store: store, Now: clk.Now})
	require.NoError(t, err)
	return store, w
}

func commit(t *testing.T, ctx context.Context, w *bronze.Writer, txs ...cdc.Tx) bronze.Commit {
	t.Helper()
	for _, tx := range txs {
		require.NoError(t, w.Append(tx))
	}
	c, err := w.Commit(ctx)
	require.NoError(t, err)
	return c
}

func compact(t *testing.T, ctx context.Context, m *bronze.Manifest, opts bronze.CompactOptions) bronze.CompactReport {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	opts.Mem = mem
	rep, err := bronze.Compact(ctx, m, opts)
	require.NoError(t, err)
	return rep
}

func tableReport(t *testing.T, rep bronze.CompactReport, table string) bronze.TableCompaction {
	t.Helper()
	for _, tc := range rep.Tables {
		if tc.Table == table {
			return tc
		}
	}
	t.Fatalf("no report for %s in %+v", table, rep.Tables)
	return bronze.TableCompaction{}
}

func TestCompactFoldsInsertsUpdatesDeletesTruncatesAndPartialImages(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	store, w := openLake(t, ctx, clk)
	var s script
	txs := []cdc.Tx{
		s.tx(ins(order(1, "new", 1000, 1_700_000_000, "a")), ins(order(2, "new", 2000, 1_700_000_001, "b")), auditLine("x")),
		s.tx(ins(order(3, "new", 3000, 1_700_000_002, "\x00c")), partial(1, "paid"), message()),
		s.tx(del(2), upd(order(3, "paid", 3100, 1_700_000_002, "c2"))),
		// A truncate between inserts of one transaction lands in a file of its own
		// (it has no schema); the fold merges the files by position.
		s.tx(ins(order(4, "new", 4000, 1_700_000_003, "d")), truncate(), ins(order(5, "new", 5000, 1_700_000_004, "e"))),
		s.tx(partial(5, "paid"), ins(order(6, "new", -600, -1, "")), partial(7, "ghost")),
		s.tx(del(6), ins(order(6, "again", 601, 0, "f")), del(99)),
	}
	commit(t, ctx, w, txs[:2]...)
	commit(t, ctx, w, txs[2:4]...)
	last := commit(t, ctx, w, txs[4:]...)

	rep := compact(t, ctx, w.Manifest(), bronze.CompactOptions{Now: clk.Now})
	require.Equal(t, uint64(last.ID+1), rep.Commit.ID)
	assert.Empty(t, rep.Commit.Files)
	assert.Zero(t, rep.Commit.Txs)
	assert.Equal(t, last.Position, rep.Commit.Position, "a compaction commit reaches no further into the source")
	require.Len(t, rep.Commit.Snapshots, 1)

	tc := tableReport(t, rep, orders)
	assert.Empty(t, tc.Skipped)
	assert.Equal(t, rep.Commit.Snapshots[0], tc.Snapshot)
	assert.Equal(t, fmt.Sprintf("snapshot/public.orders/%020d.parquet", last.ID), tc.Snapshot.Name)
	assert.Equal(t, last.ID, tc.Snapshot.CommitID)
	assert.Equal(t, last.Position, tc.Snapshot.Position)
	assert.Equal(t, 1, tc.Snapshot.SchemaVersion)
	assert.Equal(t, int64(15), tc.Events)
	assert.Equal(t, int64(3), tc.Absent, "order 7 was only ever seen as a partial image")
	assert.Equal(t, "no primary key", tableReport(t, rep, audit).Skipped)
	assert.Equal(t, []bronze.SnapshotEntry{tc.Snapshot}, rep.Snapshots())

	want := newOracle(orders)
	want.applyTxs(txs)
	require.Len(t, want.rows, 3, "orders 5, 6 and 7 remain")
	requireSnapshot(t, ctx, store, tc.Snapshot, want)

	m, err := bronze.OpenManifest(ctx, store)
	require.NoError(t, err)
	require.NoError(t, m.Verify(ctx))
	got, ok := m.LatestSnapshot(orders, 0)
	require.True(t, ok)
	assert.Equal(t, tc.Snapshot, got)

	// Nothing new: every table is current or skipped, and no commit is published.
	again := compact(t, ctx, m, bronze.CompactOptions{})
	assert.Zero(t, again.Commit.ID)
	assert.Contains(t, tableReport(t, again, orders).Skipped, "no changes after the snapshot")
	assert.Empty(t, again.Snapshots())
}

// The state of a snapshot as of commit k, with commits k+1..n folded on top, equals the
// fold of commits 1..n; and a second compaction starts from the first snapshot.
func TestCompactSnapshotPlusTailEqualsFullReplay(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	store, w := openLake(t, ctx, clk)
	var s script
	var txs []cdc.Tx
	add := func(evs ...cdc.Event) { txs = append(txs, s.tx(evs...)) }
	for i := int64(1); i <= 40; i++ {
		add(ins(order(i, "new", i*100, 1_700_000_000+i, "n")))
	}
	commit(t, ctx, w, txs...)
	head := len(txs)
	add(partial(3, "paid"), del(4))
	add(truncate(), ins(order(50, "new", 1, 2, "x")))
	commit(t, ctx, w, txs[head:]...)
	k := w.Manifest().Position()
	first := compact(t, ctx, w.Manifest(), bronze.CompactOptions{})
	snapK := tableReport(t, first, orders).Snapshot
	assert.Equal(t, k, snapK.Position)
	atK := len(txs)

	for i := int64(51); i <= 60; i++ {
		add(ins(order(i, "new", i, i, "t")), partial(50, fmt.Sprint("s", i)))
	}
	commit(t, ctx, w, txs[atK:atK+5]...)
	add(del(55), upd(order(56, "moved", 5, 6, "u")))
	commit(t, ctx, w, txs[atK+5:]...)

	full := newOracle(orders)
	full.applyTxs(txs)

	// By hand: the snapshot's rows, then the tail.
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	b, err := bronze.ReadSnapshot(ctx, store, snapK, mem)
	require.NoError(t, err)
	tail := newOracle(orders)
	tail.loadBatch(b)
	b.Release()
	mem.AssertSize(t, 0)
	tail.applyTxs(txs[atK:])
	assert.Equal(t, plain(ordersSchema, full), plain(ordersSchema, tail))

	// By Compact: it starts from the first snapshot and reads only the later files.
	second := compact(t, ctx, w.Manifest(), bronze.CompactOptions{Tables: []string{orders, "public.nothing"}})
	tc := tableReport(t, second, orders)
	assert.Equal(t, snapK.CommitID, tc.Base)
	assert.Equal(t, 2, tc.Files, "only the two commits after the first snapshot")
	assert.Contains(t, tableReport(t, second, "public.nothing").Skipped, "no data files")
	requireSnapshot(t, ctx, store, tc.Snapshot, full)

	// A compaction as of an earlier commit starts from the latest snapshot at or before it.
	m, err := bronze.OpenManifest(ctx, store)
	require.NoError(t, err)
	mid := compact(t, ctx, m, bronze.CompactOptions{UpTo: snapK.CommitID + 2}) // the commit after the compaction's
	tcMid := tableReport(t, mid, orders)
	assert.Equal(t, snapK.CommitID, tcMid.Base)
	wantMid := newOracle(orders)
	wantMid.applyTxs(txs[:atK+5])
	requireSnapshot(t, ctx, store, tcMid.Snapshot, wantMid)
	cur := compact(t, ctx, m, bronze.CompactOptions{UpTo: snapK.CommitID})
	assert.Contains(t, tableReport(t, cur, orders).Skipped, fmt.Sprintf("the snapshot at commit %d is current", snapK.CommitID))
	latest, _ := m.LatestSnapshot(orders, 0)
	assert.Equal(t, tc.Snapshot, latest, "the latest snapshot is the one as of the latest commit")

	_, err = bronze.Compact(ctx, m, bronze.CompactOptions{UpTo: 99})
	assert.ErrorContains(t, err, "manifest ends at commit")
}

// generated returns the generator's workload for a seed as whole transactions, with
// some update images made partial and some truncates added, both drawn from the seed.
// With evolve, orders gains a column half way (schema version 2).
func generated(t testing.TB, seed int64, events int, evolve bool) []cdc.Tx {
	cfg := cdc.GeneratorConfig{Seed: seed, Events: events, Customers: 60, AddColumnAt: -1}
	if evolve {
		cfg.AddColumnAt = events / 2
	}
	return generatedTxs(t, cfg, true)
}

// generatedTxs returns the workload of cfg as whole transactions; with mutate, some
// update images are made partial and some truncates added, drawn from the seed.
func generatedTxs(t testing.TB, cfg cdc.GeneratorConfig, mutate bool) []cdc.Tx {
	ctx := context.Background()
	seed := cfg.Seed
	src := cdc.NewGenerator(cfg)
	require.NoError(t, src.Open(ctx, cdc.Position{}))
	asm := cdc.NewAssembler(cdc.AssemblerConfig{DeadLetters: cdc.NewMemoryDeadLetters()})
	for {
		ev, err := src.Read(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		require.NoError(t, asm.Add(ctx, &ev))
	}
	require.NoError(t, asm.Flush(ctx))
	rng := rand.New(rand.NewPCG(uint64(seed), 11))
	var txs []cdc.Tx
	for tx, ok := asm.Next(); ok; tx, ok = asm.Next() {
		if !mutate {
			txs = append(txs, tx)
			continue
		}
		for i := range tx.Events {
			ev := &tx.Events[i]
			if ev.Op != cdc.OpUpdate || rng.IntN(3) != 0 {
				continue
			}
			after := slices.Clone(ev.After)
			for c := range after {
				if !slices.Contains(ev.Schema.Key(), c) && rng.IntN(2) == 0 {
					after[c] = change.Absent()
				}
			}
			ev.After = after
		}
		if rng.IntN(40) == 0 {
			at := rng.IntN(len(tx.Events))
			table := tx.Events[at].Table
			pos := tx.Events[at].Pos
			tr := cdc.Event{Table: table, Op: cdc.OpTruncate, Pos: pos.Next()}
			tx.Events = slices.Insert(slices.Clone(tx.Events), at+1, tr)
			if at+1 == len(tx.Events)-1 {
				tx.Commit = tr.Pos
			}
		}
		txs = append(txs, tx)
	}
	return txs
}

// Over generator seeds: commit in random groups (files split small), compact at a
// random commit k, then at the end; both snapshots equal the naive fold, and the
// snapshot at k plus the tail equals the full fold. For even seeds orders changes
// schema half way, so k may fall on either side of the change.
func TestCompactPropertySnapshotPlusTailOverGeneratorSeeds(t *testing.T) {
	ctx := context.Background()
	for seed := int64(1); seed <= 8; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			txs := generated(t, seed, 1200, seed%2 == 0)
			rng := rand.New(rand.NewPCG(uint64(seed), 5))
			store := bronze.NewMemStore()
			w, err := bronze.OpenWriter(ctx, bronze.WriterConfig{Store: store, MaxFileEvents: 1 + rng.IntN(12)})
			require.NoError(t, err)
			upto := map[uint64]int{} // commit id -> transactions it covers
			for i := 0; i < len(txs); {
				n := min(1+rng.IntN(30), len(txs)-i)
				for _, tx := range txs[i : i+n] {
					require.NoError(t, w.Append(tx))
				}
				i += n
				c, err := w.Commit(ctx)
				require.NoError(t, err)
				upto[c.ID] = i
			}
			n := uint64(len(upto))
			k := 1 + uint64(rng.IntN(int(n-1)))
			first := compact(t, ctx, w.Manifest(), bronze.CompactOptions{UpTo: k, RowGroupRows: 50})
			second := compact(t, ctx, w.Manifest(), bronze.CompactOptions{})
			tables := []string{"public.customers", "public.orders", "public.payments"}
			require.Len(t, second.Snapshots(), len(tables))
			for _, table := range tables {
				full := newOracle(table)
				full.applyTxs(txs)
				tc := tableReport(t, second, table)
				final := requireSnapshot(t, ctx, store, tc.Snapshot, full)

				atK := newOracle(table)
				atK.applyTxs(txs[:upto[k]])
				snapK, ok := first.Snapshot(table)
				if !ok { // the table has no file up to commit k
					require.Empty(t, atK.rows)
					assert.Zero(t, tc.Base)
					continue
				}
				requireSnapshot(t, ctx, store, snapK, atK)
				assert.Equal(t, k, tc.Base)

				b, err := bronze.ReadSnapshot(ctx, store, snapK, nil)
				require.NoError(t, err)
				tail := newOracle(table)
				tail.loadBatch(b)
				b.Release()
				tail.applyTxs(txs[upto[k]:])
				assert.Equal(t, plain(final, full), plain(final, tail), "%s: snapshot at %d + tail", table, k)
			}
			require.NoError(t, w.Manifest().Verify(ctx))
		})
	}
}

// A snapshot is written in the latest schema version in range: a base snapshot of an
// older version is read through the evolution to it.
func TestCompactAcrossSchemaVersions(t *testing.T) {
	ctx := context.Background()
	txs := generatedTxs(t, cdc.GeneratorConfig{Seed: 7, Events: 800, Customers: 40}, true) // orders gains a column half way
	store := bronze.NewMemStore()
	w, err := bronze.OpenWriter(ctx, bronze.WriterConfig{Store: store})
	require.NoError(t, err)
	upto := map[uint64]int{}
	for i := range txs {
		require.NoError(t, w.Append(txs[i]))
		if i%20 == 19 || i == len(txs)-1 {
			c, err := w.Commit(ctx)
			require.NoError(t, err)
			upto[c.ID] = i + 1
		}
	}
	var k uint64 // the last commit before orders' version 2
	for _, c := range w.Manifest().Commits() {
		for _, e := range c.Schemas {
			if e.Table == orders && e.Version == 2 {
				k = c.ID - 1
			}
		}
	}
	require.NotZero(t, k)

	first := compact(t, ctx, w.Manifest(), bronze.CompactOptions{UpTo: k})
	v1, ok := first.Snapshot(orders)
	require.True(t, ok)
	assert.Equal(t, 1, v1.SchemaVersion)
	want := newOracle(orders)
	want.applyTxs(txs[:upto[k]])
	requireSnapshot(t, ctx, store, v1, want)

	second := compact(t, ctx, w.Manifest(), bronze.CompactOptions{})
	tc := tableReport(t, second, orders)
	assert.Equal(t, k, tc.Base)
	assert.Equal(t, 2, tc.Snapshot.SchemaVersion)
	want = newOracle(orders)
	want.applyTxs(txs)
	s := requireSnapshot(t, ctx, store, tc.Snapshot, want)
	schemas, err := w.Manifest().Schemas()
	require.NoError(t, err)
	latest, _ := schemas.Latest(orders)
	assert.True(t, latest.Schema.Equal(s), "the snapshot has the latest version's schema: %s", s)
	assert.GreaterOrEqual(t, s.FieldIndex("discount"), 0)
}

// Rows, partial images and keys of an older version are all read through the
// evolution: a key column rescaled from decimal(6,0) to decimal(8,2) still matches the
// older file's delete, an added column is NULL, a rescaled amount kept from the base
// snapshot under a partial image keeps its value.
func TestCompactEvolvesOlderRowsImagesAndKeys(t *testing.T) {
	ctx := context.Background()
	const table = "public.accounts"
	v1 := change.MustSchema([]arrow.Field{
		change.NotNull("id", &arrow.Decimal128Type{Precision: 6, Scale: 0}),
		change.Col("amount", &arrow.Decimal128Type{Precision: 10, Scale: 2}),
		change.Col("note", arrow.BinaryTypes.String),
	}, "id")
	k1 := change.MustSchema([]arrow.Field{change.NotNull("id", &arrow.Decimal128Type{Precision: 6, Scale: 0})})
	v2 := change.MustSchema([]arrow.Field{
		change.NotNull("id", &arrow.Decimal128Type{Precision: 8, Scale: 2}),
		change.Col("amount", &arrow.Decimal128Type{Precision: 12, Scale: 3}),
		change.Col("note", arrow.BinaryTypes.String),
		change.Col("extra", arrow.BinaryTypes.String),
	}, "id")
	k2 := change.MustSchema([]arrow.Field{change.NotNull("id", &arrow.Decimal128Type{Precision: 8, Scale: 2})})
	d := func(n int64) change.Value { return change.Decimal(decimal128.FromI64(n)) }
	a := change.Absent()
	ev := func(op cdc.Op, s, ks *change.Schema, id int64, img change.Row) cdc.Event {
		e := cdc.Event{Table: table, Op: op, Schema: s, KeySchema: ks, Key: change.Row{d(id)}}
		if op == cdc.OpDelete {
			e.Before = img
		} else {
			e.After = img
		}
		return e
	}
	var sc script
	txs := []cdc.Tx{
		sc.tx(ev(cdc.OpCreate, v1, k1, 1, change.Row{d(1), d(1000), change.Str("a")}),
			ev(cdc.OpCreate, v1, k1, 2, change.Row{d(2), d(2000), change.Str("b")}),
			ev(cdc.OpCreate, v1, k1, 3, change.Row{d(3), d(3000), change.Str("c")})),
		sc.tx(ev(cdc.OpDelete, v1, k1, 2, change.Row{d(2), a, a}),
			ev(cdc.OpUpdate, v1, k1, 3, change.Row{d(3), a, change.Str("c2")})),
		sc.tx(ev(cdc.OpUpdate, v2, k2, 100, change.Row{d(100), a, change.Str("a2"), change.Str("x")}),
			ev(cdc.OpCreate, v2, k2, 400, change.Row{d(400), d(4000), change.Str("d"), change.Null()})),
	}
	store, w := openLake(t, ctx, newClock())
	c1 := commit(t, ctx, w, txs[0])
	base, ok := compact(t, ctx, w.Manifest(), bronze.CompactOptions{}).Snapshot(table)
	require.True(t, ok)
	assert.Equal(t, 1, base.SchemaVersion)
	commit(t, ctx, w, txs[1:]...)

	rep := compact(t, ctx, w.Manifest(), bronze.CompactOptions{})
	tc := tableReport(t, rep, table)
	assert.Equal(t, c1.ID, tc.Base)
	assert.Equal(t, 2, tc.Snapshot.SchemaVersion)
	b, err := bronze.ReadSnapshot(ctx, store, tc.Snapshot, nil)
	require.NoError(t, err)
	defer b.Release()
	assert.True(t, v2.Equal(b.Schema()))
	assert.Equal(t, [][]any{
		{change.Insert, "1.00", "10.000", "a2", "x"},
		{change.Insert, "3.00", "30.000", "c2", nil},
		{change.Insert, "4.00", "4.000", "d", nil},
	}, b.Plain())
	want := newOracle(table)
	want.applyTxs(txs)
	assert.Equal(t, plain(v2, want), func() map[string][]any { got := newOracle(table); got.loadBatch(b); return plain(v2, got) }())
}

func TestReadSnapshotChecksumNamesTheFile(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	store, w := openLake(t, ctx, clk)
	var s script
	commit(t, ctx, w, s.tx(ins(order(1, "new", 1, 1, "a"))))
	snap := compact(t, ctx, w.Manifest(), bronze.CompactOptions{}).Snapshots()[0]

	data, err := store.Get(ctx, snap.Name)
	require.NoError(t, err)
	data[len(data)/2] ^= 0xff
	require.NoError(t, store.Put(ctx, snap.Name, data))

	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	_, err = bronze.ReadSnapshot(ctx, store, snap, mem)
	require.ErrorIs(t, err, bronze.ErrChecksum)
	assert.Contains(t, err.Error(), snap.Name)

	err = w.Manifest().Verify(ctx)
	require.ErrorIs(t, err, bronze.ErrChecksum, "Verify checks snapshots too")
	assert.Contains(t, err.Error(), snap.Name)

	commit(t, ctx, w, s.tx(ins(order(2, "new", 2, 2, "b"))))
	_, err = bronze.Compact(ctx, w.Manifest(), bronze.CompactOptions{Logger: quiet, Mem: mem})
	require.ErrorIs(t, err, bronze.ErrChecksum, "a compaction never builds on a damaged snapshot")
	assert.Contains(t, err.Error(), snap.Name)

	// A file with the right checksum but for another table is refused too.
	other := snap
	other.Table = "public.other"
	_, err = bronze.ReadSnapshot(ctx, store, other, mem)
	require.ErrorIs(t, err, bronze.ErrChecksum)
	data[len(data)/2] ^= 0xff // repaired
	require.NoError(t, store.Put(ctx, snap.Name, data))
	_, err = bronze.ReadSnapshot(ctx, store, other, mem)
	require.ErrorIs(t, err, bronze.ErrSnapshot)
	assert.ErrorContains(t, err, `strata.table is "public.orders"`)
}

// A crash after the snapshot is put but before its commit is published leaves an
// orphan that no reader sees and the next writer removes.
func TestCompactCrashBeforeCommitLeavesAnOrphan(t *testing.T) {
	ctx := context.Background()
	mem := bronze.NewMemStore()
	fs := bronze.NewFaultStore(mem)
	w, err := bronze.OpenWriter(ctx, bronze.WriterConfig{Store: fs})
	require.NoError(t, err)
	var s script
	commit(t, ctx, w, s.tx(ins(order(1, "new", 1, 1, "a"))))
	fs.Inject(bronze.Fault{Op: "put", Prefix: bronze.ManifestPrefix})
	_, err = bronze.Compact(ctx, w.Manifest(), bronze.CompactOptions{Logger: quiet})
	require.ErrorIs(t, err, bronze.ErrInjected)
	names, _ := mem.List(ctx, bronze.SnapshotPrefix)
	require.Len(t, names, 1)

	w2, err := bronze.OpenWriter(ctx, bronze.WriterConfig{Store: mem})
	require.NoError(t, err)
	_, ok := w2.Manifest().LatestSnapshot(orders, 0)
	assert.False(t, ok)
	names, _ = mem.List(ctx, bronze.SnapshotPrefix)
	assert.Empty(t, names, "the orphan snapshot was cleaned")
	require.NoError(t, w2.Manifest().Verify(ctx))
	assert.Len(t, compact(t, ctx, w2.Manifest(), bronze.CompactOptions{}).Snapshots(), 1)
}

func TestCompactLogsASummaryLine(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	_, w := openLake(t, ctx, clk)
	var s script
	commit(t, ctx, w, s.tx(ins(order(1, "new", 1, 1, "a")), ins(order(2, "new", 2, 2, "b")), auditLine("x")))
	var buf bytes.Buffer
	compact(t, ctx, w.Manifest(), bronze.CompactOptions{Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 2)
	sort.Strings(lines)
	assert.Contains(t, lines[0], `msg="bronze: compaction skipped a table" table=public.audit reason="no primary key"`)
	assert.Contains(t, lines[1], `msg="bronze: snapshot" table=public.orders rows=2 bytes=`)
	assert.Contains(t, lines[1], " duration=")
}

func TestCompactOptionsValidate(t *testing.T) {
	assert.NoError(t, bronze.CompactOptions{}.Validate())
	assert.ErrorContains(t, bronze.CompactOptions{RowGroupRows: -1}.Validate(), "negative")
	assert.ErrorContains(t, bronze.CompactOptions{Tables: []string{"a", "a"}}.Validate(), `"a" twice`)
	rep, err := bronze.Compact(context.Background(), mustManifest(t, bronze.NewMemStore()), bronze.CompactOptions{})
	require.NoError(t, err)
	assert.Zero(t, rep.Commit.ID, "an empty lake has nothing to compact")
}

func mustManifest(t *testing.T, s bronze.Store) *bronze.Manifest {
	t.Helper()
	m, err := bronze.OpenManifest(context.Background(), s)
	require.NoError(t, err)
	return m
}

// A table whose rows are all gone still gets a snapshot (an empty one), so retention
// can drop its files.
func TestCompactEmptiedTable(t *testing.T) {
	ctx := context.Background()
	store, w := openLake(t, ctx, newClock())
	var s script
	commit(t, ctx, w, s.tx(ins(order(1, "new", 1, 1, "a")), ins(order(2, "new", 2, 2, "b"))), s.tx(del(1), truncate()))
	snap, ok := compact(t, ctx, w.Manifest(), bronze.CompactOptions{}).Snapshot(orders)
	require.True(t, ok)
	assert.Zero(t, snap.Rows)
	requireSnapshot(t, ctx, store, snap, newOracle(orders))
}

// A NOT NULL column that a partial image leaves absent, with no earlier row to take it
// from, cannot be stored: the error names the table, the column and the key. A key
// column absent from an image takes the event key's value.
func TestCompactAbsentNotNullColumnIsAnError(t *testing.T) {
	ctx := context.Background()
	strict := change.MustSchema([]arrow.Field{
		change.NotNull("id", arrow.PrimitiveTypes.Int64),
		change.NotNull("status", arrow.BinaryTypes.String),
	}, "id")
	ev := func(id int64, status change.Value, keyInImage bool) cdc.Event {
		img := change.Row{change.Int(id), status}
		if !keyInImage {
			img[0] = change.Absent()
		}
		return cdc.Event{Table: "public.strict", Op: cdc.OpUpdate, Schema: strict, SchemaVersion: 1,
			KeySchema: ordersKey, Key: key(id), After: img}
	}
	store, w := openLake(t, ctx, newClock())
	var s script
	commit(t, ctx, w, s.tx(ev(1, change.Str("new"), false), ev(1, change.Absent(), true)))
	snap, ok := compact(t, ctx, w.Manifest(), bronze.CompactOptions{}).Snapshot("public.strict")
	require.True(t, ok)
	b, err := bronze.ReadSnapshot(ctx, store, snap, nil)
	require.NoError(t, err)
	assert.Equal(t, [][]any{{change.Insert, int64(1), "new"}}, b.Plain())
	b.Release()

	commit(t, ctx, w, s.tx(ev(2, change.Absent(), true)))
	_, err = bronze.Compact(ctx, w.Manifest(), bronze.CompactOptions{Logger: quiet})
	require.Error(t, err)
	assert.ErrorContains(t, err, "bronze: compact public.strict: snapshot snapshot/public.strict/")
	assert.ErrorContains(t, err, `row with key (2): NOT NULL column "status" was absent from a partial image`)
}
