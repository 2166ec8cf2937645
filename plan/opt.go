package plan

import (
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/internal/expr"
)

// Optimize rewrites a logical plan: constant folding, predicate pushdown (into scans,
// with prunable predicates, and through joins), equi-join key extraction, join
// reordering by estimated cardinality, and projection pruning.
func Optimize(ectx *expr.Context, n Node) (Node, error) {
	n, err := foldAll(ectx, n)
	if err != nil {
		return nil, err
	}
	n, err = pushDown(n, nil)
	if err != nil {
		return nil, err
	}
	n, err = pushSemi(n)
	if err != nil {
		return nil, err
	}
	n, err = reorder(n)
	if err != nil {
		return nil, err
	}
	need := make([]bool, len(n.Fields()))
	for i := range need {
		need[i] = true
	}
	n, _, err = prune(n, need)
	return n, err
}

// mapExprs applies f to every expression of a node (not its children).
func mapExprs(n Node, f func(expr.Expr) (expr.Expr, error)) error {
	var err error
	one := func(e expr.Expr) expr.Expr {
		if e == nil || err != nil {
			return e
		}
		var out expr.Expr
		out, err = f(e)
		return out
	}
	switch x := n.(type) {
	case *Filter:
		x.Cond = one(x.Cond)
	case *Project:
		for i := range x.Exprs {
			x.Exprs[i] = one(x.Exprs[i])
		}
	case *Join:
		x.Extra = one(x.Extra)
	case *Scan:
		for i := range x.Filter {
			x.Filter[i] = one(x.Filter[i])
		}
	case *Window:
		for i := range x.Funcs {
			x.Funcs[i].Default = one(x.Funcs[i].Default)
		}
	}
	return err
}

func foldAll(ectx *expr.Context, n Node) (Node, error) {
	for _, c := range n.Children() {
		if _, err := foldAll(ectx, c); err != nil {
			return nil, err
		}
	}
	return n, mapExprs(n, func(e expr.Expr) (expr.Expr, error) {
		f, err := expr.Fold(ectx, e)
		if err != nil {
			return nil, err
		}
		return expr.Transform(f, dateCompare)
	})
}

// dateCompare rewrites CAST(date AS timestamp) op TIMESTAMP 'midnight' (what
// date '...' + interval gives) to date op DATE '...': no cast per row, and the scan
// can prune on it.
func dateCompare(e expr.Expr) (expr.Expr, error) {
	c, ok := e.(*expr.Call)
	if !ok || len(c.Args) != 2 {
		return e, nil
	}
	switch c.Name {
	case "=", "<>", "<", "<=", ">", ">=":
	default:
		return e, nil
	}
	cast, okC := c.Args[0].(*expr.Cast)
	l, okL := c.Args[1].(*expr.Literal)
	if !okC || !okL || cast.E.Type().ID() != arrow.DATE32 || cast.To.ID() != arrow.TIMESTAMP || !l.Value.IsValid() {
		return e, nil
	}
	ts, ok := l.Value.(*scalar.Timestamp)
	if !ok {
		return e, nil
	}
	unit := ts.Type.(*arrow.TimestampType).Unit
	perDay := map[arrow.TimeUnit]int64{arrow.Second: 86400, arrow.Millisecond: 86400e3, arrow.Microsecond: 86400e6, arrow.Nanosecond: 86400e9}[unit]
	v := int64(ts.Value)
	if v%perDay != 0 {
		return e, nil
	}
	day := lit(scalar.NewDate32Scalar(arrow.Date32(v / perDay)))
	return expr.NewCall(c.Name, cast.E, day)
}

// splitAnd splits a conjunction.
func splitAnd(e expr.Expr) []expr.Expr {
	if e == nil {
		return nil
	}
	if c, ok := e.(*expr.Call); ok && c.Name == "and" {
		var out []expr.Expr
		for _, a := range c.Args {
			out = append(out, splitAnd(a)...)
		}
		return out
	}
	return []expr.Expr{e}
}

func andOrNil(es []expr.Expr) expr.Expr {
	if len(es) == 0 {
		return nil
	}
	return andAll(es)
}

// colRange reports the min and max column index e reads (-1, -1 for none).
func colRange(e expr.Expr) (lo, hi int) {
	lo, hi = -1, -1
	for _, c := range expr.Columns(e) {
		if lo < 0 || c < lo {
			lo = c
		}
		if c > hi {
			hi = c
		}
	}
	return lo, hi
}

// shift renumbers the columns of e by delta.
func shift(e expr.Expr, delta int) expr.Expr {
	if delta == 0 || e == nil {
		return e
	}
	out, err := remap(e, func(i int) int { return i + delta })
	if err != nil {
		panic(err) // renumbering keeps types
	}
	return out
}

// remap renumbers the columns of e by f.
func remap(e expr.Expr, f func(int) int) (expr.Expr, error) {
	return expr.Transform(e, func(x expr.Expr) (expr.Expr, error) {
		if c, ok := x.(*expr.Column); ok {
			return &expr.Column{Index: f(c.Index), Name: c.Name, T: c.T}, nil
		}
		return x, nil
	})
}

// substitute replaces column i of e by exprs[i].
func substitute(e expr.Expr, exprs []expr.Expr) (expr.Expr, error) {
	return expr.Transform(e, func(x expr.Expr) (expr.Expr, error) {
		if c, ok := x.(*expr.Column); ok {
			return exprs[c.Index], nil
		}
		return x, nil
	})
}

func volatile(e expr.Expr) bool {
	v := false
	expr.Walk(e, func(x expr.Expr) bool {
		if c, ok := x.(*expr.Call); ok && (c.Name == "now" || c.Name == "current_date") {
			v = true
		}
		return !v
	})
	return v
}

func withFilter(n Node, preds []expr.Expr) Node {
	if len(preds) == 0 {
		return n
	}
	return &Filter{Input: n, Cond: andAll(preds)}
}

// pushDown pushes the conjuncts preds (over n's fields) as far down as they go.
func pushDown(n Node, preds []expr.Expr) (Node, error) {
	switch x := n.(type) {
	case *Filter:
		return pushDown(x.Input, append(preds, splitAnd(x.Cond)...))
	case *Project:
		var down, stay []expr.Expr
		for _, p := range preds {
			s, err := substitute(p, x.Exprs)
			if err != nil {
				return nil, err
			}
			down = append(down, s)
		}
		in, err := pushDown(x.Input, down)
		if err != nil {
			return nil, err
		}
		x.Input = in
		return withFilter(x, stay), nil
	case *Scan:
		for _, p := range preds {
			x.Filter = append(x.Filter, p)
			if pr, ok := prunable(p, x); ok {
				x.Pushed = append(x.Pushed, pr)
			}
			// x BETWEEN lo AND hi prunes as x >= lo and x <= hi
			if c, ok := p.(*expr.Call); ok && c.Name == "between" && len(c.Args) == 3 {
				for i, op := range []string{">=", "<="} {
					if cmp, err := expr.NewCall(op, c.Args[0], c.Args[1+i]); err == nil {
						if pr, ok := prunable(cmp, x); ok {
							x.Pushed = append(x.Pushed, pr)
						}
					}
				}
			}
		}
		return x, nil
	case *Join:
		return pushJoin(x, preds)
	case *Aggregate:
		var down, stay []expr.Expr
		for _, p := range preds {
			ok := true
			for _, c := range expr.Columns(p) {
				if c >= len(x.Group) {
					ok = false
				}
			}
			if !ok || volatile(p) {
				stay = append(stay, p)
				continue
			}
			r, err := remap(p, func(i int) int { return x.Group[i] })
			if err != nil {
				return nil, err
			}
			down = append(down, r)
		}
		in, err := pushDown(x.Input, down)
		if err != nil {
			return nil, err
		}
		x.Input = in
		return withFilter(x, stay), nil
	case *Sort:
		if x.Limit >= 0 {
			break
		}
		in, err := pushDown(x.Input, preds)
		if err != nil {
			return nil, err
		}
		x.Input = in
		return x, nil
	case *Union:
		for i, c := range x.Inputs {
			in, err := pushDown(c, slices.Clone(preds))
			if err != nil {
				return nil, err
			}
			x.Inputs[i] = in
		}
		return x, nil
	}
	// Stop here; optimize below with no predicates.
	for i, c := range n.Children() {
		in, err := pushDown(c, nil)
		if err != nil {
			return nil, err
		}
		setChild(n, i, in)
	}
	return withFilter(n, preds), nil
}

func setChild(n Node, i int, c Node) {
	switch x := n.(type) {
	case *Filter:
		x.Input = c
	case *Project:
		x.Input = c
	case *Join:
		if i == 0 {
			x.Left = c
		} else {
			x.Right = c
		}
	case *Aggregate:
		x.Input = c
	case *Sort:
		x.Input = c
	case *Limit:
		x.Input = c
	case *Union:
		x.Inputs[i] = c
	case *SingleRow:
		x.Input = c
	case *Window:
		x.Input = c
	}
}

// pushJoin distributes predicates over a join's inputs and extracts its equi keys.
func pushJoin(j *Join, preds []expr.Expr) (Node, error) {
	nl := len(j.Left.Fields())
	var lp, rp, stay, cond []expr.Expr
	side := func(e expr.Expr) int { // 0 left, 1 right, 2 both, -1 none
		lo, hi := colRange(e)
		switch {
		case lo < 0:
			return -1
		case hi < nl:
			return 0
		case lo >= nl:
			return 1
		}
		return 2
	}
	extra := splitAnd(j.Extra)
	// keys found by an earlier pass are conditions again (and found again below)
	lf, rf := j.Left.Fields(), j.Right.Fields()
	for i := range j.LeftKeys {
		l, r := j.LeftKeys[i], j.RightKeys[i]
		c, err := expr.NewCall("=", &expr.Column{Index: l, Name: lf[l].Name, T: lf[l].Type},
			&expr.Column{Index: nl + r, Name: rf[r].Name, T: rf[r].Type})
		if err != nil {
			return nil, err
		}
		extra = append(extra, c)
	}
	j.LeftKeys, j.RightKeys = nil, nil
	switch j.Kind {
	case InnerJoin, CrossJoin:
		for _, p := range append(preds, extra...) {
			switch side(p) {
			case 0:
				lp = append(lp, p)
			case 1:
				rp = append(rp, shift(p, -nl))
			default:
				cond = append(cond, p)
			}
		}
	case LeftJoin, SemiJoin, AntiJoin:
		for _, p := range preds {
			if side(p) == 0 || side(p) == -1 {
				lp = append(lp, p)
			} else {
				stay = append(stay, p)
			}
		}
		for _, p := range extra {
			switch s := side(p); {
			case s == 1 && !j.NullAware:
				rp = append(rp, shift(p, -nl))
			case s == 0 && j.Kind == SemiJoin:
				lp = append(lp, p)
			default:
				cond = append(cond, p)
			}
		}
	case RightJoin:
		for _, p := range preds {
			if side(p) == 1 {
				rp = append(rp, shift(p, -nl))
			} else {
				stay = append(stay, p)
			}
		}
		for _, p := range extra {
			if side(p) == 0 {
				lp = append(lp, p)
			} else {
				cond = append(cond, p)
			}
		}
	default: // full
		stay = preds
		cond = extra
	}
	var err error
	if j.Left, err = pushDown(j.Left, lp); err != nil {
		return nil, err
	}
	if j.Right, err = pushDown(j.Right, rp); err != nil {
		return nil, err
	}
	// Equi keys: column = column across the sides, of compatible types.
	j.LeftKeys, j.RightKeys = nil, nil
	var rest []expr.Expr
	for _, c := range cond {
		if l, r, ok := equiKey(c, nl); ok {
			j.LeftKeys, j.RightKeys = append(j.LeftKeys, l), append(j.RightKeys, r-nl)
			continue
		}
		rest = append(rest, c)
	}
	j.Extra = andOrNil(rest)
	if j.Kind == CrossJoin && (len(j.LeftKeys) > 0 || j.Extra != nil) {
		j.Kind = InnerJoin
	}
	if j.Kind == InnerJoin && len(j.LeftKeys) == 0 && j.Extra == nil {
		j.Kind = CrossJoin
	}
	if j.NullAware && (len(j.LeftKeys) != 1 || j.Extra != nil) {
		// NOT IN over several columns or expressions: keep the condition as is.
		j.LeftKeys, j.RightKeys = nil, nil
		j.Extra = andOrNil(cond)
	}
	j.fields = joinFields(j.Kind, j.Left.Fields(), j.Right.Fields())
	return withFilter(j, stay), nil
}

// equiKey matches "left column = right column" of hash-compatible types.
func equiKey(e expr.Expr, nl int) (l, r int, ok bool) {
	c, isCall := e.(*expr.Call)
	if !isCall || c.Name != "=" || len(c.Args) != 2 {
		return 0, 0, false
	}
	a, okA := c.Args[0].(*expr.Column)
	b, okB := c.Args[1].(*expr.Column)
	if !okA || !okB {
		return 0, 0, false
	}
	if a.Index >= nl {
		a, b = b, a
	}
	if a.Index >= nl || b.Index < nl || !keyCompatible(a.T, b.T) {
		return 0, 0, false
	}
	return a.Index, b.Index, true
}

func keyClass(t arrow.DataType) string {
	switch t.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		return "int"
	case arrow.FLOAT32, arrow.FLOAT64:
		return "float"
	case arrow.STRING, arrow.BINARY:
		return "string"
	}
	return t.String()
}

func keyCompatible(a, b arrow.DataType) bool { return keyClass(a) == keyClass(b) }

// prunable turns "column op constant" over a scan into a table Predicate.
func prunable(p expr.Expr, s *Scan) (Predicate, bool) {
	c, ok := p.(*expr.Call)
	if !ok || len(c.Args) != 2 {
		return Predicate{}, false
	}
	ops := map[string]CompareOp{"=": OpEq, "<": OpLt, "<=": OpLe, ">": OpGt, ">=": OpGe}
	flip := map[CompareOp]CompareOp{OpEq: OpEq, OpLt: OpGt, OpLe: OpGe, OpGt: OpLt, OpGe: OpLe}
	op, ok := ops[c.Name]
	if !ok {
		return Predicate{}, false
	}
	col, okC := columnOf(c.Args[0])
	l, okL := c.Args[1].(*expr.Literal)
	if !okC || !okL {
		col, okC = columnOf(c.Args[1])
		l, okL = c.Args[0].(*expr.Literal)
		op = flip[op]
	}
	if !okC || !okL || !l.Value.IsValid() {
		return Predicate{}, false
	}
	t := s.fields[col.Index].Type
	v, ok := physicalValue(l.Value, t)
	if !ok {
		return Predicate{}, false
	}
	return Predicate{Column: s.Cols[col.Index], Op: op, Value: v}, true
}

// columnOf sees through casts that keep a column's order and values: integer
// widening, a decimal to a wider decimal of the same scale.
func columnOf(e expr.Expr) (*expr.Column, bool) {
	if c, ok := e.(*expr.Cast); ok {
		in, to := c.E.Type(), c.To
		same := keyClass(in) == "int" && keyClass(to) == "int" && in.(arrow.FixedWidthDataType).BitWidth() <= to.(arrow.FixedWidthDataType).BitWidth()
		if di, ok := in.(*arrow.Decimal128Type); ok {
			if dt, ok := to.(*arrow.Decimal128Type); ok && di.Scale == dt.Scale && di.Precision <= dt.Precision {
				same = true
			}
		}
		if !same {
			return nil, false
		}
		e = c.E
	}
	col, ok := e.(*expr.Column)
	return col, ok
}

// physicalValue converts a constant to the physical representation of column type t,
// when exact.
func physicalValue(v scalar.Scalar, t arrow.DataType) (change.Value, bool) {
	switch t.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64:
		switch s := v.(type) {
		case *scalar.Int32:
			return change.Int(int64(s.Value)), true
		case *scalar.Int64:
			return change.Int(s.Value), true
		case *scalar.Int16:
			return change.Int(int64(s.Value)), true
		}
	case arrow.DATE32:
		if s, ok := v.(*scalar.Date32); ok {
			return change.Int(int64(s.Value)), true
		}
	case arrow.FLOAT64, arrow.FLOAT32:
		switch s := v.(type) {
		case *scalar.Float64:
			return change.Float(s.Value), true
		case *scalar.Int32:
			return change.Float(float64(s.Value)), true
		}
	case arrow.STRING:
		if s, ok := v.(*scalar.String); ok {
			return change.Str(string(s.Value.Bytes())), true
		}
	case arrow.DECIMAL128:
		scale := t.(*arrow.Decimal128Type).Scale
		switch s := v.(type) {
		case *scalar.Decimal128:
			vs := s.Type.(*arrow.Decimal128Type).Scale
			if vs > scale {
				return change.Value{}, false
			}
			return change.Decimal(s.Value.IncreaseScaleBy(scale - vs)), true
		case *scalar.Int32:
			return change.Decimal(decimal128.FromI64(int64(s.Value)).IncreaseScaleBy(scale)), true
		case *scalar.Int64:
			return change.Decimal(decimal128.FromI64(s.Value).IncreaseScaleBy(scale)), true
		}
	}
	return change.Value{}, false
}

// pushSemi moves a semi or anti join below an inner join when its left columns all
// come from one input of it: "orders IN (subquery)" filters orders before orders
// meets lineitem.
func pushSemi(n Node) (Node, error) {
	for i, c := range n.Children() {
		r, err := pushSemi(c)
		if err != nil {
			return nil, err
		}
		setChild(n, i, r)
	}
	j, ok := n.(*Join)
	if !ok || (j.Kind != SemiJoin && j.Kind != AntiJoin) {
		return n, nil
	}
	inner, ok := j.Left.(*Join)
	if !ok || (inner.Kind != InnerJoin && inner.Kind != CrossJoin) {
		return n, nil
	}
	width := len(inner.Fields())
	nl := len(inner.Left.Fields())
	cols := append([]int{}, j.LeftKeys...)
	if j.Extra != nil {
		for _, c := range expr.Columns(j.Extra) {
			if c < width {
				cols = append(cols, c)
			}
		}
	}
	allLeft, allRight := true, true
	for _, c := range cols {
		if c < nl {
			allRight = false
		} else {
			allLeft = false
		}
	}
	var err error
	switch {
	case allLeft && len(cols) > 0:
		nr := width - nl
		extra := j.Extra
		if extra != nil {
			if extra, err = remap(extra, func(i int) int {
				if i >= width {
					return i - nr
				}
				return i
			}); err != nil {
				return nil, err
			}
		}
		sj := NewJoin(j.Kind, inner.Left, j.Right, j.LeftKeys, j.RightKeys, extra)
		sj.NullAware = j.NullAware
		if inner.Left, err = pushSemi(sj); err != nil {
			return nil, err
		}
	case allRight && len(cols) > 0:
		keys := make([]int, len(j.LeftKeys))
		for i, k := range j.LeftKeys {
			keys[i] = k - nl
		}
		extra := shift(j.Extra, -nl)
		sj := NewJoin(j.Kind, inner.Right, j.Right, keys, j.RightKeys, extra)
		sj.NullAware = j.NullAware
		if inner.Right, err = pushSemi(sj); err != nil {
			return nil, err
		}
	default:
		return n, nil
	}
	inner.fields = joinFields(inner.Kind, inner.Left.Fields(), inner.Right.Fields())
	return inner, nil
}

// --- join reordering ---

// clusterInputs counts the inputs of the cluster of inner and cross joins under n.
func clusterInputs(n Node) int {
	if j, ok := n.(*Join); ok && (j.Kind == InnerJoin || j.Kind == CrossJoin) {
		return clusterInputs(j.Left) + clusterInputs(j.Right)
	}
	return 1
}

// reorder rebuilds each cluster of inner and cross joins in the order joinGraph.order
// picks (two inputs keep theirs: the hash join picks its build side).
func reorder(n Node) (Node, error) {
	j, ok := n.(*Join)
	if !ok || (j.Kind != InnerJoin && j.Kind != CrossJoin) || clusterInputs(j) > 64 {
		// (a cluster of more than 64 inputs keeps its order: joinGraph's sets are bits)
		for i, c := range n.Children() {
			r, err := reorder(c)
			if err != nil {
				return nil, err
			}
			setChild(n, i, r)
		}
		return n, nil
	}
	var leaves []Node
	var conds []expr.Expr
	var collect func(n Node, base int) error
	collect = func(n Node, base int) error {
		if j, ok := n.(*Join); ok && (j.Kind == InnerJoin || j.Kind == CrossJoin) {
			nl := len(j.Left.Fields())
			if err := collect(j.Left, base); err != nil {
				return err
			}
			if err := collect(j.Right, base+nl); err != nil {
				return err
			}
			lf, rf := j.Left.Fields(), j.Right.Fields()
			for i := range j.LeftKeys {
				l, r := j.LeftKeys[i], j.RightKeys[i]
				c, err := expr.NewCall("=", &expr.Column{Index: base + l, Name: lf[l].Name, T: lf[l].Type},
					&expr.Column{Index: base + nl + r, Name: rf[r].Name, T: rf[r].Type})
				if err != nil {
					return err
				}
				conds = append(conds, c)
			}
			for _, e := range splitAnd(j.Extra) {
				conds = append(conds, shift(e, base))
			}
			return nil
		}
		r, err := reorder(n)
		if err != nil {
			return err
		}
		leaves = append(leaves, r)
		return nil
	}
	if err := collect(j, 0); err != nil {
		return nil, err
	}
	g := newJoinGraph(leaves, conds)
	if len(leaves) <= 2 {
		return g.rebuild(g.join2())
	}
	return g.rebuild(g.order())
}
