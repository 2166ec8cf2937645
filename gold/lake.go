package gold

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/bronze"
	"github.com/strata-data/strata/plan"
	"github.com/strata-data/strata/silver"
)

// Lake is a plan.Catalog over the silver tables of a lake: a source's relation
// (schema.identifier, e.g. public.orders) names a silver table, read at the snapshot
// that is latest when the table is first looked up, so every model of a build sees the
// same version of it.
type Lake struct {
	store  bronze.Store
	mu     sync.Mutex
	tables map[string]*lakeTable
}

// OpenLake opens the lake in directory dir.
func OpenLake(ctx context.Context, dir string) (*Lake, error) {
	store, err := bronze.OpenDir(dir)
	if err != nil {
		return nil, fmt.Errorf("gold: lake %s: %w", dir, err)
	}
	return NewLake(store), nil
}

// NewLake returns the catalog of the silver tables in store.
func NewLake(store bronze.Store) *Lake {
	return &Lake{store: store, tables: map[string]*lakeTable{}}
}

// Table implements plan.Catalog.
func (l *Lake) Table(ctx context.Context, name string) (plan.Table, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.tables[name]; ok {
		return t, nil
	}
	names, err := silver.Tables(ctx, l.store)
	if err != nil {
		return nil, err
	}
	found := false
	for _, n := range names {
		found = found || n == name
	}
	if !found {
		return nil, fmt.Errorf("%w: %q is not a silver table of the lake (it has %v)", plan.ErrNoTable, name, names)
	}
	t, err := silver.Open(ctx, l.store, name, silver.Config{})
	if err != nil {
		return nil, err
	}
	snap, ok := t.Latest()
	if !ok {
		return nil, fmt.Errorf("%w: silver table %q has no snapshot yet", plan.ErrNoTable, name)
	}
	lt := &lakeTable{t: t, snap: snap, schema: t.Schema().Arrow()}
	l.tables[name] = lt
	return lt, nil
}

type lakeTable struct {
	t      *silver.Table
	snap   silver.Snapshot
	schema *arrow.Schema
}

func (t *lakeTable) Schema() *arrow.Schema { return t.schema }

func (t *lakeTable) Stats(context.Context) (plan.TableStats, error) {
	return plan.TableStats{Rows: t.snap.Rows}, nil
}

// Splits returns one split: the silver scan applies position deletes across files.
func (t *lakeTable) Splits(_ context.Context, req plan.ScanRequest) ([]plan.Split, error) {
	cols := make([]string, len(req.Columns))
	for i, c := range req.Columns {
		cols[i] = t.schema.Field(c).Name
	}
	return []plan.Split{&lakeSplit{t: t, cols: cols}}, nil
}

type lakeSplit struct {
	t    *lakeTable
	cols []string
}

func (s *lakeSplit) Name() string { return fmt.Sprintf("%s@%d", s.t.t.Name(), s.t.snap.ID) }
func (s *lakeSplit) Rows() int64  { return s.t.snap.Rows }

func (s *lakeSplit) Open(ctx context.Context, _ memory.Allocator) (plan.BatchReader, error) {
	sc, err := s.t.t.Scan(ctx, silver.ScanOptions{AsOf: s.t.snap.ID, Columns: s.cols})
	if err != nil {
		return nil, err
	}
	return &lakeReader{sc: sc}, nil
}

type lakeReader struct{ sc *silver.Scanner }

func (r *lakeReader) Next(ctx context.Context) (arrow.RecordBatch, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !r.sc.Next() {
		if err := r.sc.Err(); err != nil {
			return nil, err
		}
		return nil, io.EOF
	}
	rec := r.sc.Batch().Record()
	rec.Retain() // the scanner's batch is valid until its next Next
	return rec, nil
}

func (r *lakeReader) Close() error { return r.sc.Close() }
