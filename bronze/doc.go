// Package bronze is the append-only lake: the single source of truth that every later
// tier can be rebuilt from.
//
// The lake is written to a small [Store]
// interface (atomic put, get, list by prefix, delete, and a conditional put where the
// backend has one), a local-directory implementation that publishes by temp file, fsync,
// rename and directory fsync, an in-memory one, and a fault-injecting wrapper for tests.
// Names that come from data (tables, topics) go through [Escape] before they become
// part of a name, and every name is checked by [ValidName] before it touches a path.
//
// The [Manifest] is the append-only log of commits: each lists the data files it makes
// visible (row counts, sha256, min/max commit position) and the source position it
// reaches, and becomes visible through one atomic (conditional) put. Readers check every
// file against its checksum; files of a commit that was never published are orphans,
// invisible to readers and removed by [Manifest.CleanOrphans].
//
// Events are stored as Avro object container files ([EncodeEvents], [EventReader]), one
// per table and schema version. A [Writer] appends whole transactions and publishes
// them in group commits: files first, then one manifest entry; the source is acked with
// the commit's position only after that, and a restart resumes after it, so every event
// lands exactly once. [Ingest] is that loop: source, assembly, group commits by size
// or age, acks after each durable commit; a SIGKILL at any instant loses and doubles
// nothing.
//
// A [Reader] lists committed files by table, position range or date, verifies every
// checksum and event count ([Reader.Verify] also counts duplicate positions and events
// out of order), and replays the lake in global commit order: commit by commit, a k-way
// merge by position across the commit's files, decoded ahead in parallel
// ([Reader.Replay], [Reader.Transactions]). [Source] serves a lake as a cdc.TxSource, so
// any pipeline can re-run from bronze.
//
// The lake numbers each table's schema versions itself, 1, 2, 3, ... (a decoder's
// numbers restart with its process), and registers each in the manifest commit that
// publishes its first event, so a version is as durable as the data that uses it and
// survives restarts. [Schemas] is that registry, folded from the commits. The Writer
// gives an event whose schema is identical to its table's latest version that version,
// and a compatible evolution of it (change.CheckEvolution: nullable columns added or
// removed, types widened) the next; it refuses a transaction with any other schema
// whole, sending its events to dead letters with the table, position, column and rule.
// Every version can therefore be read through the latest (change.NewEvolution).
//
// [Compact] folds each keyed table's events, in commit order, into a snapshot: the
// latest row per primary key as of a commit, one zstd Parquet file written with
// arrow-go's pqarrow under snapshot/, listed by one manifest commit. It starts from the
// table's previous snapshot and reads only the files committed after it, so a
// snapshot plus the later files replays to the same state as every file from the start.
// A snapshot is written in the latest schema version in its range; rows, images and keys
// of older versions are read through change.Evolution. [ReadSnapshot] reads one back,
// checksum first. [Retain] then drops raw files older than a cutoff, but only those a
// snapshot of their table covers (and snapshots a newer one supersedes): one commit
// lists them in Removed before they are deleted, so a crash in between leaves orphans
// that [Manifest.CleanOrphans] removes, and [Manifest.Verify] checks live files and
// snapshots only.
package bronze
