package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/jackc/pgx/v5"

	"github.com/strata-data/strata/change"
)

// relation is one table as the stream describes it: its columns' types and decoders,
// and the change.Schema its events carry.
type relation struct {
	oid      uint32
	table    string // schema.table
	schema   string
	name     string
	cols     []colType
	names    []string
	identity []bool // part of the replica identity (present in key-only old tuples)
	s        *change.Schema
	version  int
	key      *change.Schema // the primary key columns (nil without a primary key)
	keyIdx   []int
}

// catColumn is what the catalog says of one column.
type catColumn struct {
	name    string
	typ     uint32
	typmod  int32
	notNull bool
	pk      bool
	ident   bool // in the replica identity index (REPLICA IDENTITY USING INDEX)
}

// catTable is what the catalog says of one table.
type catTable struct {
	oid       uint32
	schema    string
	name      string
	replident byte // d default, f full, i index, n nothing
	// partitioned is set for a partitioned table (published via its root): its rows
	// live in its partitions.
	partitioned bool
	cols        []catColumn
}

func (t *catTable) qualified() string { return t.schema + "." + t.name }

func (t *catTable) hasPK() bool {
	for _, c := range t.cols {
		if c.pk {
			return true
		}
	}
	return false
}

const catalogSQL = `
SELECT n.nspname, c.relname, c.relreplident::text, c.relkind::text,
       a.attname, a.atttypid, a.atttypmod, a.attnotnull,
       coalesce(a.attnum = ANY (pk.indkey), false),
       coalesce(a.attnum = ANY (ri.indkey), false)
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
LEFT JOIN pg_index pk ON pk.indrelid = c.oid AND pk.indisprimary
LEFT JOIN pg_index ri ON ri.indrelid = c.oid AND ri.indisreplident
WHERE c.oid = $1
ORDER BY a.attnum`

// readCatalog reads a table's columns, keys and replica identity; nil when the table
// no longer exists.
func readCatalog(ctx context.Context, conn *pgx.Conn, oid uint32) (*catTable, error) {
	rows, err := conn.Query(ctx, catalogSQL, oid)
	if err != nil {
		return nil, fmt.Errorf("postgres: read catalog of relation %d: %w", oid, err)
	}
	defer rows.Close()
	t := &catTable{oid: oid}
	for rows.Next() {
		var c catColumn
		var ri, kind string
		if err := rows.Scan(&t.schema, &t.name, &ri, &kind, &c.name, &c.typ, &c.typmod, &c.notNull, &c.pk, &c.ident); err != nil {
			return nil, fmt.Errorf("postgres: read catalog of relation %d: %w", oid, err)
		}
		if ri != "" {
			t.replident = ri[0]
		}
		t.partitioned = kind == "p"
		t.cols = append(t.cols, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: read catalog of relation %d: %w", oid, err)
	}
	if len(t.cols) == 0 {
		return nil, nil // dropped since (the WAL being decoded is older than the catalog)
	}
	return t, nil
}

// lookupType reads catalog facts of a type that is not built in.
func lookupType(ctx context.Context, conn *pgx.Conn, oid uint32) (typeInfo, error) {
	var ti typeInfo
	var typtype, category string
	err := conn.QueryRow(ctx, `SELECT t.typtype::text, t.typcategory::text, t.typbasetype, t.typtypmod, t.typelem, n.nspname || '.' || t.typname
		FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE t.oid = $1`, oid).
		Scan(&typtype, &category, &ti.base, &ti.baseTypmod, &ti.elem, &ti.name)
	if errors.Is(err, pgx.ErrNoRows) {
		return ti, nil // dropped since: kept as text
	}
	if err != nil {
		return ti, fmt.Errorf("postgres: look up type %d: %w", oid, err)
	}
	ti.typtype, ti.category = typtype[0], category[0]
	return ti, nil
}

// colSource is one column as the stream (RELATION) or the catalog lists it.
type colSource struct {
	name     string
	typ      uint32
	typmod   int32
	identity bool
}

// buildRelation maps columns to a relation; nullability and the primary key come from
// the catalog (matched by name, so a column the catalog no longer has is nullable).
func (r *reader) buildRelation(ctx context.Context, cat *catTable, cols []colSource) (*relation, error) {
	rel := &relation{oid: cat.oid, schema: cat.schema, name: cat.name, table: cat.qualified()}
	byName := make(map[string]*catColumn, len(cat.cols))
	for i := range cat.cols {
		byName[cat.cols[i].name] = &cat.cols[i]
	}
	afields := make([]arrow.Field, 0, len(cols))
	var keyNames []string
	for _, c := range cols {
		ct, err := r.dec.mapType(c.typ, c.typmod, func(oid uint32) (typeInfo, error) { return lookupType(ctx, r.conn, oid) })
		if err != nil {
			return nil, fmt.Errorf("postgres: table %s column %s: %w", rel.table, c.name, err)
		}
		if ct.fallback {
			r.src.cfg.Metrics.fallback()
			r.src.log.Warn("postgres: column type has no mapping; kept as text", "table", rel.table, "column", c.name, "type_oid", c.typ)
		}
		cc := byName[c.name]
		notNull := cc != nil && cc.notNull
		if cc != nil && cc.pk {
			keyNames = append(keyNames, c.name)
			rel.keyIdx = append(rel.keyIdx, len(rel.cols))
		}
		rel.cols = append(rel.cols, ct)
		rel.names = append(rel.names, c.name)
		rel.identity = append(rel.identity, c.identity)
		afields = append(afields, ct.field(c.name, notNull))
	}
	s, err := change.NewSchema(afields, keyNames...)
	if err != nil {
		return nil, fmt.Errorf("postgres: table %s: %w", rel.table, err)
	}
	if len(keyNames) > 0 {
		kf := make([]arrow.Field, len(rel.keyIdx))
		for i, k := range rel.keyIdx {
			kf[i] = afields[k]
		}
		if rel.key, err = change.NewSchema(kf, keyNames...); err != nil {
			return nil, fmt.Errorf("postgres: table %s key: %w", rel.table, err)
		}
	}
	// One *change.Schema per table and version: events of an unchanged table share it.
	tv := r.tables[rel.table]
	if tv == nil {
		tv = &tableVersion{}
		r.tables[rel.table] = tv
	}
	if tv.schema == nil || !tv.schema.Equal(s) {
		tv.version++
		tv.schema, tv.key = s, rel.key
	}
	rel.s, rel.key, rel.version = tv.schema, tv.key, tv.version
	return rel, nil
}

// tableVersion is the current schema of one table and how many it has had.
type tableVersion struct {
	schema  *change.Schema
	key     *change.Schema
	version int
}

// identityOf says which catalog columns a key-only old tuple carries.
func identityOf(cat *catTable, c catColumn) bool {
	switch cat.replident {
	case 'f':
		return true
	case 'i':
		return c.ident
	case 'd':
		return c.pk
	}
	return false
}

// quoteQualified quotes schema.table for SQL.
func quoteQualified(schema, name string) string {
	return pgx.Identifier{schema, name}.Sanitize()
}

// splitTable splits "schema.table" (or "table", in public).
func splitTable(t string) (string, string) {
	if i := strings.IndexByte(t, '.'); i >= 0 {
		return t[:i], t[i+1:]
	}
	return "public", t
}
