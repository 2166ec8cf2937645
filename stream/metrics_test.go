package stream_test

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/stream"
)

// The metrics agree with what the dataflow did: the source's transactions and rows
// (counted again from a second read of the generator), each stage's rows in and out
// (the last stage's out is what the sink got), the checkpoints.
func TestDataflowMetrics(t *testing.T) {
	ctx := context.Background()
	sc := shopSchemas(t)
	be := openBackend(t, "memory")
	src, err := stream.NewCDCSource(stream.CDCSourceConfig{Source: cdc.NewGenerator(genConfig(1200))})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	out := &recordSink{}
	df, err := stream.NewDataflow(stream.DataflowConfig{Name: "revenue", Source: src, Stages: revenueStages(sc, be, nil),
		Sink: out, State: be, Partitions: 2, CheckpointDir: t.TempDir(), Metrics: stream.NewMetrics(reg)})
	if err != nil {
		t.Fatal(err)
	}
	if err := df.Run(ctx); err != nil {
		t.Fatal(err)
	}

	ref, err := stream.NewCDCSource(stream.CDCSourceConfig{Source: cdc.NewGenerator(genConfig(1200))})
	if err != nil {
		t.Fatal(err)
	}
	if err := ref.Open(ctx, cdc.Position{}); err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	txs, rows, byTable := 0, 0, map[string]int{}
	for {
		tx, err := ref.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		txs++
		for i, b := range tx.Batches {
			rows += b.Len()
			byTable[tx.Tables[i]] += b.Len()
		}
		tx.Release()
	}
	sinkRows := 0
	for _, w := range out.writes {
		sinkRows += len(w.ops)
	}
	id, _ := df.LastCheckpoint()
	want := map[string]float64{
		`strata_stream_source_transactions_total{dataflow="revenue"}`:                    float64(txs),
		`strata_stream_source_rows_total{dataflow="revenue"}`:                            float64(rows),
		`strata_stream_stage_rows_in_total{dataflow="revenue",stage="orders-customers"}`: float64(byTable["public.orders"] + byTable["public.customers"]),
		`strata_stream_sink_rows_total{dataflow="revenue"}`:                              float64(sinkRows),
		`strata_stream_last_checkpoint_id{dataflow="revenue"}`:                           float64(id),
	}
	got := gathered(t, reg)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	last := revenueStages(sc, be, nil)
	lastOut := `strata_stream_stage_rows_out_total{dataflow="revenue",stage="` + last[len(last)-1].Name + `"}`
	if got[lastOut] != float64(sinkRows) || sinkRows == 0 {
		t.Errorf("%s = %v, want the sink's %d rows", lastOut, got[lastOut], sinkRows)
	}
	if got[`strata_stream_checkpoints_total{dataflow="revenue"}`] < 1 || id == 0 {
		t.Errorf("no checkpoint counted (last id %d): %v", id, got)
	}
	if got[`strata_stream_stage_busy_seconds_total{dataflow="revenue",stage="orders-customers"}`] <= 0 {
		t.Errorf("no busy time counted")
	}
}

// gathered flattens reg's counters and gauges into name{labels} -> value.
func gathered(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName() + "{"
			for i, l := range m.GetLabel() {
				if i > 0 {
					key += ","
				}
				key += l.GetName() + `="` + l.GetValue() + `"`
			}
			key += "}"
			switch {
			case m.GetCounter() != nil:
				out[key] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				out[key] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}
