package cdc

import (
	"bytes"
	"fmt"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/internal/jsonscan"
)

// colKind says how a JSON value of a column is read.
type colKind uint8

const (
	ckInt colKind = iota
	ckFloat
	ckBool
	ckString
	ckBytes
	ckDecimal    // Connect Decimal: base64 two's complement, fixed scale
	ckVarDecimal // Debezium VariableScaleDecimal: {scale, value}, kept as exact text
	ckZonedTs    // ISO-8601 text with offset, to µs UTC
	ckJSONText   // struct, array or map without a flat mapping, kept as JSON text
)

// colSpec is one column of a Connect struct schema.
type colSpec struct {
	name  []byte
	kind  colKind
	bits  int // integer width for range checks
	scale int32
	field arrow.Field
}

// rowSpec is the decoded form of a Connect struct schema: the row layout of a table.
type rowSpec struct {
	cols   []colSpec
	index  map[string]int
	keys   *jsonscan.Keys // column names, predicted in the order the last row had them
	fields []arrow.Field
	name   string // Connect schema name, e.g. "server.public.customers.Value"
	// schemas holds the change.Schema per key-column list, built on first use; byKey
	// the same per key schema, so the usual event finds its schema with one lookup.
	schemas map[string]*change.Schema
	byKey   map[*change.Schema]*change.Schema
	key     *change.Schema // this layout as a key: every column a key column
	table   *string        // tableFromSchemaName(name), once
}

// asKey returns the layout as the schema of a record key.
func (r *rowSpec) asKey() (*change.Schema, error) {
	if r.key == nil {
		names := make([]string, len(r.cols))
		for i, c := range r.cols {
			names[i] = string(c.name)
		}
		s, err := r.schemaFor(names)
		if err != nil {
			return nil, err
		}
		r.key = s
	}
	return r.key, nil
}

// withKey returns the row's schema with the primary key of the record key's schema.
func (r *rowSpec) withKey(ks *change.Schema) (*change.Schema, error) {
	if s, ok := r.byKey[ks]; ok {
		return s, nil
	}
	s, err := r.schemaFor(keyColumns(ks))
	if err != nil {
		return nil, err
	}
	if r.byKey == nil {
		r.byKey = map[*change.Schema]*change.Schema{}
	}
	r.byKey[ks] = s
	return s, nil
}

// keyColumns names the primary key a record key gives: its key columns, or all its
// columns (nil without a key).
func keyColumns(ks *change.Schema) []string {
	if ks == nil {
		return nil
	}
	if names := ks.KeyNames(); len(names) > 0 {
		return names
	}
	names := make([]string, ks.NumFields())
	for i, f := range ks.Fields() {
		names[i] = f.Name
	}
	return names
}

// tableName is the table the Connect schema name implies, computed once.
func (r *rowSpec) tableName() string {
	if r.table == nil {
		t := tableFromSchemaName(r.name)
		r.table = &t
	}
	return *r.table
}

// schemaFor returns the change.Schema of the row with the given key columns (those that
// are columns of the row), cached.
func (r *rowSpec) schemaFor(key []string) (*change.Schema, error) {
	id := ""
	for i, k := range key {
		if _, ok := r.index[k]; !ok {
			continue
		}
		if i > 0 {
			id += ","
		}
		id += k
	}
	if s, ok := r.schemas[id]; ok {
		return s, nil
	}
	var ks []string
	for _, k := range key {
		if _, ok := r.index[k]; ok {
			ks = append(ks, k)
		}
	}
	s, err := change.NewSchema(r.fields, ks...)
	if err != nil {
		return nil, err
	}
	if r.schemas == nil {
		r.schemas = map[string]*change.Schema{}
	}
	r.schemas[id] = s
	return s, nil
}

// connectField is a Connect schema node as JSON describes it.
type connectField struct {
	typ      string
	name     string
	field    string
	optional bool
	params   map[string]string
	fields   []connectField
}

// parseConnectSchema reads a Connect JSON schema node. It is lenient the way Debezium's
// own documentation needs: "optional" and parameter values may be strings, and the key
// illustration uses "name"/"index" where canonical JSON has "field"/"type".
func parseConnectSchema(sc *jsonscan.Scanner) (connectField, error) {
	var f connectField
	if !sc.Object() {
		return f, fmt.Errorf("schema node is not an object")
	}
	for {
		k, ok := sc.Key()
		if !ok {
			break
		}
		switch string(k) {
		case "type":
			s, ok := sc.String()
			if !ok {
				return f, fmt.Errorf("schema type is not a string")
			}
			f.typ = string(s)
		case "name":
			if s, ok := sc.String(); ok {
				f.name = string(s)
			} else {
				sc.Skip()
			}
		case "field":
			s, ok := sc.String()
			if !ok {
				return f, fmt.Errorf("schema field name is not a string")
			}
			f.field = string(s)
		case "optional":
			if b, ok := sc.Bool(); ok {
				f.optional = b
			} else if s, ok := sc.String(); ok {
				f.optional = string(s) == "true"
			} else {
				sc.Skip()
			}
		case "parameters":
			if sc.Null() {
				continue
			}
			if !sc.Object() {
				return f, fmt.Errorf("schema parameters are not an object")
			}
			f.params = map[string]string{}
			for {
				pk, ok := sc.Key()
				if !ok {
					break
				}
				name := string(pk)
				if s, ok := sc.String(); ok {
					f.params[name] = string(s)
				} else if raw, _, ok := sc.Number(); ok {
					f.params[name] = string(raw)
				} else {
					sc.Skip()
				}
			}
		case "schema":
			// Debezium's key illustration nests the type: {"name":"id","schema":{"type":"INT32"}}
			if sc.Null() {
				continue
			}
			sub, err := parseConnectSchema(sc)
			if err != nil {
				return f, err
			}
			f.typ, f.optional, f.params, f.fields = sub.typ, sub.optional, sub.params, sub.fields
			if sub.name != "" {
				if f.field == "" {
					f.field = f.name
				}
				f.name = sub.name
			}
		case "fields":
			if sc.Null() {
				continue
			}
			if !sc.Array() {
				return f, fmt.Errorf("schema fields are not an array")
			}
			for first := true; sc.More(first); first = false {
				sub, err := parseConnectSchema(sc)
				if err != nil {
					return f, err
				}
				f.fields = append(f.fields, sub)
			}
		default:
			sc.Skip()
		}
		if sc.Err() != nil {
			return f, sc.Err()
		}
	}
	// The key illustration in Debezium's docs has {"type":"INT32","name":"id"} entries.
	if f.field == "" && f.name != "" && len(f.fields) == 0 && isPrimitive(f.typ) && !isLogicalName(f.name) {
		f.field, f.name = f.name, ""
	}
	return f, sc.Err()
}

func isPrimitive(t string) bool {
	switch lower(t) {
	case "int8", "int16", "int32", "int64", "float", "float32", "float64", "double", "boolean", "string", "bytes":
		return true
	}
	return false
}

func isLogicalName(n string) bool {
	return bytes.HasPrefix([]byte(n), []byte("io.debezium.")) || bytes.HasPrefix([]byte(n), []byte("org.apache.kafka.connect."))
}

func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= 'A' && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// rowSpecOf maps a Connect struct schema to a row layout.
func rowSpecOf(st connectField) (*rowSpec, error) {
	r := &rowSpec{index: map[string]int{}, name: st.name}
	for _, f := range st.fields {
		if f.field == "" {
			return nil, fmt.Errorf("schema field without a name")
		}
		if _, dup := r.index[f.field]; dup {
			return nil, fmt.Errorf("schema has field %q twice", f.field)
		}
		c, err := colOf(f)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", f.field, err)
		}
		r.index[f.field] = len(r.cols)
		r.cols = append(r.cols, c)
		r.fields = append(r.fields, c.field)
	}
	names := make([]string, len(r.cols))
	for i, c := range r.cols {
		names[i] = string(c.name)
	}
	r.keys = jsonscan.NewKeys(names...)
	return r, nil
}

// colOf maps one Connect field (with its logical name) to a column.
func colOf(f connectField) (colSpec, error) {
	c := colSpec{name: []byte(f.field)}
	var t arrow.DataType
	logical := ""
	typ := lower(f.typ)
	switch f.name {
	case "org.apache.kafka.connect.data.Decimal":
		scale, err := strconv.Atoi(f.params["scale"])
		if err != nil {
			return c, fmt.Errorf("decimal without a valid scale parameter %q", f.params["scale"])
		}
		prec := 38
		if p, err := strconv.Atoi(f.params["connect.decimal.precision"]); err == nil && p > 0 && p <= 38 && p >= scale {
			prec = p
		}
		if scale < 0 || scale > 38 {
			return c, fmt.Errorf("decimal scale %d out of range", scale)
		}
		c.kind, c.scale = ckDecimal, int32(scale)
		t = &arrow.Decimal128Type{Precision: int32(prec), Scale: int32(scale)}
	case "io.debezium.data.VariableScaleDecimal":
		c.kind, t, logical = ckVarDecimal, arrow.BinaryTypes.String, "decimal"
	case "io.debezium.time.Date", "org.apache.kafka.connect.data.Date":
		c.kind, c.bits, t = ckInt, 32, arrow.FixedWidthTypes.Date32
	case "io.debezium.time.Time", "org.apache.kafka.connect.data.Time":
		c.kind, c.bits, t = ckInt, 32, arrow.FixedWidthTypes.Time32ms
	case "io.debezium.time.MicroTime":
		c.kind, c.bits, t = ckInt, 64, arrow.FixedWidthTypes.Time64us
	case "io.debezium.time.NanoTime":
		c.kind, c.bits, t = ckInt, 64, arrow.FixedWidthTypes.Time64ns
	case "io.debezium.time.Timestamp", "org.apache.kafka.connect.data.Timestamp":
		c.kind, c.bits, t = ckInt, 64, &arrow.TimestampType{Unit: arrow.Millisecond}
	case "io.debezium.time.MicroTimestamp":
		c.kind, c.bits, t = ckInt, 64, &arrow.TimestampType{Unit: arrow.Microsecond}
	case "io.debezium.time.NanoTimestamp":
		c.kind, c.bits, t = ckInt, 64, &arrow.TimestampType{Unit: arrow.Nanosecond}
	case "io.debezium.time.ZonedTimestamp":
		c.kind, t = ckZonedTs, &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	case "io.debezium.time.ZonedTime":
		c.kind, t, logical = ckString, arrow.BinaryTypes.String, "zoned-time"
	case "io.debezium.data.Json":
		c.kind, t, logical = ckString, arrow.BinaryTypes.String, "json"
	case "io.debezium.data.Uuid":
		c.kind, t, logical = ckString, arrow.BinaryTypes.String, "uuid"
	case "io.debezium.data.Enum", "io.debezium.data.EnumSet":
		c.kind, t, logical = ckString, arrow.BinaryTypes.String, "enum"
	}
	if t == nil {
		switch typ {
		case "int8":
			c.kind, c.bits, t = ckInt, 8, arrow.PrimitiveTypes.Int8
		case "int16":
			c.kind, c.bits, t = ckInt, 16, arrow.PrimitiveTypes.Int16
		case "int32":
			c.kind, c.bits, t = ckInt, 32, arrow.PrimitiveTypes.Int32
		case "int64":
			c.kind, c.bits, t = ckInt, 64, arrow.PrimitiveTypes.Int64
		case "float", "float32":
			c.kind, t = ckFloat, arrow.PrimitiveTypes.Float32
		case "double", "float64":
			c.kind, t = ckFloat, arrow.PrimitiveTypes.Float64
		case "boolean":
			c.kind, t = ckBool, arrow.FixedWidthTypes.Boolean
		case "string":
			c.kind, t = ckString, arrow.BinaryTypes.String
		case "bytes":
			c.kind, t = ckBytes, arrow.BinaryTypes.Binary
		case "struct", "array", "map":
			c.kind, t, logical = ckJSONText, arrow.BinaryTypes.String, "json"
		default:
			return c, fmt.Errorf("unknown Connect type %q", f.typ)
		}
	}
	c.field = change.Col(f.field, t)
	if logical != "" {
		c.field = change.Logical(c.field, logical)
	}
	return c, nil
}
