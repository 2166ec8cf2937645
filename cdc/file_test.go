package cdc_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/cdc"
)

// pgLine is a PostgreSQL create of row id, committed after commitLSN at event LSN lsn.
func pgLine(id int, commitLSN, lsn uint64) string {
	return fmt.Sprintf(`{"before":null,"after":{"id":%d,"name":"n%d"},"source":{"connector":"postgresql","db":"d",`+
		`"schema":"public","table":"t","txId":%d,"lsn":%d,"sequence":"[\"%d\",\"%d\"]","ts_ms":1},"op":"c","ts_ms":2}`,
		id, id, 500+id, lsn, commitLSN, lsn)
}

func writeLines(t *testing.T, name string, lines ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644))
	return path
}

// readSource reads src to io.EOF.
func readSource(t *testing.T, src cdc.Source) []cdc.Event {
	t.Helper()
	var out []cdc.Event
	for {
		ev, err := src.Read(context.Background())
		if err == io.EOF {
			return out
		}
		require.NoError(t, err)
		out = append(out, ev)
	}
}

// gatherCounter sums the counter named name across its labels.
func gatherCounter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

func afterIDs(evs []cdc.Event) []int64 {
	out := make([]int64, len(evs))
	for i, ev := range evs {
		out[i] = ev.After[0].AsInt()
	}
	return out
}

func TestFileSourceReadsRejectsAndResumes(t *testing.T) {
	path := writeLines(t, "orders.jsonl",
		pgLine(1, 100, 110),
		pgLine(2, 100, 120),
		`{"before":null,"after":{"id":`, // line 3: not JSON
		`{"topic":"pg.public.t","partition":0,"offset":77,"key":{"id":3},"value":`+pgLine(3, 200, 210)+`}`,
		`{"topic":"pg.public.t","partition":"zero","offset":78,"value":null}`, // line 5: a bad record field
		pgLine(4, 200, 220),
		pgLine(5, 300, 310),
	)
	reg := prometheus.NewRegistry()
	m := cdc.NewMetrics(reg)
	dls := cdc.NewMemoryDeadLetters()
	ctx := context.Background()

	src := cdc.NewFileSource(path, cdc.FileSourceConfig{DeadLetters: dls, Metrics: m})
	require.NoError(t, src.Open(ctx, cdc.Position{}))
	evs := readSource(t, src)
	require.Equal(t, []int64{1, 2, 3, 4, 5}, afterIDs(evs))
	assert.Equal(t, "public.t", evs[0].Table)
	assert.Equal(t, cdc.Position{Major: 100, Minor: 110}, evs[0].Pos)
	assert.Equal(t, cdc.Origin{Topic: "orders", Partition: 0, Offset: 1}, evs[1].Origin, "bare values: file name, line")
	assert.Equal(t, cdc.Origin{Topic: "pg.public.t", Partition: 0, Offset: 77}, evs[2].Origin)
	require.NotNil(t, evs[2].Key, "a record's key is decoded")

	bad := dls.All()
	require.Len(t, bad, 2)
	assert.True(t, strings.HasPrefix(bad[0].Reason, path+":3: "), bad[0].Reason)
	assert.Contains(t, bad[0].Reason, "malformed")
	assert.Equal(t, `{"before":null,"after":{"id":`, string(bad[0].Record.Value), "raw bytes kept")
	assert.Equal(t, cdc.Origin{Topic: "orders", Offset: 2}, bad[0].Record.Origin())
	assert.True(t, strings.HasPrefix(bad[1].Reason, path+":5: "), bad[1].Reason)
	assert.Contains(t, bad[1].Reason, "field partition")
	assert.Equal(t, 2.0, gatherCounter(t, reg, "strata_cdc_dead_letters_total"), "dead letters are counted")

	assert.Equal(t, cdc.Position{}, src.Acked())
	require.NoError(t, src.Ack(ctx, evs[2].Pos))
	assert.Equal(t, evs[2].Pos, src.Acked())
	require.NoError(t, src.Close())
	require.NoError(t, src.Close(), "Close twice is fine")
	_, err := src.Read(ctx)
	assert.Error(t, err, "read after close")

	// Resuming after the acked position returns exactly the events after it.
	src = cdc.NewFileSource(path, cdc.FileSourceConfig{DeadLetters: cdc.NewMemoryDeadLetters()})
	require.NoError(t, src.Open(ctx, evs[2].Pos))
	assert.Equal(t, evs[2].Pos, src.Acked())
	rest := readSource(t, src)
	assert.Equal(t, []int64{4, 5}, afterIDs(rest))
	assert.Equal(t, evs[3].Pos, rest[0].Pos)
	require.NoError(t, src.Close())
}

func TestFileSourceResumesEventsWithoutPositions(t *testing.T) {
	var lines []string
	for i := 1; i <= 5; i++ {
		lines = append(lines, fmt.Sprintf(`{"before":null,"after":{"id":%d},"op":"c"}`, i))
	}
	path := writeLines(t, "nopos.jsonl", lines...)
	ctx := context.Background()
	src := cdc.NewFileSource(path, cdc.FileSourceConfig{})
	require.NoError(t, src.Open(ctx, cdc.Position{}))
	evs := readSource(t, src)
	require.Len(t, evs, 5)
	for i, ev := range evs {
		assert.Equal(t, cdc.Position{Seq: uint64(i + 1)}, ev.Pos, "filled in file order")
	}
	require.NoError(t, src.Close())

	src = cdc.NewFileSource(path, cdc.FileSourceConfig{})
	require.NoError(t, src.Open(ctx, evs[1].Pos))
	assert.Equal(t, []int64{3, 4, 5}, afterIDs(readSource(t, src)))
	require.NoError(t, src.Close())
}

func TestFileSourceWithoutDeadLettersFails(t *testing.T) {
	path := writeLines(t, "x.jsonl", pgLine(1, 1, 1), `{"op":"c","after":{"id":1},"before":null,"source":{"lsn":"x"}`)
	src := cdc.NewFileSource(path, cdc.FileSourceConfig{})
	ctx := context.Background()
	require.NoError(t, src.Open(ctx, cdc.Position{}))
	defer src.Close()
	_, err := src.Read(ctx)
	require.NoError(t, err)
	_, err = src.Read(ctx)
	require.Error(t, err, "nowhere to put the record, so it is not dropped silently")
	var de *cdc.DecodeError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, "source.lsn", de.Field)
	assert.ErrorIs(t, err, cdc.ErrType)
	assert.Contains(t, err.Error(), path+":2: ")
}

func TestFileSourceKeysGoToDeadLetters(t *testing.T) {
	path := writeLines(t, "keys.jsonl", `{"id":1004}`, pgLine(1, 1, 1))
	dls := cdc.NewMemoryDeadLetters()
	src := cdc.NewFileSource(path, cdc.FileSourceConfig{DeadLetters: dls})
	require.NoError(t, src.Open(context.Background(), cdc.Position{}))
	defer src.Close()
	assert.Equal(t, []int64{1}, afterIDs(readSource(t, src)))
	require.Equal(t, 1, dls.Len())
	assert.Contains(t, dls.All()[0].Reason, path+":1: ")
	assert.Contains(t, dls.All()[0].Reason, cdc.ErrNotEvent.Error())
}

func TestFileSourceFollow(t *testing.T) {
	path := writeLines(t, "tail.jsonl", pgLine(1, 100, 110))
	ctx := context.Background()
	src := cdc.NewFileSource(path, cdc.FileSourceConfig{Follow: true})
	require.NoError(t, src.Open(ctx, cdc.Position{}))
	defer src.Close()

	ev, err := src.Read(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(1), ev.After[0].AsInt())
	_, err = src.Read(ctx)
	require.ErrorIs(t, err, cdc.ErrIdle)

	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	defer f.Close()
	second, third := pgLine(2, 100, 120), pgLine(3, 200, 210)
	_, err = f.WriteString(second + "\n" + third[:40])
	require.NoError(t, err)
	ev, err = src.Read(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(2), ev.After[0].AsInt())
	_, err = src.Read(ctx)
	require.ErrorIs(t, err, cdc.ErrIdle, "a line still being written waits")

	_, err = f.WriteString(third[40:] + "\n")
	require.NoError(t, err)
	ev, err = src.Read(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(3), ev.After[0].AsInt())
	assert.Equal(t, cdc.Position{Major: 200, Minor: 210}, ev.Pos)
	_, err = src.Read(ctx)
	require.ErrorIs(t, err, cdc.ErrIdle)

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = src.Read(cctx)
	assert.ErrorIs(t, err, context.Canceled)
}

func TestFileSourceOpenErrors(t *testing.T) {
	ctx := context.Background()
	src := cdc.NewFileSource(filepath.Join(t.TempDir(), "nope.jsonl"), cdc.FileSourceConfig{})
	err := src.Open(ctx, cdc.Position{})
	assert.True(t, errors.Is(err, os.ErrNotExist), "%v", err)
	_, err = src.Read(ctx)
	assert.Error(t, err, "read before a successful open")

	src = cdc.NewFileSource(writeLines(t, "a.jsonl", pgLine(1, 1, 1)), cdc.FileSourceConfig{})
	require.NoError(t, src.Open(ctx, cdc.Position{}))
	assert.Error(t, src.Open(ctx, cdc.Position{}), "already open")
	require.NoError(t, src.Close())
	assert.ErrorIs(t, src.Open(ctx, cdc.Position{}), os.ErrClosed)
}

func ExampleFileSource() {
	dir, _ := os.MkdirTemp("", "strata-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "customers.jsonl")
	_ = os.WriteFile(path, []byte(
		`{"before":null,"after":{"id":1,"name":"Anne"},"source":{"connector":"postgresql","db":"inventory","schema":"public","table":"customers","lsn":24023128},"op":"c"}`+"\n"+
			`not json`+"\n"+
			`{"before":{"id":1},"after":{"id":1,"name":"Anne Marie"},"source":{"connector":"postgresql","db":"inventory","schema":"public","table":"customers","lsn":24023200},"op":"u"}`+"\n"), 0o644)

	ctx := context.Background()
	dls := cdc.NewMemoryDeadLetters()
	src := cdc.NewFileSource(path, cdc.FileSourceConfig{DeadLetters: dls})
	if err := src.Open(ctx, cdc.Position{}); err != nil {
		fmt.Println(err)
		return
	}
	defer src.Close()
	for {
		ev, err := src.Read(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(ev.Op, ev.Table, ev.Pos, ev.After)
		_ = src.Ack(ctx, ev.Pos)
	}
	fmt.Println("dead letters:", dls.Len(), "acked:", src.Acked())
	// Output:
	// create public.customers 16e9058/16e9058/0 (1, "Anne")
	// update public.customers 16e90a0/16e90a0/0 (1, "Anne Marie")
	// dead letters: 1 acked: 16e90a0/16e90a0/0
}

// writeGenerated writes n generated data events (with transaction metadata) as record
// JSON lines and returns the path and the records.
func writeGenerated(t testing.TB, n int) (string, []cdc.Record) {
	t.Helper()
	g := cdc.NewGenerator(cdc.GeneratorConfig{Seed: 3, Events: n, TxMetadata: true})
	var recs []cdc.Record
	var buf []byte
	for {
		rec, err := g.NextRecord()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		recs = append(recs, rec.Clone())
		buf = cdc.AppendRecordJSON(buf, &rec)
		buf = append(buf, '\n')
	}
	path := filepath.Join(t.TempDir(), "gen.jsonl")
	require.NoError(t, os.WriteFile(path, buf, 0o644))
	return path, recs
}

// TestFileSourceReplaysRecords writes generated Kafka records to record JSON and reads
// them back through the file source: the events are those of decoding the records
// directly, in the same order with the same positions and origins.
func TestFileSourceReplaysRecords(t *testing.T) {
	path, recs := writeGenerated(t, 300)
	dec := cdc.NewDebeziumDecoder(cdc.DebeziumConfig{})
	var filler cdc.PositionFiller
	var want []string
	for i := range recs {
		ev, err := dec.Decode(&recs[i])
		require.NoError(t, err)
		filler.Fill(&ev)
		want = append(want, ev.Origin.String()+" "+string(cdc.AppendEventJSON(nil, &ev)))
	}

	src := cdc.NewFileSource(path, cdc.FileSourceConfig{})
	require.NoError(t, src.Open(context.Background(), cdc.Position{}))
	defer src.Close()
	var got []string
	for _, ev := range readSource(t, src) {
		got = append(got, ev.Origin.String()+" "+string(cdc.AppendEventJSON(nil, &ev)))
	}
	require.Len(t, got, len(want))
	assert.Equal(t, want, got)
}

func BenchmarkFileSource(b *testing.B) {
	path, recs := writeGenerated(b, 20000)
	st, err := os.Stat(path)
	require.NoError(b, err)
	ctx := context.Background()
	var events int
	for b.Loop() {
		src := cdc.NewFileSource(path, cdc.FileSourceConfig{})
		require.NoError(b, src.Open(ctx, cdc.Position{}))
		events = 0
		for {
			_, err := src.Read(ctx)
			if err == io.EOF {
				break
			}
			require.NoError(b, err)
			events++
		}
		require.NoError(b, src.Close())
	}
	require.Equal(b, len(recs), events)
	b.SetBytes(st.Size())
	b.ReportMetric(float64(events)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func ExampleRecordReader() {
	// One value per line; a file whose first value spans several lines is read as
	// pretty-printed values instead.
	in := strings.NewReader(`{"topic":"pg.public.t","partition":0,"offset":7,"key":{"id":1},"value":{"op":"d"}}
{"schema":null,"payload":null}
not JSON: the decoder will reject it

{"before":null,"after":{"id":2},"op":"c"}
`)
	rr := cdc.NewRecordReader(in, cdc.RecordReaderConfig{Name: "dir/events.jsonl"})
	for {
		rec, line, err := rr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("line %d: %s key=%s value=%s\n", line, rec.Origin(), rec.Key, rec.Value)
	}
	// Output:
	// line 1: pg.public.t/0@7 key={"id":1} value={"op":"d"}
	// line 2: events/0@1 key= value={"schema":null,"payload":null}
	// line 3: events/0@2 key= value=not JSON: the decoder will reject it
	// line 5: events/0@4 key= value={"before":null,"after":{"id":2},"op":"c"}
}

func ExampleAppendRecordJSON() {
	rec := cdc.Record{Topic: "t", Offset: 1, Key: []byte(`{"id":1}`), Value: []byte{0x62, 0x67, 0xf2}}
	line := cdc.AppendRecordJSON(nil, &rec)
	fmt.Println(string(line))
	back, _ := cdc.ParseRecordJSON(line)
	fmt.Printf("% x\n", back.Value)
	// Output:
	// {"topic":"t","partition":0,"offset":1,"key":{"id":1},"value_b64":"Ymfy"}
	// 62 67 f2
}

// readBatches reads src to io.EOF through ReadBatch, copying the events out.
func readBatches(t *testing.T, src cdc.BatchReader) []cdc.Event {
	t.Helper()
	var out []cdc.Event
	for {
		evs, err := readRun(context.Background(), src)
		if err == io.EOF {
			return out
		}
		require.NoError(t, err)
		require.NotEmpty(t, evs)
		out = append(out, evs...)
	}
}

// ReadBatch returns what Read does, in runs: decoded records, rejected ones in dead
// letters, a resumed read, and a record without its dead-letter store failing after
// the events before it.
func TestFileSourceReadBatch(t *testing.T) {
	path, _ := writeGenerated(t, 300)
	render := func(evs []cdc.Event) []string {
		var out []string
		for i := range evs {
			out = append(out, evs[i].Origin.String()+" "+string(cdc.AppendEventJSON(nil, &evs[i])))
		}
		return out
	}
	ctx := context.Background()
	src := cdc.NewFileSource(path, cdc.FileSourceConfig{})
	require.NoError(t, src.Open(ctx, cdc.Position{}))
	want := readSource(t, src)
	require.NoError(t, src.Close())
	src = cdc.NewFileSource(path, cdc.FileSourceConfig{})
	require.NoError(t, src.Open(ctx, cdc.Position{}))
	got := readBatches(t, src)
	require.NoError(t, src.Close())
	require.Greater(t, len(want), cdc.DecodeAhead)
	assert.Equal(t, render(want), render(got))

	src = cdc.NewFileSource(path, cdc.FileSourceConfig{})
	require.NoError(t, src.Open(ctx, want[100].Pos))
	resumed := readSource(t, src)
	require.NoError(t, src.Close())
	src = cdc.NewFileSource(path, cdc.FileSourceConfig{})
	require.NoError(t, src.Open(ctx, want[100].Pos))
	assert.Equal(t, render(resumed), render(readBatches(t, src)), "resumed")
	require.NoError(t, src.Close())

	lines := make([]string, 0, 40)
	for i := 1; i <= 40; i++ {
		lines = append(lines, pgLine(i, uint64(100*i), uint64(100*i+10)))
	}
	lines[9] = `{"before":null,"after":{"id":` // line 10: not JSON
	bad := writeLines(t, "t.jsonl", lines...)
	dls := cdc.NewMemoryDeadLetters()
	src = cdc.NewFileSource(bad, cdc.FileSourceConfig{DeadLetters: dls})
	require.NoError(t, src.Open(ctx, cdc.Position{}))
	evs := readBatches(t, src)
	assert.Len(t, evs, 39)
	assert.Equal(t, 1, dls.Len())
	require.NoError(t, src.Close())

	src = cdc.NewFileSource(bad, cdc.FileSourceConfig{})
	require.NoError(t, src.Open(ctx, cdc.Position{}))
	evs, err := readRun(ctx, src)
	require.NoError(t, err)
	assert.Equal(t, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9}, afterIDs(evs), "the events before the bad record")
	_, err = readRun(ctx, src)
	require.ErrorIs(t, err, cdc.ErrMalformed, "then its failure")
	evs, err = readRun(ctx, src)
	require.NoError(t, err)
	assert.Equal(t, int64(11), evs[0].After[0].AsInt(), "and reading goes on after it")
	require.NoError(t, src.Close())
}

// assembleAll reads src to io.EOF through an assembler and returns the events read and
// the transactions assembled.
func assembleAll(t *testing.T, src cdc.Source) ([]cdc.Event, []cdc.Tx, *cdc.MemoryDeadLetters) {
	t.Helper()
	ctx := context.Background()
	dls := cdc.NewMemoryDeadLetters()
	asm := cdc.NewAssembler(cdc.AssemblerConfig{DeadLetters: dls})
	evs := readSource(t, src)
	for i := range evs {
		require.NoError(t, asm.Add(ctx, &evs[i]))
	}
	require.NoError(t, asm.Flush(ctx))
	var txs []cdc.Tx
	for tx := range asm.Ready() {
		txs = append(txs, tx)
	}
	return evs, txs, dls
}

// Resuming a file with transaction metadata at a transaction's commit skips that
// transaction's BEGIN and END with its events and keeps the later ones', so the
// transactions assembled after a resume are the rest of those of a whole read, cut by
// their END counts as before.
func TestFileSourceResumesWithTransactionMetadata(t *testing.T) {
	path, _ := writeGenerated(t, 300)
	full := cdc.NewFileSource(path, cdc.FileSourceConfig{})
	require.NoError(t, full.Open(context.Background(), cdc.Position{}))
	all, txs, dls := assembleAll(t, full)
	require.Zero(t, dls.Len())
	require.Greater(t, len(txs), 20)
	for _, k := range []int{0, 1, len(txs) / 2, len(txs) - 2} {
		src := cdc.NewFileSource(path, cdc.FileSourceConfig{})
		require.NoError(t, src.Open(context.Background(), txs[k].Commit))
		evs, rest, dls := assembleAll(t, src)
		require.Zero(t, dls.Len(), "resumed after transaction %d", k)
		require.Equal(t, len(txs)-k-1, len(rest), "resumed after transaction %d", k)
		for i, tx := range rest {
			want := txs[k+1+i]
			require.Equal(t, want.ID, tx.ID)
			require.Equal(t, want.Commit, tx.Commit)
			require.Len(t, tx.Events, len(want.Events))
		}
		// exactly the records after the END of transaction k: the next one's BEGIN first
		end := slices.IndexFunc(all, func(ev cdc.Event) bool {
			return ev.Op == cdc.OpTxEnd && ev.TxKey() == txs[k].Events[0].TxKey()
		})
		require.GreaterOrEqual(t, end, 0)
		require.Equal(t, len(all)-end-1, len(evs))
		require.Equal(t, cdc.OpTxBegin, evs[0].Op)
		for i := range evs {
			require.Equal(t, all[end+1+i].Op, evs[i].Op)
			require.Equal(t, all[end+1+i].Pos, evs[i].Pos)
		}
	}
}

// With transactions interleaved in the file, the BEGIN of a later transaction read
// before the resume position is kept, and the END of an earlier one read after it is
// dropped.
func TestFileSourceResumesInterleavedTransactionMetadata(t *testing.T) {
	meta := func(status, id string) string {
		return fmt.Sprintf(`{"topic":"srv.transaction","value":{"status":%q,"id":%q,"event_count":1,"data_collections":[{"data_collection":"public.t","event_count":1}]}}`, status, id)
	}
	data := func(id int, commit uint64) string {
		return fmt.Sprintf(`{"topic":"srv.public.t","value":{"before":null,"after":{"id":%d},"source":{"connector":"postgresql","db":"d","schema":"public","table":"t","txId":%d,"lsn":%d,"sequence":"[\"%d\",\"%d\"]","ts_ms":1},"op":"c","transaction":{"id":"%d:%d","total_order":1,"data_collection_order":1}}}`,
			id, 500+id, commit, commit, commit, 500+id, commit)
	}
	path := writeLines(t, "interleaved.jsonl",
		meta("BEGIN", "501:100"), meta("BEGIN", "502:200"), data(1, 100), // B's BEGIN before A's event
		data(2, 200), meta("END", "501:100"), meta("END", "502:200"), // A's END after B's event
		meta("BEGIN", "503:300"), data(3, 300), meta("END", "503:300"))
	full := cdc.NewFileSource(path, cdc.FileSourceConfig{})
	require.NoError(t, full.Open(context.Background(), cdc.Position{}))
	_, txs, dls := assembleAll(t, full)
	require.Zero(t, dls.Len())
	require.Len(t, txs, 3)
	src := cdc.NewFileSource(path, cdc.FileSourceConfig{})
	require.NoError(t, src.Open(context.Background(), txs[0].Commit))
	evs, rest, dls := assembleAll(t, src)
	require.Zero(t, dls.Len())
	require.Len(t, rest, 2)
	assert.Equal(t, []int64{2}, afterIDs(rest[0].Events))
	assert.Equal(t, []int64{3}, afterIDs(rest[1].Events))
	var ops []cdc.Op
	for _, ev := range evs {
		ops = append(ops, ev.Op)
	}
	assert.Equal(t, []cdc.Op{cdc.OpTxBegin, cdc.OpCreate, cdc.OpTxEnd, cdc.OpTxBegin, cdc.OpCreate, cdc.OpTxEnd}, ops)
}

// readRun is ReadBatch into a new slice of DecodeAhead events.
func readRun(ctx context.Context, src cdc.BatchReader) ([]cdc.Event, error) {
	dst := make([]cdc.Event, cdc.DecodeAhead)
	n, err := src.ReadBatch(ctx, dst)
	return dst[:n], err
}
