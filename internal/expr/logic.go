package expr

import (
	"errors"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// boolWords is a boolean array's values and validity as offset-0 word bitmaps
// (copied when a's offset is not 0); valid is all ones without NULLs.
func boolWords(mem memory.Allocator, a arrow.Array, n int) (v, m []uint64, free func()) {
	var bufs []*memory.Buffer
	vb, vbytes := allocBits(mem, n)
	bufs = append(bufs, vb)
	bitutil.CopyBitmap(a.Data().Buffers()[1].Bytes(), a.Data().Offset(), n, vbytes, 0)
	mb, mbytes := allocBits(mem, n)
	bufs = append(bufs, mb)
	if a.NullN() == 0 {
		bitutil.SetBitsTo(mbytes, 0, int64(n), true)
	} else {
		bitutil.CopyBitmap(a.NullBitmapBytes(), a.Data().Offset(), n, mbytes, 0)
	}
	return words(vbytes), words(mbytes), func() {
		for _, b := range bufs {
			b.Release()
		}
	}
}

// valueWords views a boolean array's values as words when it starts at offset 0
// and its buffer holds whole words (nil otherwise).
func valueWords(a arrow.Array, n int) []uint64 {
	if a.Data().Offset() != 0 {
		return nil
	}
	b := a.Data().Buffers()[1].Bytes()
	nw := (n + 63) / 64
	if len(b) < nw*8 {
		return nil
	}
	return words(b[:nw*8])
}

// logic3 combines two boolean arrays with three-valued AND or OR, word-wise.
func logic3(ctx *Context, isAnd bool, a, b arrow.Array, n int) arrow.Array {
	mem := ctx.mem()
	if a.NullN() == 0 && b.NullN() == 0 {
		// two-valued: one pass over the value words, no validity
		av, bv := valueWords(a, n), valueWords(b, n)
		if av != nil && bv != nil {
			ob, ovb := allocBits(mem, n)
			ov := words(ovb)
			if isAnd {
				for i := range ov {
					ov[i] = av[i] & bv[i]
				}
			} else {
				for i := range ov {
					ov[i] = av[i] | bv[i]
				}
			}
			return makeArray(Bool, n, 0, nil, ob)
		}
	}
	av, am, fa := boolWords(mem, a, n)
	defer fa()
	bv, bm, fb := boolWords(mem, b, n)
	defer fb()
	ob, ovb := allocBits(mem, n)
	mb, mvb := allocBits(mem, n)
	ov, om := words(ovb), words(mvb)
	for i := range ov {
		x, xm, y, ym := av[i]&am[i], am[i], bv[i]&bm[i], bm[i]
		if isAnd {
			fx, fy := xm&^x, ym&^y // definitely false
			om[i] = (xm & ym) | fx | fy
			ov[i] = x & y
		} else {
			om[i] = (xm & ym) | x | y
			ov[i] = x | y
		}
	}
	nulls := n - bitutil.CountSetBits(mvb, 0, n)
	if nulls == 0 {
		mb.Release()
		mb = nil
	}
	return makeArray(Bool, n, nulls, mb, ob)
}

// evalAndOr evaluates AND/OR. The right operand is evaluated on every row first;
// if that fails, it is evaluated again only on the rows where the left operand does
// not decide the result, so a guard like b <> 0 AND a/b > 1 never fails on rows
// it excludes.
func evalAndOr(ctx *Context, c *Call, b arrow.RecordBatch, n int) (datum, error) {
	isAnd := c.Name == "and"
	l, err := evalDatum(ctx, c.Args[0], b, n)
	if err != nil {
		return datum{}, err
	}
	defer l.release()
	decided := func(v bool) bool { return v != isAnd } // false decides AND, true decides OR
	if l.arr == nil && l.sc.IsValid() && decided(constVal[bool8](l.sc)&1 != 0) {
		return datum{sc: l.sc}, nil
	}
	r, err := evalDatum(ctx, c.Args[1], b, n)
	if err != nil {
		if l.arr == nil {
			return datum{}, err
		}
		rows := []int32{} // not nil: nil would mean every row
		lv := boolOperand(l)
		for i := range n {
			if l.arr.IsNull(i) || !decided(lv.at(i)) {
				rows = append(rows, int32(i))
			}
		}
		if len(rows) == n {
			return datum{}, err
		}
		if len(rows) == 0 { // the left operand decides every row
			l.arr.Retain()
			return datum{arr: l.arr}, nil
		}
		sub, err2 := evalOn(ctx, c.Args[1], b, n, rows)
		if err2 != nil {
			return datum{}, err2
		}
		defer sub.Release()
		part := make([]int32, n)
		pos := make([]int32, n)
		for i := range part {
			part[i] = -1
		}
		for j, i := range rows {
			part[i], pos[i] = 0, int32(j)
		}
		full, err2 := assemble(ctx, Bool, []arrow.Array{sub}, pick{part, pos})
		if err2 != nil {
			return datum{}, errors.Join(err, err2)
		}
		r = datum{arr: full}
	}
	defer r.release()
	if l.arr == nil && r.arr == nil {
		return constCall(ctx, []datum{l, r}, func(one []datum) (arrow.Array, error) {
			return logic3(ctx, isAnd, one[0].arr, one[1].arr, 1), nil
		})
	}
	arrs, err := materialize(ctx, []datum{l, r}, n)
	if err != nil {
		return datum{}, err
	}
	defer releaseArrays(arrs)
	return datum{arr: logic3(ctx, isAnd, arrs[0], arrs[1], n)}, nil
}

func notKernel(ctx *Context, _ *Call, args []datum, n int) (arrow.Array, error) {
	a := args[0].arr
	mem := ctx.mem()
	vb, nulls := andValidity(mem, n, a)
	ob, out := allocBits(mem, n)
	bitutil.InvertBitmap(a.Data().Buffers()[1].Bytes(), a.Data().Offset(), n, out, 0)
	return makeArray(Bool, n, nulls, vb, ob), nil
}

func isNullKernel(not bool) func(ctx *Context, _ *Call, args []datum, n int) (arrow.Array, error) {
	return func(ctx *Context, _ *Call, args []datum, n int) (arrow.Array, error) {
		d := args[0]
		mem := ctx.mem()
		ob, out := allocBits(mem, n)
		switch {
		case d.arr == nil:
			bitutil.SetBitsTo(out, 0, int64(n), d.sc.IsValid() == not)
		case d.arr.NullN() == 0:
			bitutil.SetBitsTo(out, 0, int64(n), not)
		case d.arr.DataType().ID() == arrow.NULL:
			bitutil.SetBitsTo(out, 0, int64(n), !not)
		case not:
			bitutil.CopyBitmap(d.arr.NullBitmapBytes(), d.arr.Data().Offset(), n, out, 0)
		default:
			bitutil.InvertBitmap(d.arr.NullBitmapBytes(), d.arr.Data().Offset(), n, out, 0)
		}
		return makeArray(Bool, n, 0, nil, ob), nil
	}
}
