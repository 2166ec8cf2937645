package bronze

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/golang/snappy"
	"github.com/hamba/avro/v2"
	"github.com/hamba/avro/v2/ocf"
	"github.com/klauspost/compress/zstd"

	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/change"
)

// Event files
//
// One bronze event file is an Avro object container file holding the events of one
// table and one schema version, one Avro record per event, in the order given. The
// record schema ("strata.bronze.Event") is derived from the table's change.Schema:
//
//	op              enum Op: create update delete read truncate message tombstone tx_begin tx_end
//	table           string
//	schema_version  long
//	has_schema, has_key_schema  boolean (whether Event.Schema / Event.KeySchema were set)
//	key             ["null", Key]  (Key: a record typed by the key schema; ["null"] without one)
//	before, after   ["null", Row]  (Row: a record typed by the table schema; ["null"] without one)
//	pos             fixed Position(24): cdc.Position's big-endian binary form
//	origin          record {topic, partition, offset}
//	source          record: every cdc.SourceInfo field (lsn as the long of its uint64 bits)
//	tx              record {id, total_order, collection_order, commit (Position: the transaction's commit position)}
//	ts_ms, ts_ns    long
//	commit_time     ["null", long nanoseconds since the epoch, UTC]
//	arrival         ["null", long nanoseconds since the epoch, UTC]: when strata received the event
//	message         ["null", record {prefix string, content bytes}]
//	event_count     long
//	collections     array of record {collection, event_count}
//
// Every column of Key and Row is the union ["null", Absent, T], where Absent is an empty
// record: branch 0 is SQL NULL, branch 1 a column absent from a partial image
// (change.Absent()), branch 2 a value. T follows the column's Arrow type: boolean; int
// (int8/16/32, uint8/16, date32 as "date", time32 ms as "time-millis"); long (int64,
// uint32, uint64 as the long of its bits, time64 us as "time-micros", timestamps as
// "timestamp-millis"/"-micros" or "local-timestamp-*" without a time zone, seconds and
// nanoseconds as plain longs with a "strata.unit" property); double for float32 and
// float64 alike (a float32 column holds a float64 Value, so double keeps it and NaN
// payloads bit-exact); bytes with the "decimal" logical type (precision, scale) for
// decimal128; string; bytes. Every column type carries "strata.arrow" (its Arrow type)
// and, when set, "strata.logical"; each field carries "strata.name" (its column name;
// the Avro field name is a sanitized form) and the records carry "strata.key".
//
// Events without a schema (truncate, message, tombstone, transaction metadata) need no
// generic encoding: their images are null and their key is typed by the key schema.
//
// The header metadata holds, beside avro.schema and avro.codec, "strata.format"
// (bronze-events/1), "strata.table", "strata.schema_version", "strata.events" (the event
// count, checked on read so a file cut at a block boundary is an error), and
// "strata.schema" / "strata.key_schema": the change.Schema and key schema as JSON (the
// Arrow fields with their types, nullability and metadata, and the schema metadata, in
// order), so a file replays with nothing else.

// Codec is the compression of an event file's blocks.
type Codec uint8

const (
	// Snappy is the default: fast, with a CRC32 of every block.
	Snappy Codec = iota
	// Zstd compresses better and costs more CPU.
	Zstd
	// Null stores blocks uncompressed.
	Null
)

func (c Codec) String() string {
	switch c {
	case Snappy:
		return "snappy"
	case Zstd:
		return "zstd"
	case Null:
		return "null"
	}
	return fmt.Sprintf("Codec(%d)", c)
}

// AvroOptions configures EncodeEvents; the zero value (snappy) works.
type AvroOptions struct {
	Codec Codec
	// BlockSize is the uncompressed size at which a block is cut (default 256 KiB).
	BlockSize int
}

// Validate reports an unknown codec or a negative block size.
func (o AvroOptions) Validate() error {
	if o.Codec > Null {
		return fmt.Errorf("bronze: unknown codec %d", o.Codec)
	}
	if o.BlockSize < 0 {
		return fmt.Errorf("bronze: BlockSize %d < 0", o.BlockSize)
	}
	return nil
}

func (o AvroOptions) withDefaults() AvroOptions {
	if o.BlockSize == 0 {
		o.BlockSize = 256 << 10
	}
	return o
}

var (
	// ErrMixedEvents is returned (wrapped) when the events given to EncodeEvents do not
	// share one table and one schema version.
	ErrMixedEvents = errors.New("bronze: events of several tables or schema versions in one file")
	// ErrEncode is returned (wrapped) for an event that cannot be written exactly (a value
	// whose kind does not match its column, a row of the wrong width, ...).
	ErrEncode = errors.New("bronze: cannot encode event")
	// ErrEventFile is returned (wrapped) for a damaged or foreign event file.
	ErrEventFile = errors.New("bronze: malformed event file")
)

const (
	eventFormat = "bronze-events/1"
	metaFormat  = "strata.format"
	metaTable   = "strata.table"
	metaVersion = "strata.schema_version"
	metaEvents  = "strata.events"
	metaSchema  = "strata.schema"
	metaKey     = "strata.key_schema"
	// maxBlock bounds a block's compressed and uncompressed size on read.
	maxBlock = 64 << 20
)

// ---------------------------------------------------------------------------
// column codecs

type colKind uint8

const (
	ckBool colKind = iota
	ckInt          // Avro int
	ckLong
	ckDouble
	ckDecimal
	ckString
	ckBytes
)

type colInfo struct {
	kind colKind
	want change.Kind
}

type rowCodec struct {
	cols []colInfo
}

func newRowCodec(s *change.Schema) rowCodec {
	if s == nil {
		return rowCodec{}
	}
	rc := rowCodec{cols: make([]colInfo, s.NumFields())}
	for i, f := range s.Fields() {
		var k colKind
		switch f.Type.ID() {
		case arrow.BOOL:
			k = ckBool
		case arrow.INT8, arrow.INT16, arrow.INT32, arrow.UINT8, arrow.UINT16, arrow.DATE32, arrow.TIME32:
			k = ckInt
		case arrow.FLOAT32, arrow.FLOAT64:
			k = ckDouble
		case arrow.DECIMAL128:
			k = ckDecimal
		case arrow.STRING:
			k = ckString
		case arrow.BINARY:
			k = ckBytes
		default:
			k = ckLong
		}
		rc.cols[i] = colInfo{kind: k, want: change.KindOf(f.Type)}
	}
	return rc
}

// ---------------------------------------------------------------------------
// Avro schema

type avroSchemaBuilder struct {
	absentDefined bool
}

func (b *avroSchemaBuilder) rowRecord(name string, s *change.Schema) map[string]any {
	fields := make([]any, 0, s.NumFields())
	used := map[string]bool{}
	for _, f := range s.Fields() {
		t := columnType(f)
		var absent any = "Absent"
		if !b.absentDefined {
			absent = map[string]any{"type": "record", "name": "Absent", "fields": []any{},
				"doc": "a column missing from a partial image; not NULL"}
			b.absentDefined = true
		}
		fields = append(fields, map[string]any{
			"name":        avroName(f.Name, used),
			"type":        []any{"null", absent, t},
			"strata.name": f.Name,
		})
	}
	rec := map[string]any{"type": "record", "name": name, "fields": fields}
	if k := s.KeyNames(); len(k) > 0 {
		rec["strata.key"] = strings.Join(k, ",")
	}
	return rec
}

func columnType(f arrow.Field) map[string]any {
	t := map[string]any{"strata.arrow": f.Type.String()}
	if l, ok := f.Metadata.GetValue(change.MetaLogical); ok {
		t["strata.logical"] = l
	}
	switch dt := f.Type.(type) {
	case *arrow.BooleanType:
		t["type"] = "boolean"
	case *arrow.Int8Type, *arrow.Int16Type, *arrow.Int32Type, *arrow.Uint8Type, *arrow.Uint16Type:
		t["type"] = "int"
	case *arrow.Date32Type:
		t["type"], t["logicalType"] = "int", "date"
	case *arrow.Time32Type:
		t["type"] = "int"
		if dt.Unit == arrow.Millisecond {
			t["logicalType"] = "time-millis"
		} else {
			t["strata.unit"] = dt.Unit.String()
		}
	case *arrow.Time64Type:
		t["type"] = "long"
		if dt.Unit == arrow.Microsecond {
			t["logicalType"] = "time-micros"
		} else {
			t["strata.unit"] = dt.Unit.String()
		}
	case *arrow.TimestampType:
		t["type"] = "long"
		prefix := "timestamp-"
		if dt.TimeZone == "" {
			prefix = "local-timestamp-"
		} else {
			t["strata.timezone"] = dt.TimeZone
		}
		switch dt.Unit {
		case arrow.Millisecond:
			t["logicalType"] = prefix + "millis"
		case arrow.Microsecond:
			t["logicalType"] = prefix + "micros"
		default:
			t["strata.unit"] = dt.Unit.String()
		}
	case *arrow.Float32Type, *arrow.Float64Type:
		t["type"] = "double"
	case *arrow.Decimal128Type:
		t["type"], t["logicalType"] = "bytes", "decimal"
		t["precision"], t["scale"] = int(dt.Precision), int(dt.Scale)
	case *arrow.StringType:
		t["type"] = "string"
	case *arrow.BinaryType:
		t["type"] = "bytes"
	default: // int64, uint32, uint64
		t["type"] = "long"
	}
	return t
}

// avroName turns a column name into a unique valid Avro name.
func avroName(name string, used map[string]bool) string {
	var b strings.Builder
	for i, r := range name {
		ok := r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (i > 0 && r >= '0' && r <= '9')
		if ok {
			b.WriteRune(r)
		} else {
			if i == 0 && r >= '0' && r <= '9' {
				b.WriteByte('_')
				b.WriteRune(r)
				continue
			}
			b.WriteByte('_')
		}
	}
	n := b.String()
	if n == "" {
		n = "_"
	}
	base := n
	for i := 2; used[n]; i++ {
		n = base + "_" + strconv.Itoa(i)
	}
	used[n] = true
	return n
}

// EventSchemaJSON returns the Avro schema of an event file for the given table schema
// and key schema (either may be nil).
func EventSchemaJSON(schema, keySchema *change.Schema) (string, error) {
	var b avroSchemaBuilder
	key := []any{"null"}
	if keySchema != nil {
		key = append(key, b.rowRecord("Key", keySchema))
	}
	img, after := []any{"null"}, []any{"null"}
	if schema != nil {
		img = append(img, b.rowRecord("Row", schema))
		after = append(after, "Row")
	}
	str := func(n string) map[string]any { return map[string]any{"name": n, "type": "string"} }
	long := func(n string) map[string]any { return map[string]any{"name": n, "type": "long"} }
	rec := map[string]any{
		"type": "record", "name": "Event", "namespace": "strata.bronze",
		"fields": []any{
			map[string]any{"name": "op", "type": map[string]any{"type": "enum", "name": "Op",
				"symbols": []string{"create", "update", "delete", "read", "truncate", "message", "tombstone", "tx_begin", "tx_end"}}},
			str("table"),
			long("schema_version"),
			map[string]any{"name": "has_schema", "type": "boolean"},
			map[string]any{"name": "has_key_schema", "type": "boolean"},
			map[string]any{"name": "key", "type": key},
			map[string]any{"name": "before", "type": img},
			map[string]any{"name": "after", "type": after},
			map[string]any{"name": "pos", "type": map[string]any{"type": "fixed", "name": "Position", "size": 24,
				"doc": "cdc.Position: Major, Minor, Seq as big-endian uint64"}},
			map[string]any{"name": "origin", "type": map[string]any{"type": "record", "name": "Origin", "fields": []any{
				str("topic"), map[string]any{"name": "partition", "type": "int"}, long("offset")}}},
			map[string]any{"name": "source", "type": map[string]any{"type": "record", "name": "Source", "fields": []any{
				str("version"), str("connector"), str("name"), str("db"), str("schema"), str("table"),
				str("snapshot"), long("ts_ms"), str("tx_id"), long("lsn"), str("sequence"), str("file"),
				long("pos"), long("row"), long("server_id"), str("gtid"), str("commit_lsn"), str("change_lsn")}}},
			map[string]any{"name": "tx", "type": map[string]any{"type": "record", "name": "Tx", "fields": []any{
				str("id"), long("total_order"), long("collection_order"), map[string]any{"name": "commit", "type": "Position"}}}},
			long("ts_ms"),
			long("ts_ns"),
			map[string]any{"name": "commit_time", "type": []any{"null", map[string]any{"type": "long", "strata.unit": "ns"}}},
			map[string]any{"name": "arrival", "type": []any{"null", map[string]any{"type": "long", "strata.unit": "ns"}}},
			map[string]any{"name": "message", "type": []any{"null", map[string]any{"type": "record", "name": "Message",
				"fields": []any{str("prefix"), map[string]any{"name": "content", "type": "bytes"}}}}},
			long("event_count"),
			map[string]any{"name": "collections", "type": map[string]any{"type": "array", "items": map[string]any{
				"type": "record", "name": "Collection", "fields": []any{str("collection"), long("event_count")}}}},
		},
	}
	out, err := json.Marshal(rec)
	return string(out), err
}

// fileSchema is what EncodeEvents derives once per (schema, key schema) pair.
type fileSchema struct {
	avro            avro.Schema
	schemaJSONBytes []byte
	keyJSON         []byte
	row, keyRC      rowCodec
}

type schemaPair struct{ s, k *change.Schema }

var (
	schemaCacheMu sync.Mutex
	schemaCache   = map[schemaPair]*fileSchema{}
)

func fileSchemaFor(s, k *change.Schema) (*fileSchema, error) {
	schemaCacheMu.Lock()
	fs := schemaCache[schemaPair{s, k}]
	schemaCacheMu.Unlock()
	if fs != nil {
		return fs, nil
	}
	js, err := EventSchemaJSON(s, k)
	if err != nil {
		return nil, err
	}
	as, err := avro.ParseWithCache(js, "", &avro.SchemaCache{})
	if err != nil {
		return nil, fmt.Errorf("bronze: event schema: %w", err)
	}
	fs = &fileSchema{avro: as, row: newRowCodec(s), keyRC: newRowCodec(k)}
	if s != nil {
		if fs.schemaJSONBytes, err = schemaToJSON(s); err != nil {
			return nil, err
		}
	}
	if k != nil {
		if fs.keyJSON, err = schemaToJSON(k); err != nil {
			return nil, err
		}
	}
	schemaCacheMu.Lock()
	if len(schemaCache) > 4096 { // schemas are few; bound the cache anyway
		clear(schemaCache)
	}
	schemaCache[schemaPair{s, k}] = fs
	schemaCacheMu.Unlock()
	return fs, nil
}

// schemaJSON is the header form of a change.Schema: the Arrow schema's fields, types,
// nullability and metadata (in order), as JSON. It is parsed by hand-checked code rather
// than Arrow IPC, whose flatbuffer reader is not hardened against damaged input.
type schemaJSON struct {
	Fields   []fieldJSON `json:"fields"`
	MetaKeys []string    `json:"meta_keys,omitempty"`
	MetaVals []string    `json:"meta_values,omitempty"`
}

type fieldJSON struct {
	Name      string   `json:"name"`
	Type      string   `json:"type"`
	Unit      string   `json:"unit,omitempty"`
	TZ        string   `json:"tz,omitempty"`
	Precision int32    `json:"precision,omitempty"`
	Scale     int32    `json:"scale,omitempty"`
	Nullable  bool     `json:"nullable"`
	MetaKeys  []string `json:"meta_keys,omitempty"`
	MetaVals  []string `json:"meta_values,omitempty"`
}

var simpleTypes = map[string]arrow.DataType{
	"bool": arrow.FixedWidthTypes.Boolean, "int8": arrow.PrimitiveTypes.Int8, "int16": arrow.PrimitiveTypes.Int16,
	"int32": arrow.PrimitiveTypes.Int32, "int64": arrow.PrimitiveTypes.Int64, "uint8": arrow.PrimitiveTypes.Uint8,
	"uint16": arrow.PrimitiveTypes.Uint16, "uint32": arrow.PrimitiveTypes.Uint32, "uint64": arrow.PrimitiveTypes.Uint64,
	"float32": arrow.PrimitiveTypes.Float32, "float64": arrow.PrimitiveTypes.Float64, "utf8": arrow.BinaryTypes.String,
	"binary": arrow.BinaryTypes.Binary, "date32": arrow.FixedWidthTypes.Date32,
}

func schemaToJSON(s *change.Schema) ([]byte, error) {
	var sj schemaJSON
	md := s.Arrow().Metadata()
	sj.MetaKeys, sj.MetaVals = md.Keys(), md.Values()
	for _, f := range s.Fields() {
		fj := fieldJSON{Name: f.Name, Nullable: f.Nullable, MetaKeys: f.Metadata.Keys(), MetaVals: f.Metadata.Values()}
		switch t := f.Type.(type) {
		case *arrow.Decimal128Type:
			fj.Type, fj.Precision, fj.Scale = "decimal128", t.Precision, t.Scale
		case *arrow.Time32Type:
			fj.Type, fj.Unit = "time32", t.Unit.String()
		case *arrow.Time64Type:
			fj.Type, fj.Unit = "time64", t.Unit.String()
		case *arrow.TimestampType:
			fj.Type, fj.Unit, fj.TZ = "timestamp", t.Unit.String(), t.TimeZone
		default:
			fj.Type = t.Name()
			if _, ok := simpleTypes[fj.Type]; !ok {
				return nil, fmt.Errorf("bronze: unsupported column type %s", t)
			}
		}
		sj.Fields = append(sj.Fields, fj)
	}
	return json.Marshal(sj)
}

func parseUnit(u string) (arrow.TimeUnit, error) {
	for _, tu := range []arrow.TimeUnit{arrow.Second, arrow.Millisecond, arrow.Microsecond, arrow.Nanosecond} {
		if tu.String() == u {
			return tu, nil
		}
	}
	return 0, fmt.Errorf("time unit %q", u)
}

func schemaFromJSON(b []byte) (*change.Schema, error) {
	var sj schemaJSON
	if err := json.Unmarshal(b, &sj); err != nil {
		return nil, fmt.Errorf("%w: schema: %v", ErrEventFile, err)
	}
	meta := func(k, v []string) (arrow.Metadata, error) {
		if len(k) != len(v) {
			return arrow.Metadata{}, errors.New("metadata keys and values differ in number")
		}
		if len(k) == 0 {
			return arrow.Metadata{}, nil
		}
		return arrow.NewMetadata(k, v), nil
	}
	fields := make([]arrow.Field, len(sj.Fields))
	for i, fj := range sj.Fields {
		var t arrow.DataType
		var err error
		switch fj.Type {
		case "decimal128":
			if fj.Precision < 1 || fj.Precision > 38 || fj.Scale < -38 || fj.Scale > 38 {
				return nil, fmt.Errorf("%w: schema: decimal(%d, %d)", ErrEventFile, fj.Precision, fj.Scale)
			}
			t = &arrow.Decimal128Type{Precision: fj.Precision, Scale: fj.Scale}
		case "time32", "time64", "timestamp":
			var u arrow.TimeUnit
			if u, err = parseUnit(fj.Unit); err != nil {
				break
			}
			switch {
			case fj.Type == "timestamp":
				t = &arrow.TimestampType{Unit: u, TimeZone: fj.TZ}
			case fj.Type == "time32" && u <= arrow.Millisecond:
				t = &arrow.Time32Type{Unit: u}
			case fj.Type == "time64" && u >= arrow.Microsecond:
				t = &arrow.Time64Type{Unit: u}
			default:
				err = fmt.Errorf("%s with unit %s", fj.Type, fj.Unit)
			}
		default:
			var ok bool
			if t, ok = simpleTypes[fj.Type]; !ok {
				err = fmt.Errorf("column type %q", fj.Type)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%w: schema: %v", ErrEventFile, err)
		}
		md, err := meta(fj.MetaKeys, fj.MetaVals)
		if err != nil {
			return nil, fmt.Errorf("%w: schema: %v", ErrEventFile, err)
		}
		fields[i] = arrow.Field{Name: fj.Name, Type: t, Nullable: fj.Nullable, Metadata: md}
	}
	md, err := meta(sj.MetaKeys, sj.MetaVals)
	if err != nil {
		return nil, fmt.Errorf("%w: schema: %v", ErrEventFile, err)
	}
	s, err := change.FromArrow(arrow.NewSchema(fields, &md))
	if err != nil {
		return nil, fmt.Errorf("%w: schema: %v", ErrEventFile, err)
	}
	return s, nil
}

// ---------------------------------------------------------------------------
// encoding

var zstdEncoders = sync.Pool{New: func() any {
	e, _ := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	return e
}}

// EncodeEvents writes events as one Avro object container file (see the package's
// "Event files" description). The events must share one table, and those with a schema
// must share one schema (by Equal) and one SchemaVersion, and their key schemas one key
// schema; otherwise it returns ErrMixedEvents naming the difference. Values are written
// exactly: a value whose kind is not its column's is ErrEncode. CommitTime is stored in
// nanoseconds and read back in UTC.
func EncodeEvents(w io.Writer, events []cdc.Event, opts AvroOptions) error {
	refs := make([]eventRef, len(events))
	for i := range events {
		refs[i] = eventRef{ev: &events[i], version: events[i].SchemaVersion, commit: events[i].Tx.Commit}
	}
	return encodeRefs(w, refs, opts)
}

// eventRef is an event as a file stores it: the writer numbers schema versions and
// stamps commit positions without touching its caller's events.
type eventRef struct {
	ev      *cdc.Event
	version int
	commit  cdc.Position
}

func encodeRefs(w io.Writer, events []eventRef, opts AvroOptions) error {
	if err := opts.Validate(); err != nil {
		return err
	}
	opts = opts.withDefaults()
	var schema, keySchema *change.Schema
	version := 0
	table := ""
	for i := range events {
		ev := events[i].ev
		if i == 0 {
			table = ev.Table
		} else if ev.Table != table {
			return fmt.Errorf("%w: table %q and table %q", ErrMixedEvents, table, ev.Table)
		}
		if ev.Schema != nil {
			if schema == nil {
				schema, version = ev.Schema, events[i].version
			} else if events[i].version != version || (ev.Schema != schema && !ev.Schema.Equal(schema)) {
				return fmt.Errorf("%w: table %q schema versions %d and %d", ErrMixedEvents, table, version, events[i].version)
			}
		}
		if ev.KeySchema != nil {
			if keySchema == nil {
				keySchema = ev.KeySchema
			} else if ev.KeySchema != keySchema && !ev.KeySchema.Equal(keySchema) {
				return fmt.Errorf("%w: table %q key schemas (%s) and (%s)", ErrMixedEvents, table, keySchema, ev.KeySchema)
			}
		}
	}
	fs, err := fileSchemaFor(schema, keySchema)
	if err != nil {
		return err
	}
	meta := map[string][]byte{
		metaFormat:  []byte(eventFormat),
		metaTable:   []byte(table),
		metaVersion: []byte(strconv.Itoa(version)),
		metaEvents:  []byte(strconv.Itoa(len(events))),
	}
	if fs.schemaJSONBytes != nil {
		meta[metaSchema] = fs.schemaJSONBytes
	}
	if fs.keyJSON != nil {
		meta[metaKey] = fs.keyJSON
	}
	eopts := []ocf.EncoderFunc{
		ocf.WithMetadata(meta),
		ocf.WithSchemaMarshaler(ocf.FullSchemaMarshaler),
		ocf.WithBlockLength(math.MaxInt32),
		ocf.WithBlockSize(opts.BlockSize),
	}
	switch opts.Codec {
	case Snappy:
		eopts = append(eopts, ocf.WithCodec(ocf.Snappy))
	case Zstd:
		ze := zstdEncoders.Get().(*zstd.Encoder)
		defer zstdEncoders.Put(ze)
		eopts = append(eopts, ocf.WithCodec(ocf.ZStandard), ocf.WithZStandardEncoder(ze))
	case Null:
		eopts = append(eopts, ocf.WithCodec(ocf.Null))
	}
	enc, err := ocf.NewEncoderWithSchema(fs.avro, w, eopts...)
	if err != nil {
		return fmt.Errorf("bronze: event file: %w", err)
	}
	buf := make([]byte, 0, 1024)
	for i := range events {
		buf, err = appendEvent(buf[:0], &events[i], fs)
		if err != nil {
			return fmt.Errorf("%w: event %d of table %q at %s: %v", ErrEncode, i, table, events[i].ev.Pos, err)
		}
		if _, err := enc.Write(buf); err != nil {
			return fmt.Errorf("bronze: event file: %w", err)
		}
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("bronze: event file: %w", err)
	}
	return nil
}

func appendLong(b []byte, v int64) []byte {
	u := uint64(v<<1) ^ uint64(v>>63)
	for u >= 0x80 {
		b = append(b, byte(u)|0x80)
		u >>= 7
	}
	return append(b, byte(u))
}

func appendStr(b []byte, s string) []byte {
	b = appendLong(b, int64(len(s)))
	return append(b, s...)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

func appendEvent(b []byte, ref *eventRef, fs *fileSchema) ([]byte, error) {
	ev := ref.ev
	if ev.Op < cdc.OpCreate || ev.Op > cdc.OpTxEnd {
		return b, fmt.Errorf("unknown op %d", ev.Op)
	}
	b = appendLong(b, int64(ev.Op-1))
	b = appendStr(b, ev.Table)
	b = appendLong(b, int64(ref.version))
	b = appendBool(b, ev.Schema != nil)
	b = appendBool(b, ev.KeySchema != nil)
	var err error
	if b, err = appendImage(b, ev.Key, fs.keyRC, ev.KeySchema != nil || fs.keyJSON != nil, "key"); err != nil {
		return b, err
	}
	if ev.Schema == nil && (ev.Before != nil || ev.After != nil) {
		return b, errors.New("row image without a schema")
	}
	if b, err = appendImage(b, ev.Before, fs.row, fs.schemaJSONBytes != nil, "before"); err != nil {
		return b, err
	}
	if b, err = appendImage(b, ev.After, fs.row, fs.schemaJSONBytes != nil, "after"); err != nil {
		return b, err
	}
	b, _ = ev.Pos.AppendBinary(b)
	b = appendStr(b, ev.Origin.Topic)
	b = appendLong(b, int64(ev.Origin.Partition))
	b = appendLong(b, ev.Origin.Offset)
	s := &ev.Source
	b = appendStr(b, s.Version)
	b = appendStr(b, s.Connector)
	b = appendStr(b, s.Name)
	b = appendStr(b, s.DB)
	b = appendStr(b, s.Schema)
	b = appendStr(b, s.Table)
	b = appendStr(b, s.Snapshot)
	b = appendLong(b, s.TsMs)
	b = appendStr(b, s.TxID)
	b = appendLong(b, int64(s.LSN))
	b = appendStr(b, s.Sequence)
	b = appendStr(b, s.File)
	b = appendLong(b, s.FilePos)
	b = appendLong(b, s.Row)
	b = appendLong(b, s.ServerID)
	b = appendStr(b, s.GTID)
	b = appendStr(b, s.CommitLSN)
	b = appendStr(b, s.ChangeLSN)
	b = appendStr(b, ev.Tx.ID)
	b = appendLong(b, ev.Tx.TotalOrder)
	b = appendLong(b, ev.Tx.CollectionOrder)
	b, _ = ref.commit.AppendBinary(b)
	b = appendLong(b, ev.TsMs)
	b = appendLong(b, ev.TsNs)
	if b, err = appendTime(b, ev.CommitTime, "commit time"); err != nil {
		return b, err
	}
	if b, err = appendTime(b, ev.Arrival, "arrival time"); err != nil {
		return b, err
	}
	if ev.Message == nil {
		b = append(b, 0)
	} else {
		b = append(b, 2)
		b = appendStr(b, ev.Message.Prefix)
		b = appendLong(b, int64(len(ev.Message.Content)))
		b = append(b, ev.Message.Content...)
	}
	b = appendLong(b, ev.EventCount)
	if n := len(ev.Collections); n > 0 {
		b = appendLong(b, int64(n))
		for _, c := range ev.Collections {
			b = appendStr(b, c.Collection)
			b = appendLong(b, c.EventCount)
		}
	}
	return append(b, 0), nil
}

// appendTime appends the union ["null", long ns]: null for the zero time.
func appendTime(b []byte, t time.Time, what string) ([]byte, error) {
	if t.IsZero() {
		return append(b, 0), nil
	}
	ns := t.UnixNano()
	if !time.Unix(0, ns).Equal(t) {
		return b, fmt.Errorf("%s %s out of the nanosecond range", what, t)
	}
	return appendLong(append(b, 2), ns), nil
}

func appendImage(b []byte, row change.Row, rc rowCodec, typed bool, what string) ([]byte, error) {
	if row == nil {
		return append(b, 0), nil
	}
	if !typed {
		return b, fmt.Errorf("%s without a schema", what)
	}
	if len(row) != len(rc.cols) {
		return b, fmt.Errorf("%s has %d values for %d columns", what, len(row), len(rc.cols))
	}
	b = append(b, 2) // union branch 1: the record
	for i, v := range row {
		switch v.Kind() {
		case change.KindNull:
			b = append(b, 0)
			continue
		case change.KindAbsent:
			b = append(b, 2)
			continue
		}
		c := rc.cols[i]
		if v.Kind() != c.want {
			return b, fmt.Errorf("%s column %d holds a %s value, want %s", what, i, v.Kind(), c.want)
		}
		b = append(b, 4)
		switch c.kind {
		case ckBool:
			b = appendBool(b, v.AsBool())
		case ckInt:
			n := v.AsInt()
			if n != int64(int32(n)) {
				return b, fmt.Errorf("%s column %d: %d out of the int32 range", what, i, n)
			}
			b = appendLong(b, n)
		case ckLong:
			b = appendLong(b, v.AsInt())
		case ckDouble:
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v.AsFloat()))
		case ckDecimal:
			b = appendDecimal(b, v.AsDecimal())
		case ckString, ckBytes:
			b = appendStr(b, v.AsString())
		}
	}
	return b, nil
}

// appendDecimal writes the minimal big-endian two's complement form of n as Avro bytes.
func appendDecimal(b []byte, n decimal128.Num) []byte {
	var be [16]byte
	binary.BigEndian.PutUint64(be[:8], uint64(n.HighBits()))
	binary.BigEndian.PutUint64(be[8:], n.LowBits())
	i := 0
	for i < 15 && ((be[i] == 0 && be[i+1]&0x80 == 0) || (be[i] == 0xff && be[i+1]&0x80 != 0)) {
		i++
	}
	b = appendLong(b, int64(16-i))
	return append(b, be[i:]...)
}

// ---------------------------------------------------------------------------
// decoding

var (
	zstdDecOnce sync.Once
	zstdDec     *zstd.Decoder
)

func sharedZstdDecoder() *zstd.Decoder {
	zstdDecOnce.Do(func() {
		zstdDec, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(maxBlock))
	})
	return zstdDec
}

// EventReader reads an event file written by EncodeEvents, one event at a time:
//
//	r, err := bronze.NewEventReader(f)
//	if err != nil { ... }
//	defer r.Close()
//	for r.Next() {
//		ev := r.Event()
//		...
//	}
//	if err := r.Err(); err != nil { ... }
//
// A reader must be closed; it need not be exhausted. Events returned by Event are owned
// by the caller and stay valid after Next and Close (their strings and bytes share the
// memory of the block they came from, which they keep alive).
type EventReader struct {
	br        *bufio.Reader
	meta      map[string][]byte
	sync      [16]byte
	codec     string
	table     string
	version   int
	schema    *change.Schema
	keySchema *change.Schema
	row, key  rowCodec
	want      int64 // events announced in the header (-1: unknown)
	read      int64

	raw   bytes.Buffer
	blk   dec
	left  int64 // records left in the current block
	slab  []change.Value
	ev    cdc.Event
	err   error
	done  bool
	close bool
}

// NewEventReader reads the header of an event file.
func NewEventReader(r io.Reader) (*EventReader, error) {
	er := &EventReader{br: bufio.NewReaderSize(r, 64<<10), want: -1}
	if err := er.readHeader(); err != nil {
		return nil, err
	}
	return er, nil
}

func (r *EventReader) readHeader() error {
	var magic [4]byte
	if _, err := io.ReadFull(r.br, magic[:]); err != nil {
		return fmt.Errorf("%w: header: %v", ErrEventFile, err)
	}
	if magic != [4]byte{'O', 'b', 'j', 1} {
		return fmt.Errorf("%w: not an Avro object container file", ErrEventFile)
	}
	r.meta = map[string][]byte{}
	for {
		n, err := r.readLong()
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
		if n < 0 {
			n = -n
			if _, err := r.readLong(); err != nil { // block size in bytes
				return err
			}
		}
		if n > 1<<16 {
			return fmt.Errorf("%w: %d metadata entries", ErrEventFile, n)
		}
		for ; n > 0; n-- {
			k, err := r.readBytes()
			if err != nil {
				return err
			}
			v, err := r.readBytes()
			if err != nil {
				return err
			}
			r.meta[string(k)] = v
		}
	}
	if _, err := io.ReadFull(r.br, r.sync[:]); err != nil {
		return fmt.Errorf("%w: header sync: %v", ErrEventFile, err)
	}
	if f := string(r.meta[metaFormat]); f != eventFormat {
		return fmt.Errorf("%w: format %q, want %q", ErrEventFile, f, eventFormat)
	}
	if _, ok := r.meta["avro.schema"]; !ok {
		return fmt.Errorf("%w: no avro.schema", ErrEventFile)
	}
	r.codec = string(r.meta["avro.codec"])
	switch r.codec {
	case "", "null", "snappy", "zstandard":
	default:
		return fmt.Errorf("%w: unsupported codec %q", ErrEventFile, r.codec)
	}
	r.table = string(r.meta[metaTable])
	var err error
	if r.version, err = strconv.Atoi(string(r.meta[metaVersion])); err != nil {
		return fmt.Errorf("%w: schema version: %v", ErrEventFile, err)
	}
	if v, ok := r.meta[metaEvents]; ok {
		if r.want, err = strconv.ParseInt(string(v), 10, 64); err != nil || r.want < 0 {
			return fmt.Errorf("%w: event count %q", ErrEventFile, v)
		}
	}
	if b, ok := r.meta[metaSchema]; ok {
		if r.schema, err = schemaFromJSON(b); err != nil {
			return err
		}
	}
	if b, ok := r.meta[metaKey]; ok {
		if r.keySchema, err = schemaFromJSON(b); err != nil {
			return err
		}
	}
	r.row, r.key = newRowCodec(r.schema), newRowCodec(r.keySchema)
	return nil
}

func (r *EventReader) readLong() (int64, error) {
	var u uint64
	for shift := uint(0); ; shift += 7 {
		c, err := r.br.ReadByte()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return 0, fmt.Errorf("%w: %v", ErrEventFile, err)
		}
		if shift == 63 && c > 1 {
			return 0, fmt.Errorf("%w: varint overflow", ErrEventFile)
		}
		u |= uint64(c&0x7f) << shift
		if c < 0x80 {
			break
		}
	}
	return int64(u>>1) ^ -int64(u&1), nil
}

func (r *EventReader) readBytes() ([]byte, error) {
	n, err := r.readLong()
	if err != nil {
		return nil, err
	}
	if n < 0 || n > maxBlock {
		return nil, fmt.Errorf("%w: length %d", ErrEventFile, n)
	}
	var buf bytes.Buffer
	if _, err := io.CopyN(&buf, r.br, n); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrEventFile, err)
	}
	return buf.Bytes(), nil
}

// Metadata returns the file's header metadata (avro.schema, avro.codec, strata.*).
func (r *EventReader) Metadata() map[string][]byte { return r.meta }

// Table returns the table the file's events belong to.
func (r *EventReader) Table() string { return r.table }

// Schema returns the table schema of the file's events (nil when none had one), and its version.
func (r *EventReader) Schema() (*change.Schema, int) { return r.schema, r.version }

// KeySchema returns the key schema of the file's events (nil when none had one).
func (r *EventReader) KeySchema() *change.Schema { return r.keySchema }

// Next advances to the next event; it returns false at the end or on an error (see Err).
func (r *EventReader) Next() bool {
	if r.err != nil || r.done || r.close {
		return false
	}
	for r.left == 0 {
		if !r.nextBlock() {
			return false
		}
	}
	r.ev = cdc.Event{}
	if err := r.decodeEvent(&r.ev); err != nil {
		r.err = fmt.Errorf("%w: event %d: %v", ErrEventFile, r.read, err)
		return false
	}
	r.left--
	r.read++
	if r.left == 0 && r.blk.i != len(r.blk.s) {
		r.err = fmt.Errorf("%w: %d trailing bytes in a block", ErrEventFile, len(r.blk.s)-r.blk.i)
		return false
	}
	return true
}

func (r *EventReader) nextBlock() bool {
	if _, err := r.br.Peek(1); err == io.EOF {
		r.done = true
		if r.want >= 0 && r.read != r.want {
			r.err = fmt.Errorf("%w: %d events, header says %d", ErrEventFile, r.read, r.want)
		}
		return false
	}
	count, err := r.readLong()
	if err != nil {
		r.err = err
		return false
	}
	size, err := r.readLong()
	if err != nil {
		r.err = err
		return false
	}
	if count < 0 || size < 0 || size > maxBlock || (count > 0 && size == 0) {
		r.err = fmt.Errorf("%w: block of %d records in %d bytes", ErrEventFile, count, size)
		return false
	}
	r.raw.Reset()
	r.raw.Grow(int(min(size, 4<<20))) // the claimed size may be a lie: grow further only with data
	if _, err := io.CopyN(&r.raw, r.br, size); err != nil {
		r.err = fmt.Errorf("%w: block: %v", ErrEventFile, err)
		return false
	}
	var sync [16]byte
	if _, err := io.ReadFull(r.br, sync[:]); err != nil {
		r.err = fmt.Errorf("%w: block sync: %v", ErrEventFile, err)
		return false
	}
	if sync != r.sync {
		r.err = fmt.Errorf("%w: bad sync marker after block", ErrEventFile)
		return false
	}
	data := r.raw.Bytes()
	fresh := false // data is a new buffer nothing else references
	switch r.codec {
	case "snappy":
		if len(data) < 4 {
			r.err = fmt.Errorf("%w: snappy block without a checksum", ErrEventFile)
			return false
		}
		body := data[:len(data)-4]
		n, err := snappy.DecodedLen(body)
		if err != nil || n > maxBlock {
			r.err = fmt.Errorf("%w: snappy block: length %d: %v", ErrEventFile, n, err)
			return false
		}
		out, err := snappy.Decode(make([]byte, n), body)
		if err != nil {
			r.err = fmt.Errorf("%w: snappy block: %v", ErrEventFile, err)
			return false
		}
		if crc32.ChecksumIEEE(out) != binary.BigEndian.Uint32(data[len(data)-4:]) {
			r.err = fmt.Errorf("%w: snappy block checksum mismatch", ErrEventFile)
			return false
		}
		fresh, data = true, out
	case "zstandard":
		out, err := sharedZstdDecoder().DecodeAll(data, nil)
		if err != nil {
			r.err = fmt.Errorf("%w: zstd block: %v", ErrEventFile, err)
			return false
		}
		fresh, data = true, out
	}
	if count > int64(len(data)) { // every record takes at least one byte
		r.err = fmt.Errorf("%w: block of %d records in %d bytes", ErrEventFile, count, len(data))
		return false
	}
	// One string per block: every string and bytes value of its events is a substring.
	// A freshly decompressed buffer is never written again, so it becomes the string
	// without a copy; the reused raw buffer of an uncompressed block is copied.
	if fresh && len(data) > 0 {
		r.blk = dec{s: unsafe.String(&data[0], len(data))}
	} else {
		r.blk = dec{s: string(data)}
	}
	r.left = count
	return true
}

// Event returns the current event; the caller owns it.
func (r *EventReader) Event() cdc.Event { return r.ev }

// Err returns the error that stopped Next, if any.
func (r *EventReader) Err() error { return r.err }

// Close releases the reader. It does not close the underlying io.Reader.
func (r *EventReader) Close() error {
	r.close = true
	r.blk = dec{}
	r.slab = nil
	return nil
}

// All returns the remaining events as an iterator of (event, error); an error ends it.
func (r *EventReader) All() func(yield func(cdc.Event, error) bool) {
	return func(yield func(cdc.Event, error) bool) {
		for r.Next() {
			if !yield(r.Event(), nil) {
				return
			}
		}
		if err := r.Err(); err != nil {
			yield(cdc.Event{}, err)
		}
	}
}

// DecodeEvents reads a whole event file.
func DecodeEvents(rd io.Reader) ([]cdc.Event, error) {
	r, err := NewEventReader(rd)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []cdc.Event
	if r.want >= 0 && r.want < 1<<20 {
		out = make([]cdc.Event, 0, r.want)
	}
	for r.Next() {
		out = append(out, r.ev)
	}
	return out, r.Err()
}

// dec reads Avro binary values from one block's string.
type dec struct {
	s   string
	i   int
	err error
}

var errShort = errors.New("record runs past the end of its block")

func (d *dec) long() int64 {
	var u uint64
	for shift := uint(0); ; shift += 7 {
		if d.i >= len(d.s) {
			d.fail(errShort)
			return 0
		}
		c := d.s[d.i]
		d.i++
		if shift == 63 && c > 1 {
			d.fail(errors.New("varint overflow"))
			return 0
		}
		u |= uint64(c&0x7f) << shift
		if c < 0x80 {
			break
		}
	}
	return int64(u>>1) ^ -int64(u&1)
}

func (d *dec) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.i = len(d.s)
}

func (d *dec) str() string {
	n := d.long()
	if n < 0 || n > int64(len(d.s)-d.i) {
		d.fail(errShort)
		return ""
	}
	s := d.s[d.i : d.i+int(n)]
	d.i += int(n)
	return s
}

func (d *dec) boolean() bool {
	if d.i >= len(d.s) {
		d.fail(errShort)
		return false
	}
	c := d.s[d.i]
	d.i++
	if c > 1 {
		d.fail(fmt.Errorf("boolean byte %d", c))
	}
	return c == 1
}

func (d *dec) u64be() uint64 {
	if len(d.s)-d.i < 8 {
		d.fail(errShort)
		return 0
	}
	s := d.s[d.i : d.i+8]
	d.i += 8
	return uint64(s[0])<<56 | uint64(s[1])<<48 | uint64(s[2])<<40 | uint64(s[3])<<32 |
		uint64(s[4])<<24 | uint64(s[5])<<16 | uint64(s[6])<<8 | uint64(s[7])
}

func (d *dec) u64le() uint64 {
	if len(d.s)-d.i < 8 {
		d.fail(errShort)
		return 0
	}
	s := d.s[d.i : d.i+8]
	d.i += 8
	return uint64(s[7])<<56 | uint64(s[6])<<48 | uint64(s[5])<<40 | uint64(s[4])<<32 |
		uint64(s[3])<<24 | uint64(s[2])<<16 | uint64(s[1])<<8 | uint64(s[0])
}

// union reads a union branch index below n.
func (d *dec) union(n int64) int64 {
	b := d.long()
	if b < 0 || b >= n {
		d.fail(fmt.Errorf("union branch %d of %d", b, n))
		return 0
	}
	return b
}

func (r *EventReader) rowSlab(n int) change.Row {
	if n > len(r.slab) {
		r.slab = make([]change.Value, max(n, 1024))
	}
	row := r.slab[:n:n]
	r.slab = r.slab[n:]
	return row
}

func (r *EventReader) decodeImage(d *dec, rc rowCodec, typed bool) change.Row {
	branches := int64(1)
	if typed {
		branches = 2
	}
	if d.union(branches) == 0 {
		return nil
	}
	row := r.rowSlab(len(rc.cols))
	for i, c := range rc.cols {
		switch d.union(3) {
		case 0:
			continue // NULL: the zero Value
		case 1:
			row[i] = change.Absent()
			continue
		}
		switch c.kind {
		case ckBool:
			row[i] = change.Bool(d.boolean())
		case ckInt:
			n := d.long()
			if n != int64(int32(n)) {
				d.fail(fmt.Errorf("int %d out of range", n))
			}
			row[i] = change.Int(n)
		case ckLong:
			row[i] = change.Int(d.long())
		case ckDouble:
			row[i] = change.Float(math.Float64frombits(d.u64le()))
		case ckDecimal:
			s := d.str()
			if len(s) == 0 || len(s) > 16 {
				d.fail(fmt.Errorf("decimal of %d bytes", len(s)))
				return nil
			}
			var be [16]byte
			if s[0]&0x80 != 0 {
				for j := range be {
					be[j] = 0xff
				}
			}
			copy(be[16-len(s):], s)
			row[i] = change.Decimal(decimal128.New(int64(binary.BigEndian.Uint64(be[:8])), binary.BigEndian.Uint64(be[8:])))
		case ckString:
			row[i] = change.Str(d.str())
		case ckBytes:
			row[i] = change.BytesString(d.str())
		}
	}
	return row
}

func (r *EventReader) decodeEvent(ev *cdc.Event) error {
	d := &r.blk
	ev.Op = cdc.Op(d.union(int64(cdc.OpTxEnd)) + 1)
	ev.Table = d.str()
	v := d.long()
	if v != int64(int(v)) {
		return fmt.Errorf("schema version %d", v)
	}
	ev.SchemaVersion = int(v)
	if d.boolean() {
		if r.schema == nil {
			return errors.New("event has a schema, the file has none")
		}
		ev.Schema = r.schema
	}
	if d.boolean() {
		if r.keySchema == nil {
			return errors.New("event has a key schema, the file has none")
		}
		ev.KeySchema = r.keySchema
	}
	ev.Key = r.decodeImage(d, r.key, r.keySchema != nil)
	ev.Before = r.decodeImage(d, r.row, r.schema != nil)
	ev.After = r.decodeImage(d, r.row, r.schema != nil)
	ev.Pos = cdc.Position{Major: d.u64be(), Minor: d.u64be(), Seq: d.u64be()}
	ev.Origin.Topic = d.str()
	p := d.long()
	if p != int64(int32(p)) {
		d.fail(fmt.Errorf("partition %d", p))
	}
	ev.Origin.Partition = int32(p)
	ev.Origin.Offset = d.long()
	s := &ev.Source
	s.Version = d.str()
	s.Connector = d.str()
	s.Name = d.str()
	s.DB = d.str()
	s.Schema = d.str()
	s.Table = d.str()
	s.Snapshot = d.str()
	s.TsMs = d.long()
	s.TxID = d.str()
	s.LSN = uint64(d.long())
	s.Sequence = d.str()
	s.File = d.str()
	s.FilePos = d.long()
	s.Row = d.long()
	s.ServerID = d.long()
	s.GTID = d.str()
	s.CommitLSN = d.str()
	s.ChangeLSN = d.str()
	ev.Tx.ID = d.str()
	ev.Tx.TotalOrder = d.long()
	ev.Tx.CollectionOrder = d.long()
	ev.Tx.Commit = cdc.Position{Major: d.u64be(), Minor: d.u64be(), Seq: d.u64be()}
	ev.TsMs = d.long()
	ev.TsNs = d.long()
	if d.union(2) == 1 {
		ev.CommitTime = time.Unix(0, d.long()).UTC()
	}
	if d.union(2) == 1 {
		ev.Arrival = time.Unix(0, d.long()).UTC()
	}
	if d.union(2) == 1 {
		prefix := d.str()
		ev.Message = &cdc.Message{Prefix: prefix}
		if content := d.str(); content != "" {
			ev.Message.Content = []byte(content)
		}
	}
	ev.EventCount = d.long()
	for {
		n := d.long()
		if n == 0 {
			break
		}
		if n < 0 { // a block with its size in bytes
			n = -n
			d.long()
		}
		if n < 0 || n > int64(len(d.s)-d.i) {
			d.fail(errShort)
			break
		}
		if ev.Collections == nil {
			ev.Collections = make([]cdc.CollectionCount, 0, n)
		}
		for ; n > 0 && d.err == nil; n-- {
			c := d.str()
			ev.Collections = append(ev.Collections, cdc.CollectionCount{Collection: c, EventCount: d.long()})
		}
	}
	return d.err
}

// MarshalSchema encodes a change.Schema as the JSON that event file headers and
// manifest schema registrations carry, so other tiers (silver) record schemas alike.
func MarshalSchema(s *change.Schema) ([]byte, error) { return schemaToJSON(s) }

// UnmarshalSchema decodes the JSON of MarshalSchema.
func UnmarshalSchema(b []byte) (*change.Schema, error) { return schemaFromJSON(b) }
