package oracle

import (
	"database/sql"
	"fmt"
	"slices"
	"strings"

	_ "github.com/duckdb/duckdb-go/v2" // registers the "duckdb" driver
)

// duckSettings make DuckDB follow PostgreSQL where the two differ and the suite
// depends on it: integer division of integers, and NULLs last ascending, first
// descending.
var duckSettings = []string{
	"SET integer_division = true",
	"SET default_null_order = 'NULLS_LAST_ON_ASC_FIRST_ON_DESC'",
}

// OpenDuckDB opens an in-memory DuckDB with a view per table over its Parquet file,
// set up to answer as PostgreSQL would (see duckSettings), on one connection.
func OpenDuckDB(tables map[string]string) (*sql.DB, error) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return nil, fmt.Errorf("oracle: duckdb: %w", err)
	}
	db.SetMaxOpenConns(1) // settings are per connection
	names := make([]string, 0, len(tables))
	for n := range tables {
		names = append(names, n)
	}
	slices.Sort(names)
	stmts := slices.Clone(duckSettings)
	for _, n := range names {
		stmts = append(stmts, fmt.Sprintf("CREATE VIEW %q AS SELECT * FROM read_parquet('%s')", n, strings.ReplaceAll(tables[n], "'", "''")))
	}
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			db.Close()
			return nil, fmt.Errorf("oracle: duckdb: %s: %w", s, err)
		}
	}
	return db, nil
}
