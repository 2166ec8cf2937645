// Command quickstart runs strata's main job on embedded defaults: no Kafka, no database,
// no network. For now it is the first stage: a deterministic synthetic OLTP workload
// (customers, orders, payments) emitted as Debezium JSON, decoded, and assembled into
// whole transactions in commit order, with a one-line summary per second.
//
//	go run ./examples/quickstart                 # 10 s at 20k events/s
//	go run ./examples/quickstart -duration 5s -rate 0   # as fast as one core goes
package main
