package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/change"
)

// TxBatches is one source transaction as change batches: per table, in the order
// the transaction first touches it, the table's row changes in commit order.
type TxBatches struct {
	// Commit is the transaction's commit position: where a source reopened after
	// it resumes.
	Commit  cdc.Position
	Tables  []string
	Batches []*change.Batch
}

// Release releases the batches not handed over yet (nil entries are skipped).
func (t *TxBatches) Release() {
	for i, b := range t.Batches {
		if b != nil {
			b.Release()
			t.Batches[i] = nil
		}
	}
}

// BatchSource is what a Dataflow reads: whole transactions as change batches, in
// commit order. Open positions it after from (zero: the beginning); Next returns
// io.EOF at the end of a finite source; Ack tells the source that everything up
// to upTo is checkpointed. It follows cdc.Source's lifecycle.
type BatchSource interface {
	Open(ctx context.Context, from cdc.Position) error
	Next(ctx context.Context) (TxBatches, error)
	Ack(ctx context.Context, upTo cdc.Position) error
	Close() error
}

// CDCSourceConfig configures NewCDCSource.
type CDCSourceConfig struct {
	// Source is the change source; required. A cdc.TxSource hands over whole
	// transactions; any other is assembled into transactions by a cdc.Assembler.
	Source cdc.Source
	// Tables lists the tables to keep (nil: every table).
	Tables []string
	// Assembler bounds transaction assembly (for a source that is not a TxSource).
	Assembler cdc.AssemblerConfig
	// Mem allocates the batches (default memory.DefaultAllocator).
	Mem memory.Allocator
	// Schemas are the schemas the operators were built for, by table. Events of
	// another version of a table's schema (a column added or dropped mid-stream) are
	// projected onto it: columns it lacks are dropped, its nullable columns the
	// event's schema lacks are NULL, and its other columns must exist in the event's
	// schema with the same type (and not turn nullable where it is NOT NULL);
	// otherwise Next fails naming the table, the position and the columns. A table not listed keeps each event's own schema, so a change of
	// version reaches the operators, which reject a schema they were not built for.
	Schemas map[string]*change.Schema
}

// Validate reports whether the configuration can work.
func (c CDCSourceConfig) Validate() error {
	if c.Source == nil {
		return fmt.Errorf("%w: cdc source: Source is required", ErrConfig)
	}
	return c.Assembler.Validate()
}

// CDCSource turns a cdc.Source into a BatchSource: each transaction's row events
// become change batches as cdc.AppendChanges writes them (update: -U before, +U
// after; delete: -D before). Transactions with no kept row change are skipped. A
// truncate is an error: incremental operators cannot retract rows they were not
// told about.
type CDCSource struct {
	cfg           CDCSourceConfig
	asm           *cdc.Assembler
	txs           cdc.TxSource
	batches       cdc.BatchReader // the source, when it decodes ahead
	batch         []cdc.Event     // its last batch; batch[bi:] are still to assemble
	bi            int
	keep          map[string]bool
	eof           bool
	projs         map[*change.Schema]*projection // by event schema
	ev            cdc.Event                      // an event projected onto its pipeline schema
	before, after change.Row                     // its images, reused
	builders      map[*change.Schema]*change.Builder
	txBuilders    []*change.Builder // of the transaction being converted, by out.Tables
}

// projection maps rows of an event's schema onto the pipeline's schema of its table.
type projection struct {
	to   *change.Schema
	cols []int // by column of to: the column of the event's schema
}

// newProjection checks that rows of from can feed operators built for to.
func newProjection(from, to *change.Schema) (*projection, error) {
	p := &projection{to: to, cols: make([]int, to.NumFields())}
	var problems []string
	if fk, tk := from.KeyNames(), to.KeyNames(); !slices.Equal(fk, tk) {
		problems = append(problems, fmt.Sprintf("primary key (%s) is now (%s)", strings.Join(tk, ", "), strings.Join(fk, ", ")))
	}
	for i, f := range to.Fields() {
		j := from.FieldIndex(f.Name)
		p.cols[i] = j
		switch {
		case j < 0 && f.Nullable: // added later or dropped since: NULL, as silver reads it
		case j < 0:
			problems = append(problems, fmt.Sprintf("column %q is missing and the pipeline takes it NOT NULL", f.Name))
		case !arrow.TypeEqual(from.Field(j).Type, f.Type):
			problems = append(problems, fmt.Sprintf("column %q is %s, the pipeline takes %s", f.Name, from.Field(j).Type, f.Type))
		case from.Field(j).Nullable && !f.Nullable:
			problems = append(problems, fmt.Sprintf("column %q became nullable, the pipeline takes it NOT NULL", f.Name))
		}
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	return p, nil
}

// row writes src projected over dst (reused: the rows are appended to a batch at
// once) and returns it.
func (p *projection) row(dst, src change.Row) change.Row {
	if src == nil {
		return nil
	}
	dst = slices.Grow(dst[:0], len(p.cols))[:len(p.cols)]
	for i, j := range p.cols {
		if j >= 0 {
			dst[i] = src[j]
		} else {
			dst[i] = change.Null()
		}
	}
	return dst
}

// project returns ev as the operators of its table take it.
func (s *CDCSource) project(ev *cdc.Event) (*cdc.Event, error) {
	to := s.cfg.Schemas[ev.Table]
	if to == nil || to == ev.Schema {
		return ev, nil
	}
	p, ok := s.projs[ev.Schema]
	if !ok {
		if to.Equal(ev.Schema) {
			p = nil
		} else {
			var err error
			if p, err = newProjection(ev.Schema, to); err != nil {
				return nil, fmt.Errorf("%w: %s at %s: schema version %d (%s) cannot feed the pipeline's schema (%s): %v",
					ErrInput, ev.Table, ev.Pos, ev.SchemaVersion, ev.Schema, to, err)
			}
		}
		if s.projs == nil {
			s.projs = map[*change.Schema]*projection{}
		}
		s.projs[ev.Schema] = p
	}
	s.ev = *ev
	s.ev.Schema = to
	if p != nil {
		s.before, s.after = p.row(s.before, ev.Before), p.row(s.after, ev.After)
		s.ev.Before, s.ev.After = s.before, s.after
	}
	return &s.ev, nil
}

// NewCDCSource checks cfg and returns the adapter.
func NewCDCSource(cfg CDCSourceConfig) (*CDCSource, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Mem == nil {
		cfg.Mem = memory.DefaultAllocator
	}
	s := &CDCSource{cfg: cfg}
	if cfg.Tables != nil {
		s.keep = map[string]bool{}
		for _, t := range cfg.Tables {
			s.keep[t] = true
		}
	}
	s.txs, _ = cfg.Source.(cdc.TxSource)
	if s.txs == nil {
		s.batches, _ = cfg.Source.(cdc.BatchReader)
	}
	return s, nil
}

// Open implements BatchSource.
func (s *CDCSource) Open(ctx context.Context, from cdc.Position) error {
	s.eof = false
	s.batch, s.bi = nil, 0
	if s.txs == nil {
		s.asm = cdc.NewAssembler(s.cfg.Assembler)
	}
	return s.cfg.Source.Open(ctx, from)
}

// Ack implements BatchSource.
func (s *CDCSource) Ack(ctx context.Context, upTo cdc.Position) error {
	return s.cfg.Source.Ack(ctx, upTo)
}

// Close implements BatchSource.
func (s *CDCSource) Close() error { return s.cfg.Source.Close() }

// Next implements BatchSource.
func (s *CDCSource) Next(ctx context.Context) (TxBatches, error) {
	for {
		tx, ok, err := s.nextTx(ctx)
		if err != nil || !ok {
			if err == nil {
				err = io.EOF
			}
			return TxBatches{}, err
		}
		out, err := s.convert(tx)
		if s.asm != nil {
			s.asm.Release(tx)
		}
		if err != nil || len(out.Batches) > 0 {
			return out, err
		}
	}
}

func (s *CDCSource) nextTx(ctx context.Context) (cdc.Tx, bool, error) {
	if s.txs != nil {
		tx, err := s.txs.ReadTx(ctx)
		if errors.Is(err, io.EOF) {
			return tx, false, nil
		}
		return tx, err == nil, err
	}
	for {
		if tx, ok := s.asm.Next(); ok {
			return tx, true, nil
		}
		if s.bi < len(s.batch) {
			ev := &s.batch[s.bi]
			s.bi++
			if err := s.asm.Add(ctx, ev); err != nil {
				return cdc.Tx{}, false, err
			}
			continue
		}
		if s.eof {
			return cdc.Tx{}, false, nil
		}
		var ev cdc.Event
		var err error
		if s.batches != nil {
			// decoded ahead into the assembler's room, then assembled one by one (see
			// cdc.BatchReader)
			room := s.asm.Reserve(cdc.DecodeAhead)
			var n int
			n, err = s.batches.ReadBatch(ctx, room)
			s.batch, s.bi = room[:n], 0
		} else if ev, err = s.cfg.Source.Read(ctx); err == nil {
			err = s.asm.Add(ctx, &ev)
		}
		switch {
		case err == nil:
		case errors.Is(err, cdc.ErrIdle):
			err = s.asm.Idle(ctx)
		case errors.Is(err, io.EOF):
			s.eof = true
			err = s.asm.Flush(ctx)
		}
		if err != nil {
			return cdc.Tx{}, false, err
		}
	}
}

// Builders are kept by schema from one transaction to the next: their staging
// slices are then allocated once, not per transaction.
func (s *CDCSource) convert(tx cdc.Tx) (TxBatches, error) {
	out := TxBatches{Commit: tx.Commit}
	builders := s.txBuilders[:0]
	defer func() {
		for _, b := range builders {
			b.Reset() // after an error, rows may be staged

		}
		clear(builders)
		s.txBuilders = builders[:0]
	}()
	for i := range tx.Events {
		ev := &tx.Events[i]
		if !ev.Op.IsRowChange() || s.keep != nil && !s.keep[ev.Table] {
			continue
		}
		if ev.Op == cdc.OpTruncate {
			return TxBatches{}, fmt.Errorf("%w: truncate of %s at %s", ErrInput, ev.Table, ev.Pos)
		}
		ev, err := s.project(ev)
		if err != nil {
			return TxBatches{}, err
		}
		bi := -1
		for j, t := range out.Tables {
			if t == ev.Table && builders[j].Schema() == ev.Schema {
				bi = j
			}
		}
		if bi < 0 {
			bi = len(builders)
			out.Tables = append(out.Tables, ev.Table)
			bl := s.builders[ev.Schema]
			if bl == nil {
				if s.builders == nil {
					s.builders = map[*change.Schema]*change.Builder{}
				}
				bl = change.NewBuilder(s.cfg.Mem, ev.Schema)
				s.builders[ev.Schema] = bl
			}
			builders = append(builders, bl)
		}
		if err := cdc.AppendChanges(builders[bi], ev); err != nil {
			return TxBatches{}, fmt.Errorf("stream: cdc source: %w", err)
		}
	}
	for _, b := range builders {
		out.Batches = append(out.Batches, b.NewBatch())
	}
	return out, nil
}
