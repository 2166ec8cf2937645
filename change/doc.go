// Package change holds the one data representation strata passes between stages: the
// columnar change batch, an Arrow record plus one [Op] per row (+I, -U, +U, -D).
//
// Batch work is the special case where every op is [Insert]. A [Schema] wraps an Arrow
// schema with the table's primary key; a [Builder] appends typed [Value] rows (or plain Go
// values, for tests) into a [Batch]. Whoever hands a batch over hands one reference; the
// receiver calls [Batch.Release].
package change
