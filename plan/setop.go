package plan

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/scalar"
	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/internal/expr"
	"github.com/strata-data/strata/reduce"
)

func aggFuncOf(name string) reduce.AggFunc {
	switch name {
	case "sum":
		return reduce.Sum
	case "avg":
		return reduce.Avg
	case "min":
		return reduce.Min
	case "max":
		return reduce.Max
	}
	return reduce.Count
}

// changeSchema builds a change schema of fields.
func changeSchema(fields []arrow.Field) (*change.Schema, error) {
	return change.NewSchema(fields)
}

// commonType is the type both of a and b convert to in a UNION, or an error.
func commonType(a, b arrow.DataType) (arrow.DataType, bool) {
	if arrow.TypeEqual(a, b) {
		return a, true
	}
	if a.ID() == arrow.NULL {
		return b, true
	}
	if b.ID() == arrow.NULL {
		return a, true
	}
	rank := func(t arrow.DataType) int {
		switch t.ID() {
		case arrow.INT16:
			return 1
		case arrow.INT32:
			return 2
		case arrow.INT64:
			return 3
		case arrow.DECIMAL128:
			return 4
		case arrow.FLOAT32:
			return 5
		case arrow.FLOAT64:
			return 6
		}
		return 0
	}
	ra, rb := rank(a), rank(b)
	if ra > 0 && rb > 0 {
		if a.ID() == arrow.DECIMAL128 && b.ID() == arrow.DECIMAL128 {
			da, db := a.(*arrow.Decimal128Type), b.(*arrow.Decimal128Type)
			s := max(da.Scale, db.Scale)
			p := min(max(da.Precision-da.Scale, db.Precision-db.Scale)+s, 38)
			return expr.Numeric(p, s), true
		}
		if ra == 4 && rb < 4 || rb == 4 && ra < 4 {
			d := a
			if rb == 4 {
				d = b
			}
			dt := d.(*arrow.Decimal128Type)
			return expr.Numeric(min(dt.Precision+19, 38), dt.Scale), true
		}
		if ra > rb {
			return a, true
		}
		return b, true
	}
	if a.ID() == arrow.DATE32 && b.ID() == arrow.TIMESTAMP {
		return b, true
	}
	if b.ID() == arrow.DATE32 && a.ID() == arrow.TIMESTAMP {
		return a, true
	}
	return nil, false
}

// castTo projects n's columns to types (no projection when they match).
func castTo(n Node, types []arrow.DataType) (Node, error) {
	fs := n.Fields()
	same := true
	for i, f := range fs {
		if !arrow.TypeEqual(f.Type, types[i]) {
			same = false
		}
	}
	if same {
		return n, nil
	}
	exprs := make([]expr.Expr, len(fs))
	out := make([]Field, len(fs))
	for i, f := range fs {
		var e expr.Expr = &expr.Column{Index: i, Name: f.Name, T: f.Type}
		if !arrow.TypeEqual(f.Type, types[i]) {
			c, err := expr.NewCast(e, types[i])
			if err != nil {
				return nil, err
			}
			e = c
		}
		exprs[i] = e
		out[i] = Field{Name: f.Name, Type: types[i], Nullable: true}
	}
	return &Project{Input: n, Exprs: exprs, fields: out}, nil
}

// bindSetOp binds UNION [ALL], INTERSECT and EXCEPT, then ORDER BY / LIMIT over them.
func (b *binder) bindSetOp(s *pg.SelectStmt, outer *scope) (*query, error) {
	lq, err := b.bindSelect(s.Larg, outer)
	if err != nil {
		return nil, err
	}
	rq, err := b.bindSelect(s.Rarg, outer)
	if err != nil {
		return nil, err
	}
	if len(lq.corr) > 0 || len(rq.corr) > 0 {
		return nil, b.unsupported(-1, "correlated set operation")
	}
	l, r := lq.node, rq.node
	lf, rf := l.Fields(), r.Fields()
	op := map[pg.SetOperation]string{pg.SetOperation_SETOP_UNION: "UNION", pg.SetOperation_SETOP_INTERSECT: "INTERSECT", pg.SetOperation_SETOP_EXCEPT: "EXCEPT"}[s.Op]
	if len(lf) != len(rf) {
		return nil, b.bindErr(-1, "each %s query must have the same number of columns (%d and %d)", op, len(lf), len(rf))
	}
	types := make([]arrow.DataType, len(lf))
	for i := range lf {
		t, ok := commonType(lf[i].Type, rf[i].Type)
		if !ok {
			return nil, b.bindErr(-1, "%s types %s and %s cannot be matched (column %d)", op, expr.TypeName(lf[i].Type), expr.TypeName(rf[i].Type), i+1)
		}
		types[i] = t
	}
	if l, err = castTo(l, types); err != nil {
		return nil, b.bindErr(-1, "%s: %v", op, err)
	}
	if r, err = castTo(r, types); err != nil {
		return nil, b.bindErr(-1, "%s: %v", op, err)
	}
	fields := make([]Field, len(lf))
	for i, f := range lf {
		fields[i] = Field{Name: f.Name, Type: types[i], Nullable: true}
	}
	var node Node
	switch s.Op {
	case pg.SetOperation_SETOP_UNION:
		node = &Union{Inputs: []Node{l, r}, fields: fields}
		if !s.All {
			node = distinct(node)
		}
	case pg.SetOperation_SETOP_INTERSECT, pg.SetOperation_SETOP_EXCEPT:
		if s.All {
			return nil, b.unsupported(-1, "%s ALL", op)
		}
		// Tag each side, group by every column (NULLs group together, as set
		// operations compare them), count each side's rows.
		tag := func(n Node, side int) Node {
			fs := n.Fields()
			exprs := make([]expr.Expr, 0, len(fs)+2)
			out := make([]Field, 0, len(fs)+2)
			for i, f := range fs {
				exprs = append(exprs, &expr.Column{Index: i, Name: f.Name, T: f.Type})
				out = append(out, Field{Name: f.Name, Type: types[i], Nullable: true})
			}
			one := lit(scalar.NewInt32Scalar(1))
			null := expr.Expr(lit(scalar.MakeNullScalar(arrow.PrimitiveTypes.Int32)))
			if side == 0 {
				exprs = append(exprs, one, null)
			} else {
				exprs = append(exprs, null, one)
			}
			out = append(out, Field{Name: "l", Type: arrow.PrimitiveTypes.Int32, Nullable: true}, Field{Name: "r", Type: arrow.PrimitiveTypes.Int32, Nullable: true})
			return &Project{Input: n, Exprs: exprs, fields: out}
		}
		u := &Union{Inputs: []Node{tag(l, 0), tag(r, 1)}}
		u.fields = u.Inputs[0].Fields()
		n := len(fields)
		agg := &Aggregate{Input: u}
		for i := range n {
			agg.Group = append(agg.Group, i)
			agg.fields = append(agg.fields, fields[i])
		}
		agg.Aggs = []AggCall{{Func: reduce.Count, Arg: n, Name: "l"}, {Func: reduce.Count, Arg: n + 1, Name: "r"}}
		if err := agg.resolveTypes(); err != nil {
			return nil, err
		}
		agg.fields = append(agg.fields, Field{Name: "l", Type: arrow.PrimitiveTypes.Int64}, Field{Name: "r", Type: arrow.PrimitiveTypes.Int64})
		zero := lit(scalar.NewInt64Scalar(0))
		lc := &expr.Column{Index: n, Name: "l", T: arrow.PrimitiveTypes.Int64}
		rc := &expr.Column{Index: n + 1, Name: "r", T: arrow.PrimitiveTypes.Int64}
		lpos, err := expr.NewCall(">", lc, zero)
		if err != nil {
			return nil, err
		}
		rop := ">"
		if s.Op == pg.SetOperation_SETOP_EXCEPT {
			rop = "="
		}
		rcond, err := expr.NewCall(rop, rc, zero)
		if err != nil {
			return nil, err
		}
		node = keepFirst(&Filter{Input: agg, Cond: andAll([]expr.Expr{lpos, rcond})}, n)
	default:
		return nil, b.unsupported(-1, "set operation %s", s.Op)
	}
	// ORDER BY and LIMIT of the whole set operation: by output name or position.
	var keys []SortKey
	for _, sbn := range s.SortClause {
		sb := sbn.GetSortBy()
		col := -1
		if c := sb.Node.GetAConst(); c != nil {
			if iv, ok := c.Val.(*pg.A_Const_Ival); ok && int(iv.Ival.Ival) >= 1 && int(iv.Ival.Ival) <= len(fields) {
				col = int(iv.Ival.Ival) - 1
			}
		} else if cr := sb.Node.GetColumnRef(); cr != nil && len(cr.Fields) == 1 {
			name := cr.Fields[0].GetString_().GetSval()
			for i, f := range fields {
				if f.Name == name {
					col = i
					break
				}
			}
		}
		if col < 0 {
			return nil, b.unsupported(sb.Location, "ORDER BY of a %s that is not an output column name or position", op)
		}
		desc := sb.SortbyDir == pg.SortByDir_SORTBY_DESC
		nf := desc
		switch sb.SortbyNulls {
		case pg.SortByNulls_SORTBY_NULLS_FIRST:
			nf = true
		case pg.SortByNulls_SORTBY_NULLS_LAST:
			nf = false
		}
		keys = append(keys, SortKey{Col: col, Desc: desc, NullsFirst: nf})
	}
	limit, offset := int64(-1), int64(0)
	if s.LimitCount != nil {
		if limit, err = b.constInt(s.LimitCount, "LIMIT"); err != nil {
			return nil, err
		}
	}
	if s.LimitOffset != nil {
		if offset, err = b.constInt(s.LimitOffset, "OFFSET"); err != nil {
			return nil, err
		}
	}
	if len(keys) > 0 {
		st := &Sort{Input: node, Keys: keys, Limit: -1}
		if limit >= 0 {
			st.Limit = limit + offset
		}
		node = st
	}
	if limit >= 0 || offset > 0 {
		node = &Limit{Input: node, Offset: offset, Count: limit}
	}
	_ = fmt.Sprint
	return &query{node: node, width: len(fields)}, nil
}
