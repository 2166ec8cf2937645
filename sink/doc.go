// Package sink delivers change batches to where results are read: CSV for debugging,
// Parquet tables for gold marts, keyed silver tables, Kafka topics and PostgreSQL
// tables.
//
// # The contract
//
// A [Sink] receives [change.Batch]es with the source position each came from, in
// source order, through Write. Flush makes everything written so far durable and
// visible in the target. A caller flushes only on a position boundary: after the last
// batch of a position, never between two batches that share one, because a sink that
// records its position (see [Resumer]) treats a position as applied whole or not at all.
//
// Sinks differ in what they can promise:
//
//   - [Postgres] is exactly-once: each Flush applies the upserts and deletes and records
//     the position in a progress table in one transaction, and after a restart Write
//     skips batches at or before the recorded position.
//   - [Parquet] is exactly-once and two-phase ([TwoPhase]): PreCommit writes the table
//     under attempt-scoped names, Commit publishes it by one manifest entry that also
//     records the position.
//   - [Silver] is exactly-once by position: each position becomes one transaction of a
//     keyed silver table (silver.Table.Apply), whose snapshots record the position, and
//     positions the table holds are skipped. It maintains denormalised silver tables
//     (package silver/derive).
//   - [Kafka] is at-least-once; every message carries its position and sequence in
//     headers, so consumers (and compacted topics) are idempotent by (key, position).
//   - [CSV] writes what it is given, for people reading it.
//
// # Checkpoints
//
// A streaming checkpoint with id N, aligned on a transaction boundary, calls
// [PreCommitAt] on every sink when the barrier reaches it (PreCommit for a TwoPhase
// sink, Flush for the others), stores the source positions with its state, and calls
// [CommitAt] on every sink once every operator has acknowledged N. After a crash the
// coordinator reopens the sinks, restores checkpoint N and, before the first Write, calls
// [RecoverAt](N): a TwoPhase sink commits N if the crash came between the checkpoint's
// completion and its commit (it finds what PreCommit left in its target), and aborts any
// later checkpoint the crashed run pre-committed. Then the source resumes at N's
// position, and sinks that implement [Resumer] skip what they had already applied past it.
//
// A sink that is not TwoPhase makes a checkpoint's output visible at PreCommitAt, before
// the checkpoint completes. If the checkpoint then fails and the job restores an older
// one, the replayed stretch produces batches at positions the target already holds:
// a Resumer skips them (exactly once, given operators that emit the same changes for the
// same input), Kafka resends them with the same key, value, position and seq (its
// consumers deduplicate by key and position). The PostgreSQL sink does not use
// PREPARE TRANSACTION: a prepared transaction would hold the progress row's lock until
// its Commit and stall the next checkpoint's flush, and servers disable it by default
// (max_prepared_transactions = 0).
//
// # Keys
//
// The key of a row is its schema's primary key ([change.Schema.Key]). Keyed sinks
// (Parquet, Kafka, Postgres) require one. The encoding of a key, where a target needs
// bytes, is [AppendKeyJSON]: a JSON object of the key columns in key order.
package sink
