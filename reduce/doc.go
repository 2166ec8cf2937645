// Package reduce holds the execution kernels shared by batch plans and streaming
// operators: joins (hash, grace hash, sort-merge, chunked nested loops), hash
// aggregation that understands retractions, and external sort. Kernels work on typed
// Arrow columns within a memory budget (change.Budget) and spill through package
// shuffle when over it. Package reducetest tests reducers, including your own.
package reduce
