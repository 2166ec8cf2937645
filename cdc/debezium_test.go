package cdc_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/change"
)

const fixtures = "../testdata/debezium"

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures, name))
	require.NoError(t, err, "fixtures: testdata/debezium (copied from ../shared/fixtures/debezium)")
	return b
}

// decode decodes a fixture as a record value, with an optional key fixture.
func decode(t *testing.T, value, key string) cdc.Event {
	t.Helper()
	rec := &cdc.Record{Topic: "fixtures", Value: fixture(t, value)}
	if key != "" {
		rec.Key = fixture(t, key)
	}
	ev, err := cdc.NewDebeziumDecoder(cdc.DebeziumConfig{}).Decode(rec)
	require.NoError(t, err, value)
	return ev
}

// row renders an image as column -> plain value for assertions.
func row(ev cdc.Event, r change.Row) map[string]any {
	if r == nil {
		return nil
	}
	out := map[string]any{}
	for i, f := range ev.Schema.Fields() {
		if r[i].IsAbsent() {
			continue
		}
		out[f.Name] = r[i].Any(f.Type)
	}
	return out
}

func TestFixturesPostgres(t *testing.T) {
	ev := decode(t, "pg-create.json", "")
	assert.Equal(t, "public.customers", ev.Table)
	assert.Equal(t, cdc.OpCreate, ev.Op)
	assert.Nil(t, ev.Before)
	assert.Equal(t, map[string]any{"id": int64(1), "first_name": "Anne", "last_name": "Kretchmar", "email": "annek@noanswer.org"}, row(ev, ev.After))
	assert.Equal(t, "555", ev.Source.TxID)
	assert.Equal(t, uint64(24023128), ev.Source.LSN)
	assert.Equal(t, `["24023119","24023128"]`, ev.Source.Sequence)
	assert.Equal(t, cdc.Position{Major: 24023119, Minor: 24023128}, ev.Pos)
	assert.Equal(t, int64(1559033904863), ev.TsMs)
	assert.Equal(t, int64(1559033904863841257), ev.TsNs, "above 2^53: exact")
	assert.Equal(t, time.UnixMilli(1559033904863).UTC(), ev.CommitTime)
	assert.Equal(t, "true", ev.Source.Snapshot)
	assert.Equal(t, 1, ev.SchemaVersion)
	assert.Equal(t, arrow.INT32, ev.Schema.Field(0).Type.ID())

	ev = decode(t, "pg-update.json", "")
	assert.Equal(t, cdc.OpUpdate, ev.Op)
	assert.Equal(t, map[string]any{"id": int64(1)}, row(ev, ev.Before), "partial before-image: key only")
	assert.Equal(t, "Anne Marie", row(ev, ev.After)["first_name"])
	assert.Equal(t, "556", ev.Source.TxID)
	assert.Equal(t, int64(1465584025523514964), ev.TsNs)

	ev = decode(t, "pg-delete.json", "")
	assert.Equal(t, cdc.OpDelete, ev.Op)
	assert.Equal(t, map[string]any{"id": int64(1)}, row(ev, ev.Before))
	assert.Nil(t, ev.After)
	assert.Equal(t, uint64(46523128), ev.Source.LSN)

	ev = decode(t, "pg-truncate.json", "")
	assert.Equal(t, cdc.OpTruncate, ev.Op)
	assert.Equal(t, "public.customers", ev.Table)
	assert.Nil(t, ev.Before)
	assert.Nil(t, ev.After)
	assert.Equal(t, int64(1559033904961654789), ev.TsNs)

	for _, name := range []string{"pg-message-tx.json", "pg-message-nontx.json"} {
		ev = decode(t, name, "")
		assert.Equal(t, cdc.OpMessage, ev.Op)
		require.NotNil(t, ev.Message)
		assert.Equal(t, "foo", ev.Message.Prefix)
		assert.Equal(t, []byte{0x62, 0x67, 0xF2}, ev.Message.Content, "bytes, not text")
	}
	assert.Equal(t, "", ev.Source.TxID, "non-tx message has no txId")

	ev = decode(t, "pg-tx-begin.json", "")
	assert.Equal(t, cdc.OpTxBegin, ev.Op)
	assert.Equal(t, "571:53195829", ev.Tx.ID)
	assert.Equal(t, "571", ev.TxKey())
	assert.Equal(t, int64(1486500577125), ev.TsMs)
	end := decode(t, "pg-tx-end.json", "")
	assert.Equal(t, cdc.OpTxEnd, end.Op)
	assert.Equal(t, "571:53195832", end.Tx.ID)
	assert.Equal(t, ev.TxKey(), end.TxKey(), "BEGIN and END pair on the txId")
	assert.Equal(t, int64(2), end.EventCount)
	assert.Equal(t, []cdc.CollectionCount{{"s1.a", 1}, {"s2.a", 1}}, end.Collections)

	ev = decode(t, "pg-tx-enriched-create.json", "")
	assert.Equal(t, cdc.OpCreate, ev.Op)
	assert.Equal(t, "", ev.Table, "the documented event has no source, so no table")
	assert.Equal(t, map[string]any{"pk": "2", "aa": "1"}, row(ev, ev.After))
	assert.Equal(t, int64(1580390884335), ev.TsMs)
	assert.Equal(t, int64(1580390884335451325), ev.TsNs)
	assert.Equal(t, cdc.TxInfo{ID: "571:53195832", TotalOrder: 1, CollectionOrder: 1}, ev.Tx)
	assert.Equal(t, "571", ev.TxKey())

	ev = decode(t, "incremental-snapshot-read.json", "")
	assert.Equal(t, cdc.OpRead, ev.Op)
	assert.Equal(t, "incremental", ev.Source.Snapshot)
	assert.Equal(t, map[string]any{"pk": "1", "value": "New data"}, row(ev, ev.After))
	assert.Equal(t, int64(1620393591654547920), ev.TsNs)
}

func TestFixturesKeys(t *testing.T) {
	d := cdc.NewDebeziumDecoder(cdc.DebeziumConfig{})
	for _, c := range []struct {
		file, col string
		want      any
		table     string
	}{
		{"pg-key.json", "id", int64(1), "public.customers"}, /* "1" coerced to INT32 */
		{"mysql-key.json", "id", int64(1001), "inventory.customers"},
		{"mysql-tutorial-key.json", "id", int64(1004), "inventory.customers"},
		{"mysql-snapshot-read-key.json", "product_id", int64(101), "inventory.products_on_hand"},
		{"sqlserver-delete-decimal-key.json", "empno", int64(11), ""},
	} {
		_, err := d.Decode(&cdc.Record{Topic: "k", Value: fixture(t, c.file)})
		assert.ErrorIs(t, err, cdc.ErrNotEvent, c.file)

		ev, err := d.Decode(&cdc.Record{Topic: "k", Key: fixture(t, c.file)})
		require.NoError(t, err, c.file)
		assert.Equal(t, cdc.OpTombstone, ev.Op, c.file)
		require.NotNil(t, ev.KeySchema, c.file)
		assert.Equal(t, c.col, ev.KeySchema.Field(0).Name, c.file)
		assert.Equal(t, c.want, ev.Key[0].Any(ev.KeySchema.Field(0).Type), c.file)
		if c.table != "" {
			assert.Equal(t, c.table, ev.Table, c.file)
		}
	}
}

func TestFixturesMySQL(t *testing.T) {
	ev := decode(t, "mysql-create.json", "mysql-key.json")
	assert.Equal(t, "inventory.customers", ev.Table)
	assert.Equal(t, cdc.OpCreate, ev.Op)
	assert.Equal(t, map[string]any{"id": int64(1004), "first_name": "Anne", "last_name": "Kretchmar", "email": "annek@noanswer.org"}, row(ev, ev.After))
	assert.Equal(t, []string{"id"}, ev.Schema.KeyNames(), "primary key from the record key")
	assert.Equal(t, "mysql-bin.000003", ev.Source.File)
	assert.Equal(t, cdc.Position{Major: 3, Minor: 154, Seq: 0}, ev.Pos)
	assert.True(t, ev.CommitTime.IsZero(), "source ts_ms is 0 in the doc")
	assert.Equal(t, int64(1465491411815437158), ev.TsNs)

	ev = decode(t, "mysql-update.json", "")
	assert.Equal(t, cdc.OpUpdate, ev.Op)
	assert.Equal(t, "Anne", row(ev, ev.Before)["first_name"])
	assert.Equal(t, "Anne Marie", row(ev, ev.After)["first_name"])
	assert.Equal(t, int64(223344), ev.Source.ServerID)
	assert.Equal(t, cdc.Position{Major: 3, Minor: 484}, ev.Pos)

	ev = decode(t, "mysql-delete.json", "")
	assert.Equal(t, cdc.OpDelete, ev.Op)
	assert.Equal(t, "Anne Marie", row(ev, ev.Before)["first_name"])
	assert.Nil(t, ev.After)

	ev = decode(t, "mysql-truncate.json", "")
	assert.Equal(t, cdc.OpTruncate, ev.Op)
	assert.Equal(t, "mysql-server-1", ev.Source.Name, "duplicate name keys accepted")

	ev = decode(t, "mysql-tx-begin.json", "")
	assert.Equal(t, cdc.OpTxBegin, ev.Op)
	assert.Equal(t, "0e4d5dcd-a33b-11ea-80f1-02010a22a99e:10", ev.TxKey())
	ev = decode(t, "mysql-tx-end.json", "")
	assert.Equal(t, cdc.OpTxEnd, ev.Op)
	assert.Equal(t, "0e4d5dcd-a33b-11ea-80f1-02010a22a99e:10", ev.TxKey())
	assert.Equal(t, int64(2), ev.EventCount)
	assert.Equal(t, []cdc.CollectionCount{{"s1.a", 1}, {"s2.a", 1}}, ev.Collections)

	ev = decode(t, "mysql-tx-enriched-create.json", "")
	assert.Equal(t, cdc.TxInfo{ID: "0e4d5dcd-a33b-11ea-80f1-02010a22a99e:10", TotalOrder: 1, CollectionOrder: 1}, ev.Tx)
	assert.Equal(t, int64(1580390884335472987), ev.TsNs)

	ev = decode(t, "mysql-tutorial-read.json", "mysql-tutorial-key.json")
	assert.Equal(t, cdc.OpRead, ev.Op)
	assert.Equal(t, "inventory.customers", ev.Table)
	assert.Equal(t, "true", ev.Source.Snapshot)
	assert.Equal(t, int64(1486500577691547930), ev.TsNs)

	ev = decode(t, "mysql-tutorial-update.json", "")
	assert.Equal(t, "dbserver1", ev.Source.Name, "duplicate keys: the last wins")
	assert.Equal(t, time.Unix(1486501486, 0).UTC(), ev.CommitTime, "ts_sec in the old layout")
	assert.Equal(t, "Anne Marie", row(ev, ev.After)["first_name"])

	ev = decode(t, "mysql-tutorial-delete.json", "")
	assert.Equal(t, cdc.OpDelete, ev.Op)
	assert.Equal(t, "dbserver1", ev.Source.Name)
	assert.Equal(t, int64(1486501558315901687), ev.TsNs)

	ev = decode(t, "mysql-tutorial-tombstone.json", "mysql-tutorial-tombstone-key.json")
	assert.Equal(t, cdc.OpTombstone, ev.Op, `{"schema":null,"payload":null}`)
	assert.Equal(t, int64(1004), ev.Key[0].AsInt())
	for _, v := range [][]byte{nil, {}, []byte("null"), []byte("  ")} {
		ev, err := cdc.NewDebeziumDecoder(cdc.DebeziumConfig{}).Decode(&cdc.Record{Topic: "dbserver1.inventory.customers", Key: fixture(t, "mysql-tutorial-tombstone-key.json"), Value: v})
		require.NoError(t, err)
		assert.Equal(t, cdc.OpTombstone, ev.Op, "value %q", v)
		assert.Equal(t, "inventory.customers", ev.Table)
	}

	ev = decode(t, "mysql-snapshot-read.json", "mysql-snapshot-read-key.json")
	assert.Equal(t, "inventory.products_on_hand", ev.Table)
	assert.Equal(t, cdc.OpRead, ev.Op)
	assert.Equal(t, map[string]any{"product_id": int64(101), "quantity": int64(3)}, row(ev, ev.After))
	assert.Equal(t, "true", ev.Source.Snapshot)
	assert.Equal(t, int64(1638985247805102588), ev.TsNs)
	assert.Equal(t, []string{"product_id"}, ev.Schema.KeyNames())
}

func TestFixtureDecimalAndTimestamp(t *testing.T) {
	ev := decode(t, "sqlserver-delete-decimal.json", "sqlserver-delete-decimal-key.json")
	assert.Equal(t, "dbo.emp", ev.Table)
	assert.Equal(t, cdc.OpDelete, ev.Op)
	b := row(ev, ev.Before)
	assert.Equal(t, "200000.0000", b["sal"])
	assert.Equal(t, "10.0000", b["comm"])
	assert.Equal(t, time.Date(2019, 7, 9, 0, 0, 0, 0, time.UTC), b["hiredate"])
	assert.Equal(t, "Yossi", b["fname"])
	assert.Equal(t, int64(11), ev.Key[0].AsInt())
	assert.Equal(t, "false", ev.Source.Snapshot)
	assert.Equal(t, "0000003a:00002f50:0005", ev.Source.CommitLSN)
	assert.Equal(t, cdc.Position{Major: 0x3a, Minor: 0x2f50<<16 | 5, Seq: 1}, ev.Pos)
	sal := ev.Schema.Field(ev.Schema.FieldIndex("sal"))
	assert.Equal(t, &arrow.Decimal128Type{Precision: 19, Scale: 4}, sal.Type)
}

// Every fixture decodes or is recognised as a key: nothing in the documentation set is rejected.
func TestEveryFixtureDecodes(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(fixtures, "*.json"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 29)
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		_, err = cdc.NewDebeziumDecoder(cdc.DebeziumConfig{}).Decode(&cdc.Record{Topic: "t", Value: b})
		if err != nil && !errors.Is(err, cdc.ErrNotEvent) {
			t.Errorf("%s: %v", filepath.Base(f), err)
		}
	}
}
