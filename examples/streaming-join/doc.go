// Command streaming-join keeps revenue per customer segment fresh over a change
// stream: the generator's shop workload (customers, orders, payments with inserts,
// updates and deletes in multi-table transactions) runs through a dataflow,
// orders ⟕ customers ⋈ payments → sum(payment amount), count(*) per segment, with
// state in memory (or Pebble with -state DIR) and checkpoints, and the result is
// printed as it changes. It stops by itself after -events events:
//
//	go run ./examples/streaming-join
package main
