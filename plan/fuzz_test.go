package plan

import (
	"context"
	"testing"
)

// FuzzPlan plans arbitrary SQL over the test catalog: parsing, binding, optimizing and
// splitting into stages must return an error or a plan, never panic.
func FuzzPlan(f *testing.F) {
	for _, s := range []string{
		"SELECT id, name FROM customers WHERE city = 'paris' ORDER BY id",
		"SELECT status, count(*) FILTER (WHERE amount > 1) FROM orders GROUP BY 1 HAVING sum(amount) > 2",
		"SELECT c.name FROM customers c LEFT JOIN orders o USING (id) WHERE o.id IS NULL",
		"WITH a AS (SELECT * FROM orders) SELECT * FROM a UNION SELECT * FROM a",
		"SELECT name FROM customers c WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id)",
		"SELECT id, rank() OVER (PARTITION BY city ORDER BY id) FROM customers",
		"SELECT (SELECT max(id) FROM orders), id NOT IN (SELECT customer_id FROM orders) FROM customers",
		"SELECT CASE WHEN id > 1 THEN 'a' END, coalesce(city, name), date '2024-01-01' + interval '1 day' FROM customers",
	} {
		f.Add(s)
	}
	cat := shop(f)
	f.Fuzz(func(t *testing.T, sql string) {
		j, err := NewPlanner(cat, Options{}).Plan(context.Background(), sql)
		if err == nil {
			_ = j.Explain(false)
			j.Release()
		}
	})
}
