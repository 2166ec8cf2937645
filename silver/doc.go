// Package silver applies change transactions to keyed, versioned, columnar tables:
// the tier where change events become rows people query.
//
// A [Table] lives in a lake's bronze.Store under silver/{escaped table}/: a manifest of
// snapshots (manifest/{id}.json, each published by one atomic conditional put, as
// bronze commits are), zstd Parquet data files (data/) written with arrow-go's
// pqarrow, and Parquet delete files (deletes/). Every file's size and sha256 are
// recorded in the snapshot that adds it and checked on read. Each snapshot records
// its id, the commit position of the last transaction it applied, the files it adds
// and drops, its delete files, the row count and the schema version; every snapshot
// stays readable, so a scan can travel to any snapshot id ([ScanOptions.AsOf]) or
// commit position ([Table.SnapshotAt]).
//
// [Table.Apply] applies whole cdc.Tx values in commit order with MERGE semantics:
// upsert by primary key, delete by key (a before-image holding only the key, as
// REPLICA IDENTITY DEFAULT gives, is enough), a key change as delete + insert
// (Debezium's delete + create, or one update whose before image has another key),
// truncate, and columns absent from a partial after image keep their previous values.
// A batch of transactions is applied atomically (one snapshot, or nothing) and
// idempotently: a transaction at or before the table's recorded position is skipped,
// so re-applying after a crash applies each exactly once. Schema evolution follows
// change.CheckEvolution (nullable columns added, types widened): each data file keeps
// the version it was written in and is read through the latest with change.Evolution.
//
// Updates and deletes are merge-on-read with position deletes: an apply writes the new
// rows to new data files and lists the (file, row) of every row it superseded in one
// delete file. The writer keeps an in-memory index from key to (file, row), built
// from the key columns at its first write, so an apply never reads a data file (but
// for partial after images of rows stored earlier). A scan turns the live delete
// files into one bitmap per data file and skips dead rows without hashing a key, so
// reads at the latest snapshot stay close to reading one Parquet file.
// [Table.Compact] rewrites the live rows into fresh files and drops the delete files;
// [Table.CompactIfNeeded] and [Table.RunCompactor] do it when a [CompactPolicy] asks
// (too many files or dead rows). Data files are split by a [Partitioning]: a column's
// value or a hash bucket of the key (shuffle.HashKeys); scans with an equality
// condition on the partition column, or on the whole key, skip other partitions.
//
// [Table.Scan] returns +I change batches of a snapshot, projected and filtered
// ([ScanOptions]); [Table.Changes] returns the change feed between two snapshots: the
// net row-level changes (+I, -D, -U/+U) per key, intermediate versions collapsed.
//
// An [Applier] keeps every keyed table of a lake up to date with its bronze tier:
// it replays bronze (bronze.Source) from the least position its silver tables have
// applied through and applies each table's share of every transaction, in batches. A
// restart resumes from the silver manifests; a crash at any instant (even SIGKILL
// during an apply) leaves every table at its previous snapshot, and the restart
// converges. Tables are independent: a transaction touching two tables becomes
// visible in each at its own commit.
//
// A denormalised table, a silver table defined as a streaming query over others (each
// customer with its latest address and its order summary), is maintained from their
// change feeds by package silver/derive.
package silver
