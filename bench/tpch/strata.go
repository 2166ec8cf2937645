package main

import (
	"context"
	"fmt"
	"time"

	"github.com/strata-data/strata/bench/oracle"
	"github.com/strata-data/strata/bench/tpchgen"
	"github.com/strata-data/strata/plan"
)

// strataRunner runs queries through strata's planner over the generated Parquet files.
type strataRunner struct {
	cat *plan.MemCatalog
}

// newStrataRunner registers the eight tables' Parquet files in a catalog.
func newStrataRunner(dir string) (*strataRunner, error) {
	cat := plan.NewMemCatalog()
	for _, t := range tpchgen.Tables {
		pt, err := plan.OpenParquet(tpchgen.Path(dir, t))
		if err != nil {
			return nil, fmt.Errorf("strata: %s: %w", t, err)
		}
		cat.Add(t, pt)
	}
	return &strataRunner{cat: cat}, nil
}

// run answers q through plan.Query with the given parallelism and returns the answer
// and the time to the last result batch (not counting its conversion for checking).
func (r *strataRunner) run(ctx context.Context, q string, threads int) (oracle.Result, time.Duration, error) {
	start := time.Now()
	res, err := plan.Query(ctx, r.cat, q, plan.WithParallelism(threads))
	if err != nil {
		return oracle.Result{}, 0, err
	}
	d := time.Since(start)
	defer res.Release()
	out, err := oracle.FromArrow(res.Schema, res.Batches)
	return out, d, err
}
