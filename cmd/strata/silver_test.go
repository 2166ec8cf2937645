package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"math/rand/v2"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// refTable is the reference applier's table: rows by key, each a map from column to
// its JSON value.
type refTable struct {
	cols    []string // the columns of the widest image seen: the latest schema's
	keyCols []string
	rows    map[string]map[string]json.RawMessage
}

// orderedKeys returns the keys of a JSON object in document order.
func orderedKeys(raw json.RawMessage) []string {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return keys
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return keys
		}
	}
	return keys
}

func isNull(v json.RawMessage) bool { return v == nil || string(v) == "null" }

// referenceCSV applies `strata bronze replay` output event by event to empty keyed
// tables, the plain way, and renders each table as `silver dump --format csv` must.
func referenceCSV(t *testing.T, replay string) map[string]string {
	t.Helper()
	tables := map[string]*refTable{}
	sc := bufio.NewScanner(strings.NewReader(replay))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var ev struct {
			Table  string
			Op     string
			Key    json.RawMessage
			Before json.RawMessage
			After  json.RawMessage
		}
		require.NoError(t, json.Unmarshal(sc.Bytes(), &ev))
		tb := tables[ev.Table]
		if tb == nil {
			tb = &refTable{rows: map[string]map[string]json.RawMessage{}}
			tables[ev.Table] = tb
		}
		obj := func(raw json.RawMessage) map[string]json.RawMessage {
			if isNull(raw) {
				return nil
			}
			var m map[string]json.RawMessage
			require.NoError(t, json.Unmarshal(raw, &m))
			return m
		}
		if len(tb.keyCols) == 0 && !isNull(ev.Key) {
			tb.keyCols = orderedKeys(ev.Key)
		}
		keyOf := func(img map[string]json.RawMessage) (string, bool) {
			var parts []string
			for _, k := range tb.keyCols {
				v, ok := img[k]
				if !ok {
					return "", false
				}
				parts = append(parts, string(v))
			}
			return strings.Join(parts, "\x00"), len(parts) > 0
		}
		key := obj(ev.Key)
		before, after := obj(ev.Before), obj(ev.After)
		switch ev.Op {
		case "truncate":
			clear(tb.rows)
		case "delete":
			k, ok := keyOf(key)
			if !ok {
				k, ok = keyOf(before)
			}
			require.True(t, ok, "a delete without a key: %s", sc.Text())
			delete(tb.rows, k)
		case "create", "read", "update":
			if cols := orderedKeys(ev.After); len(cols) > len(tb.cols) {
				tb.cols = cols
			}
			k, ok := keyOf(after)
			if !ok {
				k, ok = keyOf(key)
			}
			require.True(t, ok, "an upsert without a key: %s", sc.Text())
			if old, ok := keyOf(before); ok && old != k {
				delete(tb.rows, old)
			}
			row := map[string]json.RawMessage{}
			for c, v := range tb.rows[k] {
				row[c] = v
			}
			for c, v := range after {
				row[c] = v
			}
			tb.rows[k] = row
		}
	}
	require.NoError(t, sc.Err())

	out := map[string]string{}
	for name, tb := range tables {
		if len(tb.keyCols) == 0 || len(tb.cols) == 0 {
			continue
		}
		keys := make([]string, 0, len(tb.rows))
		for k := range tb.rows {
			keys = append(keys, k)
		}
		// Order by primary key: numbers by value, text bytewise.
		slices.SortFunc(keys, func(a, b string) int {
			ra, rb := tb.rows[a], tb.rows[b]
			for _, c := range tb.keyCols {
				va, vb := ra[c], rb[c]
				var na, nb big.Int
				_, oka := na.SetString(string(va), 10)
				_, okb := nb.SetString(string(vb), 10)
				if oka && okb {
					if x := na.Cmp(&nb); x != 0 {
						return x
					}
					continue
				}
				var sa, sb string
				json.Unmarshal(va, &sa)
				json.Unmarshal(vb, &sb)
				if x := strings.Compare(sa, sb); x != 0 {
					return x
				}
			}
			return 0
		})
		var b strings.Builder
		b.WriteString(strings.Join(tb.cols, ",") + "\n")
		for _, k := range keys {
			row := tb.rows[k]
			for i, c := range tb.cols {
				if i > 0 {
					b.WriteByte(',')
				}
				v := row[c]
				if isNull(v) {
					continue // NULL: an empty field
				}
				text := string(v)
				var s string
				if json.Unmarshal(v, &s) == nil {
					text = s // a JSON string: its text
				}
				if text == "" || strings.ContainsAny(text, ",\"\r\n") {
					text = `"` + strings.ReplaceAll(text, `"`, `""`) + `"`
				}
				b.WriteString(text)
			}
			b.WriteByte('\n')
		}
		out[name] = b.String()
	}
	return out
}

// requireDumpsMatchReplay checks the acceptance criterion on a lake: every
// silver table dumped as CSV equals bronze's replay applied to empty keyed tables.
func requireDumpsMatchReplay(t *testing.T, lake string) {
	t.Helper()
	st, replay, errOut := strata(t, "bronze", "replay", "--lake", lake)
	require.Equal(t, 0, st, errOut)
	want := referenceCSV(t, replay)
	require.Len(t, want, 3)
	for name, csv := range want {
		st, got, errOut := strata(t, "silver", "dump", "--lake", lake, "--table", name, "--format", "csv")
		require.Equal(t, 0, st, errOut)
		if got != csv {
			gl, wl := strings.Split(got, "\n"), strings.Split(csv, "\n")
			for i := range min(len(gl), len(wl)) {
				require.Equal(t, wl[i], gl[i], "%s: line %d", name, i+1)
			}
			require.Equal(t, len(wl), len(gl), "%s: lines", name)
		}
		t.Logf("%s: %d rows", name, strings.Count(got, "\n")-1)
	}
}

// The acceptance test: after `strata ingest --from gen://...` (which maintains
// silver), each `strata silver dump --format csv` equals the replay of bronze applied
// event by event to an empty keyed table.
func TestSilverDumpEqualsReplayedBronze(t *testing.T) {
	lake := t.TempDir()
	st, out, errOut := strata(t, "ingest", "--from", fmt.Sprintf("gen://?seed=3&events=%d", acceptanceEvents), "--lake", lake,
		"--commit-events", fmt.Sprint(acceptanceEvents/7), "--quiet")
	require.Equal(t, 0, st, errOut)
	require.Contains(t, out, "silver: 3 tables applied through")
	requireDumpsMatchReplay(t, lake)

	st, out, errOut = strata(t, "silver", "ls", "--lake", lake)
	require.Equal(t, 0, st, errOut)
	for _, n := range []string{"public.customers", "public.orders", "public.payments"} {
		assert.Contains(t, out, n)
	}
	assert.Contains(t, out, "v2 (", "orders gained a column half way")

	// JSON, time travel and errors.
	st, out, errOut = strata(t, "silver", "dump", "--lake", lake, "--table", "public.orders", "--format", "json", "--as-of", "1")
	require.Equal(t, 0, st, errOut)
	first := strings.SplitN(out, "\n", 2)[0]
	var row map[string]any
	require.NoError(t, json.Unmarshal([]byte(first), &row), first)
	assert.EqualValues(t, 1, row["id"])
	for _, c := range []struct{ args, want string }{
		{"silver dump --lake " + lake, "--table is required"},
		{"silver dump --lake " + lake + " --table public.nope", "no such table"},
		{"silver dump --lake " + lake + " --table public.orders --as-of 999", "no such snapshot"},
		{"silver dump --lake " + lake + " --table public.orders --format xml", `--format "xml"`},
		{"silver frob --lake " + lake, `unknown command "frob"`},
	} {
		st, _, errOut := strata(t, strings.Fields(c.args)...)
		assert.Equal(t, 1, st, c.args)
		assert.Contains(t, errOut, c.want, c.args)
	}

	// Compaction changes no row.
	st, out, errOut = strata(t, "silver", "compact", "--lake", lake)
	require.Equal(t, 0, st, errOut)
	require.Contains(t, out, "public.orders")
	requireDumpsMatchReplay(t, lake)
}

// `strata silver apply` killed with SIGKILL at random instants, again and again,
// leaves tables that a last run completes to exactly the replayed bronze.
func TestSilverApplySurvivesSIGKILL(t *testing.T) {
	for round := range silverCrashRounds {
		seed := int64(40 + round)
		lake := t.TempDir()
		st, _, errOut := strata(t, "ingest", "--from", fmt.Sprintf("gen://?seed=%d&events=%d", seed, silverCrashEvents), "--lake", lake,
			"--commit-events", "3000", "--quiet", "--silver=false")
		require.Equal(t, 0, st, errOut)
		r := rand.New(rand.NewPCG(uint64(seed), 2))
		kills := 0
		for attempt := 0; ; attempt++ {
			cmd, out := startStrata(t, "silver", "apply", "--lake", lake, "--batch-changes", fmt.Sprint(300+r.IntN(2000)))
			if attempt < 4 {
				done := make(chan error, 1)
				go func() { done <- cmd.Wait() }()
				select {
				case err := <-done:
					require.NoError(t, err, "round %d: %s", round, out)
				case <-time.After(time.Duration(30+r.IntN(700)) * time.Millisecond):
					require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
					<-done
					kills++
					continue
				}
			} else {
				require.NoError(t, cmd.Wait(), "round %d: %s", round, out)
			}
			require.Contains(t, out.String(), "applied")
			break
		}
		t.Logf("round %d: %d kills", round, kills)
		requireDumpsMatchReplay(t, lake)
	}
}
