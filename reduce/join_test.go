package reduce_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime/debug"
	"strings"
	"testing"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/internal/mempool"
	"github.com/strata-data/strata/reduce"
	"github.com/strata-data/strata/reduce/reducetest"
	"github.com/strata-data/strata/shuffle"
)

var allJoins = []reduce.JoinType{reduce.InnerJoin, reduce.LeftJoin, reduce.RightJoin, reduce.FullJoin, reduce.SemiJoin, reduce.AntiJoin}

var (
	customers = change.MustSchema([]arrow.Field{
		change.Col("id", arrow.PrimitiveTypes.Int64),
		change.Col("name", arrow.BinaryTypes.String),
	})
	orders = change.MustSchema([]arrow.Field{
		change.NotNull("order", arrow.PrimitiveTypes.Int32),
		change.Col("customer", arrow.PrimitiveTypes.Int32),
		change.Col("name", arrow.BinaryTypes.String),
	})
)

func customersIn() reducetest.Input {
	return reducetest.Rows(customers,
		[]any{1, "ann"},
		[]any{2, "bob"},
		[]any{3, "cy"},
		[]any{nil, "nobody"},
	)
}

func ordersIn() reducetest.Input {
	return reducetest.Rows(orders,
		[]any{10, 1, "book"},
		[]any{11, 1, "pen"},
		[]any{12, 2, "ink"},
		[]any{13, 4, "lost"},
		[]any{14, nil, "anon"},
	)
}

func newJoin(t *testing.T, cfg reduce.HashJoinConfig) *reduce.HashJoin {
	t.Helper()
	j, err := reduce.NewHashJoin(cfg)
	require.NoError(t, err)
	return j
}

func TestHashJoinTypes(t *testing.T) {
	want := map[reduce.JoinType][][]any{
		reduce.InnerJoin: {
			{1, "ann", 10, 1, "book"}, {1, "ann", 11, 1, "pen"}, {2, "bob", 12, 2, "ink"},
		},
		reduce.LeftJoin: {
			{1, "ann", 10, 1, "book"}, {1, "ann", 11, 1, "pen"}, {2, "bob", 12, 2, "ink"},
			{3, "cy", nil, nil, nil}, {nil, "nobody", nil, nil, nil},
		},
		reduce.RightJoin: {
			{1, "ann", 10, 1, "book"}, {1, "ann", 11, 1, "pen"}, {2, "bob", 12, 2, "ink"},
			{nil, nil, 13, 4, "lost"}, {nil, nil, 14, nil, "anon"},
		},
		reduce.FullJoin: {
			{1, "ann", 10, 1, "book"}, {1, "ann", 11, 1, "pen"}, {2, "bob", 12, 2, "ink"},
			{3, "cy", nil, nil, nil}, {nil, "nobody", nil, nil, nil},
			{nil, nil, 13, 4, "lost"}, {nil, nil, 14, nil, "anon"},
		},
		reduce.SemiJoin: {{1, "ann"}, {2, "bob"}},
		reduce.AntiJoin: {{3, "cy"}, {nil, "nobody"}},
	}
	for _, typ := range allJoins {
		for _, build := range []reduce.Side{reduce.AutoSide, reduce.LeftSide, reduce.RightSide} {
			t.Run(fmt.Sprintf("%s/build=%s", typ, build), func(t *testing.T) {
				budget := reducetest.NewBudget(0)
				j := newJoin(t, reduce.HashJoinConfig{
					Type: typ, Left: customers, Right: orders, LeftKeys: []string{"id"}, RightKeys: []string{"customer"},
					Build: build, Budget: budget, BatchRows: 2,
				})
				res := reducetest.Run(t, j, reducetest.Options{Budget: budget, BatchRows: 2}, customersIn(), ordersIn())
				res.AssertMultiset(t, want[typ]...)
				if typ == reduce.SemiJoin || typ == reduce.AntiJoin {
					assert.Equal(t, "id int64, name utf8", res.Schema.String())
				} else {
					assert.Equal(t, []string{"id", "name", "order", "customer", "right_name"}, names(res.Schema))
				}
			})
		}
	}
}

func names(s *change.Schema) []string {
	var out []string
	for _, f := range s.Fields() {
		out = append(out, f.Name)
	}
	return out
}

func TestHashJoinOutputColumnsAndNullability(t *testing.T) {
	j := newJoin(t, reduce.HashJoinConfig{
		Type: reduce.LeftJoin, Left: orders, Right: customers, LeftKeys: []string{"customer"}, RightKeys: []string{"id"},
		Output: []reduce.Column{
			{Side: reduce.RightSide, Name: "name", As: "customer_name"},
			{Side: reduce.LeftSide, Name: "order"},
			{Side: reduce.LeftSide, Name: "name", As: "item"},
		},
	})
	assert.Equal(t, "customer_name utf8, order int32 not null, item utf8", j.Schema().String())
	res := reducetest.Run(t, j, reducetest.Options{}, ordersIn(), customersIn())
	res.AssertMultiset(t,
		[]any{"ann", 10, "book"}, []any{"ann", 11, "pen"}, []any{"bob", 12, "ink"},
		[]any{nil, 13, "lost"}, []any{nil, 14, "anon"},
	)

	full := newJoin(t, reduce.HashJoinConfig{
		Type: reduce.FullJoin, Left: orders, Right: customers, LeftKeys: []string{"customer"}, RightKeys: []string{"id"},
		RightPrefix: "c_",
	})
	assert.Equal(t, "order int32, customer int32, name utf8, id int64, c_name utf8", full.Schema().String(),
		"a full join makes both sides nullable; clashing right names get the prefix")
	right := newJoin(t, reduce.HashJoinConfig{
		Type: reduce.RightJoin, Left: orders, Right: customers, LeftKeys: []string{"customer"}, RightKeys: []string{"id"},
	})
	assert.Equal(t, "order int32, customer int32, name utf8, id int64, right_name utf8", right.Schema().String())
}

func TestHashJoinConfigErrors(t *testing.T) {
	base := func() reduce.HashJoinConfig {
		return reduce.HashJoinConfig{Left: customers, Right: orders, LeftKeys: []string{"id"}, RightKeys: []string{"customer"}}
	}
	dec2 := change.MustSchema([]arrow.Field{change.Col("d", &arrow.Decimal128Type{Precision: 10, Scale: 2})})
	dec3 := change.MustSchema([]arrow.Field{change.Col("d", &arrow.Decimal128Type{Precision: 10, Scale: 3})})
	for name, c := range map[string]struct {
		mod  func(*reduce.HashJoinConfig)
		want string
	}{
		"no schemas":        {func(c *reduce.HashJoinConfig) { c.Left = nil }, "schemas are required"},
		"no keys":           {func(c *reduce.HashJoinConfig) { c.LeftKeys, c.RightKeys = nil, nil }, "no key columns"},
		"key counts":        {func(c *reduce.HashJoinConfig) { c.RightKeys = []string{"customer", "order"} }, "1 left keys, 2 right keys"},
		"missing left key":  {func(c *reduce.HashJoinConfig) { c.LeftKeys = []string{"nope"} }, `left key "nope"`},
		"missing right key": {func(c *reduce.HashJoinConfig) { c.RightKeys = []string{"nope"} }, `right key "nope"`},
		"incomparable keys": {func(c *reduce.HashJoinConfig) { c.RightKeys = []string{"name"} }, "do not compare"},
		"decimal scales": {func(c *reduce.HashJoinConfig) {
			c.Left, c.Right, c.LeftKeys, c.RightKeys = dec2, dec3, []string{"d"}, []string{"d"}
		}, "decimal(10, 2)) and \"d\" (decimal(10, 3)) do not compare"},
		"bad type":  {func(c *reduce.HashJoinConfig) { c.Type = 9 }, "join type 9"},
		"bad build": {func(c *reduce.HashJoinConfig) { c.Build = 7 }, "build side"},
		"semi right column": {func(c *reduce.HashJoinConfig) {
			c.Type = reduce.SemiJoin
			c.Output = []reduce.Column{{Side: reduce.RightSide, Name: "order"}}
		}, "left columns only"},
		"output side":    {func(c *reduce.HashJoinConfig) { c.Output = []reduce.Column{{Name: "id"}} }, "has side auto"},
		"output missing": {func(c *reduce.HashJoinConfig) { c.Output = []reduce.Column{{Side: reduce.LeftSide, Name: "x"}} }, `"x" is not a left column`},
		"output clash": {func(c *reduce.HashJoinConfig) {
			c.Output = []reduce.Column{{Side: reduce.LeftSide, Name: "name"}, {Side: reduce.RightSide, Name: "name"}}
		}, `two output columns are named "name"`},
		"prefix clash": {func(c *reduce.HashJoinConfig) {
			c.Left = change.MustSchema([]arrow.Field{change.Col("id", arrow.PrimitiveTypes.Int64), change.Col("name", arrow.BinaryTypes.String), change.Col("right_name", arrow.BinaryTypes.String)})
		}, `two output columns are named "right_name"`},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := base()
			c.mod(&cfg)
			_, err := reduce.NewHashJoin(cfg)
			require.ErrorIs(t, err, reduce.ErrJoinConfig)
			assert.ErrorContains(t, err, c.want)
		})
	}
}

func TestHashJoinRejectsBadInputs(t *testing.T) {
	j := newJoin(t, reduce.HashJoinConfig{Left: customers, Right: orders, LeftKeys: []string{"id"}, RightKeys: []string{"customer"}})
	err := reducetest.RunError(t, j, reducetest.Options{}, customersIn())
	assert.ErrorContains(t, err, "2 inputs, got 1")
	err = reducetest.RunError(t, j, reducetest.Options{}, customersIn(), customersIn())
	assert.ErrorContains(t, err, "right input batch has 2 columns, want 3")
	err = reducetest.RunError(t, j, reducetest.Options{}, ordersIn(), ordersIn())
	assert.ErrorContains(t, err, "left input batch has 3 columns, want 2")
	wrongType := change.MustSchema([]arrow.Field{change.Col("id", arrow.PrimitiveTypes.Int32), change.Col("name", arrow.BinaryTypes.String)})
	err = reducetest.RunError(t, j, reducetest.Options{}, reducetest.Rows(wrongType, []any{1, "a"}), ordersIn())
	assert.ErrorContains(t, err, "left input column 0 is int32, want int64")
}

// keyPair is a key column of each side: the same generator, or two whose types differ
// and compare (int32 with int64, float32 with float64, binary with string).
type keyPair struct{ l, r keyGen }

func keyPairs() []keyPair {
	var out []keyPair
	for _, g := range keyGens {
		out = append(out, keyPair{g, g})
	}
	gen := func(name string) keyGen {
		for _, g := range keyGens {
			if g.name == name {
				return g
			}
		}
		panic(name)
	}
	strAsBinary := keyGen{"binary", arrow.BinaryTypes.Binary, func(i int) any { return []byte(gen("string").val(i).(string)) }}
	f64AsF32 := keyGen{"float32", arrow.PrimitiveTypes.Float32, func(i int) any { return float32(gen("float64").val(i).(float64)) }}
	u16 := keyGen{"uint16", arrow.PrimitiveTypes.Uint16, func(i int) any { return uint16(i) }}
	return append(out,
		keyPair{gen("int64"), gen("int32")},
		keyPair{gen("int8"), u16},
		keyPair{gen("float64"), f64AsF32},
		keyPair{gen("string"), strAsBinary},
	)
}

// joinCase is one random join and its inputs.
type joinCase struct {
	typ         reduce.JoinType
	build       reduce.Side
	pairs       []keyPair
	left, right *change.Schema
	lrows       [][]any
	rrows       [][]any
	batchRows   int
	outRows     int
}

func randomCase(rng *rand.Rand, typ reduce.JoinType) joinCase {
	all := keyPairs()
	c := joinCase{typ: typ, build: reduce.Side(rng.IntN(3)), batchRows: 1 + rng.IntN(7), outRows: 1 + rng.IntN(9)}
	for range 1 + rng.IntN(3) {
		c.pairs = append(c.pairs, all[rng.IntN(len(all))])
	}
	var lt, rt []arrow.DataType
	var lg, rg []keyGen
	for _, p := range c.pairs {
		lt, rt = append(lt, p.l.typ), append(rt, p.r.typ)
		lg, rg = append(lg, p.l), append(rg, p.r)
	}
	c.left, c.right = sideSchema("l", lt), sideSchema("r", rt)
	domain := 1 + rng.IntN(5)
	c.lrows = canon(c.left, genRows(rng, lg, rng.IntN(40), domain, 0.15, 0))
	c.rrows = canon(c.right, genRows(rng, rg, rng.IntN(40), domain, 0.15, 1000))
	return c
}

func (c joinCase) keys() (lk, rk []string, li, ri []int) {
	for i := range c.pairs {
		lk, rk = append(lk, fmt.Sprintf("lk%d", i)), append(rk, fmt.Sprintf("rk%d", i))
		li, ri = append(li, i), append(ri, i)
	}
	return
}

func (c joinCase) config(budget *change.Budget) reduce.HashJoinConfig {
	lk, rk, _, _ := c.keys()
	return reduce.HashJoinConfig{
		Type: c.typ, Left: c.left, Right: c.right, LeftKeys: lk, RightKeys: rk,
		Build: c.build, Budget: budget, BatchRows: c.outRows,
	}
}

func (c joinCase) String() string {
	var ks []string
	for _, p := range c.pairs {
		ks = append(ks, p.l.name+"="+p.r.name)
	}
	return fmt.Sprintf("%s join on %s, build %s, %d×%d rows, batches of %d", c.typ, strings.Join(ks, ","), c.build, len(c.lrows), len(c.rrows), c.batchRows)
}

// The property test: every join type, random keys of every type (and pairs of types
// that compare), multi-column keys, duplicates and NULL keys, equals the reference.
func TestHashJoinMatchesReference(t *testing.T) {
	for seed := range uint64(60) {
		rng := rand.New(rand.NewPCG(seed, 7))
		for _, typ := range allJoins {
			c := randomCase(rng, typ)
			budget := reducetest.NewBudget(0)
			j := newJoin(t, c.config(budget))
			res := reducetest.Run(t, j, reducetest.Options{Budget: budget, BatchRows: c.batchRows},
				reducetest.Rows(c.left, c.lrows...), reducetest.Rows(c.right, c.rrows...))
			_, _, li, ri := c.keys()
			want := refJoin(typ, c.lrows, c.rrows, li, ri, nil, defaultCols(typ, c.left, c.right))
			if !res.AssertMultiset(t, want...) {
				t.Fatalf("seed %d: %s", seed, c)
			}
			for _, row := range res.Rows {
				require.Equal(t, change.Insert, row[0], "insert-only inputs give insert-only output")
			}
		}
	}
}

// Joins of change streams: the output's net effect is the join of the inputs' net
// effects, for every join type.
func TestHashJoinOfChangesHasTheNetEffectOfTheJoin(t *testing.T) {
	for seed := range uint64(60) {
		rng := rand.New(rand.NewPCG(seed, 11))
		for _, typ := range allJoins {
			c := randomCase(rng, typ)
			var lg, rg []keyGen
			for _, p := range c.pairs {
				lg, rg = append(lg, p.l), append(rg, p.r)
			}
			llog, lnet := genChanges(rng, c.lrows, lg, 3)
			rlog, rnet := genChanges(rng, c.rrows, rg, 3)
			llog, lnet, rlog, rnet = canon(c.left, llog), canon(c.left, lnet), canon(c.right, rlog), canon(c.right, rnet)
			budget := reducetest.NewBudget(0)
			j := newJoin(t, c.config(budget))
			res := reducetest.Run(t, j, reducetest.Options{Budget: budget, BatchRows: c.batchRows},
				reducetest.Rows(c.left, llog...), reducetest.Rows(c.right, rlog...))
			_, _, li, ri := c.keys()
			want := refJoin(typ, lnet, rnet, li, ri, nil, defaultCols(typ, c.left, c.right))
			if !res.AssertNet(t, want...) {
				t.Fatalf("seed %d: %s", seed, c)
			}
			for _, row := range res.Rows {
				op := row[0].(change.Op)
				require.True(t, op == change.Insert || op == change.Delete, "output ops are +I and -D, got %s", op)
			}
		}
	}
}

func TestHashJoinOpsOfChanges(t *testing.T) {
	// An order deleted and one updated, joined with an insert-only customer table.
	j := newJoin(t, reduce.HashJoinConfig{
		Type: reduce.LeftJoin, Left: orders, Right: customers, LeftKeys: []string{"customer"}, RightKeys: []string{"id"},
		Build: reduce.RightSide,
	})
	res := reducetest.Run(t, j, reducetest.Options{}, reducetest.Rows(orders,
		[]any{10, 1, "book"},
		[]any{change.Delete, 10, 1, "book"},
		[]any{change.UpdateBefore, 12, 2, "ink"},
		[]any{change.UpdateAfter, 12, 9, "ink"},
	), customersIn())
	res.AssertOrdered(t,
		[]any{change.Insert, 10, 1, "book", 1, "ann"},
		[]any{change.Delete, 10, 1, "book", 1, "ann"},
		[]any{change.Delete, 12, 2, "ink", 2, "bob"},
		[]any{change.Insert, 12, 9, "ink", nil, nil},
	)
	// A customer inserted and deleted again: the orders that matched it come out, and
	// go again, and, since it is gone, the orders come out unmatched too.
	res = reducetest.Run(t, j, reducetest.Options{}, reducetest.Rows(orders, []any{20, 5, "cup"}),
		reducetest.Rows(customers, []any{5, "eve"}, []any{change.Delete, 5, "eve"}))
	res.AssertMultiset(t,
		[]any{change.Insert, 20, 5, "cup", 5, "eve"},
		[]any{change.Delete, 20, 5, "cup", 5, "eve"},
		[]any{change.Insert, 20, 5, "cup", nil, nil},
	)
	res.AssertNet(t, []any{20, 5, "cup", nil, nil})
}

// logStream records the order in which a join reads its inputs.
type logStream struct {
	shuffle.Stream
	name string
	log  *[]string
}

func (s logStream) Next(ctx context.Context) (*change.Batch, error) {
	b, err := s.Stream.Next(ctx)
	if errors.Is(err, io.EOF) {
		*s.log = append(*s.log, s.name+"$")
	} else {
		*s.log = append(*s.log, s.name)
	}
	return b, err
}

type logJoin struct {
	r   reduce.Reducer
	log *[]string
}

func (l logJoin) Reduce(ctx context.Context, in []shuffle.Stream, emit reduce.Emit) error {
	return l.r.Reduce(ctx, []shuffle.Stream{logStream{in[0], "L", l.log}, logStream{in[1], "R", l.log}}, func(b *change.Batch) error {
		*l.log = append(*l.log, "emit")
		return emit(b)
	})
}

func TestHashJoinBuildsOnTheSmallerSide(t *testing.T) {
	big := reducetest.Generate(orders, 60, func(i int, row change.Row) change.Op {
		row[0], row[1], row[2] = change.Int(int64(i)), change.Int(int64(i%4)), change.Str("x")
		return change.Insert
	})
	for _, tc := range []struct {
		build reduce.Side
		want  string
	}{
		// auto: a batch from the side read less (the right on a tie) until the small
		// left side ends; then the right streams, what was read of it first.
		{reduce.AutoSide, "R L L$ emit R emit R emit R emit R emit R emit R$"},
		{reduce.LeftSide, "L L$ R emit R emit R emit R emit R emit R emit R$"},
		{reduce.RightSide, "R R R R R R R$ L emit L$"},
	} {
		var log []string
		j := newJoin(t, reduce.HashJoinConfig{
			Type: reduce.InnerJoin, Left: customers, Right: orders, LeftKeys: []string{"id"}, RightKeys: []string{"customer"},
			Build: tc.build, BatchRows: 1000,
		})
		res := reducetest.Run(t, logJoin{j, &log}, reducetest.Options{BatchRows: 10}, customersIn(), big)
		assert.Len(t, res.Rows, 45)
		assert.Equal(t, tc.want, strings.Join(log, " "), "build %s", tc.build)
	}
}

func TestHashJoinCleansUpOnEmitError(t *testing.T) {
	for _, typ := range allJoins {
		budget := reducetest.NewBudget(0)
		j := newJoin(t, reduce.HashJoinConfig{
			Type: typ, Left: customers, Right: orders, LeftKeys: []string{"id"}, RightKeys: []string{"customer"},
			Budget: budget, BatchRows: 1,
		})
		err := reducetest.RunError(t, j, reducetest.Options{Budget: budget, BatchRows: 1, FailEmitAfter: 1}, customersIn(), ordersIn())
		require.ErrorIs(t, err, reducetest.ErrInjected, "%s", typ)
	}
}

func TestHashJoinOutputBatchSize(t *testing.T) {
	many := reducetest.Generate(orders, 1000, func(i int, row change.Row) change.Op {
		row[0], row[1] = change.Int(int64(i)), change.Int(1)
		return change.Insert
	})
	var sizes []int
	j := newJoin(t, reduce.HashJoinConfig{
		Left: customers, Right: orders, LeftKeys: []string{"id"}, RightKeys: []string{"customer"}, BatchRows: 300,
		Build: reduce.LeftSide,
	})
	res := reducetest.Run(t, reducerFunc(func(ctx context.Context, in []shuffle.Stream, emit reduce.Emit) error {
		return j.Reduce(ctx, in, func(b *change.Batch) error {
			sizes = append(sizes, b.Len())
			return emit(b)
		})
	}), reducetest.Options{BatchRows: 1000}, customersIn(), many)
	assert.Len(t, res.Rows, 1000)
	assert.Equal(t, []int{300, 300, 300, 100}, sizes)
}

type reducerFunc func(ctx context.Context, in []shuffle.Stream, emit reduce.Emit) error

func (f reducerFunc) Reduce(ctx context.Context, in []shuffle.Stream, emit reduce.Emit) error {
	return f(ctx, in, emit)
}

// A build key of many rows fills output batches on its own: a probe row that matches
// 1000 build rows still comes out in batches of BatchRows.
func TestHashJoinOutputBatchSizeOfOneKeyOfManyRows(t *testing.T) {
	many := reducetest.Generate(orders, 1000, func(i int, row change.Row) change.Op {
		row[0], row[1] = change.Int(int64(i)), change.Int(1)
		return change.Insert
	})
	var sizes []int
	j := newJoin(t, reduce.HashJoinConfig{
		Left: customers, Right: orders, LeftKeys: []string{"id"}, RightKeys: []string{"customer"}, BatchRows: 300,
		Build: reduce.RightSide,
	})
	res := reducetest.Run(t, reducerFunc(func(ctx context.Context, in []shuffle.Stream, emit reduce.Emit) error {
		return j.Reduce(ctx, in, func(b *change.Batch) error {
			sizes = append(sizes, b.Len())
			return emit(b)
		})
	}), reducetest.Options{BatchRows: 1000}, customersIn(), many)
	assert.Len(t, res.Rows, 1000)
	assert.Equal(t, []int{300, 300, 300, 100}, sizes)
}

// An inner join built on unique keys (each build row its own key) gives each pair the
// product of the rows' signs, in probe order, whichever side holds the retraction.
func TestHashJoinUniqueBuildKeysOfChanges(t *testing.T) {
	j := newJoin(t, reduce.HashJoinConfig{
		Left: orders, Right: customers, LeftKeys: []string{"customer"}, RightKeys: []string{"id"},
		Build: reduce.RightSide, Output: []reduce.Column{{Side: reduce.LeftSide, Name: "order"}, {Side: reduce.RightSide, Name: "name"}},
	})
	res := reducetest.Run(t, j, reducetest.Options{BatchRows: 2}, reducetest.Rows(orders,
		[]any{10, 1, "book"},
		[]any{change.Delete, 11, 2, "pen"},
		[]any{12, 3, "ink"},
		[]any{change.UpdateBefore, 13, 3, "cup"},
		[]any{14, 7, "lost"},
		[]any{change.UpdateAfter, 15, 1, "mug"},
	), reducetest.Rows(customers,
		[]any{1, "ann"},
		[]any{2, "bob"},
		[]any{change.Delete, 3, "cy"},
		[]any{nil, "nobody"},
	))
	res.AssertOrdered(t,
		[]any{change.Insert, 10, "ann"},
		[]any{change.Delete, 11, "bob"},
		[]any{change.Delete, 12, "cy"},
		[]any{change.Insert, 13, "cy"},
		[]any{change.Insert, 15, "ann"},
	)
}

// Strings of every length around the two-word copy of short strings (0 to 40 bytes)
// come out of a join whole, in any order of the probe rows, across input batches.
func TestHashJoinGathersStringsOfEveryLength(t *testing.T) {
	str := func(i int) string {
		b := make([]byte, i%41)
		for k := range b {
			b[k] = byte('a' + (i+k)%26)
		}
		return string(b)
	}
	var build, probe [][]any
	for i := range 200 {
		build = append(build, []any{i, str(i)})
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var want [][]any
	for k, i := range rng.Perm(260) { // ids 200..259 match nothing
		probe = append(probe, []any{k, i, str(k)})
		if i < 200 {
			want = append(want, []any{k, str(k), str(i)})
		}
	}
	j := newJoin(t, reduce.HashJoinConfig{
		Left: orders, Right: customers, LeftKeys: []string{"customer"}, RightKeys: []string{"id"}, Build: reduce.RightSide,
		Output: []reduce.Column{{Side: reduce.LeftSide, Name: "order"}, {Side: reduce.LeftSide, Name: "name"}, {Side: reduce.RightSide, Name: "name", As: "customer"}},
	})
	res := reducetest.Run(t, j, reducetest.Options{BatchRows: 37}, reducetest.Rows(orders, probe...), reducetest.Rows(customers, build...))
	res.AssertMultiset(t, want...)
}

// batchesOf streams in as batches of the given sizes, in turn.
func batchesOf(t *testing.T, in reducetest.Input, sizes ...int) shuffle.Stream {
	t.Helper()
	all := in.Stream(memory.DefaultAllocator, in.Len())
	b, err := all.Next(context.Background())
	require.NoError(t, err)
	defer b.Release()
	var out []*change.Batch
	at := 0
	for _, n := range sizes {
		s, err := change.NewBatch(b.Schema(), b.Record().NewSlice(int64(at), int64(at+n)), b.Ops()[at:at+n])
		require.NoError(t, err)
		out = append(out, s)
		at += n
	}
	require.Equal(t, in.Len(), at)
	return shuffle.NewSliceStream(out...)
}

// A build side of unique keys in batches of one size (but the last) is read by row
// number; in batches of other sizes, or with a NULL key, it is not: the output is the
// join either way.
func TestHashJoinUniqueBuildKeysInBatchesOfAnySize(t *testing.T) {
	var build, probe [][]any
	for i := range 20 {
		build = append(build, []any{i, fmt.Sprintf("c%d", i)})
	}
	var want [][]any
	for k := range 50 {
		c := (k * 7) % 25
		probe = append(probe, []any{k, c, "x"})
		if c < 20 {
			want = append(want, []any{k, fmt.Sprintf("c%d", c)})
		}
	}
	j := newJoin(t, reduce.HashJoinConfig{
		Left: orders, Right: customers, LeftKeys: []string{"customer"}, RightKeys: []string{"id"}, Build: reduce.RightSide,
		Output: []reduce.Column{{Side: reduce.LeftSide, Name: "order"}, {Side: reduce.RightSide, Name: "name"}},
	})
	for _, sizes := range [][]int{{20}, {8, 8, 4}, {4, 4, 4, 4, 4}, {3, 9, 8}, {8, 4, 8}, {1, 19}, {19, 1}} {
		var got [][]any
		err := j.Reduce(context.Background(), []shuffle.Stream{
			batchesOf(t, reducetest.Rows(orders, probe...), 50), batchesOf(t, reducetest.Rows(customers, build...), sizes...),
		}, func(b *change.Batch) error {
			defer b.Release()
			for r := range b.Len() {
				// Value aliases the batch's buffer: copy it past the Release.
				got = append(got, []any{int(b.Column(0).(*array.Int32).Value(r)), strings.Clone(b.Column(1).(*array.String).Value(r))})
			}
			return nil
		})
		require.NoError(t, err)
		require.ElementsMatch(t, want, got, "build batches of %v", sizes)
	}
}

// Without a budget, a join allocates its output from a pool that recycles what its
// consumer releases: the buffers of a released batch carry the next ones, with no
// garbage collection between (which this test turns off, so that Go's allocator could
// not reuse an address either).
func TestHashJoinWithoutBudgetRecyclesReleasedOutput(t *testing.T) {
	if mempool.Guarded {
		t.Skip("the guard allocator never reuses a buffer")
	}
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	var build, probe [][]any
	for i := range 100 {
		build = append(build, []any{i, fmt.Sprintf("c%d", i)})
	}
	for k := range 40_000 {
		probe = append(probe, []any{k, k % 100, "x"})
	}
	j := newJoin(t, reduce.HashJoinConfig{
		Left: orders, Right: customers, LeftKeys: []string{"customer"}, RightKeys: []string{"id"}, Build: reduce.RightSide,
		Output: []reduce.Column{{Side: reduce.RightSide, Name: "id"}, {Side: reduce.LeftSide, Name: "order"}}, BatchRows: 4096,
	})
	seen := map[*int64]bool{}
	batches, rows := 0, 0
	err := j.Reduce(context.Background(), []shuffle.Stream{
		batchesOf(t, reducetest.Rows(orders, probe...), 10_000, 10_000, 10_000, 10_000), batchesOf(t, reducetest.Rows(customers, build...), 100),
	}, func(b *change.Batch) error {
		defer b.Release()
		ids := b.Column(0).(*array.Int64).Int64Values()
		for i, id := range ids {
			if int(id) != int(b.Column(1).(*array.Int32).Value(i))%100 {
				t.Fatalf("row %d: id %d for order %d", i, id, b.Column(1).(*array.Int32).Value(i))
			}
		}
		seen[unsafe.SliceData(ids)] = true
		batches++
		rows += len(ids)
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, 40_000, rows)
	// sync.Pool (under the race detector) drops a quarter of what it is given at random;
	// the 10 batches' id columns still share far fewer than 10 buffers.
	require.Less(t, len(seen), batches*3/4, "%d batches' id columns in %d distinct buffers", batches, len(seen))
}
