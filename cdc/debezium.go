package cdc

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow/decimal128"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/internal/jsonscan"
)

// DebeziumConfig configures a DebeziumDecoder; the zero value works.
type DebeziumConfig struct {
	// Metrics counts decoded events (nil: not counted).
	Metrics *Metrics
}

// DebeziumDecoder decodes Debezium JSON change events, as Kafka Connect's JSON converter
// writes them, into typed events. It accepts the {schema, payload} envelope and the bare
// payload; ops c/u/d/r/t/m; tombstones (a null or empty value, or {"schema":null,
// "payload":null}); transaction metadata BEGIN/END. Connect logical types map to Arrow
// types; integers are read exactly; numeric fields may be JSON strings; with duplicate
// keys the last wins. Payload-only events get column types inferred from their values.
//
// A decoder keeps per-table schema state, so use one per source; it is not safe for
// concurrent use. Events it returns share nothing with the input bytes.
type DebeziumDecoder struct {
	cfg DebeziumConfig
	sc  jsonscan.Scanner
	sc2 jsonscan.Scanner
	b64 []byte

	// parsed schemas by their raw JSON; each topic remembers its last ones so that an
	// identical schema is recognised by a prefix compare instead of a scan
	schemas    map[string]*rowSpec
	topics     map[string]*topicSchemas
	recent     [4]*topicSchemas // the last topics seen: most records repeat one of a few
	nextRecent int

	versions       map[string]*tableVersions
	recentVersions [4]*tableVersions // of the last tables seen
	nextVersions   int
	tables         [4]qualifiedName // recent qualified table names
	nextTable      int

	infer     map[string]*inferState
	keyStates map[string]*inferState
	infBuf    [3][]inferred // scratch for inferred before, after and key images

	strs     map[string]string // interned low-cardinality strings of source blocks
	seenCols []bool            // columns set in the image being decoded (past 64)
	arena    arena             // rows and strings of decoded events

	// what the last records looked like, to read the next ones with fewer steps: keys
	// in order, fields repeated byte for byte, text values
	envelopeKeys, payloadKeys, sourceKeys, txKeys *jsonscan.Keys
	cur                                           *topicSchemas // of the record being decoded
	lastSource                                    [skText]lastText
	lastTxID                                      lastText
}

// intern returns b as a string, sharing one copy for repeated values (connector names,
// databases, tables, transaction ids), so that a source block costs no allocations.
func (d *DebeziumDecoder) intern(b []byte) string {
	if s, ok := d.strs[string(b)]; ok {
		return s
	}
	if len(d.strs) >= 4096 {
		clear(d.strs)
	}
	s := string(b)
	d.strs[s] = s
	return s
}

// qualified returns the qualified table of a source block, reusing the names made for
// the last few tables.
func (d *DebeziumDecoder) qualified(s *SourceInfo) string {
	if s.Table == "" {
		return ""
	}
	for i := range d.tables {
		if c := &d.tables[i]; c.table == s.Table && c.schema == s.Schema && c.db == s.DB {
			return c.name
		}
	}
	q := s.qualifiedTable()
	d.tables[d.nextTable] = qualifiedName{s.Schema, s.DB, s.Table, q}
	d.nextTable = (d.nextTable + 1) % len(d.tables)
	return q
}

type qualifiedName struct{ schema, db, table, name string }

type cachedSchema struct {
	raw  []byte
	spec *rowSpec
}

type tableVersions struct {
	table   string
	last    *change.Schema
	lastVer int
	byText  map[string]int
}

// NewDebeziumDecoder returns a decoder.
func NewDebeziumDecoder(cfg DebeziumConfig) *DebeziumDecoder {
	return &DebeziumDecoder{
		cfg:          cfg,
		schemas:      map[string]*rowSpec{},
		topics:       map[string]*topicSchemas{},
		versions:     map[string]*tableVersions{},
		infer:        map[string]*inferState{},
		strs:         map[string]string{},
		envelopeKeys: jsonscan.NewKeys("schema", "payload"),
		payloadKeys:  newPayloadKeys(),
		sourceKeys:   newSourceKeys(),
		txKeys:       jsonscan.NewKeys("id", "total_order", "data_collection_order"),
	}
}

// fieldErr carries the JSON path of a failure up to Decode.
type fieldErr struct {
	path string
	err  error
}

func (e *fieldErr) Error() string { return e.path + ": " + e.err.Error() }
func (e *fieldErr) Unwrap() error { return e.err }

func errAt(path string, sentinel error, format string, args ...any) error {
	return &fieldErr{path: path, err: fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...))}
}

// Decode decodes one record. Errors are *DecodeError naming the record's origin and the
// offending field, wrapping ErrMalformed, ErrUnknownOp, ErrType or ErrNotEvent.
func (d *DebeziumDecoder) Decode(rec *Record) (Event, error) {
	var ev Event
	if err := d.DecodeInto(rec, &ev); err != nil {
		return Event{}, err
	}
	return ev, nil
}

// DecodeInto is Decode into *ev, which it overwrites: a source decoding ahead into a
// reused slice of events saves copying each (an Event is large). After an error *ev
// holds no event.
func (d *DebeziumDecoder) DecodeInto(rec *Record, ev *Event) error {
	*ev = Event{}
	if err := d.decode(rec, ev); err != nil {
		*ev = Event{}
		de := &DecodeError{Origin: rec.Origin(), Err: err}
		var fe *fieldErr
		if errors.As(err, &fe) {
			de.Field, de.Err = fe.path, fe.err
		}
		return de
	}
	d.cfg.Metrics.Decoded(ev.Table)
	return nil
}

// blankJSON reports whether b holds only JSON whitespace (an empty Kafka value).
func blankJSON(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

// decode decodes rec into ev, which is zero.
func (d *DebeziumDecoder) decode(rec *Record, ev *Event) error {
	ev.Origin = rec.Origin()
	d.cur = d.topic(rec.Topic)
	if !blankJSON(rec.Key) {
		if err := d.decodeKey(rec, ev); err != nil {
			return err
		}
	}
	// what the key gave: the event a payload decoded in place starts again from
	keyTable, keySchema, key := ev.Table, ev.KeySchema, ev.Key
	restart := func() { *ev = Event{Origin: rec.Origin(), Table: keyTable, KeySchema: keySchema, Key: key} }
	if blankJSON(rec.Value) {
		d.tombstone(rec, ev)
		return nil
	}
	sc := &d.sc
	sc.Reset(rec.Value)
	if !sc.Object() {
		if sc.Null() && sc.End() {
			d.tombstone(rec, ev)
			return nil
		}
		return errAt("value", ErrMalformed, "not a JSON object")
	}
	// Walk the top level: an object whose keys are exactly schema and payload is an
	// envelope; anything else is a bare payload.
	var spec *rowSpec
	var payloadNull, sawSchema, sawPayload, bare bool
	var payload []byte
	haveDecoded := false
	for n := 0; !bare; n++ {
		id, _, ok := sc.NextKey(d.envelopeKeys, n)
		if !ok {
			break
		}
		switch id {
		case 0: // schema
			sawSchema = true
			if sc.Null() {
				spec = nil
				continue
			}
			var err error
			if spec, err = d.envelopeSchema(sc, &d.cur.value); err != nil {
				return err
			}
		case 1: // payload
			sawPayload = true
			if haveDecoded {
				restart() // a repeated payload key replaces the first: the last wins
				haveDecoded = false
			}
			if sc.Null() {
				payloadNull = true
				continue
			}
			payloadNull = false
			if sawSchema {
				// the usual order: the schema is known, decode the payload in place
				if err := d.decodePayload(sc, spec, ev, &envelopePaths); err != nil {
					return err
				}
				haveDecoded = true
				continue
			}
			payload = sc.Skip()
		default:
			bare = true
		}
		if sc.Err() != nil {
			return errAt("value", ErrMalformed, "%v", sc.Err())
		}
	}
	if sc.Err() != nil || (!bare && !sc.End()) {
		return errAt("value", ErrMalformed, "%v", sc.Err())
	}
	if bare || !sawPayload || !sawSchema {
		if bare || sawPayload || sawSchema {
			// a bare payload (which may itself have a field named schema or payload)
			if haveDecoded {
				restart()
			}
			sc.Reset(rec.Value)
			err := d.decodePayload(sc, nil, ev, &barePaths)
			if err == nil && !sc.End() {
				err = errAt("value", ErrMalformed, "%v", sc.Err())
			}
			return err
		}
		return errAt("value", ErrNotEvent, "empty object")
	}
	if payloadNull {
		d.tombstone(rec, ev)
		return nil
	}
	if haveDecoded {
		return nil
	}
	sc.Reset(payload)
	return d.decodePayload(sc, spec, ev, &envelopePaths)
}

// tombstone makes ev, holding what the key gave, the event for a null value.
func (d *DebeziumDecoder) tombstone(rec *Record, ev *Event) {
	ev.Op = OpTombstone
	if ev.Table == "" {
		ev.Table = tableFromTopic(rec.Topic)
	}
}

// tableFromTopic turns "server.schema.table" into "schema.table".
func tableFromTopic(topic string) string {
	if i := strings.IndexByte(topic, '.'); i >= 0 && strings.Count(topic, ".") >= 2 {
		return topic[i+1:]
	}
	return topic
}

// tableFromSchemaName turns "server.db.table.Key" (or .Value, .Envelope) into "db.table".
func tableFromSchemaName(name string) string {
	for _, suf := range []string{".Key", ".Value", ".Envelope"} {
		if strings.HasSuffix(name, suf) {
			return tableFromTopic(strings.TrimSuffix(name, suf))
		}
	}
	return ""
}

// envelopeSchema reads the envelope's schema and returns the row layout of its
// before/after fields (nil for schemas without them, such as transaction metadata).
func (d *DebeziumDecoder) envelopeSchema(sc *jsonscan.Scanner, last *cachedSchema) (*rowSpec, error) {
	return d.cachedSpec(sc, last, func(root connectField) (*rowSpec, error) {
		for _, f := range root.fields {
			if (f.field == "after" || f.field == "before") && len(f.fields) > 0 {
				spec, err := rowSpecOf(f)
				if err != nil {
					return nil, errAt("schema."+f.field, ErrMalformed, "%v", err)
				}
				return spec, nil
			}
		}
		if len(root.fields) > 0 && root.fields[0].field != "" && !hasField(root, "op") && !hasField(root, "status") {
			// a key schema, or a flat value without an envelope
			spec, err := rowSpecOf(root)
			if err != nil {
				return nil, errAt("schema", ErrMalformed, "%v", err)
			}
			spec.name = root.name
			return spec, nil
		}
		return nil, nil
	})
}

func hasField(f connectField, name string) bool {
	for _, s := range f.fields {
		if s.field == name {
			return true
		}
	}
	return false
}

// topicSchemas holds the last schemas of a topic's values and keys, and the fields its
// payloads and source blocks repeated (a topic is usually one table).
type topicSchemas struct {
	name                      string
	value, key                cachedSchema
	payloadPairs, sourcePairs pairs
}

// topic returns the schemas last seen on a topic.
func (d *DebeziumDecoder) topic(name string) *topicSchemas {
	for _, t := range d.recent {
		if t != nil && t.name == name {
			return t
		}
	}
	t := d.topics[name]
	if t == nil {
		t = &topicSchemas{name: name}
		d.topics[name] = t
	}
	d.recent[d.nextRecent] = t
	d.nextRecent = (d.nextRecent + 1) % len(d.recent)
	return t
}

// cachedSpec parses a schema node unless it is byte-identical to the previous one of its
// kind on the topic, last, which it then updates.
func (d *DebeziumDecoder) cachedSpec(sc *jsonscan.Scanner, last *cachedSchema, build func(connectField) (*rowSpec, error)) (*rowSpec, error) {
	if last.raw != nil && bytes.HasPrefix(sc.Rest(), last.raw) {
		sc.Advance(len(last.raw))
		return last.spec, nil
	}
	raw := sc.Skip()
	if sc.Err() != nil {
		return nil, errAt("schema", ErrMalformed, "%v", sc.Err())
	}
	spec, ok := d.schemas[string(raw)]
	if !ok {
		var s2 jsonscan.Scanner
		s2.Reset(raw)
		root, err := parseConnectSchema(&s2)
		if err != nil {
			return nil, errAt("schema", ErrMalformed, "%v", err)
		}
		if spec, err = build(root); err != nil {
			return nil, err
		}
		if spec != nil && spec.name == "" {
			spec.name = root.name
		}
		d.schemas[string(raw)] = spec
	}
	*last = cachedSchema{raw: append([]byte(nil), raw...), spec: spec}
	return spec, nil
}

// decodeKey reads the record key: an envelope with a key schema, or a bare object.
func (d *DebeziumDecoder) decodeKey(r *Record, ev *Event) error {
	sc := &d.sc
	sc.Reset(r.Key)
	if sc.Null() {
		return nil
	}
	if !sc.Object() {
		return errAt("key", ErrMalformed, "not a JSON object")
	}
	var spec, rowBy *rowSpec
	var payload []byte
	var row change.Row // the payload decoded in place, by rowBy
	s2 := &d.sc2
	sawSchema, bare := false, false
	for n := 0; !bare; n++ {
		id, _, ok := sc.NextKey(d.envelopeKeys, n)
		if !ok {
			break
		}
		switch id {
		case 0: // schema
			sawSchema = true
			if sc.Null() {
				spec = nil
				continue
			}
			var err error
			spec, err = d.cachedSpec(sc, &d.cur.key, func(root connectField) (*rowSpec, error) {
				s, err := rowSpecOf(root)
				if err != nil {
					return nil, errAt("key.schema", ErrMalformed, "%v", err)
				}
				return s, nil
			})
			if err != nil {
				return err
			}
		case 1: // payload
			if sc.Null() {
				return nil
			}
			if spec != nil {
				// the usual order: decode it in place (what turns out wrong is decoded
				// again below, from its bytes)
				rest := sc.Rest()
				s2.Reset(rest)
				if r, err := d.decodeRow(s2, spec, "key.payload"); err == nil {
					payload, row, rowBy = rest[:s2.Pos()], r, spec
					sc.Advance(s2.Pos())
					continue
				}
			}
			payload, row = sc.Skip(), nil
		default:
			bare = true
		}
		if sc.Err() != nil {
			return errAt("key", ErrMalformed, "%v", sc.Err())
		}
	}
	if bare || !sawSchema {
		payload, spec = r.Key, nil
	}
	if payload == nil {
		return nil
	}
	var ks *change.Schema
	var err error
	if spec != nil {
		if row == nil || rowBy != spec {
			s2.Reset(payload)
			if row, err = d.decodeRow(s2, spec, "key.payload"); err != nil {
				return err
			}
		}
		if ks, err = spec.asKey(); err != nil {
			return errAt("key.schema", ErrMalformed, "%v", err)
		}
		if t := spec.tableName(); t != "" {
			ev.Table = t
		}
	} else {
		s2.Reset(payload)
		st := d.inferKeyState(r.Topic)
		vals, err := inferObject(s2, "key", d, d.infBuf[2])
		if err != nil {
			return err
		}
		d.infBuf[2] = vals
		imgs := [1][]inferred{vals}
		var rows []change.Row
		if ks, rows, err = st.merge(imgs[:], nil, true, "key", &d.arena); err != nil {
			return err
		}
		row = rows[0]
	}
	ev.KeySchema, ev.Key = ks, row
	return nil
}

// paths are the JSON paths errors name, fixed per payload form so that naming them
// costs nothing until an error needs them.
type paths struct {
	payload, before, after, source, transaction, message, collections, status, id, op, schema string
	prefix                                                                                    string // of the payload's own fields
}

var (
	envelopePaths = paths{"payload", "payload.before", "payload.after", "payload.source", "payload.transaction",
		"payload.message", "payload.data_collections", "payload.status", "payload.id", "payload.op", "payload.schema", "payload."}
	barePaths = paths{"value", "before", "after", "source", "transaction", "message", "data_collections", "status", "id", "op", "schema", ""}
)

// images holds a payload's before and after images as decoded in place: typed rows when
// the schema is known, inferred values otherwise.
type images struct {
	before, after       change.Row
	infBefore, infAfter []inferred
}

// The keys of a payload, as ids of payloadKeys.
const (
	pkBefore = iota
	pkAfter
	pkOp
	pkSource
	pkTsMs
	pkTsNs
	pkTransaction
	pkMessage
	pkStatus
	pkID
	pkEventCount
	pkDataCollections
)

func newPayloadKeys() *jsonscan.Keys {
	return jsonscan.NewKeys("before", "after", "op", "source", "ts_ms", "ts_ns", "transaction", "message",
		"status", "id", "event_count", "data_collections")
}

// decodePayload decodes a Debezium payload object at the scanner's position, in one pass.
func (d *DebeziumDecoder) decodePayload(sc *jsonscan.Scanner, spec *rowSpec, ev *Event, p *paths) error {
	if !sc.Object() {
		return errAt(p.payload, ErrMalformed, "payload is not an object")
	}
	var img images
	var op, status string
	var hasOp, hasStatus bool
	for n := 0; ; n++ {
		if n < len(d.cur.payloadPairs) {
			if pr := &d.cur.payloadPairs[n]; pr.raw != nil && sc.Lit(pr.raw) {
				switch pr.id { // a null image or transaction, or the op seen last time
				case pkBefore:
					img.before, img.infBefore = nil, nil
				case pkAfter:
					img.after, img.infAfter = nil, nil
				case pkOp:
					op, hasOp = pr.text, true
				}
				continue
			}
		}
		start := sc.Pos()
		id, k, ok := sc.NextKey(d.payloadKeys, n)
		if !ok {
			break
		}
		switch c := sc.Peek(); {
		case c == 'n' && (id == pkBefore || id == pkAfter || id == pkTransaction):
			if sc.Null() {
				d.cur.payloadPairs = d.cur.payloadPairs.remember(n, sc.Span(start), id, "")
				if id == pkBefore {
					img.before, img.infBefore = nil, nil
				} else if id == pkAfter {
					img.after, img.infAfter = nil, nil
				}
				continue
			}
		case c == '"' && id == pkOp:
			if s, ok := sc.String(); ok {
				op, hasOp = string(s), true
				d.cur.payloadPairs = d.cur.payloadPairs.remember(n, sc.Span(start), id, op)
				continue
			}
		}
		d.cur.payloadPairs.forget(n)
		var err error
		switch id {
		case pkBefore:
			img.before, img.infBefore, err = d.image(sc, spec, p.before, 0)
		case pkAfter:
			img.after, img.infAfter, err = d.image(sc, spec, p.after, 1)
		case pkOp:
			s, ok := sc.String()
			if !ok {
				return errAt(p.op, ErrMalformed, "not a string")
			}
			op, hasOp = string(s), true
		case pkSource:
			if !sc.Null() {
				ev.Source = SourceInfo{}
				err = d.decodeSource(sc, &ev.Source, p.source)
			}
		case pkTsMs:
			ev.TsMs, err = d.int64Field(sc, p.prefix, "", k)
		case pkTsNs:
			ev.TsNs, err = d.int64Field(sc, p.prefix, "", k)
		case pkTransaction:
			if !sc.Null() {
				ev.Tx = TxInfo{}
				err = d.decodeTxBlock(sc, &ev.Tx, p.transaction)
			}
		case pkMessage:
			if !sc.Null() {
				ev.Message, err = d.decodeMessage(sc, p.message)
			}
		case pkStatus:
			s, ok := sc.String()
			if !ok {
				return errAt(p.status, ErrMalformed, "not a string")
			}
			status, hasStatus = string(s), true
		case pkID:
			if sc.Null() {
				break
			}
			if s, ok := sc.String(); ok {
				ev.Tx.ID = d.intern(s)
			} else if raw, _, ok := sc.Number(); ok {
				ev.Tx.ID = string(raw)
			} else {
				return errAt(p.id, ErrMalformed, "not a string")
			}
		case pkEventCount:
			if !sc.Null() {
				ev.EventCount, err = d.int64Field(sc, p.prefix, "", k)
			}
		case pkDataCollections:
			if !sc.Null() {
				ev.Collections, err = d.decodeCollections(sc, p.collections)
			}
		default:
			sc.Skip()
		}
		if err != nil {
			return err
		}
		if sc.Err() != nil {
			return errAt(p.payload, ErrMalformed, "%v", sc.Err())
		}
	}
	if sc.Err() != nil {
		return errAt(p.payload, ErrMalformed, "%v", sc.Err())
	}

	if hasStatus && !hasOp {
		switch status {
		case "BEGIN":
			ev.Op = OpTxBegin
		case "END":
			ev.Op = OpTxEnd
		default:
			return errAt(p.status, ErrUnknownOp, "transaction status %q (want BEGIN or END)", status)
		}
		if ev.Tx.ID == "" {
			return errAt(p.id, ErrMalformed, "transaction metadata without an id")
		}
		ev.Key, ev.KeySchema = nil, nil
		return nil
	}
	noImages := img.before == nil && img.after == nil && img.infBefore == nil && img.infAfter == nil
	if !hasOp {
		if ev.KeySchema == nil && ev.Key == nil && noImages {
			return errAt(p.payload, ErrNotEvent, "no op: an event key or other JSON, not a change event")
		}
		return errAt(p.op, ErrMalformed, "missing")
	}
	switch op {
	case "c":
		ev.Op = OpCreate
	case "u":
		ev.Op = OpUpdate
	case "d":
		ev.Op = OpDelete
	case "r":
		ev.Op = OpRead
	case "t":
		ev.Op = OpTruncate
	case "m":
		ev.Op = OpMessage
	default:
		return errAt(p.op, ErrUnknownOp, "%q (want c, u, d, r, t or m)", op)
	}

	if t := d.qualified(&ev.Source); t != "" {
		ev.Table = t
	} else if spec != nil && ev.Table == "" {
		ev.Table = spec.tableName()
	}
	if ev.Source.TsMs > 0 {
		ev.CommitTime = time.UnixMilli(ev.Source.TsMs).UTC()
	}
	ev.Pos = ev.Source.position()

	if !noImages {
		if err := d.typeImages(ev, spec, &img, p); err != nil {
			return err
		}
	}
	switch ev.Op {
	case OpCreate, OpRead, OpUpdate:
		if ev.After == nil {
			return errAt(p.after, ErrMalformed, "%s event without an after image", ev.Op)
		}
	case OpDelete:
		if ev.Before == nil && ev.Key == nil {
			return errAt(p.before, ErrMalformed, "delete with neither a before image nor a key")
		}
	}
	return nil
}

// image reads one before/after image in place: a row of spec, or inferred values.
func (d *DebeziumDecoder) image(sc *jsonscan.Scanner, spec *rowSpec, path string, buf int) (change.Row, []inferred, error) {
	if sc.Null() {
		return nil, nil, nil
	}
	if sc.Peek() != '{' {
		return nil, nil, errAt(path, ErrMalformed, "not an object")
	}
	if spec != nil {
		row, err := d.decodeRow(sc, spec, path)
		return row, nil, err
	}
	vals, err := inferObject(sc, path, d, d.infBuf[buf])
	if vals == nil && err == nil {
		vals = []inferred{}
	}
	d.infBuf[buf] = vals // reused by the next event: merge copies the values out
	return nil, vals, err
}

// typeImages sets the event's schema and rows from the decoded images.
func (d *DebeziumDecoder) typeImages(ev *Event, spec *rowSpec, img *images, p *paths) error {
	if spec != nil {
		s, err := spec.withKey(ev.KeySchema)
		if err != nil {
			return errAt(p.schema, ErrMalformed, "%v", err)
		}
		ev.Schema, ev.Before, ev.After = s, img.before, img.after
	} else {
		st := d.inferStateFor(ev.Table)
		keyNames := keyColumns(ev.KeySchema)
		var arr [2][]inferred
		imgs := arr[:0]
		if img.infBefore != nil {
			imgs = append(imgs, img.infBefore)
		}
		if img.infAfter != nil {
			imgs = append(imgs, img.infAfter)
		}
		s, rows, err := st.merge(imgs, keyNames, false, p.prefix, &d.arena)
		if err != nil {
			return err
		}
		ev.Schema = s
		if img.infBefore != nil {
			ev.Before, rows = rows[0], rows[1:]
		}
		if img.infAfter != nil {
			ev.After = rows[0]
		}
	}
	ev.SchemaVersion = d.version(ev.Table, ev.Schema)
	return nil
}

// version numbers the distinct schemas of a table in first-seen order.
func (d *DebeziumDecoder) version(table string, s *change.Schema) int {
	var tv *tableVersions
	for _, t := range d.recentVersions {
		if t != nil && t.table == table {
			tv = t
			break
		}
	}
	if tv == nil {
		if tv = d.versions[table]; tv == nil {
			tv = &tableVersions{table: table, byText: map[string]int{}}
			d.versions[table] = tv
		}
		d.recentVersions[d.nextVersions] = tv
		d.nextVersions = (d.nextVersions + 1) % len(d.recentVersions)
	}
	if tv.last == s {
		return tv.lastVer
	}
	text := s.String()
	v, ok := tv.byText[text]
	if !ok {
		v = len(tv.byText) + 1
		tv.byText[text] = v
	}
	tv.last, tv.lastVer = s, v
	return v
}

// decodeRow reads one image object against a known row layout. Columns missing from
// the object are Absent (partial before-images are normal).
func (d *DebeziumDecoder) decodeRow(sc *jsonscan.Scanner, spec *rowSpec, path string) (change.Row, error) {
	if !sc.Object() {
		return nil, errAt(path, ErrMalformed, "not an object")
	}
	row := d.arena.row(len(spec.cols))
	// Count the columns set instead of pre-filling Absent: the usual full image then
	// needs no second pass. Up to 64 columns are tracked in a word.
	var set int
	var seen uint64
	wide := len(row) > 64
	for n := 0; ; n++ {
		i, k, ok := sc.NextKey(spec.keys, n)
		if !ok {
			break
		}
		if i < 0 {
			return nil, errAt(path+"."+string(k), ErrType, "column not in the event's schema")
		}
		v, err := d.readValue(sc, &spec.cols[i], path)
		if err != nil {
			return nil, err
		}
		if wide {
			if !d.seen(i) {
				set++
				d.mark(i)
			}
		} else if seen&(1<<i) == 0 {
			set++
			seen |= 1 << i
		}
		row[i] = v
	}
	if sc.Err() != nil {
		return nil, errAt(path, ErrMalformed, "%v", sc.Err())
	}
	if set < len(row) {
		for i := range row {
			if wide && !d.seen(i) || !wide && seen&(1<<i) == 0 {
				row[i] = change.Absent()
			}
		}
	}
	if wide {
		d.clearSeen(len(row))
	}
	return row, nil
}

// readValue reads one column value of a known kind.
func (d *DebeziumDecoder) readValue(sc *jsonscan.Scanner, c *colSpec, path string) (change.Value, error) {
	// the usual values first, in one pass each
	switch c.kind {
	case ckInt:
		if n, ok := sc.Int(); ok {
			if c.bits < 64 && (n < -(1<<(c.bits-1)) || n >= 1<<(c.bits-1)) {
				return change.Value{}, errAt(path+"."+string(c.name), ErrType, "%d does not fit %s", n, c.field.Type)
			}
			return change.Int(n), nil
		}
	case ckString:
		if s, ok := sc.String(); ok {
			return change.Str(d.arena.str(s)), nil
		}
	}
	if sc.Null() {
		return change.Null(), nil
	}
	bad := func(format string, args ...any) (change.Value, error) {
		return change.Value{}, errAt(path+"."+string(c.name), ErrType, format, args...)
	}
	switch c.kind {
	case ckInt:
		raw, isInt, ok := sc.Number()
		if !ok {
			s, isStr := sc.String()
			if !isStr {
				return bad("want an integer (%s)", c.field.Type)
			}
			raw, isInt = bytes.TrimSpace(s), true
		}
		if !isInt {
			return bad("%s is not an integer (%s)", raw, c.field.Type)
		}
		n, err := jsonscan.Int64(raw)
		if err != nil {
			return bad("%q does not fit %s", raw, c.field.Type)
		}
		if c.bits < 64 && (n < -(1<<(c.bits-1)) || n >= 1<<(c.bits-1)) {
			return bad("%d does not fit %s", n, c.field.Type)
		}
		return change.Int(n), nil
	case ckFloat:
		raw, _, ok := sc.Number()
		if !ok {
			s, isStr := sc.String()
			if !isStr {
				return bad("want a number (%s)", c.field.Type)
			}
			raw = s
		}
		f, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(raw), len(raw)), 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return bad("%q is not a number", raw)
		}
		return change.Float(f), nil
	case ckBool:
		if b, ok := sc.Bool(); ok {
			return change.Bool(b), nil
		}
		if s, ok := sc.String(); ok && (string(s) == "true" || string(s) == "false") {
			return change.Bool(string(s) == "true"), nil
		}
		return bad("want a boolean")
	case ckString:
		s, ok := sc.String()
		if !ok {
			return bad("want a string")
		}
		return change.Str(d.arena.str(s)), nil
	case ckBytes:
		s, ok := sc.String()
		if !ok {
			return bad("want base64 bytes")
		}
		b, err := d.base64(s)
		if err != nil {
			return bad("invalid base64: %v", err)
		}
		return change.BytesString(d.arena.str(b)), nil
	case ckDecimal:
		if s, ok := sc.String(); ok {
			b, err := d.base64(s)
			if err != nil {
				return bad("invalid base64 decimal: %v", err)
			}
			n, err := twosComplement(b)
			if err != nil {
				return bad("%v", err)
			}
			if prec := c.field.Type.(interface{ GetPrecision() int32 }).GetPrecision(); !n.FitsInPrecision(prec) {
				return bad("%s does not fit %s", change.FormatDecimal(n, c.scale), c.field.Type)
			}
			return change.Decimal(n), nil
		}
		raw, _, ok := sc.Number()
		if !ok {
			return bad("want base64 decimal bytes")
		}
		n, err := change.ParseDecimal(string(raw), c.scale)
		if err != nil {
			return bad("%v", err)
		}
		return change.Decimal(n), nil
	case ckVarDecimal:
		return d.varDecimal(sc, path+"."+string(c.name))
	case ckZonedTs:
		s, ok := sc.String()
		if !ok {
			return bad("want an ISO-8601 timestamp")
		}
		t, err := time.Parse(time.RFC3339Nano, string(s))
		if err != nil {
			return bad("%q is not an ISO-8601 timestamp with offset", s)
		}
		return change.Int(t.UnixMicro()), nil
	case ckJSONText:
		raw := sc.Skip()
		if sc.Err() != nil {
			return bad("%v", sc.Err())
		}
		return change.Str(d.arena.str(raw)), nil
	}
	return bad("unsupported column kind")
}

func (d *DebeziumDecoder) base64(s []byte) ([]byte, error) {
	need := base64.StdEncoding.DecodedLen(len(s))
	if cap(d.b64) < need {
		d.b64 = make([]byte, need)
	}
	n, err := base64.StdEncoding.Decode(d.b64[:need], s)
	return d.b64[:n], err
}

// twosComplement reads a big-endian two's-complement integer of up to 16 significant bytes.
func twosComplement(b []byte) (decimal128.Num, error) {
	if len(b) == 0 {
		return decimal128.Num{}, nil
	}
	fill := byte(0)
	if b[0]&0x80 != 0 {
		fill = 0xff
	}
	for len(b) > 16 {
		if b[0] != fill {
			return decimal128.Num{}, fmt.Errorf("decimal of %d bytes exceeds 128 bits", len(b))
		}
		b = b[1:]
	}
	var buf [16]byte
	for i := range buf {
		buf[i] = fill
	}
	copy(buf[16-len(b):], b)
	return decimal128.New(int64(binary.BigEndian.Uint64(buf[:8])), binary.BigEndian.Uint64(buf[8:])), nil
}

// varDecimal reads a VariableScaleDecimal {scale, value} as exact decimal text.
func (d *DebeziumDecoder) varDecimal(sc *jsonscan.Scanner, path string) (change.Value, error) {
	if !sc.Object() {
		return change.Value{}, errAt(path, ErrType, "want {scale, value}")
	}
	scale, haveScale := int64(0), false
	var unscaled decimal128.Num
	haveValue := false
	for {
		k, ok := sc.Key()
		if !ok {
			break
		}
		switch string(k) {
		case "scale":
			n, err := d.int64Field(sc, path, ".", []byte("scale"))
			if err != nil {
				return change.Value{}, err
			}
			scale, haveScale = n, true
		case "value":
			s, ok := sc.String()
			if !ok {
				return change.Value{}, errAt(path+".value", ErrType, "want base64 bytes")
			}
			b, err := d.base64(s)
			if err != nil {
				return change.Value{}, errAt(path+".value", ErrType, "invalid base64: %v", err)
			}
			if unscaled, err = twosComplement(b); err != nil {
				return change.Value{}, errAt(path+".value", ErrType, "%v", err)
			}
			haveValue = true
		default:
			sc.Skip()
		}
	}
	if !haveScale || !haveValue || scale < -38 || scale > 38 {
		return change.Value{}, errAt(path, ErrType, "VariableScaleDecimal needs scale (within ±38) and value")
	}
	return change.Str(change.FormatDecimal(unscaled, int32(scale))), nil
}

// int64Field reads an integer sent as a JSON number or a numeric string. The field's
// path is prefix+sep+key, joined only when there is an error to report.
func (d *DebeziumDecoder) int64Field(sc *jsonscan.Scanner, prefix, sep string, key []byte) (int64, error) {
	if n, ok := sc.Int(); ok {
		return n, nil
	}
	path := lazyPath{prefix, sep, key}
	raw, isInt, ok := sc.Number()
	if !ok {
		s, isStr := sc.String()
		if !isStr {
			if sc.Null() {
				return 0, nil
			}
			return 0, errAt(path.String(), ErrType, "want an integer")
		}
		raw, isInt = bytes.TrimSpace(s), true
	}
	if !isInt {
		return 0, errAt(path.String(), ErrType, "%s is not an integer", raw)
	}
	n, err := jsonscan.Int64(raw)
	if err != nil {
		return 0, errAt(path.String(), ErrType, "%q is not a 64-bit integer", raw)
	}
	return n, nil
}

// textField reads a string, number or boolean as text ("" for null).
func textField(sc *jsonscan.Scanner) (string, bool) {
	if sc.Null() {
		return "", true
	}
	if s, ok := sc.String(); ok {
		return string(s), true
	}
	if raw, _, ok := sc.Number(); ok {
		return string(raw), true
	}
	if b, ok := sc.Bool(); ok {
		return strconv.FormatBool(b), true
	}
	return "", false
}

// The keys of a source block, as ids of sourceKeys: first those read as text.
const (
	skVersion = iota
	skConnector
	skName
	skDB
	skSchema
	skTable
	skSnapshot
	skFile
	skTxID
	skSequence
	skGTID
	skCommitLSN
	skChangeLSN
	skTsMs
	skTsSec
	skLSN
	skPos
	skRow
	skServerID
	skEventSerialNo
	skText     = skTsMs // ids below are text
	skInterned = skTxID // ids below are interned: the same few values recur
	skNames    = "version connector name db schema table snapshot file txId sequence gtid commit_lsn change_lsn ts_ms ts_sec lsn pos row server_id event_serial_no"
)

func newSourceKeys() *jsonscan.Keys { return jsonscan.NewKeys(strings.Fields(skNames)...) }

// lastText is the previous value of a text field of source blocks, raw and decoded.
type lastText struct {
	raw  []byte
	text string
}

// text reads a text field: a string, or a number or boolean as its text ("" for null).
// A value byte-identical to the field's previous one (last), the usual case, is
// recognised by one comparison; others are interned (low-cardinality fields) or copied
// to the arena.
func (d *DebeziumDecoder) text(sc *jsonscan.Scanner, last *lastText, intern bool) (string, bool) {
	if len(last.raw) > 0 && last.raw[0] == '"' && sc.Lit(last.raw) {
		return last.text, true
	}
	sc.Peek()
	start := sc.Pos()
	var b []byte
	if s, ok := sc.String(); ok {
		b = s
	} else if raw, _, ok := sc.Number(); ok {
		if string(raw) == string(last.raw) {
			return last.text, true
		}
		b = raw
	} else {
		return textField(sc)
	}
	var text string
	if intern {
		text = d.intern(b)
	} else {
		text = d.arena.str(b)
	}
	last.raw = append(last.raw[:0], sc.Span(start)...)
	last.text = text
	return text, true
}

// decodeSource reads the connector's source block.
func (d *DebeziumDecoder) decodeSource(sc *jsonscan.Scanner, s *SourceInfo, path string) error {
	if !sc.Object() {
		return errAt(path, ErrMalformed, "not an object")
	}
	for n := 0; ; n++ {
		if n < len(d.cur.sourcePairs) {
			if p := &d.cur.sourcePairs[n]; p.raw != nil && sc.Lit(p.raw) {
				s.setText(p.id, p.text)
				continue
			}
		}
		start := sc.Pos()
		id, k, ok := sc.NextKey(d.sourceKeys, n)
		if !ok {
			break
		}
		var err error
		remembered := false
		switch {
		case id < 0:
			sc.Skip()
		case id < skText:
			isString := sc.Peek() == '"'
			text, ok := d.text(sc, &d.lastSource[id], id < skInterned)
			if !ok {
				return errAt(path+"."+string(k), ErrType, "want a string")
			}
			s.setText(id, text)
			if isString {
				d.cur.sourcePairs, remembered = d.cur.sourcePairs.remember(n, sc.Span(start), id, text), true
			}
		case id == skTsMs:
			s.TsMs, err = d.int64Field(sc, path, ".", k)
		case id == skTsSec:
			var sec int64
			if sec, err = d.int64Field(sc, path, ".", k); err == nil && s.TsMs == 0 {
				s.TsMs = sec * 1000
			}
		case id == skLSN:
			var n int64
			if n, err = d.int64Field(sc, path, ".", k); err == nil {
				s.LSN = uint64(n)
			}
		case id == skPos:
			s.FilePos, err = d.int64Field(sc, path, ".", k)
		case id == skRow:
			s.Row, err = d.int64Field(sc, path, ".", k)
		case id == skServerID:
			s.ServerID, err = d.int64Field(sc, path, ".", k)
		case id == skEventSerialNo:
			var n int64
			if n, err = d.int64Field(sc, path, ".", k); err == nil {
				s.Row = n
			}
		}
		if err != nil {
			return err
		}
		if sc.Err() != nil {
			return errAt(path+"."+string(k), ErrMalformed, "%v", sc.Err())
		}
		if !remembered {
			d.cur.sourcePairs.forget(n)
		}
	}
	return nil
}

// setText sets the text field of a source block with id (of sourceKeys).
func (s *SourceInfo) setText(id int, text string) {
	switch id {
	case skVersion:
		s.Version = text
	case skConnector:
		s.Connector = text
	case skName:
		s.Name = text
	case skDB:
		s.DB = text
	case skSchema:
		s.Schema = text
	case skTable:
		s.Table = text
	case skSnapshot:
		s.Snapshot = text
	case skTxID:
		s.TxID = text
	case skSequence:
		s.Sequence = text
	case skFile:
		s.File = text
	case skGTID:
		s.GTID = text
	case skCommitLSN:
		s.CommitLSN = text
	case skChangeLSN:
		s.ChangeLSN = text
	}
}

// pairs remembers, by position, the fields of the previous object of a kind whose value
// was a string or null: key and value as they appeared, from the comma before, and the
// value as read. Producers repeat most such fields (connector, database, op, a null
// before-image) byte for byte, and one comparison then reads both.
type pairs []pair

type pair struct {
	raw  []byte // nil: nothing to predict here
	id   int
	text string
}

// remember records the field at position n; raw is valid only until the next read.
func (ps pairs) remember(n int, raw []byte, id int, text string) pairs {
	if n >= maxPairs {
		return ps
	}
	for len(ps) <= n {
		ps = append(ps, pair{})
	}
	p := &ps[n]
	p.raw = append(p.raw[:0], raw...)
	p.id, p.text = id, text
	return ps
}

// forget clears the prediction at position n.
func (ps pairs) forget(n int) {
	if n < len(ps) {
		ps[n].raw = nil
	}
}

// maxPairs bounds what pairs remember, against hostile objects with many keys.
const maxPairs = 64

// qualifiedTable is schema.table (PostgreSQL, SQL Server) or db.table (MySQL).
func (s *SourceInfo) qualifiedTable() string {
	if s.Table == "" {
		return ""
	}
	if s.Schema != "" {
		return s.Schema + "." + s.Table
	}
	if s.DB != "" {
		return s.DB + "." + s.Table
	}
	return s.Table
}

// position derives the commit-order position from the source block (see Position).
func (s *SourceInfo) position() Position {
	switch {
	case s.LSN != 0 || s.Sequence != "":
		p := Position{Major: s.LSN, Minor: s.LSN}
		if last, ok := lastCommitLSN(s.Sequence); ok {
			p.Major = last
		}
		return p
	case s.File != "":
		return Position{Major: binlogNumber(s.File), Minor: uint64(s.FilePos), Seq: uint64(s.Row)}
	case s.CommitLSN != "":
		hi, lo := sqlServerLSN(s.CommitLSN)
		return Position{Major: hi, Minor: lo, Seq: uint64(s.Row)}
	}
	return Position{}
}

// lastCommitLSN reads the first element of PostgreSQL's sequence ["lastCommitLsn","lsn"].
func lastCommitLSN(seq string) (uint64, bool) {
	seq = strings.TrimSpace(seq)
	if len(seq) < 2 || seq[0] != '[' {
		return 0, false
	}
	var s jsonscan.Scanner
	s.Reset(unsafe.Slice(unsafe.StringData(seq), len(seq))) // only read
	if !s.Array() || !s.More(true) {
		return 0, false
	}
	text, ok := s.String()
	if !ok {
		if text, _, ok = s.Number(); !ok {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(unsafe.String(unsafe.SliceData(text), len(text)), 10, 64)
	return n, err == nil
}

// binlogNumber reads the numeric suffix of "mysql-bin.000003".
func binlogNumber(file string) uint64 {
	i := strings.LastIndexByte(file, '.')
	n, err := strconv.ParseUint(file[i+1:], 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// sqlServerLSN packs "0000003a:00002f50:0005" (VLF:block:slot, hex) into two words.
func sqlServerLSN(lsn string) (uint64, uint64) {
	parts := strings.Split(lsn, ":")
	if len(parts) != 3 {
		return 0, 0
	}
	var v [3]uint64
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 16, 64)
		if err != nil {
			return 0, 0
		}
		v[i] = n
	}
	return v[0], v[1]<<16 | v[2]&0xffff
}

// decodeTxBlock reads the transaction block of an event.
func (d *DebeziumDecoder) decodeTxBlock(sc *jsonscan.Scanner, tx *TxInfo, path string) error {
	if !sc.Object() {
		return errAt(path, ErrMalformed, "not an object")
	}
	for n := 0; ; n++ {
		id, k, ok := sc.NextKey(d.txKeys, n)
		if !ok {
			break
		}
		var err error
		switch id {
		case 0:
			text, ok := d.text(sc, &d.lastTxID, false)
			if !ok {
				return errAt(path+".id", ErrType, "want a string")
			}
			tx.ID = text
		case 1:
			tx.TotalOrder, err = d.int64Field(sc, path, ".", k)
		case 2:
			tx.CollectionOrder, err = d.int64Field(sc, path, ".", k)
		default:
			sc.Skip()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// decodeMessage reads a logical decoding message {prefix, content (base64)}.
func (d *DebeziumDecoder) decodeMessage(sc *jsonscan.Scanner, path string) (*Message, error) {
	if !sc.Object() {
		return nil, errAt(path, ErrMalformed, "not an object")
	}
	m := &Message{}
	for {
		k, ok := sc.Key()
		if !ok {
			break
		}
		switch string(k) {
		case "prefix":
			text, ok := textField(sc)
			if !ok {
				return nil, errAt(path+".prefix", ErrType, "want a string")
			}
			m.Prefix = text
		case "content":
			if sc.Null() {
				continue
			}
			s, ok := sc.String()
			if !ok {
				return nil, errAt(path+".content", ErrType, "want base64 bytes")
			}
			b, err := d.base64(s)
			if err != nil {
				return nil, errAt(path+".content", ErrType, "invalid base64: %v", err)
			}
			m.Content = append([]byte{}, b...)
		default:
			sc.Skip()
		}
	}
	return m, nil
}

// decodeCollections reads a transaction END's data_collections.
func (d *DebeziumDecoder) decodeCollections(sc *jsonscan.Scanner, path string) ([]CollectionCount, error) {
	if !sc.Array() {
		return nil, errAt(path, ErrMalformed, "not an array")
	}
	var out []CollectionCount
	for first := true; sc.More(first); first = false {
		p := fmt.Sprintf("%s[%d]", path, len(out))
		if !sc.Object() {
			return nil, errAt(p, ErrMalformed, "not an object")
		}
		var c CollectionCount
		for {
			k, ok := sc.Key()
			if !ok {
				break
			}
			var err error
			switch string(k) {
			case "data_collection":
				text, ok := textField(sc)
				if !ok {
					return nil, errAt(p+".data_collection", ErrType, "want a string")
				}
				c.Collection = text
			case "event_count":
				c.EventCount, err = d.int64Field(sc, p, ".", []byte("event_count"))
			default:
				sc.Skip()
			}
			if err != nil {
				return nil, err
			}
		}
		out = append(out, c)
	}
	if sc.Err() != nil {
		return nil, errAt(path, ErrMalformed, "%v", sc.Err())
	}
	return out, nil
}

func parseFloat(raw []byte) (float64, error) {
	f, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(raw), len(raw)), 64)
	if errors.Is(err, strconv.ErrRange) {
		err = nil
	}
	return f, err
}

// lazyPath is a JSON path that is only joined into a string for an error message.
type lazyPath struct {
	prefix, sep string
	key         []byte
}

func (p lazyPath) String() string { return p.prefix + p.sep + string(p.key) }

func (d *DebeziumDecoder) seen(i int) bool { return i < len(d.seenCols) && d.seenCols[i] }

func (d *DebeziumDecoder) mark(i int) {
	for len(d.seenCols) <= i {
		d.seenCols = append(d.seenCols, false)
	}
	d.seenCols[i] = true
}

func (d *DebeziumDecoder) clearSeen(n int) {
	clear(d.seenCols[:min(n, len(d.seenCols))])
}
