package main

import (
	"context"
	"errors"
	"time"

	"github.com/strata-data/strata/bench/oracle"
)

// errPlannerUnavailable says strata's SQL planner (package plan) is not on this branch
// yet; the run then reports DuckDB alone and no ratios.
var errPlannerUnavailable = errors.New("strata: planner not available")

// strataRunner runs queries through strata's planner over the generated Parquet files.
type strataRunner struct {
	dir string
}

func newStrataRunner(dir string) *strataRunner { return &strataRunner{dir: dir} }

// run answers q with the given worker count and returns the answer and the time it
// took. It is the one place to wire plan.Query (a Catalog of the eight Parquet files
// in r.dir) once the planner lands.
func (r *strataRunner) run(ctx context.Context, q string, threads int) (oracle.Result, time.Duration, error) {
	return oracle.Result{}, 0, errPlannerUnavailable
}
