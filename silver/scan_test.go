package silver_test

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/bronze"
	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/silver"
)

// countingStore counts the data files read, to see partition pruning.
type countingStore struct {
	bronze.Store
	gets int
}

func (c *countingStore) Get(ctx context.Context, name string) ([]byte, error) {
	c.gets++
	return c.Store.Get(ctx, name)
}

// Projection and equality predicates return exactly the rows and columns asked for;
// a predicate on the partition column, or on the whole key of a bucketed table, reads
// one partition's files only.
func TestScanProjectionAndPredicates(t *testing.T) {
	ctx := context.Background()
	for _, part := range []silver.Partitioning{{Buckets: 8}, {Column: "name"}, {}} {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		store := &countingStore{Store: bronze.NewMemStore()}
		tb, err := silver.Open(ctx, store, tbl, silver.Config{Partition: part, Mem: mem})
		require.NoError(t, err)
		w := &workload{r: rand.New(rand.NewPCG(9, 9)), keys: 400, schema: schemaV1, live: map[int64]bool{}}
		ref := model{schema: schemaV1, rows: map[int64]change.Row{}}
		for range 3 {
			tx := w.tx(300)
			for i := range tx.Events {
				ref.apply(&tx.Events[i])
			}
			_, err := tb.Apply(ctx, []cdc.Tx{tx})
			require.NoError(t, err)
		}
		var id int64 = -1
		for k := range ref.rows {
			id = k
			break
		}
		store.gets = 0
		sc, err := tb.Scan(ctx, silver.ScanOptions{Columns: []string{"qty", "id"}, Where: []silver.Cond{silver.Eq("id", id)}})
		require.NoError(t, err)
		var got [][]any
		for b, err := range sc.All() {
			require.NoError(t, err)
			require.Equal(t, "qty int32, id int64 not null (key: id)", b.Schema().String())
			got = append(got, b.Plain()...)
		}
		want := ref.rows[id]
		require.Equal(t, [][]any{{change.Insert, want[3].Any(schemaV1.Field(3).Type), id}}, got, "%+v", part)
		if part.Buckets > 0 {
			require.LessOrEqual(t, store.gets, 2+3, "one bucket's files and the delete files")
		}

		name := ""
		for _, r := range ref.rows {
			if !r[1].IsNull() {
				name = r[1].AsString()
				break
			}
		}
		store.gets = 0
		sc, err = tb.Scan(ctx, silver.ScanOptions{Columns: []string{"id"}, Where: []silver.Cond{silver.Eq("name", name)}})
		require.NoError(t, err)
		n := 0
		for b, err := range sc.All() {
			require.NoError(t, err)
			for _, r := range b.Rows() {
				require.Equal(t, name, ref.rows[r[0].AsInt()][1].AsString())
				n++
			}
		}
		wantN := 0
		for _, r := range ref.rows {
			if r[1].AsString() == name && !r[1].IsNull() {
				wantN++
			}
		}
		require.Equal(t, wantN, n)
		require.NotZero(t, n)
		if part.Column != "" {
			require.LessOrEqual(t, store.gets, 3+2)
		}
		_, err = tb.Scan(ctx, silver.ScanOptions{Columns: []string{"nope"}})
		require.ErrorContains(t, err, `no column "nope"`)
		_, err = tb.Scan(ctx, silver.ScanOptions{Where: []silver.Cond{silver.Eq("qty", "x")}})
		require.ErrorContains(t, err, `condition on "qty"`)
		_, err = tb.Scan(ctx, silver.ScanOptions{AsOf: 99})
		require.ErrorIs(t, err, silver.ErrNoSnapshot)
		mem.AssertSize(t, 0)
	}
}
