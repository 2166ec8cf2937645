package change

import (
	"errors"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
)

// ErrIncompatible is returned (wrapped) when a schema cannot follow another: data of the
// old schema could not be read through the new one without loss.
var ErrIncompatible = errors.New("change: incompatible schema change")

// widenings lists, for each column type, the types it may become without loss. Decimals
// are checked apart (precision and scale); every other type may only stay what it is.
var widenings = map[arrow.Type][]arrow.Type{
	arrow.INT8:    {arrow.INT16, arrow.INT32, arrow.INT64, arrow.FLOAT64},
	arrow.INT16:   {arrow.INT32, arrow.INT64, arrow.FLOAT64},
	arrow.INT32:   {arrow.INT64, arrow.FLOAT64},
	arrow.UINT8:   {arrow.UINT16, arrow.UINT32, arrow.UINT64, arrow.INT16, arrow.INT32, arrow.INT64, arrow.FLOAT64},
	arrow.UINT16:  {arrow.UINT32, arrow.UINT64, arrow.INT32, arrow.INT64, arrow.FLOAT64},
	arrow.UINT32:  {arrow.UINT64, arrow.INT64, arrow.FLOAT64},
	arrow.FLOAT32: {arrow.FLOAT64},
}

// CheckEvolution reports whether rows written under old can be read under new without
// loss, so that new may become the next version of a table whose latest is old. It is
// nil when new is identical to old or evolves it compatibly:
//
//   - columns match by name, so reordering is free;
//   - an added column must be nullable (old rows read NULL there), and only a nullable
//     column may be removed;
//   - a NOT NULL column may become nullable, not the reverse;
//   - the primary key (names and order) stays the same;
//   - a type may only widen: int8→int16→int32→int64, uint8→uint16→uint32→uint64,
//     uint8→int16, uint16→int32, uint32→int64 (and on along the signed chain), every
//     integer of at most 32 bits→float64, float32→float64, and decimal128(p, s)→
//     decimal128(p', s') with s' ≥ s and p'−s' ≥ p−s; any other type stays identical;
//   - field metadata set on both sides (the logical type, [MetaLogical]) is the same.
//
// Otherwise the error wraps [ErrIncompatible] and names every column at fault and the
// rule it breaks, for example
// `change: incompatible schema change: column "amount": decimal(10, 2) cannot become int32 (narrowing)`.
func CheckEvolution(old, new *Schema) error {
	if old == nil || new == nil {
		return fmt.Errorf("%w: nil schema given to CheckEvolution", ErrSchema)
	}
	if old.Equal(new) {
		return nil
	}
	var problems []string
	if ok, ko := old.KeyNames(), new.KeyNames(); !equalNames(ok, ko) {
		problems = append(problems, fmt.Sprintf("primary key (%s) cannot become (%s)", strings.Join(ok, ", "), strings.Join(ko, ", ")))
	}
	for _, nf := range new.Fields() {
		i := old.FieldIndex(nf.Name)
		if i < 0 {
			if !nf.Nullable {
				problems = append(problems, fmt.Sprintf("column %q: added as NOT NULL (an added column must be nullable: older rows have no value)", nf.Name))
			}
			continue
		}
		if p := columnProblem(old.Field(i), nf); p != "" {
			problems = append(problems, fmt.Sprintf("column %q: %s", nf.Name, p))
		}
	}
	for _, of := range old.Fields() {
		if new.FieldIndex(of.Name) < 0 && !of.Nullable {
			problems = append(problems, fmt.Sprintf("column %q: removed but was NOT NULL (only nullable columns may be removed)", of.Name))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrIncompatible, strings.Join(problems, "; "))
}

// columnProblem says why column of may not become nf, or "" when it may.
func columnProblem(of, nf arrow.Field) string {
	var p []string
	if of.Nullable && !nf.Nullable {
		p = append(p, "nullable cannot become NOT NULL")
	}
	if why := typeProblem(of.Type, nf.Type); why != "" {
		p = append(p, fmt.Sprintf("%s cannot become %s (%s)", of.Type, nf.Type, why))
	}
	for i, k := range of.Metadata.Keys() {
		if j := nf.Metadata.FindKey(k); j >= 0 && nf.Metadata.Values()[j] != of.Metadata.Values()[i] {
			p = append(p, fmt.Sprintf("%s %q cannot become %q", k, of.Metadata.Values()[i], nf.Metadata.Values()[j]))
		}
	}
	return strings.Join(p, ", ")
}

// typeProblem says why a column of type from may not become type to, or "" when it may.
func typeProblem(from, to arrow.DataType) string {
	if arrow.TypeEqual(from, to) {
		return ""
	}
	if fd, ok := from.(*arrow.Decimal128Type); ok {
		if td, ok := to.(*arrow.Decimal128Type); ok {
			switch {
			case td.Scale < fd.Scale:
				return "scale decreases"
			case td.Precision-td.Scale < fd.Precision-fd.Scale:
				return "fewer integer digits"
			}
			return ""
		}
	}
	if widens(from.ID(), to.ID()) {
		return ""
	}
	if widens(to.ID(), from.ID()) {
		return "narrowing"
	}
	return "not a widening"
}

func widens(from, to arrow.Type) bool {
	for _, t := range widenings[from] {
		if t == to {
			return true
		}
	}
	return false
}

func equalNames(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// convOp is how Apply carries one column's value over.
type convOp uint8

const (
	convCopy  convOp = iota // same physical value (identical type, integer or float widening)
	convNull                // column added: NULL
	convFloat               // integer to float64
	convScale               // decimal scale increase: multiply the unscaled value
)

type evolveCol struct {
	src int // column of the old schema; unused for convNull
	op  convOp
	mul decimal128.Num // 10^(s'−s) for convScale
}

// Evolution converts rows of one schema version into rows of a later, compatible one,
// so that data written under any version can be read through the newest. It is
// immutable and safe for concurrent use.
type Evolution struct {
	from, to *Schema
	nFrom    int
	cols     []evolveCol
	identity bool // every column copied in place: Apply is one copy
}

// NewEvolution prepares the conversion of rows of from into rows of to; it fails with
// the error of [CheckEvolution] when to is not a compatible evolution of from.
func NewEvolution(from, to *Schema) (*Evolution, error) {
	if err := CheckEvolution(from, to); err != nil {
		return nil, err
	}
	e := &Evolution{from: from, to: to, nFrom: from.NumFields(), cols: make([]evolveCol, to.NumFields())}
	e.identity = e.nFrom == len(e.cols)
	for i, f := range to.Fields() {
		j := from.FieldIndex(f.Name)
		if j < 0 {
			e.cols[i] = evolveCol{op: convNull}
			e.identity = false
			continue
		}
		c := evolveCol{src: j}
		ft := from.Field(j).Type
		switch {
		case f.Type.ID() == arrow.FLOAT64 && KindOf(ft) == KindInt:
			c.op = convFloat
		case f.Type.ID() == arrow.DECIMAL128:
			if d := f.Type.(*arrow.Decimal128Type).Scale - ft.(*arrow.Decimal128Type).Scale; d > 0 {
				c.op, c.mul = convScale, decimal128.GetScaleMultiplier(int(d))
			}
		}
		if c.op != convCopy || j != i {
			e.identity = false
		}
		e.cols[i] = c
	}
	return e, nil
}

// From returns the schema rows are converted from.
func (e *Evolution) From() *Schema { return e.from }

// To returns the schema rows are converted to.
func (e *Evolution) To() *Schema { return e.to }

// Apply converts src, a row of From, into a row of To written over dst (grown when
// short; it must not share memory with src) and returns it; a nil src (a missing image)
// returns nil. Added columns are NULL, even in a partial image: the column did not exist,
// so it is not merely missing from the image. Absent values of existing columns stay
// Absent, removed columns are dropped, integers stay integers when widened, become
// floats for float64 columns, and decimals are rescaled exactly. Values must fit their
// column's type (as the builders ensure); a src of the wrong length panics.
func (e *Evolution) Apply(dst, src Row) Row {
	if src == nil {
		return nil
	}
	if len(src) != e.nFrom {
		panic(fmt.Sprintf("change: Evolution.Apply: row has %d values, schema has %d columns", len(src), e.nFrom))
	}
	n := len(e.cols)
	if cap(dst) < n {
		dst = make(Row, n)
	}
	dst = dst[:n]
	if e.identity {
		copy(dst, src)
		return dst
	}
	for i := range e.cols {
		c := &e.cols[i]
		switch c.op {
		case convCopy:
			dst[i] = src[c.src]
		case convNull:
			dst[i] = Value{}
		case convFloat:
			v := src[c.src]
			if v.kind == KindInt {
				v = Float(float64(int64(v.lo)))
			}
			dst[i] = v
		case convScale:
			v := src[c.src]
			if v.kind == KindDecimal {
				// The product fits 128 bits: p'−s' ≥ p−s keeps it within 38 digits.
				v = Decimal(decimal128.New(v.hi, v.lo).Mul(c.mul))
			}
			// A KindInt value in a decimal column is a whole number, the same at any scale.
			dst[i] = v
		}
	}
	return dst
}
