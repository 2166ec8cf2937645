package plan

import (
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/internal/expr"
	"github.com/strata-data/strata/reduce"
)

// Field is one output column of a logical plan node. Qual is the table alias that
// qualifies it ("" for computed columns); a Hidden field (a USING join's input copy of a
// merged column) is found only when qualified and is left out of "*".
type Field struct {
	Qual     string
	Name     string
	Type     arrow.DataType
	Nullable bool
	Hidden   bool
}

// Node is a logical plan node. Its output columns are Fields(); expressions of a node
// refer to its input's columns by index (expr.Column.Index).
type Node interface {
	Fields() []Field
	Children() []Node
	// label is the one-line description EXPLAIN prints.
	label() string
}

// Scan reads a table. Cols are the table columns read (indices into the table schema);
// Filter conjuncts (over the scan's output) are applied to every batch read and Pushed
// lets the table skip parts.
type Scan struct {
	Table  string
	Alias  string
	T      Table
	Cols   []int
	Filter []expr.Expr
	Pushed []Predicate
	fields []Field
	stats  TableStats
}

// Values is a relation of Rows rows and no columns (the FROM of "SELECT 1").
type Values struct{ Rows int }

// Filter keeps the rows for which Cond is true.
type Filter struct {
	Input Node
	Cond  expr.Expr
}

// Project computes Exprs over its input, one output column each.
type Project struct {
	Input  Node
	Exprs  []expr.Expr
	fields []Field
}

// JoinKind is the kind of a logical join.
type JoinKind uint8

// Join kinds. Semi and anti joins output only left columns; a null-aware anti join is
// NOT IN: no row when the right side holds a NULL key, and a left row with a NULL key
// only when the right side is empty.
const (
	InnerJoin JoinKind = iota
	LeftJoin
	RightJoin
	FullJoin
	SemiJoin
	AntiJoin
	CrossJoin
)

var joinKindNames = [...]string{"inner", "left", "right", "full", "semi", "anti", "cross"}

func (k JoinKind) String() string { return joinKindNames[k] }

// Join joins Left and Right on LeftKeys[i] = RightKeys[i] (column indices of each
// side) and Extra (over the left fields followed by the right ones).
type Join struct {
	Kind                JoinKind
	Left, Right         Node
	LeftKeys, RightKeys []int
	Extra               expr.Expr
	NullAware           bool
	fields              []Field
}

// AggCall is one aggregate of an Aggregate: Func over input column Arg (-1 for count(*)).
type AggCall struct {
	Func reduce.AggFunc
	Arg  int
	T    arrow.DataType
	Name string
}

// Aggregate groups its input by the columns Group and computes Aggs; its output is the
// group columns then one column per aggregate.
type Aggregate struct {
	Input  Node
	Group  []int
	Aggs   []AggCall
	fields []Field
}

// SortKey is one key of a Sort.
type SortKey struct {
	Col        int
	Desc       bool
	NullsFirst bool
}

// Sort orders its input; with Limit ≥ 0 it keeps only the first Limit rows.
type Sort struct {
	Input Node
	Keys  []SortKey
	Limit int64
}

// Limit skips Offset rows and keeps Count (Count < 0: all).
type Limit struct {
	Input         Node
	Offset, Count int64
}

// Union concatenates its inputs (UNION ALL); they have the same column types.
type Union struct {
	Inputs []Node
	fields []Field
}

// SingleRow passes at most one row and fails on a second: the input of a scalar
// subquery.
type SingleRow struct{ Input Node }

// WindowFunc is one window function of a Window node.
type WindowFunc struct {
	Name      string // row_number rank dense_rank lag lead first_value sum avg count min max
	Args      []int  // input columns
	Offset    int64  // lag/lead offset
	Default   expr.Expr
	Partition []int
	Order     []SortKey
	Frame     Frame
	T         arrow.DataType
}

// Frame is a window frame in rows (or the default RANGE frame to the current row's peers).
type Frame struct {
	// Rows is true for ROWS frames; false is RANGE (peers of the current row count).
	Rows bool
	// Start and End are offsets relative to the current row; Unbounded* overrides.
	Start, End                   int64
	UnboundedStart, UnboundedEnd bool
	// Whole is true without ORDER BY: the whole partition.
	Whole bool
}

// Window computes window functions over its input, appending one column per function.
type Window struct {
	Input  Node
	Funcs  []WindowFunc
	fields []Field
}

func (s *Scan) Fields() []Field      { return s.fields }
func (v *Values) Fields() []Field    { return nil }
func (f *Filter) Fields() []Field    { return f.Input.Fields() }
func (p *Project) Fields() []Field   { return p.fields }
func (j *Join) Fields() []Field      { return j.fields }
func (a *Aggregate) Fields() []Field { return a.fields }
func (s *Sort) Fields() []Field      { return s.Input.Fields() }
func (l *Limit) Fields() []Field     { return l.Input.Fields() }
func (u *Union) Fields() []Field     { return u.fields }
func (s *SingleRow) Fields() []Field { return s.Input.Fields() }
func (w *Window) Fields() []Field    { return w.fields }

func (s *Scan) Children() []Node      { return nil }
func (v *Values) Children() []Node    { return nil }
func (f *Filter) Children() []Node    { return []Node{f.Input} }
func (p *Project) Children() []Node   { return []Node{p.Input} }
func (j *Join) Children() []Node      { return []Node{j.Left, j.Right} }
func (a *Aggregate) Children() []Node { return []Node{a.Input} }
func (s *Sort) Children() []Node      { return []Node{s.Input} }
func (l *Limit) Children() []Node     { return []Node{l.Input} }
func (u *Union) Children() []Node     { return u.Inputs }
func (s *SingleRow) Children() []Node { return []Node{s.Input} }
func (w *Window) Children() []Node    { return []Node{w.Input} }

func (s *Scan) label() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Scan %s", s.Table)
	if s.Alias != "" && s.Alias != s.Table {
		fmt.Fprintf(&b, " AS %s", s.Alias)
	}
	names := make([]string, len(s.Cols))
	for i, c := range s.Cols {
		names[i] = s.T.Schema().Field(c).Name
	}
	fmt.Fprintf(&b, " [%s]", strings.Join(names, ", "))
	if len(s.Filter) > 0 {
		fs := make([]string, len(s.Filter))
		for i, f := range s.Filter {
			fs[i] = exprText(f, s.fields)
		}
		fmt.Fprintf(&b, " filter=%s", strings.Join(fs, " AND "))
	}
	if len(s.Pushed) > 0 {
		ps := make([]string, len(s.Pushed))
		for i, p := range s.Pushed {
			f := s.T.Schema().Field(p.Column)
			v := p.Value.String()
			if d, ok := f.Type.(*arrow.Decimal128Type); ok {
				v = change.FormatDecimal(p.Value.AsDecimal(), d.Scale)
			}
			if f.Type.ID() == arrow.DATE32 {
				v = arrow.Date32(p.Value.AsInt()).FormattedString()
			}
			ps[i] = fmt.Sprintf("%s %s %s", f.Name, p.Op, v)
		}
		fmt.Fprintf(&b, " prune=[%s]", strings.Join(ps, ", "))
	}
	return b.String()
}

func (v *Values) label() string { return fmt.Sprintf("Values rows=%d", v.Rows) }
func (f *Filter) label() string { return "Filter " + exprText(f.Cond, f.Input.Fields()) }
func (p *Project) label() string {
	in := p.Input.Fields()
	parts := make([]string, len(p.Exprs))
	for i, e := range p.Exprs {
		s := exprText(e, in)
		if c, ok := e.(*expr.Column); !ok || in[c.Index].Name != p.fields[i].Name {
			s += " AS " + p.fields[i].Name
		}
		parts[i] = s
	}
	return "Project " + strings.Join(parts, ", ")
}

func (j *Join) label() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Join %s", j.Kind)
	if j.NullAware {
		b.WriteString(" null-aware")
	}
	lf, rf := j.Left.Fields(), j.Right.Fields()
	if len(j.LeftKeys) > 0 {
		ks := make([]string, len(j.LeftKeys))
		for i := range j.LeftKeys {
			ks[i] = fieldName(lf[j.LeftKeys[i]]) + " = " + fieldName(rf[j.RightKeys[i]])
		}
		fmt.Fprintf(&b, " on %s", strings.Join(ks, " AND "))
	}
	if j.Extra != nil {
		fmt.Fprintf(&b, " extra=%s", exprText(j.Extra, append(append([]Field{}, lf...), rf...)))
	}
	return b.String()
}

func (a *Aggregate) label() string {
	in := a.Input.Fields()
	gs := make([]string, len(a.Group))
	for i, g := range a.Group {
		gs[i] = fieldName(in[g])
	}
	as := make([]string, len(a.Aggs))
	for i, ag := range a.Aggs {
		arg := "*"
		if ag.Arg >= 0 {
			arg = fieldName(in[ag.Arg])
		}
		switch ag.Func {
		case reduce.CountStar:
			as[i] = "count(*)"
		case reduce.CountDistinct:
			as[i] = "count(DISTINCT " + arg + ")"
		default:
			as[i] = ag.Func.String() + "(" + arg + ")"
		}
	}
	return fmt.Sprintf("Aggregate group=[%s] aggs=[%s]", strings.Join(gs, ", "), strings.Join(as, ", "))
}

func sortKeysText(keys []SortKey, in []Field) string {
	ks := make([]string, len(keys))
	for i, k := range keys {
		s := fieldName(in[k.Col])
		if k.Desc {
			s += " DESC"
		}
		if k.NullsFirst != k.Desc {
			if k.NullsFirst {
				s += " NULLS FIRST"
			} else {
				s += " NULLS LAST"
			}
		}
		ks[i] = s
	}
	return strings.Join(ks, ", ")
}

func (s *Sort) label() string {
	t := "Sort " + sortKeysText(s.Keys, s.Input.Fields())
	if s.Limit >= 0 {
		t += fmt.Sprintf(" limit=%d", s.Limit)
	}
	return t
}

func (l *Limit) label() string {
	t := "Limit"
	if l.Count >= 0 {
		t += fmt.Sprintf(" %d", l.Count)
	}
	if l.Offset > 0 {
		t += fmt.Sprintf(" offset=%d", l.Offset)
	}
	return t
}

func (u *Union) label() string     { return "Union all" }
func (s *SingleRow) label() string { return "SingleRow" }
func (w *Window) label() string {
	in := w.Input.Fields()
	fs := make([]string, len(w.Funcs))
	for i, f := range w.Funcs {
		args := make([]string, len(f.Args))
		for j, a := range f.Args {
			args[j] = fieldName(in[a])
		}
		s := f.Name + "(" + strings.Join(args, ", ") + ") over ("
		if len(f.Partition) > 0 {
			ps := make([]string, len(f.Partition))
			for j, p := range f.Partition {
				ps[j] = fieldName(in[p])
			}
			s += "partition by " + strings.Join(ps, ", ")
		}
		if len(f.Order) > 0 {
			if len(f.Partition) > 0 {
				s += " "
			}
			s += "order by " + sortKeysText(f.Order, in)
		}
		fs[i] = s + ")"
	}
	return "Window " + strings.Join(fs, ", ")
}

func fieldName(f Field) string {
	if f.Qual != "" {
		return f.Qual + "." + f.Name
	}
	return f.Name
}

// exprText renders e with its columns named after the input fields.
func exprText(e expr.Expr, in []Field) string {
	named, err := expr.Transform(e, func(x expr.Expr) (expr.Expr, error) {
		if c, ok := x.(*expr.Column); ok && c.Index >= 0 && c.Index < len(in) {
			return &expr.Column{Index: c.Index, Name: fieldName(in[c.Index]), T: c.T}, nil
		}
		return x, nil
	})
	if err != nil {
		return e.String()
	}
	return named.String()
}

// joinFields is the output of a join of kind k.
func joinFields(k JoinKind, l, r []Field) []Field {
	if k == SemiJoin || k == AntiJoin {
		return l
	}
	out := make([]Field, 0, len(l)+len(r))
	for _, f := range l {
		if k == RightJoin || k == FullJoin {
			f.Nullable = true
		}
		out = append(out, f)
	}
	for _, f := range r {
		if k == LeftJoin || k == FullJoin {
			f.Nullable = true
		}
		out = append(out, f)
	}
	return out
}

// NewJoin builds a join node, computing its fields.
func NewJoin(k JoinKind, l, r Node, lk, rk []int, extra expr.Expr) *Join {
	return &Join{Kind: k, Left: l, Right: r, LeftKeys: lk, RightKeys: rk, Extra: extra, fields: joinFields(k, l.Fields(), r.Fields())}
}
