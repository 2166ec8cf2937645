package order_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/internal/order"
)

// column builds an array of type t from values (nil: NULL) with the default allocator.
func column(t *testing.T, dt arrow.DataType, vals []any) arrow.Array {
	t.Helper()
	b := array.NewBuilder(memory.DefaultAllocator, dt)
	defer b.Release()
	for _, v := range vals {
		if v == nil {
			b.AppendNull()
			continue
		}
		switch b := b.(type) {
		case *array.Int8Builder:
			b.Append(v.(int8))
		case *array.Int32Builder:
			b.Append(v.(int32))
		case *array.Int64Builder:
			b.Append(v.(int64))
		case *array.Uint64Builder:
			b.Append(v.(uint64))
		case *array.Float32Builder:
			b.Append(v.(float32))
		case *array.Float64Builder:
			b.Append(v.(float64))
		case *array.Decimal128Builder:
			b.Append(v.(decimal128.Num))
		case *array.StringBuilder:
			b.Append(v.(string))
		case *array.BinaryBuilder:
			b.Append(v.([]byte))
		case *array.BooleanBuilder:
			b.Append(v.(bool))
		case *array.TimestampBuilder:
			b.Append(arrow.Timestamp(v.(int64)))
		default:
			t.Fatalf("no builder for %s", dt)
		}
	}
	return b.NewArray()
}

func sign(x int) int {
	switch {
	case x < 0:
		return -1
	case x > 0:
		return 1
	}
	return 0
}

// The prefix agrees with the comparator: a smaller prefix means an earlier row, and
// an exact prefix ties exactly when the rows tie.
func TestPrefixesAgreeWithTheComparator(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	floats := []float64{math.NaN(), -math.NaN(), math.Inf(1), math.Inf(-1), 0, math.Copysign(0, -1), 1, -1, 1e-310, -1e-310, math.MaxFloat64, 3.5}
	strs := []string{"", "a", "a\x00", "ab", "abcdefgh", "abcdefgh\x00", "abcdefghi", "\xff", "\xff\xff\xff\xff\xff\xff\xff\xff\xff"}
	cases := []struct {
		dt   arrow.DataType
		gen  func() any
		want bool // exact
	}{
		{arrow.PrimitiveTypes.Int8, func() any { return int8(rng.IntN(256) - 128) }, true},
		{arrow.PrimitiveTypes.Int32, func() any { return int32(rng.Uint32()) }, true},
		{arrow.PrimitiveTypes.Int64, func() any {
			return []int64{math.MinInt64, -1, 0, 1, math.MaxInt64, rng.Int64() - rng.Int64()}[rng.IntN(6)]
		}, true},
		{arrow.PrimitiveTypes.Uint64, func() any { return []uint64{0, 1, 1 << 63, math.MaxUint64, rng.Uint64()}[rng.IntN(5)] }, true},
		{&arrow.TimestampType{Unit: arrow.Nanosecond}, func() any { return rng.Int64() - rng.Int64() }, true},
		{arrow.PrimitiveTypes.Float32, func() any { return float32(floats[rng.IntN(len(floats))]) }, true},
		{arrow.PrimitiveTypes.Float64, func() any { return floats[rng.IntN(len(floats))] }, true},
		{&arrow.Decimal128Type{Precision: 38, Scale: 3}, func() any {
			return decimal128.New(int64(rng.IntN(5)-2), []uint64{0, 1, math.MaxUint64, 1 << 63}[rng.IntN(4)])
		}, false},
		{arrow.BinaryTypes.String, func() any { return strs[rng.IntN(len(strs))] }, false},
		{arrow.BinaryTypes.Binary, func() any { return []byte(strs[rng.IntN(len(strs))]) }, false},
		{arrow.FixedWidthTypes.Boolean, func() any { return rng.IntN(2) == 0 }, true},
	}
	for _, tc := range cases {
		for _, desc := range []bool{false, true} {
			vals := make([]any, 100)
			for i := range vals {
				vals[i] = tc.gen()
			}
			a := column(t, tc.dt, vals)
			c, err := order.New(tc.dt, desc, false)
			require.NoError(t, err)
			c.Set(0, a)
			pre := make([]uint64, a.Len())
			assert.Equal(t, tc.want, c.Prefix(a, pre), "%s exact", tc.dt)
			cmp := c.Func()
			for i := range vals {
				for j := range vals {
					got := cmp(order.Ref(0, i), order.Ref(0, j))
					if pre[i] < pre[j] {
						require.LessOrEqual(t, got, 0, "%s desc=%v: %v before %v by prefix", tc.dt, desc, vals[i], vals[j])
					}
					if tc.want {
						require.Equal(t, pre[i] == pre[j], got == 0, "%s desc=%v: %v vs %v", tc.dt, desc, vals[i], vals[j])
					}
				}
			}
			a.Release()
		}
	}
}

func TestSQLOrderOfSpecialValues(t *testing.T) {
	f := column(t, arrow.PrimitiveTypes.Float64, []any{math.NaN(), math.Inf(1), 0.0, math.Copysign(0, -1), math.Inf(-1), nil, -math.NaN()})
	defer f.Release()
	asc, _ := order.New(arrow.PrimitiveTypes.Float64, false, false)
	asc.Set(0, f)
	cmp := asc.Func()
	r := func(i int) uint64 { return order.Ref(0, i) }
	assert.Equal(t, 1, cmp(r(0), r(1)), "NaN after +Inf")
	assert.Equal(t, 0, cmp(r(0), r(6)), "NaN equals NaN, whatever its sign")
	assert.Equal(t, 0, cmp(r(2), r(3)), "-0 equals 0")
	assert.Equal(t, 1, cmp(r(5), r(0)), "NULLS LAST after NaN")
	assert.Equal(t, -1, cmp(r(4), r(3)))

	descFirst, _ := order.New(arrow.PrimitiveTypes.Float64, true, true)
	descFirst.Set(0, f)
	cmp = descFirst.Func()
	assert.Equal(t, -1, cmp(r(5), r(0)), "NULLS FIRST before NaN, also descending")
	assert.Equal(t, -1, cmp(r(0), r(1)), "descending: NaN first")
	assert.True(t, descFirst.IsNull(r(5)))
	assert.False(t, descFirst.IsNull(r(0)))

	// Two sources: rows of one compare with rows of another.
	s := column(t, arrow.BinaryTypes.String, []any{"b", nil})
	u := column(t, arrow.BinaryTypes.String, []any{"a", "b\x00"})
	defer s.Release()
	defer u.Release()
	sc, _ := order.New(arrow.BinaryTypes.String, false, false)
	sc.Set(0, s)
	sc.Set(1, u)
	two := order.Comparator([]*order.Column{sc})
	assert.Equal(t, 1, two(order.Ref(0, 0), order.Ref(1, 0)))
	assert.Equal(t, -1, two(order.Ref(0, 0), order.Ref(1, 1)), "a prefix orders first")
	assert.Equal(t, 1, two(order.Ref(0, 1), order.Ref(1, 1)))
	assert.Equal(t, 0, order.Src(order.Ref(0, 7)))
	assert.Equal(t, 7, order.Row(order.Ref(3, 7)))

	_, err := order.New(arrow.ListOf(arrow.PrimitiveTypes.Int64), false, false)
	assert.ErrorContains(t, err, "cannot order by a column of type list")
}
