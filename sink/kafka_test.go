package sink_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/sink"
)

// newBroker starts an in-process Kafka-protocol broker on loopback with a 3-partition topic.
func newBroker(t testing.TB, topic string) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, topic))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// readTopic reads n records of topic from the start.
func readTopic(t *testing.T, brokers []string, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		require.NoError(t, ctx.Err(), "read %d of %d records", len(out), n)
		fs.EachError(func(_ string, _ int32, err error) { require.NoError(t, err) })
		out = append(out, fs.Records()...)
	}
	require.Len(t, out, n)
	return out
}

// compacted folds records as log compaction does: the last value per key, a tombstone
// removing the key. It checks that each key's messages are in one partition and, if
// ordered (nothing was resent), in position order.
func compacted(t *testing.T, recs []*kgo.Record, ordered bool) map[string][]byte {
	t.Helper()
	type at struct {
		part int32
		pos  cdc.Position
		seq  string
	}
	last := map[string]at{}
	out := map[string][]byte{}
	for _, r := range recs {
		h := map[string]string{}
		for _, x := range r.Headers {
			h[x.Key] = string(x.Value)
		}
		p, err := cdc.ParsePosition(h[sink.HeaderPosition])
		require.NoError(t, err)
		var seq int
		_, err = fmt.Sscan(h[sink.HeaderSeq], &seq)
		require.NoError(t, err)
		if prev, ok := last[string(r.Key)]; ok {
			require.Equal(t, prev.part, r.Partition, "key %s moved partitions", r.Key)
			require.False(t, ordered && p.Less(prev.pos), "key %s went back from %s to %s", r.Key, prev.pos, p)
		}
		last[string(r.Key)] = at{r.Partition, p, h[sink.HeaderSeq]}
		op, err := change.ParseOp(h[sink.HeaderOp])
		require.NoError(t, err)
		require.Equal(t, op.IsRetraction(), r.Value == nil, "op %s with value %s", op, r.Value)
		if r.Value == nil {
			delete(out, string(r.Key))
		} else {
			out[string(r.Key)] = r.Value
		}
	}
	return out
}

// expectedJSON renders an expected table as Kafka messages should carry it: key -> the
// row decoded from JSON, with the normalized encodings written out by hand.
func expectedJSON(t *testing.T, table map[string][]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, r := range tableOf(table) {
		day := r[1].(time.Time).Format(time.DateOnly)
		key := fmt.Sprintf(`{"segment":%s,"day":"%s"}`, mustJSON(t, r[0]), day)
		out[key] = map[string]any{"segment": r[0], "day": day, "revenue": r[2],
			"orders": json.Number(fmt.Sprint(r[3])), "updated": r[4].(time.Time).Format(time.RFC3339), "note": r[5]}
	}
	return out
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

func decodeValues(t *testing.T, m map[string][]byte) map[string]map[string]any {
	out := map[string]map[string]any{}
	for k, v := range m {
		var row map[string]any
		dec := json.NewDecoder(bytes.NewReader(v))
		dec.UseNumber()
		require.NoError(t, dec.Decode(&row), "%s", v)
		out[k] = row
	}
	return out
}

func TestKafkaCompactedTopicEqualsTheTable(t *testing.T) {
	mem := checkedMem(t)
	ctx := context.Background()
	const topic = "gold.revenue"
	brokers := newBroker(t, topic)
	steps, tables := changelog(5, 80, 40)
	reg := prometheus.NewRegistry()
	k, err := sink.NewKafka(sink.KafkaConfig{Brokers: brokers, Topic: topic, Schema: martSchema,
		MaxBuffered: 25, Metrics: sink.NewMetrics(reg)})
	require.NoError(t, err)
	var _ sink.Sink = k
	keyChanges := 0
	for i, st := range steps {
		for j, r := range st.rows {
			if r[0] == change.UpdateBefore && rowKey(r[1:]) != rowKey(st.rows[j+1][1:]) {
				keyChanges++
			}
		}
		require.NoError(t, k.Write(ctx, st.batch(t, mem), st.pos))
		if i%10 == 9 {
			require.NoError(t, k.Flush(ctx))
		}
	}
	require.NoError(t, k.Flush(ctx))
	require.NoError(t, k.Close())
	want := countMessages(steps)
	require.Equal(t, float64(want), counter(t, reg, "strata_sink_rows_total", topic))
	require.Greater(t, keyChanges, 0)

	recs := readTopic(t, brokers, topic, want)
	got := decodeValues(t, compacted(t, recs, true))
	require.Equal(t, expectedJSON(t, tables[len(tables)-1]), got)

	// At-least-once: a second run resends a suffix (as after a failed Flush or a crash
	// before the source's ack). The compacted view is unchanged, and a consumer that
	// keeps the last (position, seq) per key skips every resent message.
	k, err = sink.NewKafka(sink.KafkaConfig{Brokers: brokers, Topic: topic, Schema: martSchema})
	require.NoError(t, err)
	for _, st := range steps[50:] {
		require.NoError(t, k.Write(ctx, st.batch(t, mem), st.pos))
	}
	require.NoError(t, k.Flush(ctx))
	require.NoError(t, k.Close())
	all := readTopic(t, brokers, topic, want+countMessages(steps[50:]))
	require.Equal(t, expectedJSON(t, tables[len(tables)-1]), decodeValues(t, compacted(t, all, false)))
	type mark struct {
		pos cdc.Position
		seq string
	}
	seen := map[string]mark{}
	applied := 0
	for _, r := range all {
		var m mark
		for _, h := range r.Headers {
			switch h.Key {
			case sink.HeaderPosition:
				m.pos, _ = cdc.ParsePosition(string(h.Value))
			case sink.HeaderSeq:
				m.seq = fmt.Sprintf("%020s", h.Value)
			}
		}
		if prev, ok := seen[string(r.Key)]; ok && (m.pos.Less(prev.pos) || m.pos == prev.pos && m.seq <= prev.seq) {
			continue // a duplicate
		}
		seen[string(r.Key)] = m
		applied++
	}
	require.Equal(t, want, applied, "an idempotent consumer applies each message once")
}

// countMessages is how many messages steps produce: every row but a -U whose key's
// next change in the same batch is a +U or +I.
func countMessages(steps []step) int {
	n := 0
	for _, st := range steps {
	rows:
		for j, r := range st.rows {
			if r[0] == change.UpdateBefore {
				for _, nx := range st.rows[j+1:] {
					if rowKey(nx[1:]) == rowKey(r[1:]) {
						if nx[0] == change.UpdateAfter || nx[0] == change.Insert {
							continue rows
						}
						break
					}
				}
			}
			n++
		}
	}
	return n
}

func TestKafkaMessageEncoding(t *testing.T) {
	mem := checkedMem(t)
	ctx := context.Background()
	const topic = "gold.encoding"
	brokers := newBroker(t, topic)
	k, err := sink.NewKafka(sink.KafkaConfig{Brokers: brokers, Topic: topic, Schema: martSchema})
	require.NoError(t, err)
	day := time.Date(2026, 2, 3, 0, 0, 0, 0, time.UTC)
	at := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
	p := cdc.Position{Major: 0xab, Minor: 0xcd}
	require.NoError(t, k.Write(ctx, batchOf(t, mem, martSchema,
		[]any{change.Insert, "retail", day, "12.50", 3, at, "x\"y"},
		[]any{change.UpdateBefore, "retail", day, "12.50", 3, at, "x\"y"},
		[]any{change.Insert, "smb", day, "1.00", 1, nil, nil}, // another key between the pair
		[]any{change.UpdateAfter, "retail", day, "-0.01", 4, at, nil},
		[]any{change.UpdateBefore, "smb", day, "1.00", 1, nil, nil}, // a key change: tombstone
		[]any{change.UpdateAfter, "smb", day.AddDate(0, 0, 1), "1.00", 1, nil, nil},
		[]any{change.Delete, "retail", day, "-0.01", 4, at, nil},
	), p))
	require.NoError(t, k.Flush(ctx))
	require.NoError(t, k.Close())
	recs := readTopic(t, brokers, topic, 6)
	type msg struct{ key, value, pos, seq, op string }
	var got []msg
	for _, r := range recs {
		m := msg{key: string(r.Key), value: string(r.Value)}
		if r.Value == nil {
			m.value = "<tombstone>"
		}
		for _, h := range r.Headers {
			switch h.Key {
			case sink.HeaderPosition:
				m.pos = string(h.Value)
			case sink.HeaderSeq:
				m.seq = string(h.Value)
			case sink.HeaderOp:
				m.op = string(h.Value)
			}
		}
		got = append(got, m)
	}
	retail := `{"segment":"retail","day":"2026-02-03"}`
	smb := `{"segment":"smb","day":"2026-02-03"}`
	want := []msg{
		{retail, `{"segment":"retail","day":"2026-02-03","revenue":"12.50","orders":3,"updated":"2026-02-03T04:05:06Z","note":"x\"y"}`, "ab/cd/0", "0", "+I"},
		{smb, `{"segment":"smb","day":"2026-02-03","revenue":"1.00","orders":1,"updated":null,"note":null}`, "ab/cd/0", "2", "+I"},
		{retail, `{"segment":"retail","day":"2026-02-03","revenue":"-0.01","orders":4,"updated":"2026-02-03T04:05:06Z","note":null}`, "ab/cd/0", "3", "+U"},
		{smb, "<tombstone>", "ab/cd/0", "4", "-U"},
		{`{"segment":"smb","day":"2026-02-04"}`, `{"segment":"smb","day":"2026-02-04","revenue":"1.00","orders":1,"updated":null,"note":null}`, "ab/cd/0", "5", "+U"},
		{retail, "<tombstone>", "ab/cd/0", "6", "-D"},
	}
	// Partitions interleave; within a key the order holds.
	require.ElementsMatch(t, want, got)
	byKey := map[string][]string{}
	for _, m := range got {
		byKey[m.key] = append(byKey[m.key], m.seq)
	}
	require.Equal(t, []string{"0", "3", "6"}, byKey[retail])
}

func TestKafkaConfig(t *testing.T) {
	noKey := change.MustSchema(martSchema.Fields())
	for _, cfg := range []sink.KafkaConfig{
		{Topic: "t", Schema: martSchema},
		{Brokers: []string{"x:1"}, Schema: martSchema},
		{Brokers: []string{"x:1"}, Topic: "t"},
		{Brokers: []string{"x:1"}, Topic: "t", Schema: noKey},
	} {
		_, err := sink.NewKafka(cfg)
		require.ErrorIs(t, err, sink.ErrConfig)
	}
}

// Large rows span many arena chunks; every message keeps its own bytes.
func TestKafkaLargeRows(t *testing.T) {
	mem := checkedMem(t)
	ctx := context.Background()
	const topic = "gold.large"
	brokers := newBroker(t, topic)
	k, err := sink.NewKafka(sink.KafkaConfig{Brokers: brokers, Topic: topic, Schema: martSchema})
	require.NoError(t, err)
	day := time.Date(2026, 2, 3, 0, 0, 0, 0, time.UTC)
	var rows [][]any
	want := map[string]map[string]any{}
	for i := range 60 {
		note := strings.Repeat(fmt.Sprintf("%02d", i), 1500+100*i)
		seg := fmt.Sprintf("s%02d", i)
		rows = append(rows, []any{change.Insert, seg, day, "1.00", i, nil, note})
		want[fmt.Sprintf(`{"segment":"%s","day":"2026-02-03"}`, seg)] = map[string]any{"segment": seg, "day": "2026-02-03",
			"revenue": "1.00", "orders": json.Number(fmt.Sprint(i)), "updated": nil, "note": note}
	}
	require.NoError(t, k.Write(ctx, batchOf(t, mem, martSchema, rows...), pos(1)))
	require.NoError(t, k.Flush(ctx))
	require.NoError(t, k.Close())
	require.Equal(t, want, decodeValues(t, compacted(t, readTopic(t, brokers, topic, 60), true)))
}
