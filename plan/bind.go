package plan

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/scalar"
	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/strata-data/strata/internal/expr"
	"github.com/strata-data/strata/reduce"
)

// Errors of planning, matched with errors.Is.
var (
	// ErrSyntax is a query PostgreSQL's grammar rejects.
	ErrSyntax = errors.New("plan: syntax error")
	// ErrUnsupported is valid SQL that strata does not run (yet); the message names the
	// construct and its position.
	ErrUnsupported = errors.New("plan: unsupported")
	// ErrBind is a name or type that does not resolve: an unknown table or column, an
	// ambiguous name, a type mismatch.
	ErrBind = errors.New("plan: invalid query")
)

// outerBase marks a column reference to the enclosing query of a subquery.
const outerBase = 1 << 24

type binder struct {
	ctx  context.Context
	cat  Catalog
	sql  string
	ctes []map[string]*pg.CommonTableExpr
	// unknown marks string constants not yet given a type (PostgreSQL's "unknown"):
	// compared with a typed value, they are cast to its type.
	unknown map[expr.Expr]bool
}

func (b *binder) isUnknown(e expr.Expr) bool { return b.unknown[e] }

// posText renders a 0-based byte location as PostgreSQL does: "at character N".
func (b *binder) at(loc int32) string {
	if loc < 0 {
		return ""
	}
	line, col := 1, 1
	for i, r := range b.sql {
		if i >= int(loc) {
			break
		}
		if r == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return fmt.Sprintf(" at line %d, column %d (character %d)", line, col, loc+1)
}

func (b *binder) unsupported(loc int32, what string, args ...any) error {
	return fmt.Errorf("%w: %s%s", ErrUnsupported, fmt.Sprintf(what, args...), b.at(loc))
}

func (b *binder) bindErr(loc int32, what string, args ...any) error {
	return fmt.Errorf("%w: %s%s", ErrBind, fmt.Sprintf(what, args...), b.at(loc))
}

// Parse parses sql and binds it against cat into a logical plan.
func Parse(ctx context.Context, cat Catalog, sql string) (Node, error) {
	tree, err := pg.Parse(sql)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	if len(tree.Stmts) != 1 {
		return nil, fmt.Errorf("%w: expected one statement, got %d", ErrUnsupported, len(tree.Stmts))
	}
	b := &binder{ctx: ctx, cat: cat, sql: sql, unknown: map[expr.Expr]bool{}}
	st := tree.Stmts[0].Stmt
	sel := st.GetSelectStmt()
	if sel == nil {
		return nil, b.unsupported(tree.Stmts[0].StmtLocation, "statement %s (only SELECT runs)", nodeName(st))
	}
	q, err := b.bindSelect(sel, nil)
	if err != nil {
		return nil, err
	}
	return q.node, nil
}

func nodeName(n *pg.Node) string {
	if n == nil || n.Node == nil {
		return "<nil>"
	}
	name := fmt.Sprintf("%T", n.Node)
	name = strings.TrimPrefix(name, "*pg_query.Node_")
	return name
}

// nodeLoc finds a location in a node, or -1.
func nodeLoc(n *pg.Node) int32 {
	if n == nil || n.Node == nil {
		return -1
	}
	m := n.ProtoReflect()
	var loc int32 = -1
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Kind() != protoreflect.MessageKind || fd.IsList() {
			return true
		}
		inner := v.Message()
		if f := inner.Descriptor().Fields().ByName("location"); f != nil {
			loc = int32(inner.Get(f).Int())
		}
		return false
	})
	return loc
}

// walkPG calls f on every message under m (pre-order) while f returns true for it.
func walkPG(m protoreflect.Message, f func(protoreflect.Message) bool) {
	if !f(m) {
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Kind() != protoreflect.MessageKind {
			return true
		}
		if fd.IsList() {
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				walkPG(l.Get(i).Message(), f)
			}
		} else if !fd.IsMap() {
			walkPG(v.Message(), f)
		}
		return true
	})
}

// query is a bound SELECT: its plan, and for a correlated subquery the conditions
// linking it to the outer query (over the outer fields, then the plan's fields at
// outerBase offsets... see corrExpr).
type query struct {
	node Node
	// corr are the correlated conditions, columns numbered: outer field i as i, the
	// subquery's output column j as outerBase+j.
	corr []expr.Expr
	// width is the number of select-list columns (the plan may have more after them:
	// columns the correlated conditions need).
	width int
}

// scope is what an expression can name: the fields of the input, and the enclosing
// query's scope for a correlated subquery.
type scope struct {
	b     *binder
	in    Node
	outer *scope
	// correlated records that an outer column was used.
	correlated bool
	// aggregate mode: aggregates found (by their pg node) map to columns
	aggs map[*pg.FuncCall]int
	wins map[*pg.FuncCall]int
	// noSubquery forbids scalar subqueries (which join into in).
	noSubquery bool
	// post-aggregation scope: the group keys and the scope before grouping
	group []expr.Expr
	pre   *scope
}

func (s *scope) fields() []Field { return s.in.Fields() }

// lookup resolves a column reference to an index into the scope's fields (or an outer
// reference at outerBase + index into the outer fields).
func (s *scope) lookup(cr *pg.ColumnRef) (expr.Expr, error) {
	var names []string
	for _, f := range cr.Fields {
		if str := f.GetString_(); str != nil {
			names = append(names, str.Sval)
		} else {
			return nil, s.b.unsupported(cr.Location, "column reference %s", nodeName(f))
		}
	}
	qual, name := "", names[len(names)-1]
	if len(names) >= 2 {
		qual = names[len(names)-2]
	}
	idx, err := findField(s.fields(), qual, name)
	if err != nil {
		return nil, s.b.bindErr(cr.Location, "%v", err)
	}
	if idx >= 0 {
		f := s.fields()[idx]
		return &expr.Column{Index: idx, Name: name, T: f.Type}, nil
	}
	for o, depth := s.outer, 0; o != nil; o, depth = o.outer, depth+1 {
		oi, err := findField(o.fields(), qual, name)
		if err != nil {
			return nil, s.b.bindErr(cr.Location, "%v", err)
		}
		if oi >= 0 {
			if depth > 0 {
				return nil, s.b.unsupported(cr.Location, "reference to %q two query levels up", strings.Join(names, "."))
			}
			s.correlated = true
			return &expr.Column{Index: outerBase + oi, Name: name, T: o.fields()[oi].Type}, nil
		}
	}
	return nil, s.b.bindErr(cr.Location, "column %q does not exist", strings.Join(names, "."))
}

// findField finds qual.name (qual may be "") in fs: -1 when absent, an error when
// ambiguous. Names match exactly, else case-insensitively.
func findField(fs []Field, qual, name string) (int, error) {
	for pass := 0; pass < 2; pass++ {
		found := -1
		for i, f := range fs {
			if qual == "" && f.Hidden {
				continue
			}
			if qual != "" && !strings.EqualFold(f.Qual, qual) {
				continue
			}
			if pass == 0 && f.Name != name || pass == 1 && !strings.EqualFold(f.Name, name) {
				continue
			}
			if found >= 0 {
				return -1, fmt.Errorf("column reference %q is ambiguous", name)
			}
			found = i
		}
		if found >= 0 {
			return found, nil
		}
	}
	return -1, nil
}

func qualText(q, n string) string {
	if q == "" {
		return n
	}
	return q + "." + n
}

// bindSelect binds a SELECT (or set operation). outer is the enclosing scope of a
// subquery.
func (b *binder) bindSelect(s *pg.SelectStmt, outer *scope) (*query, error) {
	if s.WithClause != nil {
		if s.WithClause.Recursive {
			return nil, b.unsupported(s.WithClause.Location, "WITH RECURSIVE")
		}
		m := map[string]*pg.CommonTableExpr{}
		b.ctes = append(b.ctes, m)
		defer func() { b.ctes = b.ctes[:len(b.ctes)-1] }()
		for _, c := range s.WithClause.Ctes {
			cte := c.GetCommonTableExpr()
			if cte == nil {
				return nil, b.unsupported(nodeLoc(c), "WITH item %s", nodeName(c))
			}
			m[cte.Ctename] = cte
		}
	}
	if s.Op != pg.SetOperation_SETOP_NONE && s.Op != pg.SetOperation_SET_OPERATION_UNDEFINED {
		return b.bindSetOp(s, outer)
	}
	switch {
	case s.IntoClause != nil:
		return nil, b.unsupported(-1, "SELECT INTO")
	case len(s.LockingClause) > 0:
		return nil, b.unsupported(nodeLoc(s.LockingClause[0]), "FOR UPDATE/SHARE")
	case len(s.ValuesLists) > 0:
		return nil, b.unsupported(nodeLoc(s.ValuesLists[0]), "VALUES lists")
	case len(s.WindowClause) > 0:
		return nil, b.unsupported(nodeLoc(s.WindowClause[0]), "named WINDOW clauses")
	case s.GroupDistinct:
		return nil, b.unsupported(-1, "GROUP BY DISTINCT")
	}
	for _, d := range s.DistinctClause {
		if d != nil && d.Node != nil {
			return nil, b.unsupported(nodeLoc(d), "DISTINCT ON")
		}
	}
	// FROM
	var in Node = &Values{Rows: 1}
	for i, f := range s.FromClause {
		n, err := b.bindFrom(f, outer)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			in = n
		} else {
			in = NewJoin(CrossJoin, in, n, nil, nil, nil)
		}
	}
	sc := &scope{b: b, in: in, outer: outer}
	// WHERE: subquery predicates become joins; correlated conjuncts are set aside.
	var corr []expr.Expr
	if s.WhereClause != nil {
		var err error
		if corr, err = b.bindWhere(sc, s.WhereClause); err != nil {
			return nil, err
		}
	}
	q, err := b.bindSelectList(sc, s, corr)
	if err != nil {
		return nil, err
	}
	return q, nil
}

// conjuncts splits an AND tree.
func conjuncts(n *pg.Node) []*pg.Node {
	if be := n.GetBoolExpr(); be != nil && be.Boolop == pg.BoolExprType_AND_EXPR {
		var out []*pg.Node
		for _, a := range be.Args {
			out = append(out, conjuncts(a)...)
		}
		return out
	}
	return []*pg.Node{n}
}

// bindWhere applies WHERE to sc.in; it returns the conjuncts that reference the outer
// query (in outer/inner numbering: outer refs at outerBase+i, inner as bound).
func (b *binder) bindWhere(sc *scope, where *pg.Node) ([]expr.Expr, error) {
	var corr []expr.Expr
	var conds []expr.Expr
	for _, c := range conjuncts(where) {
		handled, err := b.subqueryPredicate(sc, c)
		if err != nil {
			return nil, err
		}
		if handled {
			continue
		}
		sc.correlated = false
		e, err := b.bindExpr(sc, c)
		if err != nil {
			return nil, err
		}
		if err := wantBool(b, e, c); err != nil {
			return nil, err
		}
		if hasOuter(e) {
			corr = append(corr, e)
			continue
		}
		conds = append(conds, e)
	}
	if len(conds) > 0 {
		sc.in = &Filter{Input: sc.in, Cond: andAll(conds)}
	}
	return corr, nil
}

func wantBool(b *binder, e expr.Expr, n *pg.Node) error {
	if e.Type().ID() != arrow.BOOL && e.Type().ID() != arrow.NULL {
		return b.bindErr(nodeLoc(n), "argument of WHERE must be type boolean, not %s", expr.TypeName(e.Type()))
	}
	return nil
}

func hasOuter(e expr.Expr) bool {
	found := false
	expr.Walk(e, func(x expr.Expr) bool {
		if c, ok := x.(*expr.Column); ok && c.Index >= outerBase {
			found = true
		}
		return !found
	})
	return found
}

func andAll(es []expr.Expr) expr.Expr {
	out := es[0]
	for _, e := range es[1:] {
		c, err := expr.NewCall("and", out, e)
		if err != nil {
			panic(err) // both boolean
		}
		out = c
	}
	return out
}

// bindFrom binds one FROM item.
func (b *binder) bindFrom(n *pg.Node, outer *scope) (Node, error) {
	switch {
	case n.GetRangeVar() != nil:
		rv := n.GetRangeVar()
		alias := rv.Relname
		if rv.Alias != nil {
			alias = rv.Alias.Aliasname
		}
		var node Node
		if rv.Schemaname == "" {
			for i := len(b.ctes) - 1; i >= 0; i-- {
				if cte, ok := b.ctes[i][rv.Relname]; ok {
					sel := cte.Ctequery.GetSelectStmt()
					if sel == nil {
						return nil, b.unsupported(cte.Location, "WITH %s: not a SELECT", cte.Ctename)
					}
					// A (non-recursive) CTE sees the CTEs of outer levels and those before it
					// in its own WITH; its own name, or a later CTE's, means a table (as in
					// PostgreSQL), so `orders AS (SELECT * FROM orders)` reads the table.
					saved := b.ctes
					visible := map[string]*pg.CommonTableExpr{}
					for name, c := range b.ctes[i] {
						if c.Location < cte.Location {
							visible[name] = c
						}
					}
					b.ctes = append(b.ctes[:i:i], visible)
					q, err := b.bindSelect(sel, nil)
					b.ctes = saved
					if err != nil {
						return nil, err
					}
					node = q.node
					if len(cte.Aliascolnames) > 0 {
						var err error
						if node, err = renameCols(b, node, cte.Aliascolnames, cte.Ctename, cte.Location); err != nil {
							return nil, err
						}
					}
					break
				}
			}
		}
		if node == nil {
			name := rv.Relname
			if rv.Schemaname != "" {
				name = rv.Schemaname + "." + name
			}
			t, err := b.cat.Table(b.ctx, name)
			if err != nil {
				if errors.Is(err, ErrNoTable) {
					return nil, b.bindErr(rv.Location, "relation %q does not exist", name)
				}
				return nil, fmt.Errorf("plan: table %q: %w", name, err)
			}
			node, err = newScan(b.ctx, name, alias, t)
			if err != nil {
				return nil, err
			}
		}
		node = requalify(node, alias)
		if rv.Alias != nil && len(rv.Alias.Colnames) > 0 {
			return renameCols(b, node, rv.Alias.Colnames, alias, rv.Location)
		}
		return node, nil
	case n.GetRangeSubselect() != nil:
		rs := n.GetRangeSubselect()
		if rs.Lateral {
			return nil, b.unsupported(nodeLoc(rs.Subquery), "LATERAL")
		}
		sel := rs.Subquery.GetSelectStmt()
		q, err := b.bindSelect(sel, nil)
		if err != nil {
			return nil, err
		}
		node := q.node
		if rs.Alias != nil {
			node = requalify(node, rs.Alias.Aliasname)
			if len(rs.Alias.Colnames) > 0 {
				return renameCols(b, node, rs.Alias.Colnames, rs.Alias.Aliasname, nodeLoc(rs.Subquery))
			}
		} else {
			node = requalify(node, "")
		}
		return node, nil
	case n.GetJoinExpr() != nil:
		return b.bindJoin(n.GetJoinExpr(), outer)
	}
	return nil, b.unsupported(nodeLoc(n), "FROM item %s", nodeName(n))
}

// newScan is a scan of every column of t.
func newScan(ctx context.Context, name, alias string, t Table) (*Scan, error) {
	st, err := t.Stats(ctx)
	if err != nil {
		return nil, fmt.Errorf("plan: stats of %s: %w", name, err)
	}
	s := &Scan{Table: name, Alias: alias, T: t, stats: st}
	for i, f := range t.Schema().Fields() {
		s.Cols = append(s.Cols, i)
		s.fields = append(s.fields, Field{Qual: alias, Name: f.Name, Type: f.Type, Nullable: f.Nullable})
	}
	return s, nil
}

// requalify wraps n in a projection whose fields are qualified by alias (a scan is
// requalified in place).
func requalify(n Node, alias string) Node {
	if s, ok := n.(*Scan); ok {
		for i := range s.fields {
			s.fields[i].Qual = alias
		}
		return s
	}
	fs := n.Fields()
	exprs := make([]expr.Expr, len(fs))
	out := make([]Field, len(fs))
	for i, f := range fs {
		exprs[i] = &expr.Column{Index: i, Name: f.Name, T: f.Type}
		out[i] = Field{Qual: alias, Name: f.Name, Type: f.Type, Nullable: f.Nullable}
	}
	return &Project{Input: n, Exprs: exprs, fields: out}
}

func renameCols(b *binder, n Node, names []*pg.Node, alias string, loc int32) (Node, error) {
	fs := n.Fields()
	if len(names) > len(fs) {
		return nil, b.bindErr(loc, "%s has %d columns available but %d columns specified", alias, len(fs), len(names))
	}
	exprs := make([]expr.Expr, len(fs))
	out := make([]Field, len(fs))
	for i, f := range fs {
		exprs[i] = &expr.Column{Index: i, Name: f.Name, T: f.Type}
		out[i] = Field{Qual: alias, Name: f.Name, Type: f.Type, Nullable: f.Nullable}
		if i < len(names) {
			out[i].Name = names[i].GetString_().GetSval()
		}
	}
	return &Project{Input: n, Exprs: exprs, fields: out}, nil
}

func (b *binder) bindJoin(j *pg.JoinExpr, outer *scope) (Node, error) {
	l, err := b.bindFrom(j.Larg, outer)
	if err != nil {
		return nil, err
	}
	r, err := b.bindFrom(j.Rarg, outer)
	if err != nil {
		return nil, err
	}
	var kind JoinKind
	switch j.Jointype {
	case pg.JoinType_JOIN_INNER:
		kind = InnerJoin
		if j.Quals == nil && len(j.UsingClause) == 0 && !j.IsNatural {
			kind = CrossJoin
		}
	case pg.JoinType_JOIN_LEFT:
		kind = LeftJoin
	case pg.JoinType_JOIN_RIGHT:
		kind = RightJoin
	case pg.JoinType_JOIN_FULL:
		kind = FullJoin
	default:
		return nil, b.unsupported(nodeLoc(j.Larg), "join type %s", j.Jointype)
	}
	lf, rf := l.Fields(), r.Fields()
	var using []string
	if j.IsNatural {
		for _, f := range lf {
			if f.Hidden {
				continue
			}
			if i, _ := findField(rf, "", f.Name); i >= 0 {
				using = append(using, f.Name)
			}
		}
	}
	for _, u := range j.UsingClause {
		using = append(using, u.GetString_().GetSval())
	}
	var node *Join
	if len(using) > 0 || j.IsNatural {
		var lk, rk []int
		for _, name := range using {
			li, err := findField(lf, "", name)
			if err != nil || li < 0 {
				return nil, b.bindErr(nodeLoc(j.Larg), "column %q specified in USING clause does not exist in left table", name)
			}
			ri, err := findField(rf, "", name)
			if err != nil || ri < 0 {
				return nil, b.bindErr(nodeLoc(j.Rarg), "column %q specified in USING clause does not exist in right table", name)
			}
			lk, rk = append(lk, li), append(rk, ri)
		}
		node = NewJoin(kind, l, r, nil, nil, nil)
		var conds []expr.Expr
		for i := range lk {
			c, err := b.compare("=", &expr.Column{Index: lk[i], Name: using[i], T: lf[lk[i]].Type},
				&expr.Column{Index: len(lf) + rk[i], Name: using[i], T: rf[rk[i]].Type}, nodeLoc(j.Larg))
			if err != nil {
				return nil, err
			}
			conds = append(conds, c)
		}
		node.Extra = andAll(conds)
		// Merge the USING columns: first, then the others; the inputs' copies stay
		// reachable by qualified name.
		fs := node.Fields()
		var exprs []expr.Expr
		var out []Field
		hidden := map[int]bool{}
		for i, name := range using {
			li, ri := lk[i], len(lf)+rk[i]
			hidden[li], hidden[ri] = true, true
			var e expr.Expr = &expr.Column{Index: li, Name: name, T: fs[li].Type}
			t := fs[li].Type
			switch kind {
			case RightJoin:
				e = &expr.Column{Index: ri, Name: name, T: fs[ri].Type}
				t = fs[ri].Type
			case FullJoin:
				c, err := expr.NewCall("coalesce", e, &expr.Column{Index: ri, Name: name, T: fs[ri].Type})
				if err != nil {
					return nil, b.bindErr(nodeLoc(j.Larg), "USING column %q: %v", name, err)
				}
				e, t = c, c.Type()
			}
			exprs = append(exprs, e)
			out = append(out, Field{Name: name, Type: t, Nullable: true})
		}
		for i, f := range fs {
			exprs = append(exprs, &expr.Column{Index: i, Name: f.Name, T: f.Type})
			f.Hidden = f.Hidden || hidden[i]
			out = append(out, f)
		}
		return &Project{Input: node, Exprs: exprs, fields: out}, nil
	}
	node = NewJoin(kind, l, r, nil, nil, nil)
	if j.Quals != nil {
		sc := &scope{b: b, in: &fieldsNode{fields: append(append([]Field{}, lf...), rf...)}, outer: outer, noSubquery: true}
		e, err := b.bindExpr(sc, j.Quals)
		if err != nil {
			return nil, err
		}
		if err := wantBool(b, e, j.Quals); err != nil {
			return nil, err
		}
		if hasOuter(e) {
			return nil, b.unsupported(nodeLoc(j.Quals), "outer reference in JOIN ... ON")
		}
		node.Extra = e
	}
	return node, nil
}

// fieldsNode is a placeholder input carrying fields only, for binding ON conditions.
type fieldsNode struct{ fields []Field }

func (f *fieldsNode) Fields() []Field  { return f.fields }
func (f *fieldsNode) Children() []Node { return nil }
func (f *fieldsNode) label() string    { return "fields" }

// aggNames are the aggregate functions.
var aggNames = map[string]bool{"count": true, "sum": true, "avg": true, "min": true, "max": true}

var windowOnly = map[string]bool{"row_number": true, "rank": true, "dense_rank": true, "lag": true, "lead": true, "first_value": true}

func funcName(fc *pg.FuncCall) string {
	var parts []string
	for _, n := range fc.Funcname {
		parts = append(parts, n.GetString_().GetSval())
	}
	if len(parts) == 2 && parts[0] == "pg_catalog" {
		return parts[1]
	}
	return strings.Join(parts, ".")
}

// collectCalls finds the aggregate and window calls of nodes, not descending into
// subqueries or into the arguments of window calls' frames.
func collectCalls(nodes []*pg.Node) (aggs, wins []*pg.FuncCall) {
	for _, n := range nodes {
		if n == nil {
			continue
		}
		walkPG(n.ProtoReflect(), func(m protoreflect.Message) bool {
			switch v := m.Interface().(type) {
			case *pg.SubLink:
				return false
			case *pg.FuncCall:
				name := funcName(v)
				if v.Over != nil {
					wins = append(wins, v)
					// aggregates inside a window call's arguments are aggregates
					return true
				}
				if aggNames[name] {
					aggs = append(aggs, v)
					return false
				}
			}
			return true
		})
	}
	return aggs, wins
}

// bindSelectList binds the select list, grouping, HAVING, windows, DISTINCT, ORDER BY
// and LIMIT over sc.in.
func (b *binder) bindSelectList(sc *scope, s *pg.SelectStmt, corr []expr.Expr) (*query, error) {
	var sortNodes []*pg.Node
	for _, sb := range s.SortClause {
		sortNodes = append(sortNodes, sb.GetSortBy().GetNode())
	}
	all := append(append(append([]*pg.Node{}, s.TargetList...), s.HavingClause), sortNodes...)
	aggCalls, winCalls := collectCalls(all)
	grouped := len(aggCalls) > 0 || len(s.GroupClause) > 0 || s.HavingClause != nil

	// Correlated conditions: the inner columns they read become extra outputs (and,
	// when grouped, group keys: only equalities to outer columns decorrelate).
	var corrCols []int
	if len(corr) > 0 {
		seen := map[int]bool{}
		for _, c := range corr {
			for _, i := range expr.Columns(c) {
				if i < outerBase && !seen[i] {
					seen[i] = true
					corrCols = append(corrCols, i)
				}
			}
		}
		if s.LimitCount != nil || s.LimitOffset != nil || len(s.DistinctClause) > 0 {
			return nil, b.unsupported(nodeLoc(s.WhereClause), "correlated subquery with LIMIT or DISTINCT")
		}
	}

	// Expand the target list ("*", "t.*").
	type target struct {
		node *pg.Node
		name string
		e    expr.Expr // for * columns
	}
	var targets []target
	for _, t := range s.TargetList {
		rt := t.GetResTarget()
		if cr := rt.Val.GetColumnRef(); cr != nil && cr.Fields[len(cr.Fields)-1].GetAStar() != nil {
			qual := ""
			if len(cr.Fields) == 2 {
				qual = cr.Fields[0].GetString_().GetSval()
			}
			if grouped {
				return nil, b.unsupported(cr.Location, "* with GROUP BY")
			}
			n := 0
			for i, f := range sc.fields() {
				if f.Hidden && qual == "" || qual != "" && !strings.EqualFold(f.Qual, qual) {
					continue
				}
				n++
				targets = append(targets, target{name: f.Name, e: &expr.Column{Index: i, Name: f.Name, T: f.Type}})
			}
			if n == 0 && qual != "" {
				return nil, b.bindErr(cr.Location, "missing FROM-clause entry for table %q", qual)
			}
			continue
		}
		name := rt.Name
		if name == "" {
			name = defaultName(rt.Val)
		}
		targets = append(targets, target{node: rt.Val, name: name})
	}

	var post *scope // the scope target expressions are bound in
	if grouped {
		pre := sc
		// Group keys: expressions, ordinals, or output names.
		var groupExprs []expr.Expr
		for _, g := range s.GroupClause {
			gn := g
			if c := g.GetAConst(); c != nil {
				if iv, ok := c.Val.(*pg.A_Const_Ival); ok {
					k := int(iv.Ival.Ival)
					if k < 1 || k > len(targets) {
						return nil, b.bindErr(c.Location, "GROUP BY position %d is not in select list", k)
					}
					if targets[k-1].node == nil {
						groupExprs = append(groupExprs, targets[k-1].e)
						continue
					}
					gn = targets[k-1].node
				}
			} else if cr := g.GetColumnRef(); cr != nil && len(cr.Fields) == 1 {
				name := cr.Fields[0].GetString_().GetSval()
				if i, _ := findField(sc.fields(), "", name); i < 0 {
					for _, t := range targets {
						if t.name == name && t.node != nil {
							gn = t.node
							break
						}
					}
				}
			}
			if rc := g.GetRowExpr(); rc != nil || g.GetGroupingSet() != nil {
				return nil, b.unsupported(nodeLoc(g), "GROUPING SETS / ROLLUP / CUBE")
			}
			pre.noSubquery = true
			e, err := b.bindExpr(pre, gn)
			pre.noSubquery = false
			if err != nil {
				return nil, err
			}
			if hasOuter(e) {
				return nil, b.unsupported(nodeLoc(g), "outer reference in GROUP BY")
			}
			groupExprs = append(groupExprs, e)
		}
		for _, c := range corrCols {
			f := sc.fields()[c]
			groupExprs = append(groupExprs, &expr.Column{Index: c, Name: f.Name, T: f.Type})
		}
		// Aggregate arguments, FILTER folded in as CASE WHEN filter THEN arg END.
		type aggArg struct {
			fn  reduce.AggFunc
			arg expr.Expr
		}
		var args []aggArg
		for _, fc := range aggCalls {
			name := funcName(fc)
			if len(fc.AggOrder) > 0 {
				return nil, b.unsupported(fc.Location, "ORDER BY inside aggregate %s", name)
			}
			if fc.AggWithinGroup || fc.FuncVariadic {
				return nil, b.unsupported(fc.Location, "aggregate %s syntax", name)
			}
			var filter expr.Expr
			if fc.AggFilter != nil {
				pre.noSubquery = true
				f, err := b.bindExpr(pre, fc.AggFilter)
				pre.noSubquery = false
				if err != nil {
					return nil, err
				}
				filter = f
			}
			var a aggArg
			switch {
			case fc.AggStar:
				if name != "count" {
					return nil, b.bindErr(fc.Location, "%s(*) is not an aggregate", name)
				}
				a.fn = reduce.CountStar
				if filter != nil {
					a.fn = reduce.Count
					a.arg = lit(scalar.NewInt32Scalar(1))
				}
			default:
				if len(fc.Args) != 1 {
					return nil, b.unsupported(fc.Location, "%s with %d arguments", name, len(fc.Args))
				}
				pre.noSubquery = true
				e, err := b.bindExpr(pre, fc.Args[0])
				pre.noSubquery = false
				if err != nil {
					return nil, err
				}
				if b.isUnknown(e) {
					e, _ = expr.NewCast(e, expr.Text)
				}
				a.arg = e
				switch name {
				case "count":
					a.fn = reduce.Count
					if fc.AggDistinct {
						a.fn = reduce.CountDistinct
					}
				case "sum":
					a.fn = reduce.Sum
				case "avg":
					a.fn = reduce.Avg
				case "min":
					a.fn = reduce.Min
				case "max":
					a.fn = reduce.Max
				}
				if fc.AggDistinct && name != "count" {
					if name != "min" && name != "max" {
						return nil, b.unsupported(fc.Location, "%s(DISTINCT ...)", name)
					}
				}
			}
			if filter != nil && a.arg != nil {
				c, err := expr.NewCase(nil, []expr.When{{Cond: filter, Then: a.arg}}, nil)
				if err != nil {
					return nil, b.bindErr(fc.Location, "FILTER: %v", err)
				}
				a.arg = c
			}
			if a.arg != nil && hasOuter(a.arg) {
				return nil, b.unsupported(fc.Location, "outer reference in an aggregate")
			}
			args = append(args, a)
		}
		// Pre-projection: group keys, then aggregate arguments.
		var exprs []expr.Expr
		var fs []Field
		for i, g := range groupExprs {
			exprs = append(exprs, g)
			f := Field{Name: fmt.Sprintf("group%d", i), Type: g.Type(), Nullable: true}
			if c, ok := g.(*expr.Column); ok {
				f = sc.fields()[c.Index]
				f.Hidden = false
			}
			fs = append(fs, f)
		}
		agg := &Aggregate{}
		for i := range groupExprs {
			agg.Group = append(agg.Group, i)
			agg.fields = append(agg.fields, fs[i])
		}
		for i, a := range args {
			ac := AggCall{Func: a.fn, Arg: -1, Name: fmt.Sprintf("agg%d", i)}
			if a.arg != nil {
				ac.Arg = len(exprs)
				exprs = append(exprs, a.arg)
				fs = append(fs, Field{Name: fmt.Sprintf("arg%d", i), Type: a.arg.Type(), Nullable: true})
			}
			agg.Aggs = append(agg.Aggs, ac)
		}
		agg.Input = &Project{Input: sc.in, Exprs: exprs, fields: fs}
		if err := agg.resolveTypes(); err != nil {
			return nil, b.bindErr(-1, "%v", err)
		}
		for i, ac := range agg.Aggs {
			name := funcName(aggCalls[i])
			agg.fields = append(agg.fields, Field{Name: name, Type: ac.T, Nullable: ac.Func != reduce.Count && ac.Func != reduce.CountStar && ac.Func != reduce.CountDistinct})
		}
		post = &scope{b: b, in: agg, outer: sc.outer, aggs: map[*pg.FuncCall]int{}}
		post.group = groupExprs
		post.pre = pre
		for i, fc := range aggCalls {
			post.aggs[fc] = len(groupExprs) + i
		}
		// HAVING
		if s.HavingClause != nil {
			e, err := b.bindExpr(post, s.HavingClause)
			if err != nil {
				return nil, err
			}
			if err := wantBool(b, e, s.HavingClause); err != nil {
				return nil, err
			}
			post.in = &Filter{Input: post.in, Cond: e}
		}
		// correlated columns are the last group keys
		for i := range corrCols {
			corrCols[i] = len(groupExprs) - len(corrCols) + i
		}
	} else {
		post = sc
	}

	// Window functions: computed over post.in, appended.
	if len(winCalls) > 0 {
		if err := b.bindWindows(post, winCalls); err != nil {
			return nil, err
		}
	}

	// The select list.
	var exprs []expr.Expr
	var fs []Field
	for _, t := range targets {
		e := t.e
		if t.node != nil {
			var err error
			if e, err = b.bindExpr(post, t.node); err != nil {
				return nil, err
			}
		}
		if b.isUnknown(e) {
			e, _ = expr.NewCast(e, expr.Text)
		}
		if hasOuter(e) {
			return nil, b.unsupported(nodeLoc(t.node), "outer reference in a subquery's select list")
		}
		exprs = append(exprs, e)
		f := Field{Name: t.name, Type: e.Type(), Nullable: true}
		fs = append(fs, f)
	}
	width := len(exprs)
	// Extra outputs for correlated conditions.
	corrOut := map[int]int{}
	for _, c := range corrCols {
		f := post.fields()[c]
		corrOut[c] = len(exprs)
		exprs = append(exprs, &expr.Column{Index: c, Name: f.Name, T: f.Type})
		fs = append(fs, Field{Name: f.Name, Type: f.Type, Nullable: true, Hidden: true})
	}
	if grouped && len(corr) > 0 {
		// The conditions were over the pre-aggregation input: renumber to the
		// aggregate's group columns, via the original columns.
		orig := map[int]int{}
		n := len(corrCols)
		for i, g := range post.group[len(post.group)-n:] {
			orig[g.(*expr.Column).Index] = len(post.group) - n + i
		}
		for c, o := range orig {
			corrOut[c] = corrOut[o]
		}
	}
	// ORDER BY: output names and ordinals, or expressions (added as hidden columns).
	var keys []SortKey
	for _, sbn := range s.SortClause {
		sb := sbn.GetSortBy()
		if sb.SortbyDir == pg.SortByDir_SORTBY_USING {
			return nil, b.unsupported(sb.Location, "ORDER BY ... USING")
		}
		col := -1
		if c := sb.Node.GetAConst(); c != nil {
			if iv, ok := c.Val.(*pg.A_Const_Ival); ok {
				k := int(iv.Ival.Ival)
				if k < 1 || k > width {
					return nil, b.bindErr(c.Location, "ORDER BY position %d is not in select list", k)
				}
				col = k - 1
			}
		} else if cr := sb.Node.GetColumnRef(); cr != nil && len(cr.Fields) == 1 && cr.Fields[0].GetString_() != nil {
			name := cr.Fields[0].GetString_().Sval
			for i := 0; i < width; i++ {
				if fs[i].Name == name {
					col = i
					break
				}
			}
		}
		if col < 0 {
			e, err := b.bindExpr(post, sb.Node)
			if err != nil {
				return nil, err
			}
			k := exprKey(e)
			for i := 0; i < width; i++ {
				if exprKey(exprs[i]) == k {
					col = i
					break
				}
			}
			if col < 0 {
				if len(s.DistinctClause) > 0 {
					return nil, b.bindErr(sb.Location, "for SELECT DISTINCT, ORDER BY expressions must appear in select list")
				}
				col = len(exprs)
				exprs = append(exprs, e)
				fs = append(fs, Field{Name: fmt.Sprintf("sort%d", len(keys)), Type: e.Type(), Nullable: true, Hidden: true})
			}
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
	var node Node = &Project{Input: post.in, Exprs: exprs, fields: fs}
	if len(s.DistinctClause) > 0 {
		node = distinct(node)
	}
	limit, offset := int64(-1), int64(0)
	if s.LimitCount != nil {
		v, err := b.constInt(s.LimitCount, "LIMIT")
		if err != nil {
			return nil, err
		}
		limit = v
	}
	if s.LimitOffset != nil {
		v, err := b.constInt(s.LimitOffset, "OFFSET")
		if err != nil {
			return nil, err
		}
		offset = v
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
	if len(exprs) > width+len(corrCols) {
		// drop the hidden sort columns
		node = keepFirst(node, width+len(corrCols))
	}
	q := &query{node: node, width: width}
	// Renumber correlated conditions: outer refs to i, inner refs to outerBase + output column.
	for _, c := range corr {
		e, err := expr.Transform(c, func(x expr.Expr) (expr.Expr, error) {
			col, ok := x.(*expr.Column)
			if !ok {
				return x, nil
			}
			if col.Index >= outerBase {
				return &expr.Column{Index: col.Index - outerBase, Name: col.Name, T: col.T}, nil
			}
			return &expr.Column{Index: outerBase + corrOut[col.Index], Name: col.Name, T: col.T}, nil
		})
		if err != nil {
			return nil, err
		}
		q.corr = append(q.corr, e)
	}
	return q, nil
}

// keepFirst projects the first n columns of node.
func keepFirst(node Node, n int) Node {
	fs := node.Fields()
	exprs := make([]expr.Expr, n)
	for i := range n {
		exprs[i] = &expr.Column{Index: i, Name: fs[i].Name, T: fs[i].Type}
	}
	return &Project{Input: node, Exprs: exprs, fields: append([]Field{}, fs[:n]...)}
}

// distinct groups by every column.
func distinct(n Node) Node {
	fs := n.Fields()
	a := &Aggregate{Input: n}
	for i, f := range fs {
		a.Group = append(a.Group, i)
		a.fields = append(a.fields, f)
	}
	return a
}

// resolveTypes works out the aggregates' output types from the kernel itself.
func (a *Aggregate) resolveTypes() error {
	in := a.Input.Fields()
	if len(a.Aggs) == 0 {
		return nil
	}
	fields := make([]arrow.Field, len(in))
	for i, f := range in {
		fields[i] = arrow.Field{Name: fmt.Sprintf("c%d", i), Type: f.Type, Nullable: true}
	}
	cs, err := changeSchema(fields)
	if err != nil {
		return err
	}
	cfg := reduce.AggregateConfig{Schema: cs, InsertOnly: true}
	for i, ac := range a.Aggs {
		col := ""
		if ac.Arg >= 0 {
			col = fmt.Sprintf("c%d", ac.Arg)
		}
		cfg.Aggs = append(cfg.Aggs, reduce.Agg{Func: ac.Func, Column: col, As: fmt.Sprintf("a%d", i)})
	}
	ha, err := reduce.NewHashAggregate(cfg)
	if err != nil {
		return err
	}
	out := ha.Schema()
	for i := range a.Aggs {
		a.Aggs[i].T = out.Field(i).Type
	}
	return nil
}

func (b *binder) constInt(n *pg.Node, what string) (int64, error) {
	if c := n.GetAConst(); c != nil {
		if c.Isnull {
			return -1, nil
		}
		if iv, ok := c.Val.(*pg.A_Const_Ival); ok {
			if iv.Ival.Ival < 0 {
				return 0, b.bindErr(c.Location, "%s must not be negative", what)
			}
			return int64(iv.Ival.Ival), nil
		}
	}
	return 0, b.unsupported(nodeLoc(n), "%s that is not an integer constant", what)
}

// defaultName is PostgreSQL's name for an unnamed select-list column.
func defaultName(n *pg.Node) string {
	switch {
	case n.GetColumnRef() != nil:
		fs := n.GetColumnRef().Fields
		return fs[len(fs)-1].GetString_().GetSval()
	case n.GetFuncCall() != nil:
		return funcName(n.GetFuncCall())
	case n.GetTypeCast() != nil:
		if d := defaultName(n.GetTypeCast().Arg); d != "?column?" {
			return d
		}
		tn := n.GetTypeCast().TypeName.Names
		return tn[len(tn)-1].GetString_().GetSval()
	case n.GetCaseExpr() != nil:
		return "case"
	case n.GetCoalesceExpr() != nil:
		return "coalesce"
	case n.GetAExpr() != nil && n.GetAExpr().Kind == pg.A_Expr_Kind_AEXPR_NULLIF:
		return "nullif"
	case n.GetMinMaxExpr() != nil:
		if n.GetMinMaxExpr().Op == pg.MinMaxOp_IS_GREATEST {
			return "greatest"
		}
		return "least"
	case n.GetSqlvalueFunction() != nil:
		switch n.GetSqlvalueFunction().Op {
		case pg.SQLValueFunctionOp_SVFOP_CURRENT_DATE:
			return "current_date"
		case pg.SQLValueFunctionOp_SVFOP_CURRENT_TIMESTAMP:
			return "current_timestamp"
		}
	case n.GetSubLink() != nil:
		sl := n.GetSubLink()
		if sl.SubLinkType == pg.SubLinkType_EXISTS_SUBLINK {
			return "exists"
		}
		if sel := sl.Subselect.GetSelectStmt(); sel != nil && len(sel.TargetList) == 1 {
			rt := sel.TargetList[0].GetResTarget()
			if rt.Name != "" {
				return rt.Name
			}
			return defaultName(rt.Val)
		}
	}
	return "?column?"
}

// exprKey is a structural key of an expression (columns by index).
func exprKey(e expr.Expr) string {
	switch x := e.(type) {
	case *expr.Column:
		return fmt.Sprintf("#%d", x.Index)
	case *expr.Literal:
		return "lit(" + x.String() + ":" + x.Type().String() + ")"
	case *expr.Call:
		parts := make([]string, len(x.Args))
		for i, a := range x.Args {
			parts[i] = exprKey(a)
		}
		return x.Name + "(" + strings.Join(parts, ",") + ")"
	case *expr.Cast:
		return "cast(" + exprKey(x.E) + "," + x.To.String() + ")"
	}
	kids := e.Children()
	parts := make([]string, len(kids))
	for i, k := range kids {
		parts[i] = exprKey(k)
	}
	return fmt.Sprintf("%T(%s)", e, strings.Join(parts, ","))
}

func lit(s scalar.Scalar) *expr.Literal { return expr.NewLiteral(s) }

// numericLiteral types a numeric constant as PostgreSQL does: integer if it fits in
// int32, bigint if in int64, else numeric with the literal's precision and scale.
func numericLiteral(text string) (expr.Expr, error) {
	if !strings.ContainsAny(text, ".eE") {
		if v, err := strconv.ParseInt(text, 10, 64); err == nil {
			if v >= -1<<31 && v < 1<<31 {
				return lit(scalar.NewInt32Scalar(int32(v))), nil
			}
			return lit(scalar.NewInt64Scalar(v)), nil
		}
	}
	if strings.ContainsAny(text, "eE") {
		r, ok := new(big.Rat).SetString(text)
		if !ok {
			return nil, fmt.Errorf("invalid number %q", text)
		}
		text = r.FloatString(20)
		text = strings.TrimRight(strings.TrimRight(text, "0"), ".")
	}
	scale := 0
	if i := strings.IndexByte(text, '.'); i >= 0 {
		scale = len(text) - i - 1
	}
	digits := strings.TrimLeft(strings.NewReplacer(".", "", "-", "", "+", "").Replace(text), "0")
	prec := max(len(digits), scale, 1)
	if prec > 38 {
		return nil, fmt.Errorf("numeric constant %s has more than 38 digits", text)
	}
	n, err := decimal128.FromString(text, int32(prec), int32(scale))
	if err != nil {
		return nil, err
	}
	return lit(scalar.NewDecimal128Scalar(n, &arrow.Decimal128Type{Precision: int32(prec), Scale: int32(scale)})), nil
}
