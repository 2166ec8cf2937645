package sink

import (
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/strata-data/strata/change"
)

// AppendKeyJSON appends the key of row i of b as a JSON object of the key columns, in
// the schema's key order: {"id":42,"region":"eu"}. Values are strata's normalized JSON
// (see change.AppendJSON): integers exact, decimals as exact decimal strings, dates
// YYYY-MM-DD, timestamps RFC 3339 in UTC, bytes base64. Equal keys give equal bytes, so
// it serves as a Kafka message key and as a map key.
func AppendKeyJSON(dst []byte, b *change.Batch, i int) []byte {
	s := b.Schema()
	dst = append(dst, '{')
	for n, c := range s.Key() {
		if n > 0 {
			dst = append(dst, ',')
		}
		dst = appendName(dst, s.Field(c).Name)
		dst = appendJSONCell(dst, b.Column(c), s.Field(c).Type, i)
	}
	return append(dst, '}')
}

// AppendRowJSON appends row i of b as a JSON object of every column, in schema order,
// with the value encoding of AppendKeyJSON.
func AppendRowJSON(dst []byte, b *change.Batch, i int) []byte {
	s := b.Schema()
	dst = append(dst, '{')
	for c, f := range s.Fields() {
		if c > 0 {
			dst = append(dst, ',')
		}
		dst = appendName(dst, f.Name)
		dst = appendJSONCell(dst, b.Column(c), f.Type, i)
	}
	return append(dst, '}')
}

func appendName(dst []byte, name string) []byte {
	dst = append(dst, '"')
	dst = change.AppendJSONEscaped(dst, name)
	return append(dst, '"', ':')
}

// appendJSONCell appends row i of a as normalized JSON, reading the common column types
// directly and the rest through change.AppendJSON.
func appendJSONCell(dst []byte, a arrow.Array, t arrow.DataType, i int) []byte {
	if a.IsNull(i) {
		return append(dst, "null"...)
	}
	switch a := a.(type) {
	case *array.String:
		dst = append(dst, '"')
		dst = change.AppendJSONEscaped(dst, a.Value(i))
		return append(dst, '"')
	case *array.Int64:
		return strconv.AppendInt(dst, a.Value(i), 10)
	case *array.Int32:
		return strconv.AppendInt(dst, int64(a.Value(i)), 10)
	case *array.Binary:
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, a.Value(i))
		return append(dst, '"')
	}
	return change.AppendJSON(dst, change.ValueAt(a, i), t)
}

// appendCSVCell appends row i of a as one RFC 4180 field: NULL as an empty field, an
// empty string as "" (so the two differ), text quoted when it holds a comma, quote, CR
// or LF, and other values as in AppendRowJSON without JSON quotes (decimals exact,
// dates YYYY-MM-DD, timestamps RFC 3339, bytes base64).
func appendCSVCell(dst []byte, a arrow.Array, t arrow.DataType, i int) []byte {
	if a.IsNull(i) {
		return dst
	}
	switch a := a.(type) {
	case *array.String:
		return appendCSVText(dst, a.Value(i))
	case *array.Binary:
		v := a.Value(i)
		if len(v) == 0 {
			return append(dst, '"', '"')
		}
		return base64.StdEncoding.AppendEncode(dst, v)
	}
	n := len(dst)
	dst = appendJSONCell(dst, a, t, i)
	if len(dst) > n+1 && dst[n] == '"' { // a quoted scalar (decimal, date, time): no quotes inside
		copy(dst[n:], dst[n+1:len(dst)-1])
		dst = dst[:len(dst)-2]
	}
	return dst
}

// appendCSVText appends s as a CSV field, quoted when it must be.
func appendCSVText(dst []byte, s string) []byte {
	if s != "" && !strings.ContainsAny(s, ",\"\r\n") {
		return append(dst, s...)
	}
	dst = append(dst, '"')
	for {
		j := strings.IndexByte(s, '"')
		if j < 0 {
			break
		}
		dst = append(dst, s[:j+1]...)
		dst = append(dst, '"')
		s = s[j+1:]
	}
	dst = append(dst, s...)
	return append(dst, '"')
}
