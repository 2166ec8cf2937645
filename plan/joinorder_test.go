package plan

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// snowflake is a fact table (sales) with dimensions tickets, stores and items; tickets
// point at stores, and stores and items at regions.
type snowflake struct {
	cat                         *MemCatalog
	store, item, ticket, amount []int64 // sales columns
	storeRegion, itemRegion     []int64
	ticketStore                 []int64
}

func newSnowflake(t *testing.T) *snowflake {
	s := &snowflake{}
	var sales, tickets, stores, items, regions [][]any
	for i := range 20000 {
		st, it, amt, tk := int64(i*7%200), int64(i*13%100), int64(i%50), int64(i*3%8000)
		if i%11 == 0 {
			it = st % 100 // some rows whose item equals their store
		}
		s.store, s.item, s.amount = append(s.store, st), append(s.item, it), append(s.amount, amt)
		s.ticket = append(s.ticket, tk)
		sales = append(sales, []any{int64(i), st, it, amt, tk})
	}
	for i := range 8000 {
		s.ticketStore = append(s.ticketStore, int64(i*11%200))
		tickets = append(tickets, []any{int64(i), int64(i * 11 % 200)})
	}
	for i := range 200 {
		s.storeRegion = append(s.storeRegion, int64(i*3%10))
		stores = append(stores, []any{int64(i), int64(i * 3 % 10)})
	}
	for i := range 100 {
		s.itemRegion = append(s.itemRegion, int64(i*7%10))
		items = append(items, []any{int64(i), int64(i * 7 % 10)})
	}
	for i := range 10 {
		regions = append(regions, []any{int64(i), fmt.Sprintf("r%d", i)})
	}
	s.cat = newTestCatalog(t,
		tableDef{name: "sales", fields: []arrow.Field{i64("id"), i64("store_id"), i64("item_id"), i64("amount"), i64("ticket_id")}, rows: sales, split: 2000},
		tableDef{name: "tickets", fields: []arrow.Field{i64("id"), i64("store_id")}, rows: tickets, split: 2000},
		tableDef{name: "stores", fields: []arrow.Field{i64("id"), i64("region_id")}, rows: stores},
		tableDef{name: "items", fields: []arrow.Field{i64("id"), i64("region_id")}, rows: items},
		tableDef{name: "regions", fields: []arrow.Field{i64("id"), str("name")}, rows: regions},
	)
	return s
}

// stageOf returns the physical stage of plan text whose operators mention op.
func stageOf(t *testing.T, explain, op string) string {
	t.Helper()
	_, phys, ok := strings.Cut(explain, "Physical plan:")
	require.True(t, ok)
	for _, st := range strings.Split(phys, "  Stage ")[1:] {
		if strings.Contains(st, op) {
			return st
		}
	}
	t.Fatalf("no stage with %q in\n%s", op, explain)
	return ""
}

// runBoth runs sql with the default options and with every join partitioned, and
// checks they agree.
func runBoth(t *testing.T, cat Catalog, sql string) []string {
	t.Helper()
	got := runSQL(t, cat, sql)
	shuffled := runSQL(t, cat, sql, func(o *Options) { o.BroadcastRows = 1; o.ShuffleRows = 1; o.Partitions = 3 })
	assert.Equal(t, got, shuffled, "partitioned joins")
	return got
}

func explainSQL(t *testing.T, cat Catalog, sql string) string {
	t.Helper()
	j, err := NewPlanner(cat, Options{}).Plan(context.Background(), sql)
	require.NoError(t, err)
	defer j.Release()
	return j.Explain(false)
}

// A filtered dimension of a dimension is joined to it first, and the fact table probes
// the (smaller) result, rather than probing every dimension in turn.
func TestJoinOrderBuildsDimensionChain(t *testing.T) {
	s := newSnowflake(t)
	const sql = `SELECT count(*), sum(s.amount) FROM sales s, stores st, regions r
		WHERE s.store_id = st.id AND st.region_id = r.id AND r.name = 'r3'`
	st := stageOf(t, explainSQL(t, s.cat, sql), "st.region_id = r.id")
	assert.Contains(t, st, "Scan stores")
	assert.NotContains(t, st, "Scan sales", "the stores-regions join runs before sales probes it")

	var n, sum int64
	for i := range s.store {
		if s.storeRegion[s.store[i]] == 3 {
			n, sum = n+1, sum+s.amount[i]
		}
	}
	assert.Equal(t, []string{fmt.Sprintf("%d|%d", n, sum)}, runBoth(t, s.cat, sql))
}

// Equalities chain: stores.region_id = items.region_id = regions.id also joins stores
// with regions directly (as TPC-H q05 joins customer with nation), so the region
// filter reaches stores, and through them tickets, before sales probes them.
func TestJoinOrderImpliedEquality(t *testing.T) {
	s := newSnowflake(t)
	const sql = `SELECT count(*), sum(s.amount) FROM sales s, tickets t, stores st, items i, regions r
		WHERE s.ticket_id = t.id AND t.store_id = st.id AND s.item_id = i.id
		AND st.region_id = i.region_id AND i.region_id = r.id AND r.name = 'r3'`
	explain := explainSQL(t, s.cat, sql)
	assert.Contains(t, explain, "st.region_id = r.id", "the implied equality joins stores and regions")
	assert.NotContains(t, explain, "Join cross")

	var n, sum int64
	for i := range s.store {
		if s.storeRegion[s.ticketStore[s.ticket[i]]] == 3 && s.itemRegion[s.item[i]] == 3 {
			n, sum = n+1, sum+s.amount[i]
		}
	}
	require.NotZero(t, n)
	assert.Equal(t, []string{fmt.Sprintf("%d|%d", n, sum)}, runBoth(t, s.cat, sql))
}

// Two columns of one input equal through a third (s.store_id = st.id = s.item_id) are
// not equal in that input: both conditions stay, neither is dropped as implied.
func TestJoinOrderEqualityWithinOneInput(t *testing.T) {
	s := newSnowflake(t)
	const sql = `SELECT count(*), sum(s.amount) FROM sales s, stores st, regions r
		WHERE s.store_id = st.id AND st.id = s.item_id AND st.region_id = r.id AND r.name = 'r3'`
	var n, sum int64
	for i := range s.store {
		if s.store[i] == s.item[i] && s.storeRegion[s.store[i]] == 3 {
			n, sum = n+1, sum+s.amount[i]
		}
	}
	require.NotZero(t, n)
	assert.Equal(t, []string{fmt.Sprintf("%d|%d", n, sum)}, runBoth(t, s.cat, sql))
}

// A join makes only the columns its consumer reads: a build side that is itself a
// join (stores with regions) carries the key and the name the query reads, not every
// column of both tables, and the answers stay right with narrowed joins under semi,
// left and partitioned joins and with no column read at all (count(*)).
func TestJoinMakesOnlyColumnsRead(t *testing.T) {
	s := newSnowflake(t)
	const sql = `SELECT r.name, count(*), sum(s.amount) FROM sales s, stores st, regions r
		WHERE s.store_id = st.id AND st.region_id = r.id AND r.name = 'r3' GROUP BY r.name`
	j, err := NewPlanner(s.cat, Options{}).Plan(context.Background(), sql)
	require.NoError(t, err)
	found := false
	for _, st := range j.Stages() {
		if strings.Contains(strings.Join(st.Ops, "\n"), "st.region_id = r.id") {
			found = true
			assert.Equal(t, 2, st.schema.NumFields(), "stores-regions stage makes st.id and r.name: %v", st.schema)
		}
	}
	j.Release()
	require.True(t, found)

	var n, sum, inRegion int64
	for i := range s.store {
		if s.storeRegion[s.store[i]] == 3 {
			n, sum = n+1, sum+s.amount[i]
		}
	}
	for _, r := range s.storeRegion {
		if r == 3 {
			inRegion++
		}
	}
	assert.Equal(t, []string{fmt.Sprintf("r3|%d|%d", n, sum)}, runBoth(t, s.cat, sql))
	assert.Equal(t, []string{fmt.Sprint(n)}, runBoth(t, s.cat, `SELECT count(*) FROM sales s, stores st, regions r
		WHERE s.store_id = st.id AND st.region_id = r.id AND r.name = 'r3'`))
	assert.Equal(t, []string{fmt.Sprintf("%d|%d", n, sum)}, runBoth(t, s.cat, `SELECT count(*), sum(s.amount) FROM sales s
		WHERE s.store_id IN (SELECT st.id FROM stores st, regions r WHERE st.region_id = r.id AND r.name = 'r3')`))
	assert.Equal(t, []string{fmt.Sprintf("200|%d", inRegion)}, runBoth(t, s.cat, `SELECT count(*), count(x.name) FROM stores st
		LEFT JOIN (SELECT st2.id, r.name FROM stores st2, regions r WHERE st2.region_id = r.id AND r.name = 'r3') x ON x.id = st.id`))
	assert.Equal(t, []string{fmt.Sprintf("%d|%d|%d", n, sum, 3*n)}, runBoth(t, s.cat, `SELECT count(*), sum(a), sum(rid) FROM
		(SELECT s.amount AS a, st.region_id AS rid, r.id AS rid2 FROM sales s, stores st, regions r
		 WHERE s.store_id = st.id AND st.region_id = r.id AND r.name = 'r3') t`))
}

// Clusters the dynamic program does not order (more than maxDPLeaves inputs, or inputs
// no condition connects) are ordered greedily and still answer right.
func TestJoinOrderLargeAndDisconnected(t *testing.T) {
	s := newSnowflake(t)
	// a chain of 14 copies of stores, each joined to the next by id
	var from, where []string
	for i := range 14 {
		from = append(from, fmt.Sprintf("stores t%d", i))
		if i > 0 {
			where = append(where, fmt.Sprintf("t%d.id = t%d.id", i-1, i))
		}
	}
	chain := fmt.Sprintf("SELECT count(*), sum(t13.region_id) FROM %s WHERE %s AND t0.region_id = 3",
		strings.Join(from, ", "), strings.Join(where, " AND "))
	var n, sum int64
	for _, r := range s.storeRegion {
		if r == 3 {
			n, sum = n+1, sum+r
		}
	}
	assert.Equal(t, []string{fmt.Sprintf("%d|%d", n, sum)}, runBoth(t, s.cat, chain))

	// regions are joined to nothing: a cross join with the stores-sales cluster
	cross := `SELECT count(*) FROM sales s, stores st, regions r WHERE s.store_id = st.id AND st.region_id = 3 AND r.name IN ('r1', 'r2')`
	var m int64
	for i := range s.store {
		if s.storeRegion[s.store[i]] == 3 {
			m++
		}
	}
	assert.Equal(t, []string{fmt.Sprint(2 * m)}, runBoth(t, s.cat, cross))
}

// A cluster of more inputs than joinGraph's bit sets hold keeps the order written.
func TestJoinOrderPast64Inputs(t *testing.T) {
	s := newSnowflake(t)
	var from, where []string
	for i := range 66 {
		from = append(from, fmt.Sprintf("regions t%d", i))
		if i > 0 {
			where = append(where, fmt.Sprintf("t%d.id = t%d.id", i-1, i))
		}
	}
	sql := fmt.Sprintf("SELECT count(*), min(t65.name) FROM %s WHERE %s AND t0.id = 4",
		strings.Join(from, ", "), strings.Join(where, " AND "))
	assert.Equal(t, []string{"1|r4"}, runSQL(t, s.cat, sql))
}
