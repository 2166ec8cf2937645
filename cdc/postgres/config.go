package postgres

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Sentinel errors, matched with errors.Is.
var (
	// ErrConfig: the Config is not usable; the wrapping error names the field.
	ErrConfig = errors.New("postgres: invalid config")
	// ErrNoIdentity: a published table has neither a primary key nor a replica identity
	// that PostgreSQL can log updates and deletes with.
	ErrNoIdentity = errors.New("postgres: table without primary key or replica identity")
	// ErrPublication: the publication does not cover a configured table, or covers none.
	ErrPublication = errors.New("postgres: publication")
	// ErrSlot: the replication slot exists but cannot be used (another plugin, in use).
	ErrSlot = errors.New("postgres: replication slot")
	// ErrSlotLost: the slot can no longer deliver the changes downstream still needs
	// (invalidated, its WAL removed, or undecodable at its confirmed position). With
	// SnapshotWhenNeeded the source recovers by itself with a new snapshot.
	ErrSlotLost = errors.New("postgres: replication slot lost")
	// ErrDecode: a value of the stream could not be decoded; the error names the table,
	// column and LSN.
	ErrDecode = errors.New("postgres: cannot decode value")
	// ErrNotOpen: Read, ReadTx or Ack before Open.
	ErrNotOpen = errors.New("postgres: source not open")
	// ErrClosed: the source was closed.
	ErrClosed = errors.New("postgres: source closed")
)

// SnapshotMode says whether the source reads the tables' existing rows first.
type SnapshotMode uint8

const (
	// SnapshotInitial (the default) reads every published table in the snapshot the slot
	// exports when it is created, as OpRead events, then streams from the slot.
	SnapshotInitial SnapshotMode = iota
	// SnapshotNever streams changes only.
	SnapshotNever
	// SnapshotWhenNeeded is SnapshotInitial, and when the slot can no longer deliver the
	// changes after the position downstream holds (PostgreSQL invalidated it, removed the
	// WAL it needs, or fails to decode it, again and again, at the same position), the
	// slot is dropped and created again with a new snapshot that truncates each table
	// first: downstream converges on the tables' contents instead of stopping.
	// Debezium's snapshot.mode=when_needed.
	SnapshotWhenNeeded
)

// String returns "initial" or "never".
func (m SnapshotMode) String() string {
	switch m {
	case SnapshotInitial:
		return "initial"
	case SnapshotNever:
		return "never"
	case SnapshotWhenNeeded:
		return "when_needed"
	}
	return fmt.Sprintf("SnapshotMode(%d)", m)
}

// ParseSnapshotMode parses "initial", "never" or "when_needed".
func ParseSnapshotMode(s string) (SnapshotMode, error) {
	switch s {
	case "initial", "":
		return SnapshotInitial, nil
	case "never":
		return SnapshotNever, nil
	case "when_needed":
		return SnapshotWhenNeeded, nil
	}
	return 0, fmt.Errorf("%w: snapshot mode %q: want initial, never or when_needed", ErrConfig, s)
}

// Defaults filled in by Config.EnsureDefaults.
const (
	DefaultPublication      = "strata"
	DefaultSlot             = "strata"
	DefaultSnapshotChunk    = 10_000
	DefaultIdleWait         = 200 * time.Millisecond
	DefaultStatusInterval   = 10 * time.Second
	DefaultReconnectTimeout = time.Minute
	DefaultQueueTxs         = 256
	DefaultQueueEvents      = 100_000
)

// Config configures a Source. DSN is required; every other zero field takes its default.
type Config struct {
	// DSN is a libpq connection string or postgres:// URL of the database to capture.
	// The source opens a normal connection (catalog, snapshot) and a replication
	// connection (replication=database) with it; the user needs the REPLICATION
	// attribute, and the right to create the publication when it is missing.
	DSN string
	// Publication names the publication streamed (default "strata"). It is created
	// when missing: FOR TABLE Tables, or FOR ALL TABLES when Tables is empty.
	Publication string
	// Slot names the permanent logical replication slot (default "strata"), created
	// with the pgoutput plugin when missing.
	Slot string
	// Tables are the tables to publish ("schema.table", or "table" in public) when the
	// publication is created; an existing publication must cover them.
	Tables []string
	// Snapshot says whether existing rows are read first (default SnapshotInitial).
	Snapshot SnapshotMode
	// SnapshotChunk is how many snapshot rows make one transaction (default 10 000).
	SnapshotChunk int
	// IdleWait is how long Read and ReadTx wait before cdc.ErrIdle (default 200ms).
	IdleWait time.Duration
	// StatusInterval is the longest time between standby status updates (default 10s);
	// an Ack and a keepalive request send one at once.
	StatusInterval time.Duration
	// ReconnectTimeout bounds how long a dropped connection is retried before Read
	// fails (default 1 min).
	ReconnectTimeout time.Duration
	// QueueTxs is how many decoded transactions wait for Read (default 256), and
	// QueueEvents how many events they may hold together (default 100 000; a larger
	// transaction still passes, alone).
	QueueTxs    int
	QueueEvents int
	// AllowNoIdentity lets Open accept published tables that have no primary key and
	// REPLICA IDENTITY DEFAULT or NOTHING (their updates and deletes fail in
	// PostgreSQL); by default Open fails naming them.
	AllowNoIdentity bool
	// Metrics counts transactions, events, reconnects and the slot's lag (nil: not counted).
	Metrics *Metrics
	// Logger receives warnings (type fallbacks, reconnects) (default slog.Default()).
	Logger *slog.Logger
}

// EnsureDefaults fills the zero optional fields; it is the one place defaults are decided.
func (c *Config) EnsureDefaults() {
	if c.Publication == "" {
		c.Publication = DefaultPublication
	}
	if c.Slot == "" {
		c.Slot = DefaultSlot
	}
	if c.SnapshotChunk == 0 {
		c.SnapshotChunk = DefaultSnapshotChunk
	}
	if c.IdleWait == 0 {
		c.IdleWait = DefaultIdleWait
	}
	if c.StatusInterval == 0 {
		c.StatusInterval = DefaultStatusInterval
	}
	if c.ReconnectTimeout == 0 {
		c.ReconnectTimeout = DefaultReconnectTimeout
	}
	if c.QueueTxs == 0 {
		c.QueueTxs = DefaultQueueTxs
	}
	if c.QueueEvents == 0 {
		c.QueueEvents = DefaultQueueEvents
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports the first problem with c, wrapping ErrConfig and naming the field.
func (c *Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	if c.DSN == "" {
		return bad("DSN is empty")
	}
	if _, err := pgconn.ParseConfig(c.DSN); err != nil {
		return bad("DSN: %v", err)
	}
	for _, n := range []struct{ field, v string }{{"Publication", c.Publication}, {"Slot", c.Slot}} {
		if n.v != "" && !validName(n.v) {
			return bad("%s = %q: want lower-case letters, digits and _ (at most 63)", n.field, n.v)
		}
	}
	for i, t := range c.Tables {
		if t == "" || strings.Count(t, ".") > 1 {
			return bad("Tables[%d] = %q: want table or schema.table", i, t)
		}
	}
	if c.Snapshot > SnapshotWhenNeeded {
		return bad("Snapshot = %v", c.Snapshot)
	}
	if c.SnapshotChunk < 0 || c.QueueTxs < 0 || c.QueueEvents < 0 || c.IdleWait < 0 || c.StatusInterval < 0 || c.ReconnectTimeout < 0 {
		return bad("SnapshotChunk, QueueTxs, QueueEvents, IdleWait, StatusInterval and ReconnectTimeout must not be negative")
	}
	return nil
}

// validName accepts names that need no quoting in replication commands (slot names
// allow only these anyway).
func validName(s string) bool {
	if len(s) == 0 || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// ParseURL reads a source URL: a postgres:// connection URL whose query may also hold
// publication=P, slot=S, tables=a,b and snapshot=initial|never|when_needed; the other parameters
// stay in the DSN.
func ParseURL(s string) (Config, error) {
	u, err := url.Parse(s)
	if err != nil {
		return Config{}, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return Config{}, fmt.Errorf("%w: URL scheme %q: want postgres://", ErrConfig, u.Scheme)
	}
	var c Config
	q := u.Query()
	c.Publication = q.Get("publication")
	c.Slot = q.Get("slot")
	if t := q.Get("tables"); t != "" {
		c.Tables = strings.Split(t, ",")
	}
	if c.Snapshot, err = ParseSnapshotMode(q.Get("snapshot")); err != nil {
		return Config{}, err
	}
	for _, k := range []string{"publication", "slot", "tables", "snapshot"} {
		q.Del(k)
	}
	u.RawQuery = q.Encode()
	c.DSN = u.String()
	return c, c.Validate()
}
