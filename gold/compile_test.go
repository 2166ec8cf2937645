package gold

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestInjectCTEs(t *testing.T) {
	ctes := []cte{{"__dbt__cte__a", "select 1 as x;"}, {"__dbt__cte__b", "select x from __dbt__cte__a"}}
	require.Equal(t, "select 1;", injectCTEs("select 1;", nil)+";")
	require.Equal(t,
		"with __dbt__cte__a as (\nselect 1 as x\n),\n__dbt__cte__b as (\nselect x from __dbt__cte__a\n)\nselect * from __dbt__cte__b",
		injectCTEs("select * from __dbt__cte__b;\n", ctes))
	require.Equal(t,
		"with __dbt__cte__a as (\nselect 1 as x\n),\n-- note\n/* with */ \nc as (select * from __dbt__cte__a) select * from c",
		injectCTEs("-- note\n/* with */ \nWITH c as (select * from __dbt__cte__a) select * from c", ctes[:1]))
	require.Equal(t,
		"with __dbt__cte__a as (\nselect 1 as x\n)\nselect * from (\nwith recursive r as (select 1) select * from r\n) as __dbt_recursive",
		injectCTEs("with recursive r as (select 1) select * from r", ctes[:1]))
	// "without" is not WITH.
	require.Equal(t, "with __dbt__cte__a as (\nselect 1 as x\n)\nwithout_x", injectCTEs("without_x", ctes[:1]))
}

func TestGenericTestSQL(t *testing.T) {
	to := func(*Test) (string, error) { return "parents", nil }
	sql, err := genericTestSQL(&Test{Kind: TestUnique, Column: "id"}, "t", to)
	require.NoError(t, err)
	require.Equal(t, "select id as unique_field, count(*) as n_records\nfrom t\nwhere id is not null\ngroup by id\nhaving count(*) > 1", sql)

	sql, err = genericTestSQL(&Test{Kind: TestNotNull, Column: "Mixed Case", Where: "x > 0"}, "t", to)
	require.NoError(t, err)
	require.Equal(t, "select \"Mixed Case\"\nfrom (select * from t where x > 0) as dbt_subquery\nwhere \"Mixed Case\" is null", sql)

	sql, err = genericTestSQL(&Test{Kind: TestAcceptedValues, Column: "s", Args: map[string]any{"values": []any{"a", "it's"}}}, "t", to)
	require.NoError(t, err)
	require.Contains(t, sql, "where value_field not in ('a', 'it''s')")
	sql, err = genericTestSQL(&Test{Kind: TestAcceptedValues, Column: "n", Args: map[string]any{"values": []any{1, 2}, "quote": false}}, "t", to)
	require.NoError(t, err)
	require.Contains(t, sql, "not in (1, 2)")

	sql, err = genericTestSQL(&Test{Kind: TestRelationships, Column: "cid", Args: map[string]any{"field": "id"}}, "t", to)
	require.NoError(t, err)
	require.Contains(t, sql, "select id as to_field\n    from parents")

	_, err = genericTestSQL(&Test{Name: "x", Kind: "dbt_utils.at_least_one", Column: "c"}, "t", to)
	require.ErrorIs(t, err, ErrConfig)
	require.ErrorContains(t, err, `generic test "dbt_utils.at_least_one" is not supported`)
}
