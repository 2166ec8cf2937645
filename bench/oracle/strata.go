package oracle

import (
	"context"
	"errors"
)

// ErrPlannerUnavailable says strata's SQL planner (package plan) is not on this
// branch yet, so there is no strata side to compare.
var ErrPlannerUnavailable = errors.New("oracle: strata planner not available")

// Strata answers q through strata's planner over the given Parquet tables. It is the
// one place to wire plan.Query once the planner lands; until then it returns
// ErrPlannerUnavailable.
func Strata(ctx context.Context, tables map[string]string, q string) (Result, error) {
	return Result{}, ErrPlannerUnavailable
}
