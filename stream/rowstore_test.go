package stream

import (
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/state"
)

// TestRowStorePassesInserts checks that a batch without retractions leaves the
// row store as it came (no copy), and that its rows are stored: a later key-only
// delete comes out as the whole row.
func TestRowStorePassesInserts(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	be, err := state.NewMemory(state.MemoryConfig{Config: state.Config{SweepInterval: -1}})
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	sc := change.MustSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "amount", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	}, "id")
	rs, err := newRowStore("rs", sc, be, mem)
	if err != nil {
		t.Fatal(err)
	}
	batch := func(rows ...[3]any) *change.Batch {
		b := change.NewBuilder(mem, sc)
		defer b.Release()
		for _, r := range rows {
			if err := b.AppendAny(r[0].(change.Op), r[1], r[2]); err != nil {
				t.Fatal(err)
			}
		}
		return b.NewBatch()
	}
	var got []*change.Batch
	collect := func(b *change.Batch) error { got = append(got, b); return nil }
	ins := batch([3]any{change.Insert, int64(1), int64(10)}, [3]any{change.UpdateAfter, int64(2), int64(20)})
	rec := ins.Record()
	if err := rs.Process(context.Background(), ins, collect); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Record() != rec {
		t.Fatalf("inserts: got %d batches, want the input batch itself", len(got))
	}
	got[0].Release()
	got = nil
	if err := rs.Process(context.Background(), batch([3]any{change.Delete, int64(2), nil}), collect); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Len() != 1 || got[0].Ops()[0] != change.Delete {
		t.Fatalf("delete: got %v", got)
	}
	if id, amt := got[0].Column(0).ValueStr(0), got[0].Column(1).ValueStr(0); id != "2" || amt != "20" {
		t.Errorf("delete came out as (%s, %s), want the stored row (2, 20)", id, amt)
	}
	got[0].Release()
}
