// Package kafka is a cdc.Source over Debezium topics in Kafka: the data topics of the
// captured tables and, optionally, the connector's transaction-metadata topic. It reads
// them as a member of a consumer group (github.com/segmentio/kafka-go), decodes each
// record (by default with cdc.DebeziumDecoder), and commits the group's offsets only for
// what the pipeline has acked, so that a restart loses nothing and repeats nothing.
//
// # Reading
//
// Open joins the group; partitions resume at the group's committed offsets, or at
// Config.StartOffset when the group has none. Read returns one event at a time, in each
// partition's order (which is commit order; across partitions events interleave
// arbitrarily, as the assembler expects), and cdc.ErrIdle when nothing arrived within
// IdleWait. ReadBatch (cdc.BatchReader) returns the same events in runs: the first as
// Read does, then those that arrive within 200µs of it, up to cdc.DecodeAhead. A record the decoder rejects goes to Config.DeadLetters with its raw bytes
// and topic/partition/offset, is counted in Config.Metrics, and Read continues; without
// DeadLetters Read fails with the decode error instead, so nothing is dropped silently.
// Events without a source position get one from a cdc.PositionFiller.
//
// # Acks and offset commits
//
// Offsets are committed by Ack only, synchronously; Close commits nothing. The source
// remembers, per partition, every record fetched since the last commit. Ack(upTo) marks
// done:
//
//   - events with a position at or before upTo;
//   - records that yielded no event: dead letters, and events skipped because they are at
//     or before the Open position;
//   - BEGIN and END records (see below) whose transaction is complete and at or before upTo.
//
// and commits, for each partition, the offset right after the longest done prefix. Within
// a partition records are in commit order and upTo is the commit position of a whole
// transaction, so the acked records form a prefix: an offset is never committed past a
// record whose event the pipeline has not durably applied. Records after the first one
// not done stay pending (see Source.Pending) and are read again after a restart.
//
// # Restart
//
// Downstream commits (bronze, silver) and offset commits are not atomic: a crash between
// them leaves the offsets behind what was applied. Open(ctx, from), with from the last
// position applied downstream, skips every event at or before from, and counts those
// records as done, so that the next Ack commits them: Read returns no data event at or
// before from, nor the BEGIN or END of a transaction at or before from.
//
// # Transaction metadata
//
// Debezium's BEGIN and END records carry no source position: the decoder leaves it zero
// and the PositionFiller gives them positions that order them only within their own
// partition. They are therefore tied to their transaction (cdc.Event.TxKey, which pairs a
// PostgreSQL "txId:lsn" id with the txId of the data events), not to positions:
//
//   - a BEGIN or END is done once its END has been fetched, every data event its END
//     counts has been fetched, and the greatest position among them is at or before upTo;
//     as the metadata topic is in commit order, metadata before one that is done is done
//     too (a transaction with an undecodable event never completes here, and would
//     otherwise hold back the topic's offsets);
//   - after Open with a non-zero from, a BEGIN or END is returned only once a data event of
//     its transaction has shown whether the transaction lies after from, and skipped when
//     it does not; a transaction after one that lies after from lies after it too, and one
//     before a transaction at or before from is at or before it. Metadata held this way
//     waits at most max(10×IdleWait, 2s) while the source is idle, and is then returned
//     (an assembler gives up such a transaction to dead letters rather than lose it).
//
// The END's counts cover every table the connector captures: with TxTopic set, Topics
// must include the topic of each captured table, as the assembler requires too.
//
// # Rebalances
//
// When the group rebalances and this member keeps a partition, kafka-go restarts it at
// the committed offset; records this source already returned are recognised by offset
// and not returned again. A partition that moves to another member is read there from
// the committed offset, so records returned here but not yet acked are returned there as
// well: Kafka's at-least-once delivery, which downstream resolves by position (the
// assembler drops events at or before its last commit). Run one member per pipeline, or
// give each member its own topics, when this matters.
package kafka
