package cdc_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/change"
)

// ---- building events by hand ----

// offsets hands out the next offset of each topic, as a Kafka partition would.
type offsets map[string]int64

func (o offsets) at(topic string) cdc.Origin {
	off := o[topic]
	o[topic]++
	return cdc.Origin{Topic: topic, Offset: off}
}

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// pgEvent is a PostgreSQL change (as Debezium sends it without transaction metadata):
// xid "" is outside any transaction. Its position is (commit, lsn).
func pgEvent(o cdc.Origin, table string, op cdc.Op, xid string, commit, lsn uint64) cdc.Event {
	return cdc.Event{
		Table:      table,
		Op:         op,
		Key:        change.Row{change.Int(int64(lsn))},
		After:      change.Row{change.Int(int64(lsn)), change.Str(table)},
		Pos:        cdc.Position{Major: commit, Minor: lsn},
		Origin:     o,
		Source:     cdc.SourceInfo{Connector: "postgresql", TxID: xid, LSN: lsn},
		CommitTime: epoch.Add(time.Duration(commit) * time.Millisecond),
	}
}

// withTx adds Debezium's transaction block (present when the connector sends metadata).
func withTx(ev cdc.Event, id string, total int64) cdc.Event {
	ev.Tx = cdc.TxInfo{ID: id, TotalOrder: total}
	return ev
}

func txBegin(o cdc.Origin, id string) cdc.Event {
	return cdc.Event{Op: cdc.OpTxBegin, Origin: o, Tx: cdc.TxInfo{ID: id}}
}

// txEnd is an END counting, per table, the tables listed (a table listed twice counts 2).
func txEnd(o cdc.Origin, id string, tables ...string) cdc.Event {
	ev := cdc.Event{Op: cdc.OpTxEnd, Origin: o, Tx: cdc.TxInfo{ID: id}, EventCount: int64(len(tables))}
	for _, tb := range tables {
		found := false
		for i := range ev.Collections {
			if ev.Collections[i].Collection == tb {
				ev.Collections[i].EventCount++
				found = true
			}
		}
		if !found {
			ev.Collections = append(ev.Collections, cdc.CollectionCount{Collection: tb, EventCount: 1})
		}
	}
	return ev
}

type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time { return c.t }

// feed adds events one by one, draining ready transactions after each.
func feed(t *testing.T, a *cdc.Assembler, evs ...cdc.Event) []cdc.Tx {
	t.Helper()
	var out []cdc.Tx
	for _, ev := range evs {
		require.NoError(t, a.Add(context.Background(), &ev))
		out = append(out, drain(a)...)
	}
	return out
}

func drain(a *cdc.Assembler) []cdc.Tx {
	var out []cdc.Tx
	for tx := range a.Ready() {
		out = append(out, tx)
	}
	return out
}

// drainReleasing is drain for a consumer that releases each transaction once done with
// it: it keeps copies of the events.
func drainReleasing(a *cdc.Assembler) []cdc.Tx {
	var out []cdc.Tx
	for tx := range a.Ready() {
		c := tx
		c.Events = slices.Clone(tx.Events)
		a.Release(tx)
		out = append(out, c)
	}
	return out
}

func flush(t *testing.T, a *cdc.Assembler) []cdc.Tx {
	t.Helper()
	require.NoError(t, a.Flush(context.Background()))
	return drain(a)
}

// shape renders transactions as "id[table@lsn ...]" for readable comparisons.
func shape(txs []cdc.Tx) []string {
	out := make([]string, 0, len(txs))
	for _, tx := range txs {
		var b strings.Builder
		b.WriteString(tx.ID + "[")
		for i, ev := range tx.Events {
			if i > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%s@%d", ev.Table, ev.Pos.Minor)
			if ev.Op == cdc.OpTombstone {
				b.WriteString("~")
			}
		}
		b.WriteString("]")
		out = append(out, b.String())
	}
	return out
}

var quiet = slog.New(slog.DiscardHandler)

func newAssembler(cfg cdc.AssemblerConfig) (*cdc.Assembler, *cdc.MemoryDeadLetters) {
	dls := cdc.NewMemoryDeadLetters()
	cfg.DeadLetters = dls
	cfg.Logger = quiet
	return cdc.NewAssembler(cfg), dls
}

// reasons returns, per dead letter, "origin: sentinel" for the assembler errors.
func deadOrigins(dls []cdc.DeadLetter) []string {
	var out []string
	for _, dl := range dls {
		out = append(out, dl.Record.Origin().String())
	}
	return out
}

// ---- tests ----

// PostgreSQL transactions interleave in the WAL: a transaction that started earlier can
// commit later, so event LSNs go backwards between transactions. The stream is in commit
// order; the assembler must keep it and emit each transaction whole.
func TestAssembleInterleavedPostgresCommitOrder(t *testing.T) {
	o := offsets{}
	// Commit LSNs 300 < 400 < 500, event LSNs 120,130 | 110,150 | 105,160.
	t602a := pgEvent(o.at("pg"), "public.orders", cdc.OpCreate, "602", 300, 120)
	t602b := pgEvent(o.at("pg"), "public.customers", cdc.OpUpdate, "602", 300, 130)
	t601a := pgEvent(o.at("pg"), "public.orders", cdc.OpCreate, "601", 400, 110)
	t601b := pgEvent(o.at("pg"), "public.orders", cdc.OpUpdate, "601", 400, 150)
	t603a := pgEvent(o.at("pg"), "public.customers", cdc.OpCreate, "603", 500, 105)
	t603b := pgEvent(o.at("pg"), "public.orders", cdc.OpDelete, "603", 500, 160)

	a, dls := newAssembler(cdc.AssemblerConfig{})
	assert.Empty(t, feed(t, a, t602a, t602b), "602 may still have events")
	assert.Equal(t, 1, a.Open())
	got := feed(t, a, t601a)
	require.Equal(t, []string{"602[public.orders@120 public.customers@130]"}, shape(got))
	assert.Equal(t, cdc.Position{Major: 300, Minor: 130}, got[0].Commit, "commit is the greatest position")
	assert.Equal(t, "602", got[0].ID)
	assert.Equal(t, t602b.CommitTime, got[0].CommitTime)
	assert.Equal(t, got[0].Commit, a.LastCommit())

	got = feed(t, a, t601b, t603a, t603b)
	require.Equal(t, []string{"601[public.orders@110 public.orders@150]"}, shape(got))
	got = flush(t, a)
	require.Equal(t, []string{"603[public.customers@105 public.orders@160]"}, shape(got))
	assert.Equal(t, cdc.Position{Major: 500, Minor: 160}, a.LastCommit())
	assert.Zero(t, dls.Len())
	assert.Zero(t, a.Open())
}

// fourTx are transactions over two topics; every interleaving of the topics must give
// them back in commit order.
//
//	T1: orders@11, customers@12   T2: orders@21   T3: customers@31   T4: customers@41, orders@42, customers@43
func fourTx(meta bool) (orders, customers, txTopic []cdc.Event, want []string) {
	o := offsets{}
	mk := func(topic, table, xid string, commit, lsn uint64, order int64) cdc.Event {
		ev := pgEvent(o.at(topic), table, cdc.OpUpdate, xid, commit, lsn)
		if meta {
			ev = withTx(ev, xid+":"+strconv.FormatUint(commit, 10), order)
		}
		return ev
	}
	orders = []cdc.Event{
		mk("orders", "public.orders", "1", 100, 11, 1),
		mk("orders", "public.orders", "2", 200, 21, 1),
		mk("orders", "public.orders", "4", 400, 42, 2),
	}
	customers = []cdc.Event{
		mk("customers", "public.customers", "1", 100, 12, 2),
		mk("customers", "public.customers", "3", 300, 31, 1),
		mk("customers", "public.customers", "4", 400, 41, 1),
		mk("customers", "public.customers", "4", 400, 43, 3),
	}
	if meta {
		txTopic = []cdc.Event{
			txBegin(o.at("tx"), "1:90"), txEnd(o.at("tx"), "1:100", "public.orders", "public.customers"),
			txBegin(o.at("tx"), "2:190"), txEnd(o.at("tx"), "2:200", "public.orders"),
			txBegin(o.at("tx"), "3:290"), txEnd(o.at("tx"), "3:300", "public.customers"),
			txBegin(o.at("tx"), "4:390"), txEnd(o.at("tx"), "4:400", "public.customers", "public.orders", "public.customers"),
		}
		want = []string{
			"1:100[public.orders@11 public.customers@12]",
			"2:200[public.orders@21]",
			"3:300[public.customers@31]",
			"4:400[public.customers@41 public.orders@42 public.customers@43]",
		}
		return orders, customers, txTopic, want
	}
	want = []string{
		"1[public.orders@11 public.customers@12]",
		"2[public.orders@21]",
		"3[public.customers@31]",
		"4[public.customers@41 public.orders@42 public.customers@43]",
	}
	return orders, customers, nil, want
}

// interleave merges streams at random, keeping each stream's order.
func interleave(r *rand.Rand, streams ...[]cdc.Event) []cdc.Event {
	idx := make([]int, len(streams))
	var out []cdc.Event
	for {
		var open []int
		for i, s := range streams {
			if idx[i] < len(s) {
				open = append(open, i)
			}
		}
		if len(open) == 0 {
			return out
		}
		i := open[r.IntN(len(open))]
		out = append(out, streams[i][idx[i]])
		idx[i]++
	}
}

func TestAssembleTwoStreamsWithoutMetadata(t *testing.T) {
	orders, customers, _, want := fourTx(false)

	t.Run("held back by the slower stream", func(t *testing.T) {
		a, _ := newAssembler(cdc.AssemblerConfig{})
		// customers delivers T1's event, then orders runs ahead through T1, T2 and T4.
		got := feed(t, a, customers[0], orders[0], orders[1], orders[2])
		assert.Empty(t, got, "T1's customers run is open, so nothing may go")
		// customers moves on to T3: T1 is complete, and T2 (orders@21) is now before
		// every stream's position; T3's run is still open.
		got = feed(t, a, customers[1])
		assert.Equal(t, want[:2], shape(got))
		got = feed(t, a, customers[2], customers[3])
		assert.Equal(t, want[2:3], shape(got))
		require.NoError(t, a.Idle(context.Background()))
		assert.Equal(t, want[3:], shape(drain(a)), "idle streams are caught up: T4 is complete")
	})

	for seed := range uint64(200) {
		r := rand.New(rand.NewPCG(seed, 1))
		a, dls := newAssembler(cdc.AssemblerConfig{})
		// A stream is known from its first event: a consumer fetches from every
		// partition before it runs ahead on one.
		first := []cdc.Event{orders[0], customers[0]}
		r.Shuffle(2, func(i, j int) { first[i], first[j] = first[j], first[i] })
		got := feed(t, a, first...)
		got = append(got, feed(t, a, interleave(r, orders[1:], customers[1:])...)...)
		got = append(got, flush(t, a)...)
		require.Equal(t, want, shape(got), "seed %d", seed)
		require.Zero(t, dls.Len(), "seed %d", seed)
	}
}

func TestAssembleTwoStreamsWithMetadata(t *testing.T) {
	orders, customers, txTopic, want := fourTx(true)

	t.Run("complete by the END counts", func(t *testing.T) {
		a, _ := newAssembler(cdc.AssemblerConfig{})
		got := feed(t, a, customers[0], txTopic[0], txTopic[1], orders[0])
		// T1 is complete by its counts, and every data stream is at or past its commit.
		assert.Equal(t, want[:1], shape(got))
	})

	for seed := range uint64(300) {
		r := rand.New(rand.NewPCG(seed, 2))
		a, dls := newAssembler(cdc.AssemblerConfig{})
		got := feed(t, a, interleave(r, orders, customers, txTopic)...)
		// Every transaction is complete by its counts; Idle only releases the watermark.
		require.NoError(t, a.Idle(context.Background()))
		got = append(got, drain(a)...)
		require.Equal(t, want, shape(got), "seed %d", seed)
		require.Zero(t, dls.Len(), "seed %d", seed)
		require.Zero(t, a.Open(), "seed %d", seed)
	}
}

// With metadata, a transaction is complete when its END counts are met, wherever its
// BEGIN and END fall among its events.
func TestAssembleMetadataArrivalOrders(t *testing.T) {
	o := offsets{}
	e1 := withTx(pgEvent(o.at("orders"), "public.orders", cdc.OpCreate, "7", 700, 601), "7:700", 1)
	e2 := withTx(pgEvent(o.at("orders"), "public.orders", cdc.OpUpdate, "7", 700, 650), "7:700", 2)
	e3 := withTx(pgEvent(o.at("orders"), "public.items", cdc.OpCreate, "7", 700, 690), "7:700", 3)
	begin := txBegin(o.at("tx"), "7:600")
	end := txEnd(o.at("tx"), "7:700", "public.orders", "public.orders", "public.items")
	want := []string{"7:700[public.orders@601 public.orders@650 public.items@690]"}

	for _, tc := range []struct {
		name string
		evs  []cdc.Event
	}{
		{"begin, events, end", []cdc.Event{begin, e1, e2, end, e3}},
		{"events after their END", []cdc.Event{begin, e1, end, e2, e3}},
		{"END before any event", []cdc.Event{begin, end, e1, e2, e3}},
		{"events before BEGIN", []cdc.Event{e1, e2, begin, end, e3}},
		{"all events before BEGIN", []cdc.Event{e1, e2, e3, begin, end}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, dls := newAssembler(cdc.AssemblerConfig{})
			last := len(tc.evs) - 1
			assert.Empty(t, feed(t, a, tc.evs[:last]...), "incomplete until the last record")
			got := feed(t, a, tc.evs[last])
			require.Equal(t, want, shape(got))
			assert.Equal(t, "7:700", got[0].ID)
			assert.Equal(t, cdc.Position{Major: 700, Minor: 690}, got[0].Commit)
			assert.Zero(t, dls.Len())
		})
	}
}

func TestAssembleDuplicatesDropped(t *testing.T) {
	o := offsets{}
	e1 := pgEvent(o.at("pg"), "public.orders", cdc.OpCreate, "1", 100, 10)
	e2 := pgEvent(o.at("pg"), "public.orders", cdc.OpUpdate, "1", 100, 20)
	e3 := pgEvent(o.at("pg"), "public.orders", cdc.OpCreate, "2", 200, 30)
	e4 := pgEvent(o.at("pg"), "public.orders", cdc.OpUpdate, "2", 200, 40)
	restarted := e1
	restarted.Origin = o.at("pg") // a connector restart re-sends e1 under a new offset
	resentLast := e3
	resentLast.Origin = o.at("pg") // ... and e3, at exactly the stream's latest position

	a, dls := newAssembler(cdc.AssemblerConfig{})
	got := feed(t, a, e1, e2, e1) // e1 redelivered while buffered
	assert.Empty(t, got)
	got = feed(t, a, e3)
	require.Equal(t, []string{"1[public.orders@10 public.orders@20]"}, shape(got))
	got = feed(t, a, e2, restarted, resentLast, e3, e4) // after T1 was emitted
	got = append(got, flush(t, a)...)
	require.Equal(t, []string{"2[public.orders@30 public.orders@40]"}, shape(got))
	assert.EqualValues(t, 5, a.Duplicates())
	assert.Zero(t, dls.Len())

	t.Run("metadata redelivered", func(t *testing.T) {
		o := offsets{}
		b := txBegin(o.at("tx"), "9:1")
		e := withTx(pgEvent(o.at("pg"), "public.orders", cdc.OpCreate, "9", 900, 5), "9:900", 1)
		end := txEnd(o.at("tx"), "9:900", "public.orders")
		bAgain := b
		bAgain.Origin = o.at("tx") // re-sent under a new offset
		a, dls := newAssembler(cdc.AssemblerConfig{})
		got := feed(t, a, b, b, bAgain, e, e, end)
		require.Equal(t, []string{"9:900[public.orders@5]"}, shape(got))
		got = feed(t, a, end, e, b)
		assert.Empty(t, got)
		assert.Zero(t, dls.Len(), "redelivered metadata is not a missing BEGIN or a count mismatch")
		assert.EqualValues(t, 6, a.Duplicates())
	})

	t.Run("metadata redelivered after its transaction is forgotten", func(t *testing.T) {
		o := offsets{}
		a, dls := newAssembler(cdc.AssemblerConfig{MaxOpen: 10})
		var first []cdc.Event
		for i := range 1100 { // more than the finished ids remembered
			id := fmt.Sprintf("%d:%d", 100+i, 1000*(i+1))
			evs := []cdc.Event{
				txBegin(o.at("tx"), id),
				withTx(pgEvent(o.at("pg"), "public.orders", cdc.OpCreate, strconv.Itoa(100+i), uint64(1000*(i+1)), uint64(1000*i+1)), id, 1),
				txEnd(o.at("tx"), id, "public.orders"),
			}
			if i == 0 {
				first = evs
			}
			require.Len(t, feed(t, a, evs...), 1)
		}
		// A rebalance re-reads the first records of both topics.
		assert.Empty(t, feed(t, a, first...))
		assert.Empty(t, flush(t, a))
		assert.Zero(t, dls.Len())
		assert.EqualValues(t, 3, a.Duplicates())
	})
}

func assemblyErrors(t *testing.T, dls []cdc.DeadLetter, sentinel error) {
	t.Helper()
	for _, dl := range dls {
		assert.Contains(t, dl.Reason, sentinel.Error(), "dead letter %s", dl.Record.Origin())
		assert.NotEmpty(t, dl.Record.Value, "the event's JSON is kept")
		assert.Equal(t, dl.Record.Topic, dl.Record.Origin().Topic)
	}
}

func TestAssembleCountMismatch(t *testing.T) {
	o := offsets{}
	b1 := txBegin(o.at("tx"), "1:1")
	a1 := withTx(pgEvent(o.at("pg"), "public.orders", cdc.OpCreate, "1", 100, 10), "1:100", 1)
	a2 := withTx(pgEvent(o.at("pg"), "public.orders", cdc.OpUpdate, "1", 100, 11), "1:100", 2)
	end1 := txEnd(o.at("tx"), "1:100", "public.orders") // counts one; two arrived before it
	a3 := withTx(pgEvent(o.at("pg"), "public.orders", cdc.OpUpdate, "1", 100, 12), "1:100", 3)
	b2 := txBegin(o.at("tx"), "2:2")
	c1 := withTx(pgEvent(o.at("pg"), "public.orders", cdc.OpCreate, "2", 200, 20), "2:200", 1)
	end2 := txEnd(o.at("tx"), "2:200", "public.orders")

	reg := prometheus.NewRegistry()
	a, dls := newAssembler(cdc.AssemblerConfig{Metrics: cdc.NewMetrics(reg)})
	got := feed(t, a, b1, a1, a2, end1, a3, b2, c1, end2)
	require.Equal(t, []string{"2:200[public.orders@20]"}, shape(got), "later transactions still flow")
	assert.Equal(t, []string{"tx/0@0", "pg/0@0", "pg/0@1", "tx/0@1", "pg/0@2"}, deadOrigins(dls.All()),
		"BEGIN, events, END, then the event arriving after the give-up")
	assemblyErrors(t, dls.All(), cdc.ErrTxCount)
	assert.Contains(t, dls.All()[0].Reason, "public.orders 2 of 1")
	assert.Equal(t, 5.0, counter(t, reg, "strata_cdc_events_rejected_total", "reason", "tx_count"))
	assert.Equal(t, 5.0, counter(t, reg, "strata_cdc_dead_letters_total"))

	t.Run("a collection the END does not list", func(t *testing.T) {
		o := offsets{}
		a, dls := newAssembler(cdc.AssemblerConfig{})
		got := feed(t, a,
			txBegin(o.at("tx"), "3:1"),
			withTx(pgEvent(o.at("pg"), "public.orders", cdc.OpCreate, "3", 300, 1), "3:300", 1),
			txEnd(o.at("tx"), "3:300", "public.orders", "public.items"),
			withTx(pgEvent(o.at("pg"), "public.payments", cdc.OpCreate, "3", 300, 2), "3:300", 2))
		got = append(got, flush(t, a)...)
		assert.Empty(t, got)
		assert.Equal(t, 4, dls.Len())
		assemblyErrors(t, dls.All(), cdc.ErrTxCount)
	})

	t.Run("an event after its transaction was emitted", func(t *testing.T) {
		o := offsets{}
		a, dls := newAssembler(cdc.AssemblerConfig{})
		got := feed(t, a,
			txBegin(o.at("tx"), "4:1"),
			withTx(pgEvent(o.at("pg"), "public.orders", cdc.OpCreate, "4", 400, 1), "4:400", 1),
			txEnd(o.at("tx"), "4:400", "public.orders"),
			withTx(pgEvent(o.at("pg"), "public.orders", cdc.OpCreate, "4", 400, 2), "4:400", 2))
		assert.Equal(t, []string{"4:400[public.orders@1]"}, shape(got))
		require.Equal(t, 1, dls.Len())
		assemblyErrors(t, dls.All(), cdc.ErrTxCount)
	})
}

func TestAssembleMissingBegin(t *testing.T) {
	o := offsets{}
	e1 := withTx(pgEvent(o.at("pg"), "public.orders", cdc.OpCreate, "5", 500, 1), "5:500", 1)
	end := txEnd(o.at("tx"), "5:500", "public.orders", "public.orders")
	e2 := withTx(pgEvent(o.at("pg"), "public.orders", cdc.OpCreate, "5", 500, 2), "5:500", 2)
	next := []cdc.Event{
		txBegin(o.at("tx"), "6:1"),
		withTx(pgEvent(o.at("pg"), "public.orders", cdc.OpCreate, "6", 600, 3), "6:600", 1),
		txEnd(o.at("tx"), "6:600", "public.orders"),
	}
	a, dls := newAssembler(cdc.AssemblerConfig{})
	got := feed(t, a, append([]cdc.Event{e1, end, e2}, next...)...)
	require.Equal(t, []string{"6:600[public.orders@3]"}, shape(got))
	require.Equal(t, []string{"pg/0@0", "tx/0@0", "pg/0@1"}, deadOrigins(dls.All()))
	assemblyErrors(t, dls.All(), cdc.ErrTxBegin)
	assert.Contains(t, dls.All()[1].Reason, "END tx/0@0", "the reason names the END's coordinates")
	assert.Contains(t, dls.All()[1].Reason, `"5:500"`)
}

func TestAssembleWithoutDeadLetters(t *testing.T) {
	o := offsets{}
	a := cdc.NewAssembler(cdc.AssemblerConfig{Logger: quiet})
	end := txEnd(o.at("tx"), "8:800", "public.orders")
	err := a.Add(context.Background(), &end)
	require.Error(t, err, "with nowhere to put it, giving up is an error")
	require.ErrorIs(t, err, cdc.ErrTxBegin)
	var aerr *cdc.AssemblyError
	require.ErrorAs(t, err, &aerr)
	assert.Equal(t, cdc.Origin{Topic: "tx"}, aerr.Origin)
	assert.Equal(t, "8:800", aerr.TxID)
	assert.Contains(t, err.Error(), "tx/0@0")
}

func TestAssembleTimeout(t *testing.T) {
	clk := &fakeClock{t: epoch}
	reg := prometheus.NewRegistry()
	a, dls := newAssembler(cdc.AssemblerConfig{Now: clk.Now, Timeout: time.Minute, Metrics: cdc.NewMetrics(reg)})
	o := offsets{}
	// T1's END counts two events; one never comes. T2 is complete, but it is behind T1.
	got := feed(t, a,
		txBegin(o.at("tx"), "1:1"),
		withTx(pgEvent(o.at("pg"), "public.orders", cdc.OpCreate, "1", 100, 1), "1:100", 1),
		txEnd(o.at("tx"), "1:100", "public.orders", "public.orders"),
		txBegin(o.at("tx"), "2:2"),
		withTx(pgEvent(o.at("pg"), "public.orders", cdc.OpCreate, "2", 200, 3), "2:200", 1),
		txEnd(o.at("tx"), "2:200", "public.orders"),
	)
	assert.Empty(t, got, "T2 waits behind the incomplete T1")
	assert.Equal(t, 2.0, gauge(t, reg, "strata_cdc_transactions_open"))

	clk.t = clk.t.Add(59 * time.Second)
	require.NoError(t, a.Idle(context.Background()))
	assert.Empty(t, drain(a), "not yet timed out")

	clk.t = clk.t.Add(2 * time.Second)
	require.NoError(t, a.Idle(context.Background()))
	assert.Equal(t, []string{"2:200[public.orders@3]"}, shape(drain(a)), "T1 given up, T2 flows")
	assert.Equal(t, []string{"tx/0@0", "pg/0@0", "tx/0@1"}, deadOrigins(dls.All()))
	assemblyErrors(t, dls.All(), cdc.ErrTxCount)
	assert.Equal(t, 3.0, counter(t, reg, "strata_cdc_events_rejected_total", "reason", "tx_count"))
	assert.Equal(t, 1.0, counter(t, reg, "strata_cdc_transactions_assembled_total"))
	assert.Equal(t, 0.0, gauge(t, reg, "strata_cdc_transactions_open"))
	assert.Greater(t, gauge(t, reg, "strata_cdc_lag_seconds"), 0.0)

	t.Run("no END at all, checked on Add", func(t *testing.T) {
		clk := &fakeClock{t: epoch}
		reg := prometheus.NewRegistry()
		a, dls := newAssembler(cdc.AssemblerConfig{Now: clk.Now, Metrics: cdc.NewMetrics(reg)})
		o := offsets{}
		got := feed(t, a,
			txBegin(o.at("tx"), "1:1"),
			withTx(pgEvent(o.at("pg"), "public.orders", cdc.OpCreate, "1", 100, 1), "1:100", 1))
		assert.Empty(t, got)
		clk.t = clk.t.Add(5*time.Minute + time.Second) // the default Timeout
		// T1 is given up at the latest once it has been buffered for 32 Adds (see
		// AssemblerConfig.Timeout): T2 to T12 are 33 records.
		var want []string
		for x := 2; x <= 12; x++ {
			id := fmt.Sprintf("%d:%d", x, 100*x)
			got = append(got, feed(t, a,
				txBegin(o.at("tx"), fmt.Sprintf("%d:%d", x, x)),
				withTx(pgEvent(o.at("pg"), "public.orders", cdc.OpCreate, strconv.Itoa(x), uint64(100*x), uint64(x)), id, 1),
				txEnd(o.at("tx"), id, "public.orders"))...)
			want = append(want, fmt.Sprintf("%s[public.orders@%d]", id, x))
		}
		assert.Equal(t, want, shape(got))
		assert.Equal(t, []string{"tx/0@0", "pg/0@0"}, deadOrigins(dls.All()))
		assemblyErrors(t, dls.All(), cdc.ErrTxTimeout)
		assert.Equal(t, 2.0, counter(t, reg, "strata_cdc_events_rejected_total", "reason", "tx_timeout"))
		assert.Equal(t, 2.0, counter(t, reg, "strata_cdc_dead_letters_total"))
	})
}

// TestAssembleTimeoutBounds: the clock is not read on every Add, yet a transaction is
// never given up before Timeout, and late by at most the time 32 Adds take.
func TestAssembleTimeoutBounds(t *testing.T) {
	for _, between := range []bool{false, true} {
		name := "arrives at a reading"
		if between {
			name = "arrives between readings"
		}
		t.Run(name, func(t *testing.T) {
			clk := &fakeClock{t: epoch}
			a, dls := newAssembler(cdc.AssemblerConfig{Now: clk.Now, Timeout: time.Minute})
			o := offsets{}
			x := 1
			next := func() { // a complete transaction of three records
				x++
				id := fmt.Sprintf("%d:%d", x, 100*x)
				feed(t, a, txBegin(o.at("tx"), fmt.Sprintf("%d:%d", x, x)),
					withTx(pgEvent(o.at("pg"), "public.orders", cdc.OpCreate, strconv.Itoa(x), uint64(100*x), uint64(x)), id, 1),
					txEnd(o.at("tx"), id, "public.orders"))
			}
			if between {
				for range 5 { // the first Add read the clock; the next reading is due later
					clk.t = clk.t.Add(time.Second)
					next()
				}
			}
			// T1: a BEGIN and one event, and no END
			feed(t, a, txBegin(o.at("tx"), "1:1"),
				withTx(pgEvent(o.at("pg"), "public.orders", cdc.OpCreate, "1", 100, 1), "1:100", 1))
			secs := 0 // since T1 arrived
			for dls.Len() == 0 && secs < 300 {
				clk.t = clk.t.Add(time.Second) // a second per transaction of three Adds
				secs++
				next()
			}
			assert.Greater(t, secs, 60, "given up before its Timeout")
			// the 32nd Add after T1 began is in the 11th transaction after it
			assert.LessOrEqual(t, secs, 11+60+1, "given up later than 32 Adds past its Timeout")
			t.Logf("given up %d s after it arrived", secs)
			want := []string{"tx/0@0", "pg/0@0"}
			if between {
				want = []string{"tx/0@10", "pg/0@5"}
			}
			assert.Equal(t, want, deadOrigins(dls.All()))
			assemblyErrors(t, dls.All(), cdc.ErrTxTimeout)
		})
	}
}

// TestAssembleClockReads: transactions that complete promptly do not make the
// assembler read the clock for each of them (a clock read costs as much as assembling
// an event).
func TestAssembleClockReads(t *testing.T) {
	reads := 0
	a, dls := newAssembler(cdc.AssemblerConfig{Now: func() time.Time { reads++; return epoch }})
	o := offsets{}
	n := 0
	for x := range 1000 {
		for k := range 1 + x%3 { // one to three events per transaction
			lsn := uint64(10*x + k)
			n += len(feed(t, a, pgEvent(o.at("pg"), "public.orders", cdc.OpCreate, strconv.Itoa(1000+x), uint64(10*x+9), lsn)))
		}
	}
	assert.Equal(t, 999, n, "every transaction but the last, still open, emitted")
	assert.Zero(t, dls.Len())
	assert.LessOrEqual(t, reads, 1+2000/256, "clock read per transaction")
}

func TestAssembleMaxOpen(t *testing.T) {
	o := offsets{}
	b := func(x int) cdc.Event { return txBegin(o.at("tx"), fmt.Sprintf("%d:0", x)) }
	ev := func(x int, lsn uint64) cdc.Event {
		return withTx(pgEvent(o.at("pg"), "public.orders", cdc.OpCreate, strconv.Itoa(x), uint64(x)*100, lsn),
			fmt.Sprintf("%d:%d", x, x*100), 1)
	}
	e := func(x int) cdc.Event { return txEnd(o.at("tx"), fmt.Sprintf("%d:%d", x, x*100), "public.orders") }

	a, dls := newAssembler(cdc.AssemblerConfig{MaxOpen: 2})
	got := feed(t, a, b(1), ev(1, 1), b(2), ev(2, 2))
	assert.Empty(t, got)
	assert.Zero(t, dls.Len())
	got = feed(t, a, b(3)) // a third open transaction: the oldest, T1, is given up
	assert.Empty(t, got)
	assert.Equal(t, 2, a.Open())
	assert.Equal(t, []string{"tx/0@0", "pg/0@0"}, deadOrigins(dls.All()))
	assemblyErrors(t, dls.All(), cdc.ErrTxTimeout)
	assert.Contains(t, dls.All()[0].Reason, "MaxOpen 2")

	got = feed(t, a, e(1), e(2), ev(3, 3), e(3))
	assert.Equal(t, []string{"2:200[public.orders@2]", "3:300[public.orders@3]"}, shape(got))
	assert.Equal(t, 3, dls.Len(), "T1's END follows its events to dead letters")

	t.Run("MaxEvents", func(t *testing.T) {
		o := offsets{}
		a, dls := newAssembler(cdc.AssemblerConfig{MaxEvents: 3})
		var evs []cdc.Event
		for i := range uint64(5) {
			evs = append(evs, pgEvent(o.at("pg"), "public.orders", cdc.OpCreate, "1", 100, 10+i))
		}
		evs = append(evs, pgEvent(o.at("pg"), "public.orders", cdc.OpCreate, "2", 200, 20))
		got := feed(t, a, evs...)
		got = append(got, flush(t, a)...)
		assert.Equal(t, []string{"2[public.orders@20]"}, shape(got), "the oversized transaction is not emitted in part")
		assert.Equal(t, 5, dls.Len(), "all of T1, including events after the give-up")
		assemblyErrors(t, dls.All(), cdc.ErrTxTimeout)
	})
}

func TestAssembleOutsideTransactions(t *testing.T) {
	o := offsets{}
	msg := pgEvent(o.at("orders"), "", cdc.OpMessage, "", 150, 150) // a non-transactional message
	t1 := pgEvent(o.at("orders"), "public.orders", cdc.OpCreate, "1", 200, 190)
	t1b := pgEvent(o.at("customers"), "public.customers", cdc.OpCreate, "1", 200, 195)
	bare := pgEvent(o.at("customers"), "public.customers", cdc.OpUpdate, "", 250, 250)
	t2 := pgEvent(o.at("orders"), "public.orders", cdc.OpUpdate, "2", 300, 290)

	a, dls := newAssembler(cdc.AssemblerConfig{})
	got := feed(t, a, t1b, msg, t1, bare, t2)
	got = append(got, flush(t, a)...)
	require.Equal(t, []string{"[@150]", "1[public.orders@190 public.customers@195]", "[public.customers@250]", "2[public.orders@290]"}, shape(got))
	assert.Equal(t, "", got[0].ID)
	assert.Zero(t, dls.Len())

	t.Run("snapshot reads stand alone although they carry the snapshot's txId", func(t *testing.T) {
		o := offsets{}
		a, _ := newAssembler(cdc.AssemblerConfig{})
		var evs []cdc.Event
		for i := range uint64(3) {
			evs = append(evs, pgEvent(o.at("pg"), "public.orders", cdc.OpRead, "565", 50, 50+i))
		}
		got := feed(t, a, evs...)
		require.Equal(t, []string{"[public.orders@50]", "[public.orders@51]", "[public.orders@52]"}, shape(got),
			"each read is emitted at once")
	})
}

func TestAssembleTombstoneJoinsItsDelete(t *testing.T) {
	o := offsets{}
	del := pgEvent(o.at("pg"), "public.orders", cdc.OpDelete, "1", 100, 10)
	tomb := cdc.Event{Op: cdc.OpTombstone, Origin: o.at("pg"), Pos: del.Pos.Next(), Key: del.Key}
	upd := pgEvent(o.at("pg"), "public.orders", cdc.OpUpdate, "1", 100, 20)
	next := pgEvent(o.at("pg"), "public.orders", cdc.OpCreate, "2", 200, 30)

	a, _ := newAssembler(cdc.AssemblerConfig{})
	got := feed(t, a, del, tomb, upd, next)
	require.Equal(t, []string{"1[public.orders@10 @10~ public.orders@20]"}, shape(got),
		"the tombstone neither splits the transaction nor leaves it")

	t.Run("not counted by the END", func(t *testing.T) {
		o := offsets{}
		del := withTx(pgEvent(o.at("pg"), "public.orders", cdc.OpDelete, "1", 100, 10), "1:100", 1)
		tomb := cdc.Event{Op: cdc.OpTombstone, Origin: o.at("pg"), Pos: del.Pos.Next(), Key: del.Key}
		upd := withTx(pgEvent(o.at("pg"), "public.orders", cdc.OpUpdate, "1", 100, 20), "1:100", 2)
		a, dls := newAssembler(cdc.AssemblerConfig{})
		got := feed(t, a, txBegin(o.at("tx"), "1:1"), del, tomb, txEnd(o.at("tx"), "1:100", "public.orders", "public.orders"), upd)
		require.Equal(t, []string{"1:100[public.orders@10 @10~ public.orders@20]"}, shape(got))
		assert.Zero(t, dls.Len())
	})
}

// A transaction long finished is forgotten and its memory reused, but not while a
// stream still points to it: a tombstone on a stream silent since must not join
// whatever transaction reuses that memory.
func TestAssembleForgottenTransactionReusedSafely(t *testing.T) {
	ctx := context.Background()
	for n := 3060; n < 3090; n++ {
		o := offsets{}
		// remembers the last 64 transactions without metadata, reusing each forgotten one
		// unless a stream still points to it
		a, dls := newAssembler(cdc.AssemblerConfig{MaxOpen: 100})
		del := pgEvent(o.at("a"), "public.orders", cdc.OpDelete, "1", 1000, 10)
		got := feed(t, a, del)
		for i := 2; i < n; i++ {
			ev := pgEvent(o.at("b"), "public.orders", cdc.OpCreate, strconv.Itoa(i), uint64(1000*i), uint64(1000*i-5))
			require.NoError(t, a.Add(ctx, &ev))
			require.NoError(t, a.Idle(ctx))
			got = append(got, drain(a)...)
		}
		nth := pgEvent(o.at("b"), "public.orders", cdc.OpCreate, strconv.Itoa(n), uint64(1000*n), uint64(1000*n-5))
		require.NoError(t, a.Add(ctx, &nth))
		tomb := cdc.Event{Op: cdc.OpTombstone, Origin: o.at("a"), Pos: cdc.Position{Major: uint64(1000*n + 1)}, Key: del.Key,
			Source: cdc.SourceInfo{Connector: "postgresql"}}
		require.NoError(t, a.Add(ctx, &tomb))
		got = append(got, flush(t, a)...)
		require.Zero(t, dls.Len(), "n=%d: %v", n, deadOrigins(dls.All()))
		require.Len(t, got, n+1, "n=%d", n)
		last := shape(got[len(got)-2:])
		require.Equal(t, []string{fmt.Sprintf("%d[public.orders@%d]", n, 1000*n-5), "[@0~]"}, last,
			"n=%d: the tombstone is an event of its own", n)
	}
}

func TestAssembleLateEventDeadLettered(t *testing.T) {
	o := offsets{}
	a, dls := newAssembler(cdc.AssemblerConfig{})
	got := feed(t, a, pgEvent(o.at("pg"), "public.orders", cdc.OpCreate, "1", 100, 10))
	require.NoError(t, a.Idle(context.Background())) // the source said it was caught up
	got = append(got, drain(a)...)
	require.Equal(t, []string{"1[public.orders@10]"}, shape(got))
	// ... but more of T1 arrives: emitting it would split T1 in two.
	got = feed(t, a, pgEvent(o.at("pg"), "public.orders", cdc.OpUpdate, "1", 100, 11))
	got = append(got, flush(t, a)...)
	assert.Empty(t, got)
	require.Equal(t, 1, dls.Len())
	assemblyErrors(t, dls.All(), cdc.ErrLate)

	t.Run("positioned before the last commit", func(t *testing.T) {
		o := offsets{}
		a, dls := newAssembler(cdc.AssemblerConfig{})
		got := feed(t, a,
			pgEvent(o.at("a"), "public.orders", cdc.OpCreate, "1", 100, 10),
			pgEvent(o.at("a"), "public.orders", cdc.OpCreate, "2", 200, 20))
		require.Equal(t, []string{"1[public.orders@10]"}, shape(got))
		// A stream first heard of now delivers events ordered before T1's commit.
		got = feed(t, a,
			pgEvent(o.at("b"), "public.items", cdc.OpCreate, "", 90, 9),
			pgEvent(o.at("b"), "public.items", cdc.OpCreate, "0", 95, 8))
		got = append(got, flush(t, a)...)
		assert.Equal(t, []string{"2[public.orders@20]"}, shape(got), "nothing is emitted out of commit order")
		assert.Equal(t, []string{"b/0@0", "b/0@1"}, deadOrigins(dls.All()))
		assemblyErrors(t, dls.All(), cdc.ErrLate)
	})
}

// TestAssembleLateEventsJudgedByPosition: a transaction without metadata is remembered
// by key for the next 64 such transactions only; after that, its late events are judged
// by their position against LastCommit.
func TestAssembleLateEventsJudgedByPosition(t *testing.T) {
	o := offsets{}
	a, dls := newAssembler(cdc.AssemblerConfig{})
	t1 := pgEvent(o.at("a"), "public.orders", cdc.OpCreate, "1", 100, 10)
	got := feed(t, a, t1)
	for x := 2; x <= 70; x++ {
		got = append(got, feed(t, a, pgEvent(o.at("a"), "public.orders", cdc.OpCreate, strconv.Itoa(x), uint64(100*x), uint64(10*x)))...)
	}
	require.NoError(t, a.Idle(context.Background()))
	got = append(got, drain(a)...)
	require.Len(t, got, 70)
	require.Equal(t, cdc.Position{Major: 7000, Minor: 700}, a.LastCommit())

	// T1 re-sent as it was: a redelivery, dropped.
	assert.Empty(t, feed(t, a, t1))
	assert.Equal(t, int64(1), a.Duplicates())
	// More of T1 from another stream, ordered before the last commit: late.
	assert.Empty(t, feed(t, a, pgEvent(o.at("b"), "public.orders", cdc.OpUpdate, "1", 100, 11)))
	assert.Equal(t, []string{"b/0@0"}, deadOrigins(dls.All()))
	assemblyErrors(t, dls.All(), cdc.ErrLate)
	// An event of T1's id ordered after the last commit is a later change: commit order
	// is all that places events without metadata once their transaction is forgotten.
	got = feed(t, a, pgEvent(o.at("a"), "public.orders", cdc.OpUpdate, "1", 7100, 710))
	got = append(got, flush(t, a)...)
	assert.Equal(t, []string{"1[public.orders@710]"}, shape(got))
	assert.Equal(t, 1, dls.Len())

	t.Run("within the last 64", func(t *testing.T) {
		o := offsets{}
		a, dls := newAssembler(cdc.AssemblerConfig{})
		got := feed(t, a, pgEvent(o.at("a"), "public.orders", cdc.OpCreate, "1", 100, 10))
		for x := 2; x <= 64; x++ {
			got = append(got, feed(t, a, pgEvent(o.at("a"), "public.orders", cdc.OpCreate, strconv.Itoa(x), uint64(100*x), uint64(10*x)))...)
		}
		require.NoError(t, a.Idle(context.Background()))
		require.Len(t, append(got, drain(a)...), 64)
		got = feed(t, a, pgEvent(o.at("a"), "public.orders", cdc.OpUpdate, "1", 6500, 650))
		got = append(got, flush(t, a)...)
		assert.Empty(t, got, "T1 is remembered: emitting this would split it")
		assert.Equal(t, []string{"a/0@64"}, deadOrigins(dls.All()))
		assemblyErrors(t, dls.All(), cdc.ErrLate)
	})
}

func TestAssembleOrderWithinTransaction(t *testing.T) {
	o := offsets{}
	// MySQL-like: the total order decides, whatever the positions and arrival say.
	x := withTx(pgEvent(o.at("b"), "db.b", cdc.OpCreate, "", 100, 9), "gtid:1", 2)
	y := withTx(pgEvent(o.at("a"), "db.a", cdc.OpCreate, "", 100, 5), "gtid:1", 3)
	z := withTx(pgEvent(o.at("a"), "db.a", cdc.OpCreate, "", 100, 7), "gtid:1", 1)
	a, _ := newAssembler(cdc.AssemblerConfig{})
	got := feed(t, a, txBegin(o.at("tx"), "gtid:1"), x, y, z, txEnd(o.at("tx"), "gtid:1", "db.a", "db.a", "db.b"))
	got = append(got, flush(t, a)...)
	require.Equal(t, []string{"gtid:1[db.a@7 db.b@9 db.a@5]"}, shape(got))
	assert.Equal(t, cdc.Position{Major: 100, Minor: 9}, got[0].Commit)

	t.Run("by position without total order", func(t *testing.T) {
		o := offsets{}
		a, _ := newAssembler(cdc.AssemblerConfig{})
		got := feed(t, a,
			pgEvent(o.at("b"), "public.b", cdc.OpCreate, "4", 100, 9),
			pgEvent(o.at("a"), "public.a", cdc.OpCreate, "4", 100, 5),
			pgEvent(o.at("a"), "public.a", cdc.OpCreate, "4", 100, 7))
		got = append(got, flush(t, a)...)
		require.Equal(t, []string{"4[public.a@5 public.a@7 public.b@9]"}, shape(got))
	})
}

// Two large transactions interleaved event by event over two topics, then a small one:
// each whole and in order.
func TestAssembleLargeInterleavedTransactions(t *testing.T) {
	const n = 3000
	o := offsets{}
	var a1, b1, mixed []cdc.Event
	for i := range uint64(n) {
		a1 = append(a1, withTx(pgEvent(o.at("a"), "public.a", cdc.OpCreate, "1", 1_000_000, 10+i), "1:1000000", int64(i+1)))
		b1 = append(b1, withTx(pgEvent(o.at("b"), "public.b", cdc.OpCreate, "2", 2_000_000, 5+i), "2:2000000", int64(i+1)))
	}
	for i := range n {
		mixed = append(mixed, a1[i], b1[i])
	}
	small := []cdc.Event{
		withTx(pgEvent(o.at("a"), "public.a", cdc.OpUpdate, "3", 3_000_000, 1), "3:3000000", 1),
		withTx(pgEvent(o.at("b"), "public.b", cdc.OpUpdate, "3", 3_000_000, 2), "3:3000000", 2),
	}
	meta := []cdc.Event{
		txBegin(o.at("tx"), "1:1"), txEnd(o.at("tx"), "1:1000000", slices.Repeat([]string{"public.a"}, n)...),
		txBegin(o.at("tx"), "2:2"), txEnd(o.at("tx"), "2:2000000", slices.Repeat([]string{"public.b"}, n)...),
		txBegin(o.at("tx"), "3:3"), txEnd(o.at("tx"), "3:3000000", "public.a", "public.b"),
	}
	a, dls := newAssembler(cdc.AssemblerConfig{})
	got := feed(t, a, append(append(meta, mixed...), small...)...)
	got = append(got, flush(t, a)...)
	require.Len(t, got, 3)
	require.Zero(t, dls.Len())
	assert.Equal(t, committed(a1, a1[n-1].Pos), got[0].Events)
	assert.Equal(t, committed(b1, b1[n-1].Pos), got[1].Events)
	assert.Equal(t, committed(small, small[1].Pos), got[2].Events)

}

func TestAssemblerConfigValidate(t *testing.T) {
	require.NoError(t, cdc.AssemblerConfig{}.Validate())
	for _, c := range []cdc.AssemblerConfig{{MaxOpen: -1}, {MaxEvents: -1}, {Timeout: -time.Second}} {
		err := c.Validate()
		require.ErrorIs(t, err, cdc.ErrAssemblerConfig)
	}
	assert.Contains(t, cdc.AssemblerConfig{MaxEvents: -3}.Validate().Error(), "MaxEvents is -3")
	assert.Panics(t, func() { cdc.NewAssembler(cdc.AssemblerConfig{MaxOpen: -1}) })
}

// committed returns copies of evs as the assembler emits them: stamped with their
// transaction's commit position.
func committed(evs []cdc.Event, commit cdc.Position) []cdc.Event {
	out := slices.Clone(evs)
	for i := range out {
		out[i].Tx.Commit = commit
	}
	return out
}

// ---- property test ----

type propTx struct {
	want cdc.Tx
	meta []cdc.Event // BEGIN, END
}

// genTransactions makes n PostgreSQL-like transactions in commit order over three
// tables. Event LSNs overlap between transactions (interleaved in the WAL); some
// "transactions" are single events outside any transaction. Each event is given a
// stream (one of three) here, but its offset only when it is written.
func genTransactions(r *rand.Rand, n int, meta bool) []propTx {
	tables := []string{"public.orders", "public.customers", "public.items"}
	ops := []cdc.Op{cdc.OpCreate, cdc.OpUpdate, cdc.OpDelete}
	out := make([]propTx, 0, n)
	for i := range n {
		commit := uint64(1000 * (i + 2))
		xid := strconv.Itoa(500 + i)
		lone := i > 0 && r.IntN(7) == 0
		k := 1 + r.IntN(5)
		switch {
		case lone:
			k, xid = 1, ""
		case i == 0:
			k = 3 // the first transaction touches every stream
		}
		lsn := commit - 1800 + uint64(r.IntN(600)) // overlaps the previous transaction's LSNs
		var p propTx
		p.want.ID = xid
		if meta && !lone {
			p.want.ID = xid + ":" + strconv.FormatUint(commit, 10)
		}
		var tabs []string
		for j := range k {
			lsn += 1 + uint64(r.IntN(200))
			table := tables[r.IntN(len(tables))]
			stream := "s" + strconv.Itoa(r.IntN(3))
			if i == 0 {
				stream = "s" + strconv.Itoa(j)
			}
			ev := pgEvent(cdc.Origin{Topic: stream}, table, ops[r.IntN(len(ops))], xid, commit, lsn)
			if lone && r.IntN(2) == 0 {
				ev.Op, ev.Table, ev.After = cdc.OpMessage, "", nil
			}
			ev.CommitTime = epoch.Add(time.Duration(i) * time.Second)
			if meta && !lone {
				ev = withTx(ev, p.want.ID, int64(j+1))
			}
			tabs = append(tabs, ev.Table)
			p.want.Events = append(p.want.Events, ev)
			p.want.Commit = ev.Pos
			p.want.CommitTime = ev.CommitTime
		}
		if meta && !lone {
			p.meta = []cdc.Event{
				txBegin(cdc.Origin{Topic: "tx"}, xid+":"+strconv.FormatUint(commit-2000, 10)),
				txEnd(cdc.Origin{Topic: "tx"}, p.want.ID, tabs...),
			}
		}
		out = append(out, p)
	}
	return out
}

// propStream is one topic partition as a consumer sees it: records written so far, and
// how far the consumer has read.
type propStream struct {
	recs []*cdc.Event
	read int
}

// runProperty writes the transactions to three streams (and a metadata stream), reads
// them back interleaved at random with redeliveries, connector re-sends and truthful
// Idle calls, and returns what the assembler emitted.
func runProperty(t *testing.T, r *rand.Rand, txs []propTx, release bool) ([]cdc.Tx, *cdc.Assembler, *cdc.MemoryDeadLetters) {
	ctx := context.Background()
	drain := drain
	if release {
		drain = drainReleasing
	}
	a, dls := newAssembler(cdc.AssemblerConfig{})
	streams := map[string]*propStream{}
	names := []string{"s0", "s1", "s2", "tx"}
	for _, n := range names {
		streams[n] = &propStream{}
	}
	write := func(ev cdc.Event) {
		s := streams[ev.Origin.Topic]
		ev.Origin.Offset = int64(len(s.recs))
		s.recs = append(s.recs, &ev)
	}
	// Offsets are part of what the assembler emits: fix them in the expected events too.
	setOffset := func(ev *cdc.Event) {
		s := streams[ev.Origin.Topic]
		ev.Origin.Offset = int64(len(s.recs))
	}
	written := 0
	writeNext := func() {
		p := &txs[written]
		written++
		if len(p.meta) > 0 {
			setOffset(&p.meta[0])
			write(p.meta[0])
		}
		for i := range p.want.Events {
			setOffset(&p.want.Events[i])
			write(p.want.Events[i])
		}
		if len(p.meta) > 0 {
			setOffset(&p.meta[1])
			write(p.meta[1])
		}
		if r.IntN(8) == 0 { // a connector restart re-sends a stream's tail under new offsets
			s := streams[names[r.IntN(len(names))]]
			for _, ev := range s.recs[max(0, len(s.recs)-1-r.IntN(3)):] {
				write(*ev)
			}
		}
	}
	var out []cdc.Tx
	writeNext()
	for _, n := range names[:3] { // a consumer starts by fetching from every partition
		s := streams[n]
		require.NoError(t, a.Add(ctx, s.recs[0]))
		s.read = 1
	}
	for {
		var avail []*propStream
		for _, n := range names {
			if s := streams[n]; s.read < len(s.recs) {
				avail = append(avail, s)
			}
		}
		switch {
		case len(avail) == 0 && written == len(txs):
			require.NoError(t, a.Flush(ctx))
			return append(out, drain(a)...), a, dls
		case len(avail) == 0:
			require.NoError(t, a.Idle(ctx)) // truthful: every stream is caught up
			writeNext()
		case written < len(txs) && r.IntN(4) == 0:
			writeNext()
		default:
			s := avail[r.IntN(len(avail))]
			require.NoError(t, a.Add(ctx, s.recs[s.read]))
			s.read++
			if r.IntN(15) == 0 { // a consumer rebalance re-reads a few records
				s.read = max(0, s.read-1-r.IntN(3))
			}
		}
		out = append(out, drain(a)...)
	}
}

// Released transactions lend their memory to later ones; what is held is never touched,
// and releasing twice, or releasing what the assembler did not emit, changes nothing.
func TestAssemblerReleaseReusesMemory(t *testing.T) {
	ctx := context.Background()
	a, dls := newAssembler(cdc.AssemblerConfig{})
	other, _ := newAssembler(cdc.AssemblerConfig{})
	o := offsets{}
	type held struct{ tx, copy cdc.Tx }
	var kept []held
	seen := map[*cdc.Event]bool{}
	reused := 0
	for i := range 5000 {
		xid := strconv.Itoa(1000 + i/2) // two events per transaction
		commit := uint64(1000 * (i/2 + 2))
		ev := pgEvent(o.at("pg"), "public.orders", cdc.OpUpdate, xid, commit, commit-500+uint64(i%2))
		require.NoError(t, a.Add(ctx, &ev))
		require.NoError(t, other.Add(ctx, &ev))
		for tx := range a.Ready() {
			if seen[&tx.Events[0]] {
				reused++
			}
			seen[&tx.Events[0]] = true
			c := tx
			c.Events = slices.Clone(tx.Events)
			switch {
			case len(seen)%300 == 0: // held, never released: its slab is not reused
				kept = append(kept, held{tx, c})
			case len(seen)%7 == 0:
				a.Release(tx)
				a.Release(tx) // at once again: nothing more is freed
			default:
				a.Release(tx)
			}
		}
		for tx := range other.Ready() {
			a.Release(tx) // not a's: nothing happens
		}
		a.Release(cdc.Tx{Events: []cdc.Event{ev}})
	}
	require.NoError(t, a.Flush(ctx))
	for tx := range a.Ready() {
		kept = append(kept, held{tx, tx})
	}
	assert.Zero(t, dls.Len())
	assert.Greater(t, reused, 1000, "released memory holds later transactions (of %d)", len(seen))
	for _, h := range kept {
		require.Equal(t, h.copy.Events, h.tx.Events, "a held transaction is never overwritten")
	}
}

// Add keeps a copy of the event it is given: the caller's event is left as it was,
// including when it is emitted at once as a transaction of its own (a tombstone that
// arrives after its delete's transaction was emitted).
func TestAssembleAddLeavesEventAlone(t *testing.T) {
	ctx := context.Background()
	o := offsets{}
	a, dls := newAssembler(cdc.AssemblerConfig{})
	del := pgEvent(o.at("a"), "public.orders", cdc.OpDelete, "1", 100, 10)
	later := pgEvent(o.at("b"), "public.orders", cdc.OpCreate, "2", 200, 150)
	tomb := cdc.Event{Op: cdc.OpTombstone, Origin: o.at("a"), Pos: del.Pos.Next(), Key: del.Key}
	var got []cdc.Tx
	for _, ev := range []cdc.Event{del, later, tomb} {
		before := ev
		before.Key = slices.Clone(ev.Key)
		require.NoError(t, a.Add(ctx, &ev))
		require.Equal(t, before, ev, "Add changed the caller's event")
		require.NoError(t, a.Idle(ctx))
		got = append(got, drain(a)...)
	}
	require.Zero(t, dls.Len())
	require.Equal(t, []string{"1[public.orders@10]", "2[public.orders@150]", "[@10~]"}, shape(got))
	assert.Equal(t, tomb.Pos, got[2].Events[0].Tx.Commit, "the emitted copy carries its commit")
}

// The memory of a released transaction holds the next transaction of its size at once,
// while it is still in cache, rather than after the rest of its slab is released too.
func TestAssemblerReusesLastReleased(t *testing.T) {
	ctx := context.Background()
	o := offsets{}
	a, _ := newAssembler(cdc.AssemblerConfig{})
	var last *cdc.Event
	reused := 0
	for i := range 200 {
		ev := pgEvent(o.at("pg"), "public.orders", cdc.OpCreate, strconv.Itoa(1000+i), uint64(1000*(i+1)), uint64(1000*(i+1)))
		require.NoError(t, a.Add(ctx, &ev))
		require.NoError(t, a.Idle(ctx))
		for tx := range a.Ready() {
			if &tx.Events[0] == last {
				reused++
			}
			last = &tx.Events[0]
			a.Release(tx)
		}
	}
	assert.Greater(t, reused, 190, "each transaction is stored where the one before it was released")
}

// Once warm, assembling transactions that span two streams allocates nothing when they
// are released.
func TestAssemblerSteadyStateAllocations(t *testing.T) {
	ctx := context.Background()
	o := offsets{}
	a, _ := newAssembler(cdc.AssemblerConfig{})
	var evs []cdc.Event // made beforehand: making them allocates
	for i := 1; i <= 2100; i++ {
		xid, commit := strconv.Itoa(i), uint64(1000*i)
		evs = append(evs, pgEvent(o.at("a"), "public.orders", cdc.OpCreate, xid, commit, commit-2),
			pgEvent(o.at("b"), "public.payments", cdc.OpCreate, xid, commit, commit-1))
	}
	round := func() {
		_ = a.Add(ctx, &evs[0])
		_ = a.Add(ctx, &evs[1])
		evs = evs[2:]
		_ = a.Idle(ctx)
		for tx := range a.Ready() {
			a.Release(tx)
		}
	}
	for range 1000 {
		round()
	}
	assert.Zero(t, testing.AllocsPerRun(1000, round))
}

// With Debezium's transaction metadata too: BEGIN and END are kept in holders the
// assembler reuses, not copied to the heap; the transactions, once no longer
// remembered as finished, are reused too.
func TestAssemblerSteadyStateAllocationsWithMetadata(t *testing.T) {
	ctx := context.Background()
	o := offsets{}
	a, _ := newAssembler(cdc.AssemblerConfig{MaxOpen: 16})
	var evs []cdc.Event
	for i := 1; i <= 3400; i++ {
		xid, commit := strconv.Itoa(i), uint64(1000*i)
		id := xid + ":" + strconv.Itoa(int(commit))
		evs = append(evs, txBegin(o.at("tx"), id),
			withTx(pgEvent(o.at("a"), "public.orders", cdc.OpCreate, xid, commit, commit-1), id, 1),
			txEnd(o.at("tx"), id, "public.orders"))
	}
	round := func() {
		for i := range 3 {
			if err := a.Add(ctx, &evs[i]); err != nil {
				t.Fatal(err)
			}
		}
		evs = evs[3:]
		for tx := range a.Ready() {
			a.Release(tx)
		}
	}
	for range 2300 { // past the 1024-2048 finished transactions remembered: then reused
		round()
	}
	assert.Zero(t, testing.AllocsPerRun(1000, round))
}

func TestAssembleProperty(t *testing.T) {
	for _, meta := range []bool{false, true} {
		t.Run(fmt.Sprintf("metadata=%v", meta), func(t *testing.T) {
			var dups int64
			for seed := range uint64(300) {
				r := rand.New(rand.NewPCG(seed, 3))
				txs := genTransactions(r, 40, meta)
				got, a, dls := runProperty(t, r, txs, seed%2 == 1) // half the runs release what they drain
				want := make([]cdc.Tx, len(txs))
				for i := range txs {
					want[i] = txs[i].want
					want[i].Events = committed(want[i].Events, want[i].Commit)
				}
				require.Zero(t, dls.Len(), "seed %d: %v", seed, dls.All())
				require.Equal(t, shape(want), shape(got), "seed %d", seed)
				require.Equal(t, want, got, "seed %d", seed)
				dups += a.Duplicates()
			}
			assert.Positive(t, dups, "the runs redelivered events")
		})
	}
}

// ---- end to end with the generator ----

// The generator writes a PostgreSQL workload over three topics (and with TxMetadata a
// transaction topic), exactly as Debezium would. With and without metadata, the
// assembler must return the same transactions, whole, in commit order.
func TestAssembleGeneratorWorkload(t *testing.T) {
	run := func(meta bool) []cdc.Tx {
		g := cdc.NewGenerator(cdc.GeneratorConfig{Seed: 7, Events: 3000, TxMetadata: meta})
		ctx := context.Background()
		require.NoError(t, g.Open(ctx, cdc.Position{}))
		a, dls := newAssembler(cdc.AssemblerConfig{})
		var out []cdc.Tx
		for {
			ev, err := g.Read(ctx)
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
			require.NoError(t, a.Add(ctx, &ev))
			out = append(out, drain(a)...)
		}
		out = append(out, flush(t, a)...)
		require.Zero(t, dls.Len())
		return out
	}
	plain, meta := run(false), run(true)
	require.Equal(t, len(plain), len(meta))
	n := 0
	for i := range plain {
		if i > 0 {
			require.True(t, plain[i-1].Commit.Less(plain[i].Commit), "commit order at %d", i)
		}
		require.Equal(t, len(plain[i].Events), len(meta[i].Events))
		for j := range plain[i].Events {
			require.Equal(t, plain[i].Events[j].Pos, meta[i].Events[j].Pos)
			require.Equal(t, meta[i].ID, meta[i].Events[j].Tx.ID)
			require.EqualValues(t, j+1, meta[i].Events[j].Tx.TotalOrder, "the transaction is whole and in order")
		}
		require.Equal(t, plain[i].Commit, meta[i].Commit)
		require.True(t, strings.HasPrefix(meta[i].ID, plain[i].ID+":"), "%s vs %s", plain[i].ID, meta[i].ID)
		n += len(plain[i].Events)
	}
	assert.Equal(t, 3000, n)
}

// ---- metrics helpers ----

func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels ...string) *dto.Metric {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			return m
		}
	}
	return nil
}

func counter(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	m := metricValue(t, reg, name, labels...)
	if m == nil {
		return 0
	}
	return m.GetCounter().GetValue()
}

func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	m := metricValue(t, reg, name)
	if m == nil {
		return 0
	}
	return m.GetGauge().GetValue()
}

// ---- benchmark ----

// benchEvents is a single PostgreSQL stream of n events in transactions of 1 to 8
// events, with the LSNs of consecutive transactions interleaved.
func benchEvents(n int) []cdc.Event {
	r := rand.New(rand.NewPCG(1, 1))
	evs := make([]cdc.Event, 0, n)
	o := offsets{}
	for tx := 0; len(evs) < n; tx++ {
		commit := uint64(1000 * (tx + 2))
		lsn := commit - 1500
		xid := strconv.Itoa(1000 + tx)
		for k := 1 + r.IntN(8); k > 0 && len(evs) < n; k-- {
			lsn += 1 + uint64(r.IntN(100))
			evs = append(evs, pgEvent(o.at("pg"), "public.orders", cdc.OpUpdate, xid, commit, lsn))
		}
	}
	return evs
}

//go:noinline
func touch(ev cdc.Event) uint64 { return ev.Pos.Minor + uint64(len(ev.Table)) }

// BenchmarkAssemble measures the assembler on the common case, one stream, against
// merely handing each event over by value (what any consumer of a Source does).
func BenchmarkAssemble(b *testing.B) {
	const n = 1 << 16
	evs := benchEvents(n)
	ctx := context.Background()
	b.Run("iterate", func(b *testing.B) {
		var sink uint64
		for b.Loop() {
			for i := range evs {
				sink += touch(evs[i])
			}
		}
		b.ReportMetric(float64(b.N)*n/b.Elapsed().Seconds(), "events/s")
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/(float64(b.N)*n), "ns/event")
		_ = sink
	})
	b.Run("collect", func(b *testing.B) {
		// The least a consumer handing out whole transactions does: copy each event into
		// its transaction's own slice (one stream, no ordering, no checks).
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			var cur []cdc.Event
			key := ""
			for i := range evs {
				if k := evs[i].TxKey(); k != key {
					n += len(cur)
					cur, key = nil, k
				}
				cur = append(cur, evs[i])
			}
			n += len(cur)
		}
		b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/event")
	})
	b.Run("assemble-3-topics", func(b *testing.B) {
		// The same events over three topics (by transaction), read in commit order as one
		// consumer of all three would: the k-way merge holds each back until the others pass.
		evs3 := slices.Clone(evs)
		for i := range evs3 {
			x, _ := strconv.Atoi(evs3[i].Source.TxID)
			evs3[i].Origin.Topic = "pg" + strconv.Itoa(x%3)
		}
		out := 0
		for b.Loop() {
			a := cdc.NewAssembler(cdc.AssemblerConfig{Logger: quiet})
			for i := range evs3 {
				if err := a.Add(ctx, &evs3[i]); err != nil {
					b.Fatal(err)
				}
				for tx, ok := a.Next(); ok; tx, ok = a.Next() {
					out += len(tx.Events)
				}
			}
			if err := a.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			for tx, ok := a.Next(); ok; tx, ok = a.Next() {
				out += len(tx.Events)
			}
		}
		if out != b.N*n {
			b.Fatalf("%d events out, want %d", out, b.N*n)
		}
		b.ReportMetric(float64(b.N)*n/b.Elapsed().Seconds(), "events/s")
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/(float64(b.N)*n), "ns/event")
	})
	for _, release := range []bool{false, true} {
		name := "assemble"
		if release {
			name = "assemble-release" // a consumer that hands each transaction back when done
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			txs := 0
			done := func(a *cdc.Assembler) {
				for tx, ok := a.Next(); ok; tx, ok = a.Next() {
					txs += len(tx.Events)
					if release {
						a.Release(tx)
					}
				}
			}
			for b.Loop() {
				a := cdc.NewAssembler(cdc.AssemblerConfig{Logger: quiet})
				for i := range evs {
					if err := a.Add(ctx, &evs[i]); err != nil {
						b.Fatal(err)
					}
					done(a)
				}
				if err := a.Flush(ctx); err != nil {
					b.Fatal(err)
				}
				done(a)
			}
			if txs != b.N*n {
				b.Fatalf("%d events out, want %d", txs, b.N*n)
			}
			b.ReportMetric(float64(b.N)*n/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/(float64(b.N)*n), "ns/event")
		})
	}
}
