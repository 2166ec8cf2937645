package bronze_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/hamba/avro/v2"
	"github.com/hamba/avro/v2/ocf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/bronze"
	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/change"
)

// generatedEvents decodes the generator's stream into events.
func generatedEvents(tb testing.TB, n int) []cdc.Event {
	tb.Helper()
	g := cdc.NewGenerator(cdc.GeneratorConfig{Seed: 7, Events: n})
	dec := cdc.NewDebeziumDecoder(cdc.DebeziumConfig{})
	var evs []cdc.Event
	for {
		rec, err := g.NextRecord()
		if errors.Is(err, io.EOF) {
			return evs
		}
		require.NoError(tb, err)
		rec = rec.Clone()
		ev, err := dec.Decode(&rec)
		require.NoError(tb, err)
		evs = append(evs, ev)
	}
}

type groupKey struct {
	table   string
	version int
}

// groupEvents splits events into files: one per table and schema version, in order.
func groupEvents(evs []cdc.Event) ([]groupKey, map[groupKey][]cdc.Event) {
	groups := map[groupKey][]cdc.Event{}
	var order []groupKey
	for _, ev := range evs {
		k := groupKey{ev.Table, ev.SchemaVersion}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], ev)
	}
	return order, groups
}

func roundTrip(t *testing.T, evs []cdc.Event, opts bronze.AvroOptions) []cdc.Event {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, bronze.EncodeEvents(&buf, evs, opts))
	got, err := bronze.DecodeEvents(bytes.NewReader(buf.Bytes()))
	require.NoError(t, err)
	return got
}

// assertSameEvents compares events exactly; schemas by Equal, the rest with DeepEqual.
func assertSameEvents(t *testing.T, want, got []cdc.Event) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range want {
		w, g := want[i], got[i]
		require.Equal(t, w.Schema == nil, g.Schema == nil, "event %d schema presence", i)
		require.Equal(t, w.KeySchema == nil, g.KeySchema == nil, "event %d key schema presence", i)
		if w.Schema != nil {
			require.True(t, w.Schema.Equal(g.Schema), "event %d schema\nwant %s\ngot  %s", i, w.Schema, g.Schema)
		}
		if w.KeySchema != nil {
			require.True(t, w.KeySchema.Equal(g.KeySchema), "event %d key schema", i)
		}
		w.Schema, g.Schema, w.KeySchema, g.KeySchema = nil, nil, nil, nil
		require.Equal(t, w, g, "event %d", i)
	}
}

func TestEventsRoundTripGenerator(t *testing.T) {
	evs := generatedEvents(t, 2000)
	order, groups := groupEvents(evs)
	require.Greater(t, len(order), 3, "the workload should span several tables/versions")
	total, versions := 0, 0
	for _, k := range order {
		got := roundTrip(t, groups[k], bronze.AvroOptions{})
		assertSameEvents(t, groups[k], got)
		total += len(got)
		if k.version > 1 {
			versions++
		}
	}
	assert.Equal(t, len(evs), total)
	assert.Positive(t, versions, "the workload should include a schema change")
}

var allTypes = change.MustSchema([]arrow.Field{
	change.NotNull("id", arrow.PrimitiveTypes.Int64),
	change.Col("b", arrow.FixedWidthTypes.Boolean),
	change.Col("i8", arrow.PrimitiveTypes.Int8),
	change.Col("i16", arrow.PrimitiveTypes.Int16),
	change.Col("i32", arrow.PrimitiveTypes.Int32),
	change.Col("u8", arrow.PrimitiveTypes.Uint8),
	change.Col("u16", arrow.PrimitiveTypes.Uint16),
	change.Col("u32", arrow.PrimitiveTypes.Uint32),
	change.Col("u64", arrow.PrimitiveTypes.Uint64),
	change.Col("f32", arrow.PrimitiveTypes.Float32),
	change.Col("f64", arrow.PrimitiveTypes.Float64),
	change.Col("dec", &arrow.Decimal128Type{Precision: 38, Scale: 10}),
	change.Col("s", arrow.BinaryTypes.String),
	change.Logical(change.Col("j", arrow.BinaryTypes.String), "json"),
	change.Col("bin", arrow.BinaryTypes.Binary),
	change.Col("d", arrow.FixedWidthTypes.Date32),
	change.Col("t_s", arrow.FixedWidthTypes.Time32s),
	change.Col("t_ms", arrow.FixedWidthTypes.Time32ms),
	change.Col("t_us", arrow.FixedWidthTypes.Time64us),
	change.Col("t_ns", arrow.FixedWidthTypes.Time64ns),
	change.Col("ts_s", &arrow.TimestampType{Unit: arrow.Second}),
	change.Col("ts_ms", &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}),
	change.Col("ts_us", &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "Europe/Paris"}),
	change.Col("ts_ns", &arrow.TimestampType{Unit: arrow.Nanosecond}),
	change.Col("weird name-1", arrow.BinaryTypes.String),
	change.Col("9lives", arrow.BinaryTypes.String),
}, "id")

var allKey = change.MustSchema([]arrow.Field{change.NotNull("id", arrow.PrimitiveTypes.Int64)}, "id")

func dec38(t *testing.T, s string) decimal128.Num {
	t.Helper()
	bi, ok := new(big.Int).SetString(s, 10)
	require.True(t, ok)
	n := decimal128.FromBigInt(bi)
	require.Equal(t, s, n.BigInt().String(), "fits in 128 bits")
	return n
}

func edgeEvents(t *testing.T) []cdc.Event {
	nan := math.Float64frombits(0x7ff8_0000_dead_beef) // a NaN with a payload
	maxRow := change.Row{
		change.Int(math.MaxInt64), change.Bool(true), change.Int(math.MaxInt8), change.Int(math.MaxInt16),
		change.Int(math.MaxInt32), change.Int(math.MaxUint8), change.Int(math.MaxUint16), change.Int(math.MaxUint32),
		change.Int(-1), // uint64 max, as its bits
		change.Float(float64(float32(1.5))), change.Float(nan),
		change.Decimal(dec38(t, "-99999999999999999999999999999999999999")),
		change.Str("héllo\x00"), change.Str(`{"a":[1,2]}`),
		change.Bytes([]byte{0xff, 0xfe, 0x00, 0x80}), // not UTF-8
		change.Int(-719162), change.Int(86399), change.Int(86399999), change.Int(86399999999), change.Int(86399999999999),
		change.Int(math.MinInt64), change.Int(math.MaxInt64), change.Int(-1), change.Int(9007199254740993), // 2^53+1
		change.Str("x"), change.Str(""),
	}
	minRow := change.Row{
		change.Int(math.MinInt64), change.Bool(false), change.Int(math.MinInt8), change.Int(math.MinInt16),
		change.Int(math.MinInt32), change.Int(0), change.Int(0), change.Int(0), change.Int(0),
		change.Float(math.Inf(-1)), change.Float(math.Copysign(0, -1)),
		change.Decimal(dec38(t, "99999999999999999999999999999999999999")),
		change.Str(""), change.Null(), change.Bytes([]byte{}),
		change.Int(0), change.Int(0), change.Int(0), change.Int(0), change.Int(0),
		change.Int(0), change.Int(0), change.Int(0), change.Int(0), change.Null(), change.Null(),
	}
	// a partial before-image: key present, NULL in one column, the rest absent
	partial := make(change.Row, allTypes.NumFields())
	for i := range partial {
		partial[i] = change.Absent()
	}
	partial[0] = change.Int(math.MaxInt64)
	partial[2] = change.Null()
	smallDecimals := minRow[:len(minRow):len(minRow)]
	smallDecimals = append(change.Row(nil), minRow...)
	smallDecimals[11] = change.Decimal(decimal128.FromI64(-1))
	smallDecimals2 := append(change.Row(nil), minRow...)
	smallDecimals2[11] = change.Decimal(decimal128.FromI64(128))
	ct := time.UnixMilli(1767225600123).UTC()
	src := cdc.SourceInfo{Version: "2.7", Connector: "postgresql", Name: "srv", DB: "shop", Schema: "public",
		Table: "t", Snapshot: "false", TsMs: 1767225600123, TxID: "571", LSN: math.MaxUint64, Sequence: `["1","2"]`,
		File: "binlog.000001", FilePos: 1 << 40, Row: 3, ServerID: 42, GTID: "uuid:10", CommitLSN: "a", ChangeLSN: "b"}
	base := func(op cdc.Op, i uint64) cdc.Event {
		return cdc.Event{Table: "public.t", Op: op, Schema: allTypes, SchemaVersion: 3, KeySchema: allKey,
			Key: change.Row{change.Int(math.MaxInt64)}, Pos: cdc.Position{Major: math.MaxUint64, Minor: i, Seq: 1<<63 + i},
			Origin: cdc.Origin{Topic: "srv.public.t", Partition: math.MaxInt32, Offset: math.MaxInt64},
			Source: src, Tx: cdc.TxInfo{ID: "571:53195832", TotalOrder: int64(i), CollectionOrder: int64(i),
				Commit: cdc.Position{Major: math.MaxUint64, Minor: 99, Seq: 1<<63 + 7}},
			TsMs: 1767225600200, TsNs: 1767225600200000001, CommitTime: ct, Arrival: ct.Add(time.Nanosecond)}
	}
	var evs []cdc.Event
	e := base(cdc.OpCreate, 1)
	e.After = maxRow
	evs = append(evs, e)
	e = base(cdc.OpUpdate, 2)
	e.Before, e.After = partial, minRow
	evs = append(evs, e)
	e = base(cdc.OpUpdate, 3)
	e.Before, e.After = smallDecimals, smallDecimals2
	evs = append(evs, e)
	e = base(cdc.OpDelete, 4)
	e.Before = partial
	e.CommitTime, e.Arrival = time.Time{}, time.Time{}
	evs = append(evs, e)
	e = base(cdc.OpTombstone, 5)
	e.Schema = nil
	evs = append(evs, e)
	e = base(cdc.OpTruncate, 6)
	e.Schema, e.KeySchema, e.Key, e.SchemaVersion = nil, nil, nil, 0
	evs = append(evs, e)
	e = base(cdc.OpMessage, 7)
	e.Schema, e.KeySchema, e.Key = nil, nil, nil
	e.Message = &cdc.Message{Prefix: "audit", Content: []byte{0xc3, 0x28, 0}}
	evs = append(evs, e)
	e = base(cdc.OpTxEnd, 8)
	e.Schema, e.KeySchema, e.Key = nil, nil, nil
	e.EventCount = 7
	e.Collections = []cdc.CollectionCount{{Collection: "public.t", EventCount: 6}, {Collection: "", EventCount: -1}}
	evs = append(evs, e)
	e = base(cdc.OpTxBegin, 9)
	e.Schema, e.KeySchema, e.Key = nil, nil, nil
	evs = append(evs, e)
	return evs
}

func TestEventsRoundTripEdgeValues(t *testing.T) {
	evs := edgeEvents(t)
	for _, c := range []bronze.Codec{bronze.Snappy, bronze.Zstd, bronze.Null} {
		t.Run(c.String(), func(t *testing.T) {
			got := roundTrip(t, evs, bronze.AvroOptions{Codec: c})
			assertSameEvents(t, evs, got)
			// the things DeepEqual could miss
			assert.Equal(t, math.Float64bits(evs[0].After[10].AsFloat()), math.Float64bits(got[0].After[10].AsFloat()))
			assert.True(t, math.IsNaN(got[0].After[10].AsFloat()))
			assert.True(t, got[1].Before[1].IsAbsent())
			assert.True(t, got[1].Before[2].IsNull())
			assert.False(t, got[1].Before[2].IsAbsent())
			assert.Equal(t, uint64(math.MaxUint64), got[0].Source.LSN)
			assert.Equal(t, int64(math.MaxInt64), got[0].Key[0].AsInt())
		})
	}
}

func TestEventsCodecsDiffer(t *testing.T) {
	evs := generatedEvents(t, 500)
	_, groups := groupEvents(evs)
	var big []cdc.Event
	for k, g := range groups {
		if len(g) > len(big) {
			big = groups[k]
		}
	}
	sizes := map[bronze.Codec]int{}
	for _, c := range []bronze.Codec{bronze.Snappy, bronze.Zstd, bronze.Null} {
		var buf bytes.Buffer
		require.NoError(t, bronze.EncodeEvents(&buf, big, bronze.AvroOptions{Codec: c, BlockSize: 4096}))
		sizes[c] = buf.Len()
		r, err := bronze.NewEventReader(bytes.NewReader(buf.Bytes()))
		require.NoError(t, err)
		assert.Equal(t, map[bronze.Codec]string{bronze.Snappy: "snappy", bronze.Zstd: "zstandard", bronze.Null: "null"}[c],
			string(r.Metadata()["avro.codec"]))
		n := 0
		for r.Next() {
			n++
		}
		require.NoError(t, r.Err())
		require.NoError(t, r.Close())
		assert.Equal(t, len(big), n)
	}
	assert.Less(t, sizes[bronze.Snappy], sizes[bronze.Null])
	assert.Less(t, sizes[bronze.Zstd], sizes[bronze.Snappy])
}

// The file is a standard OCF: hamba's generic decoder reads it with the embedded
// schema, and agrees with ours on the values.
func TestEventsFileIsStandardAvro(t *testing.T) {
	evs := edgeEvents(t)
	var buf bytes.Buffer
	require.NoError(t, bronze.EncodeEvents(&buf, evs, bronze.AvroOptions{}))
	d, err := ocf.NewDecoder(bytes.NewReader(buf.Bytes()), ocf.WithDecoderSchemaCache(&avro.SchemaCache{}))
	require.NoError(t, err)
	var recs []map[string]any
	for d.HasNext() {
		var m map[string]any
		require.NoError(t, d.Decode(&m))
		recs = append(recs, m)
	}
	require.NoError(t, d.Error())
	require.Len(t, recs, len(evs))
	assert.Equal(t, "create", recs[0]["op"])
	assert.Equal(t, "tx_begin", recs[8]["op"])
	after := recs[0]["after"].(map[string]any)["strata.bronze.Row"].(map[string]any)
	assert.Equal(t, int64(math.MaxInt64), after["id"].(map[string]any)["long"])
	dv := after["dec"].(map[string]any)["bytes.decimal"].(*big.Rat)
	assert.Equal(t, "-9999999999999999999999999999.9999999999", dv.FloatString(10))
	before := recs[1]["before"].(map[string]any)["strata.bronze.Row"].(map[string]any)
	assert.Nil(t, before["i8"])
	assert.Equal(t, map[string]any{"strata.bronze.Absent": map[string]any{}}, before["b"])
	assert.Contains(t, after, "weird_name_1")
	assert.Contains(t, after, "_9lives")
	assert.Equal(t, map[string]any{"string": "x"}, after["weird_name_1"])

	// the schema carries the metadata replay needs
	s := d.Schema().(*avro.RecordSchema)
	var rowField *avro.Field
	for _, f := range s.Fields() {
		if f.Name() == "before" {
			rowField = f
		}
	}
	require.NotNil(t, rowField)
	row := rowField.Type().(*avro.UnionSchema).Types()[1].(*avro.RecordSchema)
	assert.Equal(t, "id", row.Prop("strata.key"))
	assert.Equal(t, "weird name-1", row.Fields()[24].Prop("strata.name"))
	jt := row.Fields()[13].Type().(*avro.UnionSchema).Types()[2]
	assert.Equal(t, "json", jt.(*avro.PrimitiveSchema).Prop("strata.logical"))

	// and the change.Schema comes back from the header alone
	r, err := bronze.NewEventReader(bytes.NewReader(buf.Bytes()))
	require.NoError(t, err)
	defer r.Close()
	sch, v := r.Schema()
	assert.True(t, allTypes.Equal(sch))
	assert.Equal(t, 3, v)
	assert.True(t, allKey.Equal(r.KeySchema()))
	assert.Equal(t, "public.t", r.Table())
}

func TestEncodeEventsRejectsMixedFiles(t *testing.T) {
	evs := edgeEvents(t)
	other := append([]cdc.Event(nil), evs[:2]...)
	other[1].Table = "public.u"
	err := bronze.EncodeEvents(io.Discard, other, bronze.AvroOptions{})
	require.ErrorIs(t, err, bronze.ErrMixedEvents)
	assert.Contains(t, err.Error(), `"public.u"`)

	other = append([]cdc.Event(nil), evs[:2]...)
	other[1].SchemaVersion = 4
	err = bronze.EncodeEvents(io.Discard, other, bronze.AvroOptions{})
	require.ErrorIs(t, err, bronze.ErrMixedEvents)
	assert.Contains(t, err.Error(), "versions 3 and 4")

	other = append([]cdc.Event(nil), evs[:2]...)
	other[1].Schema = allKey
	require.ErrorIs(t, bronze.EncodeEvents(io.Discard, other, bronze.AvroOptions{}), bronze.ErrMixedEvents)

	bad := append([]cdc.Event(nil), evs[0])
	bad[0].After = append(change.Row(nil), bad[0].After...)
	bad[0].After[1] = change.Int(1) // an int in a boolean column
	require.ErrorIs(t, bronze.EncodeEvents(io.Discard, bad, bronze.AvroOptions{}), bronze.ErrEncode)
	bad[0].After = bad[0].After[:3]
	require.ErrorIs(t, bronze.EncodeEvents(io.Discard, bad, bronze.AvroOptions{}), bronze.ErrEncode)

	require.Error(t, bronze.EncodeEvents(io.Discard, evs, bronze.AvroOptions{Codec: 9}))
}

func TestDecodeEventsCorrupt(t *testing.T) {
	evs := generatedEvents(t, 300)
	_, groups := groupEvents(evs)
	var g []cdc.Event
	for _, v := range groups {
		if len(v) > len(g) {
			g = v
		}
	}
	for _, c := range []bronze.Codec{bronze.Snappy, bronze.Zstd, bronze.Null} {
		var buf bytes.Buffer
		require.NoError(t, bronze.EncodeEvents(&buf, g, bronze.AvroOptions{Codec: c, BlockSize: 2048}))
		good := buf.Bytes()
		// data bytes past the header: a flip must give an error, never a panic; with a
		// checksummed codec (snappy's CRC32, zstd's frame checksum) a flip that decodes
		// must be one that changes nothing (a redundant bit of the compressed encoding)
		hdr := headerLen(t, good)
		want := fmt.Sprint(g)
		failed := 0
		for i := hdr; i < len(good); i += 13 {
			bad := append([]byte(nil), good...)
			bad[i] ^= 0x55
			got, err := bronze.DecodeEvents(bytes.NewReader(bad))
			if err != nil {
				require.ErrorIs(t, err, bronze.ErrEventFile)
				failed++
				continue
			}
			if c != bronze.Null {
				assert.Equal(t, want, fmt.Sprint(got), "codec %s: byte %d flipped, events changed silently", c, i)
			}
		}
		assert.Positive(t, failed)
		// truncations
		for _, n := range []int{0, 3, hdr - 1, hdr + 5, len(good) - 1} {
			_, err := bronze.DecodeEvents(bytes.NewReader(good[:n]))
			require.Error(t, err, "cut at %d", n)
		}
	}
}

// headerLen finds where the first block starts: right after the first sync marker.
func headerLen(t *testing.T, b []byte) int {
	r, err := ocf.NewDecoder(bytes.NewReader(b))
	require.NoError(t, err)
	_ = r
	// the sync marker is the last 16 bytes of the file
	sync := b[len(b)-16:]
	i := bytes.Index(b, sync)
	require.Positive(t, i)
	return i + 16
}

// FuzzDecodeEvents: damaged or hostile files give errors, never panics or hangs. The
// seeds are several KiB (the Avro schema is in the header), and the engine spends up to
// -fuzzminimizetime (default 60s) minimizing each new interesting input without
// counting execs, so run it with a short one:
//
//	go test ./bronze -run '^$' -fuzz FuzzDecodeEvents -fuzztime 60s -fuzzminimizetime 1s
func FuzzDecodeEvents(f *testing.F) {
	evs := edgeEvents(&testing.T{})
	for _, c := range []bronze.Codec{bronze.Snappy, bronze.Zstd, bronze.Null} {
		var buf bytes.Buffer
		if err := bronze.EncodeEvents(&buf, evs, bronze.AvroOptions{Codec: c}); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Add([]byte("Obj\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// a hang is a failure too: crash the worker so the fuzzer keeps the input
		tm := time.AfterFunc(10*time.Second, func() { panic("DecodeEvents hangs") })
		defer tm.Stop()
		r, err := bronze.NewEventReader(bytes.NewReader(data))
		if err != nil {
			return
		}
		defer r.Close()
		for r.Next() {
			ev := r.Event()
			_ = ev.Before.String() + ev.After.String() + ev.Key.String()
		}
	})
}

func benchFiles(b *testing.B) ([][]cdc.Event, int) {
	evs := generatedEvents(b, 50000)
	order, groups := groupEvents(evs)
	var files [][]cdc.Event
	for _, k := range order {
		files = append(files, groups[k])
	}
	return files, len(evs)
}

func BenchmarkEncodeEvents(b *testing.B) {
	files, n := benchFiles(b)
	for _, c := range []bronze.Codec{bronze.Snappy, bronze.Zstd} {
		b.Run(c.String(), func(b *testing.B) {
			var buf bytes.Buffer
			size := 0
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				size = 0
				for _, f := range files {
					buf.Reset()
					if err := bronze.EncodeEvents(&buf, f, bronze.AvroOptions{Codec: c}); err != nil {
						b.Fatal(err)
					}
					size += buf.Len()
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(size)/float64(n), "bytes/event")
		})
	}
}

func BenchmarkDecodeEvents(b *testing.B) {
	files, n := benchFiles(b)
	for _, c := range []bronze.Codec{bronze.Snappy, bronze.Zstd} {
		b.Run(c.String(), func(b *testing.B) {
			var enc [][]byte
			for _, f := range files {
				var buf bytes.Buffer
				if err := bronze.EncodeEvents(&buf, f, bronze.AvroOptions{Codec: c}); err != nil {
					b.Fatal(err)
				}
				enc = append(enc, buf.Bytes())
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				for _, f := range enc {
					r, err := bronze.NewEventReader(bytes.NewReader(f))
					if err != nil {
						b.Fatal(err)
					}
					for r.Next() {
						_ = r.Event()
					}
					if err := r.Err(); err != nil {
						b.Fatal(err)
					}
					r.Close()
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
