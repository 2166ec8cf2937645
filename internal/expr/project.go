package expr

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// Projection is a list of expressions evaluated together on each batch. A
// subexpression that occurs more than once where it is always evaluated (not under
// CASE, COALESCE, AND or OR, which evaluate their arguments row by row) is computed
// once per batch and shared: TPC-H's q01 sums l_extendedprice * (1 - l_discount) and
// that times (1 + l_tax).
type Projection struct {
	exprs  []Expr // rewritten to read the shared values as columns past the batch's
	shared []Expr // evaluated in order, each appended to the batch as a column
	width  int    // columns of the batches the expressions were written for
}

// NewProjection prepares exprs, written for batches of width columns, for
// evaluation by Eval.
func NewProjection(exprs []Expr, width int) *Projection {
	p, err := shareCommon(exprs, width)
	if err != nil { // a rewrite failed: evaluate every expression as written
		return &Projection{exprs: exprs, width: width}
	}
	return p
}

func shareCommon(exprs []Expr, width int) (*Projection, error) {
	p := &Projection{exprs: exprs, width: width}
	counts := map[string]int{}
	var order []Expr // first occurrences, children before parents
	var keys []string
	for _, e := range exprs {
		walkAlways(e, func(x Expr) {
			k, ok := shareKey(x)
			if !ok {
				return
			}
			if counts[k] == 0 {
				order = append(order, x)
				keys = append(keys, k)
			}
			counts[k]++
		})
	}
	cols := map[string]*Column{}
	for i, x := range order {
		if counts[keys[i]] < 2 {
			continue
		}
		rx, err := p.rewrite(x, cols)
		if err != nil {
			return nil, err
		}
		cols[keys[i]] = &Column{Index: width + len(p.shared), Name: fmt.Sprintf("$shared%d", len(p.shared)), T: x.Type()}
		p.shared = append(p.shared, rx)
	}
	if len(p.shared) == 0 {
		return p, nil
	}
	p.exprs = make([]Expr, len(exprs))
	for i, e := range exprs {
		re, err := p.rewrite(e, cols)
		if err != nil {
			return nil, err
		}
		p.exprs[i] = re
	}
	return p, nil
}

// rewrite replaces the shared subexpressions of e (where always evaluated) by their
// columns.
func (p *Projection) rewrite(e Expr, cols map[string]*Column) (Expr, error) {
	if k, ok := shareKey(e); ok {
		if c, ok := cols[k]; ok {
			return c, nil
		}
	}
	if !evaluatesAllArgs(e) {
		return e, nil
	}
	kids := e.Children()
	nk := make([]Expr, len(kids))
	changed := false
	for i, k := range kids {
		n, err := p.rewrite(k, cols)
		if err != nil {
			return nil, err
		}
		nk[i] = n
		changed = changed || n != k
	}
	if !changed {
		return e, nil
	}
	return WithChildren(e, nk)
}

// Eval evaluates the projection on batch into a new batch with columns named names.
func (p *Projection) Eval(ctx *Context, batch arrow.RecordBatch, names []string) (arrow.RecordBatch, error) {
	if len(names) != len(p.exprs) {
		return nil, fmt.Errorf("%w: %d expressions but %d names", ErrInvalidArg, len(p.exprs), len(names))
	}
	in := batch
	if len(p.shared) > 0 {
		if int(batch.NumCols()) != p.width {
			return nil, fmt.Errorf("%w: projection of %d columns given a batch of %d", ErrInvalidArg, p.width, batch.NumCols())
		}
		cols := append([]arrow.Array(nil), batch.Columns()...)
		fields := append([]arrow.Field(nil), batch.Schema().Fields()...)
		for _, s := range p.shared {
			ext := array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, batch.NumRows())
			a, err := evalArray(ctx, s, ext)
			ext.Release()
			if err != nil {
				releaseArrays(cols[batch.NumCols():])
				return nil, err
			}
			cols = append(cols, a)
			fields = append(fields, arrow.Field{Name: "$shared", Type: a.DataType(), Nullable: true})
		}
		in = array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, batch.NumRows())
		releaseArrays(cols[batch.NumCols():])
		defer in.Release()
	}
	cols := make([]arrow.Array, len(p.exprs))
	defer func() { releaseArrays(cols) }()
	fields := make([]arrow.Field, len(p.exprs))
	for i, e := range p.exprs {
		a, err := evalArray(ctx, e, in)
		if err != nil {
			return nil, err
		}
		cols[i] = a
		fields[i] = arrow.Field{Name: names[i], Type: a.DataType(), Nullable: true}
	}
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, batch.NumRows()), nil
}

// Project evaluates exprs on batch into a new batch with columns named names.
func Project(ctx *Context, batch arrow.RecordBatch, exprs []Expr, names []string) (arrow.RecordBatch, error) {
	return NewProjection(exprs, int(batch.NumCols())).Eval(ctx, batch, names)
}

// walkAlways calls f on the subexpressions of e that are evaluated on every row
// whenever e is, children before parents.
func walkAlways(e Expr, f func(Expr)) {
	if evaluatesAllArgs(e) {
		for _, k := range e.Children() {
			walkAlways(k, f)
		}
	}
	f(e)
}

// evaluatesAllArgs reports whether evaluating e evaluates each of its children on
// every row (not so for CASE and the lazy calls: COALESCE, AND, OR).
func evaluatesAllArgs(e Expr) bool {
	switch e := e.(type) {
	case *Call:
		return e.fn != nil && e.fn.lazy == nil
	case *Cast:
		return true
	}
	return false
}

// shareKey identifies a call or cast by its structure (operator, result type and
// arguments); ok is false for what is not worth sharing or cannot be keyed.
func shareKey(e Expr) (string, bool) {
	switch e.(type) {
	case *Call, *Cast:
	default:
		return "", false
	}
	var b strings.Builder
	if !appendKey(&b, e) {
		return "", false
	}
	return b.String(), true
}

func appendKey(b *strings.Builder, e Expr) bool {
	switch e := e.(type) {
	case *Column:
		b.WriteString("#" + strconv.Itoa(e.Index) + ":" + e.T.String())
	case *Literal:
		b.WriteString("'" + e.Value.DataType().String() + ":")
		if !e.Value.IsValid() {
			b.WriteString("null")
			break
		}
		d, ok := e.Value.(interface{ Data() []byte }) // the exact bytes (Binary and String too)
		if !ok {
			return false
		}
		b.WriteString(strconv.Quote(string(d.Data())))
	case *Cast:
		b.WriteString("cast(")
		if !appendKey(b, e.E) {
			return false
		}
		b.WriteString(" as " + e.To.String() + ")")
	case *Call:
		b.WriteString(e.Name + ":" + e.T.String() + "(")
		for i, a := range e.Args {
			if i > 0 {
				b.WriteString(", ")
			}
			if !appendKey(b, a) {
				return false
			}
		}
		b.WriteString(")")
	default:
		return false
	}
	return true
}
