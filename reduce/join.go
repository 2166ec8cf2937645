package reduce

import (
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/internal/mempool"
)

// JoinType is the kind of join.
//
// The ops of a join's output: a join of two change streams is defined on their net
// effect, as DBSP defines operators on Z-sets: +I and +U rows count +1, -U and -D rows
// -1. A pair of rows is emitted with the product of their signs, as +I (+1) or -D
// (-1); a row emitted alone (unmatched in an outer join, or by a semi or anti join)
// keeps its sign, as +I or -D; and a row counts as matched when the rows of the other
// side with its key (and, in a nested-loop join, passing the predicate) sum to more
// than 0. So the output is a changelog of inserts and deletes whose net effect is the
// join of the inputs' net effects (a -D on one side retracts the rows its +I made);
// for two insert-only inputs (batch work) it is insert-only and exactly the SQL join.
type JoinType uint8

const (
	// InnerJoin emits every pair of rows whose keys are equal.
	InnerJoin JoinType = iota
	// LeftJoin also emits each left row that matches nothing, with NULLs on the right.
	LeftJoin
	// RightJoin also emits each right row that matches nothing, with NULLs on the left.
	RightJoin
	// FullJoin is LeftJoin and RightJoin at once.
	FullJoin
	// SemiJoin emits each left row that matches at least one right row, once, and
	// only left columns (SQL's EXISTS).
	SemiJoin
	// AntiJoin emits each left row that matches no right row, and only left columns
	// (SQL's NOT EXISTS: a row with a NULL key matches nothing, so it is emitted).
	AntiJoin
)

var joinNames = [...]string{"inner", "left", "right", "full", "semi", "anti"}

func (t JoinType) String() string {
	if int(t) < len(joinNames) {
		return joinNames[t]
	}
	return fmt.Sprintf("JoinType(%d)", t)
}

// Side is one input of a join.
type Side uint8

const (
	// AutoSide lets the join choose (the build side: the smaller input).
	AutoSide Side = iota
	// LeftSide is the first input.
	LeftSide
	// RightSide is the second input.
	RightSide
)

func (s Side) String() string {
	switch s {
	case AutoSide:
		return "auto"
	case LeftSide:
		return "left"
	case RightSide:
		return "right"
	}
	return fmt.Sprintf("Side(%d)", s)
}

// Column picks an input column for a join's output.
type Column struct {
	Side Side   // LeftSide or RightSide
	Name string // the input column
	As   string // the output name ("": Name)
}

// ErrJoinConfig is returned (wrapped) for a join configuration that cannot work.
var ErrJoinConfig = errors.New("reduce: invalid join")

// DefaultBatchRows is the number of rows per output batch when a config leaves it 0.
const DefaultBatchRows = 4096

// sign returns +1 for an op that adds a row, -1 for one that retracts it.
func sign(op change.Op) int64 {
	if op.IsRetraction() {
		return -1
	}
	return 1
}

// pairOp is the op of a pair of rows with ops a and b.
func pairOp(a, b change.Op) change.Op {
	if a.IsRetraction() != b.IsRetraction() {
		return change.Delete
	}
	return change.Insert
}

// aloneOp is the op of a row emitted without a partner.
func aloneOp(a change.Op) change.Op {
	if a.IsRetraction() {
		return change.Delete
	}
	return change.Insert
}

// outCol is an output column: the input side (0 left, 1 right) and column.
type outCol struct {
	side int
	col  int
}

// joinSpec is what every join kernel needs, resolved and checked from a config.
type joinSpec struct {
	typ       JoinType
	in        [2]*change.Schema
	keys      [2][]int
	layout    *keyLayout
	out       *change.Schema
	cols      []outCol
	batchRows int
	budget    *change.Budget
}

// joinOptions is the part of the configs that joinSpec checks.
type joinOptions struct {
	typ                 JoinType
	left, right         *change.Schema
	leftKeys, rightKeys []string
	output              []Column
	rightPrefix         string
	batchRows           int
	budget              *change.Budget
	keysOptional        bool
}

func newJoinSpec(o joinOptions) (*joinSpec, error) {
	if o.typ > AntiJoin {
		return nil, fmt.Errorf("%w: join type %d", ErrJoinConfig, o.typ)
	}
	if o.left == nil || o.right == nil {
		return nil, fmt.Errorf("%w: the Left and Right schemas are required", ErrJoinConfig)
	}
	if len(o.leftKeys) != len(o.rightKeys) {
		return nil, fmt.Errorf("%w: %d left keys, %d right keys", ErrJoinConfig, len(o.leftKeys), len(o.rightKeys))
	}
	if len(o.leftKeys) == 0 && !o.keysOptional {
		return nil, fmt.Errorf("%w: no key columns", ErrJoinConfig)
	}
	s := &joinSpec{typ: o.typ, in: [2]*change.Schema{o.left, o.right}, batchRows: o.batchRows, budget: o.budget}
	if s.batchRows <= 0 {
		s.batchRows = DefaultBatchRows
	}
	if s.budget == nil {
		// Unlimited, over the recycling pool: the output batches a consumer releases are
		// handed out again for the next ones, with no wait for a garbage collection.
		s.budget = change.NewBudget(0, mempool.Default())
	}
	kinds := make([]keyKind, len(o.leftKeys))
	for i := range o.leftKeys {
		l, r := o.left.FieldIndex(o.leftKeys[i]), o.right.FieldIndex(o.rightKeys[i])
		if l < 0 {
			return nil, fmt.Errorf("%w: left key %q is not a column of %s", ErrJoinConfig, o.leftKeys[i], o.left)
		}
		if r < 0 {
			return nil, fmt.Errorf("%w: right key %q is not a column of %s", ErrJoinConfig, o.rightKeys[i], o.right)
		}
		lc, kind := keyClass(o.left.Field(l).Type)
		rc, _ := keyClass(o.right.Field(r).Type)
		if lc != rc {
			return nil, fmt.Errorf("%w: key %q (%s) and %q (%s) do not compare", ErrJoinConfig,
				o.leftKeys[i], o.left.Field(l).Type, o.rightKeys[i], o.right.Field(r).Type)
		}
		s.keys[0] = append(s.keys[0], l)
		s.keys[1] = append(s.keys[1], r)
		kinds[i] = kind
	}
	s.layout = newKeyLayout(kinds)
	if err := s.resolveOutput(o.output, o.rightPrefix); err != nil {
		return nil, err
	}
	return s, nil
}

// resolveOutput fills the output columns and schema: the given columns, or every left
// column then (unless the join is a semi or anti join) every right column, a right
// column whose name is taken prefixed with rightPrefix ("right_" by default). The side
// an outer join pads with NULLs becomes nullable.
func (s *joinSpec) resolveOutput(output []Column, rightPrefix string) error {
	if rightPrefix == "" {
		rightPrefix = "right_"
	}
	leftOnly := s.typ == SemiJoin || s.typ == AntiJoin
	if output == nil {
		for _, f := range s.in[0].Fields() {
			output = append(output, Column{Side: LeftSide, Name: f.Name})
		}
		if !leftOnly {
			taken := make(map[string]bool)
			for _, f := range s.in[0].Fields() {
				taken[f.Name] = true
			}
			for _, f := range s.in[1].Fields() {
				c := Column{Side: RightSide, Name: f.Name}
				if taken[f.Name] {
					c.As = rightPrefix + f.Name
				}
				output = append(output, c)
			}
		}
	}
	nullable := [2]bool{s.typ == RightJoin || s.typ == FullJoin, s.typ == LeftJoin || s.typ == FullJoin}
	fields := make([]arrow.Field, 0, len(output))
	seen := make(map[string]bool)
	for _, c := range output {
		side := 0
		switch c.Side {
		case LeftSide:
		case RightSide:
			if leftOnly {
				return fmt.Errorf("%w: a %s join outputs left columns only, not right %q", ErrJoinConfig, s.typ, c.Name)
			}
			side = 1
		default:
			return fmt.Errorf("%w: output column %q has side %s", ErrJoinConfig, c.Name, c.Side)
		}
		i := s.in[side].FieldIndex(c.Name)
		if i < 0 {
			return fmt.Errorf("%w: output column %q is not a %s column", ErrJoinConfig, c.Name, c.Side)
		}
		f := s.in[side].Field(i)
		if c.As != "" {
			f.Name = c.As
		}
		if seen[f.Name] {
			return fmt.Errorf("%w: two output columns are named %q", ErrJoinConfig, f.Name)
		}
		seen[f.Name] = true
		f.Nullable = f.Nullable || nullable[side]
		fields = append(fields, f)
		s.cols = append(s.cols, outCol{side: side, col: i})
	}
	out, err := change.NewSchema(fields)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrJoinConfig, err)
	}
	s.out = out
	return nil
}

// checkBatch reports a batch whose columns are not those of input side.
func (s *joinSpec) checkBatch(side int, b *change.Batch) error {
	want := s.in[side].Arrow()
	got := b.Record().Schema()
	if got.NumFields() != want.NumFields() {
		return fmt.Errorf("reduce: %s input batch has %d columns, want %d", sideName(side), got.NumFields(), want.NumFields())
	}
	for i := range got.NumFields() {
		if !arrow.TypeEqual(got.Field(i).Type, want.Field(i).Type) {
			return fmt.Errorf("reduce: %s input column %d is %s, want %s", sideName(side), i, got.Field(i).Type, want.Field(i).Type)
		}
	}
	return nil
}

func sideName(side int) string {
	if side == 0 {
		return "left"
	}
	return "right"
}
