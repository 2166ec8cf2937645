package stream

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/reduce"
	"github.com/strata-data/strata/state"
)

// TestJoinAggregateFinalInAggregate checks that the last stage of both plans is
// the final aggregate alone, emitting the output's rows itself (count as int64,
// avg as sum / count) rather than through a mapping step with a batch of its own.
func TestJoinAggregateFinalInAggregate(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	be, err := state.NewMemory(state.MemoryConfig{Config: state.Config{SweepInterval: -1}})
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	dec := &arrow.Decimal128Type{Precision: 10, Scale: 2}
	o := change.MustSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "customer_id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "amount", Type: dec},
	}, "id")
	c := change.MustSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "segment", Type: arrow.BinaryTypes.String},
	}, "id")
	for _, plan := range []JoinAggregatePlan{PlanLazy, PlanEager} {
		q, err := NewJoinAggregate(JoinAggregateConfig{ID: "q" + strconv.Itoa(int(plan)), Plan: plan, State: be, Mem: mem,
			Inputs: []JoinInput{{Name: "c", Table: "c", Schema: c},
				{Name: "o", Table: "o", Schema: o, To: "c", ToKeys: []string{"id"}, Keys: []string{"customer_id"}}},
			GroupBy: []string{"c.segment"},
			Aggs:    []reduce.Agg{{Func: reduce.CountStar, As: "n"}, {Func: reduce.Avg, Column: "o.amount", As: "avg"}}})
		if err != nil {
			t.Fatal(err)
		}
		st := q.Stages()
		node, err := st[len(st)-1].Build(0)
		if err != nil {
			t.Fatal(err)
		}
		sn, ok := node.(single)
		if !ok {
			t.Fatalf("plan %d: last node %T", plan, node)
		}
		if _, ok := sn.op.(*Aggregate); !ok {
			t.Fatalf("plan %d: last operator %T, want the final *Aggregate alone", plan, sn.op)
		}
		if !node.Schema().Arrow().Equal(q.Schema().Arrow()) {
			t.Fatalf("plan %d: emits %s, want %s", plan, node.Schema(), q.Schema())
		}
		// Two joined rows of segment "a" (amounts 1.00 and 2.00, or their partial
		// rows) into the last stage: one row, count 2 and avg 1.5.
		in := sn.InputSchema(0)
		b := change.NewBuilder(mem, in)
		for r, amt := range []int64{100, 200} {
			row := make(change.Row, in.NumFields())
			for i, f := range in.Fields() {
				switch {
				case f.Type.ID() == arrow.STRING:
					row[i] = change.Str("a")
				case f.Type.ID() == arrow.DECIMAL128: // amount, or its partial sum
					row[i] = change.Decimal(decimal128.FromI64(amt))
				case strings.HasPrefix(f.Name, "_p"): // a partial count
					row[i] = change.Int(1)
				default:
					row[i] = change.Int(int64(r + 1))
				}
			}
			if err := b.Append(change.Insert, row); err != nil {
				t.Fatalf("plan %d: %v (schema %s)", plan, err, in)
			}
		}
		var got []string
		err = node.(single).Process(context.Background(), b.NewBatch(), func(out *change.Batch) error {
			defer out.Release()
			for r := range out.Len() {
				got = append(got, out.Column(0).ValueStr(r)+" "+out.Column(1).ValueStr(r)+" "+out.Column(2).ValueStr(r))
			}
			return nil
		})
		b.Release()
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || !strings.HasPrefix(got[0], "a 2 1.5") {
			t.Fatalf("plan %d: got %v, want segment a, n 2, avg 1.5 (in %s)", plan, got, in)
		}
	}
}
