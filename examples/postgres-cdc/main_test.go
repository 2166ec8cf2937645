package main

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/internal/pgtest"
)

// The example captures a live database into a lake, and a second run adds only what
// changed since.
func TestPostgresCDC(t *testing.T) {
	c := pgtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.DSN(""))
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE TABLE orders (id int PRIMARY KEY, total numeric(10,2)); INSERT INTO orders SELECT g, g * 1.5 FROM generate_series(1, 100) g")
	require.NoError(t, err)
	cfg := config{dsn: c.DSN(""), lake: filepath.Join(t.TempDir(), "lake"), publication: "strata", slot: "strata", exitWhenIdle: true}
	var out bytes.Buffer
	require.NoError(t, run(ctx, &out, cfg))
	require.Contains(t, out.String(), "done: 100 changes")
	require.Contains(t, out.String(), "verified: 100 events")

	_, err = conn.Exec(ctx, "UPDATE orders SET total = 0 WHERE id <= 10")
	require.NoError(t, err)
	out.Reset()
	require.NoError(t, run(ctx, &out, cfg))
	require.Contains(t, out.String(), "done: 10 changes in 1 transactions")
	require.Contains(t, out.String(), "verified: 110 events")
}
