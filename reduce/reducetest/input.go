package reducetest

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/shuffle"
)

// Input is one input of a reducer: rows that become batches of Options.BatchRows rows,
// allocated from the run's budget, only as the reducer reads them, so an input far
// larger than the budget costs the budget one batch at a time.
type Input struct {
	schema *change.Schema
	n      int
	gen    func(i int, row change.Row) change.Op
	err    error
}

// Rows returns an input of literal rows of plain Go values (as change.ValueOf takes
// them: nil, ints, floats, strings, decimal text, time.Time, ...). A row that starts
// with a change.Op carries that op; any other row is an insert (+I). A value that does
// not fit its column makes the run fail with an error naming the row.
func Rows(s *change.Schema, rows ...[]any) Input {
	vals := make([]change.Row, len(rows))
	ops := make([]change.Op, len(rows))
	in := Input{schema: s, n: len(rows)}
	bld := change.NewBuilder(memory.DefaultAllocator, s)
	defer bld.Release()
	for i, r := range rows {
		row, op, err := literal(s, r)
		if err == nil {
			err = bld.Append(op, row) // nullability and integer ranges
		}
		if err != nil {
			in.err = fmt.Errorf("row %d %v: %w", i, r, err)
			return in
		}
		vals[i], ops[i] = row, op
	}
	bld.NewBatch().Release()
	in.gen = func(i int, row change.Row) change.Op {
		copy(row, vals[i])
		return ops[i]
	}
	return in
}

// Generate returns an input of n rows made by gen, which fills row (one value per
// column, all NULL on entry) and returns the row's op: for inputs too large to write out.
func Generate(s *change.Schema, n int, gen func(i int, row change.Row) change.Op) Input {
	return Input{schema: s, n: n, gen: gen}
}

// Stream returns a fresh stream of the input's batches of batchRows rows (0: 1024),
// allocated from mem as they are read: for a reducer that reads an input more than
// once, such as a nested-loop join's inner side. A nil mem is the default allocator.
func (in Input) Stream(mem memory.Allocator, batchRows int) shuffle.Stream {
	if batchRows <= 0 {
		batchRows = 1024
	}
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	if in.err != nil {
		return errStream{in.err}
	}
	return &inputStream{in: in, mem: &counting{Allocator: mem}, rows: batchRows}
}

// errStream is the stream of an input whose rows do not fit its schema.
type errStream struct{ err error }

func (s errStream) Next(context.Context) (*change.Batch, error) { return nil, s.err }
func (s errStream) Close() error                                { return nil }

// Schema returns the input's schema.
func (in Input) Schema() *change.Schema { return in.schema }

// Len returns the number of rows.
func (in Input) Len() int { return in.n }

// literal converts a plain row, optionally led by its op, to values of schema s.
func literal(s *change.Schema, r []any) (change.Row, change.Op, error) {
	op := change.Insert
	if len(r) > 0 {
		if o, ok := r[0].(change.Op); ok {
			op, r = o, r[1:]
		}
	}
	if len(r) != s.NumFields() {
		return nil, op, fmt.Errorf("%d values for %d columns", len(r), s.NumFields())
	}
	row := make(change.Row, len(r))
	for c, x := range r {
		f := s.Field(c)
		v, err := change.ValueOf(x, f.Type)
		if err != nil {
			return nil, op, fmt.Errorf("column %q: %w", f.Name, err)
		}
		row[c] = v
	}
	return row, op, nil
}
