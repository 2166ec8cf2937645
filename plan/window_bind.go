package plan

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/strata-data/strata/internal/expr"
)

// bindWindows computes the window calls over sc.in: a projection appends their
// arguments and keys, a Window node appends one column per call; sc.wins maps each call
// to its column.
func (b *binder) bindWindows(sc *scope, calls []*pg.FuncCall) error {
	in := sc.in
	fs := append([]Field{}, in.Fields()...)
	exprs := make([]expr.Expr, len(fs))
	for i, f := range fs {
		exprs[i] = &expr.Column{Index: i, Name: f.Name, T: f.Type}
	}
	add := func(e expr.Expr) int {
		k := exprKey(e)
		for i, x := range exprs {
			if exprKey(x) == k {
				return i
			}
		}
		exprs = append(exprs, e)
		fs = append(fs, Field{Name: fmt.Sprintf("w%d", len(fs)), Type: e.Type(), Nullable: true, Hidden: true})
		return len(exprs) - 1
	}
	var funcs []WindowFunc
	for _, fc := range calls {
		name := funcName(fc)
		w := fc.Over
		if w.Refname != "" || w.Name != "" {
			return b.unsupported(fc.Location, "named window %s", w.Refname+w.Name)
		}
		if fc.AggDistinct || fc.AggFilter != nil {
			return b.unsupported(fc.Location, "DISTINCT or FILTER in window function %s", name)
		}
		wf := WindowFunc{Name: name, Offset: 1}
		switch name {
		case "row_number", "rank", "dense_rank":
			if len(fc.Args) != 0 {
				return b.bindErr(fc.Location, "%s takes no arguments", name)
			}
			wf.T = expr.Int64
		case "lag", "lead", "first_value", "sum", "avg", "count", "min", "max":
		default:
			return b.unsupported(fc.Location, "window function %s", name)
		}
		if fc.AggStar {
			if name != "count" {
				return b.bindErr(fc.Location, "%s(*)", name)
			}
		}
		for i, a := range fc.Args {
			e, err := b.bindExpr(sc, a)
			if err != nil {
				return err
			}
			if i == 0 {
				wf.Args = append(wf.Args, add(e))
				continue
			}
			if name != "lag" && name != "lead" || i > 2 {
				return b.bindErr(fc.Location, "too many arguments to %s", name)
			}
			if i == 1 {
				off, err := b.constInt(a, name+" offset")
				if err != nil {
					return err
				}
				wf.Offset = off
			} else {
				wf.Default = e
			}
		}
		for _, p := range w.PartitionClause {
			e, err := b.bindExpr(sc, p)
			if err != nil {
				return err
			}
			wf.Partition = append(wf.Partition, add(e))
		}
		for _, o := range w.OrderClause {
			sb := o.GetSortBy()
			e, err := b.bindExpr(sc, sb.Node)
			if err != nil {
				return err
			}
			desc := sb.SortbyDir == pg.SortByDir_SORTBY_DESC
			nf := desc
			switch sb.SortbyNulls {
			case pg.SortByNulls_SORTBY_NULLS_FIRST:
				nf = true
			case pg.SortByNulls_SORTBY_NULLS_LAST:
				nf = false
			}
			wf.Order = append(wf.Order, SortKey{Col: add(e), Desc: desc, NullsFirst: nf})
		}
		fr, err := b.frame(w, len(wf.Order) > 0)
		if err != nil {
			return err
		}
		wf.Frame = fr
		funcs = append(funcs, wf)
	}
	proj := &Project{Input: in, Exprs: exprs, fields: fs}
	win := &Window{Input: proj, Funcs: funcs, fields: append([]Field{}, fs...)}
	if sc.wins == nil {
		sc.wins = map[*pg.FuncCall]int{}
	}
	for i := range win.Funcs {
		f := &win.Funcs[i]
		if f.T == nil {
			t, err := windowType(f, fs)
			if err != nil {
				return b.bindErr(calls[i].Location, "%v", err)
			}
			f.T = t
		}
		sc.wins[calls[i]] = len(win.fields)
		win.fields = append(win.fields, Field{Name: f.Name, Type: f.T, Nullable: true})
	}
	sc.in = win
	return nil
}

// windowType is a window function's result type.
func windowType(f *WindowFunc, in []Field) (arrow.DataType, error) {
	switch f.Name {
	case "count":
		return expr.Int64, nil
	case "lag", "lead", "first_value", "min", "max":
		return in[f.Args[0]].Type, nil
	case "sum", "avg":
		a := &Aggregate{Input: &fieldsNode{fields: in}, Aggs: []AggCall{{Func: aggFuncOf(f.Name), Arg: f.Args[0]}}}
		if err := a.resolveTypes(); err != nil {
			return nil, err
		}
		return a.Aggs[0].T, nil
	}
	return nil, fmt.Errorf("window function %s", f.Name)
}

func (b *binder) frame(w *pg.WindowDef, ordered bool) (Frame, error) {
	const (
		nondefault = 0x1
		rows       = 0x4
		groups     = 0x8
		startUP    = 0x20
		endUF      = 0x100
		startCR    = 0x200
		endCR      = 0x400
		startOP    = 0x800
		endOP      = 0x1000
		startOF    = 0x2000
		endOF      = 0x4000
		exclusion  = 0x8000 | 0x10000 | 0x20000
	)
	o := w.FrameOptions
	if o&nondefault == 0 {
		if !ordered {
			return Frame{Whole: true}, nil
		}
		return Frame{UnboundedStart: true, End: 0}, nil
	}
	if o&groups != 0 || o&exclusion != 0 {
		return Frame{}, b.unsupported(w.Location, "GROUPS frames and EXCLUDE")
	}
	f := Frame{Rows: o&rows != 0}
	if !f.Rows && o&(startOP|startOF|endOP|endOF) != 0 {
		return Frame{}, b.unsupported(w.Location, "RANGE frames with offsets")
	}
	off := func(n *pg.Node) (int64, error) { return b.constInt(n, "frame offset") }
	switch {
	case o&startUP != 0:
		f.UnboundedStart = true
	case o&startCR != 0:
		f.Start = 0
	case o&startOP != 0:
		v, err := off(w.StartOffset)
		if err != nil {
			return f, err
		}
		f.Start = -v
	case o&startOF != 0:
		v, err := off(w.StartOffset)
		if err != nil {
			return f, err
		}
		f.Start = v
	}
	switch {
	case o&endUF != 0:
		f.UnboundedEnd = true
	case o&endCR != 0:
		f.End = 0
	case o&endOP != 0:
		v, err := off(w.EndOffset)
		if err != nil {
			return f, err
		}
		f.End = -v
	case o&endOF != 0:
		v, err := off(w.EndOffset)
		if err != nil {
			return f, err
		}
		f.End = v
	default:
		f.End = 0
	}
	if !f.Rows && f.UnboundedStart && f.UnboundedEnd {
		f.Whole = true
	}
	return f, nil
}
