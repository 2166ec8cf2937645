package expr

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// mergeRows builds the n rows of type dt where row i is row p.pos[i] of part
// p.part[i] (a column or a constant), or NULL when p.part[i] < 0. It is the typed
// gather behind CASE, COALESCE, NULLIF and GREATEST; ok is false for a type it
// does not handle.
func mergeRows(ctx *Context, dt arrow.DataType, parts []datum, p pick) (arrow.Array, bool) {
	n := len(p.part)
	mem := ctx.mem()
	if dt.ID() == arrow.NULL {
		return array.NewNull(n), true
	}
	vb, valid := allocBits(mem, n)
	nulls := 0
	// per part: its validity bitmap and offset, or whether the constant is valid
	type src struct {
		bits    []byte
		off     int
		allTrue bool
	}
	srcs := make([]src, len(parts))
	for k, d := range parts {
		switch {
		case d.arr == nil:
			srcs[k].allTrue = d.sc.IsValid()
		case d.arr.NullN() == 0:
			srcs[k].allTrue = true
		case d.arr.NullBitmapBytes() != nil:
			srcs[k].bits, srcs[k].off = d.arr.NullBitmapBytes(), d.arr.Data().Offset()
		}
	}
	for i := range n {
		k := p.part[i]
		ok := false
		if k >= 0 {
			s := &srcs[k]
			if s.allTrue {
				ok = true
			} else if s.bits != nil {
				j := s.off + int(p.pos[i])
				ok = s.bits[j>>3]&(1<<(j&7)) != 0
			}
		}
		if ok {
			valid[i>>3] |= 1 << (i & 7)
		} else {
			nulls++
		}
	}
	if nulls == 0 {
		vb.Release()
		vb = nil
	}
	var ob *memory.Buffer
	switch dt.ID() {
	case arrow.INT16:
		ob = mergeFixed[int16](mem, parts, p)
	case arrow.INT32, arrow.DATE32:
		ob = mergeFixed[int32](mem, parts, p)
	case arrow.INT64, arrow.TIMESTAMP:
		ob = mergeFixed[int64](mem, parts, p)
	case arrow.FLOAT32:
		ob = mergeFixed[float32](mem, parts, p)
	case arrow.FLOAT64:
		ob = mergeFixed[float64](mem, parts, p)
	case arrow.DECIMAL128:
		ob = mergeFixed[num](mem, parts, p)
	case arrow.INTERVAL_MONTH_DAY_NANO:
		ob = mergeFixed[mdn](mem, parts, p)
	case arrow.BOOL:
		ops := make([]boolOp, len(parts))
		for k, d := range parts {
			if !d.isNullConst() {
				ops[k] = boolOperand(d)
			}
		}
		var out []byte
		ob, out = allocBits(mem, n)
		for i := range n {
			if k := p.part[i]; k >= 0 && !parts[k].isNullConst() && ops[k].at(int(p.pos[i])) {
				out[i>>3] |= 1 << (i & 7)
			}
		}
	case arrow.STRING, arrow.BINARY:
		ops := make([]bytesOp, len(parts))
		for k, d := range parts {
			if !d.isNullConst() {
				ops[k] = bytesOperand(d)
			}
		}
		sb := newStrBuilder(mem, n, 0)
		for i := range n {
			if k := p.part[i]; k >= 0 && !parts[k].isNullConst() {
				sb.add(ops[k].at(int(p.pos[i])))
			} else {
				sb.add(nil)
			}
		}
		return sb.finish(dt, vb, nulls), true
	default:
		if vb != nil {
			vb.Release()
		}
		return nil, false
	}
	return makeArray(dt, n, nulls, vb, ob), true
}

func mergeFixed[T any](mem memory.Allocator, parts []datum, p pick) *memory.Buffer {
	n := len(p.part)
	ops := make([]operand[T], len(parts))
	for k, d := range parts {
		if !d.isNullConst() {
			ops[k] = operandOf[T](d)
		} else {
			ops[k] = operand[T]{vc: true}
		}
	}
	ob, out := allocFixed[T](mem, n)
	for i := range n {
		k := p.part[i]
		if k < 0 {
			var z T
			out[i] = z
			continue
		}
		out[i] = ops[k].at(int(p.pos[i]))
	}
	return ob
}

// truthy reports, for each row of a boolean datum, whether it is TRUE.
func truthy(d datum, n int) func(i int) bool {
	if d.arr == nil {
		v := d.sc.IsValid() && d.sc.DataType().ID() == arrow.BOOL && constVal[bool8](d.sc)&1 != 0
		return func(int) bool { return v }
	}
	if d.arr.DataType().ID() != arrow.BOOL {
		return func(int) bool { return false }
	}
	o := boolOperand(d)
	valid, off := bitmapOf(d.arr)
	return func(i int) bool { return o.at(i) && (valid == nil || bitutil.BitIsSet(valid, off+i)) }
}

// caseFast evaluates every condition and result on all rows and merges; it fails
// (and the caller falls back to per-row-set evaluation) if any of them fails.
func caseFast(ctx *Context, c *Case, b arrow.RecordBatch, n int) (arrow.Array, error) {
	p := pick{part: make([]int32, n), pos: make([]int32, n)}
	for i := range p.part {
		p.part[i] = -1
		p.pos[i] = int32(i)
	}
	var parts []datum
	defer func() { releaseAll(parts) }()
	left := n
	for k := range c.Whens {
		if left == 0 {
			break
		}
		cond, err := c.cond(k)
		if err != nil {
			return nil, err
		}
		cd, err := evalDatum(ctx, cond, b, n)
		if err != nil {
			return nil, err
		}
		is := truthy(cd, n)
		var idx int32 = -1
		var took int
		for i := range n {
			if p.part[i] == -1 && is(i) {
				if idx < 0 {
					idx = int32(len(parts))
					parts = append(parts, datum{}) // placeholder until evaluated
				}
				p.part[i] = idx
				took++
			}
		}
		cd.release()
		if idx >= 0 {
			td, err := evalDatum(ctx, c.Whens[k].Then, b, n)
			if err != nil {
				return nil, err
			}
			parts[idx] = td
			left -= took
		}
	}
	if left > 0 && c.Else != nil {
		ed, err := evalDatum(ctx, c.Else, b, n)
		if err != nil {
			return nil, err
		}
		idx := int32(len(parts))
		parts = append(parts, ed)
		for i := range n {
			if p.part[i] == -1 {
				p.part[i] = idx
			}
		}
	}
	for k, d := range parts {
		if d.arr == nil && d.sc == nil {
			parts[k] = datum{sc: nullOf(c.T)}
		}
	}
	out, ok := mergeRows(ctx, c.T, parts, p)
	if !ok {
		return nil, errNoFastPath
	}
	return out, nil
}
