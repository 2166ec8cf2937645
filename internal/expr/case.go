package expr

import (
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/scalar"
)

// NewCase builds CASE [operand] WHEN ... THEN ... [ELSE ...] END: conditions must be
// boolean (or, with an operand, comparable to it), and the results are coerced to
// their common type (numeric promotion, unknown literals typed by the others).
func NewCase(operand Expr, whens []When, els Expr) (Expr, error) {
	if len(whens) == 0 {
		return nil, fmt.Errorf("%w: CASE needs at least one WHEN", ErrInvalidArg)
	}
	ws := make([]When, len(whens))
	results := make([]Expr, 0, len(whens)+1)
	for i, w := range whens {
		if w.Cond == nil || w.Then == nil {
			return nil, fmt.Errorf("%w: CASE arm %d is incomplete", ErrInvalidArg, i+1)
		}
		ws[i] = w
		if operand != nil {
			if _, err := NewCall("=", operand, w.Cond); err != nil {
				return nil, fmt.Errorf("CASE WHEN %d: %w", i+1, err)
			}
		} else {
			c, err := toBool("CASE/WHEN", w.Cond)
			if err != nil {
				return nil, err
			}
			ws[i].Cond = c
		}
		results = append(results, w.Then)
	}
	if els != nil {
		results = append(results, els)
	}
	t, rs, err := unify("CASE", results)
	if err != nil {
		return nil, err
	}
	for i := range ws {
		ws[i].Then = rs[i]
	}
	if els != nil {
		els = rs[len(ws)]
	}
	return &Case{Operand: operand, Whens: ws, Else: els, T: t}, nil
}

var errNoFastPath = errors.New("expr: no fast path")

func nullOf(t arrow.DataType) scalar.Scalar { return scalar.MakeNullScalar(t) }

// cond is the boolean condition of arm i.
func (c *Case) cond(i int) (Expr, error) {
	if c.Operand == nil {
		return c.Whens[i].Cond, nil
	}
	return NewCall("=", c.Operand, c.Whens[i].Cond)
}

// evalCase evaluates each arm's condition only on the rows no earlier arm took,
// and each result only on the rows its arm took.
func evalCase(ctx *Context, c *Case, b arrow.RecordBatch, n int) (datum, error) {
	if n == 1 && b == nil || len(Columns(c)) == 0 && b == nil {
		// constant: the same, one row
		a, err := caseRows(ctx, c, nil, 1)
		if err != nil {
			return datum{}, err
		}
		defer a.Release()
		sc, err := scalarAt(a, 0)
		return datum{sc: sc}, err
	}
	if a, err := caseFast(ctx, c, b, n); err == nil {
		return datum{arr: a}, nil
	}
	a, err := caseRows(ctx, c, b, n)
	return datum{arr: a}, err
}

func caseRows(ctx *Context, c *Case, b arrow.RecordBatch, n int) (arrow.Array, error) {
	p := pick{part: make([]int32, n), pos: make([]int32, n)}
	for i := range p.part {
		p.part[i] = -1
	}
	var parts []arrow.Array
	defer func() { releaseArrays(parts) }()
	var rows []int32 // nil: all rows
	left := n
	for i := range c.Whens {
		if left == 0 {
			break
		}
		cond, err := c.cond(i)
		if err != nil {
			return nil, err
		}
		ca, err := evalOn(ctx, cond, b, n, rows)
		if err != nil {
			return nil, err
		}
		var took, rest []int32
		bits := ca.Data().Buffers()
		for j := range ca.Len() {
			r := int32(j)
			if rows != nil {
				r = rows[j]
			}
			if ca.IsValid(j) && ca.DataType().ID() == arrow.BOOL && bitutil.BitIsSet(bits[1].Bytes(), ca.Data().Offset()+j) {
				took = append(took, r)
			} else {
				rest = append(rest, r)
			}
		}
		ca.Release()
		if len(took) > 0 {
			sel := took
			if len(took) == n {
				sel = nil
			}
			ta, err := evalOn(ctx, c.Whens[i].Then, b, n, sel)
			if err != nil {
				return nil, err
			}
			parts = append(parts, ta)
			for j, r := range took {
				p.part[r], p.pos[r] = int32(len(parts)-1), int32(j)
			}
		}
		rows = rest
		if rows == nil {
			rows = []int32{}
		}
		left = len(rest)
	}
	if left > 0 && c.Else != nil {
		sel := rows
		if left == n {
			sel = nil
		}
		ea, err := evalOn(ctx, c.Else, b, n, sel)
		if err != nil {
			return nil, err
		}
		parts = append(parts, ea)
		for j := range left {
			r := int32(j)
			if sel != nil {
				r = sel[j]
			}
			p.part[r], p.pos[r] = int32(len(parts)-1), int32(j)
		}
	}
	return assemble(ctx, c.T, parts, p)
}
