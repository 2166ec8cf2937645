package expr

import (
	"bytes"
	"cmp"
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// comparison operators
const (
	opEq = iota
	opNe
	opLt
	opLe
	opGt
	opGe
)

var cmpOps = map[string]int{"=": opEq, "<>": opNe, "!=": opNe, "<": opLt, "<=": opLe, ">": opGt, ">=": opGe}

// swapOp is the operator with its operands swapped: c < x is x > c.
func swapOp(op int) int {
	switch op {
	case opLt:
		return opGt
	case opLe:
		return opGe
	case opGt:
		return opLt
	case opGe:
		return opLe
	}
	return op
}

func cmpHolds(op, c int) bool {
	switch op {
	case opEq:
		return c == 0
	case opNe:
		return c != 0
	case opLt:
		return c < 0
	case opLe:
		return c <= 0
	case opGt:
		return c > 0
	}
	return c >= 0
}

// packBits sets bit i of out to f(i) for i < n, eight rows per byte store.
func packBits(out []byte, n int, f func(i int) bool) {
	for i := 0; i < n; i += 8 {
		var b byte
		for j := 0; j < 8 && i+j < n; j++ {
			if f(i + j) {
				b |= 1 << j
			}
		}
		out[i/8] = b
	}
}

// strEqConst sets bit i of out when string i of s is c: lengths first, from the
// offsets, so most rows are decided without touching their bytes.
func strEqConst(out []byte, n int, s strs, c []byte) {
	off, data, l := s.off, s.data, int32(len(c))
	for i := 0; i < n; i += 8 {
		var b byte
		for j := 0; j < 8 && i+j < n; j++ {
			lo, hi := off[i+j], off[i+j+1]
			if hi-lo == l && string(data[lo:hi]) == string(c) {
				b |= 1 << j
			}
		}
		out[i/8] = b
	}
}

// cmpOrdered compares columns or a column and a constant of an ordered type with
// Go's operators (integers, dates, timestamps).
func cmpOrdered[T cmp.Ordered](op int, x, y operand[T], n int, out []byte) {
	if x.vc && !y.vc {
		x, y = y, x
		op = swapOp(op)
	}
	if y.vc {
		c, v := y.c, x.v[:n]
		switch op {
		case opEq:
			cmpConstEq(v, c, out)
		case opNe:
			cmpConstNe(v, c, out)
		case opLt:
			cmpConstLt(v, c, out)
		case opLe:
			cmpConstLe(v, c, out)
		case opGt:
			cmpConstGt(v, c, out)
		case opGe:
			cmpConstGe(v, c, out)
		}
		return
	}
	a, b := x.v[:n], y.v[:n]
	switch op {
	case opEq:
		cmpColsEq(a, b, out)
	case opNe:
		cmpColsNe(a, b, out)
	case opLt:
		cmpColsLt(a, b, out)
	case opLe:
		cmpColsLe(a, b, out)
	case opGt:
		cmpColsGt(a, b, out)
	case opGe:
		cmpColsGe(a, b, out)
	}
}

// fcmp orders floats like PostgreSQL: NaN equals NaN and sorts above every number.
func fcmp[T floatT](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	case a == b:
		return 0
	}
	an, bn := math.IsNaN(float64(a)), math.IsNaN(float64(b))
	switch {
	case an && bn:
		return 0
	case an:
		return 1
	}
	return -1
}

// intervalKey is an interval's span for comparison: PostgreSQL compares intervals
// as months*30 days + days, then time.
func intervalKey(v arrow.MonthDayNanoInterval) (int64, int64) {
	d := int64(v.Months)*30 + int64(v.Days)
	ns := v.Nanoseconds
	d += ns / (86400 * 1e9)
	ns %= 86400 * 1e9
	if ns < 0 {
		ns += 86400 * 1e9
		d--
	}
	return d, ns
}

func cmpInterval(a, b arrow.MonthDayNanoInterval) int {
	ad, an := intervalKey(a)
	bd, bn := intervalKey(b)
	if c := cmp.Compare(ad, bd); c != 0 {
		return c
	}
	return cmp.Compare(an, bn)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// compareKernel compares two operands of the same type t.
func compareKernel(ctx *Context, op int, a, b datum, n int, t arrow.DataType) (arrow.Array, error) {
	mem := ctx.mem()
	vb, nulls := andValidity(mem, n, a.arr, b.arr)
	ob, out := allocBits(mem, n)
	compareInto(op, a, b, n, t, out)
	return makeArray(Bool, n, nulls, vb, ob), nil
}

func compareInto(op int, a, b datum, n int, t arrow.DataType, out []byte) {
	if a.arr == nil && b.arr == nil {
		// two constants (BETWEEN or IN with a column elsewhere): compare once
		aa, err1 := broadcast(memory.DefaultAllocator, a.sc, 1)
		bb, err2 := broadcast(memory.DefaultAllocator, b.sc, 1)
		if err1 != nil || err2 != nil {
			panic(fmt.Sprintf("expr: broadcast constants: %v %v", err1, err2))
		}
		defer aa.Release()
		defer bb.Release()
		one := make([]byte, 8)
		compareInto(op, datum{arr: aa}, datum{arr: bb}, 1, t, one)
		bitutil.SetBitsTo(out, 0, int64(n), one[0]&1 != 0)
		return
	}
	switch t.ID() {
	case arrow.INT16:
		cmpOrdered(op, operandOf[int16](a), operandOf[int16](b), n, out)
	case arrow.INT32, arrow.DATE32:
		cmpOrdered(op, operandOf[int32](a), operandOf[int32](b), n, out)
	case arrow.INT64, arrow.TIMESTAMP:
		cmpOrdered(op, operandOf[int64](a), operandOf[int64](b), n, out)
	case arrow.FLOAT32:
		x, y := operandOf[float32](a), operandOf[float32](b)
		packBits(out, n, func(i int) bool { return cmpHolds(op, fcmp(x.at(i), y.at(i))) })
	case arrow.FLOAT64:
		x, y := operandOf[float64](a), operandOf[float64](b)
		packBits(out, n, func(i int) bool { return cmpHolds(op, fcmp(x.at(i), y.at(i))) })
	case arrow.DECIMAL128:
		x, y := operandOf[num](a), operandOf[num](b)
		if x.vc && !y.vc {
			x, y = y, x
			op = swapOp(op)
		}
		if y.vc {
			cmpDecConst(op, x.v, y.c, n, out)
		} else {
			packBits(out, n, func(i int) bool { return cmpHolds(op, cmp128(x.v[i], y.v[i])) })
		}
	case arrow.INTERVAL_MONTH_DAY_NANO:
		x, y := operandOf[arrow.MonthDayNanoInterval](a), operandOf[arrow.MonthDayNanoInterval](b)
		packBits(out, n, func(i int) bool { return cmpHolds(op, cmpInterval(x.at(i), y.at(i))) })
	case arrow.BOOL:
		x, y := boolOperand(a), boolOperand(b)
		packBits(out, n, func(i int) bool { return cmpHolds(op, cmp.Compare(b2i(x.at(i)), b2i(y.at(i)))) })
	case arrow.STRING, arrow.BINARY:
		x, y := bytesOperand(a), bytesOperand(b)
		if x.vc && !y.vc {
			x, y = y, x
			op = swapOp(op)
		}
		if y.vc && op == opEq {
			strEqConst(out, n, x.s, y.c)
			return
		}
		packBits(out, n, func(i int) bool { return cmpHolds(op, bytes.Compare(x.at(i), y.at(i))) })
	}
}

// boolOp is a boolean column or constant.
type boolOp struct {
	bits []byte
	off  int
	c    bool
	vc   bool
}

func boolOperand(d datum) boolOp {
	if d.arr == nil {
		return boolOp{c: constVal[bool8](d.sc)&1 != 0, vc: true}
	}
	return boolOp{bits: d.arr.Data().Buffers()[1].Bytes(), off: d.arr.Data().Offset()}
}

func (o boolOp) at(i int) bool {
	if o.vc {
		return o.c
	}
	i += o.off
	return o.bits[i>>3]&(1<<(i&7)) != 0
}

// bool8 reads a boolean constant: a one-row boolean array's first byte.
type bool8 = uint8

// bytesOp is a string/binary column or constant.
type bytesOp struct {
	s  strs
	c  []byte
	vc bool
}

func bytesOperand(d datum) bytesOp {
	if d.arr == nil {
		return bytesOp{c: constBytes(d.sc), vc: true}
	}
	return bytesOp{s: strsOf(d.arr)}
}

func (o bytesOp) at(i int) []byte {
	if o.vc {
		return o.c
	}
	return o.s.at(i)
}

// distinctKernel is IS [NOT] DISTINCT FROM: never NULL; two NULLs are not distinct.
func distinctKernel(ctx *Context, a, b datum, n int, t arrow.DataType, not bool) (arrow.Array, error) {
	mem := ctx.mem()
	ob, out := allocBits(mem, n)
	if a.isNullConst() || b.isNullConst() {
		other := a
		if a.isNullConst() {
			other = b
		}
		// distinct from NULL = other is not NULL
		packBits(out, n, func(i int) bool {
			oNull := other.isNullConst() || (other.arr != nil && other.arr.IsNull(i))
			return oNull == not
		})
		return makeArray(Bool, n, 0, nil, ob), nil
	}
	eqb, eq := allocBits(mem, n)
	defer eqb.Release()
	compareInto(opEq, a, b, n, t, eq)
	an := func(i int) bool { return a.arr != nil && a.arr.IsNull(i) }
	bn := func(i int) bool { return b.arr != nil && b.arr.IsNull(i) }
	packBits(out, n, func(i int) bool {
		x, y := an(i), bn(i)
		var distinct bool
		switch {
		case x && y:
			distinct = false
		case x || y:
			distinct = true
		default:
			distinct = eq[i>>3]&(1<<(i&7)) == 0
		}
		return distinct != not
	})
	return makeArray(Bool, n, 0, nil, ob), nil
}

// cmpDecConst compares a decimal column with a constant of the same scale: values
// that fit in 64 bits (nearly all) compare as int64, eight rows per output byte.
func cmpDecConst(op int, v []num, c num, n int, out []byte) {
	c64 := int64(c.LowBits())
	small := is64(c)
	if small {
		// compare the low words with the int64 kernel, a chunk at a time through a
		// stack array (a heap slice per call cost more than the comparison), noting
		// any value that does not fit 64 bits: if one did (rare), the 128-bit loop
		// below redoes the column
		var lo [1024]int64
		var wide uint64
		for i := 0; i < n; i += len(lo) {
			m := min(len(lo), n-i)
			for j, x := range v[i : i+m] {
				l := int64(x.LowBits())
				wide |= uint64(x.HighBits()) ^ uint64(l>>63)
				lo[j] = l
			}
			cmpOrdered(op, operand[int64]{v: lo[:m]}, operand[int64]{c: c64, vc: true}, m, out[i/8:])
		}
		if wide == 0 {
			return
		}
	}
	for i := 0; i < n; i += 8 {
		var b byte
		for j := 0; j < 8 && i+j < n; j++ {
			x := v[i+j]
			var k int
			if small && is64(x) {
				k = cmp.Compare(int64(x.LowBits()), c64)
			} else {
				k = cmp128(x, c)
			}
			var hold bool
			switch op {
			case opEq:
				hold = k == 0
			case opNe:
				hold = k != 0
			case opLt:
				hold = k < 0
			case opLe:
				hold = k <= 0
			case opGt:
				hold = k > 0
			default:
				hold = k >= 0
			}
			if hold {
				b |= 1 << j
			}
		}
		out[i/8] = b
	}
}
