// Package gold runs dbt-style SQL projects on strata's own engine.
//
// A [Project] is loaded from a directory laid out as dbt lays one out: dbt_project.yml,
// models/**/*.sql, seeds/*.csv, tests/*.sql, macros/*.sql and schema.yml files that
// describe models, columns, sources and data tests. Model files are Jinja templates
// (rendered with gonja v2) calling ref(), source(), config(), var() and is_incremental().
//
// Loading renders every model once to learn its refs, sources and in-file config, which
// gives the [DAG]; [DAG.Select] picks models with dbt's selection syntax (name, +name,
// name+, +name+, tag:x, path:p, a,b for intersection). [Project.Build] renders each
// model again with its refs resolved and runs it on package plan, in DAG order and
// independent models in parallel:
//
//   - seeds are read by the planner's CSV reader (types inferred; column_types cast);
//   - views and ephemerals are not stored: they are inlined as CTEs (named
//     __dbt__cte__<model>, as dbt names ephemerals) into the queries that read them;
//   - tables are rebuilt in full, incremental models built once and then merged with
//     the rows their is_incremental() branch selects (append, merge on unique_key,
//     delete+insert); both are written atomically to TARGET/<relation>.parquet;
//   - refs to tables and seeds are written qualified by the project's name, so a CTE
//     named like the model it reads does not capture it.
//
// Then the data tests run: unique, not_null, accepted_values and relationships with
// dbt's argument names, and singular tests (tests/*.sql returning failing rows), each
// counting failing rows; severity warn reports without failing the [Run]. [Catalog]
// documents the project as JSON, Mermaid and DOT, with types and row counts once built.
// Options.Sources resolves source(); plan.OpenLakeCatalog serves a lake's silver tables.
package gold
