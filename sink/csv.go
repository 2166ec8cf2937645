package sink

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/change"
)

// CSVConfig configures a CSV sink. The zero value works.
type CSVConfig struct {
	// Name labels the sink's metrics and errors (default "csv").
	Name string
	// Position adds a "position" column after "op" holding each batch's source
	// position (cdc.Position text form).
	Position bool
	// Metrics counts rows, batches and errors (nil: none).
	Metrics *Metrics
}

// Validate reports a setting NewCSV cannot use (none yet).
func (c CSVConfig) Validate() error { return nil }

func (c *CSVConfig) ensureDefaults() {
	if c.Name == "" {
		c.Name = "csv"
	}
}

// CSV writes every row it is given, with its op, as CSV: a header row ("op", then the
// columns) before the first batch, RFC 4180 quoting (lines end in LF, as encoding/csv writes them), NULL as
// an empty field and an empty string as "". It does not net or skip anything: it shows
// the change stream as it is. Every batch must have the first batch's schema.
type CSV struct {
	cfg    CSVConfig
	w      *bufio.Writer
	schema *change.Schema
	seq    sequencer
	m      counters
	buf    []byte
	closed bool
}

// NewCSV returns a CSV sink writing to w (os.Stdout for debugging). Flush flushes its
// buffer to w; Close does not close w.
func NewCSV(w io.Writer, cfg CSVConfig) (*CSV, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.ensureDefaults()
	return &CSV{cfg: cfg, w: bufio.NewWriterSize(w, 64<<10), seq: sequencer{name: cfg.Name}, m: cfg.Metrics.forSink(cfg.Name)}, nil
}

// Write implements Sink.
func (s *CSV) Write(ctx context.Context, b *change.Batch, pos cdc.Position) error {
	defer b.Release()
	if s.closed {
		return ErrClosed
	}
	if s.schema == nil {
		s.schema = b.Schema()
		if err := s.header(); err != nil {
			return s.m.fail(err)
		}
	} else if err := checkSchema(s.cfg.Name, s.schema, b); err != nil {
		return s.m.fail(err)
	}
	if _, err := s.seq.admit(pos); err != nil {
		return s.m.fail(err)
	}
	s.m.batch()
	fields := s.schema.Fields()
	var posText []byte
	if s.cfg.Position {
		posText = []byte(pos.String())
	}
	for i, op := range b.Ops() {
		buf := append(s.buf[:0], op.String()...)
		if s.cfg.Position {
			buf = append(buf, ',')
			buf = append(buf, posText...)
		}
		for c, f := range fields {
			buf = append(buf, ',')
			buf = appendCSVCell(buf, b.Column(c), f.Type, i)
		}
		buf = append(buf, '\n')
		s.buf = buf
		if _, err := s.w.Write(buf); err != nil {
			return s.m.fail(fmt.Errorf("sink: %s: %w", s.cfg.Name, err))
		}
	}
	s.m.wrote(b.Len())
	return nil
}

func (s *CSV) header() error {
	buf := append(s.buf[:0], "op"...)
	if s.cfg.Position {
		buf = append(buf, ",position"...)
	}
	for _, f := range s.schema.Fields() {
		buf = append(buf, ',')
		buf = appendCSVText(buf, f.Name)
	}
	buf = append(buf, '\n')
	s.buf = buf
	_, err := s.w.Write(buf)
	return err
}

// Flush implements Sink: it writes the buffered lines to the writer.
func (s *CSV) Flush(ctx context.Context) error {
	if s.closed {
		return ErrClosed
	}
	t0 := time.Now()
	if err := s.w.Flush(); err != nil {
		return s.m.fail(fmt.Errorf("sink: %s: %w", s.cfg.Name, err))
	}
	s.seq.flushed = s.seq.last
	s.m.committed(t0)
	return nil
}

// Close implements Sink; lines not yet flushed are dropped.
func (s *CSV) Close() error {
	s.closed = true
	return nil
}
