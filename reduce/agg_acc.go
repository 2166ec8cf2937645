package reduce

import (
	"bytes"
	"cmp"
	"fmt"
	"math"
	"math/bits"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/internal/order"
)

// avgScale is the scale of avg over integers and decimals (at least): PostgreSQL's
// numeric division keeps 16 significant digits; a fixed Arrow scale keeps 16 places.
const avgScale = 16

// sumType is the output type of sum or avg over a column of type in.
func sumType(f AggFunc, in arrow.DataType) arrow.DataType {
	switch t := in.(type) {
	case *arrow.Decimal128Type:
		if f == Avg {
			return &arrow.Decimal128Type{Precision: 38, Scale: max(t.Scale, avgScale)}
		}
		return &arrow.Decimal128Type{Precision: 38, Scale: t.Scale}
	}
	switch in.ID() {
	case arrow.FLOAT32, arrow.FLOAT64:
		return arrow.PrimitiveTypes.Float64
	}
	if f == Avg {
		return &arrow.Decimal128Type{Precision: 38, Scale: avgScale}
	}
	if in.ID() == arrow.INT64 || in.ID() == arrow.UINT64 {
		return &arrow.Decimal128Type{Precision: 38, Scale: 0}
	}
	return arrow.PrimitiveTypes.Int64
}

// stateTypes are the partial state columns of an aggregate.
func stateTypes(sp *aggSpec) []arrow.DataType {
	i64 := arrow.PrimitiveTypes.Int64
	switch sp.Func {
	case Count:
		return []arrow.DataType{i64}
	case Sum, Avg:
		switch t := sp.in.(type) {
		case *arrow.Decimal128Type:
			return []arrow.DataType{i64, &arrow.Decimal128Type{Precision: 38, Scale: t.Scale}}
		}
		if id := sp.in.ID(); id == arrow.FLOAT32 || id == arrow.FLOAT64 {
			return []arrow.DataType{i64, arrow.PrimitiveTypes.Float64, i64, i64, i64}
		}
		return []arrow.DataType{i64, &arrow.Decimal128Type{Precision: 38, Scale: 0}}
	case Min, Max:
		if sp.ms < 0 {
			return []arrow.DataType{sp.in}
		}
	}
	return nil
}

// accumulator is the state of one aggregate, per group, in typed arrays.
type accumulator interface {
	// grow makes room for groups groups.
	grow(groups int)
	// update adds the input column a, row r to group gids[r], with sign signs[r]
	// (signs nil: every row +1).
	update(a arrow.Array, gids []int32, signs []int64) error
	// merge adds partial state columns (signs as for update).
	merge(cols []arrow.Array, gids []int32, signs []int64) error
	// state returns the state columns of groups gids.
	state(mem memory.Allocator, gids []int32) []arrow.Array
	// output returns the aggregate's values for groups gids.
	output(mem memory.Allocator, gids []int32) (arrow.Array, error)
	// bytes is the Go-heap memory of the state.
	bytes() int64
	// perGroup is the state's bytes per group, for estimates.
	perGroup() int64
}

// valid returns the validity bitmap of a and its offset, nil when a has no NULLs.
func valid(a arrow.Array) ([]byte, int) {
	if a.NullN() == 0 {
		return nil, 0
	}
	return a.NullBitmapBytes(), a.Data().Offset()
}

func isValid(bm []byte, off, r int) bool { return bm == nil || bitutil.BitIsSet(bm, off+r) }

func signOf(signs []int64, r int) int64 {
	if signs == nil {
		return 1
	}
	return signs[r]
}

func growTo[T any](s []T, n int) []T {
	if n <= len(s) {
		return s
	}
	if n > cap(s) {
		s = grown(s, max(2*cap(s), n, 16))
	}
	return s[:n]
}

func int64Array(mem memory.Allocator, gids []int32, v func(g int32) int64) arrow.Array {
	b := array.NewInt64Builder(mem)
	defer b.Release()
	b.Reserve(len(gids))
	for _, g := range gids {
		b.UnsafeAppend(v(g))
	}
	return b.NewArray()
}

// countAcc is count(col).
type countAcc struct{ cnt []int64 }

func (c *countAcc) grow(n int)      { c.cnt = growTo(c.cnt, n) }
func (c *countAcc) bytes() int64    { return 8 * int64(cap(c.cnt)) }
func (c *countAcc) perGroup() int64 { return 8 }

func (c *countAcc) update(a arrow.Array, gids []int32, signs []int64) error {
	bm, off := valid(a)
	for r, g := range gids[:a.Len()] {
		if isValid(bm, off, r) {
			c.cnt[g] += signOf(signs, r)
		}
	}
	return nil
}

func (c *countAcc) merge(cols []arrow.Array, gids []int32, signs []int64) error {
	for r, v := range cols[0].(*array.Int64).Int64Values() {
		c.cnt[gids[r]] += v * signOf(signs, r)
	}
	return nil
}

func (c *countAcc) state(mem memory.Allocator, gids []int32) []arrow.Array {
	return []arrow.Array{int64Array(mem, gids, func(g int32) int64 { return c.cnt[g] })}
}

func (c *countAcc) output(mem memory.Allocator, gids []int32) (arrow.Array, error) {
	return int64Array(mem, gids, func(g int32) int64 { return max(c.cnt[g], 0) }), nil
}

// sum128 is sum or avg over integers or decimals: a count of values and a 128-bit
// sum per group.
type sum128 struct {
	sp      *aggSpec
	scale   int32 // of the input (0 for integers)
	decimal bool  // input is a decimal: check each addition for overflow
	cnt     []int64
	hi      []int64
	lo      []uint64
}

func (s *sum128) grow(n int) {
	s.cnt, s.hi, s.lo = growTo(s.cnt, n), growTo(s.hi, n), growTo(s.lo, n)
}
func (s *sum128) bytes() int64    { return 8 * int64(cap(s.cnt)+cap(s.hi)+cap(s.lo)) }
func (s *sum128) perGroup() int64 { return 24 }

// add adds (vhi, vlo) × sign to group g; it reports a 128-bit overflow.
func (s *sum128) add(g int32, vhi int64, vlo uint64, sign int64) bool {
	if sign < 0 {
		vlo = ^vlo + 1
		vhi = ^vhi
		if vlo == 0 {
			vhi++
		}
	}
	hi := s.hi[g]
	lo, c := bits.Add64(s.lo[g], vlo, 0)
	h := hi + vhi + int64(c)
	s.hi[g], s.lo[g] = h, lo
	return (hi < 0) == (vhi < 0) && (h < 0) != (hi < 0)
}

func (s *sum128) overflow() error {
	return fmt.Errorf("reduce: %s(%s): the sum overflows 128 bits", s.sp.Func, s.sp.Column)
}

// integer is every Arrow integer's physical type.
type integer interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64
}

func sumInts[T integer](s *sum128, vs []T, bm []byte, off int, gids []int32, signs []int64) {
	var zero T
	signed := ^zero < 0
	if bm == nil && signs == nil {
		for r, v := range vs {
			g := gids[r]
			vlo, vhi := uint64(v), int64(0)
			if signed {
				vlo, vhi = uint64(int64(v)), int64(v)>>63
			}
			lo, c := bits.Add64(s.lo[g], vlo, 0)
			s.lo[g], s.hi[g] = lo, s.hi[g]+vhi+int64(c)
			s.cnt[g]++
		}
		return
	}
	for r, v := range vs {
		if !isValid(bm, off, r) {
			continue
		}
		g := gids[r]
		sign := signOf(signs, r)
		if signed {
			s.add(g, int64(v)>>63, uint64(int64(v)), sign)
		} else {
			s.add(g, 0, uint64(v), sign)
		}
		s.cnt[g] += sign
	}
}

func (s *sum128) update(a arrow.Array, gids []int32, signs []int64) error {
	bm, off := valid(a)
	d := a.Data()
	switch a.DataType().ID() {
	case arrow.INT8:
		sumInts(s, arrow.GetValues[int8](d, 1), bm, off, gids, signs)
	case arrow.INT16:
		sumInts(s, arrow.GetValues[int16](d, 1), bm, off, gids, signs)
	case arrow.INT32:
		sumInts(s, arrow.GetValues[int32](d, 1), bm, off, gids, signs)
	case arrow.INT64:
		sumInts(s, arrow.GetValues[int64](d, 1), bm, off, gids, signs)
	case arrow.UINT8:
		sumInts(s, arrow.GetValues[uint8](d, 1), bm, off, gids, signs)
	case arrow.UINT16:
		sumInts(s, arrow.GetValues[uint16](d, 1), bm, off, gids, signs)
	case arrow.UINT32:
		sumInts(s, arrow.GetValues[uint32](d, 1), bm, off, gids, signs)
	case arrow.UINT64:
		sumInts(s, arrow.GetValues[uint64](d, 1), bm, off, gids, signs)
	case arrow.DECIMAL128:
		return s.addDecimals(arrow.GetValues[decimal128.Num](d, 1), bm, off, gids, signs, nil)
	}
	return nil
}

func (s *sum128) addDecimals(vs []decimal128.Num, bm []byte, off int, gids []int32, signs []int64, counts []int64) error {
	if bm == nil && signs == nil && counts == nil { // inserts without NULLs: the common case
		for r, v := range vs {
			g := gids[r]
			hi, vhi := s.hi[g], v.HighBits()
			lo, c := bits.Add64(s.lo[g], v.LowBits(), 0)
			h := hi + vhi + int64(c)
			if (hi < 0) == (vhi < 0) && (h < 0) != (hi < 0) && s.decimal {
				return s.overflow()
			}
			s.hi[g], s.lo[g] = h, lo
			s.cnt[g]++
		}
		return nil
	}
	for r, v := range vs {
		if !isValid(bm, off, r) {
			continue
		}
		g := gids[r]
		sign := signOf(signs, r)
		if s.add(g, v.HighBits(), v.LowBits(), sign) && s.decimal {
			return s.overflow()
		}
		if counts != nil {
			s.cnt[g] += counts[r] * sign
		} else {
			s.cnt[g] += sign
		}
	}
	return nil
}

func (s *sum128) merge(cols []arrow.Array, gids []int32, signs []int64) error {
	counts := cols[0].(*array.Int64).Int64Values()
	sums := cols[1]
	bm, off := valid(sums)
	for r, n := range counts {
		if !isValid(bm, off, r) {
			s.cnt[gids[r]] += n * signOf(signs, r)
		}
	}
	return s.addDecimals(arrow.GetValues[decimal128.Num](sums.Data(), 1), bm, off, gids, signs, counts)
}

func (s *sum128) state(mem memory.Allocator, gids []int32) []arrow.Array {
	b := array.NewDecimal128Builder(mem, &arrow.Decimal128Type{Precision: 38, Scale: s.scale})
	defer b.Release()
	b.Reserve(len(gids))
	for _, g := range gids {
		b.UnsafeAppend(decimal128.New(s.hi[g], s.lo[g]))
	}
	return []arrow.Array{int64Array(mem, gids, func(g int32) int64 { return s.cnt[g] }), b.NewArray()}
}

func (s *sum128) output(mem memory.Allocator, gids []int32) (arrow.Array, error) {
	out := s.sp.out.Type
	if out.ID() == arrow.INT64 {
		b := array.NewInt64Builder(mem)
		defer b.Release()
		b.Reserve(len(gids))
		for _, g := range gids {
			if s.cnt[g] <= 0 {
				b.AppendNull()
				continue
			}
			hi, lo := s.hi[g], s.lo[g]
			if hi != int64(lo)>>63 {
				return nil, fmt.Errorf("reduce: sum(%s) = %s overflows int64", s.sp.Column, decimal128.New(hi, lo).BigInt())
			}
			b.UnsafeAppend(int64(lo))
		}
		return b.NewArray(), nil
	}
	dt := out.(*arrow.Decimal128Type)
	b := array.NewDecimal128Builder(mem, dt)
	defer b.Release()
	b.Reserve(len(gids))
	for _, g := range gids {
		if s.cnt[g] <= 0 {
			b.AppendNull()
			continue
		}
		v := decimal128.New(s.hi[g], s.lo[g])
		if s.sp.Func == Avg {
			var ok bool
			if v, ok = divRound(v, s.cnt[g], dt.Scale-s.scale); !ok {
				return nil, fmt.Errorf("reduce: avg(%s) does not fit decimal(38, %d)", s.sp.Column, dt.Scale)
			}
		}
		if !v.FitsInPrecision(38) {
			return nil, fmt.Errorf("reduce: %s(%s) = %s does not fit 38 digits", s.sp.Func, s.sp.Column, v.BigInt())
		}
		b.UnsafeAppend(v)
	}
	return b.NewArray(), nil
}

// divRound returns sum / n with k more decimal places, rounded half away from zero,
// as PostgreSQL's numeric division rounds; false if it does not fit 38 digits.
func divRound(sum decimal128.Num, n int64, k int32) (decimal128.Num, bool) {
	neg := sum.Sign() < 0
	abs := sum.Abs()
	dn := decimal128.FromI64(n)
	q, r := abs.Div(dn)
	if k > 0 {
		if q.Greater(decimal128.GetMaxValue(38 - k)) {
			return decimal128.Num{}, false
		}
		m := decimal128.GetScaleMultiplier(int(k))
		f, fr := r.Mul(m).Div(dn) // r < n < 2^63: r × 10^16 fits
		q = q.Mul(m).Add(f)
		r = fr
	}
	if r.Add(r).GreaterEqual(dn) {
		q = q.Add(decimal128.FromI64(1))
	}
	if neg {
		q = q.Negate()
	}
	return q, q.FitsInPrecision(38)
}

// sumFloat is sum or avg over floats: a count of values, the sum of the finite ones,
// and counts of +Inf, -Inf and NaN, so that retracting an infinity or a NaN restores
// the sum of what remains.
type sumFloat struct {
	sp         *aggSpec
	cnt        []int64
	sum        []float64
	special    bool // a non-finite value was seen: pinf, ninf, nan are in use
	pinf, ninf []int64
	nan        []int64
}

func (s *sumFloat) grow(n int) {
	s.cnt, s.sum = growTo(s.cnt, n), growTo(s.sum, n)
	if s.special {
		s.pinf, s.ninf, s.nan = growTo(s.pinf, n), growTo(s.ninf, n), growTo(s.nan, n)
	}
}

func (s *sumFloat) bytes() int64 {
	return 8 * int64(cap(s.cnt)+cap(s.sum)+cap(s.pinf)+cap(s.ninf)+cap(s.nan))
}
func (s *sumFloat) perGroup() int64 { return 40 }

func (s *sumFloat) add(g int32, v float64, sign int64) {
	switch {
	case math.IsInf(v, 1):
		s.specials(len(s.cnt))
		s.pinf[g] += sign
	case math.IsInf(v, -1):
		s.specials(len(s.cnt))
		s.ninf[g] += sign
	case v != v:
		s.specials(len(s.cnt))
		s.nan[g] += sign
	default:
		s.sum[g] += v * float64(sign)
	}
}

func (s *sumFloat) specials(n int) {
	if !s.special {
		s.special = true
		s.pinf, s.ninf, s.nan = make([]int64, n), make([]int64, n), make([]int64, n)
	}
}

func sumFloats[T float32 | float64](s *sumFloat, vs []T, bm []byte, off int, gids []int32, signs []int64) {
	if bm == nil && signs == nil {
		for r, v := range vs {
			g := gids[r]
			if f := float64(v); f-f == 0 { // finite
				s.sum[g] += f
			} else {
				s.add(g, f, 1)
			}
			s.cnt[g]++
		}
		return
	}
	for r, v := range vs {
		if isValid(bm, off, r) {
			sign := signOf(signs, r)
			s.add(gids[r], float64(v), sign)
			s.cnt[gids[r]] += sign
		}
	}
}

func (s *sumFloat) update(a arrow.Array, gids []int32, signs []int64) error {
	bm, off := valid(a)
	if a.DataType().ID() == arrow.FLOAT32 {
		sumFloats(s, arrow.GetValues[float32](a.Data(), 1), bm, off, gids, signs)
	} else {
		sumFloats(s, arrow.GetValues[float64](a.Data(), 1), bm, off, gids, signs)
	}
	return nil
}

func (s *sumFloat) merge(cols []arrow.Array, gids []int32, signs []int64) error {
	cnt := cols[0].(*array.Int64).Int64Values()
	sum := cols[1].(*array.Float64).Float64Values()
	pinf, ninf, nan := cols[2].(*array.Int64).Int64Values(), cols[3].(*array.Int64).Int64Values(), cols[4].(*array.Int64).Int64Values()
	for r, g := range gids[:len(cnt)] {
		sign := signOf(signs, r)
		s.cnt[g] += cnt[r] * sign
		s.sum[g] += sum[r] * float64(sign)
		if pinf[r] != 0 || ninf[r] != 0 || nan[r] != 0 {
			s.specials(len(s.cnt))
			s.pinf[g] += pinf[r] * sign
			s.ninf[g] += ninf[r] * sign
			s.nan[g] += nan[r] * sign
		}
	}
	return nil
}

func (s *sumFloat) special3(g int32) (p, n, x int64) {
	if !s.special {
		return 0, 0, 0
	}
	return s.pinf[g], s.ninf[g], s.nan[g]
}

func (s *sumFloat) state(mem memory.Allocator, gids []int32) []arrow.Array {
	b := array.NewFloat64Builder(mem)
	defer b.Release()
	b.Reserve(len(gids))
	for _, g := range gids {
		b.UnsafeAppend(s.sum[g])
	}
	sp := func(i int) func(g int32) int64 {
		return func(g int32) int64 {
			p, n, x := s.special3(g)
			return [3]int64{p, n, x}[i]
		}
	}
	return []arrow.Array{int64Array(mem, gids, func(g int32) int64 { return s.cnt[g] }), b.NewArray(),
		int64Array(mem, gids, sp(0)), int64Array(mem, gids, sp(1)), int64Array(mem, gids, sp(2))}
}

func (s *sumFloat) output(mem memory.Allocator, gids []int32) (arrow.Array, error) {
	b := array.NewFloat64Builder(mem)
	defer b.Release()
	b.Reserve(len(gids))
	for _, g := range gids {
		if s.cnt[g] <= 0 {
			b.AppendNull()
			continue
		}
		v := s.sum[g]
		switch p, n, x := s.special3(g); {
		case x > 0 || p > 0 && n > 0:
			v = math.NaN()
		case p > 0:
			v = math.Inf(1)
		case n > 0:
			v = math.Inf(-1)
		}
		if s.sp.Func == Avg {
			v /= float64(s.cnt[g])
		}
		b.UnsafeAppend(v)
	}
	return b.NewArray(), nil
}

// valueKind is how min and max compare values of a column, by their normalized words.
type valueKind uint8

const (
	valSigned valueKind = iota
	valUnsigned
	valFloat
	valDecimal
	valBytes
)

func valueKindOf(t arrow.DataType) valueKind {
	switch t.ID() {
	case arrow.UINT64:
		return valUnsigned
	case arrow.FLOAT32, arrow.FLOAT64:
		return valFloat
	case arrow.DECIMAL128:
		return valDecimal
	case arrow.STRING, arrow.BINARY:
		return valBytes
	}
	return valSigned
}

// compareNorm orders two normalized values of kind k.
func compareNorm(k valueKind, a, b normValue) int {
	switch k {
	case valUnsigned:
		return cmp.Compare(uint64(a.w0), uint64(b.w0))
	case valFloat:
		return order.CompareFloat(math.Float64frombits(uint64(a.w0)), math.Float64frombits(uint64(b.w0)))
	case valDecimal:
		if c := cmp.Compare(a.w1, b.w1); c != 0 {
			return c
		}
		return cmp.Compare(uint64(a.w0), uint64(b.w0))
	case valBytes:
		return bytes.Compare(a.s, b.s)
	}
	return cmp.Compare(a.w0, b.w0)
}

// minMax is min or max of an insert-only input: the best value so far per group, in
// normalized form (strings in an arena, compacted when half of it is garbage).
type minMax struct {
	sp      *aggSpec
	max     bool
	kind    valueKind
	has     []bool
	w0, w1  []int64
	arena   []byte
	start   []int64
	length  []int32
	garbage int64
	keys    *batchKeys
}

func newMinMax(sp *aggSpec, l *keyLayout) *minMax {
	m := &minMax{sp: sp, max: sp.Func == Max, kind: valueKindOf(sp.in)}
	m.keys = &batchKeys{layout: l, words: make([][]int64, l.words), bufs: make([][]int64, l.words), strs: make([]byteCol, l.strs)}
	return m
}

func (m *minMax) grow(n int) {
	m.has, m.w0 = growTo(m.has, n), growTo(m.w0, n)
	if m.kind == valDecimal {
		m.w1 = growTo(m.w1, n)
	}
	if m.kind == valBytes {
		m.start, m.length = growTo(m.start, n), growTo(m.length, n)
	}
}

func (m *minMax) bytes() int64 {
	return int64(cap(m.has)) + 8*int64(cap(m.w0)+cap(m.w1)+cap(m.start)) + 4*int64(cap(m.length)) +
		int64(cap(m.arena)) + m.keys.bufBytes()
}

func (m *minMax) perGroup() int64 {
	return 1 + 8 + 8*int64(b2i(m.kind == valDecimal)) + 12*int64(b2i(m.kind == valBytes))
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (m *minMax) value(g int32) normValue {
	v := normValue{w0: m.w0[g]}
	switch m.kind {
	case valDecimal:
		v.w1 = m.w1[g]
	case valBytes:
		v.s = m.arena[m.start[g] : m.start[g]+int64(m.length[g])]
	}
	return v
}

// set makes v group g's value (for strings, its old value is garbage already).
func (m *minMax) set(g int32, v normValue) {
	m.w0[g] = v.w0
	switch m.kind {
	case valDecimal:
		m.w1[g] = v.w1
	case valBytes:
		if len(m.arena)+len(v.s) > cap(m.arena) && m.garbage > int64(len(m.arena))/2 {
			m.compact()
		}
		m.start[g], m.length[g] = int64(len(m.arena)), int32(len(v.s))
		m.arena = append(m.arena, v.s...)
	}
	m.has[g] = true
}

// compact copies the live strings into a new arena.
func (m *minMax) compact() {
	live := int64(len(m.arena)) - m.garbage
	arena := make([]byte, 0, max(2*live, 256))
	for g, h := range m.has {
		if h {
			s := m.arena[m.start[g] : m.start[g]+int64(m.length[g])]
			m.start[g] = int64(len(arena))
			arena = append(arena, s...)
		}
	}
	m.arena, m.garbage = arena, 0
}

// offer makes v group g's value if it is better.
func (m *minMax) offer(g int32, v normValue) {
	if m.has[g] {
		c := compareNorm(m.kind, v, m.value(g))
		if m.max && c <= 0 || !m.max && c >= 0 {
			return
		}
		if m.kind == valBytes {
			m.garbage += int64(m.length[g])
			m.has[g] = false
		}
	}
	m.set(g, v)
}

func (m *minMax) take(a arrow.Array, gids []int32, signs []int64) error {
	if signs != nil {
		for _, s := range signs[:a.Len()] {
			if s < 0 {
				return fmt.Errorf("reduce: %s(%s): a retraction in an InsertOnly aggregate", m.sp.Func, m.sp.Column)
			}
		}
	}
	k := m.keys
	n := a.Len()
	k.n = n
	p := k.layout.parts[0]
	k.loadColumn(a, p, n)
	bm, off := valid(a)
	switch m.kind {
	case valSigned, valUnsigned, valFloat:
		m.takeWords(k.words[p.word][:n], gids[:n], bm, off)
		return nil
	}
	for r, g := range gids[:n] {
		if !isValid(bm, off, r) {
			continue
		}
		var v normValue
		switch p.kind {
		case kindBytes:
			v.s = k.strs[p.str].at(r)
		case kindDecimal:
			v.w0, v.w1 = k.words[p.word][r], k.words[p.word+1][r]
		default:
			v.w0 = k.words[p.word][r]
		}
		m.offer(g, v)
	}
	return nil
}

// takeWords offers one-word values, typed loops without normValue.
func (m *minMax) takeWords(ws []int64, gids []int32, bm []byte, off int) {
	better := func(w, cur int64) bool {
		switch m.kind {
		case valUnsigned:
			return m.max && uint64(w) > uint64(cur) || !m.max && uint64(w) < uint64(cur)
		case valFloat:
			c := order.CompareFloat(math.Float64frombits(uint64(w)), math.Float64frombits(uint64(cur)))
			return m.max && c > 0 || !m.max && c < 0
		}
		return m.max && w > cur || !m.max && w < cur
	}
	if m.kind == valSigned && bm == nil {
		has, w0 := m.has, m.w0
		if m.max {
			for r, w := range ws {
				if g := gids[r]; !has[g] || w > w0[g] {
					has[g], w0[g] = true, w
				}
			}
		} else {
			for r, w := range ws {
				if g := gids[r]; !has[g] || w < w0[g] {
					has[g], w0[g] = true, w
				}
			}
		}
		return
	}
	for r, w := range ws {
		if !isValid(bm, off, r) {
			continue
		}
		if g := gids[r]; !m.has[g] || better(w, m.w0[g]) {
			m.has[g], m.w0[g] = true, w
		}
	}
}

func (m *minMax) update(a arrow.Array, gids []int32, signs []int64) error {
	return m.take(a, gids, signs)
}

func (m *minMax) merge(cols []arrow.Array, gids []int32, signs []int64) error {
	return m.take(cols[0], gids, signs)
}

func (m *minMax) column(mem memory.Allocator, gids []int32) arrow.Array {
	return buildColumn(mem, m.sp.in, len(gids), func(i int) bool { return !m.has[gids[i]] },
		func(i int) normValue { return m.value(gids[i]) })
}

func (m *minMax) state(mem memory.Allocator, gids []int32) []arrow.Array {
	return []arrow.Array{m.column(mem, gids)}
}

func (m *minMax) output(mem memory.Allocator, gids []int32) (arrow.Array, error) {
	return m.column(mem, gids), nil
}
