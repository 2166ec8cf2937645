package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/cdc/kafka"
)

const (
	ordersTopic    = "pg.public.orders"    // two partitions, records keyed by id
	customersTopic = "pg.public.customers" // one partition
	txTopic        = "pg.transaction"      // Debezium transaction metadata
)

// newCluster starts an in-process Kafka-protocol broker on loopback with the test topics.
func newCluster(t *testing.T) []string {
	t.Helper()
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.SeedTopics(2, ordersTopic),
		kfake.SeedTopics(1, customersTopic, txTopic),
	)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// pgRow is one generated change event, with where it landed once produced.
type pgRow struct {
	tx        int // index of its transaction in the workload
	table     string
	topic     string
	partition int32
	id        int64
	name      string
	lsn       uint64
	pos       cdc.Position
	origin    cdc.Origin
}

// pgTx is one generated PostgreSQL transaction.
type pgTx struct {
	txID   uint64
	rows   []pgRow
	commit cdc.Position // the position of its last event: what a source is acked with
	begin  cdc.Origin   // where its BEGIN and END landed on the transaction topic
	end    cdc.Origin
}

// workload generates PostgreSQL-style Debezium transactions as the connector would
// emit them: transaction k has txId 700+k and rowsPerTx events at increasing LSNs,
// alternating between the orders and customers tables; every event's source.sequence
// carries the commit LSN of the previous transaction, which orders them by commit.
type workload struct {
	txs        []pgTx
	nextCommit uint64
}

func (w *workload) add(n, rowsPerTx int) []*kgo.Record {
	var recs []*kgo.Record
	for range n {
		k := len(w.txs)
		if w.nextCommit == 0 {
			w.nextCommit = 900
		}
		prevCommit := w.nextCommit
		base := uint64(1000 * (k + 1))
		tx := pgTx{txID: uint64(700 + k)}
		for j := range rowsPerTx {
			r := pgRow{tx: k, lsn: base + uint64(10*(j+1)), id: int64(10*k + j), name: fmt.Sprintf("name-%d-%d", k, j)}
			if j%2 == 0 {
				r.table, r.topic, r.partition = "public.orders", ordersTopic, int32((k+j/2)%2)
			} else {
				r.table, r.topic = "public.customers", customersTopic
			}
			r.pos = cdc.Position{Major: prevCommit, Minor: r.lsn}
			tx.rows = append(tx.rows, r)
		}
		tx.commit = tx.rows[len(tx.rows)-1].pos
		w.nextCommit = base + 900
		w.txs = append(w.txs, tx)
		recs = append(recs, txRecord(tx.txID, base, "BEGIN", nil))
		for _, r := range tx.rows {
			recs = append(recs, rowRecord(tx.txID, prevCommit, r))
		}
		recs = append(recs, txRecord(tx.txID, w.nextCommit, "END", tx.rows))
	}
	return recs
}

// produced records where each record of the latest add landed, from the produce results.
func (w *workload) produced(recs []*kgo.Record) {
	i := 0
	for k := range w.txs {
		tx := &w.txs[k]
		if tx.begin != (cdc.Origin{}) {
			continue
		}
		tx.begin = origin(recs[i])
		i++
		for j := range tx.rows {
			tx.rows[j].origin = origin(recs[i])
			i++
		}
		tx.end = origin(recs[i])
		i++
	}
}

// rows returns the events of transactions [from, to).
func (w *workload) rows(from, to int) []pgRow {
	var out []pgRow
	for _, tx := range w.txs[from:to] {
		out = append(out, tx.rows...)
	}
	return out
}

// origins returns where every record of transactions [from, to) landed: BEGIN, rows, END.
func (w *workload) origins(from, to int) []cdc.Origin {
	var out []cdc.Origin
	for _, tx := range w.txs[from:to] {
		out = append(out, tx.begin)
		for _, r := range tx.rows {
			out = append(out, r.origin)
		}
		out = append(out, tx.end)
	}
	return out
}

func origin(r *kgo.Record) cdc.Origin {
	return cdc.Origin{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset}
}

// rowSchema is the Connect schema of a row image, as the members of a field object.
const rowSchema = `"type":"struct","optional":true,"name":"pg.public.%[1]s.Value","fields":[` +
	`{"field":"id","type":"int64","optional":false},{"field":"name","type":"string","optional":true}]`

const sourceSchema = `{"field":"source","type":"struct","optional":false,"name":"io.debezium.connector.postgresql.Source","fields":[` +
	`{"field":"version","type":"string","optional":false},{"field":"connector","type":"string","optional":false},` +
	`{"field":"name","type":"string","optional":false},{"field":"ts_ms","type":"int64","optional":false},` +
	`{"field":"snapshot","type":"string","optional":true},{"field":"db","type":"string","optional":false},` +
	`{"field":"sequence","type":"string","optional":true},{"field":"schema","type":"string","optional":false},` +
	`{"field":"table","type":"string","optional":false},{"field":"txId","type":"int64","optional":true},` +
	`{"field":"lsn","type":"int64","optional":true},{"field":"xmin","type":"int64","optional":true}]}`

// rowRecord renders a create event in the {schema, payload} envelope of the JSON
// converter, keyed by id, on its table's topic (orders partitioned by id).
func rowRecord(txID, prevCommit uint64, r pgRow) *kgo.Record {
	tbl := strings.TrimPrefix(r.table, "public.")
	schema := fmt.Sprintf(`{"type":"struct","optional":false,"name":"pg.public.%[1]s.Envelope","fields":[`+
		`{"field":"before",%[2]s},{"field":"after",%[2]s},%[3]s,`+
		`{"field":"op","type":"string","optional":false},{"field":"ts_ms","type":"int64","optional":true}]}`,
		tbl, fmt.Sprintf(rowSchema, tbl), sourceSchema)
	payload := fmt.Sprintf(`{"before":null,"after":{"id":%d,"name":%q},"source":{"version":"3.7.0.Final",`+
		`"connector":"postgresql","name":"pg","ts_ms":1700000000000,"snapshot":"false","db":"shop",`+
		`"sequence":"[\"%d\",\"%d\"]","schema":"public","table":%q,"txId":%d,"lsn":%d,"xmin":null},`+
		`"op":"c","ts_ms":1700000000100}`, r.id, r.name, prevCommit, r.lsn, tbl, txID, r.lsn)
	rec := &kgo.Record{
		Topic: r.topic,
		Key:   fmt.Appendf(nil, `{"id":%d}`, r.id),
		Value: []byte(`{"schema":` + schema + `,"payload":` + payload + `}`),
	}
	if r.topic == ordersTopic {
		rec.Partition = r.partition
	}
	return rec
}

// txRecord renders a transaction-metadata BEGIN or END (with per-table counts).
func txRecord(txID, lsn uint64, status string, rows []pgRow) *kgo.Record {
	id := fmt.Sprintf("%d:%d", txID, lsn)
	var v string
	if status == "BEGIN" {
		v = fmt.Sprintf(`{"status":"BEGIN","id":%q,"ts_ms":1700000000000,"event_count":null,"data_collections":null}`, id)
	} else {
		counts := map[string]int{}
		for _, r := range rows {
			counts[r.table]++
		}
		var dc []string
		for _, t := range []string{"public.orders", "public.customers"} {
			if counts[t] > 0 {
				dc = append(dc, fmt.Sprintf(`{"data_collection":%q,"event_count":%d}`, t, counts[t]))
			}
		}
		v = fmt.Sprintf(`{"status":"END","id":%q,"ts_ms":1700000000200,"event_count":%d,"data_collections":[%s]}`,
			id, len(rows), strings.Join(dc, ","))
	}
	return &kgo.Record{Topic: txTopic, Key: fmt.Appendf(nil, `{"id":%q}`, id), Value: []byte(v)}
}

// produce writes recs in order with franz-go's client and fills in their offsets.
func produce(t *testing.T, addrs []string, recs ...*kgo.Record) {
	t.Helper()
	require.NoError(t, produceErr(addrs, recs...))
}

func produceErr(addrs []string, recs ...*kgo.Record) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return cl.ProduceSync(ctx, recs...).FirstErr()
}

func originsOf(evs []cdc.Event) []cdc.Origin {
	out := make([]cdc.Origin, len(evs))
	for i, ev := range evs {
		out[i] = ev.Origin
	}
	return out
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// testConfig is a Config with the timeouts kept short, as a test against an in-process
// broker can afford.
func testConfig(addrs []string, group string) kafka.Config {
	return kafka.Config{
		Brokers:           addrs,
		Topics:            []string{ordersTopic, customersTopic},
		TxTopic:           txTopic,
		Group:             group,
		Logger:            quietLogger(),
		IdleWait:          100 * time.Millisecond,
		SessionTimeout:    6 * time.Second, // kfake's minimum
		RebalanceTimeout:  2 * time.Second,
		HeartbeatInterval: 500 * time.Millisecond,
	}
}

func open(t *testing.T, cfg kafka.Config, from cdc.Position) *kafka.Source {
	t.Helper()
	src, err := kafka.NewSource(cfg)
	require.NoError(t, err)
	require.NoError(t, src.Open(context.Background(), from))
	t.Cleanup(func() { _ = src.Close() })
	return src
}

// readN reads until n events arrived.
func readN(t *testing.T, src *kafka.Source, n int) []cdc.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []cdc.Event
	for len(out) < n {
		ev, err := src.Read(ctx)
		if errors.Is(err, cdc.ErrIdle) {
			continue
		}
		require.NoError(t, err, "after %d of %d events", len(out), n)
		out = append(out, ev)
	}
	return out
}

// requireQuiet checks that nothing more arrives for d.
func requireQuiet(t *testing.T, src *kafka.Source, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for {
		ev, err := src.Read(ctx)
		switch {
		case errors.Is(err, cdc.ErrIdle):
			continue
		case errors.Is(err, context.DeadlineExceeded):
			return
		}
		require.NoError(t, err)
		require.Failf(t, "unexpected event", "%s %s at %s from %s", ev.Op, ev.Table, ev.Pos, ev.Origin)
	}
}

// split separates data events from transaction metadata.
func split(evs []cdc.Event) (rows, meta []cdc.Event) {
	for _, ev := range evs {
		if ev.Op == cdc.OpTxBegin || ev.Op == cdc.OpTxEnd {
			meta = append(meta, ev)
		} else {
			rows = append(rows, ev)
		}
	}
	return rows, meta
}

// rowKey identifies a data event by everything the source is responsible for.
type rowKey struct {
	Table  string
	Pos    cdc.Position
	Origin cdc.Origin
}

func keysOf(evs []cdc.Event) []rowKey {
	out := make([]rowKey, len(evs))
	for i, ev := range evs {
		out[i] = rowKey{ev.Table, ev.Pos, ev.Origin}
	}
	return out
}

func expectKeys(rows []pgRow) []rowKey {
	out := make([]rowKey, len(rows))
	for i, r := range rows {
		out[i] = rowKey{r.table, r.pos, r.origin}
	}
	return out
}

// byStream groups origins by topic partition, in read order.
func byStream(evs []cdc.Event) map[string][]int64 {
	m := map[string][]int64{}
	for _, ev := range evs {
		k := fmt.Sprintf("%s/%d", ev.Origin.Topic, ev.Origin.Partition)
		m[k] = append(m[k], ev.Origin.Offset)
	}
	return m
}

// TestSourceReadsAllTopics produces five transactions over two tables and the
// transaction topic, and checks that every record comes back decoded, once, with its
// coordinates and position, in offset order per partition.
func TestSourceReadsAllTopics(t *testing.T) {
	t.Parallel()
	addrs := newCluster(t)
	var w workload
	recs := w.add(5, 3)
	produce(t, addrs, recs...)
	w.produced(recs)

	src := open(t, testConfig(addrs, "all"), cdc.Position{})
	evs := readN(t, src, len(recs))
	requireQuiet(t, src, 300*time.Millisecond)

	rows, meta := split(evs)
	want := w.rows(0, 5)
	assert.ElementsMatch(t, expectKeys(want), keysOf(rows))
	for stream, offs := range byStream(evs) {
		assert.True(t, slices.IsSorted(offs), "offsets of %s out of order: %v", stream, offs)
	}

	// Contents: the row images and the source block come through the decoder.
	byOrigin := map[cdc.Origin]cdc.Event{}
	for _, ev := range rows {
		byOrigin[ev.Origin] = ev
	}
	for _, r := range want {
		ev, ok := byOrigin[r.origin]
		require.True(t, ok, "event %s missing", r.origin)
		assert.Equal(t, cdc.OpCreate, ev.Op)
		assert.Equal(t, fmt.Sprint(w.txs[r.tx].txID), ev.Source.TxID)
		assert.Equal(t, r.lsn, ev.Source.LSN)
		require.NotNil(t, ev.Schema, "%s", r.origin)
		require.NotNil(t, ev.After, "%s", r.origin)
		assert.Equal(t, r.id, ev.After[ev.Schema.FieldIndex("id")].AsInt())
		assert.Equal(t, r.name, ev.After[ev.Schema.FieldIndex("name")].AsString())
	}

	require.Len(t, meta, 10)
	var begins, ends []cdc.Origin
	for _, ev := range meta {
		if ev.Op == cdc.OpTxBegin {
			begins = append(begins, ev.Origin)
		} else {
			ends = append(ends, ev.Origin)
			assert.EqualValues(t, 3, ev.EventCount, "END at %s", ev.Origin)
		}
	}
	for _, tx := range w.txs {
		assert.Contains(t, begins, tx.begin)
		assert.Contains(t, ends, tx.end)
	}
	assert.Equal(t, len(recs), src.Pending(), "nothing acked, nothing committed")
}

// TestSourceResumesAfterAck acks up to the commit of the third of five transactions,
// closes, and checks that a new member of the same group gets exactly the records
// after the acked prefix of each partition: nothing acked comes back, nothing un-acked
// is lost.
func TestSourceResumesAfterAck(t *testing.T) {
	t.Parallel()
	addrs := newCluster(t)
	var w workload
	recs := w.add(5, 3)
	produce(t, addrs, recs...)
	w.produced(recs)
	cfg := testConfig(addrs, "resume")

	src := open(t, cfg, cdc.Position{})
	first := readN(t, src, len(recs))
	assert.ElementsMatch(t, w.origins(0, 5), originsOf(first))
	require.NoError(t, src.Ack(context.Background(), w.txs[2].commit))

	// Every partition keeps exactly the records of the transactions not acked, BEGIN
	// and END included: they carry no position, and go with their transaction.
	wantAgain := w.origins(3, 5)
	assert.Equal(t, len(wantAgain), src.Pending())
	require.NoError(t, src.Close())

	again := open(t, cfg, cdc.Position{})
	second := readN(t, again, len(wantAgain))
	requireQuiet(t, again, 500*time.Millisecond)

	assert.ElementsMatch(t, wantAgain, originsOf(second))
	rows, _ := split(second)
	assert.ElementsMatch(t, expectKeys(w.rows(3, 5)), keysOf(rows), "exactly the rows of transactions 4 and 5")
}

// TestSourceSkipsCommittedAfterCrash: a first run delivers everything, the pipeline
// commits downstream up to transaction 3 and crashes before any offset is committed.
// Reopened from that position, the source returns no event at or before it, counts the
// skipped records as done (a final ack commits them), and a third run starts after them.
func TestSourceSkipsCommittedAfterCrash(t *testing.T) {
	t.Parallel()
	addrs := newCluster(t)
	var w workload
	recs := w.add(5, 2)
	produce(t, addrs, recs...)
	w.produced(recs)
	cfg := testConfig(addrs, "crash")

	crashed := open(t, cfg, cdc.Position{})
	readN(t, crashed, len(recs))
	require.NoError(t, crashed.Close()) // no ack: the crash happened before the offset commit

	from := w.txs[2].commit
	src := open(t, cfg, from)
	evs := readN(t, src, len(w.origins(3, 5)))
	requireQuiet(t, src, 500*time.Millisecond)
	rows, meta := split(evs)
	for _, ev := range rows {
		assert.True(t, from.Less(ev.Pos), "%s %s at %s is at or before %s", ev.Op, ev.Origin, ev.Pos, from)
	}
	assert.ElementsMatch(t, expectKeys(w.rows(3, 5)), keysOf(rows))
	// BEGIN and END have no position of their own: they come back exactly for the
	// transactions after from.
	for _, ev := range meta {
		assert.Contains(t, []string{"703", "704"}, ev.TxKey(), "%s %s", ev.Op, ev.Origin)
	}
	assert.ElementsMatch(t, w.origins(3, 5), originsOf(evs))

	require.NoError(t, src.Ack(context.Background(), w.txs[4].commit))
	assert.Zero(t, src.Pending(), "skipped and acked records are all committed")
	require.NoError(t, src.Close())

	more := w.add(1, 2)
	produce(t, addrs, more...)
	w.produced(more)
	third := open(t, cfg, w.txs[4].commit)
	got := readN(t, third, len(more))
	requireQuiet(t, third, 300*time.Millisecond)
	var origins []cdc.Origin
	for _, ev := range got {
		origins = append(origins, ev.Origin)
	}
	assert.ElementsMatch(t, []cdc.Origin{w.txs[5].begin, w.txs[5].rows[0].origin, w.txs[5].rows[1].origin, w.txs[5].end}, origins)
}

// TestSourceDeadLettersMalformed puts an invalid JSON record between two transactions:
// it goes to the dead letters with its raw bytes and coordinates and is counted, the
// events after it still arrive, and once they are acked its offset is committed too.
func TestSourceDeadLettersMalformed(t *testing.T) {
	t.Parallel()
	addrs := newCluster(t)
	var w workload
	first := w.add(1, 2)
	bad := &kgo.Record{Topic: customersTopic, Key: []byte(`{"id":99}`), Value: []byte(`{"before":null,"after":{"id":99,`),
		Headers: []kgo.RecordHeader{{Key: "origin", Value: []byte("test")}}}
	second := w.add(1, 2)
	all := slices.Concat(first, []*kgo.Record{bad}, second)
	produce(t, addrs, all...)
	w.produced(slices.Concat(first, second))

	reg := prometheus.NewRegistry()
	dls := cdc.NewMemoryDeadLetters()
	cfg := testConfig(addrs, "malformed")
	cfg.DeadLetters = dls
	cfg.Metrics = cdc.NewMetrics(reg)
	src := open(t, cfg, cdc.Position{})

	evs := readN(t, src, len(all)-1)
	requireQuiet(t, src, 300*time.Millisecond)
	rows, _ := split(evs)
	assert.ElementsMatch(t, expectKeys(w.rows(0, 2)), keysOf(rows))

	require.Equal(t, 1, dls.Len())
	dl := dls.All()[0]
	assert.Equal(t, bad.Value, dl.Record.Value)
	assert.Equal(t, bad.Key, dl.Record.Key)
	assert.Equal(t, origin(bad), dl.Record.Origin())
	assert.Equal(t, []cdc.Header{{Key: "origin", Value: []byte("test")}}, dl.Record.Headers)
	assert.Contains(t, dl.Reason, origin(bad).String())
	assert.Equal(t, 1.0, counter(t, reg, "strata_cdc_dead_letters_total", "", ""))
	assert.Equal(t, 1.0, counter(t, reg, "strata_cdc_events_rejected_total", "reason", "malformed"))

	require.NoError(t, src.Ack(context.Background(), w.txs[1].commit))
	assert.Zero(t, src.Pending())
}

// counter sums the samples of a counter whose label (if any) has the given value.
func counter(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			ok := label == ""
			for _, lp := range m.GetLabel() {
				ok = ok || (lp.GetName() == label && lp.GetValue() == value)
			}
			if ok {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// TestSourceHoldsUndecodableWithoutDeadLetters: with nowhere to put a bad record, Read
// fails naming it, and offsets of its partition never move past it, so a restart reads
// it again; other partitions and the events after it are unaffected.
func TestSourceHoldsUndecodableWithoutDeadLetters(t *testing.T) {
	t.Parallel()
	addrs := newCluster(t)
	var w workload
	first := w.add(1, 2)
	bad := &kgo.Record{Topic: customersTopic, Value: []byte(`not json`)}
	second := w.add(1, 2)
	all := slices.Concat(first, []*kgo.Record{bad}, second)
	produce(t, addrs, all...)
	w.produced(slices.Concat(first, second))

	src := open(t, testConfig(addrs, "held"), cdc.Position{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var evs []cdc.Event
	var failures []error
	for len(evs) < len(all)-1 {
		ev, err := src.Read(ctx)
		switch {
		case errors.Is(err, cdc.ErrIdle):
		case err != nil:
			require.NotErrorIs(t, err, context.DeadlineExceeded)
			failures = append(failures, err)
		default:
			evs = append(evs, ev)
		}
	}
	require.Len(t, failures, 1)
	assert.ErrorIs(t, failures[0], cdc.ErrMalformed)
	var de *cdc.DecodeError
	require.ErrorAs(t, failures[0], &de)
	assert.Equal(t, origin(bad), de.Origin)
	assert.Contains(t, failures[0].Error(), origin(bad).String())

	require.NoError(t, src.Ack(context.Background(), w.txs[1].commit))
	// Only the customers partition keeps records: the bad one and the event after it.
	assert.Equal(t, 2, src.Pending())
	require.NoError(t, src.Close())

	again := open(t, testConfig(addrs, "held"), w.txs[1].commit)
	_, err := again.Read(ctx)
	for errors.Is(err, cdc.ErrIdle) {
		_, err = again.Read(ctx)
	}
	require.ErrorIs(t, err, cdc.ErrMalformed, "the bad record is read again after a restart")
	assert.Contains(t, err.Error(), origin(bad).String())
}

// TestSourceAckConcurrentWithRead runs a reader, a downstream that acks each whole
// transaction from another goroutine, and a producer, all at once (run with -race).
// In the end every offset is committed: a new member of the group reads only what is
// produced after.
func TestSourceAckConcurrentWithRead(t *testing.T) {
	t.Parallel()
	addrs := newCluster(t)
	cfg := testConfig(addrs, "concurrent")
	cfg.IdleWait = 20 * time.Millisecond
	src := open(t, cfg, cdc.Position{})

	const nTx, rowsPerTx = 40, 3
	var w workload
	recs := w.add(nTx, rowsPerTx)
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()

	var wg sync.WaitGroup
	var produceErrs error
	wg.Add(1)
	go func() { // producer, in small batches
		defer wg.Done()
		for i := 0; i < len(recs); i += 7 {
			if err := produceErr(addrs, recs[i:min(i+7, len(recs))]...); err != nil {
				produceErrs = err
				return
			}
		}
	}()

	acks := make(chan cdc.Position, nTx)
	var ackErrs []error
	wg.Add(1)
	go func() { // downstream committer
		defer wg.Done()
		for p := range acks {
			if err := src.Ack(ctx, p); err != nil {
				ackErrs = append(ackErrs, err)
			}
		}
	}()

	// reader: a transaction is acked once all its rows arrived and all before it did.
	txOf := map[cdc.Position]int{}
	for k, tx := range w.txs {
		for _, r := range tx.rows {
			txOf[r.pos] = k
		}
	}
	seen := make([]int, nTx)
	nextAck := 0
	var evs []cdc.Event
	for len(evs) < len(recs) {
		ev, err := src.Read(ctx)
		if errors.Is(err, cdc.ErrIdle) {
			continue
		}
		require.NoError(t, err)
		evs = append(evs, ev)
		if !ev.Op.IsRowChange() {
			continue
		}
		k, ok := txOf[ev.Pos]
		require.True(t, ok, "unexpected position %s", ev.Pos)
		seen[k]++
		for nextAck < nTx && seen[nextAck] == rowsPerTx {
			acks <- w.txs[nextAck].commit
			nextAck++
		}
	}
	close(acks)
	wg.Wait()
	require.NoError(t, produceErrs)
	w.produced(recs)
	require.Empty(t, ackErrs)
	require.Equal(t, nTx, nextAck)
	rows, _ := split(evs)
	require.ElementsMatch(t, expectKeys(w.rows(0, nTx)), keysOf(rows))

	assert.ElementsMatch(t, w.origins(0, nTx), originsOf(evs))
	// The acks so far may have left the last END uncommitted (read after the last ack).
	require.NoError(t, src.Ack(ctx, w.txs[nTx-1].commit))
	assert.Zero(t, src.Pending())
	require.NoError(t, src.Close())

	more := w.add(1, 1)
	produce(t, addrs, more...)
	w.produced(more)
	again := open(t, cfg, cdc.Position{})
	got := readN(t, again, len(more))
	requireQuiet(t, again, 300*time.Millisecond)
	assert.ElementsMatch(t, w.origins(nTx, nTx+1), originsOf(got), "a new member reads only the new transaction")
}

// TestSourceMetadataWithoutData covers BEGIN/END records whose transaction delivers no
// data event (its only row is undecodable): (a) they do not hold back the transaction
// topic's offsets once a later transaction is acked; (b) reopened after a later
// transaction they are skipped with it; (c) reopened before them, they are returned once
// they waited long enough for data that never comes, in their partition's order.
func TestSourceMetadataWithoutData(t *testing.T) {
	t.Parallel()
	addrs := newCluster(t)
	var w workload
	x := w.add(1, 1)
	x[1].Value = []byte(`{"op":"c","after":`) // the transaction's only row is cut short
	y := w.add(1, 2)
	produce(t, addrs, slices.Concat(x, y)...)
	w.produced(slices.Concat(x, y))
	dlqCfg := func(group string) kafka.Config {
		cfg := testConfig(addrs, group)
		cfg.DeadLetters = cdc.NewMemoryDeadLetters()
		return cfg
	}

	// (a)
	src := open(t, dlqCfg("a"), cdc.Position{})
	evs := readN(t, src, len(x)+len(y)-1)
	requireQuiet(t, src, 200*time.Millisecond)
	assert.ElementsMatch(t, slices.Concat([]cdc.Origin{w.txs[0].begin, w.txs[0].end}, w.origins(1, 2)), originsOf(evs))
	require.NoError(t, src.Ack(context.Background(), w.txs[1].commit))
	assert.Zero(t, src.Pending(), "the metadata of the dead-lettered transaction is committed with the next one")
	require.NoError(t, src.Close())

	z := w.add(1, 1)
	produce(t, addrs, z...)
	w.produced(z)

	// (b)
	src = open(t, dlqCfg("b"), w.txs[1].commit)
	evs = readN(t, src, len(z))
	requireQuiet(t, src, 200*time.Millisecond)
	assert.ElementsMatch(t, w.origins(2, 3), originsOf(evs))
	require.NoError(t, src.Ack(context.Background(), w.txs[2].commit))
	assert.Zero(t, src.Pending())
	require.NoError(t, src.Close())

	// (c)
	cfg := dlqCfg("c")
	cfg.IdleWait = 20 * time.Millisecond
	src = open(t, cfg, cdc.Position{Major: 1})
	start := time.Now()
	evs = readN(t, src, len(x)+len(y)+len(z)-1)
	requireQuiet(t, src, 200*time.Millisecond)
	assert.ElementsMatch(t, slices.Concat([]cdc.Origin{w.txs[0].begin, w.txs[0].end}, w.origins(1, 3)), originsOf(evs))
	assert.Greater(t, time.Since(start), 2*time.Second, "held for at least the hold limit")
	for stream, offs := range byStream(evs) {
		assert.True(t, slices.IsSorted(offs), "offsets of %s out of order: %v", stream, offs)
	}
}

// TestSourceStartOffsetLast: a new group with LastOffset skips what was produced before
// it joined.
func TestSourceStartOffsetLast(t *testing.T) {
	t.Parallel()
	addrs := newCluster(t)
	var w workload
	old := w.add(1, 2)
	produce(t, addrs, old...)
	w.produced(old)

	cfg := testConfig(addrs, "last")
	cfg.StartOffset = kafka.LastOffset
	src := open(t, cfg, cdc.Position{})
	// The group joins asynchronously: keep producing until something arrives; the
	// first event must be one of the new transactions, never the old one.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var ev cdc.Event
	for {
		recs := w.add(1, 2)
		produce(t, addrs, recs...)
		w.produced(recs)
		var err error
		ev, err = src.Read(ctx)
		if !errors.Is(err, cdc.ErrIdle) {
			require.NoError(t, err)
			break
		}
	}
	assert.NotContains(t, w.origins(0, 1), ev.Origin)
	assert.Contains(t, w.origins(1, len(w.txs)), ev.Origin)
}

func TestConfigValidate(t *testing.T) {
	good := kafka.Config{Brokers: []string{"127.0.0.1:9092"}, Topics: []string{"a", "b"}, TxTopic: "tx", Group: "g"}
	require.NoError(t, good.Validate())
	for _, tc := range []struct {
		name  string
		edit  func(*kafka.Config)
		field string
	}{
		{"no brokers", func(c *kafka.Config) { c.Brokers = nil }, "Brokers"},
		{"broker without port", func(c *kafka.Config) { c.Brokers = []string{"localhost"} }, "Brokers[0]"},
		{"no topics", func(c *kafka.Config) { c.Topics = nil }, "Topics"},
		{"empty topic", func(c *kafka.Config) { c.Topics = []string{"a", ""} }, "Topics[1]"},
		{"bad topic character", func(c *kafka.Config) { c.Topics = []string{"a/b"} }, "Topics[0]"},
		{"duplicate topic", func(c *kafka.Config) { c.Topics = []string{"a", "a"} }, "Topics[1]"},
		{"tx topic among topics", func(c *kafka.Config) { c.TxTopic = "a" }, "TxTopic"},
		{"bad tx topic", func(c *kafka.Config) { c.TxTopic = ".." }, "TxTopic"},
		{"no group", func(c *kafka.Config) { c.Group = "" }, "Group"},
		{"negative idle wait", func(c *kafka.Config) { c.IdleWait = -time.Second }, "IdleWait"},
		{"unknown start offset", func(c *kafka.Config) { c.StartOffset = 7 }, "StartOffset"},
		{"negative session timeout", func(c *kafka.Config) { c.SessionTimeout = -1 }, "SessionTimeout"},
		{"heartbeat not below session", func(c *kafka.Config) {
			c.SessionTimeout, c.HeartbeatInterval = time.Second, time.Second
		}, "HeartbeatInterval"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.edit(&c)
			err := c.Validate()
			require.ErrorIs(t, err, kafka.ErrConfig)
			assert.Contains(t, err.Error(), tc.field)
			_, err = kafka.NewSource(c)
			require.ErrorIs(t, err, kafka.ErrConfig)
		})
	}
}

func TestConfigEnsureDefaults(t *testing.T) {
	var c kafka.Config
	c.EnsureDefaults()
	assert.NotNil(t, c.Decoder)
	assert.NotNil(t, c.Logger)
	assert.Equal(t, kafka.DefaultIdleWait, c.IdleWait)
	assert.Equal(t, kafka.DefaultSessionTimeout, c.SessionTimeout)
	assert.Equal(t, kafka.DefaultRebalanceTimeout, c.RebalanceTimeout)
	assert.Equal(t, kafka.DefaultHeartbeatInterval, c.HeartbeatInterval)
	assert.Equal(t, kafka.FirstOffset, c.StartOffset)

	c = kafka.Config{IdleWait: time.Second}
	c.EnsureDefaults()
	assert.Equal(t, time.Second, c.IdleWait, "set fields are kept")
}

func TestParseStartOffset(t *testing.T) {
	for _, o := range []kafka.StartOffset{kafka.FirstOffset, kafka.LastOffset} {
		got, err := kafka.ParseStartOffset(o.String())
		require.NoError(t, err)
		assert.Equal(t, o, got)
	}
	_, err := kafka.ParseStartOffset("newest")
	require.ErrorIs(t, err, kafka.ErrConfig)
}

// TestSourceLifecycleErrors: a missing topic fails Open by name; Read and Ack before Open
// and after Close fail with the package sentinels; Close twice is harmless.
func TestSourceLifecycleErrors(t *testing.T) {
	t.Parallel()
	addrs := newCluster(t)
	ctx := context.Background()

	cfg := testConfig(addrs, "missing")
	cfg.Topics = []string{ordersTopic, "pg.public.nosuch"}
	src, err := kafka.NewSource(cfg)
	require.NoError(t, err)
	err = src.Open(ctx, cdc.Position{})
	require.ErrorIs(t, err, kafka.ErrTopic)
	assert.Contains(t, err.Error(), "pg.public.nosuch")

	src, err = kafka.NewSource(testConfig(addrs, "life"))
	require.NoError(t, err)
	_, err = src.Read(ctx)
	require.ErrorIs(t, err, kafka.ErrNotOpen)
	require.ErrorIs(t, src.Ack(ctx, cdc.Position{Major: 1}), kafka.ErrNotOpen)
	require.NoError(t, src.Open(ctx, cdc.Position{}))
	require.Error(t, src.Open(ctx, cdc.Position{}), "a second Open")
	require.NoError(t, src.Close())
	require.NoError(t, src.Close())
	_, err = src.Read(ctx)
	require.ErrorIs(t, err, kafka.ErrClosed)
	require.ErrorIs(t, src.Ack(ctx, cdc.Position{Major: 1}), kafka.ErrClosed)
	require.ErrorIs(t, src.Open(ctx, cdc.Position{}), kafka.ErrClosed)
}

// txSummary is what a pipeline applies from one transaction.
type txSummary struct {
	ID        string
	Positions []cdc.Position
}

func summarize(tx cdc.Tx) txSummary {
	s := txSummary{ID: tx.ID}
	for _, ev := range tx.Events {
		s.Positions = append(s.Positions, ev.Pos)
	}
	return s
}

// TestSourceWithGeneratorAndAssembler runs the generator's Debezium records (with
// transaction metadata) through Kafka, this source and the assembler, and crashes the
// pipeline half-way: downstream has applied 40 transactions, but offsets were acked for
// only the first 25. Reopened from the last applied commit, the second run yields exactly
// the remaining transactions: together the two runs apply every transaction the generator
// made, once, in commit order, with nothing dead-lettered.
func TestSourceWithGeneratorAndAssembler(t *testing.T) {
	t.Parallel()
	t.Run("Read", func(t *testing.T) { t.Parallel(); testSourceWithGenerator(t, false) })
	// ReadBatch: the same transactions, with records fetched in runs
	t.Run("ReadBatch", func(t *testing.T) { t.Parallel(); testSourceWithGenerator(t, true) })
}

func testSourceWithGenerator(t *testing.T, batch bool) {
	genCfg := cdc.GeneratorConfig{Seed: 7, Events: 300, TxMetadata: true}
	gen := cdc.NewGenerator(genCfg)
	var recs []*kgo.Record
	for {
		rec, err := gen.NextRecord()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		rec = rec.Clone() // the generator reuses its buffers
		kr := &kgo.Record{Topic: rec.Topic, Partition: rec.Partition, Key: rec.Key, Value: rec.Value, Timestamp: rec.Time}
		for _, h := range rec.Headers {
			kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
		}
		recs = append(recs, kr)
	}
	topics := map[string]bool{}
	for _, r := range recs {
		topics[r.Topic] = true
	}
	require.True(t, topics["gen.transaction"], "the generator wrote transaction metadata")
	var dataTopics []string
	for tp := range topics {
		if tp != "gen.transaction" {
			dataTopics = append(dataTopics, tp)
		}
	}
	slices.Sort(dataTopics)

	// What the generator itself yields as a Source, assembled: the expected transactions.
	ref := cdc.NewGenerator(genCfg)
	require.NoError(t, ref.Open(context.Background(), cdc.Position{}))
	var want []txSummary
	runPipeline(t, ref, func(tx cdc.Tx) bool { want = append(want, summarize(tx)); return true }, nil)
	require.Greater(t, len(want), 60)
	var longest *int // the most events one ReadBatch returned
	if batch {
		longest = new(int)
	}

	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, slices.Concat(dataTopics, []string{"gen.transaction"})...))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	addrs := c.ListenAddrs()
	produce(t, addrs, recs...)

	cfg := testConfig(addrs, "pipeline")
	cfg.Topics, cfg.TxTopic = dataTopics, "gen.transaction"
	cfg.DeadLetters = cdc.NewMemoryDeadLetters()

	const applied, acked = 40, 25
	var got []txSummary
	var lastApplied cdc.Position
	first := open(t, cfg, cdc.Position{})
	runPipelineBatch(t, first, func(tx cdc.Tx) bool {
		got = append(got, summarize(tx))
		lastApplied = tx.Commit
		if len(got) <= acked {
			require.NoError(t, first.Ack(context.Background(), tx.Commit))
		}
		return len(got) < applied
	}, nil, longest)
	require.NoError(t, first.Close()) // the crash: offsets stop at transaction 25

	second := open(t, cfg, lastApplied)
	dups := int64(0)
	runPipelineBatch(t, second, func(tx cdc.Tx) bool {
		got = append(got, summarize(tx))
		require.NoError(t, second.Ack(context.Background(), tx.Commit))
		return len(got) < len(want)
	}, &dups, longest)
	if batch {
		// everything was produced before reading: records already fetched come in runs
		// (a batch of metadata released with its event has a few, not half a run)
		assert.GreaterOrEqual(t, *longest, cdc.DecodeAhead/2)
	}
	assert.Zero(t, dups, "the source returned nothing at or before the reopen position")
	require.Equal(t, len(want), len(got))
	assert.Equal(t, want, got)
	assert.Zero(t, cfg.DeadLetters.(*cdc.MemoryDeadLetters).Len())
	assert.Zero(t, second.Pending(), "everything acked is committed")
}

// runPipeline feeds src into an assembler and hands each whole transaction to apply
// until apply returns false, or until the source is idle with nothing left open.
func runPipeline(t *testing.T, src cdc.Source, apply func(cdc.Tx) bool, dups *int64) {
	t.Helper()
	runPipelineBatch(t, src, apply, dups, nil)
}

// runPipelineBatch is runPipeline reading with ReadBatch when longest is not nil; it
// records there the most events a batch had.
func runPipelineBatch(t *testing.T, src cdc.Source, apply func(cdc.Tx) bool, dups *int64, longest *int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dls := cdc.NewMemoryDeadLetters()
	asm := cdc.NewAssembler(cdc.AssemblerConfig{DeadLetters: dls, Logger: quietLogger()})
	defer func() {
		assert.Zero(t, dls.Len(), "assembler dead letters: %v", dls.All())
		if dups != nil {
			*dups = asm.Duplicates()
		}
	}()
	for {
		var evs []cdc.Event
		var err error
		if longest != nil {
			room := asm.Reserve(cdc.DecodeAhead)
			var n int
			n, err = src.(cdc.BatchReader).ReadBatch(ctx, room)
			evs = room[:n]
			*longest = max(*longest, n)
		} else {
			var ev cdc.Event
			if ev, err = src.Read(ctx); err == nil {
				evs = []cdc.Event{ev}
			}
		}
		switch {
		case errors.Is(err, io.EOF):
			require.NoError(t, asm.Flush(ctx))
		case errors.Is(err, cdc.ErrIdle):
			require.NoError(t, asm.Idle(ctx))
		case err == nil:
			for i := range evs {
				require.NoError(t, asm.Add(ctx, &evs[i]))
			}
		default:
			require.NoError(t, err)
		}
		for tx := range asm.Ready() {
			if !apply(tx) {
				return
			}
		}
		if errors.Is(err, io.EOF) {
			return
		}
	}
}

// BenchmarkSourceRead measures reading, decoding and acking the generator's records
// through the in-process broker (so it includes kfake's cost, not a real network).
func BenchmarkSourceRead(b *testing.B) {
	const events = 20000
	genCfg := cdc.GeneratorConfig{Seed: 3, Events: events, TxMetadata: true}
	c, err := kfake.NewCluster(kfake.NumBrokers(1),
		kfake.SeedTopics(1, "gen.public.customers", "gen.public.orders", "gen.public.payments", "gen.transaction"))
	require.NoError(b, err)
	defer c.Close()
	require.NoError(b, produceGenerated(context.Background(), c.ListenAddrs(), genCfg))
	group := 0
	for _, batch := range []bool{false, true} {
		name := map[bool]string{false: "Read", true: "ReadBatch"}[batch]
		b.Run(name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				group++
				src, err := kafka.NewSource(kafka.Config{
					Brokers: c.ListenAddrs(),
					Topics:  []string{"gen.public.customers", "gen.public.orders", "gen.public.payments"},
					TxTopic: "gen.transaction",
					Group:   fmt.Sprintf("bench-%d", group),
					Logger:  quietLogger(),
				})
				require.NoError(b, err)
				ctx := context.Background()
				require.NoError(b, src.Open(ctx, cdc.Position{}))
				rows := 0
				room := make([]cdc.Event, cdc.DecodeAhead)
				for rows < events {
					var evs []cdc.Event
					if batch {
						var n int
						n, err = src.ReadBatch(ctx, room)
						evs = room[:n]
					} else {
						var ev cdc.Event
						ev, err = src.Read(ctx)
						evs = []cdc.Event{ev}
					}
					if errors.Is(err, cdc.ErrIdle) {
						continue
					}
					require.NoError(b, err)
					for _, ev := range evs {
						if ev.Op.IsRowChange() {
							rows++
							if rows%100 == 0 {
								require.NoError(b, src.Ack(ctx, ev.Pos))
							}
						}
					}
				}
				require.NoError(b, src.Close())
			}
			b.ReportMetric(float64(events*b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// A run that drains the topics and stops at the first ErrIdle (ingest --exit-when-idle)
// must not stop while the group is still joining: the records present at Open are read
// before the source reports idle, even when joining takes many IdleWaits.
func TestSourceNotIdleBeforeBacklogRead(t *testing.T) {
	t.Parallel()
	addrs := newCluster(t)
	var w workload
	recs := w.add(20, 3)
	produce(t, addrs, recs...)
	w.produced(recs)

	cfg := testConfig(addrs, "drain")
	cfg.IdleWait = 10 * time.Millisecond // far shorter than a group join
	src := open(t, cfg, cdc.Position{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n := 0
	for {
		_, err := src.Read(ctx)
		if errors.Is(err, cdc.ErrIdle) {
			break
		}
		require.NoError(t, err)
		n++
	}
	require.Equal(t, len(recs), n, "events read before the first ErrIdle")
}
