package plan

import (
	"context"
	"fmt"
	"math/big"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/internal/expr"
	"github.com/strata-data/strata/internal/order"
	"github.com/strata-data/strata/shuffle"
)

// runWindow computes window functions over one partition of the input: it holds the
// partition's rows, orders them per function (typed comparators of internal/order),
// computes each function along that order, and emits the rows with the results.
func runWindow(ctx context.Context, env *taskEnv, opts *Options, inS, outS *change.Schema, funcs []WindowFunc, s shuffle.Stream, next sink) error {
	var batches []*change.Batch
	defer func() {
		for _, b := range batches {
			b.Release()
		}
	}()
	if err := drain(ctx, s, func(b *change.Batch) error { batches = append(batches, b); return nil }); err != nil {
		return err
	}
	if len(batches) == 0 {
		return nil
	}
	ncol := inS.NumFields()
	cols := make([]arrow.Array, ncol)
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	n := 0
	for _, b := range batches {
		n += b.Len()
	}
	for c := range ncol {
		parts := make([]arrow.Array, len(batches))
		for i, b := range batches {
			parts[i] = b.Column(c)
		}
		a, err := array.Concatenate(parts, env.mem)
		if err != nil {
			return fmt.Errorf("plan: window: %w", err)
		}
		cols[c] = a
	}
	results := make([][]change.Value, len(funcs))
	for fi := range funcs {
		vals, err := windowFunc(&funcs[fi], cols, n, env)
		if err != nil {
			return err
		}
		results[fi] = vals
	}
	// Output: input columns then the functions', built in batches.
	fs := outS.Fields()[ncol:]
	fsch, err := change.NewSchema(fs)
	if err != nil {
		return err
	}
	const batchRows = 8192
	for start := 0; start < n; start += batchRows {
		end := min(n, start+batchRows)
		bld := change.NewBuilder(env.mem, fsch)
		row := make(change.Row, len(funcs))
		for r := start; r < end; r++ {
			for fi := range funcs {
				row[fi] = results[fi][r]
			}
			if err := bld.Append(change.Insert, row); err != nil {
				bld.Release()
				return fmt.Errorf("plan: window: %w", err)
			}
		}
		fb := bld.NewBatch()
		bld.Release()
		out := make([]arrow.Array, 0, len(outS.Fields()))
		for c := range ncol {
			out = append(out, array.NewSlice(cols[c], int64(start), int64(end)))
		}
		for c := range funcs {
			fb.Column(c).Retain()
			out = append(out, fb.Column(c))
		}
		fb.Release()
		rec := array.NewRecordBatch(outS.Arrow(), out, int64(end-start))
		for _, a := range out {
			a.Release()
		}
		nb, err := change.NewBatch(outS, rec, insertOps(end-start))
		if err != nil {
			return err
		}
		if err := next.push(ctx, nb); err != nil {
			return err
		}
	}
	return nil
}

func comparator(cols []arrow.Array, keys []SortKey) (func(x, y uint64) int, error) {
	oc := make([]*order.Column, len(keys))
	for i, k := range keys {
		c, err := order.New(cols[k.Col].DataType(), k.Desc, k.NullsFirst)
		if err != nil {
			return nil, err
		}
		c.Set(0, cols[k.Col])
		oc[i] = c
	}
	if len(oc) == 0 {
		return func(x, y uint64) int { return 0 }, nil
	}
	return order.Comparator(oc), nil
}

// windowFunc computes f for every row (indexed by input row).
func windowFunc(f *WindowFunc, cols []arrow.Array, n int, env *taskEnv) ([]change.Value, error) {
	var pkeys []SortKey
	for _, p := range f.Partition {
		pkeys = append(pkeys, SortKey{Col: p})
	}
	all := append(append([]SortKey{}, pkeys...), f.Order...)
	cmpAll, err := comparator(cols, all)
	if err != nil {
		return nil, fmt.Errorf("plan: window %s: %w", f.Name, err)
	}
	cmpPart, err := comparator(cols, pkeys)
	if err != nil {
		return nil, err
	}
	cmpOrder, err := comparator(cols, f.Order)
	if err != nil {
		return nil, err
	}
	refs := make([]uint64, n)
	for i := range refs {
		refs[i] = order.Ref(0, i)
	}
	slices.SortStableFunc(refs, cmpAll)
	out := make([]change.Value, n)
	var arg arrow.Array
	if len(f.Args) > 0 {
		arg = cols[f.Args[0]]
	}
	var def change.Value
	if f.Default != nil {
		if l, ok := f.Default.(*expr.Literal); ok && l.Value.IsValid() {
			a, err := expr.Fold(env.ectx, f.Default)
			if err == nil {
				if lit, ok := a.(*expr.Literal); ok {
					def, err = scalarValue(lit, f.T)
					if err != nil {
						return nil, err
					}
				}
			}
		} else if _, ok := f.Default.(*expr.Literal); !ok {
			return nil, fmt.Errorf("%w: a non-constant default of %s", ErrUnsupported, f.Name)
		}
	}
	for ps := 0; ps < n; {
		pe := ps + 1
		for pe < n && cmpPart(refs[ps], refs[pe]) == 0 {
			pe++
		}
		part := refs[ps:pe]
		if err := windowPartition(f, part, arg, cmpOrder, def, out); err != nil {
			return nil, err
		}
		ps = pe
	}
	return out, nil
}

func scalarValue(l *expr.Literal, t arrow.DataType) (change.Value, error) {
	b := array.NewBuilder(nil, t)
	defer b.Release()
	c, err := expr.NewCast(l, t)
	if err != nil {
		return change.Value{}, err
	}
	a, err := c.Eval(&expr.Context{}, array.NewRecordBatch(arrow.NewSchema(nil, nil), nil, 1))
	if err != nil {
		return change.Value{}, err
	}
	defer a.Release()
	return change.ValueAt(a, 0), nil
}

func windowPartition(f *WindowFunc, part []uint64, arg arrow.Array, cmpOrder func(x, y uint64) int, def change.Value, out []change.Value) error {
	m := len(part)
	val := func(pos int) change.Value { return change.ValueAt(arg, order.Row(part[pos])) }
	// peer groups: [peerStart[i], peerEnd[i]) of sorted position i
	peerEnd := make([]int, m)
	for i := m - 1; i >= 0; i-- {
		if i+1 < m && cmpOrder(part[i], part[i+1]) == 0 {
			peerEnd[i] = peerEnd[i+1]
		} else {
			peerEnd[i] = i + 1
		}
	}
	switch f.Name {
	case "row_number":
		for i := range m {
			out[order.Row(part[i])] = change.Int(int64(i + 1))
		}
		return nil
	case "rank", "dense_rank":
		rank, dense := 1, 1
		for i := range m {
			if i > 0 && cmpOrder(part[i-1], part[i]) != 0 {
				rank = i + 1
				dense++
			}
			if f.Name == "rank" {
				out[order.Row(part[i])] = change.Int(int64(rank))
			} else {
				out[order.Row(part[i])] = change.Int(int64(dense))
			}
		}
		return nil
	case "lag", "lead":
		off := int(f.Offset)
		if f.Name == "lag" {
			off = -off
		}
		for i := range m {
			j := i + off
			v := def
			if j >= 0 && j < m {
				v = val(j)
			}
			out[order.Row(part[i])] = v
		}
		return nil
	}
	// frame of each row: [lo, hi] in sorted positions
	frame := func(i int) (int, int) {
		fr := f.Frame
		if fr.Whole {
			return 0, m - 1
		}
		lo, hi := 0, m-1
		if !fr.Rows {
			// RANGE: the current row's peers are in the frame
			if !fr.UnboundedStart {
				lo = i
				for lo > 0 && cmpOrder(part[lo-1], part[i]) == 0 {
					lo--
				}
			}
			if !fr.UnboundedEnd {
				hi = peerEnd[i] - 1
			}
			return lo, hi
		}
		if !fr.UnboundedStart {
			lo = max(i+int(fr.Start), 0)
		}
		if !fr.UnboundedEnd {
			hi = min(i+int(fr.End), m-1)
		}
		return lo, hi
	}
	if f.Name == "first_value" {
		for i := range m {
			lo, hi := frame(i)
			v := change.Null()
			if lo <= hi {
				v = val(lo)
			}
			out[order.Row(part[i])] = v
		}
		return nil
	}
	// aggregates: prefix sums / counts; min and max scan their frame.
	vals := make([]change.Value, m)
	if arg != nil {
		for i := range m {
			vals[i] = val(i)
		}
	}
	cnt := make([]int64, m+1)
	for i := range m {
		c := int64(1)
		if arg != nil && vals[i].IsNull() {
			c = 0
		}
		cnt[i+1] = cnt[i] + c
	}
	var inScale int32
	if arg != nil {
		if d, ok := arg.DataType().(*arrow.Decimal128Type); ok {
			inScale = d.Scale
		}
	}
	var isum []int64
	var dsum []decimal128.Num
	var fsum []float64
	if f.Name == "sum" || f.Name == "avg" {
		switch arg.DataType().ID() {
		case arrow.FLOAT32, arrow.FLOAT64:
			fsum = make([]float64, m+1)
			for i := range m {
				fsum[i+1] = fsum[i] + vals[i].AsFloat()
			}
		case arrow.DECIMAL128, arrow.INT64, arrow.UINT64:
			dsum = make([]decimal128.Num, m+1)
			for i := range m {
				dsum[i+1] = dsum[i].Add(vals[i].AsDecimal())
			}
		default:
			isum = make([]int64, m+1)
			for i := range m {
				isum[i+1] = isum[i] + vals[i].AsInt()
			}
		}
	}
	for i := range m {
		lo, hi := frame(i)
		row := order.Row(part[i])
		if lo > hi {
			if f.Name == "count" {
				out[row] = change.Int(0)
			} else {
				out[row] = change.Null()
			}
			continue
		}
		c := cnt[hi+1] - cnt[lo]
		switch f.Name {
		case "count":
			out[row] = change.Int(c)
		case "sum", "avg":
			if c == 0 {
				out[row] = change.Null()
				continue
			}
			switch {
			case fsum != nil:
				s := fsum[hi+1] - fsum[lo]
				if f.Name == "avg" {
					s /= float64(c)
				}
				out[row] = change.Float(s)
			case dsum != nil:
				s := dsum[hi+1].Sub(dsum[lo])
				if f.Name == "avg" {
					out[row] = change.Decimal(avgDecimal(s, inScale, c, f.T))
				} else {
					out[row] = change.Decimal(s)
				}
			default:
				s := isum[hi+1] - isum[lo]
				if f.Name == "avg" {
					out[row] = change.Decimal(avgDecimal(decimal128.FromI64(s), 0, c, f.T))
				} else if f.T.ID() == arrow.DECIMAL128 {
					out[row] = change.Decimal(decimal128.FromI64(s))
				} else {
					out[row] = change.Int(s)
				}
			}
		case "min", "max":
			best := change.Null()
			for k := lo; k <= hi; k++ {
				v := vals[k]
				if v.IsNull() {
					continue
				}
				if best.IsNull() {
					best = v
					continue
				}
				cmp := compareValues(v, best)
				if f.Name == "min" && cmp < 0 || f.Name == "max" && cmp > 0 {
					best = v
				}
			}
			out[row] = best
		}
	}
	return nil
}

// avgDecimal divides an unscaled sum (at scale inScale) by n to the scale of t,
// rounding half away from zero.
func avgDecimal(sum decimal128.Num, inScale int32, n int64, t arrow.DataType) decimal128.Num {
	scale := t.(*arrow.Decimal128Type).Scale
	num := sum.BigInt()
	num.Mul(num, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale-inScale)), nil))
	den := big.NewInt(n)
	q, r := new(big.Int).QuoRem(num, den, new(big.Int))
	r2 := new(big.Int).Mul(new(big.Int).Abs(r), big.NewInt(2))
	if r2.Cmp(den) >= 0 {
		if num.Sign() < 0 {
			q.Sub(q, big.NewInt(1))
		} else {
			q.Add(q, big.NewInt(1))
		}
	}
	return decimal128.FromBigInt(q)
}
