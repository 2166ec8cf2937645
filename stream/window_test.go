package stream_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
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

func TestWindowHopping(t *testing.T) {
	be := newMemoryState(t)
	h := newWindowHarness(t, be, stream.WindowAggregateConfig{Windows: stream.Hopping(10*time.Second, 5*time.Second)})
	h.process(click(change.Insert, 1, "a", 3, 1), click(change.Insert, 2, "a", 7, 2))
	h.expect([]string{"+I -5 5 a 1 1 1 1 1"}, nil) // watermark 7
	h.process(click(change.Insert, 3, "a", 10, 4))
	h.expect([]string{"+I 0 10 a 2 3 1 2 2"}, nil)
	// 4 is in [0, 10), which is closed, and in [-5, 5), closed too: late. 8 is in
	// [0, 10) (closed: no lateness) and [5, 15) (open): it counts in the open one.
	h.process(click(change.Insert, 4, "a", 4, 8), click(change.Insert, 5, "a", 8, 16))
	h.expect(nil, []string{"+I 4 a 4 8"})
	h.watermark(stream.MaxWatermark)
	h.expect([]string{"+I 5 15 a 3 22 2 16 3", "+I 10 20 a 1 4 4 4 1"}, nil)
	if n := stateKeys(t, be); n != 1 {
		t.Errorf("%d state entries after the final watermark, want 1", n)
	}
}

func TestWindowAllowedLateness(t *testing.T) {
	be := newMemoryState(t)
	h := newWindowHarness(t, be, stream.WindowAggregateConfig{Windows: stream.Tumbling(10 * time.Second),
		AllowedLateness: 5 * time.Second})
	h.process(click(change.Insert, 1, "a", 1, 5), click(change.Insert, 2, "b", 12, 1))
	h.expect([]string{"+I 0 10 a 1 5 5 5 1"}, nil)
	// Late but within the lateness: the emitted row is updated.
	h.process(click(change.Insert, 3, "a", 3, 2))
	h.expect([]string{"-U 0 10 a 1 5 5 5 1", "+U 0 10 a 2 7 2 5 2"}, nil)
	// A late row of a group the window did not have, then its retraction.
	h.process(click(change.Insert, 4, "c", 4, 9))
	h.expect([]string{"+I 0 10 c 1 9 9 9 1"}, nil)
	h.process(click(change.Delete, 4, "c", 4, 9), click(change.UpdateBefore, 1, "a", 1, 5), click(change.UpdateAfter, 1, "a", 1, 6))
	h.expect([]string{"-D 0 10 c 1 9 9 9 1", "-U 0 10 a 2 7 2 5 2", "+U 0 10 a 2 8 2 6 2"}, nil)
	// Watermark 15 frees [0, 10): later changes to it go to the side output.
	h.process(click(change.Insert, 5, "b", 15, 1))
	h.expect(nil, nil)
	h.process(click(change.Insert, 6, "a", 5, 1), click(change.Delete, 3, "a", 3, 2), click(change.Insert, 7, "b", 14, 3))
	h.expect(nil, []string{"+I 6 a 5 1", "-D 3 a 3 2"})
	h.watermark(stream.MaxWatermark)
	h.expect([]string{"+I 10 20 b 3 5 1 3 2"}, nil)
	if n := stateKeys(t, be); n != 1 {
		t.Errorf("%d state entries after the final watermark, want 1", n)
	}
	if h.w.LateRows() != 2 {
		t.Errorf("LateRows %d, want 2", h.w.LateRows())
	}
}

func TestWindowSession(t *testing.T) {
	be := newMemoryState(t)
	h := newWindowHarness(t, be, stream.WindowAggregateConfig{Windows: stream.Session(5 * time.Second),
		AllowedLateness: 10 * time.Second})
	h.process(click(change.Insert, 1, "a", 1, 1), click(change.Insert, 2, "a", 3, 2))
	h.expect(nil, nil) // session [1, 8), watermark 3
	h.process(click(change.Insert, 3, "a", 12, 3), click(change.Insert, 9, "b", 2, 9))
	h.expect([]string{"+I 2 7 b 1 9 9 9 1", "+I 1 8 a 2 3 1 2 2"}, nil) // by window end
	// 7 bridges [1, 8) (emitted: retracted) and [12, 17) into [1, 17), which is
	// emitted once the watermark reaches 17.
	h.process(click(change.Insert, 4, "a", 7, 4))
	h.expect([]string{"-D 1 8 a 2 3 1 2 2"}, nil)
	// A late row extending an emitted session that is still complete: the merged
	// session replaces it at once.
	h.process(click(change.Insert, 10, "b", 6, 1))
	h.expect([]string{"-D 2 7 b 1 9 9 9 1", "+I 2 11 b 2 10 1 9 2"}, nil)
	h.process(click(change.Insert, 5, "a", 20, 5))
	h.expect([]string{"+I 1 17 a 4 10 1 4 4"}, nil)
	// 18 extends [20, 25) (not emitted yet) to [18, 25).
	h.process(click(change.Insert, 6, "a", 18, 6))
	h.expect(nil, nil)
	// Retractions within the lateness update the emitted session, bounds unchanged;
	// the min comes back from the merged multisets.
	h.process(click(change.Delete, 2, "a", 3, 2))
	h.expect([]string{"-U 1 17 a 4 10 1 4 4", "+U 1 17 a 3 8 1 4 3"}, nil)
	h.process(click(change.Delete, 1, "a", 1, 1))
	h.expect([]string{"-U 1 17 a 3 8 1 4 3", "+U 1 17 a 2 7 3 4 2"}, nil)
	// Watermark 40 emits [18, 25), frees every session ending by 30.
	h.process(click(change.Insert, 7, "a", 40, 7))
	h.expect([]string{"+I 18 25 a 2 11 5 6 2"}, nil)
	h.process(click(change.Insert, 8, "a", 2, 8), click(change.Delete, 3, "a", 12, 3))
	h.expect(nil, []string{"+I 8 a 2 8", "-D 3 a 12 3"})
	h.watermark(stream.MaxWatermark)
	h.expect([]string{"+I 40 45 a 1 7 7 7 1"}, nil)
	if n := stateKeys(t, be); n != 1 {
		t.Errorf("%d state entries after the final watermark, want 1", n)
	}
}

// wrow is a live input row of the differential tests.
type wrow struct {
	id     int64
	user   string
	t      any // int64 seconds, or nil
	amount any // int64, or nil
}

func (r wrow) with(op change.Op) []any {
	ts := any(nil)
	if r.t != nil {
		ts = time.Unix(r.t.(int64), 0)
	}
	return []any{op, r.id, r.user, ts, r.amount}
}

// wgen makes batches of out-of-order changes: inserts, deletes and updates (which
// may move a row in time), around an advancing clock.
type wgen struct {
	r     *rand.Rand
	clock int64
	next  int64
	live  map[int64]wrow
}

func (g *wgen) row(id int64) wrow {
	r := g.r
	var t, amount any
	if r.IntN(60) > 0 {
		lag := int64(r.IntN(12))
		if r.IntN(10) == 0 {
			lag = int64(r.IntN(80)) // very late
		}
		t = g.clock - lag
	}
	if r.IntN(8) > 0 {
		amount = int64(r.IntN(9))
	}
	return wrow{id: id, user: []string{"a", "b", "c"}[r.IntN(3)], t: t, amount: amount}
}

func (g *wgen) batch(n int) [][]any {
	var out [][]any
	touched := map[int64]bool{}
	for range n {
		g.clock += int64(g.r.IntN(3))
		var ids []int64
		for id := range g.live {
			if !touched[id] {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		switch k := g.r.IntN(10); {
		case k < 5 || len(ids) == 0:
			g.next++
			row := g.row(g.next)
			g.live[row.id], touched[row.id] = row, true
			out = append(out, row.with(change.Insert))
		case k < 7:
			id := ids[g.r.IntN(len(ids))]
			out = append(out, g.live[id].with(change.Delete))
			delete(g.live, id)
		default:
			id := ids[g.r.IntN(len(ids))]
			old, row := g.live[id], g.row(id)
			if g.r.IntN(2) == 0 {
				row.t = old.t // same time, new amount
			}
			g.live[id], touched[id] = row, true
			out = append(out, old.with(change.UpdateBefore), row.with(change.UpdateAfter))
		}
	}
	return out
}

// refAcc is a window group's rows, recomputed from scratch.
type refAcc struct {
	rows int
	vals map[int64]int
}

func (a *refAcc) add(amount any, sign int) {
	a.rows += sign
	if amount != nil {
		a.vals[amount.(int64)] += sign
		if a.vals[amount.(int64)] == 0 {
			delete(a.vals, amount.(int64))
		}
	}
}

// refTable renders window groups as WindowAggregate's rows (without op), by key.
func refTable(accs map[[3]string]*refAcc) map[string]string {
	out := map[string]string{}
	for k, a := range accs {
		if a.rows == 0 {
			continue
		}
		var sum, lo, hi, n any = nil, nil, nil, len(a.vals)
		if len(a.vals) > 0 {
			var s int64
			first := true
			for v, c := range a.vals {
				s += v * int64(c)
				if first || v < lo.(int64) {
					lo = v
				}
				if first || v > hi.(int64) {
					hi = v
				}
				first = false
			}
			sum = s
		}
		key := strings.Join(k[:], " ")
		out[key] = fmt.Sprint(key, " ", a.rows, " ", sum, " ", lo, " ", hi, " ", n)
	}
	return out
}

// materializeWindows applies an output changelog by key (window start, end, user).
func materializeWindows(t *testing.T, out []string) map[string]string {
	t.Helper()
	table := map[string]string{}
	for _, line := range out {
		f := strings.Fields(line)
		key, row := strings.Join(f[1:4], " "), strings.Join(f[1:], " ")
		switch f[0] {
		case "+I":
			if _, ok := table[key]; ok {
				t.Fatalf("insert of %s, which is there", line)
			}
			table[key] = row
		case "+U":
			table[key] = row
		default:
			if table[key] != row {
				t.Fatalf("retraction %s of a row that is %q", line, table[key])
			}
			delete(table, key)
		}
	}
	return table
}

func diffWindowTables(got, want map[string]string) string {
	var d []string
	for k, w := range want {
		if got[k] != w {
			d = append(d, fmt.Sprintf("%s: got %q want %q", k, got[k], w))
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			d = append(d, fmt.Sprintf("%s: got %q, want none", k, g))
		}
	}
	slices.Sort(d)
	if len(d) > 10 {
		d = append(d[:10], fmt.Sprintf("... %d more", len(d)-10))
	}
	return strings.Join(d, "\n")
}

// TestWindowDifferential feeds random out-of-order changes to tumbling and
// hopping windows and compares the result after the final watermark with a
// recomputation over the (row, window) pairs that were on time, and the side
// output with the rows that had none.
func TestWindowDifferential(t *testing.T) {
	const bound, lateness = 5, 8
	for _, tc := range []struct {
		name        string
		size, slide int64
	}{{"tumbling", 10, 10}, {"hopping", 12, 4}, {"hopping-gaps", 5, 7}} {
		for seed := range uint64(4) {
			t.Run(fmt.Sprintf("%s/%d", tc.name, seed), func(t *testing.T) {
				be := newMemoryState(t)
				win := stream.Hopping(time.Duration(tc.size)*time.Second, time.Duration(tc.slide)*time.Second)
				h := newWindowHarness(t, be, stream.WindowAggregateConfig{Windows: win,
					OutOfOrderness: bound * time.Second, AllowedLateness: lateness * time.Second})
				g := &wgen{r: rand.New(rand.NewPCG(seed, 7)), live: map[int64]wrow{}}
				accs := map[[3]string]*refAcc{}
				var wantLate []string
				wm := int64(math.MinInt64)
				for range 60 {
					rows := g.batch(1 + g.r.IntN(12))
					h.process(rows...)
					maxT := int64(math.MinInt64)
					for _, r := range rows {
						op, user, ts, amount := r[0].(change.Op), r[2].(string), r[3], r[4]
						if ts == nil {
							wantLate = append(wantLate, plainRow(r))
							continue
						}
						sec := ts.(time.Time).Unix()
						maxT = max(maxT, sec)
						sign, on, windows := 1, false, 0
						if op.IsRetraction() {
							sign = -1
						}
						for k := floorDivI(sec, tc.slide); k*tc.slide+tc.size > sec; k-- {
							start, end := k*tc.slide, k*tc.slide+tc.size
							windows++
							if wm != math.MinInt64 && end+lateness <= wm {
								continue
							}
							on = true
							key := [3]string{fmt.Sprint(start), fmt.Sprint(end), user}
							if accs[key] == nil {
								accs[key] = &refAcc{vals: map[int64]int{}}
							}
							accs[key].add(amount, sign)
						}
						if !on && windows > 0 {
							wantLate = append(wantLate, plainRow(r))
						}
					}
					if maxT != math.MinInt64 {
						wm = max(wm, maxT-bound)
					}
				}
				h.watermark(stream.MaxWatermark)
				out, late := h.take()
				if d := diffWindowTables(materializeWindows(t, out), refTable(accs)); d != "" {
					t.Errorf("window results differ:\n%s", d)
				}
				if !slices.Equal(late, wantLate) {
					t.Errorf("late rows:\n got %q\nwant %q", late, wantLate)
				}
				if int(h.w.LateRows()) != len(wantLate) || len(wantLate) == 0 {
					t.Errorf("LateRows %d, want %d (> 0)", h.w.LateRows(), len(wantLate))
				}
				if n := stateKeys(t, be); n != 1 {
					t.Errorf("%d state entries after the final watermark, want 1", n)
				}
			})
		}
	}
}

func floorDivI(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// TestWindowSessionDifferential compares session windows after the final
// watermark with sessions recomputed from every row added (a retraction does not
// shrink a session) and aggregates over the rows left. The lateness is long
// enough that nothing is late, so sessions emitted early merge and retract.
func TestWindowSessionDifferential(t *testing.T) {
	const gap = 4
	for seed := range uint64(6) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			be := newMemoryState(t)
			h := newWindowHarness(t, be, stream.WindowAggregateConfig{Windows: stream.Session(gap * time.Second),
				OutOfOrderness: 3 * time.Second, AllowedLateness: 1000 * time.Second})
			g := &wgen{r: rand.New(rand.NewPCG(seed, 11)), live: map[int64]wrow{}}
			added := map[string][]int64{} // user -> times added
			var all [][]any
			var wantLate []string
			for range 60 {
				rows := g.batch(1 + g.r.IntN(12))
				h.process(rows...)
				for _, r := range rows {
					if r[3] == nil {
						wantLate = append(wantLate, plainRow(r))
						continue
					}
					all = append(all, r)
					if !r[0].(change.Op).IsRetraction() {
						added[r[2].(string)] = append(added[r[2].(string)], r[3].(time.Time).Unix())
					}
				}
			}
			sessions := map[string][][2]int64{}
			for user, ts := range added {
				slices.Sort(ts)
				for _, x := range ts {
					s := sessions[user]
					if len(s) > 0 && x <= s[len(s)-1][1] {
						s[len(s)-1][1] = max(s[len(s)-1][1], x+gap)
						continue
					}
					sessions[user] = append(s, [2]int64{x, x + gap})
				}
			}
			accs := map[[3]string]*refAcc{}
			for _, r := range all {
				user, sec := r[2].(string), r[3].(time.Time).Unix()
				sign := 1
				if r[0].(change.Op).IsRetraction() {
					sign = -1
				}
				for _, s := range sessions[user] {
					if s[0] <= sec && sec < s[1] {
						key := [3]string{fmt.Sprint(s[0]), fmt.Sprint(s[1]), user}
						if accs[key] == nil {
							accs[key] = &refAcc{vals: map[int64]int{}}
						}
						accs[key].add(r[4], sign)
					}
				}
			}
			h.watermark(stream.MaxWatermark)
			out, late := h.take()
			if d := diffWindowTables(materializeWindows(t, out), refTable(accs)); d != "" {
				t.Errorf("session results differ:\n%s", d)
			}
			if !slices.Equal(late, wantLate) {
				t.Errorf("late rows:\n got %q\nwant %q", late, wantLate)
			}
			retracted := false
			for _, o := range out {
				retracted = retracted || strings.HasPrefix(o, "-D")
			}
			if !retracted {
				t.Error("no emitted session was merged away: the test does not exercise merges")
			}
			if n := stateKeys(t, be); n != 1 {
				t.Errorf("%d state entries after the final watermark, want 1", n)
			}
		})
	}
}

// TestWindowCheckpointRestore checkpoints the backend mid-stream, restores it
// into a fresh backend, builds the operator anew on it and feeds it the rest: the
// output (and late rows) from there on equal an uninterrupted run's.
func TestWindowCheckpointRestore(t *testing.T) {
	for _, backend := range []string{"memory", "pebble"} {
		for _, win := range []stream.Windows{stream.Hopping(12*time.Second, 4*time.Second), stream.Session(4 * time.Second)} {
			t.Run(backend+"/"+win.String(), func(t *testing.T) {
				open := newMemoryState
				if backend == "pebble" {
					open = newPebbleState
				}
				cfg := stream.WindowAggregateConfig{Windows: win, OutOfOrderness: 5 * time.Second, AllowedLateness: 6 * time.Second}
				g := &wgen{r: rand.New(rand.NewPCG(3, 3)), live: map[int64]wrow{}}
				var batches [][][]any
				for range 80 {
					batches = append(batches, g.batch(1+g.r.IntN(10)))
				}
				const cut = 40
				ctx := context.Background()
				dir := filepath.Join(t.TempDir(), "ckpt")
				full := newWindowHarness(t, open(t), cfg)
				var afterOut, afterLate []string
				for i, b := range batches {
					if i == cut {
						if err := full.be.Checkpoint(ctx, dir); err != nil {
							t.Fatal(err)
						}
						full.take()
					}
					full.process(b...)
				}
				full.watermark(stream.MaxWatermark)
				afterOut, afterLate = full.take()

				be := open(t)
				if err := be.Restore(ctx, dir); err != nil {
					t.Fatal(err)
				}
				restored := newWindowHarness(t, be, cfg)
				for _, b := range batches[cut:] {
					restored.process(b...)
				}
				restored.watermark(stream.MaxWatermark)
				out, late := restored.take()
				if !slices.Equal(out, afterOut) || !slices.Equal(late, afterLate) {
					t.Errorf("after restore:\n got %q %q\nwant %q %q", out, late, afterOut, afterLate)
				}
				if len(afterOut) == 0 || len(afterLate) == 0 {
					t.Errorf("the run after the cut emitted %d rows and %d late ones: too few to compare", len(afterOut), len(afterLate))
				}
			})
		}
	}
}

func TestWindowConfigErrors(t *testing.T) {
	be := newMemoryState(t)
	late := func(b *change.Batch) error { b.Release(); return nil }
	base := stream.WindowAggregateConfig{ID: "w", Schema: clickSchema, Time: "ts", Windows: stream.Tumbling(time.Minute),
		GroupBy: []string{"user"}, Aggs: clickAggs, State: be, Late: late}
	for name, edit := range map[string]func(c *stream.WindowAggregateConfig){
		"no Late":                   func(c *stream.WindowAggregateConfig) { c.Late = nil },
		"no windows":                func(c *stream.WindowAggregateConfig) { c.Windows = stream.Windows{} },
		"unknown time column":       func(c *stream.WindowAggregateConfig) { c.Time = "nope" },
		"time column not temporal":  func(c *stream.WindowAggregateConfig) { c.Time = "amount" },
		"size below the time unit":  func(c *stream.WindowAggregateConfig) { c.Windows = stream.Tumbling(1500 * time.Millisecond) },
		"zero slide":                func(c *stream.WindowAggregateConfig) { c.Windows = stream.Hopping(time.Minute, 0) },
		"negative gap":              func(c *stream.WindowAggregateConfig) { c.Windows = stream.Session(-time.Second) },
		"lateness below time unit":  func(c *stream.WindowAggregateConfig) { c.AllowedLateness = time.Millisecond },
		"negative out-of-orderness": func(c *stream.WindowAggregateConfig) { c.OutOfOrderness = -time.Second },
		"unknown group column":      func(c *stream.WindowAggregateConfig) { c.GroupBy = []string{"nope"} },
		"group column twice":        func(c *stream.WindowAggregateConfig) { c.GroupBy = []string{"user", "user"} },
		"aggregate named window_end": func(c *stream.WindowAggregateConfig) {
			c.Aggs = []reduce.Agg{{Func: reduce.CountStar, As: stream.WindowEnd}}
		},
	} {
		cfg := base
		edit(&cfg)
		if _, err := stream.NewWindowAggregate(cfg); !errors.Is(err, stream.ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", name, err)
		}
	}
	if _, err := stream.NewWindowAggregate(base); err != nil {
		t.Fatal(err)
	}
}

// A date32 event time takes day windows, emitted as dates; a NULL event time goes
// to the side output.
func TestWindowDateAndNullTime(t *testing.T) {
	sc := change.MustSchema([]arrow.Field{
		change.NotNull("id", arrow.PrimitiveTypes.Int64),
		change.Col("day", arrow.FixedWidthTypes.Date32),
	}, "id")
	be := newMemoryState(t)
	var out, late []string
	show := func(dst *[]string) stream.Emit {
		return func(b *change.Batch) error {
			defer b.Release()
			for _, r := range b.Plain() {
				for i, v := range r {
					if d, ok := v.(time.Time); ok {
						r[i] = d.Format("01-02")
					}
				}
				*dst = append(*dst, strings.TrimSpace(fmt.Sprintln(r...)))
			}
			return nil
		}
	}
	w, err := stream.NewWindowAggregate(stream.WindowAggregateConfig{ID: "d", Schema: sc, Time: "day",
		Windows: stream.Hopping(48*time.Hour, 24*time.Hour), Aggs: []reduce.Agg{{Func: reduce.CountStar, As: "n"}},
		OutOfOrderness: 24 * time.Hour, State: be, Late: show(&late)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.NewWindowAggregate(stream.WindowAggregateConfig{ID: "d", Schema: sc, Time: "day",
		Windows: stream.Tumbling(time.Hour), State: be, Late: show(&late)}); !errors.Is(err, stream.ErrConfig) {
		t.Errorf("hour windows over dates: %v, want ErrConfig", err)
	}
	day := func(d int) time.Time { return time.Date(2026, 3, d, 0, 0, 0, 0, time.UTC) }
	in, err := change.FromRows(nil, sc, [][]any{{change.Insert, 1, day(1)}, {change.Insert, 2, nil}, {change.Insert, 3, day(2)}, {change.Insert, 4, day(4)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Process(context.Background(), in, show(&out)); err != nil {
		t.Fatal(err)
	}
	if wm, err := w.Watermark(); err != nil || !wm.Equal(day(3)) {
		t.Errorf("watermark %v %v, want %v", wm, err, day(3))
	}
	if err := w.OnWatermark(context.Background(), stream.MaxWatermark, show(&out)); err != nil {
		t.Fatal(err)
	}
	want := []string{"+I 02-28 03-02 1", "+I 03-01 03-03 2", "+I 03-02 03-04 1", "+I 03-03 03-05 1", "+I 03-04 03-06 1"}
	if !slices.Equal(out, want) {
		t.Errorf("output %q\nwant %q", out, want)
	}
	if want := []string{"+I 2 <nil>"}; !slices.Equal(late, want) || w.LateRows() != 1 {
		t.Errorf("late %q (LateRows %d), want %q", late, w.LateRows(), want)
	}
}

// An operator running in several partitions needs the Dataflow's watermark: its
// own would differ from partition to partition.
func TestDataflowWindowNeedsExternalWatermark(t *testing.T) {
	be := newMemoryState(t)
	df, err := stream.NewDataflow(stream.DataflowConfig{Source: &sliceSource{}, Sink: &recordSink{}, State: be, Partitions: 2,
		Stages: []stream.Stage{{Name: "w", Inputs: []stream.StageInput{{Table: "clicks", Key: []string{"user"}}},
			Build: func(int) (stream.Node, error) {
				w, err := stream.NewWindowAggregate(stream.WindowAggregateConfig{ID: "w", Schema: clickSchema, Time: "ts",
					Windows: stream.Tumbling(time.Minute), GroupBy: []string{"user"}, Aggs: clickAggs, State: be,
					Late: func(b *change.Batch) error { b.Release(); return nil }})
				return stream.Single(clickSchema, w), err
			}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := df.Run(context.Background()); !errors.Is(err, stream.ErrConfig) {
		t.Errorf("Run: %v, want ErrConfig", err)
	}
}

// An error from the side output stops the operator: a late row is never lost.
func TestWindowLateOutputError(t *testing.T) {
	boom := errors.New("dead letters unavailable")
	w, err := stream.NewWindowAggregate(stream.WindowAggregateConfig{ID: "w", Schema: clickSchema, Time: "ts",
		Windows: stream.Tumbling(10 * time.Second), Aggs: clickAggs, State: newMemoryState(t),
		Late: func(b *change.Batch) error { b.Release(); return boom }})
	if err != nil {
		t.Fatal(err)
	}
	drop := func(b *change.Batch) error { b.Release(); return nil }
	in, _ := change.FromRows(nil, clickSchema, [][]any{click(change.Insert, 1, "a", 30, 1)})
	if err := w.Process(context.Background(), in, drop); err != nil {
		t.Fatal(err)
	}
	in, _ = change.FromRows(nil, clickSchema, [][]any{click(change.Insert, 2, "a", 3, 1)})
	if err := w.Process(context.Background(), in, drop); !errors.Is(err, boom) {
		t.Errorf("Process with a failing side output: %v, want %v", err, boom)
	}
}

// A chain passes a watermark to its window aggregate and what that emits through
// the operators after it.
func TestWindowInChain(t *testing.T) {
	be := newMemoryState(t)
	late := func(b *change.Batch) error { b.Release(); return nil }
	w, err := stream.NewWindowAggregate(stream.WindowAggregateConfig{ID: "w", Schema: clickSchema, Time: "ts",
		Windows: stream.Tumbling(10 * time.Second), GroupBy: []string{"user"}, Aggs: clickAggs, State: be, Late: late})
	if err != nil {
		t.Fatal(err)
	}
	busy := &stream.Filter{In: w.Schema(), Pred: func(b *change.Batch) ([]bool, error) { // windows with 2+ rows
		keep := make([]bool, b.Len())
		for i := range keep {
			keep[i] = b.Value(i, 3).AsInt() >= 2
		}
		return keep, nil
	}}
	op := stream.Chain(w, busy)
	var out []string
	emit := func(b *change.Batch) error {
		defer b.Release()
		for _, r := range b.Plain() {
			out = append(out, plainRow(r))
		}
		return nil
	}
	in, _ := change.FromRows(nil, clickSchema, [][]any{click(change.Insert, 1, "a", 1, 1), click(change.Insert, 2, "a", 2, 2),
		click(change.Insert, 3, "b", 3, 3)})
	if err := op.Process(context.Background(), in, emit); err != nil {
		t.Fatal(err)
	}
	h, ok := op.(stream.WatermarkHandler)
	if !ok {
		t.Fatal("a chain does not handle watermarks")
	}
	if err := h.OnWatermark(context.Background(), time.Unix(10, 0), emit); err != nil {
		t.Fatal(err)
	}
	if want := []string{"+I 0 10 a 2 3 1 2 2"}; !slices.Equal(out, want) {
		t.Errorf("output %q, want %q", out, want)
	}
}
