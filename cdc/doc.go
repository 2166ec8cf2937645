// Package cdc holds change events and the first stage of a pipeline: decoding Debezium
// records, ordering them by commit, assembling whole transactions, and the sources that
// produce them (file, generator, Kafka in cdc/kafka), with dead letters for what cannot
// be decoded or assembled.
//
// Order is commit order, not event LSN: [Position] orders events; the [Assembler] emits
// each transaction whole, in commit order, and a source is acked only with the commit
// position of a whole transaction, so an ack never splits one.
package cdc
