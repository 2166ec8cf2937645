//go:build !strata_poison

package plan

// poolPoison: freed pooled buffers are overwritten (see bufferPool).
const poolPoison = false

// poolMinShift: buffers of 2^poolMinShift bytes and more are pooled (32 KiB: the Go runtime's large-object size).
const poolMinShift = 15
