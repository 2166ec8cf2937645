//go:build strata_poison

package plan

// poolPoison: freed pooled buffers are overwritten (see bufferPool).
const poolPoison = true

// poolMinShift: buffers of 2^poolMinShift bytes and more are pooled (64 bytes: with poison, every buffer but the smallest is pooled, so that tests over small tables exercise reuse).
const poolMinShift = 6
