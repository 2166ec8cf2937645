// Package strata composes change-data-capture pipelines in the medallion shape.
//
// Debezium-style change events (from Kafka, from PostgreSQL's own log, or from files)
// land in an append-only bronze lake, are applied in commit order to keyed columnar
// silver tables, and feed gold marts built by SQL, in batch or incrementally.
//
// Every stage is an interface with reference implementations, in its own package:
//
//   - [github.com/strata-data/strata/change]: the columnar change batch (Arrow record +
//     one op per row) that every stage passes.
//   - [github.com/strata-data/strata/cdc]: change events, positions, transactions, the
//     Debezium decoder, transaction assembly, sources (file, generator, Kafka) and dead
//     letters.
//
// Data flows one way: sources → cdc → bronze → silver → batch or streaming → sinks. See
// README.md for a tour and DESIGN.md for the shared picture.
package strata
