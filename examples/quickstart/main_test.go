package main

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The quickstart runs to completion on a bounded workload, writes every event to the
// lake once, and a second run resumes instead of writing them again.
func TestQuickstartRuns(t *testing.T) {
	lake := filepath.Join(t.TempDir(), "strata-data")
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, run(ctx, &out, config{lake: lake, seed: 1, events: 5000}))
	assert.Contains(t, out.String(), "5000 events")
	assert.Contains(t, out.String(), "verified: 5000 events in 3 tables")
	assert.Contains(t, out.String(), "0 duplicate positions")
	assert.Contains(t, out.String(), "public.orders")
	assert.Contains(t, out.String(), "silver: 5000 row changes applied")
	assert.Regexp(t, `SQL mart: [1-9]\d* rows`, out.String())
	assert.Regexp(t, `2026-01-01  consumer +\d+ +\d+\.\d\d`, out.String())
	assert.Regexp(t, `the SQL mart and the streaming mart agree: [1-9]\d* rows`, out.String())

	out.Reset()
	require.NoError(t, run(ctx, &out, config{lake: lake, seed: 1, events: 5000}))
	assert.Contains(t, out.String(), " 0 events (")
	assert.Contains(t, out.String(), "verified: 5000 events")
	assert.Contains(t, out.String(), "silver: 0 row changes applied")
	assert.Contains(t, out.String(), "the SQL mart and the streaming mart agree")
}

// Cancellation (Ctrl-C, -duration) stops the run cleanly, keeping what was read.
func TestQuickstartStopsOnCancel(t *testing.T) {
	lake := filepath.Join(t.TempDir(), "strata-data")
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	require.NoError(t, run(ctx, &out, config{lake: lake, seed: 1, rate: 5000}))
	assert.Contains(t, out.String(), "1s ")
	assert.Contains(t, out.String(), "done in")
	assert.Contains(t, out.String(), "verified:")
	assert.NotContains(t, out.String(), "verified: 0 events")
	assert.Contains(t, out.String(), "the SQL mart and the streaming mart agree")
}
