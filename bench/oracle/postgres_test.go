package oracle

import (
	"bytes"
	"context"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/strata-data/strata/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// pgTables are the oracle's tables in PostgreSQL's types.
var pgTables = map[string]string{
	"t": "id bigint not null, k bigint, g text, x double precision, d numeric(12,2), dt date, s text, b boolean, n integer",
	"u": "id bigint not null, k bigint, name text, amount numeric(12,2), dt date",
	"e": "id bigint not null, k bigint, name text, amount numeric(12,2), dt date",
}

// TestReferenceMatchesPostgres checks the reference itself: every suite query gives
// the same answer in PostgreSQL (a private cluster, tables copied from the Parquet
// files through CSV) as in DuckDB with the oracle's settings, so the oracle holds
// strata to PostgreSQL's semantics rather than DuckDB's.
func TestReferenceMatchesPostgres(t *testing.T) {
	paths := setup(t)
	db, err := OpenDuckDB(paths)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dsn := pgtest.Shared(t).CreateDatabase(t)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "SET TimeZone = 'UTC'"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, cols := range pgTables {
		if _, err := conn.Exec(ctx, fmt.Sprintf("CREATE TABLE %s (%s)", name, cols)); err != nil {
			t.Fatal(err)
		}
		csv := filepath.Join(dir, name+".csv")
		// DuckDB writes NULL as an empty field and the empty string quoted, as
		// PostgreSQL's CSV format reads them.
		if _, err := db.Exec(fmt.Sprintf("COPY (SELECT * FROM %s) TO '%s' (FORMAT csv, HEADER false)", name, csv)); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(csv)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.PgConn().CopyFrom(ctx, bytes.NewReader(b), fmt.Sprintf("COPY %s FROM STDIN (FORMAT csv)", name)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	// The copy is faithful: the tables agree before any query is compared.
	for name := range pgTables {
		q := "select * from " + name
		if err := Compare(pgQuery(t, ctx, conn, q), duckQuery(t, db, q), false); err != nil {
			t.Fatalf("table %s differs after the copy: %v", name, err)
		}
	}
	for _, q := range loadSuite(t) {
		t.Run(q.name, func(t *testing.T) {
			want := pgQuery(t, ctx, conn, q.sql)
			got := duckQuery(t, db, q.sql)
			if err := Compare(got, want, q.ordered); err != nil {
				t.Errorf("duckdb differs from postgres: %v\n%s", err, q.sql)
			}
		})
	}
}

// pgQuery runs q in PostgreSQL and normalizes the answer.
func pgQuery(t *testing.T, ctx context.Context, conn *pgx.Conn, q string) Result {
	t.Helper()
	rows, err := conn.Query(ctx, q)
	if err != nil {
		t.Fatalf("postgres: %v\n%s", err, q)
	}
	defer rows.Close()
	var res Result
	fds := rows.FieldDescriptions()
	for _, f := range fds {
		res.Columns = append(res.Columns, f.Name)
	}
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatalf("postgres: %v\n%s", err, q)
		}
		row := make([]Value, len(vals))
		for i, x := range vals {
			row[i] = fromPG(t, x, fds[i].DataTypeOID)
		}
		res.Rows = append(res.Rows, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("postgres: %v\n%s", err, q)
	}
	return res
}

func fromPG(t *testing.T, x any, oid uint32) Value {
	switch x := x.(type) {
	case pgtype.Numeric:
		if !x.Valid {
			return Value{}
		}
		if x.NaN || x.InfinityModifier != pgtype.Finite {
			t.Fatalf("postgres: non-finite numeric")
		}
		r := new(big.Rat).SetInt(x.Int)
		p := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(abs32(x.Exp))), nil))
		if x.Exp >= 0 {
			r.Mul(r, p)
		} else {
			r.Quo(r, p)
		}
		return Value{Kind: Exact, R: r}
	case time.Time:
		if oid == pgtype.DateOID {
			return Value{Kind: Date, I: floorDiv(x.Unix(), 86400)}
		}
		return Value{Kind: Timestamp, I: x.UnixMicro()}
	}
	v, err := fromGo(x, "")
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	return v
}

func abs32(x int32) int32 {
	if x < 0 {
		return -x
	}
	return x
}
