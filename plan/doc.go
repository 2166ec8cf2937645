// Package plan is strata's SQL engine and control plane: SQL (PostgreSQL's grammar,
// parsed by pg_query_go) is bound against a Catalog into a logical plan, optimized
// (constant folding, predicate pushdown into scans and through joins, Parquet
// row-group pruning, projection pruning, join reordering by estimated cardinality),
// and split into stages at shuffle boundaries. Each stage runs as tasks (one per input
// split or partition) on a worker pool within a memory budget, with retries, attempt-
// scoped outputs published by a commit marker, and a lineage record per attempt.
//
// The kernels are package reduce's (hash, merge and nested-loop joins, hash
// aggregation, external sort); scalar expressions are internal/expr's.
//
// The entry point is Query:
//
//	res, err := plan.Query(ctx, cat, "SELECT status, count(*) FROM orders GROUP BY 1")
//	if err != nil { ... }
//	defer res.Release()
//	for _, rec := range res.Batches { ... }
//
// A Catalog resolves table names: MemCatalog holds MemTable (in-memory batches),
// ParquetTable and CSVTable (files or directories; OpenPath picks by extension), or
// your own Table implementation. NewPlanner gives the Job behind a query, for EXPLAIN,
// lineage and resumable runs.
package plan
