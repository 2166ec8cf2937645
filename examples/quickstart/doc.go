// Command quickstart runs strata's main job on embedded defaults: no Kafka, no database,
// no network: a deterministic synthetic OLTP workload (customers, orders, payments)
// emitted as Debezium JSON, decoded, assembled into whole transactions in commit order
// and committed to a bronze lake (a line per second), then applied to silver tables,
// and a gold mart (revenue per customer segment per day) computed by SQL over them and,
// again, maintained by streaming joins and an aggregate over keyed state; the two must
// agree. A second run resumes every stage where the first stopped.
//
//	go run ./examples/quickstart                 # 10 s at 5k events/s
//	go run ./examples/quickstart -duration 5s -rate 0   # as fast as one core goes
package main
