package expr

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"
)

// Errors. Errors from evaluation wrap one of these sentinels, so callers can match
// them with errors.Is; their text follows PostgreSQL's messages.
var (
	ErrDivisionByZero = errors.New("expr: division by zero")
	ErrOutOfRange     = errors.New("expr: value out of range")
	ErrNoOperator     = errors.New("expr: operator does not exist")
	ErrNoFunction     = errors.New("expr: function does not exist")
	ErrType           = errors.New("expr: type mismatch")
	ErrInvalidInput   = errors.New("expr: invalid input syntax")
	ErrInvalidArg     = errors.New("expr: invalid argument")
)

// rangeError is "expr: bigint out of range" and matches ErrOutOfRange.
type rangeError struct{ what string }

func (e rangeError) Error() string { return "expr: " + e.what + " out of range" }
func (e rangeError) Unwrap() error { return ErrOutOfRange }

// msgError is an error with its own text that matches a sentinel.
type msgError struct {
	msg string
	is  error
}

func (e msgError) Error() string { return e.msg }
func (e msgError) Unwrap() error { return e.is }

var (
	errNumericOverflow = msgError{"expr: numeric field overflow", ErrOutOfRange}
	errFloatOverflow   = msgError{"expr: value out of range: overflow", ErrOutOfRange}
)

// Context is what evaluation needs besides the batch. The zero value works: a nil
// Alloc means memory.DefaultAllocator, a zero Now means time.Now() at each
// evaluation (set Now once per statement so every batch sees the same time).
// Evaluation only reads the Context, so tasks may share one.
type Context struct {
	Alloc memory.Allocator
	// Now is the statement's time: now(), current_date and current_timestamp return it
	// for every row, as PostgreSQL returns the transaction's start time.
	Now time.Time
}

func (c *Context) mem() memory.Allocator {
	if c == nil || c.Alloc == nil {
		return memory.DefaultAllocator
	}
	return c.Alloc
}

func (c *Context) now() time.Time {
	if c.Now.IsZero() {
		return time.Now()
	}
	return c.Now
}

// Expr is a typed scalar expression.
type Expr interface {
	// Type is the type of the result.
	Type() arrow.DataType
	// String is SQL-like text for EXPLAIN, e.g. (a + 1) > b.
	String() string
	// Children are the direct subexpressions.
	Children() []Expr
	// Eval evaluates the expression on every row of batch; the result has
	// batch.NumRows() rows and the caller releases it.
	Eval(ctx *Context, batch arrow.RecordBatch) (arrow.Array, error)
}

// Column is the column Index of the input batch. Name is for String only.
type Column struct {
	Index int
	Name  string
	T     arrow.DataType
}

// Literal is a constant; Value may be a NULL scalar of any type, or of type
// arrow.Null for an untyped NULL (resolved from context by the constructors).
type Literal struct {
	Value scalar.Scalar
}

// Call applies an operator or function, resolved by NewCall.
type Call struct {
	Name string
	Args []Expr
	T    arrow.DataType
	fn   *kernel
}

// When is one WHEN cond THEN result arm of a Case.
type When struct {
	Cond, Then Expr
}

// Case is CASE [Operand] WHEN ... THEN ... [ELSE ...] END. With an Operand, each
// Cond is compared to it with =. A missing Else is NULL.
type Case struct {
	Operand Expr
	Whens   []When
	Else    Expr
	T       arrow.DataType
}

// Cast converts E to type To with PostgreSQL's rules; build it with NewCast.
type Cast struct {
	E  Expr
	To arrow.DataType
	// implicit marks a cast the constructors inserted (not written in SQL); a
	// rewrite drops it and lets resolution decide again.
	implicit bool
}

func (c *Column) Type() arrow.DataType { return c.T }
func (c *Column) Children() []Expr     { return nil }
func (c *Column) String() string {
	if c.Name != "" {
		return c.Name
	}
	return fmt.Sprintf("#%d", c.Index)
}

// Eval returns the column (retained).
func (c *Column) Eval(ctx *Context, b arrow.RecordBatch) (arrow.Array, error) {
	return evalArray(ctx, c, b)
}

// NewLiteral is a Literal of v.
func NewLiteral(v scalar.Scalar) *Literal { return &Literal{Value: v} }

// Null is an untyped NULL literal.
func Null() *Literal { return &Literal{Value: scalar.MakeNullScalar(arrow.Null)} }

func (l *Literal) Type() arrow.DataType { return l.Value.DataType() }
func (l *Literal) Children() []Expr     { return nil }
func (l *Literal) String() string       { return literalText(l.Value) }

// Eval returns the constant repeated for every row.
func (l *Literal) Eval(ctx *Context, b arrow.RecordBatch) (arrow.Array, error) {
	return evalArray(ctx, l, b)
}

func (c *Call) Type() arrow.DataType { return c.T }
func (c *Call) Children() []Expr     { return c.Args }
func (c *Call) String() string       { return callText(c) }

// Eval evaluates the call on every row.
func (c *Call) Eval(ctx *Context, b arrow.RecordBatch) (arrow.Array, error) {
	return evalArray(ctx, c, b)
}

func (c *Case) Type() arrow.DataType { return c.T }
func (c *Case) Children() []Expr {
	var out []Expr
	if c.Operand != nil {
		out = append(out, c.Operand)
	}
	for _, w := range c.Whens {
		out = append(out, w.Cond, w.Then)
	}
	if c.Else != nil {
		out = append(out, c.Else)
	}
	return out
}
func (c *Case) String() string {
	var sb strings.Builder
	sb.WriteString("CASE")
	if c.Operand != nil {
		sb.WriteString(" " + c.Operand.String())
	}
	for _, w := range c.Whens {
		sb.WriteString(" WHEN " + w.Cond.String() + " THEN " + w.Then.String())
	}
	if c.Else != nil {
		sb.WriteString(" ELSE " + c.Else.String())
	}
	sb.WriteString(" END")
	return sb.String()
}

// Eval evaluates the case on every row; arms are evaluated only where needed.
func (c *Case) Eval(ctx *Context, b arrow.RecordBatch) (arrow.Array, error) {
	return evalArray(ctx, c, b)
}

func (c *Cast) Type() arrow.DataType { return c.To }
func (c *Cast) Children() []Expr     { return []Expr{c.E} }
func (c *Cast) String() string {
	return "CAST(" + c.E.String() + " AS " + TypeName(c.To) + ")"
}

// Eval converts every row.
func (c *Cast) Eval(ctx *Context, b arrow.RecordBatch) (arrow.Array, error) {
	return evalArray(ctx, c, b)
}

// WithChildren returns e with its children replaced by kids (in Children order),
// re-resolving a Call or Case for the new argument types. It is how a planner
// rewrites a tree (e.g. renumbering columns after pruning).
func WithChildren(e Expr, kids []Expr) (Expr, error) {
	if len(kids) != len(e.Children()) {
		return nil, fmt.Errorf("%w: %s has %d children, got %d", ErrInvalidArg, e, len(e.Children()), len(kids))
	}
	switch e := e.(type) {
	case *Call:
		return NewCall(e.Name, stripImplicit(kids)...)
	case *Cast:
		return NewCast(kids[0], e.To)
	case *Case:
		i := 0
		var op Expr
		if e.Operand != nil {
			op = kids[0]
			i++
		}
		ws := make([]When, len(e.Whens))
		for j := range ws {
			ws[j] = When{Cond: kids[i], Then: kids[i+1]}
			i += 2
		}
		var els Expr
		if e.Else != nil {
			els = kids[i]
		}
		ws2 := make([]When, len(ws))
		for j, w := range ws {
			ws2[j] = When{Cond: w.Cond, Then: stripImplicit([]Expr{w.Then})[0]}
		}
		if els != nil {
			els = stripImplicit([]Expr{els})[0]
		}
		return NewCase(op, ws2, els)
	default:
		return e, nil
	}
}

// stripImplicit removes casts the constructors inserted, so re-resolution sees the
// operands as written (a literal folded since can then be typed better).
func stripImplicit(kids []Expr) []Expr {
	out := make([]Expr, len(kids))
	for i, k := range kids {
		for {
			c, ok := k.(*Cast)
			if !ok || !c.implicit {
				break
			}
			k = c.E
		}
		out[i] = k
	}
	return out
}

// Transform rewrites e bottom-up: f is called on each node after its children were
// transformed, and its result replaces the node.
func Transform(e Expr, f func(Expr) (Expr, error)) (Expr, error) {
	kids := e.Children()
	if len(kids) > 0 {
		nk := make([]Expr, len(kids))
		changed := false
		for i, k := range kids {
			n, err := Transform(k, f)
			if err != nil {
				return nil, err
			}
			nk[i] = n
			changed = changed || n != k
		}
		if changed {
			var err error
			if e, err = WithChildren(e, nk); err != nil {
				return nil, err
			}
		}
	}
	return f(e)
}

// Walk calls f on e and its descendants, pre-order, while f returns true.
func Walk(e Expr, f func(Expr) bool) {
	if !f(e) {
		return
	}
	for _, k := range e.Children() {
		Walk(k, f)
	}
}

// Columns returns the distinct column indexes e reads, in first-seen order.
func Columns(e Expr) []int {
	var out []int
	seen := map[int]bool{}
	Walk(e, func(x Expr) bool {
		if c, ok := x.(*Column); ok && !seen[c.Index] {
			seen[c.Index] = true
			out = append(out, c.Index)
		}
		return true
	})
	return out
}
