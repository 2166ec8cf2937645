package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/bronze"
	"github.com/strata-data/strata/silver"
)

// The demo path: Debezium records on a Kafka-protocol broker → bronze → silver. A
// second run fills a fresh broker with the same records: the lake recognises them by
// their Debezium positions and commits nothing twice.
func TestDemoBrokerToSilver(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	c := config{lake: dir + "/lake", group: "g", demoEvents: 3000, idle: true}
	var out bytes.Buffer
	require.NoError(t, run(ctx, &out, c))
	require.Contains(t, out.String(), "bronze: 3000 events")
	require.Contains(t, out.String(), "public.orders")

	store, err := bronze.OpenDir(c.lake)
	require.NoError(t, err)
	names, err := silver.Tables(ctx, store)
	require.NoError(t, err)
	require.Equal(t, []string{"public.customers", "public.orders", "public.payments"}, names)
	var rows int64
	for _, n := range names {
		tb, err := silver.Open(ctx, store, n, silver.Config{})
		require.NoError(t, err)
		snap, ok := tb.Latest()
		require.True(t, ok)
		rows += snap.Rows
	}
	require.Positive(t, rows)

	out.Reset()
	require.NoError(t, run(ctx, &out, c))
	require.Contains(t, out.String(), "bronze: 0 events")
	require.Contains(t, out.String(), " 0 row changes")
}
