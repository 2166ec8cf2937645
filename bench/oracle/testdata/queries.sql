-- The oracle's suite: each query after a "-- name:" line, run through strata and
-- DuckDB over t, u (NULLs, duplicates) and e (empty). A query with a top-level ORDER BY
-- is compared in order, so its ORDER BY must be total; others as multisets.

-- name: select_star
select * from t

-- name: projection_expressions
select id, k + 1 as k1, k * 2 - id, -k, id % 7, id / 3, x * 2, d + d, d * 2, d - 1.5, n * n from t

-- name: integer_division
select id / 4, 7 / 2, -7 / 2, k / 3, n / 3 from t

-- name: decimal_arithmetic
select id, d * d, d * 3 + 0.25, d / 4, d - 0.01, d * n from t where d is not null

-- name: where_and_or
select id from t where (k > 3 and g = 'a') or (x < 0 and not b)

-- name: where_null_logic
select id, k, b from t where not (k > 5) or b is null

-- name: between_in_list
select id from t where k between 2 and 4 or n in (1, 2, 3, null) or g not in ('a', 'b')

-- name: is_null
select count(*) filter (where k is null), count(*) filter (where k is not null), count(*) filter (where g is null and x is null) from t

-- name: case_coalesce_nullif
select id,
    case when k is null then 'none' when k < 3 then 'low' when k < 7 then 'mid' else 'high' end,
    case g when 'a' then 1 when 'b' then 2 end,
    coalesce(k, n, -1),
    nullif(k, 5),
    coalesce(g, s, '?')
from t

-- name: casts
select id, cast(k as double precision), cast(d as bigint), n::bigint, cast(id as varchar), cast('12' as integer) + k, cast(dt as varchar) from t

-- name: like_ilike
select id, s from t where s like 'a%' or s like '%e' or s ilike 'b%' or s like '_ig%' or s like 'grape_fruit'

-- name: string_functions
select id, lower(s), upper(s), length(s), substr(s, 2, 3), concat(s, '-', g), s || '/' || g, trim(s), replace(s, 'a', 'A') from t

-- name: date_functions
select id, dt, extract(year from dt), extract(month from dt), extract(day from dt), date_trunc('month', dt), dt + 7, dt - date '1995-01-01' from t

-- name: date_interval
select id, dt + interval '1 month', dt - interval '10 days' from t where dt is not null

-- name: current_date
select count(*) from t where dt < current_date and current_date > date '2020-01-01'

-- name: distinct
select distinct k, g from t

-- name: distinct_nulls
select distinct g from t

-- name: count_star_and_column
select count(*), count(k), count(x), count(distinct k), count(distinct g) from t

-- name: aggregates_global
select sum(k), avg(k), min(k), max(k), sum(d), avg(d), min(d), max(d), sum(x), avg(x), min(s), max(s), min(dt), max(dt) from t

-- name: group_by
select g, count(*), sum(k), min(x), max(d), count(distinct k) from t group by g

-- name: group_by_two_keys
select g, k, count(*), sum(n) from t group by g, k

-- name: group_by_expression
select k % 3, count(*), sum(d) from t group by k % 3

-- name: group_by_ordinal
select g, b, count(*) from t group by 1, 2

-- name: having
select k, count(*), sum(d) from t group by k having count(*) > 15 and sum(d) is not null

-- name: aggregate_filter
select g,
    count(*) filter (where b),
    sum(k) filter (where x > 0),
    avg(d) filter (where k between 3 and 6),
    count(distinct k) filter (where n > 0)
from t group by g

-- name: aggregate_empty_input
select count(*), count(k), sum(amount), avg(amount), min(name), max(dt) from e

-- name: aggregate_filtered_to_empty
select count(*), sum(k), max(g) from t where k > 100

-- name: group_by_empty_input
select k, count(*) from e group by k

-- name: count_distinct_multiple
select count(distinct k), count(distinct g), count(distinct n), count(distinct dt) from t

-- name: inner_join
select t.id, u.id, t.k from t join u on t.k = u.k

-- name: inner_join_using
select id, k from t join u using (id, k)

-- name: left_join
select t.id, u.id, u.name from t left join u on t.k = u.k and u.amount > 100

-- name: right_join
select t.id, u.id from t right join u on t.k = u.k

-- name: full_join
select t.id, u.id, coalesce(t.k, u.k) from t full join u on t.k = u.k

-- name: full_join_using
select k, count(*) from t full outer join u using (k) group by k

-- name: cross_join
select t.id, u.id from t cross join u where t.id <= 5 and u.id <= 4

-- name: comma_join
select t.id, u.name from t, u where t.k = u.k and t.g = 'a'

-- name: non_equi_join
select t.id, u.id from t join u on t.k > u.k and t.id < u.id and u.id < 10

-- name: self_join
select a.id, b.id from t a join t b on a.k = b.k and a.id < b.id where a.g = b.g

-- name: three_way_join
select t.g, count(*), sum(u.amount) from t join u on t.k = u.k join t t2 on t2.id = u.id group by t.g

-- name: join_empty
select t.id, e.id from t left join e on t.k = e.k

-- name: join_empty_inner
select t.id from t join e on t.k = e.k

-- name: join_null_keys
select count(*) from t a join t b on a.k = b.k

-- name: order_by_asc_desc
select id, k, g from t order by k desc, g, id

-- name: order_by_nulls_first
select id, k from t order by k nulls first, id

-- name: order_by_nulls_last_desc
select id, x from t order by x desc nulls last, id

-- name: order_by_default_nulls
select id, g from t order by g, id desc

-- name: order_by_expression
select id, k, n from t order by coalesce(k, 0) * -1, n desc nulls last, id

-- name: limit_offset
select id, d from t order by d desc nulls last, id limit 10 offset 5

-- name: limit_zero
select id from t order by id limit 0

-- name: cte
with big as (select * from t where k >= 5), small as (select * from t where k < 5)
select (select count(*) from big), (select count(*) from small), (select sum(k) from big)

-- name: cte_chain
with a as (select k, count(*) as c from t group by k),
     b as (select k, c, c * 2 as c2 from a where k is not null),
     c as (select b.k, b.c2, u.name from b join u on b.k = u.k)
select k, c2, count(*) from c group by k, c2

-- name: subquery_in_from
select g, m from (select g, max(k) as m from t group by g) s where m > 5

-- name: in_subquery
select id from t where k in (select k from u where amount > 300)

-- name: not_in_subquery
select id from t where k not in (select k from u where k is not null)

-- name: not_in_subquery_with_null
select id from t where k not in (select k from u)

-- name: exists_correlated
select id from t where exists (select 1 from u where u.k = t.k and u.amount < 200)

-- name: not_exists_correlated
select id, k from t where not exists (select 1 from u where u.k = t.k)

-- name: scalar_subquery
select id, k, (select max(amount) from u) from t where k = (select min(k) from u)

-- name: scalar_subquery_correlated
select id, (select count(*) from u where u.k = t.k) from t

-- name: union
select k from t union select k from u

-- name: union_all
select k, 't' from t union all select k, 'u' from u

-- name: intersect
select k from t intersect select k from u

-- name: except
select k from t except select k from u

-- name: union_order_by
select id, k from t where id < 5 union all select id, k from u where id < 5 order by 1, 2 nulls first

-- name: window_row_number
select id, g, row_number() over (partition by g order by id) from t

-- name: window_rank
select id, k, rank() over (order by k), dense_rank() over (order by k) from t

-- name: window_rank_desc_partition
select id, g, k, rank() over (partition by g order by k desc nulls last) from t

-- name: window_lag_lead
select id, g, lag(k) over (partition by g order by id), lead(k, 2) over (partition by g order by id), lag(k, 1, -1) over (order by id) from t

-- name: window_first_value
select id, g, first_value(k) over (partition by g order by id) from t

-- name: window_running_sum
select id, g, sum(k) over (partition by g order by id), count(*) over (partition by g order by id) from t

-- name: window_whole_partition
select id, g, sum(d) over (partition by g), avg(k) over (partition by g), min(x) over (partition by g), max(dt) over (partition by g), count(k) over (partition by g) from t

-- name: window_frame_rows
select id, sum(k) over (order by id rows between 2 preceding and current row), avg(d) over (order by id rows between 1 preceding and 1 following) from t

-- name: window_frame_unbounded_following
select id, g, sum(n) over (partition by g order by id rows between current row and unbounded following) from t

-- name: window_over_empty
select id, row_number() over (order by id) from e

-- name: window_after_aggregate
select g, sum(k), rank() over (order by sum(k) desc nulls last) from t group by g

-- name: nested_aggregate_expression
select g, sum(k) * 2 + count(*), max(d) - min(d), avg(x) * count(x) from t group by g

-- name: boolean_columns
select b, count(*), count(*) filter (where k > 0), max(k) from t group by b

-- name: null_arithmetic
select id, k + null, null::integer * 2, coalesce(null, k), null = null, k = k from t where id <= 10

-- name: null_comparisons
select count(*) filter (where k = null), count(*) filter (where k <> 3), count(*) filter (where not (k = 3)) from t

-- name: empty_where
select * from t where false

-- name: empty_union
select k from e union all select k from e

-- name: string_aggregates
select g, min(s), max(s), count(distinct s) from t group by g

-- name: decimal_sum_exact
select sum(d), sum(d * 3), sum(amount), sum(d) - sum(d) from t, u where t.id = u.id
