package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The quickstart runs to completion on a bounded workload and accounts for every event.
func TestQuickstartRuns(t *testing.T) {
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, run(ctx, &out, 1, 0, 5000))
	assert.Contains(t, out.String(), "5000 events")
	assert.Contains(t, out.String(), "dead letters 0")
	assert.Contains(t, out.String(), "public.orders")
}

// Cancellation (Ctrl-C, -duration) stops the run cleanly with a summary.
func TestQuickstartStopsOnCancel(t *testing.T) {
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	require.NoError(t, run(ctx, &out, 1, 5000, 0))
	assert.Contains(t, out.String(), "1s ")
	assert.Contains(t, out.String(), "done in")
}
