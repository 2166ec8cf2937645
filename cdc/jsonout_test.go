package cdc_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/change"
)

var (
	outSchema = change.MustSchema([]arrow.Field{
		change.NotNull("id", arrow.PrimitiveTypes.Int64),
		change.Col("name", arrow.BinaryTypes.String),
		change.Col("amount", &arrow.Decimal128Type{Precision: 19, Scale: 4}),
		change.Col("day", arrow.FixedWidthTypes.Date32),
		change.Col("at", &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}),
		change.Col("blob", arrow.BinaryTypes.Binary),
		change.Col("big", arrow.PrimitiveTypes.Uint64),
		change.Col("ok", arrow.FixedWidthTypes.Boolean),
		change.Col("f", arrow.PrimitiveTypes.Float64),
	}, "id")
	outKeySchema = change.MustSchema([]arrow.Field{change.NotNull("id", arrow.PrimitiveTypes.Int64)}, "id")
)

func outRow(id int64, name string) change.Row {
	day := int64(arrow.Date32FromTime(time.Date(2019, 7, 9, 0, 0, 0, 0, time.UTC)))
	at := time.Date(2019, 7, 9, 1, 2, 3, 456789000, time.UTC).UnixMicro()
	return change.Row{change.Int(id), change.Str(name), change.Decimal(decimal128.FromI64(2000000000)), change.Int(day),
		change.Int(at), change.Bytes([]byte{0x62, 0x67, 0xf2}), change.Int(-1), change.Bool(true), change.Float(0.5)}
}

const fullJSON = `"name":"Anne","amount":"200000.0000","day":"2019-07-09","at":"2019-07-09T01:02:03.456789Z",` +
	`"blob":"Ymfy","big":18446744073709551615,"ok":true,"f":0.5}`

func TestAppendEventJSONGolden(t *testing.T) {
	pgSource := cdc.SourceInfo{Version: "3.7.0", Connector: "postgresql", Name: "PostgreSQL_server", DB: "postgres", Schema: "public",
		Table: "customers", Snapshot: "false", TsMs: 1559033904863, TxID: "556", LSN: 24023128, Sequence: `["24023119","24023128"]`}
	commit := time.UnixMilli(1559033904863)
	base := cdc.Event{Table: "public.customers", Schema: outSchema, SchemaVersion: 1, KeySchema: outKeySchema,
		Pos: cdc.Position{Major: 24023119, Minor: 24023128}, Source: pgSource, CommitTime: commit,
		TsMs: 1559033904863, TsNs: 1559033904863841257}
	const pgTail = `"source":{"connector":"postgresql","name":"PostgreSQL_server","db":"postgres","schema":"public","table":"customers",` +
		`"lsn":24023128,"sequence":"[\"24023119\",\"24023128\"]","txId":"556","snapshot":"false","ts_ms":1559033904863},` +
		`"commit_time":"2019-05-28T08:58:24.863Z"}`
	const pgHead = `"position":"16e904f/16e9058/0","tx":null,"ts_ms":1559033904863,"ts_ns":1559033904863841257,"schema_version":1,`

	with := func(f func(e *cdc.Event)) *cdc.Event {
		e := base
		f(&e)
		return &e
	}
	cases := []struct {
		name string
		ev   *cdc.Event
		want string
	}{
		{"create", with(func(e *cdc.Event) {
			e.Op, e.Key, e.After = cdc.OpCreate, change.Row{change.Int(1)}, outRow(1, "Anne")
			e.Tx = cdc.TxInfo{ID: "556:24023128", TotalOrder: 1, CollectionOrder: 1}
		}), `{"table":"public.customers","op":"create","key":{"id":1},"before":null,"after":{"id":1,` + fullJSON + `,` +
			`"position":"16e904f/16e9058/0","tx":{"id":"556:24023128","total_order":1,"data_collection_order":1},` +
			`"ts_ms":1559033904863,"ts_ns":1559033904863841257,"schema_version":1,` + pgTail},
		{"update with a partial before-image", with(func(e *cdc.Event) {
			e.Op, e.Key = cdc.OpUpdate, change.Row{change.Int(1)}
			e.Before = change.Row{change.Int(1), change.Absent(), change.Absent(), change.Absent(), change.Absent(),
				change.Absent(), change.Absent(), change.Absent(), change.Absent()}
			e.After = change.Row{change.Int(1), change.Str("Anne \"Marie\"\n"), change.Null(), change.Null(), change.Null(),
				change.Null(), change.Null(), change.Null(), change.Null()}
		}), `{"table":"public.customers","op":"update","key":{"id":1},"before":{"id":1},"after":{"id":1,"name":"Anne \"Marie\"\n",` +
			`"amount":null,"day":null,"at":null,"blob":null,"big":null,"ok":null,"f":null},` + pgHead + pgTail},
		{"delete", with(func(e *cdc.Event) {
			e.Op, e.Key, e.Before = cdc.OpDelete, change.Row{change.Int(1)}, outRow(1, "Anne")
		}), `{"table":"public.customers","op":"delete","key":{"id":1},"before":{"id":1,` + fullJSON + `,"after":null,` + pgHead + pgTail},
		{"read, MySQL", &cdc.Event{Table: "inventory.products_on_hand", Op: cdc.OpRead, Schema: outKeySchema, SchemaVersion: 2,
			After: change.Row{change.Int(101)}, Pos: cdc.Position{Major: 3, Minor: 156},
			Source: cdc.SourceInfo{Connector: "mysql", Name: "inventory-connector-mysql", DB: "inventory", Table: "products_on_hand",
				Snapshot: "true", TsMs: 1638985247805, File: "mysql-bin.000003", FilePos: 156}, TsMs: 1638985247805, TsNs: 1638985247805102588},
			`{"table":"inventory.products_on_hand","op":"read","key":null,"before":null,"after":{"id":101},"position":"3/9c/0","tx":null,` +
				`"ts_ms":1638985247805,"ts_ns":1638985247805102588,"schema_version":2,"source":{"connector":"mysql","name":"inventory-connector-mysql",` +
				`"db":"inventory","table":"products_on_hand","file":"mysql-bin.000003","pos":156,"snapshot":"true","ts_ms":1638985247805},"commit_time":null}`},
		{"truncate", with(func(e *cdc.Event) { e.Op = cdc.OpTruncate }),
			`{"table":"public.customers","op":"truncate","key":null,"before":null,"after":null,` + pgHead + pgTail},
		{"message", &cdc.Event{Op: cdc.OpMessage, Pos: cdc.Position{Major: 46523128, Minor: 46523128},
			Source:  cdc.SourceInfo{Connector: "postgresql", TxID: "556", LSN: 46523128},
			Message: &cdc.Message{Prefix: "foo", Content: []byte{0x62, 0x67, 0xf2}}, TsMs: 1559033904961},
			`{"table":null,"op":"message","key":null,"before":null,"after":null,"position":"2c5e2f8/2c5e2f8/0","tx":null,` +
				`"ts_ms":1559033904961,"ts_ns":null,"schema_version":null,"source":{"connector":"postgresql","lsn":46523128,"txId":"556"},` +
				`"commit_time":null,"message":{"prefix":"foo","content":"Ymfy"}}`},
		{"tombstone", &cdc.Event{Table: "inventory.customers", Op: cdc.OpTombstone, KeySchema: outKeySchema,
			Key: change.Row{change.Int(1004)}, Pos: cdc.Position{Seq: 7}},
			`{"table":"inventory.customers","op":"tombstone","key":{"id":1004},"before":null,"after":null,"position":"0/0/7","tx":null,` +
				`"ts_ms":null,"ts_ns":null,"schema_version":null,"source":{},"commit_time":null}`},
		{"tx-begin", &cdc.Event{Op: cdc.OpTxBegin, Tx: cdc.TxInfo{ID: "571:53195829"}, TsMs: 1486500577125},
			`{"table":null,"op":"tx-begin","key":null,"before":null,"after":null,"position":"0/0/0",` +
				`"tx":{"id":"571:53195829","total_order":null,"data_collection_order":null},` +
				`"ts_ms":1486500577125,"ts_ns":null,"schema_version":null,"source":{},"commit_time":null}`},
		{"tx-end", &cdc.Event{Op: cdc.OpTxEnd, Tx: cdc.TxInfo{ID: "571:53195832"}, TsMs: 1486500577691, EventCount: 2,
			Collections: []cdc.CollectionCount{{Collection: "s1.a", EventCount: 1}, {Collection: "s2.a", EventCount: 1}}},
			`{"table":null,"op":"tx-end","key":null,"before":null,"after":null,"position":"0/0/0",` +
				`"tx":{"id":"571:53195832","total_order":null,"data_collection_order":null},"ts_ms":1486500577691,"ts_ns":null,` +
				`"schema_version":null,"source":{},"commit_time":null,"event_count":2,` +
				`"data_collections":[{"data_collection":"s1.a","event_count":1},{"data_collection":"s2.a","event_count":1}]}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := cdc.AppendEventJSON([]byte("prefix:"), c.ev)
			require.True(t, bytes.HasPrefix(got, []byte("prefix:")), "appends to dst")
			got = got[len("prefix:"):]
			assert.Equal(t, c.want, string(got))
			assert.True(t, json.Valid(got), "%s", got)
		})
	}
}

// jsonTopKeys returns the top-level keys of a JSON object in the order they appear.
func jsonTopKeys(t *testing.T, b []byte) []string {
	dec := json.NewDecoder(bytes.NewReader(b))
	_, err := dec.Token()
	require.NoError(t, err)
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		require.NoError(t, err)
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		require.NoError(t, dec.Decode(&skip))
	}
	return keys
}

// TestAppendEventJSONAlwaysValid builds random events, with hostile text (invalid UTF-8,
// control characters, quotes), non-finite floats and extreme numbers, and checks that the
// output is valid JSON with the keys in their fixed order and values that read back.
func TestAppendEventJSONAlwaysValid(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	nasty := []string{"", "plain", "q\"uote", "back\\slash", "\x00\x01\x1f", "\xff\xfe", "caf\xc3", "line\nbreak\ttab",
		"\u2028\u2029", "<script>&", "日本語", "\U0001F600"}
	str := func() string { return nasty[rng.IntN(len(nasty))] + nasty[rng.IntN(len(nasty))] }
	floats := []float64{0, -0.0, 1e300, -1e-300, math.NaN(), math.Inf(1), math.Inf(-1), math.MaxFloat64}
	ints := []int64{0, 1, -1, math.MaxInt64, math.MinInt64, 1 << 53, 1<<53 + 1}
	value := func(i int) change.Value {
		switch rng.IntN(4) {
		case 0:
			return change.Null()
		case 1:
			return change.Absent()
		}
		switch outSchema.Field(i).Type.ID() {
		case arrow.INT64, arrow.UINT64, arrow.DATE32, arrow.TIMESTAMP:
			return change.Int(ints[rng.IntN(len(ints))])
		case arrow.STRING:
			return change.Str(str())
		case arrow.BINARY:
			return change.Bytes([]byte(str()))
		case arrow.DECIMAL128:
			return change.Decimal(decimal128.New(rng.Int64()>>rng.IntN(64), rng.Uint64()))
		case arrow.BOOL:
			return change.Bool(rng.IntN(2) == 0)
		}
		return change.Float(floats[rng.IntN(len(floats))])
	}
	image := func() change.Row {
		if rng.IntN(3) == 0 {
			return nil
		}
		r := make(change.Row, outSchema.NumFields())
		for i := range r {
			r[i] = value(i)
		}
		return r
	}
	var buf []byte
	for n := 0; n < 3000; n++ {
		ev := cdc.Event{Table: str(), Op: cdc.Op(1 + rng.IntN(9)), Schema: outSchema, KeySchema: outKeySchema,
			SchemaVersion: rng.IntN(3), Before: image(), After: image(),
			Pos:     cdc.Position{Major: rng.Uint64(), Minor: rng.Uint64(), Seq: rng.Uint64()},
			Tx:      cdc.TxInfo{ID: str(), TotalOrder: ints[rng.IntN(len(ints))]},
			TsMs:    ints[rng.IntN(len(ints))],
			TsNs:    ints[rng.IntN(len(ints))],
			Source:  cdc.SourceInfo{Connector: str(), DB: str(), GTID: str(), LSN: rng.Uint64(), FilePos: ints[rng.IntN(len(ints))]},
			Message: &cdc.Message{Prefix: str(), Content: []byte(str())}, EventCount: ints[rng.IntN(len(ints))],
			Collections: []cdc.CollectionCount{{Collection: str(), EventCount: 3}}}
		if rng.IntN(2) == 0 {
			ev.Key = change.Row{value(0)}
		}
		if rng.IntN(2) == 0 {
			ev.CommitTime = time.Unix(rng.Int64N(1<<34), rng.Int64N(1e9))
		}
		if rng.IntN(10) == 0 {
			ev.Schema = nil // images without a schema still render, by position
		}
		buf = cdc.AppendEventJSON(buf[:0], &ev)
		require.True(t, json.Valid(buf), "%q", buf)

		want := []string{"table", "op", "key", "before", "after", "position", "tx", "ts_ms", "ts_ns", "schema_version", "source", "commit_time"}
		switch ev.Op {
		case cdc.OpMessage:
			want = append(want, "message")
		case cdc.OpTxEnd:
			want = append(want, "event_count", "data_collections")
		}
		require.Equal(t, want, jsonTopKeys(t, buf), "%s", buf)

		var back struct {
			Op       string
			Position string
			TsNs     json.Number `json:"ts_ns"`
		}
		d := json.NewDecoder(bytes.NewReader(buf))
		d.UseNumber()
		require.NoError(t, d.Decode(&back))
		assert.Equal(t, ev.Op.String(), back.Op)
		assert.Equal(t, ev.Pos.String(), back.Position)
		if ev.TsNs != 0 {
			assert.Equal(t, fmt.Sprint(ev.TsNs), back.TsNs.String(), "integers are exact")
		}
	}
}

func BenchmarkAppendEventJSON(b *testing.B) {
	ev := cdc.Event{Table: "public.customers", Op: cdc.OpUpdate, Schema: outSchema, SchemaVersion: 1, KeySchema: outKeySchema,
		Key: change.Row{change.Int(1)}, Before: outRow(1, "Anne"), After: outRow(1, "Anne Marie"),
		Source: cdc.SourceInfo{Connector: "postgresql", DB: "postgres", Schema: "public", Table: "customers", LSN: 24023128, TxID: "556"},
		Tx:     cdc.TxInfo{ID: "556:24023128", TotalOrder: 1, CollectionOrder: 1}, TsMs: 1559033904863, TsNs: 1559033904863841257,
		CommitTime: time.UnixMilli(1559033904863)}
	var buf []byte
	for b.Loop() {
		buf = cdc.AppendEventJSON(buf[:0], &ev)
	}
	b.SetBytes(int64(len(buf)))
}

func ExampleAppendEventJSON() {
	key := change.MustSchema([]arrow.Field{change.NotNull("id", arrow.PrimitiveTypes.Int32)}, "id")
	s := change.MustSchema([]arrow.Field{
		change.NotNull("id", arrow.PrimitiveTypes.Int32),
		change.Col("sal", &arrow.Decimal128Type{Precision: 19, Scale: 4}),
	}, "id")
	ev := cdc.Event{Table: "dbo.emp", Op: cdc.OpDelete, Schema: s, SchemaVersion: 1, KeySchema: key,
		Key:    change.Row{change.Int(11)},
		Before: change.Row{change.Int(11), change.Decimal(decimal128.FromI64(2000000000))},
		Source: cdc.SourceInfo{Connector: "sqlserver", DB: "RedisConnect", Schema: "dbo", Table: "emp"}}
	fmt.Println(string(cdc.AppendEventJSON(nil, &ev)))
	// Output:
	// {"table":"dbo.emp","op":"delete","key":{"id":11},"before":{"id":11,"sal":"200000.0000"},"after":null,"position":"0/0/0","tx":null,"ts_ms":null,"ts_ns":null,"schema_version":1,"source":{"connector":"sqlserver","db":"RedisConnect","schema":"dbo","table":"emp"},"commit_time":null}
}
