package stream

import (
	"context"
	"errors"
	"fmt"
	"io"

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
	cfg  CDCSourceConfig
	asm  *cdc.Assembler
	txs  cdc.TxSource
	keep map[string]bool
	eof  bool
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
	return s, nil
}

// Open implements BatchSource.
func (s *CDCSource) Open(ctx context.Context, from cdc.Position) error {
	s.eof = false
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
		if s.eof {
			return cdc.Tx{}, false, nil
		}
		ev, err := s.cfg.Source.Read(ctx)
		switch {
		case err == nil:
			err = s.asm.Add(ctx, ev)
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

func (s *CDCSource) convert(tx cdc.Tx) (TxBatches, error) {
	out := TxBatches{Commit: tx.Commit}
	var builders []*change.Builder
	defer func() {
		for _, b := range builders {
			b.Release()
		}
	}()
	for i := range tx.Events {
		ev := &tx.Events[i]
		if !ev.Op.IsRowChange() || s.keep != nil && !s.keep[ev.Table] {
			continue
		}
		if ev.Op == cdc.OpTruncate {
			return TxBatches{}, fmt.Errorf("%w: truncate of %s at %s", ErrInput, ev.Table, ev.Pos)
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
			builders = append(builders, change.NewBuilder(s.cfg.Mem, ev.Schema))
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
