// Package oracle compares query results from two engines: strata's planner and
// DuckDB, the reference. A Result is a table of normalized values read from
// database/sql rows (DuckDB) or Arrow records (strata); Compare matches two results
// as multisets, or in order when the query has a top-level ORDER BY. Exact numbers
// (integers and decimals) must be equal as rationals, whatever their width or scale;
// a float against any number matches within 1e-9 relative.
//
// The differential test in this package runs a suite of queries over small
// generated tables with NULLs and duplicates (see Data).
package oracle
