package silver_test

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/bronze"
	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/silver"
)

const tbl = "public.items"

var (
	schemaV1 = change.MustSchema([]arrow.Field{
		change.NotNull("id", arrow.PrimitiveTypes.Int64),
		change.Col("name", arrow.BinaryTypes.String),
		change.Col("amount", &arrow.Decimal128Type{Precision: 12, Scale: 2}),
		change.Col("qty", arrow.PrimitiveTypes.Int32),
		change.Col("day", arrow.FixedWidthTypes.Date32),
	}, "id")
	// schemaV2 adds a nullable column and widens qty.
	schemaV2 = change.MustSchema([]arrow.Field{
		change.NotNull("id", arrow.PrimitiveTypes.Int64),
		change.Col("name", arrow.BinaryTypes.String),
		change.Col("amount", &arrow.Decimal128Type{Precision: 12, Scale: 2}),
		change.Col("qty", arrow.PrimitiveTypes.Int64),
		change.Col("day", arrow.FixedWidthTypes.Date32),
		change.Col("note", arrow.BinaryTypes.String),
	}, "id")
)

// model is the reference: the table as a map from id to row, applied event by event.
type model struct {
	schema *change.Schema
	rows   map[int64]change.Row
}

func (m model) clone() model {
	c := model{schema: m.schema, rows: make(map[int64]change.Row, len(m.rows))}
	for k, r := range m.rows {
		c.rows[k] = slices.Clone(r)
	}
	return c
}

func (m *model) apply(ev *cdc.Event) {
	if ev.Schema != m.schema {
		evo, err := change.NewEvolution(m.schema, ev.Schema)
		if err != nil {
			panic(err)
		}
		for k, r := range m.rows {
			m.rows[k] = evo.Apply(nil, r)
		}
		m.schema = ev.Schema
	}
	switch ev.Op {
	case cdc.OpTruncate:
		clear(m.rows)
	case cdc.OpDelete:
		delete(m.rows, ev.Before[0].AsInt())
	case cdc.OpCreate, cdc.OpUpdate:
		if ev.Before != nil && !ev.Before[0].IsAbsent() && ev.Before[0] != ev.After[0] {
			delete(m.rows, ev.Before[0].AsInt())
		}
		id := ev.After[0].AsInt()
		row := slices.Clone(ev.After)
		prev := m.rows[id]
		for i, v := range row {
			if v.IsAbsent() {
				if prev != nil {
					row[i] = prev[i]
				} else {
					row[i] = change.Null()
				}
			}
		}
		m.rows[id] = row
	}
}

// workload makes random transactions over a key space.
type workload struct {
	r      *rand.Rand
	keys   int
	pos    uint64
	schema *change.Schema
	live   map[int64]bool
}

func (w *workload) value(c int) change.Value {
	if w.r.IntN(10) == 0 && c > 0 {
		return change.Null()
	}
	switch w.schema.Field(c).Name {
	case "name":
		return change.Str(fmt.Sprintf("n%d,\"%d\"", w.r.IntN(100), w.r.IntN(3)))
	case "amount":
		return change.Decimal(decimal128.FromI64(w.r.Int64N(1_000_000) - 500_000))
	case "qty":
		return change.Int(w.r.Int64N(1000))
	case "day":
		return change.Int(20000 + w.r.Int64N(400))
	case "note":
		return change.Str(fmt.Sprint("note", w.r.IntN(9)))
	}
	panic(w.schema.Field(c).Name)
}

func (w *workload) full(id int64) change.Row {
	row := make(change.Row, w.schema.NumFields())
	row[0] = change.Int(id)
	for c := 1; c < len(row); c++ {
		row[c] = w.value(c)
	}
	return row
}

func (w *workload) keyOnly(id int64) change.Row {
	row := make(change.Row, w.schema.NumFields())
	for i := range row {
		row[i] = change.Absent()
	}
	row[0] = change.Int(id)
	return row
}

func (w *workload) event(op cdc.Op, before, after change.Row) cdc.Event {
	w.pos++
	return cdc.Event{Table: tbl, Op: op, Schema: w.schema, Before: before, After: after, Pos: cdc.Position{Major: w.pos}}
}

func (w *workload) tx(nEvents int) cdc.Tx {
	var evs []cdc.Event
	for range nEvents {
		id := w.r.Int64N(int64(w.keys))
		switch k := w.r.IntN(100); {
		case k < 1:
			evs = append(evs, w.event(cdc.OpTruncate, nil, nil))
			clear(w.live)
		case !w.live[id]:
			evs = append(evs, w.event(cdc.OpCreate, nil, w.full(id)))
			w.live[id] = true
		case k < 40: // full update, before image key only (REPLICA IDENTITY DEFAULT)
			evs = append(evs, w.event(cdc.OpUpdate, w.keyOnly(id), w.full(id)))
		case k < 60: // partial after image (unchanged TOASTed columns)
			after := w.full(id)
			for c := 1; c < len(after); c++ {
				if w.r.IntN(2) == 0 {
					after[c] = change.Absent()
				}
			}
			evs = append(evs, w.event(cdc.OpUpdate, nil, after))
		case k < 70: // a key change inside one update
			to := w.r.Int64N(int64(w.keys))
			if w.live[to] {
				continue
			}
			after := w.full(to)
			evs = append(evs, w.event(cdc.OpUpdate, w.keyOnly(id), after))
			delete(w.live, id)
			w.live[to] = true
		case k < 75: // a key change as delete + create
			to := w.r.Int64N(int64(w.keys))
			if w.live[to] {
				continue
			}
			evs = append(evs, w.event(cdc.OpDelete, w.keyOnly(id), nil), w.event(cdc.OpCreate, nil, w.full(to)))
			delete(w.live, id)
			w.live[to] = true
		default:
			evs = append(evs, w.event(cdc.OpDelete, w.keyOnly(id), nil))
			delete(w.live, id)
		}
	}
	if len(evs) == 0 {
		return w.tx(nEvents)
	}
	return cdc.Tx{ID: fmt.Sprint("tx", w.pos), Events: evs, Commit: evs[len(evs)-1].Pos}
}

// scanRows reads the table at snapshot id into a map by id.
func scanRows(t *testing.T, tb *silver.Table, id uint64) (*change.Schema, map[int64]change.Row) {
	t.Helper()
	sc, err := tb.Scan(context.Background(), silver.ScanOptions{AsOf: id})
	require.NoError(t, err)
	defer sc.Close()
	out := map[int64]change.Row{}
	for sc.Next() {
		b := sc.Batch()
		for i := range b.Len() {
			for _, op := range b.Ops() {
				require.Equal(t, change.Insert, op)
			}
			row := b.Row(i)
			_, dup := out[row[0].AsInt()]
			require.False(t, dup, "key %d twice at snapshot %d", row[0].AsInt(), id)
			out[row[0].AsInt()] = row
		}
	}
	require.NoError(t, sc.Err())
	return sc.Schema(), out
}

func requireSame(t *testing.T, want model, schema *change.Schema, got map[int64]change.Row, what string) {
	t.Helper()
	require.True(t, want.schema.Equal(schema), "%s: schema %s, want %s", what, schema, want.schema)
	require.Equal(t, len(want.rows), len(got), "%s: row count", what)
	for k, r := range want.rows {
		require.Equal(t, r, got[k], "%s: key %d", what, k)
	}
}

// The table, applied in random batches of random transactions (inserts, full and
// partial updates, key-only deletes, key changes both ways, truncates, a schema change),
// compacted now and then, reopened now and then, matches a plain reference applier at
// every snapshot (time travel), and its change feed between any two snapshots turns one
// into the other.
func TestRandomAgainstReference(t *testing.T) {
	for _, part := range []silver.Partitioning{{}, {Buckets: 4}, {Column: "qty"}} {
		t.Run(fmt.Sprintf("%+v", part), func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			ctx := context.Background()
			store := bronze.NewMemStore()
			cfg := silver.Config{Partition: part, Mem: mem, RowGroupRows: 50, ScanBatchRows: 37, MaxFileRows: 200,
				Compaction: silver.CompactPolicy{MaxFiles: 6, MaxDeadFraction: -1}}
			tb, err := silver.Open(ctx, store, tbl, cfg)
			require.NoError(t, err)
			w := &workload{r: rand.New(rand.NewPCG(7, uint64(part.Buckets))), keys: 300, schema: schemaV1, live: map[int64]bool{}}
			ref := model{schema: schemaV1, rows: map[int64]change.Row{}}
			models := map[uint64]model{0: ref.clone()}
			for round := range 30 {
				if round == 15 {
					w.schema = schemaV2
				}
				var txs []cdc.Tx
				for range 1 + w.r.IntN(6) {
					txs = append(txs, w.tx(1+w.r.IntN(40)))
				}
				for i := range txs {
					for j := range txs[i].Events {
						ref.apply(&txs[i].Events[j])
					}
				}
				s, err := tb.Apply(ctx, txs)
				require.NoError(t, err)
				require.Equal(t, txs[len(txs)-1].Commit, s.Position)
				require.EqualValues(t, len(ref.rows), s.Rows)
				models[s.ID] = ref.clone()

				// Applying again changes nothing: every transaction is at or before the position.
				again, err := tb.Apply(ctx, txs[w.r.IntN(len(txs)):])
				require.NoError(t, err)
				require.Equal(t, s.ID, again.ID)

				switch w.r.IntN(5) {
				case 0:
					c, ok, err := tb.Compact(ctx)
					require.NoError(t, err)
					if ok {
						require.Equal(t, "compact", c.Op)
						models[c.ID] = ref.clone()
					}
				case 1:
					c, ok, err := tb.CompactIfNeeded(ctx)
					require.NoError(t, err)
					if ok {
						models[c.ID] = ref.clone()
					}
				case 2: // a new process: the writer state is rebuilt from the files
					tb, err = silver.Open(ctx, store, tbl, cfg)
					require.NoError(t, err)
				}
				sch, got := scanRows(t, tb, 0)
				requireSame(t, ref, sch, got, fmt.Sprintf("round %d", round))
			}
			snaps := tb.Snapshots()
			for _, s := range snaps {
				sch, got := scanRows(t, tb, s.ID)
				requireSame(t, models[s.ID], sch, got, fmt.Sprintf("as of snapshot %d", s.ID))
				at, err := tb.SnapshotAt(s.Position)
				require.NoError(t, err)
				require.Equal(t, s.Position, at.Position)
			}
			// Change feeds.
			for range 40 {
				from := uint64(w.r.IntN(len(snaps) + 1))
				to := from + uint64(w.r.IntN(len(snaps)+1-int(from)))
				if to == 0 {
					continue
				}
				checkFeed(t, tb, models[from], models[to], from, to)
			}
			checkFeed(t, tb, models[0], models[uint64(len(snaps))], 0, uint64(len(snaps)))
		})
	}
}

func checkFeed(t *testing.T, tb *silver.Table, from, to model, fromID, toID uint64) {
	t.Helper()
	sc, err := tb.Changes(context.Background(), fromID, toID)
	require.NoError(t, err)
	defer sc.Close()
	state := from.clone()
	if !state.schema.Equal(to.schema) {
		evo, err := change.NewEvolution(state.schema, to.schema)
		require.NoError(t, err)
		for k, r := range state.rows {
			state.rows[k] = evo.Apply(nil, r)
		}
		state.schema = to.schema
	}
	seen := map[int64]bool{}
	var pendingBefore change.Row
	for sc.Next() {
		b := sc.Batch()
		for i, op := range b.Ops() {
			row := b.Row(i)
			k := row[0].AsInt()
			switch op {
			case change.Insert:
				require.NotContains(t, state.rows, k)
				state.rows[k] = row
			case change.Delete:
				require.Equal(t, state.rows[k], row)
				delete(state.rows, k)
			case change.UpdateBefore:
				require.Equal(t, state.rows[k], row)
				pendingBefore = row
			case change.UpdateAfter:
				require.NotNil(t, pendingBefore)
				require.Equal(t, pendingBefore[0], row[0])
				require.NotEqual(t, pendingBefore, row, "an update that changes nothing")
				state.rows[k] = row
				pendingBefore = nil
			}
			if op != change.UpdateAfter {
				require.False(t, seen[k], "key %d changes twice in one feed", k)
			}
			seen[k] = true
		}
	}
	require.NoError(t, sc.Err())
	require.Equal(t, len(to.rows), len(state.rows), "feed %d..%d", fromID, toID)
	for _, k := range slices.Sorted(maps.Keys(to.rows)) {
		require.Equal(t, to.rows[k], state.rows[k], "feed %d..%d key %d", fromID, toID, k)
	}
}
