package postgres_test

import (
	"testing"
	"time"

	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/cdc/postgres"
	"github.com/strata-data/strata/change"
)

func TestSnapshotThenStream(t *testing.T) {
	dsn := newDB(t)
	conn := connect(t, dsn)
	exec(t, conn, "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, qty bigint)",
		"INSERT INTO items SELECT g, 'item' || g, g * 10 FROM generate_series(1, 5) g")
	src := openSource(t, postgres.Config{DSN: dsn, Tables: []string{"items"}, SnapshotChunk: 2}, cdc.Position{})
	snap := readTxs(t, src, 5, 10*time.Second)
	if len(snap) != 3 {
		t.Fatalf("snapshot in %d transactions, want 3 chunks of 2", len(snap))
	}
	evs := events(snap)
	for i, ev := range evs {
		if ev.Op != cdc.OpRead || ev.Table != "public.items" || ev.After[0].AsInt() != int64(i+1) || ev.After[1].AsString() != "item"+string(rune('1'+i)) {
			t.Fatalf("snapshot event %d: %s %s %v", i, ev.Op, ev.Table, ev.After)
		}
		if i > 0 && !evs[i-1].Pos.Less(ev.Pos) {
			t.Fatalf("snapshot positions not increasing: %s then %s", evs[i-1].Pos, ev.Pos)
		}
	}
	if last := evs[4].Pos; last.Minor != 0 || last.Seq != ^uint64(0) {
		t.Fatalf("last snapshot row at %s, want the end marker", last)
	}
	if got := evs[0].Schema.String(); got != "id int32 not null, name utf8 not null, qty int64 (key: id)" {
		t.Fatalf("schema %s", got)
	}

	exec(t, conn, "INSERT INTO items VALUES (6, 'six', NULL)",
		"BEGIN", "UPDATE items SET qty = 99 WHERE id = 1", "DELETE FROM items WHERE id = 2", "UPDATE items SET id = 20 WHERE id = 3", "COMMIT",
		"TRUNCATE items")
	txs := readTxs(t, src, 1+4+1, 10*time.Second)
	if len(txs) != 3 {
		t.Fatalf("%d transactions, want 3", len(txs))
	}
	ins := txs[0].Events[0]
	if ins.Op != cdc.OpCreate || ins.After[0].AsInt() != 6 || !ins.After[2].IsNull() || ins.Before != nil {
		t.Fatalf("insert: %s %v %v", ins.Op, ins.Before, ins.After)
	}
	if ins.Key[0].AsInt() != 6 || ins.KeySchema.String() != "id int32 not null (key: id)" {
		t.Fatalf("insert key %v %s", ins.Key, ins.KeySchema)
	}
	tx := txs[1]
	if len(tx.Events) != 4 {
		t.Fatalf("tx has %d events", len(tx.Events))
	}
	upd, del, pkDel, pkIns := tx.Events[0], tx.Events[1], tx.Events[2], tx.Events[3]
	if upd.Op != cdc.OpUpdate || upd.Before != nil || upd.After[2].AsInt() != 99 {
		t.Fatalf("update: %s before=%v after=%v", upd.Op, upd.Before, upd.After)
	}
	// REPLICA IDENTITY DEFAULT: the before-image of a delete is the key, the rest absent.
	if del.Op != cdc.OpDelete || del.Before[0].AsInt() != 2 || !del.Before[1].IsAbsent() || !del.Before[2].IsAbsent() || del.After != nil || del.Key[0].AsInt() != 2 {
		t.Fatalf("delete: %s before=%v key=%v", del.Op, del.Before, del.Key)
	}
	if pkDel.Op != cdc.OpDelete || pkDel.Key[0].AsInt() != 3 || pkIns.Op != cdc.OpCreate || pkIns.Key[0].AsInt() != 20 || pkIns.After[1].AsString() != "item3" {
		t.Fatalf("key change: %s %v / %s %v", pkDel.Op, pkDel.Key, pkIns.Op, pkIns.After)
	}
	for i, ev := range tx.Events {
		if ev.Pos.Major != tx.Events[0].Pos.Major || ev.Tx.TotalOrder != int64(i+1) || ev.Tx.ID != tx.ID || ev.Source.TxID == "" || ev.Tx.Commit != tx.Commit {
			t.Fatalf("event %d: pos %s tx %+v (tx %s commit %s)", i, ev.Pos, ev.Tx, tx.ID, tx.Commit)
		}
		if i > 0 && !tx.Events[i-1].Pos.Less(ev.Pos) {
			t.Fatalf("positions within the transaction not increasing")
		}
	}
	if !txs[0].Commit.Less(tx.Commit) || !tx.Commit.Less(txs[2].Commit) || !evs[4].Pos.Less(txs[0].Commit) {
		t.Fatalf("commit positions out of order: %s %s %s", txs[0].Commit, tx.Commit, txs[2].Commit)
	}
	if tr := txs[2].Events[0]; tr.Op != cdc.OpTruncate || tr.Table != "public.items" || tr.Schema != nil {
		t.Fatalf("truncate: %s %s", tr.Op, tr.Table)
	}
	expectIdle(t, src, 300*time.Millisecond)
	_ = change.Absent
}
