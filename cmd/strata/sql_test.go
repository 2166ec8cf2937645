package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
}

func TestSQLOverCSV(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "people.csv"), "id,name,born,score\n1,\"Smith, Ann\",1990-05-01,1.5\n2,Bob,,2.25\n3,\"say \"\"hi\"\"\",2001-12-31,\n")
	orders := filepath.Join(dir, "orders")
	require.NoError(t, os.Mkdir(orders, 0o755))
	writeFile(t, filepath.Join(orders, "a.csv"), "person,amount\n1,10\n1,5\n")
	writeFile(t, filepath.Join(orders, "b.csv"), "person,amount\n3,7\n")

	status, out, errOut := strata(t, "sql", "--table", "people="+filepath.Join(dir, "people.csv"),
		"SELECT id, name, born, score FROM people ORDER BY id")
	require.Equal(t, 0, status, errOut)
	assert.Equal(t, "id,name,born,score\n1,\"Smith, Ann\",1990-05-01,1.50\n2,Bob,,2.25\n3,\"say \"\"hi\"\"\",2001-12-31,\n", out)

	status, out, errOut = strata(t, "sql", "--table", "people="+filepath.Join(dir, "people.csv"), "--table", "orders="+orders,
		"--format", "json", "SELECT p.name, sum(o.amount) AS total FROM people p LEFT JOIN orders o ON o.person = p.id GROUP BY p.name ORDER BY total DESC NULLS LAST")
	require.Equal(t, 0, status, errOut)
	// sum(bigint) is numeric: exact decimal text, as everywhere in strata
	assert.Equal(t, `{"name":"Smith, Ann","total":"15"}
{"name":"say \"hi\"","total":"7"}
{"name":"Bob","total":null}
`, out)

	status, out, errOut = strata(t, "sql", "--table", "people="+filepath.Join(dir, "people.csv"), "--format", "table", "SELECT id, born FROM people WHERE id < 3 ORDER BY id")
	require.Equal(t, 0, status, errOut)
	assert.Equal(t, "id | born      \n---+-----------\n1  | 1990-05-01\n2  | NULL      \n(2 rows)\n", out)

	// A query read from a file often opens with a comment, which is no flag.
	status, out, errOut = strata(t, "sql", "--table", "people="+filepath.Join(dir, "people.csv"), "--format", "table",
		"-- the first two\nSELECT id FROM people WHERE id < 3 ORDER BY id")
	require.Equal(t, 0, status, errOut)
	assert.Equal(t, "id\n--\n1 \n2 \n(2 rows)\n", out)

	status, out, errOut = strata(t, "sql", "--table", "orders="+orders, "--explain", "SELECT person, count(*) FROM orders GROUP BY person")
	require.Equal(t, 0, status, errOut)
	assert.Contains(t, out, "Logical plan:")
	assert.Contains(t, out, "Stage 2 aggregate")

	status, out, errOut = strata(t, "sql", "--table", "orders="+orders, "--explain-analyze", "SELECT person, count(*) FROM orders GROUP BY person")
	require.Equal(t, 0, status, errOut)
	assert.Contains(t, out, "actual rows=2")

	status, _, errOut = strata(t, "sql", "--table", "orders="+orders, "SELECT nope FROM orders")
	assert.Equal(t, 1, status)
	assert.Contains(t, errOut, `column "nope" does not exist`)
	status, _, errOut = strata(t, "sql", "--table", "bad", "SELECT 1")
	assert.Equal(t, 1, status)
	assert.Contains(t, errOut, "NAME=PATH")
	status, out, _ = strata(t, "sql", "--help")
	assert.Equal(t, 0, status)
	assert.True(t, strings.HasPrefix(out, "usage: strata sql"))
}

// --lake makes the silver tables queryable by full or short name; the answer equals
// what silver dump prints, and a --table of the same name wins.
func TestSQLOverLake(t *testing.T) {
	lake := t.TempDir()
	st, _, errOut := strata(t, "ingest", "--from", "gen://?seed=4&events=3000", "--lake", lake, "--quiet")
	require.Equal(t, 0, st, errOut)
	st, dump, errOut := strata(t, "silver", "dump", "--lake", lake, "--table", "public.orders", "--format", "csv")
	require.Equal(t, 0, st, errOut)
	rows := strings.Count(dump, "\n") - 1
	require.Positive(t, rows)

	for _, name := range []string{"public.orders", "orders"} {
		st, out, errOut := strata(t, "sql", "--lake", lake, "SELECT count(*) AS n FROM "+name)
		require.Equal(t, 0, st, errOut)
		assert.Equal(t, fmt.Sprintf("n\n%d\n", rows), out, name)
	}
	st, out, errOut := strata(t, "sql", "--lake", lake, "SELECT count(*) AS n FROM orders o JOIN customers c ON o.customer_id = c.id WHERE c.segment IS NOT NULL")
	require.Equal(t, 0, st, errOut)
	assert.Regexp(t, `^n\n[1-9]\d*\n$`, out)

	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "orders.csv"), "id\n1\n2\n")
	st, out, errOut = strata(t, "sql", "--lake", lake, "--table", "orders="+filepath.Join(dir, "orders.csv"), "SELECT count(*) AS n FROM orders")
	require.Equal(t, 0, st, errOut)
	assert.Equal(t, "n\n2\n", out)

	st, _, errOut = strata(t, "sql", "--lake", lake, "SELECT * FROM nosuch")
	assert.Equal(t, 1, st)
	assert.Contains(t, errOut, `"nosuch" does not exist`)
}
