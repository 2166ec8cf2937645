//go:build long

package stream_test

import "testing"

// TestDataflowCrashLong kills the workload process three times, each after a new
// checkpoint, over a longer stream.
func TestDataflowCrashLong(t *testing.T) {
	crashTest(t, 12000, 3)
}
