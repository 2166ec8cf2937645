package gold

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Jinja idioms common in dbt projects render as Jinja renders them.
func TestRenderDbtIdioms(t *testing.T) {
	dir := writeProject(t, map[string]string{
		"dbt_project.yml": "name: p\nvars:\n  p:\n    statuses: {placed: 1, shipped: 2}\n",
		"models/m.sql": `{%- set cols = ['a', 'b'] -%}
{%- set statuses = var('statuses') -%}
select {{ cols | join(', ') }},
{%- for s, n in statuses.items() | sort %}
  {{ n }} as {{ s | upper ~ '_N' }}{% if not loop.last %},{% endif %}
{%- endfor %}
from {{ ref('seed_x') }} -- {{ this }} {{ target.name }}
{% if var('flag', false) == true %}where 1 = 1{% endif %}
`,
		"seeds/seed_x.csv": "a,b\n1,2\n",
	})
	p, err := LoadConfig{Vars: map[string]any{"flag": true}}.Load(dir)
	require.NoError(t, err)
	sql, err := p.Render(p.Models["m"], Resolver{This: "m"})
	require.NoError(t, err)
	require.Equal(t, "select a, b,\n  1 as PLACED_N,\n  2 as SHIPPED_N\nfrom seed_x -- m strata\nwhere 1 = 1\n", sql)
}
