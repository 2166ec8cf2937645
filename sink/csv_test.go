package sink_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/sink"
)

// typesSchema has a column of each kind the CSV and JSON encodings format differently.
var typesSchema = change.MustSchema([]arrow.Field{
	change.NotNull("id", arrow.PrimitiveTypes.Int64),
	change.Col("name", arrow.BinaryTypes.String),
	change.Col("amount", &arrow.Decimal128Type{Precision: 20, Scale: 3}),
	change.Col("day", arrow.FixedWidthTypes.Date32),
	change.Col("at", &arrow.TimestampType{Unit: arrow.Microsecond}),
	change.Col("ok", arrow.FixedWidthTypes.Boolean),
	change.Col("ratio", arrow.PrimitiveTypes.Float64),
	change.Col("raw", arrow.BinaryTypes.Binary),
}, "id")

func checkedMem(t *testing.T) *memory.CheckedAllocator {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	return mem
}

func batchOf(t *testing.T, mem memory.Allocator, s *change.Schema, rows ...[]any) *change.Batch {
	t.Helper()
	b, err := change.FromRows(mem, s, rows)
	require.NoError(t, err)
	return b
}

func pos(major uint64) cdc.Position { return cdc.Position{Major: major, Minor: major} }

func TestCSVFormatsEveryType(t *testing.T) {
	mem := checkedMem(t)
	ctx := context.Background()
	at := time.Date(2026, 3, 4, 5, 6, 7, 890000000, time.UTC)
	day := time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)
	var out bytes.Buffer
	reg := prometheus.NewRegistry()
	s, err := sink.NewCSV(&out, sink.CSVConfig{Metrics: sink.NewMetrics(reg), Position: true})
	require.NoError(t, err)
	require.NoError(t, s.Write(ctx, batchOf(t, mem, typesSchema,
		[]any{change.Insert, 1, "plain", "12345678901234567.891", day, at, true, 0.5, []byte("hi")},
		[]any{change.Insert, 2, "a,b \"q\"\nline", "-0.010", nil, nil, false, nil, []byte{}},
		[]any{change.UpdateBefore, 3, "", nil, nil, nil, nil, nil, nil},
		[]any{change.UpdateAfter, 3, nil, "7", nil, nil, nil, -2.0, nil},
		[]any{change.Delete, 4, nil, nil, nil, nil, nil, nil, nil},
	), pos(0x10)))
	require.Empty(t, out.String(), "nothing reaches the writer before Flush")
	require.NoError(t, s.Flush(ctx))
	want := "op,position,id,name,amount,day,at,ok,ratio,raw\n" +
		"+I,10/10/0,1,plain,12345678901234567.891,2026-03-04,2026-03-04T05:06:07.89Z,true,0.5,aGk=\n" +
		"+I,10/10/0,2,\"a,b \"\"q\"\"\nline\",-0.010,,,false,,\"\"\n" +
		"-U,10/10/0,3,\"\",,,,,,\n" +
		"+U,10/10/0,3,,7.000,,,,-2,\n" +
		"-D,10/10/0,4,,,,,,,\n"
	require.Equal(t, want, out.String())

	recs, err := csv.NewReader(bytes.NewReader(out.Bytes())).ReadAll()
	require.NoError(t, err, "the output is valid RFC 4180")
	require.Len(t, recs, 6)
	require.Equal(t, "a,b \"q\"\nline", recs[2][3])
	require.Equal(t, 5.0, counter(t, reg, "strata_sink_rows_total", "csv"))
	require.Equal(t, 1.0, counter(t, reg, "strata_sink_batches_total", "csv"))
	require.NoError(t, s.Close())
}

func TestCSVRejectsOutOfOrderAndOtherSchemas(t *testing.T) {
	mem := checkedMem(t)
	ctx := context.Background()
	var out bytes.Buffer
	reg := prometheus.NewRegistry()
	s, err := sink.NewCSV(&out, sink.CSVConfig{Name: "dbg", Metrics: sink.NewMetrics(reg)})
	require.NoError(t, err)
	require.NoError(t, s.Write(ctx, batchOf(t, mem, typesSchema, []any{change.Insert, 1, "a", nil, nil, nil, nil, nil, nil}), pos(5)))
	err = s.Write(ctx, batchOf(t, mem, typesSchema, []any{change.Insert, 2, "b", nil, nil, nil, nil, nil, nil}), pos(4))
	require.ErrorIs(t, err, sink.ErrOrder)
	other := change.MustSchema([]arrow.Field{change.NotNull("id", arrow.PrimitiveTypes.Int64)}, "id")
	require.ErrorIs(t, s.Write(ctx, batchOf(t, mem, other, []any{change.Insert, 1}), pos(6)), sink.ErrSchema)
	require.NoError(t, s.Flush(ctx))
	err = s.Write(ctx, batchOf(t, mem, typesSchema, []any{change.Insert, 3, "c", nil, nil, nil, nil, nil, nil}), pos(5))
	require.ErrorIs(t, err, sink.ErrOrder, "a position already flushed")
	require.Equal(t, 3.0, counter(t, reg, "strata_sink_errors_total", "dbg"))
	require.NoError(t, s.Close())
	require.ErrorIs(t, s.Write(ctx, batchOf(t, mem, typesSchema), pos(7)), sink.ErrClosed)
}

// counter reads the value of a sink's counter from reg.
func counter(t *testing.T, reg *prometheus.Registry, name, sinkName string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "sink" && l.GetValue() == sinkName {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// Any text survives a round trip through the CSV encoding and encoding/csv, and the
// empty string stays distinct from NULL.
func FuzzCSVText(f *testing.F) {
	for _, s := range []string{"", "a", "a,b", "\"", "x\ny", "\r", " lead", "é\"\"", "\x00"} {
		f.Add(s)
	}
	s := change.MustSchema([]arrow.Field{change.Col("v", arrow.BinaryTypes.String), change.Col("n", arrow.BinaryTypes.String)})
	f.Fuzz(func(t *testing.T, text string) {
		if strings.ContainsRune(text, '\r') { // encoding/csv reads CR LF inside quotes as LF
			text = strings.ReplaceAll(text, "\r", "")
		}
		var out bytes.Buffer
		w, err := sink.NewCSV(&out, sink.CSVConfig{})
		require.NoError(t, err)
		b, err := change.FromRows(memory.DefaultAllocator, s, [][]any{{change.Insert, text, nil}})
		require.NoError(t, err)
		require.NoError(t, w.Write(context.Background(), b, pos(1)))
		require.NoError(t, w.Flush(context.Background()))
		written := out.String()
		recs, err := csv.NewReader(&out).ReadAll()
		require.NoError(t, err, "%q", written)
		require.Equal(t, [][]string{{"op", "v", "n"}, {"+I", text, ""}}, recs)
		if text == "" {
			require.Equal(t, "+I,\"\",\n", strings.SplitN(written, "\n", 2)[1])
		}
	})
}
