package change

import (
	"errors"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
)

// MetaKey is the Arrow schema metadata key holding the comma-separated primary key, so
// the key survives Arrow IPC and Parquet round trips.
const MetaKey = "strata.key"

// MetaLogical is the Arrow field metadata key naming a logical type carried by a plain
// physical column: "json", "uuid", "enum", "decimal" (exact text of a variable-scale decimal),
// "zoned-time".
const MetaLogical = "strata.logical"

// ErrSchema is returned (wrapped) for an invalid schema.
var ErrSchema = errors.New("change: invalid schema")

// Schema is a table's column layout: an Arrow schema plus its primary key. It is immutable.
type Schema struct {
	arrow *arrow.Schema
	key   []int
	index map[string]int
}

// Col returns a nullable column.
func Col(name string, t arrow.DataType) arrow.Field {
	return arrow.Field{Name: name, Type: t, Nullable: true}
}

// NotNull returns a non-nullable column.
func NotNull(name string, t arrow.DataType) arrow.Field {
	return arrow.Field{Name: name, Type: t}
}

// Logical returns f tagged with a logical type (see [MetaLogical]).
func Logical(f arrow.Field, logical string) arrow.Field {
	f.Metadata = arrow.NewMetadata([]string{MetaLogical}, []string{logical})
	return f
}

// NewSchema builds a schema from columns and the names of its primary-key columns.
// Every column type must be one [Supported] accepts; names must be unique and non-empty.
func NewSchema(fields []arrow.Field, key ...string) (*Schema, error) {
	var md arrow.Metadata
	if len(key) > 0 {
		md = arrow.NewMetadata([]string{MetaKey}, []string{strings.Join(key, ",")})
	}
	return FromArrow(arrow.NewSchema(fields, &md))
}

// MustSchema is NewSchema that panics on error, for literals in tests and examples.
func MustSchema(fields []arrow.Field, key ...string) *Schema {
	s, err := NewSchema(fields, key...)
	if err != nil {
		panic(err)
	}
	return s
}

// FromArrow wraps an Arrow schema, reading the primary key from its [MetaKey] metadata.
func FromArrow(as *arrow.Schema) (*Schema, error) {
	s := &Schema{arrow: as, index: make(map[string]int, as.NumFields())}
	for i, f := range as.Fields() {
		if f.Name == "" {
			return nil, fmt.Errorf("%w: column %d has no name", ErrSchema, i)
		}
		if _, dup := s.index[f.Name]; dup {
			return nil, fmt.Errorf("%w: duplicate column %q", ErrSchema, f.Name)
		}
		if err := Supported(f.Type); err != nil {
			return nil, fmt.Errorf("%w: column %q: %v", ErrSchema, f.Name, err)
		}
		s.index[f.Name] = i
	}
	if k, ok := as.Metadata().GetValue(MetaKey); ok && k != "" {
		for _, name := range strings.Split(k, ",") {
			i, ok := s.index[name]
			if !ok {
				return nil, fmt.Errorf("%w: key column %q is not a column", ErrSchema, name)
			}
			s.key = append(s.key, i)
		}
	}
	return s, nil
}

// Supported reports, as an error, whether a column type is one the builders and kernels handle.
func Supported(t arrow.DataType) error {
	switch t.ID() {
	case arrow.BOOL, arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64,
		arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64,
		arrow.FLOAT32, arrow.FLOAT64, arrow.DECIMAL128, arrow.STRING, arrow.BINARY,
		arrow.DATE32, arrow.TIME32, arrow.TIME64, arrow.TIMESTAMP:
		return nil
	}
	return fmt.Errorf("unsupported column type %s", t)
}

// Arrow returns the Arrow schema (with the key in its metadata).
func (s *Schema) Arrow() *arrow.Schema { return s.arrow }

// NumFields returns the number of columns.
func (s *Schema) NumFields() int { return s.arrow.NumFields() }

// Field returns column i.
func (s *Schema) Field(i int) arrow.Field { return s.arrow.Field(i) }

// Fields returns the columns.
func (s *Schema) Fields() []arrow.Field { return s.arrow.Fields() }

// FieldIndex returns the index of the named column, or -1.
func (s *Schema) FieldIndex(name string) int {
	if i, ok := s.index[name]; ok {
		return i
	}
	return -1
}

// Key returns the indices of the primary-key columns (nil when the table has none).
func (s *Schema) Key() []int { return s.key }

// KeyNames returns the names of the primary-key columns.
func (s *Schema) KeyNames() []string {
	out := make([]string, len(s.key))
	for i, k := range s.key {
		out[i] = s.arrow.Field(k).Name
	}
	return out
}

// Equal reports whether two schemas have the same columns, types, nullability and key.
func (s *Schema) Equal(o *Schema) bool {
	if s == o {
		return true
	}
	if s == nil || o == nil {
		return false
	}
	return s.arrow.Equal(o.arrow) && s.arrow.Metadata().Equal(o.arrow.Metadata())
}

// String renders the schema compactly: "id int64 not null, name utf8 (key: id)".
func (s *Schema) String() string {
	var b strings.Builder
	for i, f := range s.arrow.Fields() {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %s", f.Name, f.Type)
		if !f.Nullable {
			b.WriteString(" not null")
		}
		if l, ok := f.Metadata.GetValue(MetaLogical); ok {
			fmt.Fprintf(&b, " [%s]", l)
		}
	}
	if len(s.key) > 0 {
		fmt.Fprintf(&b, " (key: %s)", strings.Join(s.KeyNames(), ","))
	}
	return b.String()
}

// KeyOf returns the key columns of a full row, in key order.
func (s *Schema) KeyOf(r Row) Row {
	out := make(Row, len(s.key))
	for i, k := range s.key {
		if k < len(r) {
			out[i] = r[k]
		}
	}
	return out
}
