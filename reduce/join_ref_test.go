package reduce_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/reduce"
	"github.com/strata-data/strata/reduce/reducetest"
)

// The reference the join kernels are checked against: a nested loop over plain rows,
// written from SQL's definition of each join type.

// refJoin joins plain rows (each led by its op, all +I) of left and right on the key
// columns lk/rk (and pred, when not nil), emitting the output columns cols.
func refJoin(typ reduce.JoinType, left, right [][]any, lk, rk []int, pred func(l, r []any) bool, cols []refCol) [][]any {
	match := func(l, r []any) bool {
		for i := range lk {
			if !refKeyEqual(l[1+lk[i]], r[1+rk[i]]) {
				return false
			}
		}
		return pred == nil || pred(l[1:], r[1:])
	}
	row := func(l, r []any) []any {
		out := []any{change.Insert}
		for _, c := range cols {
			src := l
			if c.right {
				src = r
			}
			if src == nil {
				out = append(out, nil)
			} else {
				out = append(out, src[1+c.col])
			}
		}
		return out
	}
	var out [][]any
	rightMatched := make([]bool, len(right))
	for _, l := range left {
		found := false
		for ri, r := range right {
			if !match(l, r) {
				continue
			}
			found = true
			rightMatched[ri] = true
			if typ != reduce.SemiJoin && typ != reduce.AntiJoin {
				out = append(out, row(l, r))
			}
		}
		switch {
		case typ == reduce.SemiJoin && found, typ == reduce.AntiJoin && !found,
			!found && (typ == reduce.LeftJoin || typ == reduce.FullJoin):
			out = append(out, row(l, nil))
		}
	}
	if typ == reduce.RightJoin || typ == reduce.FullJoin {
		for ri, r := range right {
			if !rightMatched[ri] {
				out = append(out, row(nil, r))
			}
		}
	}
	return out
}

// refCol is an output column of refJoin.
type refCol struct {
	right bool
	col   int
}

// refKeyEqual is SQL equality of two plain key values as a join compares them: NULL
// equals nothing, NaN equals NaN, -0 equals 0.
func refKeyEqual(a, b any) bool {
	if a == nil || b == nil {
		return false
	}
	switch a := a.(type) {
	case float64:
		b := b.(float64)
		return a == b || math.IsNaN(a) && math.IsNaN(b)
	case time.Duration:
		return a == b.(time.Duration)
	case []byte:
		if b, ok := b.(string); ok {
			return string(a) == b
		}
		return bytes.Equal(a, b.([]byte))
	case string:
		if b, ok := b.([]byte); ok {
			return a == string(b)
		}
	case time.Time:
		return a.Equal(b.(time.Time))
	}
	return a == b
}

// defaultCols is the default output of a join of l and r.
func defaultCols(typ reduce.JoinType, l, r *change.Schema) []refCol {
	var cols []refCol
	for i := range l.NumFields() {
		cols = append(cols, refCol{col: i})
	}
	if typ != reduce.SemiJoin && typ != reduce.AntiJoin {
		for i := range r.NumFields() {
			cols = append(cols, refCol{right: true, col: i})
		}
	}
	return cols
}

// keyGen makes plain values of one key type from a small domain, so keys repeat.
type keyGen struct {
	name string
	typ  arrow.DataType
	val  func(i int) any
}

var day0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

var keyGens = []keyGen{
	{"int64", arrow.PrimitiveTypes.Int64, func(i int) any { return int64(i - 2) }},
	{"int32", arrow.PrimitiveTypes.Int32, func(i int) any { return int32(i - 2) }},
	{"int8", arrow.PrimitiveTypes.Int8, func(i int) any { return int8(i) }},
	{"uint16", arrow.PrimitiveTypes.Uint16, func(i int) any { return uint16(i) }},
	{"uint64", arrow.PrimitiveTypes.Uint64, func(i int) any { return uint64(i) << 62 }},
	{"float64", arrow.PrimitiveTypes.Float64, func(i int) any { return []float64{0, math.Copysign(0, -1), math.NaN(), 1.5, -2.25, math.Inf(1)}[i%6] }},
	{"float32", arrow.PrimitiveTypes.Float32, func(i int) any { return []float32{0, 1.5, float32(math.NaN()), -3}[i%4] }},
	{"decimal", &arrow.Decimal128Type{Precision: 20, Scale: 2}, func(i int) any { return fmt.Sprintf("%d.%02d", i*1000000007, i) }},
	{"string", arrow.BinaryTypes.String, func(i int) any {
		return []string{"", "a", "ab", "ümlaut", "a\x00b", "long key string over 16 bytes"}[i%6]
	}},
	{"binary", arrow.BinaryTypes.Binary, func(i int) any { return []byte{byte(i), 0, byte(i * 7)}[:i%3] }},
	{"bool", arrow.FixedWidthTypes.Boolean, func(i int) any { return i%2 == 0 }},
	{"date32", arrow.FixedWidthTypes.Date32, func(i int) any { return day0.AddDate(0, 0, i) }},
	{"timestamp", &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, func(i int) any { return day0.Add(time.Duration(i) * time.Microsecond) }},
	{"time64", arrow.FixedWidthTypes.Time64us, func(i int) any { return time.Duration(i) * time.Second }},
	{"time32", arrow.FixedWidthTypes.Time32ms, func(i int) any { return time.Duration(i) * time.Second }},
	{"uint32", arrow.PrimitiveTypes.Uint32, func(i int) any { return uint32(i) << 30 }},
	{"int16", arrow.PrimitiveTypes.Int16, func(i int) any { return int16(-i) }},
}

// genKey returns a random key value of g: NULL with probability nulls.
func genKey(rng *rand.Rand, g keyGen, domain int, nulls float64) any {
	if rng.Float64() < nulls {
		return nil
	}
	return g.val(rng.IntN(domain))
}

// sideSchema is an input with key columns of the given types, then a row id and a
// string payload.
func sideSchema(prefix string, keys []arrow.DataType) *change.Schema {
	var fs []arrow.Field
	for i, t := range keys {
		fs = append(fs, change.Col(fmt.Sprintf("%sk%d", prefix, i), t))
	}
	fs = append(fs, change.NotNull(prefix+"id", arrow.PrimitiveTypes.Int64), change.Col("payload", arrow.BinaryTypes.String))
	return change.MustSchema(fs)
}

// genRows returns n insert rows of s: keys from gens, a row id, a payload.
func genRows(rng *rand.Rand, gens []keyGen, n, domain int, nulls float64, idBase int) [][]any {
	rows := make([][]any, n)
	for i := range rows {
		row := []any{change.Insert}
		for _, g := range gens {
			row = append(row, genKey(rng, g, domain, nulls))
		}
		var payload any = fmt.Sprintf("p%d", rng.IntN(5))
		if rng.IntN(4) == 0 {
			payload = nil
		}
		rows[i] = append(row, int64(idBase+i), payload)
	}
	return rows
}

// genChanges turns insert rows into a valid changelog: some rows are deleted again,
// some updated (-U of the old image, +U of one with a new payload, possibly a new key),
// interleaved in order. Its net effect is returned with it.
func genChanges(rng *rand.Rand, rows [][]any, gens []keyGen, domain int) (log, net [][]any) {
	live := make([][]any, 0, len(rows))
	for _, r := range rows {
		log = append(log, r)
		live = append(live, r)
		switch rng.IntN(6) {
		case 0: // delete a live row
			i := rng.IntN(len(live))
			d := append([]any{change.Delete}, live[i][1:]...)
			log = append(log, d)
			live = append(live[:i], live[i+1:]...)
		case 1: // update a live row
			i := rng.IntN(len(live))
			before := append([]any{change.UpdateBefore}, live[i][1:]...)
			after := append([]any{change.UpdateAfter}, live[i][1:]...)
			if rng.IntN(2) == 0 && len(gens) > 0 {
				after[1] = genKey(rng, gens[0], domain, 0.1)
			}
			after[len(after)-1] = fmt.Sprintf("u%d", rng.IntN(3))
			log = append(log, before, after)
			live[i] = append([]any{change.Insert}, after[1:]...)
		}
	}
	return log, live
}

// canon returns rows as change.Batch.Plain returns them after a round trip through s,
// so the reference compares the same Go types the join's output has.
func canon(s *change.Schema, rows [][]any) [][]any {
	b, err := change.FromRows(nil, s, rows)
	if err != nil {
		panic(err)
	}
	defer b.Release()
	return b.Plain()
}

// rowsOf reads the rows of an input as plain values.
func rowsOf(in reducetest.Input) [][]any {
	s := in.Stream(nil, 0)
	defer s.Close()
	var rows [][]any
	for {
		b, err := s.Next(context.Background())
		if err != nil {
			return rows
		}
		rows = append(rows, b.Plain()...)
		b.Release()
	}
}

// assertNoSpills checks that dir holds no files.
func assertNoSpills(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, ents, "spill files left behind")
}
