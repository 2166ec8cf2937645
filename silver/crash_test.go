package silver_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/bronze"
	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/silver"
)

// A store that crashes after any number of bytes during an apply leaves the previous
// snapshot readable; a new process (a new Table) removes the orphans and re-applying
// the same transactions converges on the reference.
func TestCrashDuringApplyConverges(t *testing.T) {
	ctx := context.Background()
	w := &workload{r: rand.New(rand.NewPCG(3, 3)), keys: 200, schema: schemaV1, live: map[int64]bool{}}
	ref := model{schema: schemaV1, rows: map[int64]change.Row{}}
	inner := bronze.NewMemStore()
	var batches [][]cdc.Tx
	for range 6 {
		var txs []cdc.Tx
		for range 4 {
			txs = append(txs, w.tx(30))
		}
		batches = append(batches, txs)
	}
	crashes := 0
	for bi, txs := range batches {
		before := ref.clone()
		for i := range txs {
			for j := range txs[i].Events {
				ref.apply(&txs[i].Events[j])
			}
		}
		for limit := int64(0); ; limit += 1500 {
			fs := bronze.NewFaultStore(inner)
			tb, err := silver.Open(ctx, fs, tbl, silver.Config{Compaction: silver.CompactPolicy{MaxFiles: 2}})
			require.NoError(t, err)
			fs.CrashAfter(limit)
			_, err = tb.Apply(ctx, txs)
			if err == nil && bi%2 == 1 {
				_, _, err = tb.CompactIfNeeded(ctx)
			}
			if err == nil {
				break
			}
			require.ErrorIs(t, err, bronze.ErrCrashed)
			crashes++
			// The previous snapshot is whole (or the new one, had the crash come after
			// publishing it).
			tb2, err := silver.Open(ctx, inner, tbl, silver.Config{})
			require.NoError(t, err)
			if s, ok := tb2.Latest(); ok && s.Position == txs[len(txs)-1].Commit {
				sch, got := scanRows(t, tb2, 0)
				requireSame(t, ref, sch, got, "after the crash")
			} else if ok {
				sch, got := scanRows(t, tb2, 0)
				requireSame(t, before, sch, got, "after the crash")
			}
		}
		tb, err := silver.Open(ctx, inner, tbl, silver.Config{})
		require.NoError(t, err)
		_, err = tb.Apply(ctx, txs) // a no-op when the last attempt succeeded
		require.NoError(t, err)
		sch, got := scanRows(t, tb, 0)
		requireSame(t, ref, sch, got, fmt.Sprintf("batch %d", bi))
	}
	require.Greater(t, crashes, 10)
	// No file is left that no snapshot lists, once a writer has opened the table.
	tb, err := silver.Open(ctx, inner, tbl, silver.Config{})
	require.NoError(t, err)
	_, _, err = tb.Compact(ctx)
	require.NoError(t, err)
	listed := map[string]bool{}
	for _, s := range tb.Snapshots() {
		for _, f := range s.Added {
			listed[f.Name] = true
		}
		for _, d := range s.Deletes {
			listed[d.Name] = true
		}
	}
	names, err := inner.List(ctx, silver.Prefix)
	require.NoError(t, err)
	for _, n := range names {
		if !strings.Contains(n, "/manifest/") {
			require.True(t, listed[n], "orphan %s", n)
		}
	}
}

// A transaction that cannot be applied fails the whole Apply, and nothing is published.
func TestApplyIsAtomic(t *testing.T) {
	ctx := context.Background()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	store := bronze.NewMemStore()
	tb, err := silver.Open(ctx, store, tbl, silver.Config{Mem: mem})
	require.NoError(t, err)
	w := &workload{r: rand.New(rand.NewPCG(1, 2)), keys: 50, schema: schemaV1, live: map[int64]bool{}}
	good := w.tx(20)
	s1, err := tb.Apply(ctx, []cdc.Tx{good})
	require.NoError(t, err)
	_, rows1 := scanRows(t, tb, 0)

	bad := w.tx(5)
	bad.Events = append(bad.Events, cdc.Event{Table: tbl, Op: cdc.OpCreate, Schema: schemaV1, After: change.Row{change.Int(1)}, Pos: cdc.Position{Major: 9999}})
	bad.Commit = cdc.Position{Major: 9999}
	_, err = tb.Apply(ctx, []cdc.Tx{w.tx(3), bad})
	require.ErrorIs(t, err, silver.ErrApply)
	require.Contains(t, err.Error(), "public.items")
	require.Contains(t, err.Error(), "0/0")
	s, _ := tb.Latest()
	require.Equal(t, s1.ID, s.ID)
	_, rows := scanRows(t, tb, 0)
	require.Equal(t, rows1, rows)

	// A table without a primary key, and a schema that is no evolution of the table's.
	keyless := change.MustSchema([]arrow.Field{change.Col("x", arrow.PrimitiveTypes.Int64)})
	tb2, err := silver.Open(ctx, store, "public.keyless", silver.Config{Mem: mem})
	require.NoError(t, err)
	_, err = tb2.Apply(ctx, []cdc.Tx{{Commit: cdc.Position{Major: 1}, Events: []cdc.Event{{Table: "public.keyless", Op: cdc.OpCreate, Schema: keyless, After: change.Row{change.Int(1)}}}}})
	require.ErrorIs(t, err, silver.ErrApply)
	require.Contains(t, err.Error(), "no primary key")

	narrowed := change.MustSchema([]arrow.Field{
		change.NotNull("id", arrow.PrimitiveTypes.Int64),
		change.Col("name", arrow.PrimitiveTypes.Int64),
	}, "id")
	_, err = tb.Apply(ctx, []cdc.Tx{{Commit: cdc.Position{Major: 10000}, Events: []cdc.Event{{Table: tbl, Op: cdc.OpCreate, Schema: narrowed, After: change.Row{change.Int(1), change.Int(2)}}}}})
	require.ErrorIs(t, err, silver.ErrApply)
	require.ErrorIs(t, err, change.ErrIncompatible)
	require.Contains(t, err.Error(), `column "name"`)
}

// A damaged data file is refused by its checksum, naming the file.
func TestDamagedFileIsRefused(t *testing.T) {
	ctx := context.Background()
	store := bronze.NewMemStore()
	tb, err := silver.Open(ctx, store, tbl, silver.Config{})
	require.NoError(t, err)
	w := &workload{r: rand.New(rand.NewPCG(1, 5)), keys: 50, schema: schemaV1, live: map[int64]bool{}}
	s, err := tb.Apply(ctx, []cdc.Tx{w.tx(30)})
	require.NoError(t, err)
	name := s.Added[0].Name
	data, err := store.Get(ctx, name)
	require.NoError(t, err)
	data[len(data)/2] ^= 0xff
	require.NoError(t, store.Put(ctx, name, data))
	sc, err := tb.Scan(ctx, silver.ScanOptions{})
	require.NoError(t, err)
	for sc.Next() {
	}
	require.ErrorIs(t, sc.Err(), silver.ErrChecksum)
	require.Contains(t, sc.Err().Error(), name)
	sc.Close()
	_, err = silver.Open(ctx, store, tbl, silver.Config{})
	require.NoError(t, err, "reading the manifest reads no data file")
	require.True(t, errors.Is(sc.Err(), silver.ErrChecksum))
}

// A delete that carries only the event's key (no before image), and a truncate, as
// other connectors send them.
func TestDeleteByEventKeyAndTruncate(t *testing.T) {
	ctx := context.Background()
	tb, err := silver.Open(ctx, bronze.NewMemStore(), tbl, silver.Config{})
	require.NoError(t, err)
	keySchema := change.MustSchema([]arrow.Field{change.NotNull("id", arrow.PrimitiveTypes.Int64)}, "id")
	row := func(id int64) change.Row {
		return change.Row{change.Int(id), change.Str("x"), change.Null(), change.Int(1), change.Null()}
	}
	ev := func(op cdc.Op, after change.Row) cdc.Event {
		return cdc.Event{Table: tbl, Op: op, Schema: schemaV1, After: after}
	}
	_, err = tb.Apply(ctx, []cdc.Tx{{Commit: cdc.Position{Major: 1}, Events: []cdc.Event{
		ev(cdc.OpCreate, row(1)), ev(cdc.OpCreate, row(2)), ev(cdc.OpRead, row(3)),
	}}})
	require.NoError(t, err)
	del := cdc.Event{Table: tbl, Op: cdc.OpDelete, Schema: schemaV1, KeySchema: keySchema, Key: change.Row{change.Int(2)}}
	s, err := tb.Apply(ctx, []cdc.Tx{{Commit: cdc.Position{Major: 2}, Events: []cdc.Event{del}}})
	require.NoError(t, err)
	require.EqualValues(t, 2, s.Rows)
	_, rows := scanRows(t, tb, 0)
	require.Contains(t, rows, int64(1))
	require.NotContains(t, rows, int64(2))

	s, err = tb.Apply(ctx, []cdc.Tx{{Commit: cdc.Position{Major: 3}, Events: []cdc.Event{
		{Table: tbl, Op: cdc.OpTruncate}, ev(cdc.OpCreate, row(7)),
	}}})
	require.NoError(t, err)
	require.True(t, s.Truncated)
	require.EqualValues(t, 1, s.Rows)
	_, rows = scanRows(t, tb, 0)
	require.Equal(t, []int64{7}, slices.Collect(maps.Keys(rows)))
	_, rows = scanRows(t, tb, s.ID-1)
	require.Len(t, rows, 2, "the snapshot before the truncate is still there")
}

// Scans and change feeds run while applies and a background compactor write the
// table (run with -race): readers see whole snapshots, and the compactor compacts.
func TestConcurrentReadersAndBackgroundCompactor(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tb, err := silver.Open(ctx, bronze.NewMemStore(), tbl, silver.Config{Compaction: silver.CompactPolicy{MaxFiles: 3}})
	require.NoError(t, err)
	w := &workload{r: rand.New(rand.NewPCG(5, 5)), keys: 100, schema: schemaV1, live: map[int64]bool{}}
	compactor := make(chan error, 1)
	go func() { compactor <- tb.RunCompactor(ctx, time.Millisecond) }()
	readers := make(chan error, 2)
	for range 2 {
		go func() {
			for ctx.Err() == nil {
				s, ok := tb.Latest()
				if !ok {
					continue
				}
				sc, err := tb.Scan(ctx, silver.ScanOptions{AsOf: s.ID})
				if err != nil {
					readers <- err
					return
				}
				n := int64(0)
				for sc.Next() {
					n += int64(sc.Batch().Len())
				}
				sc.Close()
				if sc.Err() != nil && ctx.Err() == nil {
					readers <- sc.Err()
					return
				}
				if ctx.Err() == nil && n != s.Rows {
					readers <- fmt.Errorf("snapshot %d: %d rows scanned, %d recorded", s.ID, n, s.Rows)
					return
				}
				if fc, err := tb.Changes(ctx, 0, s.ID); err == nil {
					fc.Close()
				}
			}
			readers <- nil
		}()
	}
	for range 40 {
		if w.r.IntN(10) == 0 {
			w.schema = schemaV2
		}
		_, err := tb.Apply(ctx, []cdc.Tx{w.tx(20)})
		require.NoError(t, err)
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	cancel()
	require.NoError(t, <-compactor)
	require.NoError(t, <-readers)
	require.NoError(t, <-readers)
	compactions := 0
	for _, s := range tb.Snapshots() {
		if s.Op == "compact" {
			compactions++
		}
	}
	require.NotZero(t, compactions)
}

// Transactions without a commit position, or out of commit order, are refused whole.
func TestApplyRefusesUnorderedTransactions(t *testing.T) {
	ctx := context.Background()
	tb, err := silver.Open(ctx, bronze.NewMemStore(), tbl, silver.Config{})
	require.NoError(t, err)
	w := &workload{r: rand.New(rand.NewPCG(8, 8)), keys: 20, schema: schemaV1, live: map[int64]bool{}}
	a, b := w.tx(3), w.tx(3)
	_, err = tb.Apply(ctx, []cdc.Tx{b, a})
	require.ErrorIs(t, err, silver.ErrApply)
	require.ErrorContains(t, err, "not in commit order")
	a.Commit = cdc.Position{}
	_, err = tb.Apply(ctx, []cdc.Tx{a})
	require.ErrorContains(t, err, "no commit position")
	_, ok := tb.Latest()
	require.False(t, ok)
}
