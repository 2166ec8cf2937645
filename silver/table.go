package silver

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/bronze"
	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/change"
)

// Partitioning splits a table's data files. The zero value does not partition.
type Partitioning struct {
	// Column partitions by this column's value: each apply writes one file per value.
	Column string
	// Buckets partitions by hash bucket of the primary key (shuffle.HashKeys, then
	// shuffle.PartitionOf): each apply writes up to this many files.
	Buckets int
}

// CompactPolicy says when a table is worth compacting; see [Table.CompactIfNeeded].
type CompactPolicy struct {
	// MaxFiles: compact once the table has more live data files than this (default 16;
	// negative: never for this reason).
	MaxFiles int
	// MaxDeadFraction: compact once this fraction of the rows stored in live data files
	// is dead, superseded by updates or deleted (default 0.3; negative: never for this
	// reason).
	MaxDeadFraction float64
}

// Config configures a Table; the zero value works.
type Config struct {
	// Partition splits data files by a column or by hash bucket of the key.
	Partition Partitioning
	// Compaction is the policy of CompactIfNeeded.
	Compaction CompactPolicy
	// Mem allocates Arrow buffers (default memory.DefaultAllocator).
	Mem memory.Allocator
	// RowGroupRows is the number of rows per Parquet row group (default 131072).
	RowGroupRows int
	// ScanBatchRows bounds the rows of a batch a scan returns (default 65536).
	ScanBatchRows int
	// MaxFileRows bounds the rows of a file compaction writes (default 1<<24).
	MaxFileRows int
	// Now is the clock of snapshot times (default time.Now).
	Now func() time.Time
	// Logger gets a line per compaction (default slog.Default()).
	Logger *slog.Logger
	// Metrics counts applies and compactions (optional; see NewMetrics).
	Metrics *Metrics
}

// Validate reports a setting a Table cannot use.
func (c Config) Validate() error {
	switch {
	case c.Partition.Column != "" && c.Partition.Buckets != 0:
		return fmt.Errorf("silver: Config.Partition: a column (%q) and %d buckets; choose one", c.Partition.Column, c.Partition.Buckets)
	case c.Partition.Buckets < 0:
		return fmt.Errorf("silver: Config.Partition.Buckets %d is negative", c.Partition.Buckets)
	case c.RowGroupRows < 0, c.ScanBatchRows < 0, c.MaxFileRows < 0:
		return fmt.Errorf("silver: Config: negative RowGroupRows, ScanBatchRows or MaxFileRows")
	case c.MaxFileRows > 1<<31-1:
		return fmt.Errorf("silver: Config.MaxFileRows %d exceeds 2^31-1", c.MaxFileRows)
	}
	return nil
}

// withDefaults fills the zero fields; it is the only place defaults are decided.
func (c Config) withDefaults() Config {
	if c.Mem == nil {
		c.Mem = memory.DefaultAllocator
	}
	if c.RowGroupRows == 0 {
		c.RowGroupRows = 128 << 10
	}
	if c.ScanBatchRows == 0 {
		c.ScanBatchRows = 64 << 10
	}
	if c.MaxFileRows == 0 {
		c.MaxFileRows = 1 << 24
	}
	if c.Compaction.MaxFiles == 0 {
		c.Compaction.MaxFiles = 16
	}
	if c.Compaction.MaxDeadFraction == 0 {
		c.Compaction.MaxDeadFraction = 0.3
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Table is a keyed, versioned silver table in a lake's store. Its state is a manifest of
// snapshots, each one atomic commit; every snapshot stays readable (time travel). A
// Table is safe for concurrent use; one process at a time may write a table (apply or
// compact): the first write removes files an interrupted writer left behind.
type Table struct {
	store bronze.Store
	name  string
	cfg   Config

	mu      sync.Mutex
	snaps   []Snapshot
	schemas map[int]*change.Schema
	w       *writerState // built by the first write

	cacheMu  sync.Mutex
	delCache map[string][]filePositions // delete files read, by name (immutable)
}

// Open opens the silver table name in store, reading its manifest. A table with no
// snapshot yet is empty: its first Apply creates it.
func Open(ctx context.Context, store bronze.Store, name string, cfg Config) (*Table, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if name == "" {
		return nil, fmt.Errorf("silver: empty table name")
	}
	if err := bronze.ValidName(tableDir(name) + "x"); err != nil {
		return nil, fmt.Errorf("silver: table %q: %w", name, err)
	}
	t := &Table{store: store, name: name, cfg: cfg.withDefaults(), delCache: map[string][]filePositions{}}
	if err := t.Refresh(ctx); err != nil {
		return nil, err
	}
	return t, nil
}

// Refresh rereads the manifest, so that snapshots another process published are seen.
// It must not be called on a table this process writes.
func (t *Table) Refresh(ctx context.Context) error {
	snaps, err := readManifest(ctx, t.store, t.name)
	if err != nil {
		return err
	}
	schemas, err := schemaVersions(t.name, snaps)
	if err != nil {
		return err
	}
	for _, s := range snaps {
		if s.SchemaVersion > 0 && schemas[s.SchemaVersion] == nil {
			return fmt.Errorf("%w: %s: snapshot %d is at schema version %d, which no snapshot registers", ErrManifest, t.name, s.ID, s.SchemaVersion)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.snaps, t.schemas = snaps, schemas
	t.w = nil
	return nil
}

// Name returns the table's name.
func (t *Table) Name() string { return t.name }

// Snapshots returns every snapshot, oldest first.
func (t *Table) Snapshots() []Snapshot {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.snaps)
}

// Latest returns the latest snapshot; false when the table has none.
func (t *Table) Latest() (Snapshot, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.snaps) == 0 {
		return Snapshot{}, false
	}
	return t.snaps[len(t.snaps)-1], true
}

// Position returns the commit position of the last transaction applied: the point to
// resume after (zero for a new table).
func (t *Table) Position() cdc.Position {
	s, _ := t.Latest()
	return s.Position
}

// Schema returns the table's latest schema (nil for a table with no snapshot).
func (t *Table) Schema() *change.Schema {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.snaps) == 0 {
		return nil
	}
	return t.schemas[t.snaps[len(t.snaps)-1].SchemaVersion]
}

// Snapshot returns the snapshot with the given id (0: the latest).
func (t *Table) Snapshot(id uint64) (Snapshot, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if id == 0 && len(t.snaps) > 0 {
		return t.snaps[len(t.snaps)-1], nil
	}
	if id == 0 || id > uint64(len(t.snaps)) {
		return Snapshot{}, fmt.Errorf("%w: %s has snapshots 1..%d, not %d", ErrNoSnapshot, t.name, len(t.snaps), id)
	}
	return t.snaps[id-1], nil
}

// SnapshotAt returns the latest snapshot that applied transactions only up to commit
// position pos: the table as of pos.
func (t *Table) SnapshotAt(pos cdc.Position) (Snapshot, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	i := sort.Search(len(t.snaps), func(i int) bool { return pos.Less(t.snaps[i].Position) })
	if i == 0 {
		return Snapshot{}, fmt.Errorf("%w: %s has no snapshot at or before position %s", ErrNoSnapshot, t.name, pos)
	}
	return t.snaps[i-1], nil
}

// view is what a read needs of one snapshot, copied under the lock.
type view struct {
	snap   Snapshot
	schema *change.Schema
	st     *state
	snaps  []Snapshot
	vers   map[int]*change.Schema
}

func (t *Table) viewAt(id uint64) (view, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if id == 0 {
		id = uint64(len(t.snaps))
	}
	if id == 0 {
		return view{}, fmt.Errorf("%w: %s has no snapshot yet", ErrNoSnapshot, t.name)
	}
	if id > uint64(len(t.snaps)) {
		return view{}, fmt.Errorf("%w: %s has snapshots 1..%d, not %d", ErrNoSnapshot, t.name, len(t.snaps), id)
	}
	snaps := t.snaps[:id]
	s := snaps[id-1]
	return view{snap: s, schema: t.schemas[s.SchemaVersion], st: stateAt(snaps), snaps: snaps, vers: t.schemas}, nil
}

// deletes returns the dead-row bitmaps, per data file name, of the live delete files
// of st (entries naming files not live in st are ignored).
func (t *Table) deletes(ctx context.Context, st *state) (map[string][]uint64, error) {
	out := map[string][]uint64{}
	for _, d := range st.deletes {
		fps, err := t.readDeletes(ctx, d)
		if err != nil {
			return nil, err
		}
		for _, fp := range fps {
			i, ok := st.dataIdx[fp.file]
			if !ok {
				continue
			}
			bm := out[fp.file]
			if bm == nil {
				bm = make([]uint64, (st.data[i].Rows+63)/64)
				out[fp.file] = bm
			}
			for _, p := range fp.pos {
				if p < 0 || p >= st.data[i].Rows {
					return nil, fmt.Errorf("%w: %s names row %d of %s, which has %d rows", ErrFile, d.Name, p, fp.file, st.data[i].Rows)
				}
				bm[p>>6] |= 1 << (p & 63)
			}
		}
	}
	return out, nil
}

func (t *Table) readDeletes(ctx context.Context, d DeleteFile) ([]filePositions, error) {
	t.cacheMu.Lock()
	fps, ok := t.delCache[d.Name]
	t.cacheMu.Unlock()
	if ok {
		return fps, nil
	}
	data, err := readChecked(ctx, t.store, d.Name, d.Bytes, d.SHA256)
	if err != nil {
		return nil, fmt.Errorf("silver: %s: %w", t.name, err)
	}
	fps, err = decodeDeletes(ctx, data, d.Name, t.cfg.Mem)
	if err != nil {
		return nil, err
	}
	t.cacheMu.Lock()
	t.delCache[d.Name] = fps
	t.cacheMu.Unlock()
	return fps, nil
}

func sortStrings(s []string) { slices.Sort(s) }

// Files returns the number of live data files and delete files of the latest snapshot,
// and their bytes.
func (t *Table) Files() (data, deletes int, bytes int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := stateAt(t.snaps)
	for _, f := range st.data {
		bytes += f.Bytes
	}
	for _, d := range st.deletes {
		bytes += d.Bytes
	}
	return len(st.data), len(st.deletes), bytes
}

// Advance records that the table has applied everything up to commit position pos:
// transactions up to pos touched no row of it. It publishes a snapshot without files
// (Op "advance") so that a restart resumes after pos instead of reading those
// transactions again; false when the table already is at or past pos, or has no
// snapshot yet.
func (t *Table) Advance(ctx context.Context, pos cdc.Position) (Snapshot, bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(t.snaps)
	if n == 0 || !t.snaps[n-1].Position.Less(pos) {
		return Snapshot{}, false, nil
	}
	prev := t.snaps[n-1]
	s := Snapshot{Table: t.name, ID: prev.ID + 1, Time: t.cfg.Now().UTC(), Op: "advance", Position: pos,
		SchemaVersion: prev.SchemaVersion, Rows: prev.Rows}
	if err := publish(ctx, t.store, s); err != nil {
		return Snapshot{}, false, err
	}
	t.snaps = append(t.snaps, s)
	return s, true, nil
}
