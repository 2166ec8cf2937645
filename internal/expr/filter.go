package expr

import (
	"fmt"
	"math/bits"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/scalar"
)

// Filter returns the rows of batch where pred is TRUE (NULL counts as false). The
// caller releases the result, which may be batch itself retained.
func Filter(ctx *Context, batch arrow.RecordBatch, pred Expr) (arrow.RecordBatch, error) {
	return FilterAll(ctx, batch, []Expr{pred})
}

// gatherBelow is the fraction (1/gatherBelow) of a batch's rows below which FilterAll
// gathers the kept rows before evaluating a further condition, rather than evaluating
// it on every row.
const gatherBelow = 8

// FilterAll returns the rows of batch where every condition in conds is TRUE (NULL
// counts as false), as if each condition ran on the rows the ones before it kept: a
// condition that may fail (see Safe) only ever sees those rows. Safe conditions are
// evaluated on the batch as it is and their results combined, so that the batch is
// gathered once rather than once per condition (a condition keeping most rows would
// otherwise copy nearly the whole batch). The caller releases the result, which may
// be batch itself retained.
func FilterAll(ctx *Context, batch arrow.RecordBatch, conds []Expr) (arrow.RecordBatch, error) {
	for _, c := range conds {
		if c.Type().ID() != arrow.BOOL && c.Type().ID() != arrow.NULL {
			return nil, fmt.Errorf("%w: argument of WHERE must be type boolean, not type %s", ErrType, TypeName(c.Type()))
		}
	}
	batch.Retain()
	var mask []byte // the rows of batch every condition so far kept; nil: all
	kept := int(batch.NumRows())
	gather := func() error {
		if mask == nil {
			return nil
		}
		n := int(batch.NumRows())
		var out arrow.RecordBatch
		switch kept {
		case n:
			mask = nil
			return nil
		case 0:
			out = batch.NewSlice(0, 0)
		default:
			var err error
			if out, err = takeRecord(ctx, batch, maskRows(mask, n, kept)); err != nil {
				return err
			}
		}
		batch.Release()
		batch, mask = out, nil
		return nil
	}
	for _, c := range conds {
		n := int(batch.NumRows())
		if mask != nil && (kept*gatherBelow < n || !Safe(c)) {
			if err := gather(); err != nil {
				batch.Release()
				return nil, err
			}
			n = kept
		}
		if n == 0 {
			break
		}
		d, err := evalDatum(ctx, c, batch, n)
		if err != nil {
			batch.Release()
			return nil, err
		}
		mask, kept = andTrue(mask, d, n)
		d.release()
		if kept == 0 {
			break
		}
	}
	if err := gather(); err != nil {
		batch.Release()
		return nil, err
	}
	return batch, nil
}

// andTrue narrows mask (nil: all n rows) to the rows where d is TRUE, returning it and
// the rows it keeps.
func andTrue(mask []byte, d datum, n int) ([]byte, int) {
	if d.arr == nil {
		if d.sc.IsValid() && d.sc.(*scalar.Boolean).Value {
			if mask == nil {
				return nil, n
			}
			return mask, bitutil.CountSetBits(mask, 0, n)
		}
		return make([]byte, bitutil.BytesForBits(int64(n))), 0
	}
	a := d.arr
	if a.DataType().ID() == arrow.NULL {
		return make([]byte, bitutil.BytesForBits(int64(n))), 0
	}
	off := a.Data().Offset()
	v := a.Data().Buffers()[1].Bytes()
	if mask == nil {
		if a.NullN() == 0 && countTrue(a) == n {
			return nil, n
		}
		mask = make([]byte, bitutil.BytesForBits(int64(n)))
		bitutil.CopyBitmap(v, off, n, mask, 0)
	} else {
		bitutil.BitmapAnd(mask, v, 0, int64(off), mask, 0, int64(n))
	}
	if a.NullN() > 0 {
		bitutil.BitmapAnd(mask, a.NullBitmapBytes(), 0, int64(off), mask, 0, int64(n))
	}
	return mask, bitutil.CountSetBits(mask, 0, n)
}

// maskRows lists the kept rows set in mask (of n rows), a byte at a time.
func maskRows(mask []byte, n, kept int) []int32 {
	return appendMaskRows(make([]int32, 0, kept), mask, n)
}

// appendMaskRows appends the rows set in mask (of n rows) to rows.
func appendMaskRows(rows []int32, mask []byte, n int) []int32 {
	i := 0
	for ; i+8 <= n; i += 8 {
		for b := mask[i/8]; b != 0; b &= b - 1 {
			rows = append(rows, int32(i+bits.TrailingZeros8(b)))
		}
	}
	for ; i < n; i++ {
		if bitutil.BitIsSet(mask, i) {
			rows = append(rows, int32(i))
		}
	}
	return rows
}

// Safe reports whether evaluating e cannot fail on any row, whatever its values:
// column references, constants, comparisons, AND, OR, NOT, IS [NOT] NULL, IS [NOT]
// DISTINCT FROM, IN lists and BETWEEN over safe operands, [NOT] LIKE and ILIKE of a
// safe operand with a constant pattern and escape (compiled, so checked, when the call
// was resolved), and implicit or explicit casts that only widen. Arithmetic (overflow,
// division by zero), other functions, CASE and narrowing casts are not safe. FilterAll evaluates safe conditions on rows an
// earlier condition rejected, which must not turn a query that succeeds into one that
// fails.
func Safe(e Expr) bool {
	switch e := e.(type) {
	case *Column, *Literal:
		return true
	case *Cast:
		return castWidens(e.E.Type(), e.To) && Safe(e.E)
	case *Call:
		switch e.Name {
		case "=", "<>", "!=", "<", "<=", ">", ">=", "and", "or", "not", "is_null", "is_not_null",
			"is_distinct_from", "is_not_distinct_from", "in", "not_in", "between", "not_between":
		case "like", "ilike", "not_like", "not_ilike":
			if len(e.Args) != 3 {
				return false
			}
			_, constPat := e.Args[1].(*Literal)
			_, constEsc := e.Args[2].(*Literal)
			return constPat && constEsc && Safe(e.Args[0])
		default:
			return false
		}
		for _, a := range e.Args {
			if !Safe(a) {
				return false
			}
		}
		return true
	}
	return false
}

// castWidens reports whether every value of type from converts to type to without
// error.
func castWidens(from, to arrow.DataType) bool {
	if sameType(from, to) || isNull(from) {
		return true
	}
	switch {
	case isInt(from) && isInt(to):
		return numRank(from) <= numRank(to)
	case isInt(from) && isFloat(to), isDec(from) && isFloat(to):
		return true
	case from.ID() == arrow.FLOAT32 && to.ID() == arrow.FLOAT64:
		return true
	case (isInt(from) || isDec(from)) && isDec(to):
		fd := asDecimal(from)
		return decScale(to) >= decScale(fd) && intDigits(to) >= intDigits(fd)
	}
	return false
}

// Select returns the rows of batch, among rows (nil: all of them), where every
// condition in conds is TRUE (NULL counts as false), in order; all reports that this
// is every row of batch (the returned rows are then nil). Every condition must be
// safe (see Safe): they are evaluated on every row of batch or, when rows lists few
// of them, on those rows gathered, and never fail on the rows they reject. The result
// is appended to out[:0], which may be rows itself (it is then filtered in place).
func Select(ctx *Context, batch arrow.RecordBatch, conds []Expr, rows, out []int32) ([]int32, bool, error) {
	for _, c := range conds {
		if c.Type().ID() != arrow.BOOL && c.Type().ID() != arrow.NULL {
			return nil, false, fmt.Errorf("%w: argument of WHERE must be type boolean, not type %s", ErrType, TypeName(c.Type()))
		}
		if !Safe(c) {
			return nil, false, fmt.Errorf("%w: Select of a condition that may fail: %s", ErrInvalidArg, c)
		}
	}
	n := int(batch.NumRows())
	out = out[:0]
	if rows != nil && len(rows)*gatherBelow < n {
		sub, err := takeRecord(ctx, batch, rows)
		if err != nil {
			return nil, false, err
		}
		mask, _, err := trueMask(ctx, sub, conds, len(rows))
		sub.Release()
		if err != nil {
			return nil, false, err
		}
		for k, i := range rows {
			if mask == nil || bitutil.BitIsSet(mask, k) {
				out = append(out, i)
			}
		}
		return selected(out, n)
	}
	mask, kept, err := trueMask(ctx, batch, conds, n)
	if err != nil {
		return nil, false, err
	}
	if rows == nil {
		if kept == n {
			return nil, true, nil
		}
		return appendMaskRows(out, mask, n), false, nil
	}
	for _, i := range rows {
		if mask == nil || bitutil.BitIsSet(mask, int(i)) {
			out = append(out, i)
		}
	}
	return selected(out, n)
}

func selected(rows []int32, n int) ([]int32, bool, error) {
	if len(rows) == n {
		return nil, true, nil
	}
	return rows, false, nil
}

// trueMask evaluates conds on the n rows of b: the rows where all are TRUE, as a
// bitmap (nil: all) and a count.
func trueMask(ctx *Context, b arrow.RecordBatch, conds []Expr, n int) ([]byte, int, error) {
	var mask []byte
	kept := n
	for _, c := range conds {
		d, err := evalDatum(ctx, c, b, n)
		if err != nil {
			return nil, 0, err
		}
		mask, kept = andTrue(mask, d, n)
		d.release()
		if kept == 0 {
			break
		}
	}
	return mask, kept, nil
}
