package plan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/bronze"
	"github.com/strata-data/strata/silver"
)

// LakeCatalog makes the silver tables of a lake queryable by name. A table resolves
// by its full name ("public.orders") or, when only one table has it, by its last part
// ("orders"). A catalog pins each table at the snapshot that was latest when it first
// looked the table up (or at AsOf), so every query through it (a gold build's models,
// the scans of one query) reads the same version; a new catalog sees later commits.
// It is safe for concurrent use.
type LakeCatalog struct {
	store bronze.Store
	// AsOf, when non-zero, reads every table at this snapshot id instead of the latest.
	AsOf uint64

	mu     sync.Mutex
	pinned map[string]*lakeTable // by the name asked for
}

// NewLakeCatalog returns the catalog of the silver tables in store.
func NewLakeCatalog(store bronze.Store) *LakeCatalog {
	return &LakeCatalog{store: store, pinned: map[string]*lakeTable{}}
}

// OpenLakeCatalog returns the catalog of the silver tables of the lake in directory dir.
func OpenLakeCatalog(dir string) (*LakeCatalog, error) {
	store, err := bronze.OpenDir(dir)
	if err != nil {
		return nil, fmt.Errorf("plan: lake %s: %w", dir, err)
	}
	return NewLakeCatalog(store), nil
}

// Names lists the lake's silver tables, sorted.
func (c *LakeCatalog) Names(ctx context.Context) ([]string, error) {
	return silver.Tables(ctx, c.store)
}

// Table implements Catalog.
func (c *LakeCatalog) Table(ctx context.Context, name string) (Table, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.pinned[name]; ok {
		return t, nil
	}
	names, err := silver.Tables(ctx, c.store)
	if err != nil {
		return nil, fmt.Errorf("plan: lake catalog: %w", err)
	}
	full := ""
	if slices.Contains(names, name) {
		full = name
	} else if !strings.Contains(name, ".") {
		var matches []string
		for _, n := range names {
			if n[strings.LastIndexByte(n, '.')+1:] == name {
				matches = append(matches, n)
			}
		}
		switch len(matches) {
		case 0:
		case 1:
			full = matches[0]
		default:
			return nil, fmt.Errorf("plan: table %q is ambiguous in the lake: %s", name, strings.Join(matches, ", "))
		}
	}
	if full == "" {
		return nil, fmt.Errorf("%w: %q is not a silver table of the lake (it has %s)", ErrNoTable, name, strings.Join(names, ", "))
	}
	t, err := silver.Open(ctx, c.store, full, silver.Config{})
	if err != nil {
		return nil, fmt.Errorf("plan: lake catalog: %w", err)
	}
	snap, err := t.Snapshot(c.AsOf)
	if err != nil {
		return nil, fmt.Errorf("plan: lake catalog: table %s: %w", full, err)
	}
	s := t.Schema() // an older snapshot too is read through the latest schema
	if s == nil {
		return nil, fmt.Errorf("%w: silver table %q has no snapshot yet", ErrNoTable, full)
	}
	lt := &lakeTable{store: c.store, name: full, snap: snap, schema: s.Arrow()}
	c.pinned[name] = lt
	return lt, nil
}

// lakeTable is one silver table pinned to a snapshot.
type lakeTable struct {
	store  bronze.Store
	name   string
	snap   silver.Snapshot
	schema *arrow.Schema
}

func (t *lakeTable) Schema() *arrow.Schema { return t.schema }

func (t *lakeTable) Stats(context.Context) (TableStats, error) {
	return TableStats{Rows: t.snap.Rows}, nil
}

// Splits returns one split: a silver scan already merges data and delete files.
func (t *lakeTable) Splits(_ context.Context, req ScanRequest) ([]Split, error) {
	cols := make([]string, len(req.Columns))
	for i, c := range req.Columns {
		cols[i] = t.schema.Field(c).Name
	}
	return []Split{&lakeSplit{t: t, cols: cols}}, nil
}

type lakeSplit struct {
	t    *lakeTable
	cols []string
}

func (s *lakeSplit) Name() string { return fmt.Sprintf("%s@%d", s.t.name, s.t.snap.ID) }
func (s *lakeSplit) Rows() int64  { return s.t.snap.Rows }

func (s *lakeSplit) Open(ctx context.Context, mem memory.Allocator) (BatchReader, error) {
	// Opened again with the query's allocator, so its budget counts what the scan holds.
	t, err := silver.Open(ctx, s.t.store, s.t.name, silver.Config{Mem: mem})
	if err != nil {
		return nil, fmt.Errorf("plan: scan %s: %w", s.t.name, err)
	}
	cols, countOnly := s.cols, len(s.cols) == 0
	if countOnly {
		// No column is wanted (count(*)): read the narrowest thing there is, the first
		// column, and hand over row counts only.
		cols = []string{s.t.schema.Field(0).Name}
	}
	sc, err := t.Scan(ctx, silver.ScanOptions{AsOf: s.t.snap.ID, Columns: cols})
	if err != nil {
		return nil, fmt.Errorf("plan: scan %s: %w", s.t.name, err)
	}
	return &lakeReader{sc: sc, name: s.t.name, countOnly: countOnly}, nil
}

var noColumns = arrow.NewSchema(nil, nil)

type lakeReader struct {
	sc        *silver.Scanner
	name      string
	countOnly bool
}

func (r *lakeReader) Next(ctx context.Context) (arrow.RecordBatch, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !r.sc.Next() {
		if err := r.sc.Err(); err != nil {
			return nil, fmt.Errorf("plan: scan %s: %w", r.name, err)
		}
		return nil, io.EOF
	}
	rec := r.sc.Batch().Record()
	if r.countOnly {
		return array.NewRecordBatch(noColumns, nil, rec.NumRows()), nil
	}
	rec.Retain() // handed over; the scanner drops its own reference at the next Next
	return rec, nil
}

func (r *lakeReader) Close() error {
	if err := r.sc.Close(); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// Catalogs returns a catalog that looks a name up in each of cats in turn: the first
// that holds it wins. Only ErrNoTable moves on to the next; other errors are returned.
func Catalogs(cats ...Catalog) Catalog { return catalogs(cats) }

type catalogs []Catalog

func (cs catalogs) Table(ctx context.Context, name string) (Table, error) {
	var errs []error
	for _, c := range cs {
		t, err := c.Table(ctx, name)
		if err == nil {
			return t, nil
		}
		if !errors.Is(err, ErrNoTable) {
			return nil, err
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("%w: %q (no catalogs)", ErrNoTable, name)
	}
	return nil, errors.Join(errs...)
}
