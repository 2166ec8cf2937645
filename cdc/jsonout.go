package cdc

import (
	"encoding/base64"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/strata-data/strata/change"
)

// AppendEventJSON appends ev as one normalized JSON object, the form `strata decode` and
// `bronze replay` print, so that events from any connector compare as text. Keys always
// come in this order, null when the event has no such thing:
//
//	"table"          "schema.table" or "db.table"
//	"op"             create, update, delete, read, truncate, message, tombstone, tx-begin, tx-end
//	"key"            object of the key columns
//	"before","after" objects of the row images by column name; a column absent from a
//	                 partial image is left out, NULL is null
//	"position"       Pos.String(), MAJOR/MINOR/SEQ in hexadecimal
//	"tx"             {"id","total_order","data_collection_order"}, null outside transactions
//	"ts_ms","ts_ns"  when the connector processed the event
//	"schema_version" the version of the table's schema the images follow
//	"source"         the non-zero fields of the source block (always an object)
//	"commit_time"    RFC 3339
//
// then, for a message, "message":{"prefix","content"} (content base64) and, for a
// tx-end, "event_count" and "data_collections":[{"data_collection","event_count"}].
// Values follow change.AppendJSON: integers exact, decimals as exact decimal strings,
// dates YYYY-MM-DD, timestamps RFC 3339, bytes base64. Zero numbers mean unknown and
// print as null. The output is valid JSON for any event (invalid UTF-8 in text becomes
// U+FFFD) and is built without reflection.
func AppendEventJSON(dst []byte, ev *Event) []byte {
	dst = append(dst, `{"table":`...)
	dst = appendStringOrNull(dst, ev.Table)
	dst = append(dst, `,"op":`...)
	dst = change.AppendJSONString(dst, ev.Op.String())
	dst = append(dst, `,"key":`...)
	dst = appendRowJSON(dst, ev.KeySchema, ev.Key)
	dst = append(dst, `,"before":`...)
	dst = appendRowJSON(dst, ev.Schema, ev.Before)
	dst = append(dst, `,"after":`...)
	dst = appendRowJSON(dst, ev.Schema, ev.After)
	dst = append(dst, `,"position":"`...)
	dst = append(dst, ev.Pos.String()...)
	dst = append(dst, `","tx":`...)
	if ev.Tx.ID == "" {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, `{"id":`...)
		dst = change.AppendJSONString(dst, ev.Tx.ID)
		dst = append(dst, `,"total_order":`...)
		dst = appendIntOrNull(dst, ev.Tx.TotalOrder)
		dst = append(dst, `,"data_collection_order":`...)
		dst = appendIntOrNull(dst, ev.Tx.CollectionOrder)
		dst = append(dst, '}')
	}
	dst = append(dst, `,"ts_ms":`...)
	dst = appendIntOrNull(dst, ev.TsMs)
	dst = append(dst, `,"ts_ns":`...)
	dst = appendIntOrNull(dst, ev.TsNs)
	dst = append(dst, `,"schema_version":`...)
	dst = appendIntOrNull(dst, int64(ev.SchemaVersion))
	dst = append(dst, `,"source":`...)
	dst = appendSourceJSON(dst, &ev.Source)
	dst = append(dst, `,"commit_time":`...)
	dst = appendTimeOrNull(dst, ev.CommitTime)
	if ev.Op == OpMessage {
		dst = append(dst, `,"message":`...)
		if ev.Message == nil {
			dst = append(dst, "null"...)
		} else {
			dst = append(dst, `{"prefix":`...)
			dst = change.AppendJSONString(dst, ev.Message.Prefix)
			dst = append(dst, `,"content":"`...)
			dst = base64.StdEncoding.AppendEncode(dst, ev.Message.Content)
			dst = append(dst, `"}`...)
		}
	}
	if ev.Op == OpTxEnd {
		dst = append(dst, `,"event_count":`...)
		dst = strconv.AppendInt(dst, ev.EventCount, 10)
		dst = append(dst, `,"data_collections":[`...)
		for i, c := range ev.Collections {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"data_collection":`...)
			dst = change.AppendJSONString(dst, c.Collection)
			dst = append(dst, `,"event_count":`...)
			dst = strconv.AppendInt(dst, c.EventCount, 10)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	return append(dst, '}')
}

// appendRowJSON appends a row as an object keyed by column name, leaving out absent
// columns; a nil row is null. Columns beyond the schema (a programming error upstream)
// are named by position, "_5", rather than lost.
func appendRowJSON(dst []byte, s *change.Schema, r change.Row) []byte {
	if r == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '{')
	first := true
	for i, v := range r {
		if v.IsAbsent() {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		var t arrow.DataType
		if s != nil && i < s.NumFields() {
			f := s.Field(i)
			t = f.Type
			dst = change.AppendJSONString(dst, f.Name)
		} else {
			dst = append(dst, `"_`...)
			dst = strconv.AppendInt(dst, int64(i), 10)
			dst = append(dst, '"')
		}
		dst = append(dst, ':')
		dst = change.AppendJSON(dst, v, t)
	}
	return append(dst, '}')
}

// appendSourceJSON appends the non-zero fields of the source block, in a fixed order.
func appendSourceJSON(dst []byte, s *SourceInfo) []byte {
	o := objectWriter{b: append(dst, '{')}
	o.str("connector", s.Connector)
	o.str("name", s.Name)
	o.str("db", s.DB)
	o.str("schema", s.Schema)
	o.str("table", s.Table)
	if s.LSN != 0 {
		o.key("lsn")
		o.b = strconv.AppendUint(o.b, s.LSN, 10)
	}
	o.str("sequence", s.Sequence)
	o.str("txId", s.TxID)
	o.str("file", s.File)
	o.num("pos", s.FilePos)
	o.num("row", s.Row)
	o.num("server_id", s.ServerID)
	o.str("gtid", s.GTID)
	o.str("commit_lsn", s.CommitLSN)
	o.str("change_lsn", s.ChangeLSN)
	o.str("snapshot", s.Snapshot)
	o.num("ts_ms", s.TsMs)
	return append(o.b, '}')
}

// objectWriter appends the members of a JSON object, skipping zero values.
type objectWriter struct {
	b []byte
	n int
}

func (o *objectWriter) key(k string) {
	if o.n > 0 {
		o.b = append(o.b, ',')
	}
	o.n++
	o.b = append(o.b, '"')
	o.b = append(o.b, k...)
	o.b = append(o.b, '"', ':')
}

func (o *objectWriter) str(k, v string) {
	if v != "" {
		o.key(k)
		o.b = change.AppendJSONString(o.b, v)
	}
}

func (o *objectWriter) num(k string, v int64) {
	if v != 0 {
		o.key(k)
		o.b = strconv.AppendInt(o.b, v, 10)
	}
}

func appendStringOrNull(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, "null"...)
	}
	return change.AppendJSONString(dst, s)
}

func appendIntOrNull(dst []byte, n int64) []byte {
	if n == 0 {
		return append(dst, "null"...)
	}
	return strconv.AppendInt(dst, n, 10)
}

func appendTimeOrNull(dst []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(dst, "null"...)
	}
	dst = append(dst, '"')
	dst = t.UTC().AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"')
}
