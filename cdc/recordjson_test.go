package cdc

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRecordJSONRoundTrip(t *testing.T) {
	at := time.Date(2019, 5, 28, 8, 58, 24, 863841257, time.FixedZone("CEST", 2*3600))
	recs := []Record{
		{Topic: "pg.public.customers", Partition: 3, Offset: 1 << 40, Time: at,
			Key: []byte(`{"id":1}`), Value: []byte(`{"before":null,"after":{"id":1},"op":"c"}`),
			Headers: []Header{{"__debezium.oldkey", []byte(`{"id":0}`)}, {"nil", nil}, {"empty", []byte{}}}},
		{Topic: "t", Offset: 7},                         // nil key and value: a null tombstone
		{Topic: "t", Value: []byte{}},                   // empty value: also a tombstone, but not nil
		{Topic: "t", Value: []byte("null")},             // the bytes "null" are not the absence of a value
		{Topic: "t", Value: []byte{0x62, 0x67, 0xf2}},   // not JSON, not UTF-8
		{Topic: "t", Value: []byte("{\n  \"a\": 1\n}")}, // pretty-printed JSON: line breaks force base64
		{Topic: "t", Value: []byte(` {"a":1}`)},         // surrounding space would be lost if embedded
		{Topic: "t", Value: []byte(`{"a":1}{"b":2}`)},   // two values are not one
		{Topic: "q\"uote\\d\n", Partition: -1, Offset: -2, Key: []byte(`"k"`), Headers: []Header{}},
	}
	for i := range recs {
		line := AppendRecordJSON(nil, &recs[i])
		require.True(t, json.Valid(line), "%s", line)
		require.NotContains(t, string(line), "\n")
		got, err := ParseRecordJSON(line)
		require.NoError(t, err, "%s", line)
		want := recs[i]
		assert.True(t, want.Time.Equal(got.Time), "%s", line)
		want.Time, got.Time = time.Time{}, time.Time{}
		assert.Equal(t, want, got, "%s", line)
	}
	// Embeddable bytes are embedded, not base64.
	line := AppendRecordJSON(nil, &recs[0])
	assert.Equal(t, `{"topic":"pg.public.customers","partition":3,"offset":1099511627776,"timestamp":"2019-05-28T06:58:24.863841257Z",`+
		`"key":{"id":1},"value":{"before":null,"after":{"id":1},"op":"c"},`+
		`"headers":[{"key":"__debezium.oldkey","value":"eyJpZCI6MH0="},{"key":"nil","value":null},{"key":"empty","value":""}]}`, string(line))
	assert.Equal(t, `{"topic":"t","partition":0,"offset":0,"key":null,"value_b64":"Ymfy"}`, string(AppendRecordJSON(nil, &recs[4])))
}

func TestParseRecordJSONKeepsExactBytes(t *testing.T) {
	rec, err := ParseRecordJSON([]byte(`{"offset":"5", "partition":2,"topic":"a\u0062c","key": {"id" : 1} ,` +
		`"value":{"payload": {"n": 12345678901234567890}}, "timestamp":1559033904863}`))
	require.NoError(t, err)
	assert.Equal(t, "abc", rec.Topic)
	assert.Equal(t, int32(2), rec.Partition)
	assert.Equal(t, int64(5), rec.Offset)
	assert.Equal(t, `{"id" : 1}`, string(rec.Key))
	assert.Equal(t, `{"payload": {"n": 12345678901234567890}}`, string(rec.Value))
	assert.Equal(t, time.UnixMilli(1559033904863).UTC(), rec.Time)
}

func TestParseRecordJSONBareValues(t *testing.T) {
	for _, line := range []string{
		`{"schema":{"type":"struct"},"payload":{"op":"c"}}`,
		`{"before":null,"after":{"id":1,"value":2},"op":"c"}`, // "value" without topic/partition/offset
		`{"status":"BEGIN","id":"571:53195829","event_count":null}`,
		`{"schema":null,"payload":null}`,
		`{"topic":"t","partition":0,"offset":5}`, // coordinates without a value
		`{"topic":"t","value":`,                  // not JSON: the decoder reports it
		`[1,2]`,
		`null`,
	} {
		rec, err := ParseRecordJSON([]byte("  " + line + " \t"))
		require.NoError(t, err, line)
		assert.Equal(t, Record{Value: []byte(line)}, rec, line)
	}
}

func TestParseRecordJSONFieldErrors(t *testing.T) {
	for _, c := range []struct{ line, field string }{
		{`{"topic":5,"value":null}`, "topic"},
		{`{"topic":"t","partition":"x","value":null}`, "partition"},
		{`{"topic":"t","partition":4294967296,"value":null}`, "partition"},
		{`{"topic":"t","offset":1.5,"value":null}`, "offset"},
		{`{"topic":"t","timestamp":"yesterday","value":null}`, "timestamp"},
		{`{"topic":"t","key":{},"key_b64":"","value":null}`, "key"},
		{`{"topic":"t","value_b64":"!!"}`, "value"},
		{`{"topic":"t","value_b64":5}`, "value"},
		{`{"topic":"t","value":null,"headers":{}}`, "headers"},
		{`{"topic":"t","value":null,"headers":[{"value":"AA=="}]}`, "headers[0].key"},
	} {
		rec, err := ParseRecordJSON([]byte(c.line))
		var de *DecodeError
		require.ErrorAs(t, err, &de, c.line)
		assert.Equal(t, c.field, de.Field, c.line)
		assert.ErrorIs(t, err, ErrMalformed, c.line)
		assert.Equal(t, c.line, string(rec.Value), "the raw line is kept for dead letters")
	}
}

func readAllRecords(t *testing.T, rr *RecordReader) (recs []Record, lines []int, errs []error) {
	t.Helper()
	for {
		rec, n, err := rr.Next()
		if err == io.EOF {
			return
		}
		if err != nil && !errors.Is(err, ErrMalformed) {
			require.NoError(t, err)
		}
		recs, lines, errs = append(recs, rec), append(lines, n), append(errs, err)
	}
}

func TestRecordReaderLines(t *testing.T) {
	in := "\ufeff{\"op\":\"c\"}\r\n" +
		"\n" +
		`{"topic":"orders","partition":1,"offset":42,"key":null,"value":{"op":"u"}}` + "\n" +
		`{"op":` + "\n" + // malformed on its own line: still one record per line
		`{"value":{"op":"d"},"partition":2}` + "\n" + // no topic or offset: the defaults
		`{"topic":"t","partition":"x","value":null}` + "\n" +
		`{"op":"r"}` // no final line break
	recs, lines, errs := readAllRecords(t, NewRecordReader(strings.NewReader(in), RecordReaderConfig{Name: "dir/cust.jsonl"}))
	require.Len(t, recs, 6)
	assert.Equal(t, []int{1, 3, 4, 5, 6, 7}, lines)
	assert.Equal(t, Record{Topic: "cust", Offset: 0, Value: []byte(`{"op":"c"}`)}, recs[0])
	assert.Equal(t, Record{Topic: "orders", Partition: 1, Offset: 42, Value: []byte(`{"op":"u"}`)}, recs[1])
	assert.Equal(t, Record{Topic: "cust", Offset: 3, Value: []byte(`{"op":`)}, recs[2], "handed to the decoder, which rejects it")
	assert.NoError(t, errs[2])
	assert.Equal(t, Record{Topic: "cust", Partition: 2, Offset: 4, Value: []byte(`{"op":"d"}`)}, recs[3])
	require.Error(t, errs[4])
	assert.ErrorIs(t, errs[4], ErrMalformed)
	assert.Contains(t, errs[4].Error(), "dir/cust.jsonl:6: ")
	assert.Contains(t, errs[4].Error(), "dir/cust.jsonl:6: cdc: decode cust/0@5: field partition: ")
	assert.Equal(t, Record{Topic: "cust", Offset: 5, Value: []byte(`{"topic":"t","partition":"x","value":null}`)}, recs[4])
	assert.Equal(t, Record{Topic: "cust", Offset: 6, Value: []byte(`{"op":"r"}`)}, recs[5])
}

func TestRecordReaderMultiLineValues(t *testing.T) {
	one := "{\n  \"schema\": null,\n  \"payload\": {\n    \"op\": \"c\",\n    \"s\": \"}{\\\" ]\"\n  }\n}\n"
	recs, lines, errs := readAllRecords(t, NewRecordReader(strings.NewReader(one), RecordReaderConfig{Name: "pg-create.json"}))
	require.Len(t, recs, 1)
	assert.Equal(t, 1, lines[0])
	assert.NoError(t, errs[0])
	assert.Equal(t, Record{Topic: "pg-create", Offset: 0, Value: []byte(strings.TrimSpace(one))}, recs[0])

	// Several pretty-printed values, then one cut short by the end of the file.
	in := "\n" + one + "\n[\n 1,\n 2\n]\n{\n \"topic\": \"k\", \"offset\": 9,\n \"value\": {\"op\": \"d\"}\n}\n{\n \"a\": [1,\n"
	recs, lines, errs = readAllRecords(t, NewRecordReader(strings.NewReader(in), RecordReaderConfig{Name: "x.json"}))
	require.Len(t, recs, 4)
	assert.Equal(t, []int{2, 10, 14, 18}, lines)
	assert.Equal(t, int64(1), recs[0].Offset)
	assert.Equal(t, "[\n 1,\n 2\n]", string(recs[1].Value))
	assert.Equal(t, int64(9), recs[2].Offset)
	assert.Equal(t, "k", recs[2].Topic)
	assert.Equal(t, `{"op": "d"}`, string(recs[2].Value))
	require.Error(t, errs[3])
	assert.ErrorIs(t, errs[3], ErrMalformed)
	assert.Contains(t, errs[3].Error(), "x.json:18: ")
	assert.Contains(t, errs[3].Error(), "unexpected end of input")
	assert.Equal(t, "{\n \"a\": [1,", string(recs[3].Value))
}

// growingFile is a reader whose content grows, as a file being appended to does: it
// returns io.EOF at the current end.
type growingFile struct {
	buf bytes.Buffer
}

func (g *growingFile) Read(p []byte) (int, error) {
	if g.buf.Len() == 0 {
		return 0, io.EOF
	}
	return g.buf.Read(p)
}

func TestRecordReaderFollow(t *testing.T) {
	var g growingFile
	rr := NewRecordReader(&g, RecordReaderConfig{Name: "f.jsonl", Follow: true})
	_, _, err := rr.Next()
	assert.Equal(t, io.EOF, err)

	g.buf.WriteString(`{"op":"c"}` + "\n" + `{"op":`)
	rec, n, err := rr.Next()
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Equal(t, `{"op":"c"}`, string(rec.Value))
	_, _, err = rr.Next()
	assert.Equal(t, io.EOF, err, "a line without its break is still being written")

	g.buf.WriteString(`"u"}` + "\n")
	rec, n, err = rr.Next()
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	assert.Equal(t, `{"op":"u"}`, string(rec.Value))

	// A pretty-printed value arriving in pieces.
	var g2 growingFile
	rr = NewRecordReader(&g2, RecordReaderConfig{Name: "f.json", Follow: true})
	g2.buf.WriteString("{\n \"op\":\n")
	_, _, err = rr.Next()
	assert.Equal(t, io.EOF, err)
	g2.buf.WriteString("\"d\"\n}\n")
	rec, n, err = rr.Next()
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Equal(t, "{\n \"op\":\n\"d\"\n}", string(rec.Value))
}

func TestRecordReaderLongRecords(t *testing.T) {
	big := `{"pad":"` + strings.Repeat("x", 300<<10) + `"}` // spans several read buffers
	in := big + "\n" + `{"pad":"` + strings.Repeat("y", 2000) + `"}` + "\n" + `{"op":"c"}` + "\n"
	recs, lines, errs := readAllRecords(t, NewRecordReader(strings.NewReader(in), RecordReaderConfig{Name: "l.jsonl", MaxRecordBytes: 1000}))
	require.Len(t, recs, 3)
	assert.ErrorIs(t, errs[0], ErrMalformed)
	assert.Contains(t, errs[0].Error(), "l.jsonl:1: ")
	assert.Contains(t, errs[0].Error(), "longer than 1000 bytes")
	assert.Len(t, recs[0].Value, 1000)
	assert.ErrorIs(t, errs[1], ErrMalformed)
	assert.Contains(t, errs[1].Error(), "l.jsonl:2: ")
	assert.Equal(t, []int{1, 2, 3}, lines)
	assert.NoError(t, errs[2])
	assert.Equal(t, `{"op":"c"}`, string(recs[2].Value))

	recs, _, errs = readAllRecords(t, NewRecordReader(strings.NewReader(in), RecordReaderConfig{Name: "l.jsonl"}))
	require.Len(t, recs, 3)
	assert.NoError(t, errs[0])
	assert.Equal(t, big, string(recs[0].Value))
}

func FuzzRecordJSONRoundTrip(f *testing.F) {
	f.Add("t", int32(0), int64(0), []byte(`{"id":1}`), []byte(`{"op":"c"}`), "h", []byte{1})
	f.Add("", int32(-1), int64(-5), []byte(nil), []byte{0xff}, "", []byte(nil))
	f.Fuzz(func(t *testing.T, topic string, part int32, off int64, key, value []byte, hk string, hv []byte) {
		r := Record{Topic: strings.ToValidUTF8(topic, "?"), Partition: part, Offset: off, Key: key, Value: value,
			Headers: []Header{{strings.ToValidUTF8(hk, "?"), hv}}}
		line := AppendRecordJSON(nil, &r)
		if !json.Valid(line) || bytes.IndexByte(line, '\n') >= 0 {
			t.Fatalf("not one JSON line: %q", line)
		}
		got, err := ParseRecordJSON(line)
		require.NoError(t, err)
		require.Equal(t, r, got)
	})
}

func BenchmarkParseRecordJSON(b *testing.B) {
	line := []byte(`{"topic":"pg.public.customers","partition":0,"offset":12345,"timestamp":"2019-05-28T06:58:24.863Z",` +
		`"key":{"id":1},"value":{"before":null,"after":{"id":1,"first_name":"Anne","last_name":"Kretchmar",` +
		`"email":"annek@noanswer.org"},"source":{"version":"3.7.0","connector":"postgresql","name":"PostgreSQL_server",` +
		`"ts_ms":1559033904863,"snapshot":true,"db":"postgres","schema":"public","table":"customers","txId":555,` +
		`"lsn":24023128},"op":"c","ts_ms":1559033904863}}`)
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		if _, err := ParseRecordJSON(line); err != nil {
			b.Fatal(err)
		}
	}
}
