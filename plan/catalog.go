package plan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/internal/expr"
)

// ErrNoTable is returned (wrapped) by a Catalog for a table it does not hold.
var ErrNoTable = errors.New("plan: no such table")

// Catalog resolves table names to tables. Names arrive as written in the query,
// lower-cased unless quoted, qualified ("public.orders") when the query qualifies them.
type Catalog interface {
	Table(ctx context.Context, name string) (Table, error)
}

// Table is a scannable table: an Arrow schema, statistics for the planner, and splits
// (independently readable parts: files, row groups, batches), one scan task each.
type Table interface {
	// Schema is the table's columns. Types must be ones change.Supported accepts.
	Schema() *arrow.Schema
	// Stats returns what the table knows of its size and values (cheap: metadata only).
	Stats(ctx context.Context) (TableStats, error)
	// Splits returns the parts of a scan of the columns req.Columns (indices into
	// Schema, in that order). A table may skip parts whose rows cannot pass
	// req.Filter (row-group pruning); it need not filter rows itself.
	Splits(ctx context.Context, req ScanRequest) ([]Split, error)
}

// ScanRequest is what a scan needs of a table.
type ScanRequest struct {
	// Columns are the column indices to read, in output order.
	Columns []int
	// Filter is a conjunction of simple predicates on single columns that every
	// wanted row satisfies; tables use it to skip whole parts.
	Filter []Predicate
}

// Split is one independently readable part of a scan.
type Split interface {
	// Name identifies the split in lineage and EXPLAIN ("orders.parquet#rg3").
	Name() string
	// Rows estimates the rows of the split (-1: unknown).
	Rows() int64
	// Open starts reading; batches are allocated from mem and have exactly the
	// requested columns, in order.
	Open(ctx context.Context, mem memory.Allocator) (BatchReader, error)
}

// whereSplit is a Split that can apply some of a scan's conditions itself, more
// cheaply than a filter over its batches (a Parquet split evaluates conditions on a
// dictionary-encoded column once per dictionary value).
type whereSplit interface {
	// OpenWhere is Open, with the batches narrowed to the rows where every condition
	// of conds it takes is TRUE; it returns the others, in order, for the caller to
	// apply. It takes only conditions that cannot fail (expr.Safe). conds read the
	// split's columns; ectx evaluates them.
	OpenWhere(ctx context.Context, mem memory.Allocator, ectx *expr.Context, conds []expr.Expr) (r BatchReader, rest []expr.Expr, err error)
}

// BatchReader reads the record batches of a split. Next returns io.EOF after the last;
// each batch returned is handed over (the caller releases it). Close must be called,
// the reader need not be exhausted.
type BatchReader interface {
	Next(ctx context.Context) (arrow.RecordBatch, error)
	Close() error
}

// CompareOp is the operator of a Predicate.
type CompareOp uint8

// The comparison operators of a pushed-down predicate.
const (
	OpEq CompareOp = iota
	OpLt
	OpLe
	OpGt
	OpGe
)

var opText = [...]string{"=", "<", "<=", ">", ">="}

func (o CompareOp) String() string { return opText[o] }

// Predicate is "column op value", value in the column's physical representation
// (change.Value: an Int for integers, dates and timestamps, a Decimal at the column's
// scale, a Float, a Str). NULL never satisfies it.
type Predicate struct {
	Column int
	Op     CompareOp
	Value  change.Value
}

func (p Predicate) String() string {
	return fmt.Sprintf("$%d %s %s", p.Column, p.Op, p.Value)
}

// TableStats are a table's statistics; unknown numbers are -1.
type TableStats struct {
	Rows    int64
	Columns []ColumnStats // one per schema column, or nil
}

// ColumnStats are one column's statistics.
type ColumnStats struct {
	// Distinct estimates the distinct non-NULL values (-1: unknown).
	Distinct int64
	// Nulls counts NULLs (-1: unknown).
	Nulls int64
	// Min and Max bound the non-NULL values when HasMinMax.
	HasMinMax bool
	Min, Max  change.Value
}

// MayMatch reports whether a value range [min, max] can hold a value satisfying p.
// It is conservative: unknown kinds may match.
func (p Predicate) MayMatch(min, max change.Value) bool {
	lo := compareValues(max, p.Value) // max vs v
	hi := compareValues(min, p.Value) // min vs v
	if lo == cmpUnknown || hi == cmpUnknown {
		return true
	}
	switch p.Op {
	case OpEq:
		return hi <= 0 && lo >= 0
	case OpLt:
		return hi < 0
	case OpLe:
		return hi <= 0
	case OpGt:
		return lo > 0
	case OpGe:
		return lo >= 0
	}
	return true
}

const cmpUnknown = 2

func compareValues(a, b change.Value) int {
	if a.Kind() != b.Kind() {
		if a.Kind() == change.KindInt && b.Kind() == change.KindFloat || a.Kind() == change.KindFloat && b.Kind() == change.KindInt {
			return cmpFloat(a.AsFloat(), b.AsFloat())
		}
		return cmpUnknown
	}
	switch a.Kind() {
	case change.KindInt:
		x, y := a.AsInt(), b.AsInt()
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	case change.KindFloat:
		return cmpFloat(a.AsFloat(), b.AsFloat())
	case change.KindDecimal:
		x, y := a.AsDecimal(), b.AsDecimal()
		return x.Cmp(y)
	case change.KindString, change.KindBytes:
		return strings.Compare(a.AsString(), b.AsString())
	case change.KindBool:
		x, y := a.AsBool(), b.AsBool()
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		}
		return 1
	}
	return cmpUnknown
}

func cmpFloat(x, y float64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	case x == y:
		return 0
	}
	return cmpUnknown // NaN
}

// MemCatalog is a Catalog of named tables held in a map; safe for concurrent use.
type MemCatalog struct {
	mu     sync.RWMutex
	tables map[string]Table
}

// NewMemCatalog returns an empty catalog.
func NewMemCatalog() *MemCatalog { return &MemCatalog{tables: map[string]Table{}} }

// Add registers t under name (replacing a table of that name).
func (c *MemCatalog) Add(name string, t Table) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tables[name] = t
}

// Names lists the registered tables, sorted.
func (c *MemCatalog) Names() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]string, 0, len(c.tables))
	for n := range c.tables {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Table implements Catalog.
func (c *MemCatalog) Table(_ context.Context, name string) (Table, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if t, ok := c.tables[name]; ok {
		return t, nil
	}
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		if t, ok := c.tables[name[i+1:]]; ok {
			return t, nil
		}
	}
	return nil, fmt.Errorf("%w: %q", ErrNoTable, name)
}

// MemTable is a table over record batches held in memory, one split per batch. It
// retains the batches; Release drops them.
type MemTable struct {
	schema  *arrow.Schema
	batches []arrow.RecordBatch
}

// NewMemTable returns a table of the given batches (which it retains), all of schema s.
func NewMemTable(s *arrow.Schema, batches ...arrow.RecordBatch) (*MemTable, error) {
	for i, b := range batches {
		if !b.Schema().Equal(s) {
			return nil, fmt.Errorf("plan: batch %d has schema %s, not %s", i, b.Schema(), s)
		}
	}
	for _, f := range s.Fields() {
		if err := change.Supported(f.Type); err != nil {
			return nil, fmt.Errorf("plan: column %q: %w", f.Name, err)
		}
	}
	for _, b := range batches {
		b.Retain()
	}
	return &MemTable{schema: s, batches: batches}, nil
}

// Release drops the table's references to its batches.
func (t *MemTable) Release() {
	for _, b := range t.batches {
		b.Release()
	}
	t.batches = nil
}

// Schema implements Table.
func (t *MemTable) Schema() *arrow.Schema { return t.schema }

// Stats implements Table: exact row count and per-column NULL counts and min/max.
func (t *MemTable) Stats(context.Context) (TableStats, error) {
	st := TableStats{Columns: make([]ColumnStats, t.schema.NumFields())}
	for _, b := range t.batches {
		st.Rows += b.NumRows()
	}
	for c := range st.Columns {
		cs := ColumnStats{Distinct: -1}
		for _, b := range t.batches {
			a := b.Column(c)
			cs.Nulls += int64(a.NullN())
			for i := 0; i < a.Len(); i++ {
				if a.IsNull(i) {
					continue
				}
				v := change.ValueAt(a, i)
				if v.Kind() == change.KindBool || v.Kind() == change.KindBytes {
					break
				}
				if !cs.HasMinMax {
					cs.Min, cs.Max, cs.HasMinMax = v, v, true
					continue
				}
				if compareValues(v, cs.Min) == -1 {
					cs.Min = v
				}
				if compareValues(v, cs.Max) == 1 {
					cs.Max = v
				}
			}
		}
		st.Columns[c] = cs
	}
	return st, nil
}

// Splits implements Table: one split per batch.
func (t *MemTable) Splits(_ context.Context, req ScanRequest) ([]Split, error) {
	var out []Split
	for i, b := range t.batches {
		out = append(out, &memSplit{t: t, i: i, b: b, cols: req.Columns})
	}
	return out, nil
}

type memSplit struct {
	t    *MemTable
	i    int
	b    arrow.RecordBatch
	cols []int
}

func (s *memSplit) Name() string { return fmt.Sprintf("mem#%d", s.i) }
func (s *memSplit) Rows() int64  { return s.b.NumRows() }
func (s *memSplit) Open(context.Context, memory.Allocator) (BatchReader, error) {
	cols := make([]arrow.Array, len(s.cols))
	fields := make([]arrow.Field, len(s.cols))
	for i, c := range s.cols {
		cols[i] = s.b.Column(c)
		fields[i] = s.b.Schema().Field(c)
	}
	md := s.b.Schema().Metadata()
	rec := newRecord(arrow.NewSchema(fields, &md), cols, s.b.NumRows())
	return &sliceReader{recs: []arrow.RecordBatch{rec}}, nil
}

// sliceReader hands over its records one by one.
type sliceReader struct{ recs []arrow.RecordBatch }

func (r *sliceReader) Next(ctx context.Context) (arrow.RecordBatch, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(r.recs) == 0 {
		return nil, io.EOF
	}
	b := r.recs[0]
	r.recs = r.recs[1:]
	return b, nil
}

func (r *sliceReader) Close() error {
	for _, b := range r.recs {
		b.Release()
	}
	r.recs = nil
	return nil
}
