package cdc_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/cdc"
)

// assertSameDeadLetters compares dead letters, times by instant.
func assertSameDeadLetters(t *testing.T, want, got []cdc.DeadLetter) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range want {
		w, g := want[i], got[i]
		assert.True(t, w.Time.Equal(g.Time), "%d: time %v, got %v", i, w.Time, g.Time)
		assert.True(t, w.Record.Time.Equal(g.Record.Time), "%d: record time %v, got %v", i, w.Record.Time, g.Record.Time)
		w.Time, g.Time, w.Record.Time, g.Record.Time = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		assert.Equal(t, w, g, "%d", i)
	}
}

func TestFileDeadLettersRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "dlq", "nested")
	ctx := context.Background()
	at := time.Date(2024, 2, 29, 23, 59, 59, 123456789, time.FixedZone("X", -5*3600))
	want := []cdc.DeadLetter{
		{Record: cdc.Record{Topic: "pg.public.orders", Partition: 3, Offset: 1 << 40, Key: []byte(`{"id":1}`),
			Value: []byte{0x62, 0x67, 0xf2, 0x00, '\n', '"'}, Time: at,
			Headers: []cdc.Header{{"__debezium.newkey", []byte{0xff}}, {"nil", nil}, {"empty", []byte{}}}},
			Pos: cdc.Position{Major: 1, Minor: 2, Seq: 3}, Table: "public.orders", Reason: "cdc: decode: field payload.after.amount: \"x\" <&>", Time: at},
		{Record: cdc.Record{Topic: "t", Value: []byte{}}, Reason: "empty value", Time: at.Add(time.Second)}, // empty, not nil
		{Record: cdc.Record{Topic: "t", Offset: -1, Headers: []cdc.Header{}}, Reason: "nil value", Time: at},
	}

	d, err := cdc.NewFileDeadLetters(dir)
	require.NoError(t, err)
	for _, dl := range want {
		require.NoError(t, d.Put(ctx, dl))
	}
	got, err := cdc.ReadDeadLetters(dir)
	require.NoError(t, err)
	assertSameDeadLetters(t, want, got)
	assert.Nil(t, got[1].Record.Key)
	assert.NotNil(t, got[1].Record.Value)
	assert.Nil(t, got[2].Record.Value)
	assert.Nil(t, got[1].Record.Headers)
	assert.NotNil(t, got[2].Record.Headers)
	require.NoError(t, d.Close())
	require.NoError(t, d.Close(), "Close twice is fine")
	assert.ErrorIs(t, d.Put(ctx, want[0]), os.ErrClosed)

	// Reopening appends.
	d, err = cdc.NewFileDeadLetters(dir)
	require.NoError(t, err)
	require.NoError(t, d.Put(ctx, want[0]))
	require.NoError(t, d.Close())
	got, err = cdc.ReadDeadLetters(dir)
	require.NoError(t, err)
	assertSameDeadLetters(t, append(want, want[0]), got)

	// One JSON object per line, with the documented fields.
	b, err := os.ReadFile(filepath.Join(dir, cdc.DeadLetterFile))
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	require.Len(t, lines, 4)
	assert.Equal(t, `{"time":"2024-03-01T04:59:59.123456789Z","reason":"cdc: decode: field payload.after.amount: \"x\" <&>",`+
		`"table":"public.orders","position":"1/2/3","topic":"pg.public.orders","partition":3,"offset":1099511627776,`+
		`"timestamp":"2024-03-01T04:59:59.123456789Z","key_b64":"eyJpZCI6MX0=","value_b64":"YmfyAAoi",`+
		`"headers":[{"key":"__debezium.newkey","value_b64":"/w=="},{"key":"nil","value_b64":null},{"key":"empty","value_b64":""}]}`, lines[0])
}

func TestReadDeadLettersEmpty(t *testing.T) {
	got, err := cdc.ReadDeadLetters(filepath.Join(t.TempDir(), "none"))
	require.NoError(t, err)
	assert.Empty(t, got)
}

func TestFileDeadLettersConcurrentPuts(t *testing.T) {
	dir := t.TempDir()
	d, err := cdc.NewFileDeadLetters(dir)
	require.NoError(t, err)
	defer d.Close()
	const writers, each = 8, 25
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				value := []byte(strings.Repeat(fmt.Sprintf("w%d-%d;", w, i), 50)) // long enough to interleave if unguarded
				err := d.Put(context.Background(), cdc.DeadLetter{Record: cdc.Record{Topic: "t", Partition: int32(w), Offset: int64(i), Value: value}, Reason: "r"})
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	got, err := cdc.ReadDeadLetters(dir)
	require.NoError(t, err)
	require.Len(t, got, writers*each)
	seen := map[[2]int64]bool{}
	for _, dl := range got {
		r := dl.Record
		assert.Equal(t, strings.Repeat(fmt.Sprintf("w%d-%d;", r.Partition, r.Offset), 50), string(r.Value))
		seen[[2]int64{int64(r.Partition), r.Offset}] = true
	}
	assert.Len(t, seen, writers*each, "every put is there once")
}

func TestFileDeadLettersTornTail(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	d, err := cdc.NewFileDeadLetters(dir)
	require.NoError(t, err)
	first := cdc.DeadLetter{Record: cdc.Record{Topic: "t", Value: []byte("v1")}, Reason: "one", Time: time.Unix(1, 0)}
	require.NoError(t, d.Put(ctx, first))
	require.NoError(t, d.Close())

	// A crash in the middle of a Put leaves part of a line, never acknowledged.
	path := filepath.Join(dir, cdc.DeadLetterFile)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.WriteString(`{"time":"2024-01-01T00:00:00Z","reason":"tor`)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	got, err := cdc.ReadDeadLetters(dir)
	require.NoError(t, err, "the torn tail is ignored")
	assertSameDeadLetters(t, []cdc.DeadLetter{first}, got)

	// Reopening cuts it off, so the next Put starts a clean line.
	d, err = cdc.NewFileDeadLetters(dir)
	require.NoError(t, err)
	second := cdc.DeadLetter{Record: cdc.Record{Topic: "t", Value: []byte("v2")}, Reason: "two", Time: time.Unix(2, 0)}
	require.NoError(t, d.Put(ctx, second))
	require.NoError(t, d.Close())
	got, err = cdc.ReadDeadLetters(dir)
	require.NoError(t, err)
	assertSameDeadLetters(t, []cdc.DeadLetter{first, second}, got)

	// A damaged complete line is an error naming the line.
	require.NoError(t, os.WriteFile(path, []byte("{}\nnot json\n"), 0o644))
	_, err = cdc.ReadDeadLetters(dir)
	require.Error(t, err)
	assert.Contains(t, err.Error(), cdc.DeadLetterFile+":2:")
}

func TestRejectIntoFileDeadLetters(t *testing.T) {
	dir := t.TempDir()
	d, err := cdc.NewFileDeadLetters(dir)
	require.NoError(t, err)
	defer d.Close()
	rec := cdc.Record{Topic: "t", Offset: 9, Value: []byte{'{', 0xc3}}
	cause := fmt.Errorf("x.jsonl:10: %w", &cdc.DecodeError{Origin: rec.Origin(), Err: cdc.ErrMalformed})
	require.NoError(t, cdc.Reject(context.Background(), d, nil, cdc.DeadLetter{Record: rec}, cause))
	got, err := cdc.ReadDeadLetters(dir)
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, rec, got[0].Record)
	assert.Equal(t, cause.Error(), got[0].Reason)
	assert.False(t, got[0].Time.IsZero())
}

func TestNewFileDeadLettersFailsOnAFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(path, nil, 0o644))
	_, err := cdc.NewFileDeadLetters(path)
	require.Error(t, err)
	assert.ErrorIs(t, err, syscall.ENOTDIR)
}

func ExampleFileDeadLetters() {
	dir, _ := os.MkdirTemp("", "strata-dlq")
	defer os.RemoveAll(dir)

	dls, err := cdc.NewFileDeadLetters(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	rec := cdc.Record{Topic: "pg.public.orders", Offset: 41, Value: []byte{0x62, 0x67, 0xf2}}
	_ = cdc.Reject(context.Background(), dls, nil, cdc.DeadLetter{Record: rec}, errors.New("orders.jsonl:42: not JSON"))
	_ = dls.Close()

	back, _ := cdc.ReadDeadLetters(dir)
	for _, dl := range back {
		fmt.Printf("%s %q: % x\n", dl.Record.Origin(), dl.Reason, dl.Record.Value)
	}
	// Output:
	// pg.public.orders/0@41 "orders.jsonl:42: not JSON": 62 67 f2
}
