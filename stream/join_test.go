package stream_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/reduce"
	"github.com/strata-data/strata/state"
	"github.com/strata-data/strata/stream"
)

// Three inputs: a(id, ck, s) ⋈ b(id, bk, name) on a.ck = b.bk (many to many), then
// ⋈ c(id, aid, amt) on a.id = c.aid; c has no primary key (rows are a multiset).
var (
	jaSchema = change.MustSchema([]arrow.Field{
		change.NotNull("id", arrow.PrimitiveTypes.Int64),
		change.Col("ck", arrow.PrimitiveTypes.Int32),
		change.Col("s", arrow.BinaryTypes.String),
	}, "id")
	jbSchema = change.MustSchema([]arrow.Field{
		change.NotNull("id", arrow.PrimitiveTypes.Int64),
		change.Col("bk", arrow.PrimitiveTypes.Int64),
		change.Col("name", arrow.BinaryTypes.String),
	}, "id")
	jcSchema = change.MustSchema([]arrow.Field{
		change.Col("id", arrow.PrimitiveTypes.Int64),
		change.Col("aid", arrow.PrimitiveTypes.Int64),
		change.Col("amt", arrow.PrimitiveTypes.Int64),
	})
)

type jrow = []any

// jtable is one random input: its current rows and the change batches that got it there.
type jtable struct {
	schema *change.Schema
	keyed  bool
	rows   map[int64]jrow // keyed: by id
	bag    []jrow         // keyless
	nextID int64
}

func (t *jtable) current() []jrow {
	if t.keyed {
		return slices.Collect(maps.Values(t.rows))
	}
	return t.bag
}

// changes makes a random batch of inserts, updates (with join key changes),
// primary key changes (delete + insert) and deletes, and applies it to t.
func (t *jtable) changes(r *rand.Rand, mem memory.Allocator, n int, mk func(id int64) jrow) *change.Batch {
	b := change.NewBuilder(mem, t.schema)
	defer b.Release()
	app := func(op change.Op, row jrow) {
		if t.keyed && op.IsRetraction() && r.IntN(3) == 0 {
			row = append(jrow{row[0]}, make(jrow, len(row)-1)...) // a key-only before-image
		}
		if err := b.AppendAny(op, row...); err != nil {
			panic(err)
		}
	}
	for range n {
		cur := t.current()
		switch x := r.IntN(10); {
		case x < 4 || len(cur) == 0:
			t.nextID++
			row := mk(t.nextID)
			app(change.Insert, row)
			t.add(row)
		case x < 7: // update: new non-id values (often a new join key)
			old := cur[r.IntN(len(cur))]
			row := mk(old[0].(int64))
			app(change.UpdateBefore, old)
			app(change.UpdateAfter, row)
			t.remove(old)
			t.add(row)
		case x < 8: // primary key change: delete + insert
			old := cur[r.IntN(len(cur))]
			t.nextID++
			row := slices.Clone(old)
			row[0] = t.nextID
			app(change.Delete, old)
			app(change.Insert, row)
			t.remove(old)
			t.add(row)
		default:
			old := cur[r.IntN(len(cur))]
			app(change.Delete, old)
			t.remove(old)
		}
	}
	return b.NewBatch()
}

func (t *jtable) add(row jrow) {
	if t.keyed {
		t.rows[row[0].(int64)] = row
	} else {
		t.bag = append(t.bag, row)
	}
}

func (t *jtable) remove(row jrow) {
	if t.keyed {
		delete(t.rows, row[0].(int64))
		return
	}
	i := slices.IndexFunc(t.bag, func(x jrow) bool { return fmt.Sprint(x) == fmt.Sprint(row) })
	t.bag = slices.Delete(t.bag, i, i+1)
}

// refJoin is the nested-loop reference: SQL semantics, NULL keys match nothing.
func refJoin(left, right []jrow, lk, rk int, rightWidth int, outer bool) []jrow {
	var out []jrow
	for _, l := range left {
		matched := false
		for _, r := range right {
			if l[lk] == nil || r[rk] == nil || toI64(l[lk]) != toI64(r[rk]) {
				continue
			}
			matched = true
			out = append(out, append(slices.Clone(l), r...))
		}
		if !matched && outer {
			out = append(out, append(slices.Clone(l), make(jrow, rightWidth)...))
		}
	}
	return out
}

func toI64(x any) int64 {
	switch v := x.(type) {
	case int32:
		return int64(v)
	case int64:
		return v
	}
	panic(fmt.Sprintf("%T", x))
}

func bagOf(rows []jrow) map[string]int {
	m := map[string]int{}
	for _, r := range rows {
		m[fmt.Sprint(r)]++
	}
	return m
}

// materialize applies a change batch to a multiset of rows.
func materialize(t *testing.T, m map[string]int, b *change.Batch) {
	t.Helper()
	for _, row := range b.Plain() {
		k := fmt.Sprint(row[1:])
		if row[0].(change.Op).IsRetraction() {
			m[k]--
			if m[k] < 0 {
				t.Fatalf("retraction of a row never emitted: %s", k)
			}
			if m[k] == 0 {
				delete(m, k)
			}
		} else {
			m[k]++
		}
	}
}

func TestJoinDifferential(t *testing.T) {
	for _, kinds := range [][2]reduce.JoinType{{reduce.InnerJoin, reduce.InnerJoin}, {reduce.LeftJoin, reduce.InnerJoin},
		{reduce.InnerJoin, reduce.LeftJoin}, {reduce.LeftJoin, reduce.LeftJoin}} {
		for _, backend := range []string{"memory", "pebble"} {
			t.Run(fmt.Sprintf("%s-%s-%s", kinds[0], kinds[1], backend), func(t *testing.T) {
				testJoinDifferential(t, kinds, backend)
			})
		}
	}
}

func openBackendB(t testing.TB, kind string) state.Backend { return openBackend(t, kind) }

func itoa(i int) string { return fmt.Sprint(i) }

func openBackend(t testing.TB, kind string) state.Backend {
	t.Helper()
	var be state.Backend
	var err error
	if kind == "pebble" {
		be, err = state.OpenPebble(state.PebbleConfig{Dir: t.TempDir(), CacheSize: 8 << 20, MemTableSize: 4 << 20})
	} else {
		be, err = state.NewMemory(state.MemoryConfig{})
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { be.Close() })
	return be
}

func testJoinDifferential(t *testing.T, kinds [2]reduce.JoinType, backend string) {
	ctx := context.Background()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	be := openBackend(t, backend)
	j1, err := stream.NewJoin(stream.JoinConfig{ID: "ab", Type: kinds[0], Left: jaSchema, Right: jbSchema,
		LeftKeys: []string{"ck"}, RightKeys: []string{"bk"}, RightPrefix: "b_", State: be, Mem: mem})
	if err != nil {
		t.Fatal(err)
	}
	j2, err := stream.NewJoin(stream.JoinConfig{ID: "abc", Type: kinds[1], Left: j1.Schema(), Right: jcSchema,
		LeftKeys: []string{"id"}, RightKeys: []string{"aid"}, RightPrefix: "c_", State: be, Mem: mem})
	if err != nil {
		t.Fatal(err)
	}
	if got := j1.Schema().KeyNames(); !slices.Equal(got, []string{"id", "b_id"}) {
		t.Fatalf("join key %v", got)
	}
	got := map[string]int{}
	sinkEmit := func(b *change.Batch) error {
		defer b.Release()
		if !b.Schema().Equal(j2.Schema()) {
			return errors.New("output schema")
		}
		materialize(t, got, b)
		return nil
	}
	toJ2 := func(b *change.Batch) error { return j2.ProcessPort(ctx, 0, b, sinkEmit) }
	r := rand.New(rand.NewPCG(7, uint64(kinds[0])*2+uint64(kinds[1])))
	a := &jtable{schema: jaSchema, keyed: true, rows: map[int64]jrow{}}
	bt := &jtable{schema: jbSchema, keyed: true, rows: map[int64]jrow{}}
	c := &jtable{schema: jcSchema}
	maybe := func(x any) any {
		if r.IntN(10) == 0 {
			return nil
		}
		return x
	}
	rounds := 150
	for round := range rounds {
		ab := a.changes(r, mem, 1+r.IntN(4), func(id int64) jrow {
			return jrow{id, maybe(int32(r.IntN(6))), fmt.Sprint("s", r.IntN(3))}
		})
		bb := bt.changes(r, mem, 1+r.IntN(3), func(id int64) jrow {
			return jrow{id, maybe(int64(r.IntN(6))), maybe(fmt.Sprint("n\x00", r.IntN(3)))}
		})
		// c's "id" is a plain column here; duplicates are frequent (a multiset).
		cb := c.changes(r, mem, 1+r.IntN(4), func(int64) jrow {
			return jrow{int64(r.IntN(3)), maybe(int64(1 + r.IntN(int(a.nextID)+1))), int64(r.IntN(4))}
		})
		if err := j1.ProcessPort(ctx, 0, ab, toJ2); err != nil {
			t.Fatal(err)
		}
		if err := j1.ProcessPort(ctx, 1, bb, toJ2); err != nil {
			t.Fatal(err)
		}
		if err := j2.ProcessPort(ctx, 1, cb, sinkEmit); err != nil {
			t.Fatal(err)
		}
		abRef := refJoin(a.current(), bt.current(), 1, 1, 3, kinds[0] == reduce.LeftJoin)
		want := bagOf(refJoin(abRef, c.current(), 0, 1, 3, kinds[1] == reduce.LeftJoin))
		if !maps.Equal(got, want) {
			t.Fatalf("round %d: streaming join has %d distinct rows, batch join %d\n got %v\nwant %v",
				round, len(got), len(want), got, want)
		}
	}
	if len(got) == 0 {
		t.Fatal("the join never produced a row: the test checks nothing")
	}
}

// A retraction of a row the join never saw is an error, unless rows expire.
func TestJoinRetractionUnknown(t *testing.T) {
	ctx := context.Background()
	be := openBackend(t, "memory")
	j, err := stream.NewJoin(stream.JoinConfig{ID: "j", Left: jaSchema, Right: jbSchema,
		LeftKeys: []string{"ck"}, RightKeys: []string{"bk"}, State: be})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := change.FromRows(nil, jaSchema, [][]any{{change.Delete, int64(1), int32(1), "x"}})
	err = j.ProcessPort(ctx, 0, b, func(b *change.Batch) error { b.Release(); return nil })
	if !errors.Is(err, stream.ErrInput) {
		t.Fatalf("got %v, want ErrInput", err)
	}
}

// With a TTL, rows expire through the backend: they stop joining, and their later
// retraction is dropped.
func TestJoinTTL(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1000, 0)
	be, err := state.NewMemory(state.MemoryConfig{Config: state.Config{Now: func() time.Time { return now }, SweepInterval: -1}})
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	j, err := stream.NewJoin(stream.JoinConfig{ID: "j", Left: jaSchema, Right: jbSchema, TTL: time.Minute,
		LeftKeys: []string{"ck"}, RightKeys: []string{"bk"}, State: be})
	if err != nil {
		t.Fatal(err)
	}
	var out [][]any
	emit := func(b *change.Batch) error { out = append(out, b.Plain()...); b.Release(); return nil }
	run := func(port int, s *change.Schema, rows ...[]any) {
		t.Helper()
		b, err := change.FromRows(nil, s, rows)
		if err != nil {
			t.Fatal(err)
		}
		if err := j.ProcessPort(ctx, port, b, emit); err != nil {
			t.Fatal(err)
		}
	}
	run(0, jaSchema, []any{change.Insert, int64(1), int32(5), "a"})
	run(1, jbSchema, []any{change.Insert, int64(10), int64(5), "b"})
	if len(out) != 1 {
		t.Fatalf("before expiry: %v", out)
	}
	now = now.Add(2 * time.Minute)
	out = nil
	run(1, jbSchema, []any{change.Insert, int64(11), int64(5), "c"}) // a(1) expired: no match
	run(0, jaSchema, []any{change.Delete, int64(1), int32(5), "a"})  // dropped, not an error
	if len(out) != 0 || j.Expired() != 1 {
		t.Fatalf("after expiry: %v, expired %d", out, j.Expired())
	}
}

// countingBackend counts the writes that reach a backend.
type countingBackend struct {
	state.Backend
	puts, deletes, applies int
}

func (c *countingBackend) Put(ns string, k, v []byte) error { c.puts++; return c.Backend.Put(ns, k, v) }
func (c *countingBackend) PutTTL(ns string, k, v []byte, ttl time.Duration) error {
	c.puts++
	return c.Backend.PutTTL(ns, k, v, ttl)
}
func (c *countingBackend) Delete(ns string, k []byte) error {
	c.deletes++
	return c.Backend.Delete(ns, k)
}
func (c *countingBackend) Apply(b *state.Batch) error { c.applies++; return c.Backend.Apply(b) }

// A batch's state writes reach the backend in one Apply; an update pair that
// keeps the key and join key is applied in one probe (-U/+U per joined row, in
// order), and one that changes nothing emits nothing.
func TestJoinBatchedWritesAndUpdatePairs(t *testing.T) {
	ctx := context.Background()
	be := &countingBackend{Backend: openBackend(t, "memory")}
	j, err := stream.NewJoin(stream.JoinConfig{ID: "j", Type: reduce.LeftJoin, Left: jaSchema, Right: jbSchema,
		LeftKeys: []string{"ck"}, RightKeys: []string{"bk"}, State: be})
	if err != nil {
		t.Fatal(err)
	}
	var out [][]any
	emit := func(b *change.Batch) error { out = append(out, b.Plain()...); b.Release(); return nil }
	run := func(port int, s *change.Schema, rows ...[]any) {
		t.Helper()
		out = nil
		b, err := change.FromRows(nil, s, rows)
		if err != nil {
			t.Fatal(err)
		}
		if err := j.ProcessPort(ctx, port, b, emit); err != nil {
			t.Fatal(err)
		}
	}
	run(0, jaSchema, []any{change.Insert, int64(1), int32(5), "a"}, []any{change.Insert, int64(2), int32(5), "b"},
		[]any{change.Insert, int64(3), int32(6), "c"})
	if be.puts != 0 || be.deletes != 0 || be.applies != 1 || len(out) != 3 {
		t.Fatalf("3 inserts: %d puts, %d deletes, %d applies, output %v", be.puts, be.deletes, be.applies, out)
	}
	run(1, jbSchema, []any{change.Insert, int64(10), int64(5), "n"})
	if len(out) != 4 { // the two padded rows retracted, two joined rows added
		t.Fatalf("right insert: %v", out)
	}
	run(1, jbSchema, []any{change.UpdateBefore, int64(10), int64(5), "n"}, []any{change.UpdateAfter, int64(10), int64(5), "n"})
	if len(out) != 0 {
		t.Fatalf("an update changing nothing emitted %v", out)
	}
	run(1, jbSchema, []any{change.UpdateBefore, int64(10), nil, nil}, []any{change.UpdateAfter, int64(10), int64(5), "m"})
	want := [][]any{
		{change.UpdateBefore, int64(1), int32(5), "a", int64(10), int64(5), "n"},
		{change.UpdateAfter, int64(1), int32(5), "a", int64(10), int64(5), "m"},
		{change.UpdateBefore, int64(2), int32(5), "b", int64(10), int64(5), "n"},
		{change.UpdateAfter, int64(2), int32(5), "b", int64(10), int64(5), "m"},
	}
	if fmt.Sprint(out) != fmt.Sprint(want) {
		t.Fatalf("right update (key-only before-image):\n got %v\nwant %v", out, want)
	}
	// A left update without match keeps its padded row: -U/+U of it.
	run(0, jaSchema, []any{change.UpdateBefore, int64(3), int32(6), "c"}, []any{change.UpdateAfter, int64(3), int32(6), "d"})
	want = [][]any{
		{change.UpdateBefore, int64(3), int32(6), "c", nil, nil, nil},
		{change.UpdateAfter, int64(3), int32(6), "d", nil, nil, nil},
	}
	if fmt.Sprint(out) != fmt.Sprint(want) {
		t.Fatalf("unmatched left update:\n got %v\nwant %v", out, want)
	}
	if be.puts != 0 || be.deletes != 0 {
		t.Fatalf("%d puts and %d deletes outside batches", be.puts, be.deletes)
	}
}

// A left input keyed by its join key (a partial aggregate's rows, keyed by the
// group key, which may be NULL) is kept in "ID/l" alone: found by its key there,
// with no "ID/lk" copy. Key-only retractions and a NULL key still work.
func TestJoinOnPrimaryKey(t *testing.T) {
	ctx := context.Background()
	be := openBackend(t, "memory")
	xSchema := change.MustSchema([]arrow.Field{
		change.Col("k", arrow.PrimitiveTypes.Int64),
		change.Col("v", arrow.PrimitiveTypes.Int64),
	}, "k")
	j, err := stream.NewJoin(stream.JoinConfig{ID: "j", Type: reduce.LeftJoin, Left: xSchema, Right: jbSchema,
		LeftKeys: []string{"k"}, RightKeys: []string{"bk"}, State: be})
	if err != nil {
		t.Fatal(err)
	}
	if ns := j.Namespaces(); !slices.Equal(ns, []string{"j/l", "j/r", "j/rk"}) {
		t.Fatalf("namespaces %v, want no j/lk", ns)
	}
	got := map[string]int{}
	step := func(port int, s *change.Schema, rows [][]any, want []jrow) {
		t.Helper()
		b, err := change.FromRows(nil, s, rows)
		if err != nil {
			t.Fatal(err)
		}
		if err := j.ProcessPort(ctx, port, b, func(b *change.Batch) error { materialize(t, got, b); b.Release(); return nil }); err != nil {
			t.Fatal(err)
		}
		if w := bagOf(want); !maps.Equal(got, w) {
			t.Fatalf("after %v: %v, want %v", rows, got, w)
		}
	}
	step(0, xSchema, [][]any{{change.Insert, nil, int64(5)}, {change.Insert, int64(1), int64(7)}},
		[]jrow{{nil, int64(5), nil, nil, nil}, {int64(1), int64(7), nil, nil, nil}})
	step(1, jbSchema, [][]any{{change.Insert, int64(10), int64(1), "x"}},
		[]jrow{{nil, int64(5), nil, nil, nil}, {int64(1), int64(7), int64(10), int64(1), "x"}})
	// An update whose before-image has only the key.
	step(0, xSchema, [][]any{{change.UpdateBefore, int64(1), nil}, {change.UpdateAfter, int64(1), int64(8)}},
		[]jrow{{nil, int64(5), nil, nil, nil}, {int64(1), int64(8), int64(10), int64(1), "x"}})
	step(0, xSchema, [][]any{{change.Delete, nil, nil}},
		[]jrow{{int64(1), int64(8), int64(10), int64(1), "x"}})
	step(1, jbSchema, [][]any{{change.Delete, int64(10), int64(1), "x"}},
		[]jrow{{int64(1), int64(8), nil, nil, nil}})
	st, err := be.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range st {
		if ns.Namespace == "j/lk" && ns.Keys > 0 {
			t.Fatalf("%d entries in j/lk", ns.Keys)
		}
		if ns.Namespace == "j/l" && ns.Keys != 1 {
			t.Fatalf("%d entries in j/l, want 1", ns.Keys)
		}
	}
}
