package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const fixtures = "../../testdata/debezium"

// strata runs the command in process and returns its exit status, stdout and stderr.
func strata(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	status := run(args, &out, &errOut)
	return status, out.String(), errOut.String()
}

func fixtureFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(fixtures, "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "fixtures: testdata/debezium (copied from ../shared/fixtures/debezium)")
	sort.Strings(files)
	return files
}

// event is the part of a normalized event the assertions look at; numbers stay exact.
type event struct {
	Table  *string
	Op     string
	Key    map[string]json.RawMessage
	Before map[string]json.RawMessage
	After  map[string]json.RawMessage
	Tx     *struct {
		ID         string      `json:"id"`
		TotalOrder json.Number `json:"total_order"`
	}
	TsMs            json.Number `json:"ts_ms"`
	TsNs            json.Number `json:"ts_ns"`
	Source          map[string]json.RawMessage
	Message         *struct{ Prefix, Content string }
	EventCount      json.Number `json:"event_count"`
	DataCollections []struct {
		DataCollection string      `json:"data_collection"`
		EventCount     json.Number `json:"event_count"`
	} `json:"data_collections"`
}

func parseEvents(t *testing.T, stdout string) []event {
	t.Helper()
	var out []event
	for _, line := range strings.Split(strings.TrimSuffix(stdout, "\n"), "\n") {
		if line == "" {
			continue
		}
		require.True(t, json.Valid([]byte(line)), line)
		var ev event
		dec := json.NewDecoder(strings.NewReader(line))
		dec.UseNumber()
		require.NoError(t, dec.Decode(&ev), line)
		out = append(out, ev)
	}
	return out
}

// decodeOne decodes one fixture and returns its single event.
func decodeOne(t *testing.T, name string) event {
	t.Helper()
	status, stdout, stderr := strata(t, "decode", filepath.Join(fixtures, name))
	require.Equal(t, 0, status, stderr)
	require.Empty(t, stderr)
	evs := parseEvents(t, stdout)
	require.Len(t, evs, 1, stdout)
	return evs[0]
}

func raw(s string) json.RawMessage { return json.RawMessage(s) }

func TestDecodeAllFixtures(t *testing.T) {
	files := fixtureFiles(t)
	status, stdout, stderr := strata(t, append([]string{"decode"}, files...)...)
	require.Equal(t, 0, status, "keys are noted, not failures:\n%s", stderr)

	var keys int
	for _, f := range files {
		if strings.HasSuffix(f, "-key.json") {
			keys++
			assert.Contains(t, stderr, f+":1: note: skipped", "a key file is noted")
		}
	}
	require.Positive(t, keys)
	assert.Equal(t, keys, strings.Count(stderr, "\n"), "only the keys are noted:\n%s", stderr)
	assert.Len(t, parseEvents(t, stdout), len(files)-keys, "one event per value file")
}

func TestDecodeFixtureFacts(t *testing.T) {
	fixtureFiles(t)

	ev := decodeOne(t, "pg-create.json")
	assert.Equal(t, "public.customers", *ev.Table)
	assert.Equal(t, "create", ev.Op)
	assert.Nil(t, ev.Before)
	assert.Equal(t, map[string]json.RawMessage{"id": raw("1"), "first_name": raw(`"Anne"`), "last_name": raw(`"Kretchmar"`),
		"email": raw(`"annek@noanswer.org"`)}, ev.After)
	assert.Equal(t, "1559033904863841257", ev.TsNs.String(), "above 2^53, printed exactly")
	assert.Equal(t, "1559033904863", ev.TsMs.String())
	assert.Equal(t, raw(`"555"`), ev.Source["txId"])
	assert.Equal(t, raw("24023128"), ev.Source["lsn"])

	ev = decodeOne(t, "pg-update.json")
	assert.Equal(t, "update", ev.Op)
	assert.Equal(t, map[string]json.RawMessage{"id": raw("1")}, ev.Before, "a partial before-image keeps only what was sent")
	assert.Equal(t, raw(`"Anne Marie"`), ev.After["first_name"])
	assert.Equal(t, "1465584025523514964", ev.TsNs.String())

	ev = decodeOne(t, "pg-delete.json")
	assert.Equal(t, "delete", ev.Op)
	assert.Nil(t, ev.After)

	for _, f := range []string{"pg-truncate.json", "mysql-truncate.json"} {
		ev = decodeOne(t, f)
		assert.Equal(t, "truncate", ev.Op, f)
		assert.Nil(t, ev.Before, f)
		assert.Nil(t, ev.After, f)
	}
	assert.Equal(t, "inventory.customers", *ev.Table)

	for _, f := range []string{"pg-message-tx.json", "pg-message-nontx.json"} {
		ev = decodeOne(t, f)
		assert.Equal(t, "message", ev.Op, f)
		require.NotNil(t, ev.Message, f)
		assert.Equal(t, "foo", ev.Message.Prefix, f)
		assert.Equal(t, "Ymfy", ev.Message.Content, "%s: bytes 62 67 f2, not UTF-8, kept exactly", f)
	}

	ev = decodeOne(t, "pg-tx-begin.json")
	assert.Equal(t, "tx-begin", ev.Op)
	assert.Equal(t, "571:53195829", ev.Tx.ID)

	ev = decodeOne(t, "pg-tx-end.json")
	assert.Equal(t, "tx-end", ev.Op)
	assert.Equal(t, "571:53195832", ev.Tx.ID)
	assert.Equal(t, "2", ev.EventCount.String())
	require.Len(t, ev.DataCollections, 2)
	assert.Equal(t, "s1.a", ev.DataCollections[0].DataCollection)
	assert.Equal(t, "1", ev.DataCollections[0].EventCount.String())
	assert.Equal(t, "s2.a", ev.DataCollections[1].DataCollection)

	ev = decodeOne(t, "pg-tx-enriched-create.json")
	assert.Equal(t, "create", ev.Op)
	assert.Equal(t, "571:53195832", ev.Tx.ID)
	assert.Equal(t, "1", ev.Tx.TotalOrder.String(), "numeric strings are numbers")
	assert.Equal(t, "1580390884335451325", ev.TsNs.String())

	ev = decodeOne(t, "incremental-snapshot-read.json")
	assert.Equal(t, "read", ev.Op)
	assert.Equal(t, raw(`"incremental"`), ev.Source["snapshot"])
	assert.Equal(t, raw(`"New data"`), ev.After["value"])

	ev = decodeOne(t, "mysql-create.json")
	assert.Equal(t, "inventory.customers", *ev.Table)
	assert.Equal(t, raw("1004"), ev.After["id"])
	assert.Equal(t, raw(`"mysql-bin.000003"`), ev.Source["file"])
	assert.Equal(t, raw("154"), ev.Source["pos"])

	ev = decodeOne(t, "mysql-tutorial-update.json")
	assert.Equal(t, raw(`"Anne"`), ev.Before["first_name"])
	assert.Equal(t, raw(`"Anne Marie"`), ev.After["first_name"])
	assert.Equal(t, raw(`"dbserver1"`), ev.Source["name"], "duplicate keys: the last wins")

	ev = decodeOne(t, "mysql-tutorial-tombstone.json")
	assert.Equal(t, "tombstone", ev.Op)
	assert.Nil(t, ev.Before)
	assert.Nil(t, ev.After)

	ev = decodeOne(t, "mysql-snapshot-read.json")
	assert.Equal(t, "inventory.products_on_hand", *ev.Table)
	assert.Equal(t, map[string]json.RawMessage{"product_id": raw("101"), "quantity": raw("3")}, ev.After)
	assert.Equal(t, raw(`"true"`), ev.Source["snapshot"])

	ev = decodeOne(t, "sqlserver-delete-decimal.json")
	assert.Equal(t, "dbo.emp", *ev.Table)
	assert.Equal(t, "delete", ev.Op)
	assert.Equal(t, raw(`"200000.0000"`), ev.Before["sal"], "Decimal bytes as an exact decimal string")
	assert.Equal(t, raw(`"10.0000"`), ev.Before["comm"])
	assert.Equal(t, raw(`"2019-07-09T00:00:00Z"`), ev.Before["hiredate"], "io.debezium.time.Timestamp in RFC 3339")
	assert.Equal(t, raw("11"), ev.Before["empno"])
}

// compact returns a fixture as one line.
func compact(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures, name))
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, json.Compact(&buf, b))
	return buf.String()
}

func TestDecodeJSONLAndKafkaRecords(t *testing.T) {
	fixtureFiles(t)
	key := compact(t, "sqlserver-delete-decimal-key.json")
	value := compact(t, "sqlserver-delete-decimal.json")
	in := compact(t, "pg-create.json") + "\n" +
		`{"topic":"redislabs.dbo.emp","partition":0,"offset":9,"key":` + key + `,"value":` + value + "}\n" +
		compact(t, "pg-key.json") + "\n" +
		compact(t, "mysql-tutorial-tombstone.json") + "\n"
	// Named like stdin's stream, so that both runs give the tombstone the same table
	// (taken from the topic, which for bare values is the file's name).
	path := filepath.Join(t.TempDir(), "stdin.jsonl")
	require.NoError(t, os.WriteFile(path, []byte(in), 0o644))

	status, stdout, stderr := strata(t, "decode", path)
	require.Equal(t, 0, status, stderr)
	assert.Equal(t, path+":3: note: skipped", stderr[:len(path)+len(":3: note: skipped")])
	evs := parseEvents(t, stdout)
	require.Len(t, evs, 3)
	assert.Equal(t, "create", evs[0].Op)
	assert.Equal(t, "delete", evs[1].Op)
	assert.Equal(t, map[string]json.RawMessage{"empno": raw("11")}, evs[1].Key, "the record's key is decoded")
	assert.Equal(t, raw(`"200000.0000"`), evs[1].Before["sal"])
	assert.Equal(t, "tombstone", evs[2].Op)

	// The same lines from stdin.
	stdin = strings.NewReader(in)
	defer func() { stdin = os.Stdin }()
	status, stdout2, _ := strata(t, "decode", "-")
	assert.Equal(t, 0, status)
	assert.Equal(t, stdout, stdout2)
}

func TestDecodeBadInput(t *testing.T) {
	fixtureFiles(t)
	good := compact(t, "mysql-create.json")
	in := good + "\n" +
		`{"before":null,"after":{"id":` + "\n" + // not JSON
		`{"before":null,"after":{"id":1},"op":"x"}` + "\n" + // unknown op
		good + "\n"
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.jsonl")
	require.NoError(t, os.WriteFile(bad, []byte(in), 0o644))
	missing := filepath.Join(dir, "missing.json")

	status, stdout, stderr := strata(t, "decode", bad, missing, filepath.Join(fixtures, "pg-create.json"))
	assert.Equal(t, 1, status)
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	require.Len(t, lines, 3, stderr)
	assert.True(t, strings.HasPrefix(lines[0], bad+":2: "), lines[0])
	assert.Contains(t, lines[0], "malformed")
	assert.True(t, strings.HasPrefix(lines[1], bad+":3: "), lines[1])
	assert.Contains(t, lines[1], "unknown op")
	assert.Contains(t, lines[1], "field op")
	assert.Contains(t, lines[2], "missing.json")
	evs := parseEvents(t, stdout)
	require.Len(t, evs, 3, "the rest is still decoded and printed")
	assert.Equal(t, "public.customers", *evs[2].Table)
}

func TestVerbs(t *testing.T) {
	status, stdout, stderr := strata(t)
	assert.Equal(t, 1, status)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, "usage: strata <verb>")

	status, _, stderr = strata(t, "frobnicate")
	assert.Equal(t, 1, status)
	assert.Contains(t, stderr, `unknown verb "frobnicate"`)
	for _, v := range verbs {
		assert.Contains(t, stderr, "  "+v.name+" ", "unknown verbs list the verbs")
	}

	for _, args := range [][]string{{"--help"}, {"help"}} {
		status, stdout, stderr = strata(t, args...)
		assert.Equal(t, 0, status)
		assert.Empty(t, stderr)
		assert.Contains(t, stdout, "decode   Debezium JSON/JSONL")
	}

	for _, v := range verbs {
		for _, args := range [][]string{{v.name, "--help"}, {v.name, "-h"}, {"help", v.name}} {
			status, stdout, stderr = strata(t, args...)
			assert.Equal(t, 0, status, args)
			assert.Empty(t, stderr, args)
			assert.True(t, strings.HasPrefix(stdout, "usage: strata "+v.name+" "), "%v: %s", args, stdout)
		}
	}

	status, stdout, stderr = strata(t, "decode", "--no-such-flag")
	assert.Equal(t, 1, status)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, "flag provided but not defined: -no-such-flag")
	assert.Contains(t, stderr, "usage: strata decode")

	status, _, stderr = strata(t, "decode")
	assert.Equal(t, 1, status)
	assert.Contains(t, stderr, "no FILE given")
}
