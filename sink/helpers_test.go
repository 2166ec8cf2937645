package sink_test

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/change"
)

// martSchema is a gold mart: revenue per segment per day, keyed by (segment, day).
var martSchema = change.MustSchema([]arrow.Field{
	change.NotNull("segment", arrow.BinaryTypes.String),
	change.NotNull("day", arrow.FixedWidthTypes.Date32),
	change.Col("revenue", &arrow.Decimal128Type{Precision: 18, Scale: 2}),
	change.Col("orders", arrow.PrimitiveTypes.Int64),
	change.Col("updated", &arrow.TimestampType{Unit: arrow.Second}),
	change.Col("note", arrow.BinaryTypes.String),
}, "segment", "day")

// step is one batch of a changelog with the position it came from.
type step struct {
	pos  cdc.Position
	rows [][]any // each led by its op
}

// changelog generates n steps of a consistent changelog over martSchema: inserts of new
// keys, updates as -U/+U pairs (sometimes changing the key), deletes of present keys.
// It returns the steps and, after each step, the expected table (key -> row).
func changelog(seed uint64, n, keys int) ([]step, []map[string][]any) {
	r := rand.New(rand.NewPCG(seed, 7))
	cur := map[string][]any{}
	var steps []step
	var tables []map[string][]any
	segs := []string{"retail", "smb", "enterprise", "o'neil, \"q\"", ""}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	newRow := func() []any {
		return []any{segs[r.IntN(len(segs))], base.AddDate(0, 0, r.IntN(keys/len(segs)+1)),
			fmt.Sprintf("%d.%02d", r.IntN(100000)-5000, r.IntN(100)), int64(r.IntN(1000)),
			base.Add(time.Duration(r.IntN(1e6)) * time.Second), nilOr(r, "n"+fmt.Sprint(r.IntN(9)))}
	}
	for i := range n {
		var rows [][]any
		for range 1 + r.IntN(8) {
			present := sortedKeys(cur)
			switch k := r.IntN(10); {
			case k < 4 || len(present) == 0:
				row := newRow()
				if _, dup := cur[rowKey(row)]; dup {
					continue
				}
				cur[rowKey(row)] = row
				rows = append(rows, append([]any{change.Insert}, row...))
			case k < 8:
				old := cur[present[r.IntN(len(present))]]
				nw := newRow()
				if r.IntN(3) > 0 { // same key, new values
					nw[0], nw[1] = old[0], old[1]
				} else if _, dup := cur[rowKey(nw)]; dup {
					continue
				}
				delete(cur, rowKey(old))
				cur[rowKey(nw)] = nw
				rows = append(rows, append([]any{change.UpdateBefore}, old...), append([]any{change.UpdateAfter}, nw...))
			default:
				old := cur[present[r.IntN(len(present))]]
				delete(cur, rowKey(old))
				rows = append(rows, append([]any{change.Delete}, old...))
			}
		}
		steps = append(steps, step{pos: cdc.Position{Major: uint64(1000 + 10*i), Minor: uint64(1000 + 10*i)}, rows: rows})
		snap := make(map[string][]any, len(cur))
		for k, v := range cur {
			snap[k] = v
		}
		tables = append(tables, snap)
	}
	return steps, tables
}

func nilOr(r *rand.Rand, s string) any {
	if r.IntN(4) == 0 {
		return nil
	}
	return s
}

func rowKey(row []any) string {
	return fmt.Sprintf("%q|%s", row[0], row[1].(time.Time).Format(time.DateOnly))
}

func sortedKeys(m map[string][]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (s step) batch(t *testing.T, mem memory.Allocator) *change.Batch {
	return batchOf(t, mem, martSchema, s.rows...)
}

// plain normalizes rows of martSchema for comparison: what change.Batch.Plain gives
// (decimals as text, dates and timestamps as UTC times), without the op.
func plain(rows ...[]any) map[string][]any {
	out := map[string][]any{}
	for _, row := range rows {
		n := make([]any, len(row))
		for i, v := range row {
			f := martSchema.Field(i)
			val, err := change.ValueOf(v, f.Type)
			if err != nil {
				panic(err)
			}
			n[i] = val.Any(f.Type)
		}
		out[rowKey(n)] = n
	}
	return out
}

// tableOf normalizes an expected table.
func tableOf(m map[string][]any) map[string][]any {
	rows := make([][]any, 0, len(m))
	for _, r := range m {
		rows = append(rows, r)
	}
	return plain(rows...)
}

// collect gathers batches (every op +I) into a table keyed like rowKey.
func collectRows(t *testing.T, into map[string][]any) func(*change.Batch) {
	return func(b *change.Batch) {
		for _, r := range b.Plain() {
			require.Equal(t, change.Insert, r[0])
			k := rowKey(r[1:])
			_, dup := into[k]
			require.False(t, dup, "duplicate key %s", k)
			into[k] = r[1:]
		}
	}
}
