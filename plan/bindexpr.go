package plan

import (
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/scalar"
	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/strata-data/strata/internal/expr"
)

// funcAlias maps PostgreSQL function names to expr's.
var funcAlias = map[string]string{
	"substring": "substr", "btrim": "trim", "char_length": "length", "character_length": "length",
	"ceiling": "ceil", "date_part": "extract", "lower": "lower", "upper": "upper", "length": "length",
	"substr": "substr", "concat": "concat", "trim": "trim", "ltrim": "ltrim", "rtrim": "rtrim",
	"replace": "replace", "abs": "abs", "round": "round", "floor": "floor", "ceil": "ceil",
	"date_trunc": "date_trunc", "extract": "extract", "now": "now", "coalesce": "coalesce",
	"nullif": "nullif", "greatest": "greatest", "least": "least", "current_date": "current_date",
}

func containsCalls(n *pg.Node) bool {
	found := false
	walkPG(n.ProtoReflect(), func(m protoreflect.Message) bool {
		switch m.Interface().(type) {
		case *pg.FuncCall:
			fc := m.Interface().(*pg.FuncCall)
			if fc.Over != nil || aggNames[funcName(fc)] {
				found = true
			}
		case *pg.SubLink:
			return false
		}
		return !found
	})
	return found
}

// call builds a call, reporting a type error at the node's position.
func (b *binder) call(loc int32, name string, args ...expr.Expr) (expr.Expr, error) {
	for i, a := range args {
		if b.unknown[a] {
			// an unknown literal takes the type of a typed sibling, else text
			var to arrow.DataType = expr.Text
			for _, o := range args {
				if !b.unknown[o] && o.Type().ID() != arrow.NULL {
					to = o.Type()
					break
				}
			}
			if name == "||" || name == "like" || name == "ilike" || name == "not_like" || name == "not_ilike" ||
				name == "concat" || name == "replace" || name == "substr" || name == "date_trunc" || name == "extract" || name == "trim" ||
				name == "ltrim" || name == "rtrim" || name == "lower" || name == "upper" || name == "length" {
				to = expr.Text
			}
			if to.ID() != arrow.STRING {
				c, err := expr.NewCast(a, to)
				if err != nil {
					return nil, b.bindErr(loc, "%v", err)
				}
				args[i] = c
			}
		}
	}
	e, err := expr.NewCall(name, args...)
	if err != nil {
		return nil, b.bindErr(loc, "%v", err)
	}
	return e, nil
}

func (b *binder) compare(op string, l, r expr.Expr, loc int32) (expr.Expr, error) {
	return b.call(loc, op, l, r)
}

func (b *binder) bindExprs(sc *scope, ns []*pg.Node) ([]expr.Expr, error) {
	out := make([]expr.Expr, len(ns))
	for i, n := range ns {
		e, err := b.bindExpr(sc, n)
		if err != nil {
			return nil, err
		}
		out[i] = e
	}
	return out, nil
}

// bindExpr binds a scalar expression in sc.
func (b *binder) bindExpr(sc *scope, n *pg.Node) (expr.Expr, error) {
	if n == nil || n.Node == nil {
		return nil, b.unsupported(-1, "empty expression")
	}
	if fc := n.GetFuncCall(); fc != nil {
		if i, ok := sc.wins[fc]; ok {
			return &expr.Column{Index: i, Name: funcName(fc), T: sc.fields()[i].Type}, nil
		}
		if i, ok := sc.aggs[fc]; ok {
			return &expr.Column{Index: i, Name: funcName(fc), T: sc.fields()[i].Type}, nil
		}
	}
	if sc.aggs != nil && n.GetAConst() == nil && n.GetSubLink() == nil && !containsCalls(n) {
		e, err := b.bindExpr(sc.pre, n)
		if err != nil {
			return nil, err
		}
		k := exprKey(e)
		for i, g := range sc.group {
			if exprKey(g) == k {
				return &expr.Column{Index: i, Name: sc.fields()[i].Name, T: g.Type()}, nil
			}
		}
		inner := false
		for _, c := range expr.Columns(e) {
			if c < outerBase {
				inner = true
			}
		}
		if !inner {
			return e, nil
		}
		if cr := n.GetColumnRef(); cr != nil {
			return nil, b.bindErr(cr.Location, "column %q must appear in the GROUP BY clause or be used in an aggregate function", defaultName(n))
		}
	}
	switch {
	case n.GetColumnRef() != nil:
		cr := n.GetColumnRef()
		if cr.Fields[len(cr.Fields)-1].GetAStar() != nil {
			return nil, b.unsupported(cr.Location, "* in an expression")
		}
		return sc.lookup(cr)
	case n.GetAConst() != nil:
		return b.bindConst(n.GetAConst())
	case n.GetTypeCast() != nil:
		tc := n.GetTypeCast()
		to, err := b.typeOf(tc.TypeName)
		if err != nil {
			return nil, err
		}
		if to.ID() == arrow.INTERVAL_MONTH_DAY_NANO {
			if c := tc.Arg.GetAConst(); c != nil {
				if sv, ok := c.Val.(*pg.A_Const_Sval); ok {
					return b.intervalLiteral(sv.Sval.Sval, tc.TypeName, c.Location)
				}
			}
		}
		e, err := b.bindExpr(sc, tc.Arg)
		if err != nil {
			return nil, err
		}
		c, err := expr.NewCast(e, to)
		if err != nil {
			return nil, b.bindErr(tc.Location, "%v", err)
		}
		return c, nil
	case n.GetAExpr() != nil:
		return b.bindAExpr(sc, n.GetAExpr())
	case n.GetBoolExpr() != nil:
		be := n.GetBoolExpr()
		args, err := b.bindExprs(sc, be.Args)
		if err != nil {
			return nil, err
		}
		switch be.Boolop {
		case pg.BoolExprType_NOT_EXPR:
			return b.call(be.Location, "not", args[0])
		case pg.BoolExprType_AND_EXPR, pg.BoolExprType_OR_EXPR:
			op := "and"
			if be.Boolop == pg.BoolExprType_OR_EXPR {
				op = "or"
			}
			out := args[0]
			for _, a := range args[1:] {
				if out, err = b.call(be.Location, op, out, a); err != nil {
					return nil, err
				}
			}
			return out, nil
		}
	case n.GetNullTest() != nil:
		nt := n.GetNullTest()
		a, err := b.bindExpr(sc, nt.Arg)
		if err != nil {
			return nil, err
		}
		if nt.Nulltesttype == pg.NullTestType_IS_NULL {
			return b.call(nt.Location, "is_null", a)
		}
		return b.call(nt.Location, "is_not_null", a)
	case n.GetBooleanTest() != nil:
		bt := n.GetBooleanTest()
		a, err := b.bindExpr(sc, bt.Arg)
		if err != nil {
			return nil, err
		}
		var v expr.Expr
		neg := false
		switch bt.Booltesttype {
		case pg.BoolTestType_IS_TRUE, pg.BoolTestType_IS_NOT_TRUE:
			v, neg = lit(scalar.NewBooleanScalar(true)), bt.Booltesttype == pg.BoolTestType_IS_TRUE
		case pg.BoolTestType_IS_FALSE, pg.BoolTestType_IS_NOT_FALSE:
			v, neg = lit(scalar.NewBooleanScalar(false)), bt.Booltesttype == pg.BoolTestType_IS_FALSE
		default:
			if bt.Booltesttype == pg.BoolTestType_IS_UNKNOWN {
				return b.call(bt.Location, "is_null", a)
			}
			return b.call(bt.Location, "is_not_null", a)
		}
		d, err := b.call(bt.Location, "is_distinct_from", a, v)
		if err != nil || !neg {
			return d, err
		}
		return b.call(bt.Location, "not", d)
	case n.GetCaseExpr() != nil:
		ce := n.GetCaseExpr()
		var op expr.Expr
		if ce.Arg != nil {
			var err error
			if op, err = b.bindExpr(sc, ce.Arg); err != nil {
				return nil, err
			}
		}
		var whens []expr.When
		for _, w := range ce.Args {
			cw := w.GetCaseWhen()
			c, err := b.bindExpr(sc, cw.Expr)
			if err != nil {
				return nil, err
			}
			t, err := b.bindExpr(sc, cw.Result)
			if err != nil {
				return nil, err
			}
			if b.unknown[c] && op != nil {
				if c, err = expr.NewCast(c, op.Type()); err != nil {
					return nil, b.bindErr(cw.Location, "%v", err)
				}
			}
			whens = append(whens, expr.When{Cond: c, Then: t})
		}
		var els expr.Expr
		if ce.Defresult != nil {
			var err error
			if els, err = b.bindExpr(sc, ce.Defresult); err != nil {
				return nil, err
			}
		}
		// unknown literals in results: text unless a sibling is typed
		var typed arrow.DataType
		for _, w := range whens {
			if !b.unknown[w.Then] && w.Then.Type().ID() != arrow.NULL {
				typed = w.Then.Type()
				break
			}
		}
		if typed == nil && els != nil && !b.unknown[els] && els.Type().ID() != arrow.NULL {
			typed = els.Type()
		}
		if typed == nil {
			typed = expr.Text
		}
		for i := range whens {
			if b.unknown[whens[i].Then] {
				whens[i].Then, _ = expr.NewCast(whens[i].Then, typed)
			}
		}
		if els != nil && b.unknown[els] {
			els, _ = expr.NewCast(els, typed)
		}
		c, err := expr.NewCase(op, whens, els)
		if err != nil {
			return nil, b.bindErr(ce.Location, "CASE: %v", err)
		}
		return c, nil
	case n.GetCoalesceExpr() != nil:
		ce := n.GetCoalesceExpr()
		args, err := b.bindExprs(sc, ce.Args)
		if err != nil {
			return nil, err
		}
		return b.call(ce.Location, "coalesce", args...)
	case n.GetMinMaxExpr() != nil:
		me := n.GetMinMaxExpr()
		args, err := b.bindExprs(sc, me.Args)
		if err != nil {
			return nil, err
		}
		if me.Op == pg.MinMaxOp_IS_GREATEST {
			return b.call(me.Location, "greatest", args...)
		}
		return b.call(me.Location, "least", args...)
	case n.GetSqlvalueFunction() != nil:
		sv := n.GetSqlvalueFunction()
		switch sv.Op {
		case pg.SQLValueFunctionOp_SVFOP_CURRENT_DATE:
			return b.call(sv.Location, "current_date")
		case pg.SQLValueFunctionOp_SVFOP_CURRENT_TIMESTAMP, pg.SQLValueFunctionOp_SVFOP_LOCALTIMESTAMP:
			return b.call(sv.Location, "now")
		}
		return nil, b.unsupported(sv.Location, "SQL function %s", sv.Op)
	case n.GetFuncCall() != nil:
		fc := n.GetFuncCall()
		name := funcName(fc)
		if aggNames[name] || fc.Over != nil || windowOnly[name] {
			return nil, b.bindErr(fc.Location, "%s is not allowed here", name)
		}
		fn, ok := funcAlias[name]
		if !ok {
			return nil, b.unsupported(fc.Location, "function %s", name)
		}
		if fc.AggStar || fc.AggDistinct || fc.AggFilter != nil {
			return nil, b.bindErr(fc.Location, "%s is not an aggregate function", name)
		}
		args, err := b.bindExprs(sc, fc.Args)
		if err != nil {
			return nil, err
		}
		return b.call(fc.Location, fn, args...)
	case n.GetSubLink() != nil:
		return b.scalarSubquery(sc, n.GetSubLink())
	case n.GetParamRef() != nil:
		return nil, b.unsupported(n.GetParamRef().Location, "parameters ($n)")
	}
	return nil, b.unsupported(nodeLoc(n), "expression %s", nodeName(n))
}

func (b *binder) bindConst(c *pg.A_Const) (expr.Expr, error) {
	if c.Isnull {
		return expr.Null(), nil
	}
	switch v := c.Val.(type) {
	case *pg.A_Const_Ival:
		return lit(scalar.NewInt32Scalar(v.Ival.Ival)), nil
	case *pg.A_Const_Fval:
		e, err := numericLiteral(v.Fval.Fval)
		if err != nil {
			return nil, b.bindErr(c.Location, "%v", err)
		}
		return e, nil
	case *pg.A_Const_Boolval:
		return lit(scalar.NewBooleanScalar(v.Boolval.Boolval)), nil
	case *pg.A_Const_Sval:
		l := lit(scalar.NewStringScalar(v.Sval.Sval))
		b.unknown[l] = true
		return l, nil
	}
	return nil, b.unsupported(c.Location, "constant %T", c.Val)
}

// typeOf maps a PostgreSQL type name to its Arrow type.
func (b *binder) typeOf(tn *pg.TypeName) (arrow.DataType, error) {
	name := tn.Names[len(tn.Names)-1].GetString_().GetSval()
	if len(tn.ArrayBounds) > 0 {
		return nil, b.unsupported(tn.Location, "array type %s[]", name)
	}
	mods := make([]int32, 0, 2)
	for _, m := range tn.Typmods {
		if c := m.GetAConst(); c != nil {
			if iv, ok := c.Val.(*pg.A_Const_Ival); ok {
				mods = append(mods, iv.Ival.Ival)
			}
		}
	}
	switch name {
	case "int2", "smallint":
		return expr.Int16, nil
	case "int4", "int", "integer":
		return expr.Int32, nil
	case "int8", "bigint":
		return expr.Int64, nil
	case "float4", "real":
		return expr.Float32, nil
	case "float8", "double precision", "float":
		return expr.Float64, nil
	case "numeric", "decimal":
		p, s := int32(38), int32(0)
		if len(mods) == 0 {
			p, s = 38, 16 // unconstrained numeric: a wide exact type
		}
		if len(mods) >= 1 {
			p = mods[0]
		}
		if len(mods) >= 2 {
			s = mods[1]
		}
		if p > 38 {
			return nil, b.unsupported(tn.Location, "numeric precision %d (at most 38)", p)
		}
		return expr.Numeric(p, s), nil
	case "text", "varchar", "bpchar", "char", "character varying", "name":
		return expr.Text, nil
	case "bool", "boolean":
		return expr.Bool, nil
	case "date":
		return expr.Date, nil
	case "timestamp":
		return expr.Timestamp, nil
	case "timestamptz":
		return expr.TimestampTZ, nil
	case "interval":
		return expr.Interval, nil
	case "bytea":
		return expr.Bytea, nil
	}
	return nil, b.unsupported(tn.Location, "type %s", name)
}

// intervalLiteral parses an interval constant: "3 months", "1 year 2 days", "90" with
// a field typmod (interval '90' day).
func (b *binder) intervalLiteral(s string, tn *pg.TypeName, loc int32) (expr.Expr, error) {
	var months, days int32
	var nanos int64
	fields := strings.Fields(strings.ToLower(s))
	unitOf := func(u string) (string, bool) {
		u = strings.TrimSuffix(u, "s")
		switch u {
		case "year", "yr", "y":
			return "year", true
		case "mon", "month":
			return "month", true
		case "week", "w":
			return "week", true
		case "day", "d":
			return "day", true
		case "hour", "hr", "h":
			return "hour", true
		case "minute", "min", "m":
			return "minute", true
		case "second", "sec":
			return "second", true
		}
		return "", false
	}
	add := func(v float64, unit string) {
		switch unit {
		case "year":
			months += int32(v * 12)
		case "month":
			months += int32(v)
		case "week":
			days += int32(v * 7)
		case "day":
			days += int32(v)
		case "hour":
			nanos += int64(v * 3600e9)
		case "minute":
			nanos += int64(v * 60e9)
		case "second":
			nanos += int64(v * 1e9)
		}
	}
	if len(fields) == 1 {
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return nil, b.bindErr(loc, "invalid input syntax for type interval: %q", s)
		}
		unit := "second"
		for _, m := range tn.Typmods {
			if c := m.GetAConst(); c != nil {
				if iv, ok := c.Val.(*pg.A_Const_Ival); ok {
					mask := iv.Ival.Ival
					switch {
					case mask&(1<<2) != 0:
						unit = "year"
					case mask&(1<<1) != 0:
						unit = "month"
					case mask&(1<<3) != 0:
						unit = "day"
					case mask&(1<<10) != 0:
						unit = "hour"
					case mask&(1<<11) != 0:
						unit = "minute"
					}
				}
				break
			}
		}
		add(v, unit)
	} else {
		if len(fields)%2 != 0 {
			return nil, b.bindErr(loc, "invalid input syntax for type interval: %q", s)
		}
		for i := 0; i < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			u, ok := unitOf(fields[i+1])
			if err != nil || !ok {
				return nil, b.bindErr(loc, "invalid input syntax for type interval: %q", s)
			}
			add(v, u)
		}
	}
	return lit(scalar.NewMonthDayNanoIntervalScalar(arrow.MonthDayNanoInterval{Months: months, Days: days, Nanoseconds: nanos})), nil
}

func (b *binder) bindAExpr(sc *scope, a *pg.A_Expr) (expr.Expr, error) {
	opName := ""
	if len(a.Name) > 0 {
		opName = a.Name[len(a.Name)-1].GetString_().GetSval()
	}
	switch a.Kind {
	case pg.A_Expr_Kind_AEXPR_OP:
		if a.Lexpr == nil {
			r, err := b.bindExpr(sc, a.Rexpr)
			if err != nil {
				return nil, err
			}
			switch opName {
			case "-":
				return b.call(a.Location, "neg", r)
			case "+":
				return r, nil
			}
			return nil, b.unsupported(a.Location, "prefix operator %s", opName)
		}
		l, err := b.bindExpr(sc, a.Lexpr)
		if err != nil {
			return nil, err
		}
		r, err := b.bindExpr(sc, a.Rexpr)
		if err != nil {
			return nil, err
		}
		switch opName {
		case "+", "-", "*", "/", "%", "=", "<>", "<", "<=", ">", ">=", "||":
			return b.call(a.Location, opName, l, r)
		case "!=":
			return b.call(a.Location, "<>", l, r)
		case "~~":
			return b.call(a.Location, "like", l, r)
		case "!~~":
			return b.call(a.Location, "not_like", l, r)
		case "~~*":
			return b.call(a.Location, "ilike", l, r)
		case "!~~*":
			return b.call(a.Location, "not_ilike", l, r)
		}
		return nil, b.unsupported(a.Location, "operator %s", opName)
	case pg.A_Expr_Kind_AEXPR_LIKE, pg.A_Expr_Kind_AEXPR_ILIKE:
		l, err := b.bindExpr(sc, a.Lexpr)
		if err != nil {
			return nil, err
		}
		r, err := b.bindExpr(sc, a.Rexpr)
		if err != nil {
			return nil, err
		}
		name := map[string]string{"~~": "like", "!~~": "not_like", "~~*": "ilike", "!~~*": "not_ilike"}[opName]
		if name == "" {
			return nil, b.unsupported(a.Location, "LIKE operator %s", opName)
		}
		return b.call(a.Location, name, l, r)
	case pg.A_Expr_Kind_AEXPR_DISTINCT, pg.A_Expr_Kind_AEXPR_NOT_DISTINCT:
		l, err := b.bindExpr(sc, a.Lexpr)
		if err != nil {
			return nil, err
		}
		r, err := b.bindExpr(sc, a.Rexpr)
		if err != nil {
			return nil, err
		}
		d, err := b.call(a.Location, "is_distinct_from", l, r)
		if err != nil || a.Kind == pg.A_Expr_Kind_AEXPR_DISTINCT {
			return d, err
		}
		return b.call(a.Location, "not", d)
	case pg.A_Expr_Kind_AEXPR_NULLIF:
		l, err := b.bindExpr(sc, a.Lexpr)
		if err != nil {
			return nil, err
		}
		r, err := b.bindExpr(sc, a.Rexpr)
		if err != nil {
			return nil, err
		}
		return b.call(a.Location, "nullif", l, r)
	case pg.A_Expr_Kind_AEXPR_IN:
		l, err := b.bindExpr(sc, a.Lexpr)
		if err != nil {
			return nil, err
		}
		list := a.Rexpr.GetList()
		if list == nil {
			return nil, b.unsupported(a.Location, "IN with %s", nodeName(a.Rexpr))
		}
		items, err := b.bindExprs(sc, list.Items)
		if err != nil {
			return nil, err
		}
		in, err := b.call(a.Location, "in", append([]expr.Expr{l}, items...)...)
		if err != nil || opName == "=" {
			return in, err
		}
		return b.call(a.Location, "not", in)
	case pg.A_Expr_Kind_AEXPR_BETWEEN, pg.A_Expr_Kind_AEXPR_NOT_BETWEEN:
		l, err := b.bindExpr(sc, a.Lexpr)
		if err != nil {
			return nil, err
		}
		items, err := b.bindExprs(sc, a.Rexpr.GetList().GetItems())
		if err != nil {
			return nil, err
		}
		if len(items) != 2 {
			return nil, b.bindErr(a.Location, "BETWEEN needs two bounds")
		}
		bt, err := b.call(a.Location, "between", l, items[0], items[1])
		if err != nil || a.Kind == pg.A_Expr_Kind_AEXPR_BETWEEN {
			return bt, err
		}
		return b.call(a.Location, "not", bt)
	}
	return nil, b.unsupported(a.Location, "expression %s", strings.TrimPrefix(a.Kind.String(), "AEXPR_"))
}

// scalarSubquery binds (SELECT ...) used as a value: the subquery joins into sc.in (a
// left join: no row gives NULL) and the expression is its column.
func (b *binder) scalarSubquery(sc *scope, sl *pg.SubLink) (expr.Expr, error) {
	switch sl.SubLinkType {
	case pg.SubLinkType_EXPR_SUBLINK:
	case pg.SubLinkType_EXISTS_SUBLINK, pg.SubLinkType_ANY_SUBLINK:
		return nil, b.unsupported(sl.Location, "EXISTS or IN (subquery) outside a WHERE conjunct")
	default:
		return nil, b.unsupported(sl.Location, "subquery %s", sl.SubLinkType)
	}
	if sc.noSubquery {
		return nil, b.unsupported(sl.Location, "a subquery in this clause")
	}
	q, err := b.bindSelect(sl.Subselect.GetSelectStmt(), sc)
	if err != nil {
		return nil, err
	}
	if q.width != 1 {
		return nil, b.bindErr(sl.Location, "subquery must return only one column")
	}
	left := sc.in
	nl := len(left.Fields())
	var right Node = q.node
	if len(q.corr) == 0 {
		right = &SingleRow{Input: right}
	} else if _, ok := q.node.(*Aggregate); !ok && !isGrouped(q.node) {
		return nil, b.unsupported(sl.Location, "correlated scalar subquery without an aggregate")
	}
	j := NewJoin(LeftJoin, left, right, nil, nil, nil)
	if len(q.corr) > 0 {
		var conds []expr.Expr
		for _, c := range q.corr {
			e, err := remapCorr(c, nl)
			if err != nil {
				return nil, err
			}
			conds = append(conds, e)
		}
		j.Extra = andAll(conds)
	}
	// the subquery's columns are reachable only through the expression
	for i := nl; i < len(j.fields); i++ {
		j.fields[i].Hidden = true
		j.fields[i].Qual = "\x00subquery"
	}
	sc.in = j
	f := j.Fields()[nl]
	var out expr.Expr = &expr.Column{Index: nl, Name: f.Name, T: f.Type}
	if len(q.corr) > 0 {
		// A correlated aggregate over no rows is its value on an empty group: NULL,
		// except count, which is 0.
		sel := sl.Subselect.GetSelectStmt()
		if sel != nil && len(sel.TargetList) == 1 {
			val := sel.TargetList[0].GetResTarget().GetVal()
			aggs, _ := collectCalls([]*pg.Node{val})
			for _, a := range aggs {
				if funcName(a) != "count" {
					continue
				}
				if val.GetFuncCall() != a {
					return nil, b.unsupported(sl.Location, "count inside an expression of a correlated scalar subquery")
				}
				zero, err := expr.NewCast(lit(scalar.NewInt64Scalar(0)), f.Type)
				if err != nil {
					return nil, err
				}
				return b.call(sl.Location, "coalesce", out, zero)
			}
		}
	}
	return out, nil
}

// isGrouped reports whether a subquery's plan aggregates (below projections).
func isGrouped(n Node) bool {
	for {
		switch x := n.(type) {
		case *Aggregate:
			return true
		case *Project:
			n = x.Input
		case *Filter:
			n = x.Input
		default:
			return false
		}
	}
}

// remapCorr renumbers a correlated condition for a join of the outer input (nl fields)
// with the subquery: inner columns outerBase+j become nl+j.
func remapCorr(c expr.Expr, nl int) (expr.Expr, error) {
	return expr.Transform(c, func(x expr.Expr) (expr.Expr, error) {
		if col, ok := x.(*expr.Column); ok && col.Index >= outerBase {
			return &expr.Column{Index: nl + col.Index - outerBase, Name: col.Name, T: col.T}, nil
		}
		return x, nil
	})
}

// subqueryPredicate turns a WHERE conjunct [NOT] EXISTS (...), x [NOT] IN (...) into a
// semi or anti join on sc.in. It reports whether the conjunct was one.
func (b *binder) subqueryPredicate(sc *scope, n *pg.Node) (bool, error) {
	neg := false
	if be := n.GetBoolExpr(); be != nil && be.Boolop == pg.BoolExprType_NOT_EXPR && len(be.Args) == 1 {
		n, neg = be.Args[0], true
	}
	sl := n.GetSubLink()
	if sl == nil {
		return false, nil
	}
	if sl.SubLinkType != pg.SubLinkType_EXISTS_SUBLINK && sl.SubLinkType != pg.SubLinkType_ANY_SUBLINK {
		return false, nil
	}
	if sl.SubLinkType == pg.SubLinkType_ANY_SUBLINK && len(sl.OperName) > 0 {
		if op := sl.OperName[len(sl.OperName)-1].GetString_().GetSval(); op != "=" {
			return false, b.unsupported(sl.Location, "%s ANY (subquery)", op)
		}
	}
	q, err := b.bindSelect(sl.Subselect.GetSelectStmt(), sc)
	if err != nil {
		return false, err
	}
	left := sc.in
	nl := len(left.Fields())
	var conds []expr.Expr
	for _, c := range q.corr {
		e, err := remapCorr(c, nl)
		if err != nil {
			return false, err
		}
		conds = append(conds, e)
	}
	kind := SemiJoin
	if neg {
		kind = AntiJoin
	}
	j := NewJoin(kind, left, q.node, nil, nil, nil)
	if sl.SubLinkType == pg.SubLinkType_ANY_SUBLINK {
		var tests []*pg.Node
		if r := sl.Testexpr.GetRowExpr(); r != nil {
			tests = r.Args
		} else {
			tests = []*pg.Node{sl.Testexpr}
		}
		if len(tests) != q.width {
			return false, b.bindErr(sl.Location, "subquery has %d columns, IN compares %d", q.width, len(tests))
		}
		rf := q.node.Fields()
		for i, t := range tests {
			x, err := b.bindExpr(sc, t)
			if err != nil {
				return false, err
			}
			left = sc.in // a scalar subquery in x may have joined
			nl = len(left.Fields())
			c, err := b.compare("=", x, &expr.Column{Index: outerBase + i, Name: rf[i].Name, T: rf[i].Type}, sl.Location)
			if err != nil {
				return false, err
			}
			c, _ = remapCorr(c, nl)
			conds = append(conds, c)
		}
		j = NewJoin(kind, left, q.node, nil, nil, nil)
		if neg {
			if len(q.corr) > 0 {
				return false, b.unsupported(sl.Location, "NOT IN with a correlated subquery")
			}
			j.NullAware = true
		}
	}
	if len(conds) > 0 {
		j.Extra = andAll(conds)
	}
	sc.in = j
	return true, nil
}
