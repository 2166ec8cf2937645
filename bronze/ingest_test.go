package bronze_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/bronze"
	"github.com/strata-data/strata/cdc"
)

// txSource serves fixed transactions as a cdc.TxSource, resuming after a position.
type txSource struct {
	txs   []cdc.Tx
	next  int
	acked cdc.Position
}

func (s *txSource) Open(_ context.Context, from cdc.Position) error {
	s.next = 0
	for s.next < len(s.txs) && !from.Less(s.txs[s.next].Commit) {
		s.next++
	}
	return nil
}

func (s *txSource) ReadTx(context.Context) (cdc.Tx, error) {
	if s.next == len(s.txs) {
		return cdc.Tx{}, io.EOF
	}
	s.next++
	return s.txs[s.next-1], nil
}

func (s *txSource) Read(context.Context) (cdc.Event, error) {
	panic("Ingest reads a TxSource by ReadTx")
}
func (s *txSource) Ack(_ context.Context, p cdc.Position) error {
	s.acked = p
	return nil
}
func (s *txSource) Close() error { return nil }

func TestIngestDeadLettersAnIncompatibleSchemaAndGoesOn(t *testing.T) {
	ctx := context.Background()
	store := bronze.NewMemStore()
	reg := prometheus.NewRegistry()
	cm, bm := cdc.NewMetrics(reg), bronze.NewMetrics(reg)
	dls := cdc.NewMemoryDeadLetters()
	src := &txSource{txs: []cdc.Tx{
		tx("1", insert("public.orders", ordersV1(), 1, 10, 1)),
		tx("2", insert("public.orders", ordersNarrowed(), 2, 20, 2), insert("public.items", ordersV1(), 1, 21, 9)),
		tx("3", insert("public.orders", ordersV2(), 3, 30, 3)),
	}}
	st, err := bronze.Ingest(ctx, bronze.IngestConfig{Source: src, Writer: bronze.WriterConfig{Store: store},
		DeadLetters: dls, CDCMetrics: cm, Metrics: bm})
	require.NoError(t, err)
	assert.EqualValues(t, 2, st.Events, "transactions 1 and 3")
	assert.Equal(t, cdc.Position{Major: 30, Minor: 30}, st.Position)
	assert.Equal(t, st.Position, src.acked, "acked past the refused transaction")

	require.Equal(t, 2, dls.Len(), "transaction 2 whole: both its events")
	for _, dl := range dls.All() {
		assert.Contains(t, dl.Reason, `column "amount"`)
	}
	assert.Equal(t, 2.0, counterOf(t, reg, "strata_cdc_events_rejected_total", "schema"))
	assert.Equal(t, 2.0, counterOf(t, reg, "strata_bronze_events_total", ""))
	assert.Equal(t, []string{"public.orders 1 create", "public.orders 2 create"}, lakeVersions(t, ctx, store))

	// Without dead letters the refusal stops the ingest, and nothing after it lands.
	store2 := bronze.NewMemStore()
	src.next = 0
	_, err = bronze.Ingest(ctx, bronze.IngestConfig{Source: src, Writer: bronze.WriterConfig{Store: store2}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `column "amount"`)
	assert.Equal(t, []string{"public.orders 1 create"}, lakeVersions(t, ctx, store2), "what came before is committed")
}

// Ingest commits by age as well as by size: a slow trickle still reaches the lake.
func TestIngestCommitsByAge(t *testing.T) {
	ctx := context.Background()
	store := bronze.NewMemStore()
	clock := time.Unix(1_800_000_000, 0)
	var commits []int64
	src := &txSource{}
	for i := range 10 {
		src.txs = append(src.txs, tx("x", insert("public.orders", ordersV1(), 1, uint64(10+i), int64(i))))
	}
	_, err := bronze.Ingest(ctx, bronze.IngestConfig{Source: src, Writer: bronze.WriterConfig{Store: store},
		CommitEvents: 1000, CommitInterval: 3 * time.Second,
		Now:      func() time.Time { clock = clock.Add(time.Second); return clock },
		Progress: func(s bronze.IngestStats) { commits = append(commits, s.Events) }})
	require.NoError(t, err)
	// Each transaction costs the clock a second or two: commits every few, never 1000.
	require.Greater(t, len(commits), 2)
	assert.EqualValues(t, 10, commits[len(commits)-1])
}

// counterOf returns a counter's value, of the series with the given "reason" label
// (or the unlabelled one).
func counterOf(t *testing.T, reg *prometheus.Registry, name, reason string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			got := ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" {
					got = l.GetValue()
				}
			}
			if got == reason {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// Ingest rolls files by size: once it knows the bytes per event, commits stay near
// CommitBytes whatever the event count.
func TestIngestCommitsBySize(t *testing.T) {
	ctx := context.Background()
	store := bronze.NewMemStore()
	st, err := bronze.Ingest(ctx, bronze.IngestConfig{
		Source: cdc.NewGenerator(cdc.GeneratorConfig{Seed: 8, Events: 20000}),
		Writer: bronze.WriterConfig{Store: store}, CommitEvents: 5000, CommitBytes: 64 << 10, CommitInterval: time.Hour})
	require.NoError(t, err)
	m, err := bronze.OpenManifest(ctx, store)
	require.NoError(t, err)
	commits := m.Commits()
	require.Greater(t, len(commits), 10, "64 KiB commits, not 5000-event ones")
	for _, c := range commits[1 : len(commits)-1] { // the first is sized by CommitEvents, the last by the end
		var bytes int64
		for _, f := range c.Files {
			bytes += f.Bytes
		}
		assert.InDelta(t, 64<<10, bytes, 32<<10, "commit %d", c.ID)
	}
	assert.EqualValues(t, 20000, st.Events)
}
