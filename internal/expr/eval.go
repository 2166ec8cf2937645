package expr

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/strata-data/strata/shuffle"
)

// datum is an evaluated operand: a column of n rows, or a constant.
type datum struct {
	arr arrow.Array
	sc  scalar.Scalar
}

func (d datum) release() {
	if d.arr != nil {
		d.arr.Release()
	}
}

func (d datum) isNullConst() bool { return d.arr == nil && !d.sc.IsValid() }

func releaseAll(ds []datum) {
	for _, d := range ds {
		d.release()
	}
}

// kernel is a resolved function. fn gets arguments each either n rows or a constant;
// a strict kernel is never called with a NULL constant. lazy kernels evaluate their
// own arguments.
type kernel struct {
	strict bool
	fn     func(ctx *Context, c *Call, args []datum, n int) (arrow.Array, error)
	lazy   func(ctx *Context, c *Call, b arrow.RecordBatch, n int) (datum, error)
}

// evalArray evaluates e on every row of b.
func evalArray(ctx *Context, e Expr, b arrow.RecordBatch) (arrow.Array, error) {
	n := int(b.NumRows())
	d, err := evalDatum(ctx, e, b, n)
	if err != nil {
		return nil, err
	}
	return toArray(ctx, d, n)
}

func toArray(ctx *Context, d datum, n int) (arrow.Array, error) {
	if d.arr != nil {
		return d.arr, nil
	}
	return broadcast(ctx.mem(), d.sc, n)
}

// evalDatum evaluates e on the n rows of b (b may be nil when e reads no column).
func evalDatum(ctx *Context, e Expr, b arrow.RecordBatch, n int) (datum, error) {
	switch e := e.(type) {
	case *Column:
		if b == nil || e.Index < 0 || e.Index >= int(b.NumCols()) {
			return datum{}, fmt.Errorf("%w: column %s (index %d) is not in the batch", ErrInvalidArg, e, e.Index)
		}
		col := b.Column(e.Index)
		if !sameType(col.DataType(), e.T) {
			return datum{}, fmt.Errorf("%w: column %s (index %d) has type %s, the expression expects %s", ErrType, e, e.Index, col.DataType(), e.T)
		}
		col.Retain()
		return datum{arr: col}, nil
	case *Literal:
		return datum{sc: e.Value}, nil
	case *Call:
		if e.fn == nil {
			return datum{}, fmt.Errorf("%w: call %s was not built by NewCall", ErrInvalidArg, e.Name)
		}
		if e.fn.lazy != nil {
			return e.fn.lazy(ctx, e, b, n)
		}
		args := make([]datum, len(e.Args))
		defer func() { releaseAll(args) }()
		for i, a := range e.Args {
			d, err := evalDatum(ctx, a, b, n)
			if err != nil {
				return datum{}, err
			}
			args[i] = d
		}
		return runKernel(ctx, e, args, n)
	case *Case:
		return evalCase(ctx, e, b, n)
	case *Cast:
		d, err := evalDatum(ctx, e.E, b, n)
		if err != nil {
			return datum{}, err
		}
		defer d.release()
		return castDatum(ctx, d, e.E.Type(), e.To, n)
	default:
		if b == nil {
			return datum{}, fmt.Errorf("%w: cannot evaluate %T without a batch", ErrInvalidArg, e)
		}
		a, err := e.Eval(ctx, b)
		return datum{arr: a}, err
	}
}

// runKernel applies a strict or non-strict kernel, folding constant arguments into
// a constant result.
func runKernel(ctx *Context, c *Call, args []datum, n int) (datum, error) {
	k := c.fn
	allConst := true
	for _, a := range args {
		if a.arr != nil {
			allConst = false
		} else if k.strict && !a.sc.IsValid() {
			return datum{sc: scalar.MakeNullScalar(c.T)}, nil
		}
	}
	if !allConst {
		res, err := k.fn(ctx, c, args, n)
		if err != nil {
			return datum{}, err
		}
		return datum{arr: res}, nil
	}
	return constCall(ctx, args, func(one []datum) (arrow.Array, error) { return k.fn(ctx, c, one, 1) })
}

// constCall evaluates f on one row made of constant args and returns a constant.
func constCall(ctx *Context, args []datum, f func([]datum) (arrow.Array, error)) (datum, error) {
	one := make([]datum, len(args))
	defer func() { releaseAll(one) }()
	for i, a := range args {
		arr, err := broadcast(ctx.mem(), a.sc, 1)
		if err != nil {
			return datum{}, err
		}
		one[i] = datum{arr: arr}
	}
	res, err := f(one)
	if err != nil {
		return datum{}, err
	}
	defer res.Release()
	sc, err := scalarAt(res, 0)
	return datum{sc: sc}, err
}

// materialize turns constant args into arrays of n rows (for kernels that are not
// worth a constant fast path); the caller releases the result.
func materialize(ctx *Context, args []datum, n int) ([]arrow.Array, error) {
	out := make([]arrow.Array, len(args))
	for i, a := range args {
		if a.arr != nil {
			a.arr.Retain()
			out[i] = a.arr
			continue
		}
		arr, err := broadcast(ctx.mem(), a.sc, n)
		if err != nil {
			releaseArrays(out)
			return nil, err
		}
		out[i] = arr
	}
	return out, nil
}

func releaseArrays(as []arrow.Array) {
	for _, a := range as {
		if a != nil {
			a.Release()
		}
	}
}

func computeCtx(ctx *Context) context.Context {
	return compute.WithAllocator(context.Background(), ctx.mem())
}

// subset is the rows of b listed in rows, for evaluating e only there: only the
// columns e reads are taken; the others become NULL columns.
func subset(ctx *Context, b arrow.RecordBatch, rows []int32, e ...Expr) (arrow.RecordBatch, error) {
	m := len(rows)
	if b == nil {
		return nil, nil
	}
	need := map[int]bool{}
	for _, x := range e {
		for _, c := range Columns(x) {
			need[c] = true
		}
	}
	fields := make([]arrow.Field, b.NumCols())
	cols := make([]arrow.Array, b.NumCols())
	defer func() { releaseArrays(cols) }()
	for i := range cols {
		f := b.Schema().Field(i)
		if !need[i] {
			cols[i] = array.NewNull(m)
			fields[i] = arrow.Field{Name: f.Name, Type: arrow.Null, Nullable: true}
			continue
		}
		t, err := takeArray(ctx, b.Column(i), rows)
		if err != nil {
			return nil, err
		}
		cols[i] = t
		fields[i] = f
	}
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, int64(m)), nil
}

// takeArray gathers rows of a: with shuffle.Take (a typed loop) for the types it
// serves, else with Arrow's compute kernel.
func takeArray(ctx *Context, a arrow.Array, rows []int32) (arrow.Array, error) {
	if shuffle.CanTake(a.DataType()) {
		return shuffle.Take(ctx.mem(), a, rows), nil
	}
	idx := indexArray(ctx.mem(), rows)
	defer idx.Release()
	return compute.TakeArray(computeCtx(ctx), a, idx)
}

// takeRecord gathers rows of b (see takeArray).
func takeRecord(ctx *Context, b arrow.RecordBatch, rows []int32) (arrow.RecordBatch, error) {
	cols := make([]arrow.Array, b.NumCols())
	defer func() { releaseArrays(cols) }()
	for i := range cols {
		t, err := takeArray(ctx, b.Column(i), rows)
		if err != nil {
			return nil, err
		}
		cols[i] = t
	}
	return array.NewRecordBatch(b.Schema(), cols, int64(len(rows))), nil
}

func indexArray(mem memory.Allocator, rows []int32) arrow.Array {
	buf, v := allocFixed[int32](mem, len(rows))
	copy(v, rows)
	return makeArray(arrow.PrimitiveTypes.Int32, len(rows), 0, nil, buf)
}

// evalOn evaluates e on the given rows of b (all n rows when rows is nil).
func evalOn(ctx *Context, e Expr, b arrow.RecordBatch, n int, rows []int32) (arrow.Array, error) {
	if rows == nil {
		d, err := evalDatum(ctx, e, b, n)
		if err != nil {
			return nil, err
		}
		return toArray(ctx, d, n)
	}
	sb, err := subset(ctx, b, rows, e)
	if err != nil {
		return nil, err
	}
	if sb != nil {
		defer sb.Release()
	}
	d, err := evalDatum(ctx, e, sb, len(rows))
	if err != nil {
		return nil, err
	}
	return toArray(ctx, d, len(rows))
}

// pick says where each output row of a CASE-like node comes from: part part[i]'s
// row pos[i], or NULL when part[i] < 0.
type pick struct {
	part []int32
	pos  []int32
}

// assemble builds the n output rows from the parts by pick.
func assemble(ctx *Context, dt arrow.DataType, parts []arrow.Array, p pick) (arrow.Array, error) {
	n := len(p.part)
	if len(parts) == 1 && parts[0].Len() == n {
		identity := true
		for i := range n {
			if p.part[i] != 0 || p.pos[i] != int32(i) {
				identity = false
				break
			}
		}
		if identity {
			parts[0].Retain()
			return parts[0], nil
		}
	}
	if len(parts) == 0 {
		return array.MakeArrayOfNull(ctx.mem(), dt, n), nil
	}
	ds := make([]datum, len(parts))
	for i, a := range parts {
		ds[i] = datum{arr: a}
	}
	if out, ok := mergeRows(ctx, dt, ds, p); ok {
		return out, nil
	}
	base := make([]int32, len(parts))
	tot := 0
	for i, a := range parts {
		base[i] = int32(tot)
		tot += a.Len()
	}
	var all arrow.Array
	if len(parts) == 1 {
		all = parts[0]
		all.Retain()
	} else {
		var err error
		if all, err = array.Concatenate(parts, ctx.mem()); err != nil {
			return nil, err
		}
	}
	defer all.Release()
	mem := ctx.mem()
	ib, iv := allocFixed[int32](mem, n)
	var vb *memory.Buffer
	var valid []byte
	nulls := 0
	for i := range n {
		if p.part[i] < 0 {
			if vb == nil {
				vb, valid = allocBits(mem, n)
				bitutil.SetBitsTo(valid, 0, int64(n), true)
			}
			bitutil.ClearBit(valid, i)
			nulls++
			iv[i] = 0
			continue
		}
		iv[i] = base[p.part[i]] + p.pos[i]
	}
	idx := makeArray(arrow.PrimitiveTypes.Int32, n, nulls, vb, ib)
	defer idx.Release()
	if all.Len() == 0 {
		return array.MakeArrayOfNull(mem, dt, n), nil
	}
	return compute.TakeArray(computeCtx(ctx), all, idx)
}

// countTrue counts the rows of a boolean array that are TRUE.
func countTrue(a arrow.Array) int {
	n := a.Len()
	off := a.Data().Offset()
	v := a.Data().Buffers()[1].Bytes()
	if a.NullN() == 0 {
		return bitutil.CountSetBits(v, off, n)
	}
	c := 0
	valid := a.NullBitmapBytes()
	for i := range n {
		if bitutil.BitIsSet(valid, off+i) && bitutil.BitIsSet(v, off+i) {
			c++
		}
	}
	return c
}

// Fold replaces every subtree that reads no column by its value as a Literal.
// A subtree whose evaluation fails is left as is, so that its error surfaces only
// if a row needs it (CASE WHEN false THEN 1/0 END folds to NULL without error).
func Fold(ctx *Context, e Expr) (Expr, error) {
	return Transform(e, func(x Expr) (Expr, error) {
		switch x.(type) {
		case *Literal, *Column:
			return x, nil
		}
		if len(Columns(x)) > 0 {
			return x, nil
		}
		d, err := evalDatum(ctx, x, nil, 1)
		if err != nil {
			return x, nil
		}
		if d.arr != nil {
			defer d.arr.Release()
			sc, err := scalarAt(d.arr, 0)
			if err != nil {
				return x, nil
			}
			return &Literal{Value: sc}, nil
		}
		return &Literal{Value: d.sc}, nil
	})
}
