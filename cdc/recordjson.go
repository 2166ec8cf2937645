package cdc

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/internal/jsonscan"
)

// ParseRecordJSON parses one line of record JSON, the on-disk form of Kafka-style
// records, one JSON object per line:
//
//	{"topic":"t","partition":0,"offset":5,"timestamp":"2019-05-28T08:58:24.863Z",
//	 "key":{"id":1},"value":{"schema":...,"payload":...},
//	 "headers":[{"key":"__debezium.oldkey","value":"eyJpZCI6MX0="}]}
//
// "key" and "value" embed the record's bytes as JSON: the exact bytes of the embedded
// value become Record.Key and Record.Value, and null means nil. Bytes that cannot be
// embedded verbatim (not one JSON value, a line break, surrounding white space, the
// literal null, or empty) are written by AppendRecordJSON as "key_b64"/"value_b64"
// strings in standard base64 instead, so every record round-trips exactly. "timestamp"
// is RFC 3339 (an integer is read as epoch milliseconds) and is omitted when zero;
// header values are base64 or null.
//
// A line that is not a Kafka-style record (a JSON object with "value" or "value_b64"
// next to at least one of topic, partition, offset), such as a bare Debezium
// {"schema":..,"payload":..} envelope or payload, or one that is not valid JSON at all,
// is returned as a record whose Value is the whole line (without surrounding white
// space) and whose other fields are zero: the caller supplies its coordinates
// ([RecordReader] uses the file's name and line number). The returned record owns its
// bytes. An error (a *DecodeError wrapping ErrMalformed, naming the field) means the
// line is a Kafka-style record with a field of the wrong form.
func ParseRecordJSON(line []byte) (Record, error) {
	var sc jsonscan.Scanner
	rec, _, err := parseRecordJSON(&sc, line)
	return rec, err
}

// recordFields says which coordinates a Kafka-style line carried (none for a bare value).
type recordFields uint8

const (
	hasTopic recordFields = 1 << iota
	hasPartition
	hasOffset
)

// recordSpans holds the raw JSON text of each field of a Kafka-style record.
type recordSpans struct {
	topic, partition, offset, timestamp, key, keyB64, value, valueB64, headers []byte
}

// parseRecordJSON copies line once; the record's Key and Value are slices of the copy.
func parseRecordJSON(sc *jsonscan.Scanner, line []byte) (Record, recordFields, error) {
	var sp recordSpans
	var has recordFields
	own := append([]byte{}, bytes.TrimSpace(line)...)
	bare := Record{Value: own}
	sc.Reset(own)
	if !sc.Object() {
		return bare, 0, nil
	}
	for {
		k, ok := sc.Key()
		if !ok {
			break
		}
		switch string(k) {
		case "topic":
			sp.topic, has = sc.Skip(), has|hasTopic
		case "partition":
			sp.partition, has = sc.Skip(), has|hasPartition
		case "offset":
			sp.offset, has = sc.Skip(), has|hasOffset
		case "timestamp":
			sp.timestamp = sc.Skip()
		case "key":
			sp.key = sc.Skip()
		case "key_b64":
			sp.keyB64 = sc.Skip()
		case "value":
			sp.value = sc.Skip()
		case "value_b64":
			sp.valueB64 = sc.Skip()
		case "headers":
			sp.headers = sc.Skip()
		default:
			sc.Skip()
		}
	}
	if !sc.End() || has == 0 || (sp.value == nil && sp.valueB64 == nil) {
		return bare, 0, nil
	}
	var err error
	var rec Record
	fail := func(field string, err error) (Record, recordFields, error) {
		return bare, has, &DecodeError{Origin: rec.Origin(), Field: field, Err: fmt.Errorf("%w: %v", ErrMalformed, err)}
	}
	if sp.topic != nil {
		if rec.Topic, err = jsonString(sp.topic); err != nil {
			return fail("topic", err)
		}
	}
	if sp.partition != nil {
		n, err := jsonInt(sp.partition, 32)
		if err != nil {
			return fail("partition", err)
		}
		rec.Partition = int32(n)
	}
	if sp.offset != nil {
		if rec.Offset, err = jsonInt(sp.offset, 64); err != nil {
			return fail("offset", err)
		}
	}
	if sp.timestamp != nil {
		if rec.Time, err = jsonTime(sp.timestamp); err != nil {
			return fail("timestamp", err)
		}
	}
	if rec.Key, err = embedded(sp.key, sp.keyB64); err != nil {
		return fail("key", err)
	}
	if rec.Value, err = embedded(sp.value, sp.valueB64); err != nil {
		return fail("value", err)
	}
	if sp.headers != nil && !isNull(sp.headers) {
		var hs []struct {
			Key   *string
			Value []byte
		}
		if err := json.Unmarshal(sp.headers, &hs); err != nil {
			return fail("headers", err)
		}
		rec.Headers = make([]Header, len(hs))
		for i, h := range hs {
			if h.Key == nil {
				return fail("headers["+strconv.Itoa(i)+"].key", errors.New("missing"))
			}
			rec.Headers[i] = Header{Key: *h.Key, Value: h.Value}
		}
	}
	return rec, has, nil
}

// embedded returns the bytes of a "key"/"value" field or its "_b64" twin.
func embedded(raw, b64 []byte) ([]byte, error) {
	switch {
	case raw != nil && b64 != nil:
		return nil, errors.New("both the JSON and the _b64 form are present")
	case b64 != nil:
		if isNull(b64) {
			return nil, nil
		}
		s, err := jsonString(b64)
		if err != nil {
			return nil, fmt.Errorf("_b64: %w", err)
		}
		out, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("_b64: %w", err)
		}
		return out, nil
	case raw == nil || isNull(raw):
		return nil, nil
	}
	return raw[:len(raw):len(raw)], nil // appending must not overwrite the rest of the line
}

// AppendRecordJSON appends r as one line of record JSON (without a line break), in the
// form ParseRecordJSON describes and reads back to an identical record (Time compares
// with Equal).
func AppendRecordJSON(dst []byte, r *Record) []byte {
	dst = append(dst, `{"topic":`...)
	dst = change.AppendJSONString(dst, r.Topic)
	dst = append(dst, `,"partition":`...)
	dst = strconv.AppendInt(dst, int64(r.Partition), 10)
	dst = append(dst, `,"offset":`...)
	dst = strconv.AppendInt(dst, r.Offset, 10)
	if !r.Time.IsZero() {
		dst = append(dst, `,"timestamp":"`...)
		dst = r.Time.UTC().AppendFormat(dst, time.RFC3339Nano)
		dst = append(dst, '"')
	}
	dst = appendEmbedded(dst, "key", r.Key)
	dst = appendEmbedded(dst, "value", r.Value)
	if r.Headers != nil {
		dst = append(dst, `,"headers":[`...)
		for i, h := range r.Headers {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"key":`...)
			dst = change.AppendJSONString(dst, h.Key)
			dst = append(dst, `,"value":`...)
			dst = appendBase64OrNull(dst, h.Value)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	return append(dst, '}')
}

func appendEmbedded(dst []byte, name string, b []byte) []byte {
	dst = append(dst, ',', '"')
	dst = append(dst, name...)
	if b == nil {
		return append(dst, `":null`...)
	}
	if embeddable(b) {
		dst = append(dst, '"', ':')
		return append(dst, b...)
	}
	dst = append(dst, `_b64":`...)
	return appendBase64OrNull(dst, b)
}

func appendBase64OrNull(dst, b []byte) []byte {
	if b == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '"')
	dst = base64.StdEncoding.AppendEncode(dst, b)
	return append(dst, '"')
}

// embeddable reports whether b can stand verbatim as a JSON field value on one line and
// be read back as exactly the same bytes.
func embeddable(b []byte) bool {
	if len(b) == 0 || isNull(b) || isSpace(b[0]) || isSpace(b[len(b)-1]) || bytes.ContainsAny(b, "\r\n") {
		return false
	}
	var sc jsonscan.Scanner
	sc.Reset(b)
	sc.Skip()
	return sc.End()
}

// RecordReaderConfig configures a RecordReader. The zero value reads a finite stream.
type RecordReaderConfig struct {
	// Name names the input in errors ("orders.jsonl:12: ..."); usually the file path.
	Name string
	// Topic is the topic of bare values and of records without one; "" means the base
	// name of Name without its extension.
	Topic string
	// Follow keeps a trailing incomplete line or value at EOF instead of reading it as
	// the last record, because more may be appended: Next returns io.EOF and can be
	// called again later.
	Follow bool
	// MaxRecordBytes bounds one record's text (default 64 MiB). Longer records are
	// returned as errors holding their first MaxRecordBytes bytes.
	MaxRecordBytes int
}

// DefaultMaxRecordBytes is the default bound on one record's text.
const DefaultMaxRecordBytes = 64 << 20

// RecordReader reads records from JSON text: record JSON lines, bare values one per line
// (JSONL), or JSON values spread over several lines each (pretty-printed; a file holding
// one such value is one record). Which of the two layouts a stream uses is decided by
// its first value: one that ends on its first line means one value per line.
//
// A bare value gets the configured topic, partition 0 and as offset the 0-based number
// of its first line; a record line without topic or offset gets the same defaults.
type RecordReader struct {
	br     *bufio.Reader
	cfg    RecordReaderConfig
	lineNo int // lines consumed so far

	partial []byte // current line so far (Follow mode keeps it across EOF)
	tooLong bool   // the current line exceeded MaxRecordBytes; skipping to its end

	sc jsonscan.Scanner // reused for every record

	layout    int    // layoutUnknown, layoutLines or layoutValues
	value     []byte // multi-line value being assembled
	valueLine int    // 1-based line the value starts on
	depth     valueEnd
}

const (
	layoutUnknown = iota
	layoutLines
	layoutValues
)

// NewRecordReader reads records from r.
func NewRecordReader(r io.Reader, cfg RecordReaderConfig) *RecordReader {
	if cfg.MaxRecordBytes <= 0 {
		cfg.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if cfg.Topic == "" {
		base := filepath.Base(cfg.Name)
		cfg.Topic = strings.TrimSuffix(base, filepath.Ext(base))
	}
	return &RecordReader{br: bufio.NewReaderSize(r, 64<<10), cfg: cfg}
}

// Next returns the next record and the 1-based line it starts on; the record owns its
// bytes. At the end of the input it returns io.EOF (in Follow mode, call again once more
// has been written). A record that cannot be read is returned together with an error
// wrapping ErrMalformed and naming NAME:LINE and the field; the record then holds the
// raw text as Value, for dead letters, and reading can go on. Any other error is the
// reader's own and is final.
func (r *RecordReader) Next() (Record, int, error) {
	for {
		line, err := r.readLine()
		if err == io.EOF {
			if len(r.value) > 0 && !r.cfg.Follow {
				start, text := r.valueLine, r.value
				r.value = nil
				return r.malformed(text, start, errors.New("unexpected end of input inside a JSON value"))
			}
			return Record{}, 0, io.EOF
		}
		if err != nil {
			return Record{}, 0, err
		}
		n := r.lineNo
		if r.tooLong {
			r.tooLong = false
			if len(r.value) > 0 {
				line, n = append(r.value, line...), r.valueLine
				r.value = nil
			}
			return r.malformed(line, n, fmt.Errorf("record longer than %d bytes", r.cfg.MaxRecordBytes))
		}
		if n == 1 {
			line = bytes.TrimPrefix(line, []byte("\ufeff"))
		}
		if r.layout == layoutLines {
			if isBlankLine(line) {
				continue
			}
			return r.record(line, n)
		}
		if len(r.value) == 0 {
			if isBlankLine(line) {
				continue
			}
			r.valueLine = n
			r.depth = valueEnd{}
		}
		r.depth.feed(line)
		r.value = append(r.value, line...)
		r.value = append(r.value, '\n')
		if !r.depth.complete() {
			if len(r.value) > r.cfg.MaxRecordBytes {
				start, text := r.valueLine, r.value[:r.cfg.MaxRecordBytes]
				r.value = nil
				return r.malformed(text, start, fmt.Errorf("record longer than %d bytes", r.cfg.MaxRecordBytes))
			}
			continue
		}
		if r.layout == layoutUnknown {
			r.layout = layoutValues
			if r.valueLine == n {
				r.layout = layoutLines
			}
		}
		text := r.value
		r.value = r.value[:0]
		return r.record(text, r.valueLine)
	}
}

// record turns the text of one record starting on line n into a Record.
func (r *RecordReader) record(text []byte, n int) (Record, int, error) {
	rec, has, err := parseRecordJSON(&r.sc, text)
	if has&hasTopic == 0 {
		rec.Topic = r.cfg.Topic
	}
	if has&hasOffset == 0 || err != nil {
		rec.Offset = int64(n - 1)
	}
	if err != nil {
		// Where the line sits in the file, for the dead letter and the error alike.
		rec.Topic, rec.Partition = r.cfg.Topic, 0
		if de := (*DecodeError)(nil); errors.As(err, &de) {
			de.Origin = rec.Origin()
		}
		return rec, n, fmt.Errorf("%s:%d: %w", r.cfg.Name, n, err)
	}
	return rec, n, nil
}

// malformed returns raw text that is not a record as one, with its error.
func (r *RecordReader) malformed(text []byte, n int, err error) (Record, int, error) {
	rec := Record{Topic: r.cfg.Topic, Offset: int64(n - 1), Value: bytes.Clone(bytes.TrimSpace(text))}
	derr := &DecodeError{Origin: rec.Origin(), Err: fmt.Errorf("%w: %v", ErrMalformed, err)}
	return rec, n, fmt.Errorf("%s:%d: %w", r.cfg.Name, n, derr)
}

// readLine returns the next line without its line break, valid until the next call (the
// buffer is reused). At EOF a final line without a break is returned, except in Follow
// mode, where it is kept for later.
func (r *RecordReader) readLine() ([]byte, error) {
	for {
		chunk, err := r.br.ReadSlice('\n')
		if !r.tooLong {
			r.partial = append(r.partial, chunk...)
			if len(r.partial) > r.cfg.MaxRecordBytes+2 {
				r.partial = r.partial[:r.cfg.MaxRecordBytes]
				r.tooLong = true
			}
		}
		switch {
		case err == nil:
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF:
			if len(r.partial) == 0 && !r.tooLong || r.cfg.Follow {
				return nil, io.EOF
			}
		default:
			return nil, fmt.Errorf("cdc: read %s: %w", r.cfg.Name, err)
		}
		r.lineNo++
		line := r.partial
		r.partial = r.partial[:0]
		line = bytes.TrimSuffix(line, []byte{'\n'})
		return bytes.TrimSuffix(line, []byte{'\r'}), nil
	}
}

// valueEnd follows the nesting of JSON text fed line by line, to find where a
// value spread over several lines ends without parsing it twice.
type valueEnd struct {
	depth     int
	inString  bool
	escaped   bool
	seen      bool // a non-space byte was seen
	scalarEnd bool // a top-level scalar ended
}

func (d *valueEnd) feed(line []byte) {
	for _, c := range line {
		switch {
		case d.inString:
			switch {
			case d.escaped:
				d.escaped = false
			case c == '\\':
				d.escaped = true
			case c == '"':
				d.inString = false
			}
		case c == '"':
			d.inString, d.seen = true, true
		case c == '{' || c == '[':
			d.depth++
			d.seen = true
		case c == '}' || c == ']':
			d.depth--
			d.seen = true
		case !isSpace(c):
			d.seen = true
		}
	}
}

// complete reports whether the text fed so far holds a whole value (or is unbalanced
// beyond repair, which parsing it will report).
func (d *valueEnd) complete() bool { return d.seen && !d.inString && d.depth <= 0 }

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isBlankLine(b []byte) bool { return len(bytes.TrimSpace(b)) == 0 }

func isNull(b []byte) bool { return string(b) == "null" }

// jsonString decodes a raw JSON string.
func jsonString(raw []byte) (string, error) {
	var sc jsonscan.Scanner
	sc.Reset(raw)
	s, ok := sc.String()
	if !ok || !sc.End() {
		return "", fmt.Errorf("want a string, got %.40s", raw)
	}
	return string(s), nil
}

// jsonInt decodes a raw JSON integer, or a string holding one.
func jsonInt(raw []byte, bits int) (int64, error) {
	text := raw
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' {
		text = raw[1 : len(raw)-1]
	}
	n, err := strconv.ParseInt(string(text), 10, bits)
	if err != nil {
		return 0, fmt.Errorf("want an integer of %d bits, got %.40s", bits, raw)
	}
	return n, nil
}

// jsonTime decodes an RFC 3339 string, epoch milliseconds, or null (the zero time).
func jsonTime(raw []byte) (time.Time, error) {
	if isNull(raw) {
		return time.Time{}, nil
	}
	if raw[0] != '"' {
		ms, err := jsonInt(raw, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("want RFC 3339 text or epoch milliseconds, got %.40s", raw)
		}
		return time.UnixMilli(ms).UTC(), nil
	}
	s, err := jsonString(raw)
	if err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("want RFC 3339 text: %w", err)
	}
	return t, nil
}
