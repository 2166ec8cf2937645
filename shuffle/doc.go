// Package shuffle moves change batches between the map and reduce sides of a job:
// stable partitioners (a hash of key columns that is the same in every process, and
// ranges for sorts), the Shuffler interface, and spilling to local disk as compressed
// Arrow IPC when a memory budget (change.Budget) is exceeded. The planner (batch) and
// the streaming operators share it.
package shuffle
