// Package shuffle moves change batches between the map and reduce sides of a job, in
// one process, within a memory budget.
//
//   - Partitioners: HashKeys is a stable hash of key columns (XXH3 over a documented
//     canonical encoding, pinned by tests), so map tasks in any process agree on where
//     a key goes; HashPartitioner maps it to partitions; RangePartitioner splits by
//     sampled sort-key ranges, so sorted partitions concatenate into a sorted whole.
//   - Spill files: CreateSpill writes change batches (ops as an extra uint8 column,
//     OpColumn) as an Arrow IPC stream in checksummed LZ4 or zstd blocks; SpillFile.Open
//     reads them back within a budget. They are the spill primitive of package reduce
//     too. Files are created under SpillPattern in the directory given and never
//     published, so a crash leaves only those files behind.
//   - Local, the in-process Shuffler: map tasks write concurrently; what does not fit
//     the budget (change.Budget) spills, largest partitions first; each reducer
//     streams its partition back in task order, memory and spill files merged.
//   - Metrics: strata_shuffle_bytes_total, strata_shuffle_spilled_bytes_total,
//     strata_shuffle_spill_files_total.
//
// Streams (partitions read back, spill files) hand each batch over: the caller
// releases it. A stream must be closed and need not be read to the end.
package shuffle
