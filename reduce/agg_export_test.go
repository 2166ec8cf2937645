package reduce

// SetSpillFanOut makes a's spills write n partitions, so that tests
// reach deeper spill levels with small inputs.
func SetSpillFanOut(a *HashAggregate, n int) { a.fanOut = n }
