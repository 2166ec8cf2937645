package cdc

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/change"
)

// genRecords returns every raw record of a run, cloned out of the generator's buffers.
func genRecords(t testing.TB, cfg GeneratorConfig) []Record {
	t.Helper()
	g := NewGenerator(cfg)
	var out []Record
	for {
		rec, err := g.NextRecord()
		if err == io.EOF {
			return out
		}
		require.NoError(t, err)
		out = append(out, rec.Clone())
	}
}

// genEvents reads a whole run through the Source methods, opened at from.
func genEvents(t testing.TB, g *Generator, from Position) []Event {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, g.Open(ctx, from))
	var out []Event
	for {
		ev, err := g.Read(ctx)
		if err == io.EOF {
			return out
		}
		require.NoError(t, err)
		out = append(out, ev)
	}
}

func genIsDataTopic(rec *Record) bool { return !strings.HasSuffix(rec.Topic, ".transaction") }

func TestGeneratorDeterministic(t *testing.T) {
	cfg := GeneratorConfig{Seed: 7, Events: 3000, TxMetadata: true}
	a := genRecords(t, cfg)
	b := genRecords(t, cfg)
	require.Equal(t, len(a), len(b))
	for i := range a {
		require.Equal(t, a[i], b[i], "record %d differs between two runs with seed 7", i)
	}

	data := 0
	next := map[string]int64{}
	for i := range a {
		if genIsDataTopic(&a[i]) {
			data++
		}
		require.Equal(t, next[a[i].Topic], a[i].Offset, "offsets of %s are consecutive from 0", a[i].Topic)
		next[a[i].Topic]++
	}
	assert.Equal(t, 3000, data, "exactly Events data records")
	assert.Len(t, next, 4, "three tables and the transaction topic")

	cfg.Seed = 8
	c := genRecords(t, cfg)
	differ := 0
	for i := 0; i < len(a) && i < len(c); i++ {
		if !bytes.Equal(a[i].Value, c[i].Value) {
			differ++
		}
	}
	assert.Greater(t, differ, len(a)*9/10, "another seed gives another stream")
}

func TestGeneratorRecordsDecode(t *testing.T) {
	cfg := GeneratorConfig{Seed: 3, Events: 4000, TxMetadata: true, Server: "shop1", AddColumnAt: 1000}
	g := NewGenerator(cfg)
	dec := NewDebeziumDecoder(DebeziumConfig{})
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var last time.Time
	ops := map[string]int{}
	for {
		rec, err := g.NextRecord()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		ev, err := dec.Decode(&rec)
		require.NoError(t, err, "record %s: %s", rec.Origin(), rec.Value)
		if !genIsDataTopic(&rec) {
			require.Equal(t, "shop1.transaction", rec.Topic)
			require.Contains(t, []Op{OpTxBegin, OpTxEnd}, ev.Op)
			continue
		}
		ops[ev.Table+" "+ev.Op.String()]++
		require.Equal(t, "public."+strings.TrimPrefix(rec.Topic, "shop1.public."), ev.Table)
		require.Equal(t, SourceInfo{
			Version: genVersion, Connector: "postgresql", Name: "shop1", DB: "shop", Schema: "public",
			Table: strings.TrimPrefix(ev.Table, "public."), Snapshot: "false", TsMs: ev.Source.TsMs,
			TxID: ev.Source.TxID, LSN: ev.Source.LSN, Sequence: ev.Source.Sequence,
		}, ev.Source)
		require.NotEmpty(t, ev.Source.TxID)
		require.False(t, ev.CommitTime.Before(start), "commit time from the synthetic clock")
		require.False(t, ev.CommitTime.Before(last), "commit time never goes back")
		last = ev.CommitTime
		require.Len(t, ev.Key, 1)
		img := ev.After
		if ev.Op == OpDelete {
			img = ev.Before
		}
		require.Equal(t, ev.Key[0], img[0], "the key is the row's id")
		require.Equal(t, ev.Pos.Minor, ev.Source.LSN)
	}
	assert.Less(t, last.Sub(start), 24*time.Hour, "a few thousand transactions take seconds of synthetic time")
	// The mix covers every transaction kind.
	for _, k := range []string{"public.customers create", "public.customers update", "public.customers delete",
		"public.orders create", "public.orders update", "public.payments create", "public.payments delete"} {
		assert.Positive(t, ops[k], k)
	}
}

// genConnectNode is a Kafka Connect schema node, as the JSON converter writes it.
type genConnectNode struct {
	Type       string            `json:"type"`
	Optional   bool              `json:"optional"`
	Name       string            `json:"name"`
	Field      string            `json:"field"`
	Parameters map[string]string `json:"parameters"`
	Fields     []genConnectNode  `json:"fields"`
	Items      *genConnectNode   `json:"items"`
}

// genCheckConnect checks a JSON value against its Connect schema: every field the schema
// lists is present unless partial is set, every value fits its type, nothing extra.
func genCheckConnect(t *testing.T, where string, n genConnectNode, raw json.RawMessage, partial bool) {
	t.Helper()
	if string(raw) == "null" || raw == nil {
		require.True(t, n.Optional, "%s: null in a required %s", where, n.Type)
		return
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	switch n.Type {
	case "struct":
		var obj map[string]json.RawMessage
		require.NoError(t, dec.Decode(&obj), where)
		seen := 0
		for _, f := range n.Fields {
			v, ok := obj[f.Field]
			if !ok {
				require.True(t, partial || f.Optional, "%s.%s missing", where, f.Field)
				continue
			}
			seen++
			// orders has REPLICA IDENTITY DEFAULT: its before-image holds only the key.
			keyOnly := f.Field == "before" && strings.HasPrefix(where, "gen.public.orders/")
			genCheckConnect(t, where+"."+f.Field, f, v, keyOnly)
		}
		require.Equal(t, len(obj), seen, "%s has fields its schema does not list: %v", where, obj)
	case "array":
		var arr []json.RawMessage
		require.NoError(t, dec.Decode(&arr), where)
		for i, v := range arr {
			genCheckConnect(t, fmt.Sprintf("%s[%d]", where, i), *n.Items, v, false)
		}
	case "int32", "int64":
		var num json.Number
		require.NoError(t, dec.Decode(&num), where)
		i, err := strconv.ParseInt(num.String(), 10, 64)
		require.NoError(t, err, "%s is an integer", where)
		if n.Type == "int32" {
			require.True(t, i >= math.MinInt32 && i <= math.MaxInt32, where)
		}
	case "string", "bytes":
		var s string
		require.NoError(t, dec.Decode(&s), where)
		if n.Type == "bytes" {
			_, err := base64.StdEncoding.DecodeString(s)
			require.NoError(t, err, "%s is base64", where)
		}
		if n.Name == "io.debezium.data.Enum" {
			require.Contains(t, strings.Split(n.Parameters["allowed"], ","), s, where)
		}
	default:
		t.Fatalf("%s: unexpected Connect type %q", where, n.Type)
	}
}

func TestGeneratorConnectJSON(t *testing.T) {
	for _, rec := range genRecords(t, GeneratorConfig{Seed: 11, Events: 2000, TxMetadata: true}) {
		var env struct {
			Schema  genConnectNode  `json:"schema"`
			Payload json.RawMessage `json:"payload"`
		}
		require.NoError(t, json.Unmarshal(rec.Value, &env), "value of %s is JSON", rec.Origin())
		genCheckConnect(t, rec.Origin().String(), env.Schema, env.Payload, false)
		var key struct {
			Schema  genConnectNode  `json:"schema"`
			Payload json.RawMessage `json:"payload"`
		}
		require.NoError(t, json.Unmarshal(rec.Key, &key), "key of %s is JSON", rec.Origin())
		genCheckConnect(t, rec.Origin().String()+" key", key.Schema, key.Payload, false)
		if !genIsDataTopic(&rec) {
			continue
		}

		var names []string
		byName := map[string]genConnectNode{}
		for _, f := range env.Schema.Fields {
			names = append(names, f.Field)
			byName[f.Field] = f
		}
		require.Equal(t, []string{"before", "after", "source", "op", "ts_ms", "ts_us", "ts_ns", "transaction"}, names)
		var p struct {
			Before, After map[string]json.RawMessage
			Op            string
			Source        struct {
				TsUs     int64  `json:"ts_us"`
				Sequence string `json:"sequence"`
				LSN      int64  `json:"lsn"`
			}
		}
		require.NoError(t, json.Unmarshal(env.Payload, &p))
		var seq []string
		require.NoError(t, json.Unmarshal([]byte(p.Source.Sequence), &seq), "sequence is a JSON array in a string")
		require.Len(t, seq, 2)
		require.Equal(t, strconv.FormatInt(p.Source.LSN, 10), seq[1])

		table := rec.Topic[strings.LastIndexByte(rec.Topic, '.')+1:]
		if p.Before != nil {
			if table == "orders" {
				require.Equal(t, []string{"id"}, genMapKeys(p.Before), "orders: REPLICA IDENTITY DEFAULT before-image")
			} else {
				genCheckConnect(t, rec.Origin().String()+" before (full)", byName["before"], genMustJSON(t, p.Before), false)
			}
		}
		for _, f := range byName["after"].Fields {
			if strings.Contains(f.Name, "Decimal") {
				assert.Equal(t, map[string]string{"scale": "2", "connect.decimal.precision": "12"}, f.Parameters, f.Field)
			}
		}
		if table == "orders" && p.After != nil {
			assert.Equal(t, strconv.FormatInt(p.Source.TsUs, 10), string(p.After["updated_at"]), "updated_at is the commit time")
		}
	}
}

func genMapKeys(m map[string]json.RawMessage) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func genMustJSON(t *testing.T, v any) json.RawMessage {
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// TestGeneratorTxMetadata checks BEGIN/END framing and counts against the events between.
func TestGeneratorTxMetadata(t *testing.T) {
	const events = 3000
	evs := genEvents(t, NewGenerator(GeneratorConfig{Seed: 5, Events: events, TxMetadata: true}), Position{})
	var (
		open  bool
		begin Event
		inTx  []Event
		data  int
		txs   int
	)
	for _, ev := range evs {
		switch ev.Op {
		case OpTxBegin:
			require.False(t, open, "BEGIN %s inside a transaction", ev.Tx.ID)
			open, begin, inTx = true, ev, nil
		case OpTxEnd:
			require.True(t, open, "END %s without BEGIN", ev.Tx.ID)
			require.NotEmpty(t, inTx, "no empty transactions")
			require.Equal(t, int64(len(inTx)), ev.EventCount)
			counts := map[string]int64{}
			var order []string
			for i, e := range inTx {
				if counts[e.Table] == 0 {
					order = append(order, e.Table)
				}
				counts[e.Table]++
				require.Equal(t, ev.Tx.ID, e.Tx.ID, "events carry the transaction id")
				require.Equal(t, int64(i+1), e.Tx.TotalOrder)
				require.Equal(t, counts[e.Table], e.Tx.CollectionOrder)
				require.Equal(t, begin.TxKey(), e.TxKey(), "BEGIN and events pair by txId")
			}
			var want []CollectionCount
			for _, tb := range order {
				want = append(want, CollectionCount{tb, counts[tb]})
			}
			require.Equal(t, want, ev.Collections)
			require.Equal(t, begin.TxKey(), ev.TxKey())
			require.NotEqual(t, begin.Tx.ID, ev.Tx.ID, "PostgreSQL BEGIN and END ids carry different LSNs")
			open = false
			txs++
		default:
			require.True(t, open, "event %s %s outside BEGIN/END", ev.Table, ev.Pos)
			inTx = append(inTx, ev)
			data++
		}
	}
	require.False(t, open, "the stream ends after a whole transaction")
	assert.Equal(t, events, data)
	assert.Greater(t, txs, events/4)

	// Without TxMetadata there are no BEGIN/END events and no transaction blocks.
	for _, ev := range genEvents(t, NewGenerator(GeneratorConfig{Seed: 5, Events: 500}), Position{}) {
		require.True(t, ev.Op.IsRowChange(), "%s", ev.Op)
		require.Equal(t, TxInfo{}, ev.Tx)
	}
}

func TestGeneratorPositions(t *testing.T) {
	evs := genEvents(t, NewGenerator(GeneratorConfig{Seed: 9, Events: 4000, TxMetadata: true}), Position{})
	var prev Position
	var txMajor, lastCommit uint64
	for i, ev := range evs {
		require.True(t, prev.Less(ev.Pos), "event %d: %s after %s", i, ev.Pos, prev)
		prev = ev.Pos
		switch ev.Op {
		case OpTxBegin:
			txMajor = ev.Pos.Major
			if lastCommit != 0 {
				require.Equal(t, lastCommit, txMajor, "sequence[0] is the previous transaction's commit LSN")
			}
		case OpTxEnd:
			require.Equal(t, txMajor, ev.Pos.Major)
			lastCommit = ev.Pos.Minor
			require.True(t, strings.HasSuffix(ev.Tx.ID, ":"+strconv.FormatUint(lastCommit, 10)), "END id is txId:commitLSN")
		default:
			require.Equal(t, txMajor, ev.Pos.Major, "every event of a transaction has the same Major")
		}
	}

	// The raw decoder alone (no transaction metadata) sees the same order.
	g := NewGenerator(GeneratorConfig{Seed: 9, Events: 4000})
	dec := NewDebeziumDecoder(DebeziumConfig{})
	prev = Position{}
	var txID string
	for {
		rec, err := g.NextRecord()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		ev, err := dec.Decode(&rec)
		require.NoError(t, err)
		require.True(t, prev.Less(ev.Pos), "%s after %s", ev.Pos, prev)
		require.Equal(t, ev.Source.TxID != txID, ev.Pos.Major != prev.Major, "Major changes exactly when the transaction does")
		prev, txID = ev.Pos, ev.Source.TxID
	}
}

func TestGeneratorAddColumn(t *testing.T) {
	run := func(cfg GeneratorConfig) (firstV2, lastV1TxStart, firstV2TxStart int, schemas map[int]*change.Schema) {
		g := NewGenerator(cfg)
		dec := NewDebeziumDecoder(DebeziumConfig{})
		firstV2, lastV1TxStart, firstV2TxStart = -1, -1, -1
		schemas = map[int]*change.Schema{}
		idx, txStart := 0, 0
		var txID string
		for {
			rec, err := g.NextRecord()
			if err == io.EOF {
				return
			}
			require.NoError(t, err)
			ev, err := dec.Decode(&rec)
			require.NoError(t, err)
			if ev.Source.TxID != txID {
				txID, txStart = ev.Source.TxID, idx
			}
			if ev.Table == "public.orders" {
				schemas[ev.SchemaVersion] = ev.Schema
				switch ev.SchemaVersion {
				case 1:
					require.Equal(t, -1, firstV2, "orders went back to version 1 at event %d", idx)
					lastV1TxStart = txStart
				case 2:
					if firstV2 < 0 {
						firstV2, firstV2TxStart = idx, txStart
					}
				default:
					t.Fatalf("orders schema version %d at event %d", ev.SchemaVersion, idx)
				}
			}
			idx++
		}
	}

	firstV2, lastV1, firstV2Tx, schemas := run(GeneratorConfig{Seed: 2, Events: 3000, AddColumnAt: 1000})
	require.Len(t, schemas, 2, "orders has exactly two schema versions")
	assert.Less(t, lastV1, 1000, "version 1 only in transactions that start before AddColumnAt")
	assert.GreaterOrEqual(t, firstV2Tx, 1000)
	assert.GreaterOrEqual(t, firstV2, 1000)
	assert.Less(t, firstV2, 1100, "the column shows up with the next orders event")
	assert.Equal(t, -1, schemas[1].FieldIndex("discount"))
	i := schemas[2].FieldIndex("discount")
	require.Equal(t, schemas[2].NumFields()-1, i, "discount is appended")
	f := schemas[2].Field(i)
	assert.True(t, f.Nullable)
	require.Equal(t, arrow.DECIMAL128, f.Type.ID())
	assert.Equal(t, int32(2), f.Type.(*arrow.Decimal128Type).Scale)
	assert.Equal(t, int32(12), f.Type.(*arrow.Decimal128Type).Precision)

	// Default: half way through a finite run.
	_, lastV1, firstV2Tx, schemas = run(GeneratorConfig{Seed: 2, Events: 2000})
	require.Len(t, schemas, 2)
	assert.Less(t, lastV1, 1000)
	assert.GreaterOrEqual(t, firstV2Tx, 1000)

	// -1: never.
	_, _, _, schemas = run(GeneratorConfig{Seed: 2, Events: 2000, AddColumnAt: -1})
	require.Len(t, schemas, 1)
	assert.Equal(t, -1, schemas[1].FieldIndex("discount"))
}

// TestGeneratorReferentialIntegrity replays the decoded stream into an in-memory
// database and checks it is one a real PostgreSQL with foreign keys could have produced.
func TestGeneratorReferentialIntegrity(t *testing.T) {
	type order struct {
		customer, amount, discount int64
		status                     string
		payments                   map[int64]int64 // payment id -> amount
	}
	customers := map[int64]change.Row{}
	ordersOf := map[int64]int{} // customer -> orders referring to it
	orders := map[int64]*order{}
	payments := map[int64]change.Row{}
	paymentOrder := map[int64]int64{}
	dec := func(v change.Value) int64 { return int64(v.AsDecimal().LowBits()) }

	evs := genEvents(t, NewGenerator(GeneratorConfig{Seed: 4, Events: 8000, Customers: 60, AddColumnAt: 4000}), Position{})
	require.Len(t, evs, 8000)
	for i, ev := range evs {
		where := fmt.Sprintf("event %d (%s %s %v)", i, ev.Table, ev.Op, ev.Key)
		id := ev.Key[0].AsInt()
		col := func(name string) change.Value { return ev.After[ev.Schema.FieldIndex(name)] }
		switch ev.Table {
		case "public.customers":
			old, exists := customers[id]
			switch ev.Op {
			case OpCreate:
				require.False(t, exists, "%s: insert of an existing key", where)
				customers[id] = ev.After
			case OpUpdate:
				require.True(t, exists, "%s: update of a missing key", where)
				require.Equal(t, old, ev.Before, "%s: REPLICA IDENTITY FULL before-image is the stored row", where)
				customers[id] = ev.After
			case OpDelete:
				require.True(t, exists, "%s: delete of a missing key", where)
				require.Equal(t, old, ev.Before, where)
				require.Zero(t, ordersOf[id], "%s: customer deleted while orders refer to it", where)
				delete(customers, id)
			default:
				t.Fatalf("%s: unexpected op", where)
			}
		case "public.orders":
			o, exists := orders[id]
			switch ev.Op {
			case OpCreate:
				require.False(t, exists, "%s: insert of an existing key", where)
				cust := col("customer_id").AsInt()
				require.Contains(t, customers, cust, "%s: order for a missing customer", where)
				o = &order{customer: cust, payments: map[int64]int64{}}
				orders[id] = o
				ordersOf[cust]++
			case OpUpdate:
				require.True(t, exists, "%s: update of a missing key", where)
				require.Equal(t, ev.Key[0], ev.Before[0])
				for j := 1; j < len(ev.Before); j++ {
					require.True(t, ev.Before[j].IsAbsent(), "%s: REPLICA IDENTITY DEFAULT before-image has only the key", where)
				}
				require.Equal(t, o.customer, col("customer_id").AsInt(), where)
			default:
				t.Fatalf("%s: unexpected op", where)
			}
			o.status = col("status").AsString()
			o.amount = dec(col("amount"))
			o.discount = 0
			if j := ev.Schema.FieldIndex("discount"); j >= 0 && !ev.After[j].IsNull() {
				o.discount = dec(ev.After[j])
			}
		case "public.payments":
			old, exists := payments[id]
			switch ev.Op {
			case OpCreate:
				require.False(t, exists, "%s: insert of an existing key", where)
				oid := col("order_id").AsInt()
				o, ok := orders[oid]
				require.True(t, ok, "%s: payment for a missing order", where)
				o.payments[id] = dec(col("amount"))
				payments[id], paymentOrder[id] = ev.After, oid
			case OpDelete:
				require.True(t, exists, "%s: delete of a missing key", where)
				require.Equal(t, old, ev.Before, where)
				delete(orders[paymentOrder[id]].payments, id)
				delete(payments, id)
			default:
				t.Fatalf("%s: unexpected op", where)
			}
		default:
			t.Fatalf("%s: unexpected table", where)
		}
	}

	// Every order's payments match its status; every payment's order exists.
	statuses := map[string]int{}
	for id, o := range orders {
		statuses[o.status]++
		var sum int64
		for _, a := range o.payments {
			sum += a
		}
		switch o.status {
		case "paid", "shipped":
			assert.Equal(t, o.amount-o.discount, sum, "order %d (%s) is paid in full", id, o.status)
		case "pending", "cancelled":
			assert.Empty(t, o.payments, "order %d (%s) has no payments", id, o.status)
		default:
			t.Errorf("order %d has status %q", id, o.status)
		}
	}
	for pid, oid := range paymentOrder {
		if _, live := payments[pid]; live {
			assert.Contains(t, orders, oid, "payment %d refers to order %d", pid, oid)
		}
	}
	for _, s := range []string{"pending", "paid", "shipped", "cancelled"} {
		assert.Positive(t, statuses[s], "some orders end %s", s)
	}
}

// genSameEvent compares two events field by field; schemas compare by content, since two
// decoders build distinct but equal schema values.
func genSameEvent(t *testing.T, want, got Event, where string) {
	t.Helper()
	require.True(t, want.Schema.Equal(got.Schema), "%s: schema", where)
	require.True(t, want.KeySchema.Equal(got.KeySchema), "%s: key schema", where)
	want.Schema, want.KeySchema, got.Schema, got.KeySchema = nil, nil, nil, nil
	require.Equal(t, want, got, where)
}

func TestGeneratorOpenResumes(t *testing.T) {
	cfg := GeneratorConfig{Seed: 12, Events: 3000, TxMetadata: true}
	all := genEvents(t, NewGenerator(cfg), Position{})

	var cuts []int
	for i := len(all) / 2; i < len(all); i++ { // a commit position half way
		if all[i].Op == OpTxEnd {
			cuts = append(cuts, i)
			break
		}
	}
	for i := 10; i < len(all); i++ { // inside a transaction
		if all[i].Op.IsRowChange() && all[i+1].Op.IsRowChange() {
			cuts = append(cuts, i)
			break
		}
	}
	cuts = append(cuts, 0, len(all)-1)
	require.Len(t, cuts, 4)

	for _, cut := range cuts {
		g := NewGenerator(cfg)
		rest := genEvents(t, g, all[cut].Pos)
		require.Len(t, rest, len(all)-cut-1, "resuming after event %d (%s)", cut, all[cut].Pos)
		for j := range rest {
			genSameEvent(t, all[cut+1+j], rest[j], fmt.Sprintf("cut %d, event %d", cut, j))
		}
		// Opening again restarts the stream.
		require.NoError(t, g.Open(context.Background(), Position{}))
		ev, err := g.Read(context.Background())
		require.NoError(t, err)
		genSameEvent(t, all[0], ev, "reopened")
	}

	// Resuming at a transaction's commit position (its last data event, what a lake
	// acks) skips the END that follows: it belongs to the transaction already read.
	for i := len(all) / 3; i < len(all); i++ {
		if all[i].Op == OpTxEnd {
			rest := genEvents(t, NewGenerator(cfg), all[i-1].Pos)
			require.Len(t, rest, len(all)-i-1)
			genSameEvent(t, all[i+1], rest[0], "after a commit position")
			require.Equal(t, OpTxBegin, rest[0].Op)
			break
		}
	}
}

func TestGeneratorAckConcurrentWithRead(t *testing.T) {
	g := NewGenerator(GeneratorConfig{Seed: 1, Events: 2000, TxMetadata: true})
	ctx := context.Background()
	require.NoError(t, g.Open(ctx, Position{}))
	commits := make(chan Position, 16)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for p := range commits {
			assert.NoError(t, g.Ack(ctx, p))
		}
	}()
	var last Position
	for {
		ev, err := g.Read(ctx)
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		if ev.Op == OpTxEnd {
			commits <- ev.Pos
			last = ev.Pos
		}
	}
	close(commits)
	wg.Wait()
	assert.Equal(t, last, g.Acked())
	require.NoError(t, g.Ack(ctx, Position{Major: 1}), "an older ack does not move Acked back")
	assert.Equal(t, last, g.Acked())
	require.NoError(t, g.Close())
	_, err := g.Read(ctx)
	assert.Error(t, err, "Read after Close")
}

func TestGeneratorRate(t *testing.T) {
	g := NewGenerator(GeneratorConfig{Seed: 1, Events: 200, Rate: 1000})
	start := time.Now()
	n := len(genEvents(t, g, Position{}))
	took := time.Since(start)
	require.Equal(t, 200, n)
	assert.GreaterOrEqual(t, took, 150*time.Millisecond, "200 events at 1000/s")
	assert.Less(t, took, 3*time.Second)

	// A Read cut short by its context keeps the event for the next Read.
	want := genEvents(t, NewGenerator(GeneratorConfig{Seed: 1, Events: 5}), Position{})
	g = NewGenerator(GeneratorConfig{Seed: 1, Events: 5, Rate: 5})
	require.NoError(t, g.Open(context.Background(), Position{}))
	ev, err := g.Read(context.Background())
	require.NoError(t, err)
	genSameEvent(t, want[0], ev, "first")
	short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err = g.Read(short)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	ev, err = g.Read(context.Background())
	require.NoError(t, err)
	genSameEvent(t, want[1], ev, "second, after the interrupted Read")
}

func TestGeneratorDeadLetters(t *testing.T) {
	cfg := GeneratorConfig{Seed: 6, Events: 1500}
	all := genEvents(t, NewGenerator(cfg), Position{})
	corrupt := func(rec *Record) {
		if rec.Topic == "gen.public.orders" && rec.Offset%25 == 3 {
			rec.Value = rec.Value[:len(rec.Value)-2] // cut off the closing braces
		}
	}

	reg := prometheus.NewRegistry()
	dls := NewMemoryDeadLetters()
	cfg.Metrics, cfg.DeadLetters = NewMetrics(reg), dls
	g := NewGenerator(cfg)
	g.tamper = corrupt
	got := genEvents(t, g, Position{})
	require.Positive(t, dls.Len())
	require.Equal(t, len(all), len(got)+dls.Len(), "every record is either returned or dead-lettered")
	kept := map[Position]bool{}
	for _, ev := range got {
		kept[ev.Pos] = true
	}
	for _, dl := range dls.All() {
		assert.Equal(t, "public.orders", dl.Table)
		assert.Equal(t, "gen.public.orders", dl.Record.Topic)
		assert.EqualValues(t, 3, dl.Record.Offset%25)
		assert.False(t, kept[dl.Pos], "the dead letter's position is the missing event's")
		assert.Contains(t, dl.Reason, ErrMalformed.Error())
	}
	var dead float64
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == "strata_cdc_dead_letters_total" {
			dead = mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	assert.Equal(t, float64(dls.Len()), dead)

	// Resuming past some rejected records does not dead-letter them twice.
	from := got[len(got)/2].Pos
	dls2 := NewMemoryDeadLetters()
	cfg.Metrics, cfg.DeadLetters = nil, dls2
	g = NewGenerator(cfg)
	g.tamper = corrupt
	genEvents(t, g, from)
	want := 0
	for _, dl := range dls.All() {
		if from.Less(dl.Pos) {
			want++
		}
	}
	assert.Equal(t, want, dls2.Len())

	// Without a dead-letter store, Read fails rather than drop the record.
	cfg.DeadLetters = nil
	g = NewGenerator(cfg)
	g.tamper = corrupt
	require.NoError(t, g.Open(context.Background(), Position{}))
	for {
		_, err = g.Read(context.Background())
		if err != nil {
			break
		}
	}
	require.ErrorIs(t, err, ErrMalformed)
	var de *DecodeError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, "gen.public.orders", de.Origin.Topic)
}

func TestGeneratorConfig(t *testing.T) {
	for _, bad := range []GeneratorConfig{
		{Events: -1},
		{Rate: -1},
		{Rate: math.NaN()},
		{Rate: math.Inf(1)},
		{Customers: -5},
		{AddColumnAt: -2},
		{Zipf: 1},
		{Zipf: 0.5},
		{Zipf: math.Inf(1)},
		{Server: "has space"},
		{Server: "a/b"},
		{Server: strings.Repeat("x", 201)},
	} {
		err := bad.Validate()
		require.ErrorIs(t, err, ErrGeneratorConfig, "%+v", bad)
		g := NewGenerator(bad)
		_, err = g.NextRecord()
		require.ErrorIs(t, err, ErrGeneratorConfig)
		require.ErrorIs(t, g.Open(context.Background(), Position{}), ErrGeneratorConfig)
		_, err = g.Read(context.Background())
		require.ErrorIs(t, err, ErrGeneratorConfig)
	}
	require.NoError(t, GeneratorConfig{}.Validate())
	require.NoError(t, GeneratorConfig{Server: "db-1.eu_west", Zipf: 2, AddColumnAt: -1, Rate: 10}.Validate())

	// The zero config is an unlimited stream with the defaults.
	g := NewGenerator(GeneratorConfig{})
	for i := 0; i < 10000; i++ {
		rec, err := g.NextRecord()
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(rec.Topic, "gen.public."), rec.Topic)
		require.NotContains(t, string(rec.Value), `"discount"`, "no column change in an unlimited run by default")
	}

	_, err := NewGenerator(GeneratorConfig{}).Read(context.Background())
	require.Error(t, err, "Read before Open")
}

func TestDecimalBase64(t *testing.T) {
	for _, c := range []struct {
		unscaled int64
		b64      string
	}{
		{2000000000, "dzWUAA=="}, // Debezium's documented 200000.0000 (scale 4)
		{100000, "AYag"},         // and 10.0000
		{0, "AA=="},
		{1, "AQ=="},
		{127, "fw=="},
		{128, "AIA="},
		{255, "AP8="},
		{-1, "/w=="},
		{-128, "gA=="},
		{-129, "/38="},
		{math.MaxInt64, "f/////////8="},
		{math.MinInt64, "gAAAAAAAAAA="},
	} {
		got := string(appendDecimalBase64(nil, c.unscaled))
		assert.Equal(t, c.b64, got, "%d", c.unscaled)
	}
	// Round trip through the decoder's two's-complement reader, over many widths.
	for _, v := range []int64{5, -5, 300, -300, 1 << 20, -(1 << 20), 999_999_999_999, -999_999_999_999, 1 << 40, math.MaxInt32 + 1} {
		raw, err := base64.StdEncoding.DecodeString(string(appendDecimalBase64(nil, v)))
		require.NoError(t, err)
		n, err := twosComplement(raw)
		require.NoError(t, err)
		assert.Equal(t, v, int64(n.LowBits()), "%d", v)
		assert.True(t, len(raw) == 1 || !(raw[0] == 0 && raw[1]&0x80 == 0) && !(raw[0] == 0xff && raw[1]&0x80 != 0), "%d: minimal bytes %x", v, raw)
	}
}

func TestGeneratorZipfSkew(t *testing.T) {
	// Updates concentrate on a few hot customers.
	counts := map[int64]int{}
	total := 0
	for _, ev := range genEvents(t, NewGenerator(GeneratorConfig{Seed: 3, Events: 20000, Customers: 500}), Position{}) {
		if ev.Table == "public.customers" && ev.Op == OpUpdate {
			counts[ev.Key[0].AsInt()]++
			total++
		}
	}
	top := 0
	for _, n := range counts {
		if n > total/50 {
			top += n
		}
	}
	assert.Greater(t, top, total/4, "customers with >2%% of the updates each take over a quarter of them")
	assert.Greater(t, len(counts), 100, "yet many customers are touched")
}

// BenchmarkGenerator measures NextRecord alone: building Debezium JSON records. The data
// case is the figure that matters; transaction metadata adds small BEGIN/END records.
func BenchmarkGenerator(b *testing.B) {
	for _, bc := range []struct {
		name string
		tx   bool
	}{{"data", false}, {"txmeta", true}} {
		b.Run(bc.name, func(b *testing.B) {
			g := NewGenerator(GeneratorConfig{Seed: 1, TxMetadata: bc.tx})
			var size int64
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				rec, err := g.NextRecord()
				if err != nil {
					b.Fatal(err)
				}
				size += int64(len(rec.Value) + len(rec.Key))
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
			b.SetBytes(size / int64(b.N))
		})
	}
}

// BenchmarkGeneratorSource measures the Source path: generation plus decoding.
func BenchmarkGeneratorSource(b *testing.B) {
	g := NewGenerator(GeneratorConfig{Seed: 1})
	ctx := context.Background()
	if err := g.Open(ctx, Position{}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := g.Read(ctx); err != nil && !errors.Is(err, io.EOF) {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

func TestGeneratorReadHonoursCancellationUnpaced(t *testing.T) {
	g := NewGenerator(GeneratorConfig{Seed: 1}) // unlimited, as fast as possible
	ctx, cancel := context.WithCancel(context.Background())
	require.NoError(t, g.Open(ctx, Position{}))
	_, err := g.Read(ctx)
	require.NoError(t, err)
	cancel()
	_, err = g.Read(ctx)
	assert.ErrorIs(t, err, context.Canceled)
}

// genBatchEvents reads a whole run through ReadBatch, copying the events out (the
// batch is reused), opened at from.
func genBatchEvents(t testing.TB, g *Generator, from Position) []Event {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, g.Open(ctx, from))
	var out []Event
	for {
		evs, err := readRun(ctx, g)
		if err == io.EOF {
			return out
		}
		require.NoError(t, err)
		require.NotEmpty(t, evs)
		require.LessOrEqual(t, len(evs), DecodeAhead)
		out = append(out, evs...)
	}
}

// ReadBatch returns what Read does, in runs: from the start, resumed inside a
// transaction, paced, and with records going to dead letters; and Read and ReadBatch
// may be mixed.
func TestGeneratorReadBatch(t *testing.T) {
	cfg := GeneratorConfig{Seed: 9, Events: 2000, TxMetadata: true}
	all := genEvents(t, NewGenerator(cfg), Position{})
	got := genBatchEvents(t, NewGenerator(cfg), Position{})
	require.Len(t, got, len(all))
	for i := range all {
		genSameEvent(t, all[i], got[i], fmt.Sprintf("event %d", i))
	}

	cut := len(all)/2 + 1
	rest := genBatchEvents(t, NewGenerator(cfg), all[cut].Pos)
	require.Len(t, rest, len(all)-cut-1)
	genSameEvent(t, all[cut+1], rest[0], "resumed")

	ctx := context.Background()
	g := NewGenerator(cfg)
	require.NoError(t, g.Open(ctx, Position{}))
	var mixed []Event
	for i := 0; ; i++ {
		if i%3 == 0 {
			ev, err := g.Read(ctx)
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
			mixed = append(mixed, ev)
			continue
		}
		evs, err := readRun(ctx, g)
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		mixed = append(mixed, evs...)
	}
	require.Len(t, mixed, len(all))
	for i := range all {
		genSameEvent(t, all[i], mixed[i], fmt.Sprintf("mixed, event %d", i))
	}

	paced := cfg
	paced.Events, paced.Rate = 200, 1e6
	g = NewGenerator(paced)
	require.NoError(t, g.Open(ctx, Position{}))
	evs, err := readRun(ctx, g)
	require.NoError(t, err)
	require.Len(t, evs, 1, "paced: one event when due")

	// A record the dead-letter store cannot take stops the batch after the events
	// before it, and the next call reports it.
	corrupt := func(rec *Record) {
		if rec.Topic == "gen.public.orders" && rec.Offset%25 == 3 {
			rec.Value = rec.Value[:len(rec.Value)-2]
		}
	}
	g = NewGenerator(GeneratorConfig{Seed: 6, Events: 1500})
	g.tamper = corrupt
	require.NoError(t, g.Open(ctx, Position{}))
	n := 0
	for {
		evs, err := readRun(ctx, g)
		if err != nil {
			require.ErrorIs(t, err, ErrMalformed)
			break
		}
		n += len(evs)
	}
	plain := NewGenerator(GeneratorConfig{Seed: 6, Events: 1500})
	plain.tamper = corrupt
	require.NoError(t, plain.Open(ctx, Position{}))
	m := 0
	for {
		if _, err := plain.Read(ctx); err != nil {
			require.ErrorIs(t, err, ErrMalformed)
			break
		}
		m++
	}
	require.Equal(t, m, n, "events before the first rejected record")
}

// readRun is ReadBatch into a new slice of DecodeAhead events.
func readRun(ctx context.Context, src BatchReader) ([]Event, error) {
	dst := make([]Event, DecodeAhead)
	n, err := src.ReadBatch(ctx, dst)
	return dst[:n], err
}
