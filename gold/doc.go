// Package gold runs dbt-style SQL projects on strata's own engine.
//
// A [Project] is loaded from a directory laid out as dbt lays one out: dbt_project.yml,
// models/**/*.sql, seeds/*.csv, tests/*.sql, macros/*.sql and schema.yml files that
// describe models, columns, sources and data tests. Model files are Jinja templates
// (rendered with gonja v2) calling ref(), source(), config(), var() and is_incremental().
//
// Loading renders every model once to learn its refs, sources and in-file config, which
// gives the [DAG]; [DAG.Select] picks models with dbt's selection syntax (name, +name,
// name+, +name+, tag:x, path:p, a,b for intersection). A second rendering, at build
// time, resolves each ref to the relation it names. [Catalog] documents the project as
// JSON, Mermaid and DOT.
package gold
