package oracle

import (
	"context"
	"fmt"

	"github.com/strata-data/strata/plan"
)

// Strata answers q through strata's planner (plan.Query) over the given Parquet tables.
func Strata(ctx context.Context, tables map[string]string, q string) (Result, error) {
	cat := plan.NewMemCatalog()
	for name, p := range tables {
		t, err := plan.OpenParquet(p)
		if err != nil {
			return Result{}, fmt.Errorf("oracle: strata: %s: %w", name, err)
		}
		cat.Add(name, t)
	}
	res, err := plan.Query(ctx, cat, q)
	if err != nil {
		return Result{}, err
	}
	defer res.Release()
	return FromArrow(res.Schema, res.Batches)
}
