package silver

import (
	"math/bits"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/strata-data/strata/change"
)

type (
	arrowArray = arrow.Array
	arrowField = arrow.Field
)

func popcount(x uint64) int { return bits.OnesCount64(x) }

// project returns the schema of columns cols of s. It keeps the primary key when every
// key column is among cols.
func project(s *change.Schema, cols []int) (*change.Schema, error) {
	fields := make([]arrow.Field, len(cols))
	names := map[string]bool{}
	for i, c := range cols {
		fields[i] = s.Field(c)
		names[fields[i].Name] = true
	}
	var key []string
	for _, k := range s.KeyNames() {
		if !names[k] {
			key = nil
			break
		}
		key = append(key, k)
	}
	return change.NewSchema(fields, key...)
}

// AppendText appends the text form of a value of a column of type t, as CSV cells and
// partition labels show it: text as it is, bytes base64, integers exact, decimals as
// exact decimal text, dates YYYY-MM-DD, timestamps RFC 3339 (UTC), times HH:MM:SS[.f],
// floats as the shortest text that reads back, NULL (and absent) as nothing.
func AppendText(dst []byte, v change.Value, t arrow.DataType) []byte {
	switch v.Kind() {
	case change.KindNull, change.KindAbsent:
		return dst
	case change.KindString:
		return append(dst, v.AsString()...)
	}
	start := len(dst)
	dst = change.AppendJSON(dst, v, t)
	// What is left quoted is base64, a decimal, a date, a time or a timestamp: plain
	// ASCII without escapes, or a NaN/Inf float.
	if n := len(dst) - start; n >= 2 && dst[start] == '"' && dst[len(dst)-1] == '"' {
		copy(dst[start:], dst[start+1:len(dst)-1])
		dst = dst[:len(dst)-2]
	}
	return dst
}

func valueText(dst []byte, v change.Value, t arrow.DataType) string {
	return strings.Clone(string(AppendText(dst, v, t)))
}

func bucketLabel(i, n int) string { return "bucket=" + strconv.Itoa(i) + "/" + strconv.Itoa(n) }
