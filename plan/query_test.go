package plan

import (
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// shop is a small schema with NULLs in interesting places.
func shop(t testing.TB) *MemCatalog {
	return newTestCatalog(t,
		tableDef{name: "customers", fields: []arrow.Field{i64("id"), str("name"), str("city")}, rows: [][]any{
			{int64(1), "ann", "paris"}, {int64(2), "bob", "rome"}, {int64(3), "cid", nil}, {int64(4), "dee", "paris"},
		}},
		tableDef{name: "orders", fields: []arrow.Field{i64("id"), i64("customer_id"), dec("amount", 10, 2), str("status")}, split: 2, rows: [][]any{
			{int64(10), int64(1), "12.50", "paid"}, {int64(11), int64(1), "7.25", "open"}, {int64(12), int64(2), "100.00", "paid"},
			{int64(13), int64(9), "1.00", "paid"}, {int64(14), nil, "3.00", "open"}, {int64(15), int64(2), nil, "paid"},
		}},
	)
}

func TestSelectBasics(t *testing.T) {
	cat := shop(t)
	assert.Equal(t, []string{"1|ann", "2|bob", "3|cid", "4|dee"}, runSQL(t, cat, "SELECT id, name FROM customers ORDER BY id"))
	assert.Equal(t, []string{"1|ann|paris", "2|bob|rome", "3|cid|NULL", "4|dee|paris"}, runSQL(t, cat, "SELECT * FROM customers ORDER BY 1"))
	assert.Equal(t, []string{"2|x"}, runSQL(t, cat, "SELECT 1 + 1 AS two, 'x' AS s"))
	assert.Equal(t, []string{"11|ANN", "12|BOB"}, runSQL(t, cat, "SELECT c.id + 10, upper(c.name) FROM customers AS c WHERE c.id < 3 ORDER BY 1"))
	assert.Equal(t, []string{"3"}, runSQL(t, cat, "SELECT id FROM customers WHERE city IS NULL"))
	assert.Equal(t, []string{"2"}, runSQL(t, cat, "SELECT 7 / 3"), "integer division")
	assert.Equal(t, []string{"ann", "dee"}, sorted(runSQL(t, cat, "SELECT name FROM customers WHERE city = 'paris'")))
	assert.Equal(t, []string{"bob", "cid"}, runSQL(t, cat, "SELECT name FROM customers WHERE name LIKE '_o%' OR city IS NULL ORDER BY name"))
	assert.Equal(t, []string{"2", "3"}, runSQL(t, cat, "SELECT id FROM customers WHERE id BETWEEN 2 AND 3 ORDER BY id"))
	assert.Equal(t, []string{"1", "4"}, runSQL(t, cat, "SELECT id FROM customers WHERE id IN (1, 4) ORDER BY id"))
}

func TestOrderLimitOffsetDistinct(t *testing.T) {
	cat := shop(t)
	assert.Equal(t, []string{"NULL", "paris", "rome"}, runSQL(t, cat, "SELECT DISTINCT city FROM customers ORDER BY city NULLS FIRST"))
	assert.Equal(t, []string{"rome", "paris", "NULL"}, runSQL(t, cat, "SELECT DISTINCT city FROM customers ORDER BY city DESC NULLS LAST"))
	assert.Equal(t, []string{"NULL", "rome"}, runSQL(t, cat, "SELECT DISTINCT city FROM customers ORDER BY city DESC LIMIT 2"))
	assert.Equal(t, []string{"2", "3"}, runSQL(t, cat, "SELECT id FROM customers ORDER BY id LIMIT 2 OFFSET 1"))
	assert.Equal(t, []string{"dee", "cid"}, runSQL(t, cat, "SELECT name FROM customers ORDER BY id DESC LIMIT 2"))
	assert.Equal(t, []string{"4|dee"}, runSQL(t, cat, "SELECT id, name FROM customers ORDER BY length(name) DESC, id DESC LIMIT 1"))
}

func TestGroupByHavingFilter(t *testing.T) {
	cat := shop(t)
	assert.Equal(t, []string{
		"open|2|10.25|2",
		"paid|4|113.50|2",
	}, runSQL(t, cat, `SELECT status, count(*), sum(amount), count(*) FILTER (WHERE amount > 1) FROM orders GROUP BY status ORDER BY status`))
	assert.Equal(t, []string{"paid|3"}, runSQL(t, cat, "SELECT status, count(amount) AS n FROM orders GROUP BY 1 HAVING count(amount) > 2"))
	assert.Equal(t, []string{"6|3|1.00|100.00|24.7500000000000000"}, runSQL(t, cat, "SELECT count(*), count(DISTINCT customer_id), min(amount), max(amount), avg(amount) FROM orders"))
	assert.Equal(t, []string{"0|NULL"}, runSQL(t, cat, "SELECT count(*), sum(amount) FROM orders WHERE id > 100"))
	assert.Equal(t, []string{"2|1", "5|1"}, runSQL(t, cat, "SELECT id % 2 + 2 * (id % 2 + 1) AS k, count(*) / 3 FROM orders GROUP BY id % 2 ORDER BY k"))
}

func TestJoins(t *testing.T) {
	cat := shop(t)
	assert.Equal(t, []string{"ann|10", "ann|11", "bob|12", "bob|15"},
		sorted(runSQL(t, cat, "SELECT c.name, o.id FROM customers c JOIN orders o ON o.customer_id = c.id")))
	assert.Equal(t, []string{"ann|10", "ann|11", "bob|12", "bob|15", "cid|NULL", "dee|NULL"},
		sorted(runSQL(t, cat, "SELECT c.name, o.id FROM customers c LEFT JOIN orders o ON o.customer_id = c.id")))
	assert.Equal(t, []string{"NULL|13", "NULL|14", "ann|10", "ann|11", "bob|12", "bob|15"},
		sorted(runSQL(t, cat, "SELECT c.name, o.id FROM customers c RIGHT JOIN orders o ON o.customer_id = c.id")))
	assert.Equal(t, []string{"NULL|13", "NULL|14", "ann|10", "ann|11", "bob|12", "bob|15", "cid|NULL", "dee|NULL"},
		sorted(runSQL(t, cat, "SELECT c.name, o.id FROM customers c FULL JOIN orders o ON o.customer_id = c.id")))
	assert.Equal(t, []string{"ann|10", "ann|11", "bob|12", "bob|15"},
		sorted(runSQL(t, cat, "SELECT c.name, o.id FROM customers c, orders o WHERE o.customer_id = c.id")))
	assert.Len(t, runSQL(t, cat, "SELECT * FROM customers CROSS JOIN orders"), 24)
	// three inputs, reordered (the largest first), keys kept through the rewrite
	assert.Equal(t, []string{"ann|10|10", "ann|11|11", "bob|12|12", "bob|15|15"},
		sorted(runSQL(t, cat, "SELECT c.name, o.id, o2.id FROM customers c, orders o, orders o2 WHERE o.customer_id = c.id AND o2.id = o.id")))
	// USING merges the column
	assert.Equal(t, []string{"1|ann|10", "1|ann|11", "2|bob|12", "2|bob|15"},
		sorted(runSQL(t, cat, "SELECT customer_id, name, o.id FROM (SELECT id AS customer_id, name FROM customers) c JOIN orders o USING (customer_id)")))
	// non-equi condition in a left join
	assert.Equal(t, []string{"ann|10", "bob|12", "cid|NULL", "dee|NULL"},
		sorted(runSQL(t, cat, "SELECT c.name, o.id FROM customers c LEFT JOIN orders o ON o.customer_id = c.id AND o.amount > c.id * 10")))
}

func TestSubqueries(t *testing.T) {
	cat := shop(t)
	assert.Equal(t, []string{"ann", "bob"}, runSQL(t, cat, "SELECT name FROM customers WHERE id IN (SELECT customer_id FROM orders) ORDER BY name"))
	// NOT IN with a NULL in the subquery: no rows (SQL's three-valued logic)
	assert.Empty(t, runSQL(t, cat, "SELECT name FROM customers WHERE id NOT IN (SELECT customer_id FROM orders)"))
	assert.Equal(t, []string{"cid", "dee"}, runSQL(t, cat, "SELECT name FROM customers WHERE id NOT IN (SELECT customer_id FROM orders WHERE customer_id IS NOT NULL) ORDER BY name"))
	// NOT IN over an empty subquery keeps every row
	assert.Len(t, runSQL(t, cat, "SELECT name FROM customers WHERE id NOT IN (SELECT customer_id FROM orders WHERE id < 0)"), 4)
	assert.Equal(t, []string{"ann", "bob"}, runSQL(t, cat, "SELECT name FROM customers c WHERE EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id) ORDER BY name"))
	assert.Equal(t, []string{"cid", "dee"}, runSQL(t, cat, "SELECT name FROM customers c WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id) ORDER BY name"))
	assert.Equal(t, []string{"ann"}, runSQL(t, cat, "SELECT name FROM customers c WHERE EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id AND o.status = 'open')"))
	assert.Equal(t, []string{"bob|100.00"}, runSQL(t, cat, "SELECT name, (SELECT max(amount) FROM orders) FROM customers WHERE id = 2"))
	assert.Equal(t, []string{"ann|19.75", "bob|100.00", "cid|NULL", "dee|NULL"},
		runSQL(t, cat, "SELECT name, (SELECT sum(amount) FROM orders o WHERE o.customer_id = c.id) FROM customers c ORDER BY name"))
	assert.Equal(t, []string{"12"}, runSQL(t, cat, "SELECT id FROM orders WHERE amount > (SELECT avg(amount) FROM orders)"))
	// IN and NOT IN over a join: pushed onto the orders input
	assert.Equal(t, []string{"ann|10", "bob|12"}, sorted(runSQL(t, cat, "SELECT c.name, o.id FROM customers c, orders o WHERE o.customer_id = c.id AND o.id IN (SELECT id FROM orders WHERE amount >= 12.5)")))
	assert.Equal(t, []string{"ann|11", "bob|15"}, sorted(runSQL(t, cat, "SELECT c.name, o.id FROM customers c JOIN orders o ON o.customer_id = c.id WHERE o.id NOT IN (SELECT id FROM orders WHERE amount >= 12.5)")))
	assert.Equal(t, []string{"paris|2"}, runSQL(t, cat, "SELECT city, n FROM (SELECT city, count(*) AS n FROM customers GROUP BY city) t WHERE n > 1"))
}

func TestCTEsAndSetOps(t *testing.T) {
	cat := shop(t)
	assert.Equal(t, []string{"ann|19.75", "bob|100.00"}, runSQL(t, cat, `
		WITH totals AS (SELECT customer_id, sum(amount) AS total FROM orders GROUP BY customer_id),
		     named AS (SELECT c.name, t.total FROM customers c JOIN totals t ON t.customer_id = c.id)
		SELECT * FROM named ORDER BY name`))
	assert.Equal(t, []string{"1", "2", "3", "4", "9", "NULL"}, runSQL(t, cat, "SELECT id FROM customers UNION SELECT customer_id FROM orders ORDER BY 1"))
	assert.Len(t, runSQL(t, cat, "SELECT id FROM customers UNION ALL SELECT customer_id FROM orders"), 10)
	assert.Equal(t, []string{"1", "2"}, runSQL(t, cat, "SELECT id FROM customers INTERSECT SELECT customer_id FROM orders ORDER BY 1"))
	assert.Equal(t, []string{"3", "4"}, runSQL(t, cat, "SELECT id FROM customers EXCEPT SELECT customer_id FROM orders ORDER BY 1"))

	// A CTE named like a table reads the table (dbt's `orders as (select * from ref)`),
	// and a CTE cannot see itself or later CTEs of its WITH: those names are tables.
	assert.Equal(t, []string{"6"}, runSQL(t, cat, "WITH orders AS (SELECT * FROM orders) SELECT count(*) FROM orders"))
	assert.Equal(t, []string{"4|6"}, runSQL(t, cat, `
		WITH a AS (SELECT count(*) AS n FROM customers), customers AS (SELECT * FROM orders)
		SELECT a.n, (SELECT count(*) FROM customers) FROM a`))
}

func TestExpressions(t *testing.T) {
	cat := shop(t)
	assert.Equal(t, []string{"big", "small", "small", "small", "small", "unknown"},
		sorted(runSQL(t, cat, "SELECT CASE WHEN amount >= 50 THEN 'big' WHEN amount < 50 THEN 'small' ELSE 'unknown' END FROM orders")))
	assert.Equal(t, []string{"0.00", "1.00", "100.00", "12.50", "3.00", "7.25"}, sorted(runSQL(t, cat, "SELECT coalesce(amount, 0) FROM orders")))
	assert.Equal(t, []string{"2024-03-15|2024-04-14 00:00:00|2024|2024-03-01"}, runSQL(t, cat,
		"SELECT current_date, date '2024-03-15' + interval '30 days', extract(year FROM date '2024-03-15'), date_trunc('month', date '2024-03-15')::date"))
	assert.Equal(t, []string{"12|ann-x"}, runSQL(t, cat, "SELECT CAST('12' AS integer), name || '-' || 'x' FROM customers WHERE id = 1"))
}

func TestWindows(t *testing.T) {
	cat := shop(t)
	rows := runSQL(t, cat, `SELECT id, status, row_number() OVER (PARTITION BY status ORDER BY id),
		rank() OVER (ORDER BY status), dense_rank() OVER (ORDER BY status),
		lag(id) OVER (PARTITION BY status ORDER BY id), lead(id, 1, 0) OVER (PARTITION BY status ORDER BY id),
		sum(amount) OVER (PARTITION BY status ORDER BY id), count(*) OVER (PARTITION BY status),
		first_value(id) OVER (PARTITION BY status ORDER BY id DESC)
		FROM orders ORDER BY id`)
	assert.Equal(t, []string{
		"10|paid|1|3|2|NULL|12|12.50|4|15",
		"11|open|1|1|1|NULL|14|7.25|2|14",
		"12|paid|2|3|2|10|13|112.50|4|15",
		"13|paid|3|3|2|12|15|113.50|4|15",
		"14|open|2|1|1|11|0|10.25|2|14",
		"15|paid|4|3|2|13|0|113.50|4|15",
	}, rows)
	assert.Equal(t, []string{"10|12.50", "11|19.75", "12|107.25", "13|101.00", "14|4.00", "15|3.00"},
		runSQL(t, cat, "SELECT id, sum(amount) OVER (ORDER BY id ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM orders ORDER BY id"))
}

func TestErrorsNamePositions(t *testing.T) {
	cat := shop(t)
	_, err := queryErr(t, cat, "SELECT nope FROM customers")
	require.ErrorIs(t, err, ErrBind)
	assert.Contains(t, err.Error(), `column "nope" does not exist at line 1, column 8`)
	_, err = queryErr(t, cat, "SELECT * FROM missing")
	require.ErrorIs(t, err, ErrBind)
	_, err = queryErr(t, cat, "SELECT id FROM customers, LATERAL (SELECT 1) x")
	require.ErrorIs(t, err, ErrUnsupported)
	assert.Contains(t, err.Error(), "LATERAL")
	_, err = queryErr(t, cat, "SELECT name, count(*) FROM customers")
	require.ErrorIs(t, err, ErrBind)
	assert.Contains(t, err.Error(), "GROUP BY")
	_, err = queryErr(t, cat, "SELEC 1")
	require.ErrorIs(t, err, ErrSyntax)
	_, err = queryErr(t, cat, "SELECT id FROM customers WHERE id = (SELECT id FROM customers)")
	require.Error(t, err)
	assert.True(t, strings.Contains(err.Error(), "more than one row"), err.Error())
}

func TestFunctionsAndEdgeCases(t *testing.T) {
	cat := shop(t)
	assert.Equal(t, []string{"ann|ANN|3|nn|ann!|ann|xnn|a"}, runSQL(t, cat,
		"SELECT lower(name), upper(name), length(name), substr(name, 2), concat(name, '!'), trim('  ' || name || ' '), replace(name, 'a', 'x'), substring(name from 1 for 1) FROM customers WHERE id = 1"))
	// empty input: a global aggregate still gives one row, a grouped one none
	assert.Equal(t, []string{"0|NULL|NULL"}, runSQL(t, cat, "SELECT count(*), max(name), avg(id) FROM customers WHERE id > 99"))
	assert.Empty(t, runSQL(t, cat, "SELECT city, count(*) FROM customers WHERE id > 99 GROUP BY city"))
	// NULL keys group together and never join
	assert.Equal(t, []string{"NULL|1", "paris|2", "rome|1"}, runSQL(t, cat, "SELECT city, count(*) FROM customers GROUP BY city ORDER BY city NULLS FIRST"))
	assert.Equal(t, []string{"14"}, runSQL(t, cat, "SELECT o.id FROM orders o LEFT JOIN customers c ON c.id = o.customer_id WHERE c.id IS NULL AND o.customer_id IS NULL"))
	// ORDER BY an expression that is not selected; GROUP BY an output name
	assert.Equal(t, []string{"cid", "ann", "dee", "bob"}, runSQL(t, cat, "SELECT name FROM customers ORDER BY coalesce(city, 'a'), id"))
	assert.Equal(t, []string{"PARIS|2", "ROME|1"}, runSQL(t, cat, "SELECT upper(city) AS c, count(*) FROM customers WHERE city IS NOT NULL GROUP BY c ORDER BY c"))
	// HAVING without GROUP BY
	assert.Equal(t, []string{"4"}, runSQL(t, cat, "SELECT count(*) FROM customers HAVING count(*) > 3"))
	assert.Empty(t, runSQL(t, cat, "SELECT count(*) FROM customers HAVING count(*) > 4"))
	// NULL arithmetic and three-valued logic
	assert.Equal(t, []string{"NULL|NULL|true"}, runSQL(t, cat, "SELECT NULL + 1, NULL = NULL, NULL IS NULL"))
	assert.Equal(t, []string{"3"}, runSQL(t, cat, "SELECT id FROM customers WHERE (NOT (city = 'paris' OR city = 'rome')) IS NOT FALSE"))
	// decimal arithmetic is exact; integer division truncates
	assert.Equal(t, []string{"0.3|-2|2.5000000000000000"}, runSQL(t, cat, "SELECT 0.1 + 0.2, -7 / 3, 5 / 2::numeric"))
	_, err := queryErr(t, cat, "SELECT 1 / 0")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "division by zero")
}

func TestCorrelatedCountIsZero(t *testing.T) {
	cat := shop(t)
	assert.Equal(t, []string{"ann|2", "bob|2", "cid|0", "dee|0"},
		runSQL(t, cat, "SELECT name, (SELECT count(*) FROM orders o WHERE o.customer_id = c.id) FROM customers c ORDER BY name"))
	_, err := queryErr(t, cat, "SELECT name, (SELECT count(*) + 1 FROM orders o WHERE o.customer_id = c.id) FROM customers c")
	require.ErrorIs(t, err, ErrUnsupported)
}
