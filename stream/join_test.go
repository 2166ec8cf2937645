package stream_test

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/state"
	"github.com/strata-data/strata/stream"
)

func joinSchema(val string, t arrow.DataType) *change.Schema {
	return change.MustSchema([]arrow.Field{
		change.NotNull("id", arrow.PrimitiveTypes.Int64),
		change.Col("k", arrow.BinaryTypes.String),
		change.Col(val, t),
	}, "id")
}

// TestJoinDifferential: random changes on three inputs; after every batch the
// output applied as a multiset equals a nested-loop join of the current rows.
func TestJoinDifferential(t *testing.T) {
	for _, kind := range []string{"memory", "pebble"} {
		t.Run(kind, func(t *testing.T) {
			open := newMemoryState
			batches := 300
			if kind == "pebble" {
				open, batches = newPebbleState, 100
			}
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			schemas := []*change.Schema{joinSchema("a", arrow.PrimitiveTypes.Int64),
				joinSchema("b", arrow.BinaryTypes.String), joinSchema("c", arrow.PrimitiveTypes.Float64)}
			j, err := stream.NewJoin(stream.JoinConfig{ID: "j", State: open(t), Mem: mem, BatchRows: 7, Inputs: []stream.JoinInput{
				{Name: "x", Schema: schemas[0], Key: []string{"k"}},
				{Name: "y", Schema: schemas[1], Key: []string{"k"}},
				{Name: "z", Schema: schemas[2], Key: []string{"k"}},
			}})
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(11, 12))
			live := make([]map[int64][]any, 3)
			for i := range live {
				live[i] = map[int64][]any{}
			}
			next := int64(0)
			mkRow := func(i int, id int64) []any {
				var k any
				if r.IntN(10) > 0 {
					k = fmt.Sprintf("k%d", r.IntN(6))
				}
				var v any
				switch i {
				case 0:
					v = int64(r.IntN(5))
				case 1:
					v = []string{"p", "q", "p"}[r.IntN(3)] // duplicates: identical rows count twice
				case 2:
					v = float64(r.IntN(4))
				}
				if i == 1 && r.IntN(2) == 0 {
					id = 0 // many identical rows in input y
				}
				return []any{id, k, v}
			}
			got := map[string]int{}
			for bi := range batches {
				i := r.IntN(3)
				var rows [][]any
				for range 1 + r.IntN(5) {
					ids := slices.Sorted(maps.Keys(live[i]))
					switch k := r.IntN(10); {
					case k < 5 || len(ids) == 0:
						next++
						row := mkRow(i, next)
						live[i][next] = row
						rows = append(rows, append([]any{change.Insert}, row...))
					case k < 7:
						id := ids[r.IntN(len(ids))]
						rows = append(rows, append([]any{change.Delete}, live[i][id]...))
						delete(live[i], id)
					default:
						id := ids[r.IntN(len(ids))]
						row := mkRow(i, live[i][id][0].(int64))
						rows = append(rows, append([]any{change.UpdateBefore}, live[i][id]...), append([]any{change.UpdateAfter}, row...))
						live[i][id] = row
					}
				}
				in, err := change.FromRows(mem, schemas[i], rows)
				if err != nil {
					t.Fatal(err)
				}
				err = j.Input(i).Process(context.Background(), in, func(b *change.Batch) error {
					defer b.Release()
					if b.Len() > 7 {
						t.Fatalf("output batch of %d rows over BatchRows 7", b.Len())
					}
					for _, row := range b.Plain() {
						k := fmt.Sprint(row[1:])
						switch row[0] {
						case change.Insert:
							got[k]++
						case change.Delete:
							if got[k] == 0 {
								t.Fatalf("batch %d: -D of %s that is not in the output", bi, k)
							}
							got[k]--
							if got[k] == 0 {
								delete(got, k)
							}
						default:
							t.Fatalf("join emitted %v", row[0])
						}
					}
					return nil
				})
				if err != nil {
					t.Fatalf("batch %d: %v", bi, err)
				}
				want := map[string]int{}
				for _, x := range live[0] {
					for _, y := range live[1] {
						for _, z := range live[2] {
							if x[1] == nil || x[1] != y[1] || y[1] != z[1] {
								continue
							}
							want[fmt.Sprint(slices.Concat(x, y, z))]++
						}
					}
				}
				if !maps.Equal(got, want) {
					t.Fatalf("after batch %d: output has %d distinct rows, the join %d\n%s", bi, len(got), len(want), diffCounts(got, want))
				}
			}
			if len(got) == 0 {
				t.Fatal("the join ended empty: the test joins nothing")
			}
		})
	}
}

func diffCounts(got, want map[string]int) string {
	var sb strings.Builder
	for k, w := range want {
		if got[k] != w {
			fmt.Fprintf(&sb, "%s: got %d want %d\n", k, got[k], w)
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			fmt.Fprintf(&sb, "%s: got %d want 0\n", k, g)
		}
	}
	return sb.String()
}

var _ state.Backend // the backends come from aggregate_test.go

func TestJoinConfigAndInputErrors(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	a := joinSchema("a", arrow.PrimitiveTypes.Int64)
	ints := change.MustSchema([]arrow.Field{change.NotNull("k", arrow.PrimitiveTypes.Int64)})
	st := newMemoryState(t)
	for name, cfg := range map[string]stream.JoinConfig{
		"one input":     {ID: "j", State: st, Inputs: []stream.JoinInput{{Name: "a", Schema: a, Key: []string{"k"}}}},
		"no state":      {ID: "j", Inputs: []stream.JoinInput{{Name: "a", Schema: a, Key: []string{"k"}}, {Name: "b", Schema: a, Key: []string{"k"}}}},
		"key types":     {ID: "j", State: st, Inputs: []stream.JoinInput{{Name: "a", Schema: a, Key: []string{"k"}}, {Name: "b", Schema: ints, Key: []string{"k"}}}},
		"missing key":   {ID: "j", State: st, Inputs: []stream.JoinInput{{Name: "a", Schema: a, Key: []string{"nope"}}, {Name: "b", Schema: a, Key: []string{"k"}}}},
		"key count":     {ID: "j", State: st, Inputs: []stream.JoinInput{{Name: "a", Schema: a, Key: []string{"k"}}, {Name: "b", Schema: a, Key: []string{"k", "id"}}}},
		"no input name": {ID: "j", State: st, Inputs: []stream.JoinInput{{Schema: a, Key: []string{"k"}}, {Name: "b", Schema: a, Key: []string{"k"}}}},
		"same names":    {ID: "j", State: st, Inputs: []stream.JoinInput{{Name: "a", Schema: a, Key: []string{"k"}}, {Name: "a", Schema: a, Key: []string{"k"}}}},
	} {
		if _, err := stream.NewJoin(cfg); !errorsIs(err, stream.ErrConfig) {
			t.Errorf("%s: NewJoin = %v, want ErrConfig", name, err)
		}
	}
	j, err := stream.NewJoin(stream.JoinConfig{ID: "j", State: st, Mem: mem, Inputs: []stream.JoinInput{
		{Name: "a", Schema: a, Key: []string{"k"}}, {Name: "b", Schema: a, Key: []string{"k"}}}})
	if err != nil {
		t.Fatal(err)
	}
	in, _ := change.FromRows(mem, a, [][]any{{change.Delete, int64(1), "k", int64(1)}})
	if err := j.Input(0).Process(context.Background(), in, func(b *change.Batch) error { b.Release(); return nil }); !errorsIs(err, stream.ErrInput) {
		t.Fatalf("retraction of an absent row: %v, want ErrInput", err)
	}
	in, _ = change.FromRows(mem, ints, [][]any{{change.Insert, int64(1)}})
	if err := j.Input(1).Process(context.Background(), in, func(b *change.Batch) error { b.Release(); return nil }); !errorsIs(err, stream.ErrInput) {
		t.Fatalf("batch of another schema: %v, want ErrInput", err)
	}
}

// With a TTL, rows expire from the join's state: later changes on the other input
// no longer join them, and retracting an expired row is not an error.
func TestJoinTTL(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	now := time.Unix(1000, 0)
	st, err := state.NewMemory(state.MemoryConfig{Config: state.Config{SweepInterval: -1, Now: func() time.Time { return now }}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a := joinSchema("a", arrow.PrimitiveTypes.Int64)
	j, err := stream.NewJoin(stream.JoinConfig{ID: "j", State: st, Mem: mem, TTL: time.Minute, Inputs: []stream.JoinInput{
		{Name: "l", Schema: a, Key: []string{"k"}}, {Name: "r", Schema: a, Key: []string{"k"}}}})
	if err != nil {
		t.Fatal(err)
	}
	count := 0
	feed := func(i int, rows [][]any) {
		t.Helper()
		in, err := change.FromRows(mem, a, rows)
		if err != nil {
			t.Fatal(err)
		}
		if err := j.Input(i).Process(context.Background(), in, func(b *change.Batch) error {
			count += b.Len()
			b.Release()
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	feed(0, [][]any{{change.Insert, int64(1), "k", int64(1)}})
	now = now.Add(30 * time.Second)
	feed(1, [][]any{{change.Insert, int64(2), "k", int64(2)}})
	if count != 1 {
		t.Fatalf("within the TTL: %d rows joined, want 1", count)
	}
	now = now.Add(45 * time.Second) // the left row is 75 s old, the right 45 s
	feed(1, [][]any{{change.Insert, int64(3), "k", int64(3)}})
	if count != 1 {
		t.Fatalf("an expired row still joined: %d rows, want 1", count)
	}
	feed(0, [][]any{{change.Delete, int64(1), "k", int64(1)}}) // expired: ignored
	feed(0, [][]any{{change.Insert, int64(4), "k", int64(4)}})
	if count != 3 { // joins the two live right rows
		t.Fatalf("after a new left row: %d rows, want 3", count)
	}
	if n, err := st.Sweep(context.Background()); err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want the one expired left row reclaimed", n, err)
	}
	now = now.Add(2 * time.Minute)
	if n, err := st.Sweep(context.Background()); err != nil || n != 3 {
		t.Fatalf("Sweep after every TTL = %d, %v; want 3 rows reclaimed", n, err)
	}
}
