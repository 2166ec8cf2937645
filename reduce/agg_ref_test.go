package reduce_test

import (
	"cmp"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/decimal128"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/reduce"
)

// The reference the hash aggregate is checked against: SQL's definitions over plain
// rows (insert-only: the net rows of a changelog), with big numbers for exact sums.

// aggSchema has nullable group columns and a column of every type.
var aggSchema = change.MustSchema([]arrow.Field{
	change.Col("g1", arrow.PrimitiveTypes.Int32),
	change.Col("g2", arrow.BinaryTypes.String),
	change.Col("i8", arrow.PrimitiveTypes.Int8),
	change.Col("i32", arrow.PrimitiveTypes.Int32),
	change.Col("i64", arrow.PrimitiveTypes.Int64),
	change.Col("u64", arrow.PrimitiveTypes.Uint64),
	change.Col("f32", arrow.PrimitiveTypes.Float32),
	change.Col("f64", arrow.PrimitiveTypes.Float64),
	change.Col("dec", &arrow.Decimal128Type{Precision: 12, Scale: 2}),
	change.Col("s", arrow.BinaryTypes.String),
	change.Col("bin", arrow.BinaryTypes.Binary),
	change.Col("b", arrow.FixedWidthTypes.Boolean),
	change.Col("day", arrow.FixedWidthTypes.Date32),
	change.Col("ts", &arrow.TimestampType{Unit: arrow.Millisecond}),
	change.NotNull("id", arrow.PrimitiveTypes.Int64),
})

// aggRow is a generated row.
type aggRow = change.Row

// genAggRows makes n rows over about groups groups. exact keeps floats to halves
// (sums exact in any order, so retractions and merges give exact results) and leaves
// out NaN and infinities.
func genAggRows(rng *rand.Rand, n, groups int, exact bool) []aggRow {
	strs := []string{"", "a", "b", "ab", "abcdefghij", "zz", "\x00", "ümlaut"}
	out := make([]aggRow, n)
	for i := range out {
		r := make(aggRow, aggSchema.NumFields())
		g := rng.IntN(groups)
		if g%7 != 3 {
			r[0] = change.Int(int64(g % 11))
		}
		if g%5 != 2 {
			r[1] = change.Str(strs[(g/11)%len(strs)] + fmt.Sprint(g/88))
		}
		null := func() bool { return rng.IntN(5) == 0 }
		if !null() {
			r[2] = change.Int(int64(rng.IntN(256) - 128))
		}
		if !null() {
			r[3] = change.Int(int64(rng.Int32()))
		}
		if !null() {
			r[4] = change.Int([]int64{math.MaxInt64, math.MinInt64 + 1, rng.Int64(), -rng.Int64(), 0, 7}[rng.IntN(6)])
		}
		if !null() {
			r[5] = change.Int(int64([]uint64{math.MaxUint64, 1 << 63, rng.Uint64(), 3}[rng.IntN(4)]))
		}
		fl := func() float64 {
			if exact {
				return float64(rng.IntN(41)-20) / 2
			}
			return []float64{math.NaN(), math.Inf(1), math.Inf(-1), 1.5, -2.25, 1e10, float64(rng.IntN(100))}[rng.IntN(7)]
		}
		if !null() {
			r[6] = change.Float(float64(float32(fl())))
		}
		if !null() {
			r[7] = change.Float(fl())
		}
		if !null() {
			r[8] = change.Decimal(decimal128.FromI64(rng.Int64N(2e11) - 1e11))
		}
		if !null() {
			r[9] = change.Str(strs[rng.IntN(len(strs))])
		}
		if !null() {
			r[10] = change.Bytes([]byte(strs[rng.IntN(len(strs))] + "\xff"[:rng.IntN(2)]))
		}
		if !null() {
			r[11] = change.Bool(rng.IntN(2) == 0)
		}
		if !null() {
			r[12] = change.Int(int64(rng.IntN(20000) - 10000))
		}
		if !null() {
			r[13] = change.Int(rng.Int64N(4e12) - 2e12)
		}
		r[14] = change.Int(int64(i))
		out[i] = r
	}
	return out
}

// allAggs is every aggregate that applies to each column of aggSchema.
func allAggs() []reduce.Agg {
	aggs := []reduce.Agg{{Func: reduce.CountStar}}
	for _, f := range aggSchema.Fields()[2:14] {
		aggs = append(aggs,
			reduce.Agg{Func: reduce.Count, Column: f.Name},
			reduce.Agg{Func: reduce.CountDistinct, Column: f.Name},
			reduce.Agg{Func: reduce.Min, Column: f.Name},
			reduce.Agg{Func: reduce.Max, Column: f.Name})
		switch f.Name {
		case "s", "bin", "b", "day", "ts":
		default:
			aggs = append(aggs, reduce.Agg{Func: reduce.Sum, Column: f.Name}, reduce.Agg{Func: reduce.Avg, Column: f.Name})
		}
	}
	return aggs
}

// refAggregate computes the output rows of an aggregate over insert rows.
func refAggregate(out *change.Schema, groupBy []string, aggs []reduce.Agg, rows []aggRow) [][]any {
	var gcols []int
	for _, g := range groupBy {
		gcols = append(gcols, aggSchema.FieldIndex(g))
	}
	type group struct {
		key  change.Row
		rows []aggRow
	}
	var order []string
	groups := map[string]*group{}
	for _, r := range rows {
		var key change.Row
		for _, c := range gcols {
			key = append(key, r[c])
		}
		k := fmt.Sprint(key)
		if groups[k] == nil {
			groups[k] = &group{key: key}
			order = append(order, k)
		}
		groups[k].rows = append(groups[k].rows, r)
	}
	if len(groupBy) == 0 && len(groups) == 0 {
		groups[""] = &group{}
		order = append(order, "")
	}
	var want [][]any
	for _, k := range order {
		g := groups[k]
		row := []any{change.Insert}
		for _, v := range g.key {
			row = append(row, v)
		}
		for i, a := range aggs {
			row = append(row, refAgg(a, out.Field(len(gcols)+i).Type, g.rows))
		}
		want = append(want, row)
	}
	return want
}

// canonFloat is the value SQL sees: -0 is 0.
func canonFloat(v change.Value) change.Value {
	if v.Kind() == change.KindFloat && v.AsFloat() == 0 {
		return change.Float(0)
	}
	return v
}

func refAgg(a reduce.Agg, outType arrow.DataType, rows []aggRow) any {
	if a.Func == reduce.CountStar {
		return int64(len(rows))
	}
	c := aggSchema.FieldIndex(a.Column)
	t := aggSchema.Field(c).Type
	var vals []change.Value
	for _, r := range rows {
		if !r[c].IsNull() {
			vals = append(vals, canonFloat(r[c]))
		}
	}
	switch a.Func {
	case reduce.Count:
		return int64(len(vals))
	case reduce.CountDistinct:
		seen := map[string]bool{}
		for _, v := range vals {
			k := v.String()
			if v.Kind() == change.KindFloat && math.IsNaN(v.AsFloat()) {
				k = "NaN"
			}
			seen[k] = true
		}
		return int64(len(seen))
	case reduce.Min, reduce.Max:
		if len(vals) == 0 {
			return nil
		}
		best := vals[0]
		for _, v := range vals[1:] {
			c := refCompare(t, v, best)
			if a.Func == reduce.Min && c < 0 || a.Func == reduce.Max && c > 0 {
				best = v
			}
		}
		return best
	}
	if len(vals) == 0 {
		return nil
	}
	if t.ID() == arrow.FLOAT32 || t.ID() == arrow.FLOAT64 {
		var s float64
		for _, v := range vals {
			s += v.AsFloat()
		}
		if a.Func == reduce.Avg {
			s /= float64(len(vals))
		}
		return s
	}
	sum := new(big.Int)
	for _, v := range vals {
		switch {
		case t.ID() == arrow.UINT64:
			sum.Add(sum, new(big.Int).SetUint64(uint64(v.AsInt())))
		case v.Kind() == change.KindDecimal:
			sum.Add(sum, v.AsDecimal().BigInt())
		default:
			sum.Add(sum, big.NewInt(v.AsInt()))
		}
	}
	if a.Func == reduce.Sum {
		if outType.ID() == arrow.INT64 {
			return sum.Int64()
		}
		return change.Decimal(decimal128.FromBigInt(sum))
	}
	inScale := int32(0)
	if d, ok := t.(*arrow.Decimal128Type); ok {
		inScale = d.Scale
	}
	outScale := outType.(*arrow.Decimal128Type).Scale
	// sum × 10^(out-in) / n, rounded half away from zero.
	num := new(big.Int).Mul(sum, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(outScale-inScale)), nil))
	n := big.NewInt(int64(len(vals)))
	q, r := new(big.Int).QuoRem(new(big.Int).Abs(num), n, new(big.Int))
	if new(big.Int).Mul(r, big.NewInt(2)).Cmp(n) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	if num.Sign() < 0 {
		q.Neg(q)
	}
	return change.Decimal(decimal128.FromBigInt(q))
}

// changelog turns rows into a changelog whose net rows are returned with it: every row
// is inserted; some are deleted again, some updated (-U of the row, +U of a row with
// new values but the same id), interleaved.
func changelog(rng *rand.Rand, rows []aggRow, groups int, exact bool) (log []aggRow, ops []change.Op, net []aggRow) {
	live := map[int64]aggRow{}
	var ids []int64
	for _, r := range rows {
		log, ops = append(log, r), append(ops, change.Insert)
		live[r[14].AsInt()] = r
		ids = append(ids, r[14].AsInt())
		switch rng.IntN(5) {
		case 0:
			id := ids[rng.IntN(len(ids))]
			if old, ok := live[id]; ok {
				log, ops = append(log, old), append(ops, change.Delete)
				delete(live, id)
			}
		case 1:
			id := ids[rng.IntN(len(ids))]
			if old, ok := live[id]; ok {
				nw := genAggRows(rng, 1, groups, exact)[0]
				nw[14] = old[14]
				log, ops = append(log, old, nw), append(ops, change.UpdateBefore, change.UpdateAfter)
				live[id] = nw
			}
		}
	}
	for _, id := range ids {
		if r, ok := live[id]; ok {
			net = append(net, r)
			delete(live, id)
		}
	}
	slices.SortFunc(net, func(a, b aggRow) int { return cmp.Compare(a[14].AsInt(), b[14].AsInt()) })
	return log, ops, net
}
