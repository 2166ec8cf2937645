package stream

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/strata-data/strata/change"
)

// MaxWatermark is the watermark that closes every window: a Dataflow sends it
// when a finite source ends, and a caller running operators by hand passes it to
// OnWatermark at the end of the input.
var MaxWatermark = time.Unix(0, math.MaxInt64).UTC()

// WatermarkHandler is an optional interface of an Operator or a Node that works
// on event time. A watermark wm says that event time before wm is complete: a
// window ending at or before wm can be emitted, and events in it are late.
// Watermarks only grow. OnWatermark emits what wm completes. A Dataflow calls it,
// in the partition's goroutine, between batches.
type WatermarkHandler interface {
	OnWatermark(ctx context.Context, wm time.Time, emit Emit) error
}

// OnWatermark passes the watermark to the operator if it handles watermarks.
func (s single) OnWatermark(ctx context.Context, wm time.Time, emit Emit) error {
	if h, ok := s.op.(WatermarkHandler); ok {
		return h.OnWatermark(ctx, wm, emit)
	}
	return nil
}

// OnWatermark passes the watermark to each operator of the chain in order; what
// one emits is processed by the ones after it.
func (c chain) OnWatermark(ctx context.Context, wm time.Time, emit Emit) error {
	for i, op := range c {
		if h, ok := op.(WatermarkHandler); ok {
			if err := h.OnWatermark(ctx, wm, func(b *change.Batch) error { return c.run(ctx, i+1, b, emit) }); err != nil {
				return err
			}
		}
	}
	return nil
}

// WatermarkConfig makes a Dataflow's source compute the watermark and send it to
// every partition of every stage, so that a partition that gets no events still
// closes its windows. The watermark is the latest event time the source has read
// (bounded out-of-orderness, over all the tables listed) minus OutOfOrderness,
// sent after each transaction that raises it. A stage with several senders goes
// by the least watermark among them and passes it on. When a finite source ends
// the source sends MaxWatermark, so every window closes before the final
// checkpoint. The zero value sends no watermarks.
type WatermarkConfig struct {
	// Columns maps a source table to its event-time column (date32 or timestamp).
	Columns map[string]string
	// OutOfOrderness is how far behind the latest event time an event may be.
	OutOfOrderness time.Duration
}

// sourceWatermark computes a Dataflow source's watermark.
type sourceWatermark struct {
	cfg    WatermarkConfig
	latest int64 // latest event time read, ns
	sent   int64 // watermark last sent, ns
}

func newSourceWatermark(cfg WatermarkConfig) *sourceWatermark {
	if len(cfg.Columns) == 0 {
		return nil
	}
	return &sourceWatermark{cfg: cfg, latest: math.MinInt64, sent: math.MinInt64}
}

// observe takes the latest event time of a transaction's batches into account.
func (s *sourceWatermark) observe(tx *TxBatches) error {
	if s == nil {
		return nil
	}
	for i, b := range tx.Batches {
		name, ok := s.cfg.Columns[tx.Tables[i]]
		if !ok {
			continue
		}
		c := b.Schema().FieldIndex(name)
		if c < 0 {
			return fmt.Errorf("%w: dataflow watermark: table %s has no column %q", ErrInput, tx.Tables[i], name)
		}
		unit, ok := timeUnit(b.Schema().Field(c).Type)
		if !ok {
			return fmt.Errorf("%w: dataflow watermark: column %s.%s is %s, not date32 or timestamp",
				ErrInput, tx.Tables[i], name, b.Schema().Field(c).Type)
		}
		col := b.Column(c)
		for r := range b.Len() {
			if t, ok := timeAt(col, r); ok {
				s.latest = max(s.latest, tickNanos(t, unit))
			}
		}
	}
	return nil
}

// next returns the watermark to send, if it rose since the last one sent.
func (s *sourceWatermark) next() (int64, bool) {
	if s == nil || s.latest == math.MinInt64 {
		return 0, false
	}
	wm := satAdd(s.latest, -int64(s.cfg.OutOfOrderness))
	if wm <= s.sent {
		return 0, false
	}
	s.sent = wm
	return wm, true
}

// end returns MaxWatermark's nanoseconds unless already sent.
func (s *sourceWatermark) end() (int64, bool) {
	if s == nil || s.sent == math.MaxInt64 {
		return 0, false
	}
	s.sent = math.MaxInt64
	return math.MaxInt64, true
}

// sendWatermark sends a watermark (ns) to every partition of the stages the
// source feeds, like a barrier.
func (f *flow) sendWatermark(ctx context.Context, wm int64) error {
	f.m.watermarked(wm)
	for s := range f.nodes {
		if f.srcFed[s] {
			for p := range f.p {
				if err := send(ctx, f.in[s][p], msg{watermark: true, wm: wm}); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// watermarkMerge passes a worker's aligned watermarks on while they rise.
type watermarkMerge struct{ last int64 }

func newWatermarkMerge() *watermarkMerge { return &watermarkMerge{last: math.MinInt64} }

// on takes the senders' aligned watermark wm; when it rises it passes it to the
// node (if it handles watermarks) and then on through forward.
func (w *watermarkMerge) on(ctx context.Context, wm int64, node Node, emit Emit, forward func(int64) error) error {
	if wm <= w.last {
		return nil
	}
	w.last = wm
	if h, ok := node.(WatermarkHandler); ok {
		if err := h.OnWatermark(ctx, time.Unix(0, wm).UTC(), emit); err != nil {
			return err
		}
	}
	return forward(wm)
}

// partitioned is implemented by operators that own part of the keys: one with
// timers (WindowAggregate) acts only on the keys its partition owns. A Dataflow
// tells each copy of a stage its partition p of n before it runs.
type partitioned interface {
	setPartition(p, n int) error
}

func setPartition(x any, p, n int) error {
	if pn, ok := x.(partitioned); ok {
		return pn.setPartition(p, n)
	}
	return nil
}

func (s single) setPartition(p, n int) error { return setPartition(s.op, p, n) }

// shared is implemented by operators whose partitions share a value in the
// backend: a Dataflow calls loadShared on every node after restoring its
// checkpoint and before any partition runs, so that no partition reads what
// another has already moved on (WindowAggregate's watermark: a partition that
// loaded it lazily could find a later transaction's and take its own earlier rows
// for late).
type shared interface {
	loadShared() error
}

func loadShared(x any) error {
	if sh, ok := x.(shared); ok {
		return sh.loadShared()
	}
	return nil
}

func (s single) loadShared() error { return loadShared(s.op) }

func (c chain) loadShared() error {
	for _, op := range c {
		if err := loadShared(op); err != nil {
			return err
		}
	}
	return nil
}

func (c chain) setPartition(p, n int) error {
	for _, op := range c {
		if err := setPartition(op, p, n); err != nil {
			return err
		}
	}
	return nil
}
