package stream_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/reduce"
	"github.com/strata-data/strata/state"
	"github.com/strata-data/strata/stream"
)

// clicks: event time in seconds.
var clickSchema = change.MustSchema([]arrow.Field{
	change.NotNull("id", arrow.PrimitiveTypes.Int64),
	change.NotNull("user", arrow.BinaryTypes.String),
	change.Col("ts", &arrow.TimestampType{Unit: arrow.Second}),
	change.Col("amount", arrow.PrimitiveTypes.Int64),
}, "id")

var clickAggs = []reduce.Agg{
	{Func: reduce.CountStar, As: "n"},
	{Func: reduce.Sum, Column: "amount", As: "sum"},
	{Func: reduce.Min, Column: "amount", As: "min"},
	{Func: reduce.Max, Column: "amount", As: "max"},
	{Func: reduce.CountDistinct, Column: "amount", As: "distinct"},
}

// click is an input row: op, id, user, event second, amount.
func click(op change.Op, id int64, user string, sec int64, amount int64) []any {
	return []any{op, id, user, time.Unix(sec, 0), amount}
}

// plainRow renders an output row with times as Unix seconds.
func plainRow(r []any) string {
	parts := make([]string, len(r))
	for i, v := range r {
		if t, ok := v.(time.Time); ok {
			v = t.Unix()
		}
		parts[i] = fmt.Sprint(v)
	}
	return strings.Join(parts, " ")
}

// windowHarness runs a WindowAggregate by hand and records its output and late rows.
type windowHarness struct {
	t    *testing.T
	mem  *memory.CheckedAllocator
	be   state.Backend
	cfg  stream.WindowAggregateConfig
	w    *stream.WindowAggregate
	out  []string
	late []string
}

func newWindowHarness(t *testing.T, be state.Backend, cfg stream.WindowAggregateConfig) *windowHarness {
	t.Helper()
	h := &windowHarness{t: t, mem: memory.NewCheckedAllocator(memory.NewGoAllocator()), be: be}
	t.Cleanup(func() { h.mem.AssertSize(t, 0) })
	if cfg.ID == "" {
		cfg.ID = "win"
	}
	if cfg.Schema == nil {
		cfg.Schema = clickSchema
	}
	if cfg.Time == "" {
		cfg.Time = "ts"
	}
	if cfg.Aggs == nil {
		cfg.Aggs = clickAggs
	}
	if cfg.GroupBy == nil {
		cfg.GroupBy = []string{"user"}
	}
	cfg.State, cfg.Mem = be, h.mem
	cfg.Late = func(b *change.Batch) error {
		defer b.Release()
		for _, r := range b.Plain() {
			h.late = append(h.late, plainRow(r))
		}
		return nil
	}
	h.cfg = cfg
	h.build()
	return h
}

// build makes the operator anew on the backend (as after a restore).
func (h *windowHarness) build() {
	h.t.Helper()
	w, err := stream.NewWindowAggregate(h.cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	h.w = w
}

func (h *windowHarness) emit(b *change.Batch) error {
	defer b.Release()
	for _, r := range b.Plain() {
		h.out = append(h.out, plainRow(r))
	}
	return nil
}

func (h *windowHarness) process(rows ...[]any) {
	h.t.Helper()
	in, err := change.FromRows(h.mem, clickSchema, rows)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.w.Process(context.Background(), in, h.emit); err != nil {
		h.t.Fatal(err)
	}
}

func (h *windowHarness) watermark(wm time.Time) {
	h.t.Helper()
	if err := h.w.OnWatermark(context.Background(), wm, h.emit); err != nil {
		h.t.Fatal(err)
	}
}

// take returns and clears the output (and late rows) so far.
func (h *windowHarness) take() (out, late []string) {
	out, late, h.out, h.late = h.out, h.late, nil, nil
	return out, late
}

func (h *windowHarness) expect(out, late []string) {
	h.t.Helper()
	gotOut, gotLate := h.take()
	if !slices.Equal(gotOut, out) {
		h.t.Errorf("output:\n got %q\nwant %q", gotOut, out)
	}
	if !slices.Equal(gotLate, late) {
		h.t.Errorf("late:\n got %q\nwant %q", gotLate, late)
	}
}

// stateKeys counts the backend's entries.
func stateKeys(t *testing.T, be state.Backend) int64 {
	t.Helper()
	st, err := be.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, s := range st {
		n += s.Keys
	}
	return n
}

func TestWindowTumbling(t *testing.T) {
	be := newMemoryState(t)
	h := newWindowHarness(t, be, stream.WindowAggregateConfig{Windows: stream.Tumbling(10 * time.Second),
		OutOfOrderness: 2 * time.Second})
	h.process(click(change.Insert, 1, "a", 1, 5), click(change.Insert, 2, "a", 9, 7), click(change.Insert, 3, "b", 3, 1))
	h.expect(nil, nil) // watermark 7: nothing closed
	// Out of order but on time: 4 < watermark 9 < 10.
	h.process(click(change.Insert, 4, "a", 11, 2), click(change.Insert, 5, "a", 4, 7))
	h.expect(nil, nil)
	// A retraction of an open window just updates it.
	h.process(click(change.Delete, 3, "b", 3, 1), click(change.Insert, 6, "b", 8, 4))
	h.expect(nil, nil)
	// Watermark 10 closes [0, 10).
	h.process(click(change.Insert, 7, "b", 12, 3))
	h.expect([]string{"+I 0 10 a 3 19 5 7 2", "+I 0 10 b 1 4 4 4 1"}, nil)
	// With no allowed lateness [0, 10) is gone: a row in it is late.
	h.process(click(change.Insert, 8, "a", 9, 1), click(change.Insert, 9, "b", 15, 6))
	h.expect(nil, []string{"+I 8 a 9 1"})
	if h.w.LateRows() != 1 {
		t.Errorf("LateRows %d, want 1", h.w.LateRows())
	}
	h.watermark(stream.MaxWatermark)
	h.expect([]string{"+I 10 20 a 1 2 2 2 1", "+I 10 20 b 2 9 3 6 2"}, nil)
	if n := stateKeys(t, be); n != 1 { // only the watermark is left
		t.Errorf("%d state entries after the final watermark, want 1", n)
	}
}
