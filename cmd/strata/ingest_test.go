package main

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/cdc"
)

func TestIngestGeneratorThenBronzeVerbs(t *testing.T) {
	lake := t.TempDir()
	st, out, errOut := strata(t, "ingest", "--from", "gen://?seed=7&events=3000&meta=1", "--lake", lake, "--commit-events", "800")
	require.Equal(t, 0, st, errOut)
	assert.Contains(t, out, "ingested 3000 events")

	st, out, errOut = strata(t, "bronze", "verify", "--lake", lake)
	require.Equal(t, 0, st, errOut)
	assert.Contains(t, out, "events 3000\ntables 3\n")
	assert.Contains(t, out, "duplicate positions 0\n")

	// Running again adds nothing: the lake already holds the whole stream.
	st, out, errOut = strata(t, "ingest", "--from", "gen://?seed=7&events=3000&meta=1", "--lake", lake)
	require.Equal(t, 0, st, errOut)
	assert.Contains(t, out, "ingested 0 events")

	st, out, _ = strata(t, "bronze", "ls", "--lake", lake)
	require.Equal(t, 0, st)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.GreaterOrEqual(t, len(lines), 4, out)
	assert.True(t, strings.HasPrefix(lines[0], "COMMIT"))
	assert.Contains(t, out, "schema public.customers v1")

	st, out, _ = strata(t, "bronze", "ls", "--lake", lake, "--files", "--table", "public.orders")
	require.Equal(t, 0, st)
	assert.NotContains(t, out, "public.customers")
	assert.Contains(t, out, "public.orders")

	st, out, errOut = strata(t, "bronze", "replay", "--lake", lake)
	require.Equal(t, 0, st, errOut)
	lines = strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 3000)
	var ev struct {
		Table    string `json:"table"`
		Op       string `json:"op"`
		Position string `json:"position"`
		Tx       struct {
			ID string `json:"id"`
		} `json:"tx"`
	}
	var prev cdc.Position
	for i, l := range lines {
		require.NoError(t, json.Unmarshal([]byte(l), &ev), "line %d", i)
		p, err := cdc.ParsePosition(ev.Position)
		require.NoError(t, err)
		require.True(t, prev.Less(p), "line %d: %s after %s", i, p, prev)
		prev = p
		require.NotEmpty(t, ev.Tx.ID, "meta=1: every event is in a transaction")
	}

	// Bounds by position.
	mid := lines[1500]
	require.NoError(t, json.Unmarshal([]byte(mid), &ev))
	st, out, _ = strata(t, "bronze", "replay", "--lake", lake, "--through", ev.Position, "--table", "public.payments")
	require.Equal(t, 0, st)
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		require.Contains(t, l, `"table":"public.payments"`)
	}

	// A damaged file: verify names it and fails.
	var victim string
	require.NoError(t, filepath.WalkDir(filepath.Join(lake, "bronze"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && victim == "" {
			victim = p
		}
		return err
	}))
	b, err := os.ReadFile(victim)
	require.NoError(t, err)
	b[len(b)-3] ^= 0x55
	require.NoError(t, os.WriteFile(victim, b, 0o644))
	st, _, errOut = strata(t, "bronze", "verify", "--lake", lake)
	assert.Equal(t, 1, st)
	assert.Contains(t, errOut, filepath.Base(victim))
	assert.Contains(t, errOut, "checksum")
}

func TestBronzeCompactRetainAndReplayFromSnapshots(t *testing.T) {
	lake := t.TempDir()
	st, _, errOut := strata(t, "ingest", "--from", "gen://?seed=4&events=2000", "--lake", lake, "--commit-events", "500")
	require.Equal(t, 0, st, errOut)
	st, full, _ := strata(t, "bronze", "replay", "--lake", lake)
	require.Equal(t, 0, st)

	st, out, errOut := strata(t, "bronze", "compact", "--lake", lake)
	require.Equal(t, 0, st, errOut)
	assert.Contains(t, out, "public.orders: snapshot of ")
	st, out, _ = strata(t, "bronze", "ls", "--lake", lake)
	require.Equal(t, 0, st)
	assert.Contains(t, out, "snapshot public.orders (")

	st, out, errOut = strata(t, "bronze", "retain", "--lake", lake, "--older-than", "1ns")
	require.Equal(t, 0, st, errOut)
	assert.Contains(t, out, "removed ")
	assert.NotContains(t, out, "removed 0 files")

	st, _, errOut = strata(t, "bronze", "replay", "--lake", lake)
	assert.Equal(t, 1, st)
	assert.Contains(t, errOut, "replay from snapshots")
	st, fromSnaps, errOut := strata(t, "bronze", "replay", "--lake", lake, "--from-snapshots")
	require.Equal(t, 0, st, errOut)
	assert.Contains(t, fromSnaps, `"op":"read"`)
	assert.Less(t, len(fromSnaps), len(full), "the latest row per key, not every change")
	st, out, errOut = strata(t, "bronze", "verify", "--lake", lake)
	require.Equal(t, 0, st, errOut)
	assert.Contains(t, out, "snapshots 3\n")

	st, _, errOut = strata(t, "bronze", "retain", "--lake", lake)
	assert.Equal(t, 1, st)
	assert.Contains(t, errOut, "--older-than is required")
}

func TestIngestFileSource(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "records.jsonl")
	g := cdc.NewGenerator(cdc.GeneratorConfig{Seed: 3, Events: 500})
	var buf []byte
	for {
		rec, err := g.NextRecord()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		buf = append(cdc.AppendRecordJSON(buf, &rec), '\n')
	}
	buf = append(buf, "{not json\n"...) // goes to dead letters, not into the lake
	require.NoError(t, os.WriteFile(path, buf, 0o644))
	lake := filepath.Join(dir, "lake")
	st, out, errOut := strata(t, "ingest", "--from", "file://"+path, "--lake", lake)
	require.Equal(t, 0, st, errOut)
	assert.Contains(t, out, "ingested 500 events")
	dls, err := cdc.ReadDeadLetters(filepath.Join(lake, "deadletters"))
	require.NoError(t, err)
	require.Len(t, dls, 1)
	st, out, _ = strata(t, "bronze", "verify", "--lake", lake)
	require.Equal(t, 0, st)
	assert.Contains(t, out, "events 500\n")
}

func TestIngestBadArguments(t *testing.T) {
	lake := t.TempDir()
	for _, c := range []struct{ args, want string }{
		{"ingest --lake " + lake, "--from and --lake are required"},
		{"ingest --from gen:// ", "--from and --lake are required"},
		{"ingest --from ftp://x --lake " + lake, `unknown source scheme "ftp"`},
		{"ingest --from gen://?sed=1 --lake " + lake, `unknown parameter "sed"`},
		{"ingest --from gen://?events=x --lake " + lake, "parameter events"},
		{"ingest --from gen:// --codec lz4 --lake " + lake, `--codec "lz4"`},
		{"bronze", "usage: strata bronze"},
		{"bronze fsck --lake " + lake, `unknown command "fsck"`},
		{"bronze verify", "--lake is required"},
		{"bronze ls --lake " + filepath.Join(lake, "missing"), "no such file"},
		{"bronze replay --lake " + lake + " --after zz", "position"},
	} {
		st, _, errOut := strata(t, strings.Fields(c.args)...)
		assert.Equal(t, 1, st, c.args)
		assert.Contains(t, errOut, c.want, c.args)
	}
}
