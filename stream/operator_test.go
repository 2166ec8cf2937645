package stream_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/stream"
)

var itemSchema = change.MustSchema([]arrow.Field{
	change.NotNull("id", arrow.PrimitiveTypes.Int64),
	change.Col("name", arrow.BinaryTypes.String),
	change.Col("qty", arrow.PrimitiveTypes.Int64),
}, "id")

func collectAll(t *testing.T, op stream.Operator, mem memory.Allocator, rows [][]any) [][]any {
	t.Helper()
	in, err := change.FromRows(mem, itemSchema, rows)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]any
	if err := op.Process(context.Background(), in, func(b *change.Batch) error {
		defer b.Release()
		if !b.Schema().Equal(op.Schema()) {
			t.Fatalf("emitted schema %s, operator says %s", b.Schema(), op.Schema())
		}
		out = append(out, b.Plain()...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func qtyAbove(n int64) func(b *change.Batch) ([]bool, error) {
	return func(b *change.Batch) ([]bool, error) {
		q := b.Column(2).(*array.Int64)
		keep := make([]bool, b.Len())
		for i := range keep {
			keep[i] = q.IsValid(i) && q.Value(i) > n
		}
		return keep, nil
	}
}

func TestFilterKeepsUpdatePairsWellFormed(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	f := &stream.Filter{In: itemSchema, Pred: qtyAbove(10), Mem: mem}
	got := collectAll(t, f, mem, [][]any{
		{change.Insert, int64(1), "a", int64(5)},        // dropped
		{change.Insert, int64(2), "b", int64(50)},       // kept
		{change.UpdateBefore, int64(3), "c", int64(20)}, // both kept
		{change.UpdateAfter, int64(3), "c", int64(30)},  //
		{change.UpdateBefore, int64(4), "d", int64(20)}, // old kept, new dropped: -D
		{change.UpdateAfter, int64(4), "d", int64(1)},   //
		{change.UpdateBefore, int64(5), "e", int64(1)},  // old dropped, new kept: +I
		{change.UpdateAfter, int64(5), "e", int64(11)},  //
		{change.Delete, int64(6), "f", nil},             // dropped (NULL)
		{change.Delete, int64(7), "g", int64(70)},       // kept
	})
	want := [][]any{
		{change.Insert, int64(2), "b", int64(50)},
		{change.UpdateBefore, int64(3), "c", int64(20)},
		{change.UpdateAfter, int64(3), "c", int64(30)},
		{change.Delete, int64(4), "d", int64(20)},
		{change.Insert, int64(5), "e", int64(11)},
		{change.Delete, int64(7), "g", int64(70)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("filter emitted\n%v\nwant\n%v", got, want)
	}
	// All rows kept: the batch passes through; none kept: nothing is emitted.
	if got := collectAll(t, f, mem, [][]any{{change.Insert, int64(1), "a", int64(99)}}); len(got) != 1 {
		t.Fatalf("all-kept batch emitted %v", got)
	}
	if got := collectAll(t, f, mem, [][]any{{change.Insert, int64(1), "a", int64(1)}}); len(got) != 0 {
		t.Fatalf("none-kept batch emitted %v", got)
	}
}

func TestProjectAndMapChain(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	proj, err := stream.NewProject(itemSchema, []string{"qty", "id"})
	if err != nil {
		t.Fatal(err)
	}
	if got := proj.Schema().KeyNames(); !reflect.DeepEqual(got, []string{"id"}) {
		t.Fatalf("projection key %v, want [id]", got)
	}
	if _, err := stream.NewProject(itemSchema, []string{"nope"}); !errorsIs(err, stream.ErrConfig) {
		t.Fatalf("projection of a missing column: %v", err)
	}
	outSchema := change.MustSchema([]arrow.Field{change.Col("double", arrow.PrimitiveTypes.Int64)})
	double := &stream.Map{In: proj.Schema(), Out: outSchema, Fn: func(b *change.Batch) (arrow.RecordBatch, error) {
		q := b.Column(0).(*array.Int64)
		bld := array.NewInt64Builder(mem)
		defer bld.Release()
		for i := range b.Len() {
			if q.IsNull(i) {
				bld.AppendNull()
			} else {
				bld.Append(2 * q.Value(i))
			}
		}
		col := bld.NewArray()
		defer col.Release()
		return array.NewRecordBatch(outSchema.Arrow(), []arrow.Array{col}, int64(b.Len())), nil
	}}
	op := stream.Chain(&stream.Filter{In: itemSchema, Pred: qtyAbove(0), Mem: mem}, proj, double)
	got := collectAll(t, op, mem, [][]any{
		{change.Insert, int64(1), "a", int64(5)},
		{change.Insert, int64(2), "b", int64(-1)},
		{change.UpdateBefore, int64(3), "c", int64(2)},
		{change.UpdateAfter, int64(3), "c", int64(4)},
	})
	want := [][]any{{change.Insert, int64(10)}, {change.UpdateBefore, int64(4)}, {change.UpdateAfter, int64(8)}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("chain emitted %v, want %v", got, want)
	}
}
