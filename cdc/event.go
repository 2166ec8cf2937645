package cdc

import (
	"fmt"
	"time"

	"github.com/strata-data/strata/change"
)

// Op is what a change event records.
type Op uint8

const (
	// OpCreate is an insert (Debezium "c").
	OpCreate Op = iota + 1
	// OpUpdate is an update (Debezium "u").
	OpUpdate
	// OpDelete is a delete (Debezium "d").
	OpDelete
	// OpRead is a row read by a snapshot (Debezium "r").
	OpRead
	// OpTruncate empties a table (Debezium "t").
	OpTruncate
	// OpMessage is a logical decoding message (Debezium "m"); not a row change.
	OpMessage
	// OpTombstone is a null value after a delete, telling compacted topics to drop the key.
	OpTombstone
	// OpTxBegin is a transaction-metadata BEGIN.
	OpTxBegin
	// OpTxEnd is a transaction-metadata END, with per-collection event counts.
	OpTxEnd
)

var opNames = [...]string{"", "create", "update", "delete", "read", "truncate", "message", "tombstone", "tx-begin", "tx-end"}

// String returns the normalized name: create, update, delete, read, truncate, message,
// tombstone, tx-begin or tx-end.
func (o Op) String() string {
	if o > 0 && int(o) < len(opNames) {
		return opNames[o]
	}
	return fmt.Sprintf("Op(%d)", o)
}

// ParseOp parses a normalized op name.
func ParseOp(s string) (Op, error) {
	for i, n := range opNames {
		if i > 0 && n == s {
			return Op(i), nil
		}
	}
	return 0, fmt.Errorf("cdc: unknown op %q", s)
}

// IsRowChange reports whether the op changes rows of a table (create, update, delete,
// read, truncate).
func (o Op) IsRowChange() bool { return o >= OpCreate && o <= OpTruncate }

// Event is one decoded change event. Row images are typed by Schema; Key by KeySchema.
// Events returned by a Source are owned by the caller.
type Event struct {
	// Table is the qualified table: "schema.table" for PostgreSQL, "db.table" for MySQL.
	Table string
	Op    Op
	// Schema types Before and After. It is shared by every event of the same table and
	// schema version; SchemaVersion counts the distinct schemas seen for Table (from 1).
	Schema        *change.Schema
	SchemaVersion int
	// KeySchema types Key; Key is nil when the record had no key.
	KeySchema *change.Schema
	Key       change.Row
	// Before and After are positional by Schema; nil when the image is missing. Columns
	// absent from a partial image hold change.Absent().
	Before, After change.Row

	// Pos orders the event in commit order (see Position).
	Pos Position
	// Origin is where the raw record sat (topic, partition, offset).
	Origin Origin
	// Source is the connector's source block.
	Source SourceInfo
	// Tx places the event in its transaction.
	Tx TxInfo
	// TsMs and TsNs are when the connector processed the event (payload ts_ms, ts_ns).
	TsMs, TsNs int64
	// CommitTime is when the change was committed in the source database (source.ts_ms,
	// or source.ts_sec in older layouts); zero when unknown.
	CommitTime time.Time
	// Arrival is when strata received the event (set by ingest); zero when unknown.
	Arrival time.Time

	// Message is set for OpMessage.
	Message *Message
	// EventCount and Collections are set for OpTxEnd.
	EventCount  int64
	Collections []CollectionCount
}

// TxInfo places an event in its transaction.
type TxInfo struct {
	// ID is the transaction id as the source spells it ("571:53195832", a GTID); empty
	// outside transactions.
	ID string
	// TotalOrder is the 1-based position among all events of the transaction (0: unknown).
	TotalOrder int64
	// CollectionOrder is the 1-based position among the transaction's events of this table.
	CollectionOrder int64
	// Commit is the commit position of the whole transaction (Tx.Commit), set when the
	// transaction is assembled; zero before. Replay uses it to cut transactions again.
	Commit Position
}

// SourceInfo is the connector's source block. Zero fields were absent.
type SourceInfo struct {
	Version   string
	Connector string // postgresql, mysql, sqlserver, ...
	Name      string // logical server name (topic prefix)
	DB        string
	Schema    string
	Table     string
	Snapshot  string // "true", "false", "last", "incremental", ... ("" when null)
	TsMs      int64
	TxID      string // PostgreSQL txId, exact text
	LSN       uint64 // PostgreSQL LSN of the event
	Sequence  string // PostgreSQL ["lastCommitLsn","lsn"], as sent
	File      string // MySQL binlog file
	FilePos   int64  // MySQL binlog position
	Row       int64  // MySQL row within the binlog event
	ServerID  int64  // MySQL server_id
	GTID      string // MySQL GTID
	CommitLSN string // SQL Server commit_lsn
	ChangeLSN string // SQL Server change_lsn
}

// Message is the content of a logical decoding message (OpMessage).
type Message struct {
	Prefix  string
	Content []byte // raw bytes; not necessarily UTF-8
}

// CollectionCount is one entry of a transaction END: how many events it had per table.
type CollectionCount struct {
	Collection string
	EventCount int64
}

// TxKey returns the key that pairs the event with its transaction's other events and its
// BEGIN/END: PostgreSQL ids "txId:lsn" differ between BEGIN and END, so they pair on txId;
// MySQL events without transaction metadata pair on their GTID.
// It returns "" for an event outside any transaction.
func (e *Event) TxKey() string {
	if e.Source.TxID != "" && e.Source.Connector == "postgresql" {
		return e.Source.TxID
	}
	if e.Tx.ID == "" && e.Source.GTID != "" {
		// MySQL without transaction metadata: the GTID names the transaction
		return e.Source.GTID
	}
	return TxKeyOf(e.Tx.ID)
}

// TxKeyOf normalizes a transaction id: a PostgreSQL id "571:53195832" becomes "571"; any
// other id (a MySQL GTID "uuid:10") is kept whole.
func TxKeyOf(id string) string {
	for i := 0; i < len(id); i++ {
		if id[i] == ':' {
			if i > 0 && allDigits(id[:i]) && allDigits(id[i+1:]) && i+1 < len(id) {
				return id[:i]
			}
			return id
		}
	}
	return id
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Tx is one whole transaction: its events in commit order, and its commit position
// (the position of its last event, which is what a source is acked with).
type Tx struct {
	ID     string
	Events []Event
	Commit Position
	// CommitTime is the source commit time of the transaction (its last event's).
	CommitTime time.Time
}

// Tables returns the distinct tables the transaction touches, in first-seen order.
func (t *Tx) Tables() []string {
	var out []string
	seen := map[string]bool{}
	for i := range t.Events {
		if tb := t.Events[i].Table; tb != "" && !seen[tb] {
			seen[tb] = true
			out = append(out, tb)
		}
	}
	return out
}
