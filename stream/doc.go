// Package stream holds incremental operators over change batches (+I, -D, -U, +U):
// stateless ones (Filter, Project, Map) and stateful ones whose state lives in a
// state.Backend (Aggregate), so that a checkpoint of the backend taken between two
// batches snapshots them.
//
// An Operator takes one batch at a time and emits the changes it causes. Aggregate
// emits retractions: when a group's result changes it emits -U with the old row and
// +U with the new one, +I for a new group and -D for a group that disappears, so a
// consumer applying the output by key holds the current result at every step.
//
// WindowAggregate aggregates per group and event-time window (Tumbling, Hopping,
// Session). Its watermark (bounded out-of-orderness) decides when a window is
// complete: it emits the window's rows then, updates them with -U/+U for late rows
// within AllowedLateness, and hands rows later than that to a side output. In a
// Dataflow the source computes the watermark (DataflowConfig.Watermark) and sends
// it to every partition like a barrier, so partitions without events do not hold
// windows open; operators implementing WatermarkHandler receive it.
//
// Join keeps each input's rows as keyed state and joins a change on either side
// against the other's current rows, retracting what the change invalidates; joins
// chain for n inputs.
//
// JoinAggregate plans a group-by over a chain of joins as dataflow stages. With
// eager aggregation it sums the aggregated input by its join key below the first
// join and re-aggregates the partial rows below each following one, so a change
// on a far input (a customer's segment) moves one partial row instead of every
// joined row; it applies to decomposable aggregates under the conditions its
// documentation lists, and falls back to joining first otherwise.
//
// A Dataflow runs a BatchSource (CDCSource over a cdc.Source, SilverSource over silver
// change feeds) through stages partitioned by key across goroutines into a sink.Sink,
// with aligned barriers per epoch, checkpoints of the state with the source position
// (two-phase sink commits), and Prometheus Metrics per stage. CDCSourceConfig.Schemas
// lets a running dataflow follow a column added mid-stream.
package stream
