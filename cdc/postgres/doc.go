// Package postgres is a cdc.Source reading PostgreSQL's logical replication stream
// directly (pgoutput protocol 1, or 2 to stream large transactions, through
// github.com/jackc/pglogrepl): change data
// capture with no Debezium and no Kafka.
//
// # Setup
//
// Open creates the publication (FOR TABLE Config.Tables, or FOR ALL TABLES) and a
// permanent replication slot with the pgoutput plugin when they are missing, and reuses
// them otherwise. The server needs wal_level=logical and free replication slots and WAL
// senders; the user needs the REPLICATION attribute. A published table with neither a
// primary key nor a usable replica identity (REPLICA IDENTITY DEFAULT or NOTHING) makes
// Open fail with ErrNoIdentity naming it, unless Config.AllowNoIdentity is set.
//
// # Snapshot, then stream
//
// When the slot is created, it exports a snapshot; every published table is read inside
// it (one REPEATABLE READ transaction) as OpRead events, in chunks of
// Config.SnapshotChunk rows, before the changes committed after the slot's consistent
// point are streamed. Nothing is missed or doubled between the two. A snapshot that
// never reached downstream whole is taken again; each table's rows then follow an
// OpTruncate of it (rows deleted since the first attempt must not stay downstream).
// Before the slot is dropped for such a snapshot, a marker slot (the slot's name +
// "__resnapshot", physical, reserving no WAL) is created; it goes once downstream acks
// the snapshot's end, and until then a restarted source takes the snapshot again.
// Before reading, the snapshot waits until the commit log records every transaction the
// snapshot counts as committed (a server without the fix, which 15.20 has, can export a snapshot
// whose visibility checks still see such a transaction as running).
//
// # Events and positions
//
// BEGIN/INSERT/UPDATE/DELETE/TRUNCATE/COMMIT become one cdc.Tx per transaction, in
// commit order: OpCreate, OpUpdate, OpDelete (a primary-key change is a delete and a
// create, as Debezium emits it, or one OpUpdate from the old key to the new when the new
// tuple lacks unchanged TOAST values, which only the old key's row holds) and OpTruncate
// (no schema). Positions are (Major: commit LSN, Minor: the change's LSN, Seq: its order in the transaction);
// snapshot rows have (consistent point, 0, row number), the last row Seq MaxUint64, which
// marks the snapshot complete. Transaction ids are "xid:commitLSN" and
// Source.TxID is the xid, as in Debezium's PostgreSQL events.
//
// Before-images follow the table's replica identity: with REPLICA IDENTITY DEFAULT an
// update carries no before-image unless its key changed, and a delete's before-image
// holds the key columns only, the other columns change.Absent(); with FULL both images
// are whole. An unchanged TOAST value that PostgreSQL does not resend is
// change.Absent() in the after-image (filled from a FULL before-image when there is
// one), never NULL: downstream keeps the stored value.
//
// # Types
//
// Values arrive in text form and become the Arrow types the Debezium decoder produces
// for the same columns: smallint/integer/bigint int16/32/64, real/double float32/64,
// boolean, text-like types string, bytea binary, numeric(p,s) with p ≤ 38 decimal128(p,s)
// (unconstrained numeric exact text, logical "decimal"), date date32, time time64[µs],
// timestamp timestamp[µs], timestamptz timestamp[µs, UTC], timetz text ("zoned-time"),
// json/jsonb text ("json"), uuid text ("uuid"), enums text ("enum"), arrays JSON text
// ("json", decoded through pgtype), domains as their base type. Any other type (interval,
// money, ranges, geometric, composite types) is kept as its text form and logged once
// per relation with a warning: never dropped. A value with no Arrow form (date or
// timestamp infinity, NaN in a numeric(p,s)) stops the source with ErrDecode naming the
// table, column and LSN.
//
// Every RELATION message (sent before a table's first change on each connection, and
// after DDL such as ALTER TABLE ... ADD COLUMN) is compared with the table's schema; a
// different one is a new SchemaVersion.
//
// # Acks, keepalives and reconnects
//
// The slot's confirmed flush LSN is advanced only by Ack: standby status updates report
// the end of the last transaction acked (when every delivered transaction is acked,
// the server's WAL end from a keepalive, so idle slots do not pin WAL). Keepalives that
// ask for a reply get one, and an update is sent at least every StatusInterval, also
// while the consumer is slow. A dropped connection (server restart, terminated
// walsender) is re-established for up to ReconnectTimeout; streaming resumes at the
// slot's confirmed LSN, and transactions already delivered are skipped by position, so
// nothing is lost or doubled. Open(from) skips the same way after a process restart.
//
// Decoded transactions wait for the consumer in a queue bounded by QueueTxs and
// QueueEvents; a transaction is held whole in memory until it is read (protocol 1 sends
// a transaction only once it committed; a very large one is buffered by the server,
// spilling to disk, then by the source).
//
// # Streaming large transactions
//
// With Config.Streaming (URL parameter streaming=on; PostgreSQL 14 or later) the source
// asks for pgoutput protocol 2 with streaming: once a transaction in progress holds
// more than the server's logical_decoding_work_mem of changes, the server sends them in
// segments (Stream Start ... Stream Stop) instead of spilling them to its own disk. The
// source keeps each such transaction's changes, undecoded, in memory up to
// Config.StreamMemory across all of them and in a spool file in Config.SpoolDir beyond
// it. A Stream Abort of the transaction drops them; of a subtransaction (ROLLBACK TO
// SAVEPOINT), drops that subtransaction's changes and those of its children. At Stream
// Commit the changes are decoded and emitted as one transaction, in commit order among
// the others, with the positions, ids and ack semantics protocol 1 gives it (it is
// then held whole in memory like any other). A dropped connection drops what was
// streamed: the server streams transactions still in progress again from their start. Metrics (NewMetrics) count transactions,
// events, snapshot rows, reconnects and text fallbacks, and show the confirmed LSN and
// the slot's lag.
//
// Like any logical replication client, a source holding transactions it was not acked
// for delays a clean server shutdown (pg_ctl stop -m fast waits until the walsender's
// client confirms the WAL sent); the pipeline acks after each durable commit, and
// Close ends the connection.
package postgres
