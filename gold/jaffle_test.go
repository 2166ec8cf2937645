package gold

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// A project written the way dbt's own tutorials shape one (source/renamed CTEs, integer
// cents, folder configs without '+', target-path, keys strata ignores) builds unedited.
func TestBuildTutorialShapedProject(t *testing.T) {
	dir := writeProject(t, map[string]string{
		"dbt_project.yml": `name: 'cafe'
version: '0.1'
config-version: 2
profile: 'cafe'
require-dbt-version: [">=1.0.0", "<2.0.0"]
model-paths: ["models"]
seed-paths: ["seeds"]
test-paths: ["tests"]
analysis-paths: ["analyses"]
target-path: "out"
clean-targets:
  - "out"
  - "dbt_packages"
models:
  cafe:
    materialized: table
    staging:
      materialized: view
      +docs:
        node_color: "silver"
seeds:
  cafe:
    +quote_columns: false
`,
		"seeds/raw_guests.csv":   "id,first_name,last_name\n1,Mia,K.\n2,Noah,B.\n3,Liv,S.\n",
		"seeds/raw_visits.csv":   "id,guest_id,visit_date,state\n1,1,2024-03-01,paid\n2,1,2024-03-04,paid\n3,2,2024-03-05,open\n4,3,2024-03-06,cancelled\n",
		"seeds/raw_payments.csv": "id,visit_id,method,amount\n1,1,card,1250\n2,2,cash,800\n3,2,card,199\n4,3,voucher,500\n",
		"models/staging/stg_guests.sql": `with source as (
    select * from {{ ref('raw_guests') }}
),
renamed as (
    select id as guest_id, first_name, last_name from source
)
select * from renamed
`,
		"models/staging/stg_visits.sql": `with source as (
    select * from {{ ref('raw_visits') }}
),
renamed as (
    select id as visit_id, guest_id, visit_date, state from source
)
select * from renamed
`,
		"models/staging/stg_payments.sql": `with source as (
    select * from {{ ref('raw_payments') }}
),
renamed as (
    select id as payment_id, visit_id, method,
        -- stored in cents
        amount / 100.0 as amount
    from source
)
select * from renamed
`,
		"models/staging/schema.yml": `version: 2
models:
  - name: stg_guests
    columns:
      - name: guest_id
        tests: [unique, not_null]
  - name: stg_visits
    columns:
      - name: visit_id
        tests: [unique, not_null]
      - name: state
        tests:
          - accepted_values:
              values: ['paid', 'open', 'cancelled']
  - name: stg_payments
    columns:
      - name: method
        tests:
          - accepted_values:
              values: ['card', 'cash', 'voucher']
`,
		"models/visits.sql": `{% set methods = ['card', 'cash', 'voucher'] %}
with visits as (
    select * from {{ ref('stg_visits') }}
),
payments as (
    select * from {{ ref('stg_payments') }}
),
visit_payments as (
    select
        visit_id,
        {% for method in methods -%}
        sum(case when method = '{{ method }}' then amount else 0 end) as {{ method }}_amount,
        {% endfor -%}
        sum(amount) as total_amount
    from payments
    group by visit_id
),
final as (
    select
        visits.visit_id,
        visits.guest_id,
        visits.visit_date,
        visits.state,
        {% for method in methods -%}
        visit_payments.{{ method }}_amount,
        {% endfor -%}
        visit_payments.total_amount as amount
    from visits
    left join visit_payments
        on visits.visit_id = visit_payments.visit_id
)
select * from final
`,
		"models/guests.sql": `with guests as (
    select * from {{ ref('stg_guests') }}
),
visits as (
    select * from {{ ref('visits') }}
),
guest_visits as (
    select guest_id, min(visit_date) as first_visit, count(visit_id) as number_of_visits,
        sum(amount) as lifetime_value
    from visits
    group by guest_id
),
final as (
    select guests.guest_id, guests.first_name, guest_visits.first_visit,
        coalesce(guest_visits.number_of_visits, 0) as number_of_visits,
        guest_visits.lifetime_value
    from guests
    left join guest_visits on guests.guest_id = guest_visits.guest_id
)
select * from final
`,
		"models/schema.yml": `version: 2
models:
  - name: guests
    description: One row per guest.
    columns:
      - name: guest_id
        description: Primary key.
        tests: [unique, not_null]
  - name: visits
    columns:
      - name: visit_id
        tests: [unique, not_null]
      - name: guest_id
        tests:
          - not_null
          - relationships:
              to: ref('guests')
              field: guest_id
`,
	})
	p, err := Load(dir)
	require.NoError(t, err)
	run, err := p.Build(context.Background(), Options{})
	require.NoError(t, err)
	for _, r := range append(run.Nodes, run.Tests...) {
		require.Contains(t, []Status{StatusOK, StatusPass}, r.Status, "%s: %v", r.Name, r.Err)
	}
	require.Len(t, run.Tests, 12)
	require.FileExists(t, filepath.Join(dir, "out", "guests.parquet")) // target-path
	got := queryFile(t, filepath.Join(dir, "out"), "select guest_id, number_of_visits, lifetime_value from guests order by guest_id")
	require.Equal(t, [][]string{{"1", "2", "22.49"}, {"2", "1", "5"}, {"3", "1", "NULL"}}, got)
}
