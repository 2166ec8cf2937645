package gold

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/plan"
)

// benchProject writes a project of 20 models over two sources, app.events and app.users:
// two staging views, then 12 aggregates of events by kind joined to users, 4 rollups of
// those, and 2 marts at the top, so independent models can run in parallel.
func benchProject(tb testing.TB) string {
	dir := tb.TempDir()
	files := map[string]string{
		"dbt_project.yml":               "name: bench\nmodels:\n  bench:\n    +materialized: table\n    staging:\n      +materialized: view\n",
		"models/sources.yml":            "sources:\n  - name: app\n    tables:\n      - name: events\n      - name: users\n",
		"models/staging/stg_events.sql": "select id, user_id, kind, amount from {{ source('app', 'events') }} where amount >= 0",
		"models/staging/stg_users.sql":  "select id as user_id, region from {{ source('app', 'users') }}",
	}
	for i := range 12 {
		files[fmt.Sprintf("models/agg_%d.sql", i)] = fmt.Sprintf(`with e as (
    select user_id, count(*) as n, sum(amount) as total
    from {{ ref('stg_events') }}
    where kind = %d
    group by user_id
)
select u.region, sum(e.n) as n, sum(e.total) as total,
    case when sum(e.total) > 1000 then 'big' else 'small' end as size
from e left join {{ ref('stg_users') }} u on u.user_id = e.user_id
group by u.region`, i)
	}
	for i := range 4 {
		files[fmt.Sprintf("models/rollup_%d.sql", i)] = fmt.Sprintf(`{%% for j in range(3) %%}
select region, n, total from {{ ref('agg_' ~ (%d * 3 + j)) }}
{%% if not loop.last %%}union all{%% endif %%}
{%% endfor %%}`, i)
	}
	files["models/mart_regions.sql"] = `select region, sum(n) as n, sum(total) as total from (
{% for i in range(4) %}select * from {{ ref('rollup_' ~ i) }}{% if not loop.last %} union all {% endif %}{% endfor %}
) r group by region`
	files["models/mart_top.sql"] = "select region, total from {{ ref('mart_regions') }} order by total desc limit 3"
	for rel, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		require.NoError(tb, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(tb, os.WriteFile(p, []byte(body), 0o644))
	}
	return dir
}

// benchSources returns app.events (rows rows) and app.users (rows/100 users), Parquet
// files as silver's are (a MemTable would compute its statistics row by row at every
// planning).
func benchSources(tb testing.TB, rows int) (*plan.MemCatalog, func()) {
	mem := memory.DefaultAllocator
	users := max(rows/100, 1)
	es := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "user_id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "kind", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "amount", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	}, nil)
	var evs []arrow.RecordBatch
	const batch = 1 << 16
	for start := 0; start < rows; start += batch {
		n := min(batch, rows-start)
		b := array.NewRecordBuilder(mem, es)
		for i := start; i < start+n; i++ {
			b.Field(0).(*array.Int64Builder).Append(int64(i))
			b.Field(1).(*array.Int64Builder).Append(int64(i*7919) % int64(users))
			b.Field(2).(*array.Int64Builder).Append(int64(i % 12))
			b.Field(3).(*array.Float64Builder).Append(float64(i%1000) / 10)
		}
		evs = append(evs, b.NewRecordBatch())
		b.Release()
	}
	us := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "region", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	ub := array.NewRecordBuilder(mem, us)
	for i := range users {
		ub.Field(0).(*array.Int64Builder).Append(int64(i))
		ub.Field(1).(*array.StringBuilder).Append("r" + strconv.Itoa(i%17))
	}
	ur := ub.NewRecordBatch()
	ub.Release()
	dir := tb.TempDir()
	write := func(name string, s *arrow.Schema, recs ...arrow.RecordBatch) plan.Table {
		out, err := createParquet(filepath.Join(dir, name+".parquet"), s, mem)
		require.NoError(tb, err)
		for _, r := range recs {
			require.NoError(tb, out.Write(r))
			r.Release()
		}
		require.NoError(tb, out.Commit())
		t, err := plan.OpenParquet(filepath.Join(dir, name+".parquet"))
		require.NoError(tb, err)
		return t
	}
	cat := plan.NewMemCatalog()
	cat.Add("app.events", write("events", es, evs...))
	cat.Add("app.users", write("users", us, ur))
	return cat, func() {}
}

func TestBenchProjectBuilds(t *testing.T) {
	dir := benchProject(t)
	cat, release := benchSources(t, 5000)
	defer release()
	p, err := Load(dir)
	require.NoError(t, err)
	run, err := p.Build(context.Background(), Options{Sources: cat})
	require.NoError(t, err)
	require.Len(t, run.Nodes, 20)
	for _, r := range run.Nodes {
		require.NoError(t, r.Err, r.Name)
	}
	require.Equal(t, int64(3), run.Stats["mart_top"].Rows)
}

// BenchmarkBuild builds the 20-model project. Per model it reports the overhead
// (render + compile + plan, from Result.Overhead) and the wall time per model, which at
// tiny sizes is the whole per-model cost: scheduling, Parquet output and running.
// GOLD_BENCH_ROWS sets the events rows (default 1000: overhead only).
func BenchmarkBuild(b *testing.B) {
	rows := 1000
	if s := os.Getenv("GOLD_BENCH_ROWS"); s != "" {
		var err error
		rows, err = strconv.Atoi(s)
		require.NoError(b, err)
	}
	dir := benchProject(b)
	cat, release := benchSources(b, rows)
	defer release()
	var overhead, wall time.Duration
	var models int
	b.ResetTimer()
	for range b.N {
		p, err := Load(dir)
		require.NoError(b, err)
		start := time.Now()
		run, err := p.Build(context.Background(), Options{Sources: cat})
		wall += time.Since(start)
		require.NoError(b, err)
		for _, r := range run.Nodes {
			require.NoError(b, r.Err, r.Name)
			overhead += r.Overhead
			models++
		}
	}
	b.ReportMetric(float64(overhead.Microseconds())/float64(models)/1000, "ms-overhead/model")
	b.ReportMetric(float64(wall.Microseconds())/float64(models)/1000, "ms-wall/model")
	b.ReportMetric(float64(rows), "source-rows")
}
