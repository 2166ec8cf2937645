package bronze

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/strata-data/strata/change"
)

// SchemaVersion is one registered version of a table's schema. The lake numbers a
// table's versions 1, 2, 3, ... in commit order; each is identical to or a compatible
// evolution (change.CheckEvolution) of the one before, so data of any version can be
// read through the latest (change.NewEvolution).
type SchemaVersion struct {
	Version int
	Schema  *change.Schema
	// KeySchema is the key schema of the event that registered the version (nil when it
	// had none); each file also carries the key schema of its own events.
	KeySchema *change.Schema
	// Commit is the id of the manifest commit that registered the version.
	Commit uint64
}

// Schemas is the lake's registry of table schemas: every version of every table, as
// the manifest's commits registered them. It is immutable and safe for concurrent use.
type Schemas struct {
	tables map[string][]SchemaVersion
}

// NewSchemas folds the schema registrations of commits, which must be the manifest's in
// order. A registration that does not parse, or whose version is not the next of its
// table, is an ErrManifest naming the commit.
func NewSchemas(commits []Commit) (*Schemas, error) {
	s := &Schemas{tables: map[string][]SchemaVersion{}}
	for _, c := range commits {
		for _, e := range c.Schemas {
			vs := s.tables[e.Table]
			if e.Version != len(vs)+1 {
				return nil, fmt.Errorf("%w: commit %d registers version %d of table %q, expected version %d", ErrManifest, c.ID, e.Version, e.Table, len(vs)+1)
			}
			sv, err := parseSchemaEntry(e)
			if err != nil {
				return nil, fmt.Errorf("%w: commit %d: version %d of table %q: %v", ErrManifest, c.ID, e.Version, e.Table, err)
			}
			sv.Commit = c.ID
			s.tables[e.Table] = append(vs, sv)
		}
	}
	return s, nil
}

// Schemas returns the registry of table schemas as of the manifest's latest commit.
func (m *Manifest) Schemas() (*Schemas, error) { return NewSchemas(m.Commits()) }

// Tables returns the tables with a registered schema, sorted.
func (s *Schemas) Tables() []string {
	out := make([]string, 0, len(s.tables))
	for t := range s.tables {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// Versions returns the table's versions, oldest first (nil for an unknown table).
func (s *Schemas) Versions(table string) []SchemaVersion {
	return slices.Clone(s.tables[table])
}

// Latest returns the table's newest version: the schema every older one can be read through.
func (s *Schemas) Latest(table string) (SchemaVersion, bool) {
	vs := s.tables[table]
	if len(vs) == 0 {
		return SchemaVersion{}, false
	}
	return vs[len(vs)-1], true
}

// Version returns version v of the table, as a file's SchemaVersion names it.
func (s *Schemas) Version(table string, v int) (SchemaVersion, bool) {
	vs := s.tables[table]
	if v < 1 || v > len(vs) {
		return SchemaVersion{}, false
	}
	return vs[v-1], true
}

// parseSchemaEntry decodes a registration's schemas.
func parseSchemaEntry(e SchemaEntry) (SchemaVersion, error) {
	sv := SchemaVersion{Version: e.Version}
	if b := bytes.TrimSpace(e.Schema); len(b) == 0 || string(b) == "null" {
		return sv, errors.New("no schema")
	}
	var err error
	if sv.Schema, err = schemaFromJSON(e.Schema); err != nil {
		return sv, errors.New(notEventFile(err))
	}
	if len(e.KeySchema) > 0 {
		if sv.KeySchema, err = schemaFromJSON(e.KeySchema); err != nil {
			return sv, fmt.Errorf("key %s", notEventFile(err))
		}
	}
	return sv, nil
}

// notEventFile returns the text of a schemaFromJSON error without its ErrEventFile
// prefix: here the schema comes from the manifest, not from an event file.
func notEventFile(err error) string {
	return strings.TrimPrefix(err.Error(), ErrEventFile.Error()+": ")
}

// newSchemaEntry is the registration of version sv of table.
func newSchemaEntry(table string, sv SchemaVersion) (SchemaEntry, error) {
	e := SchemaEntry{Table: table, Version: sv.Version}
	var err error
	if e.Schema, err = schemaToJSON(sv.Schema); err != nil {
		return e, fmt.Errorf("bronze: version %d of table %q: %w", sv.Version, table, err)
	}
	if sv.KeySchema != nil {
		if e.KeySchema, err = schemaToJSON(sv.KeySchema); err != nil {
			return e, fmt.Errorf("bronze: version %d of table %q: key schema: %w", sv.Version, table, err)
		}
	}
	return e, nil
}
