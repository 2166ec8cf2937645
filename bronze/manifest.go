package bronze

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/strata-data/strata/cdc"
)

// Manifest errors, matched with errors.Is.
var (
	// ErrChecksum: a file's bytes do not match the checksum its commit recorded.
	ErrChecksum = errors.New("bronze: checksum mismatch")
	// ErrConflict: another writer published the commit this one tried to.
	ErrConflict = errors.New("bronze: commit conflict")
	// ErrManifest: the manifest is damaged (unreadable entry, gap in commit ids).
	ErrManifest = errors.New("bronze: damaged manifest")
)

// ManifestPrefix is where commits live; DataPrefix is where data files live;
// SnapshotPrefix is where compacted snapshots live.
const (
	ManifestPrefix = "manifest/"
	DataPrefix     = "bronze/"
	SnapshotPrefix = "snapshot/"
)

// FileEntry is one data file a commit adds.
type FileEntry struct {
	Name          string       `json:"name"`
	Table         string       `json:"table"`
	Rows          int64        `json:"rows"`
	Bytes         int64        `json:"bytes"`
	SHA256        string       `json:"sha256"`
	MinPos        cdc.Position `json:"min_pos"`
	MaxPos        cdc.Position `json:"max_pos"`
	SchemaVersion int          `json:"schema_version,omitempty"`
}

// Commit is one entry of the manifest: the files it makes visible and how far into the
// source it reaches. A commit never splits a transaction: Position is the commit
// position of the last whole transaction it holds, the point to resume after.
type Commit struct {
	ID       uint64       `json:"id"`
	Time     time.Time    `json:"time"`
	Position cdc.Position `json:"position"`
	Txs      int64        `json:"txs"`
	Files    []FileEntry  `json:"files"`
	// Schemas are the table schema versions this commit registers; a version is
	// registered in the same commit as the first file that uses it.
	Schemas []SchemaEntry `json:"schemas,omitempty"`
	// Snapshots are compacted per-table snapshots this commit adds.
	Snapshots []SnapshotEntry `json:"snapshots,omitempty"`
	// Removed names files of earlier commits that this commit drops (retention): a
	// snapshot covers everything they held.
	Removed []string `json:"removed,omitempty"`
}

// SchemaEntry registers one version of a table's schema.
type SchemaEntry struct {
	Table   string `json:"table"`
	Version int    `json:"version"`
	// Schema and KeySchema are the change.Schema as JSON (the form event file headers
	// carry as strata.schema and strata.key_schema); KeySchema is absent without a key.
	Schema    json.RawMessage `json:"schema"`
	KeySchema json.RawMessage `json:"key_schema,omitempty"`
}

// SnapshotEntry is a compacted snapshot of one table: the latest row per key as of
// Position (the position of commit CommitID), as one Parquet file.
type SnapshotEntry struct {
	Table         string       `json:"table"`
	Name          string       `json:"name"`
	Rows          int64        `json:"rows"`
	Bytes         int64        `json:"bytes"`
	SHA256        string       `json:"sha256"`
	CommitID      uint64       `json:"commit_id"`
	Position      cdc.Position `json:"position"`
	SchemaVersion int          `json:"schema_version"`
}

// Manifest is the append-only log of commits. A commit becomes visible through one
// atomic put of its entry; with a store that has a conditional put, two writers can
// never both publish the same commit id. A Manifest is safe for concurrent use.
type Manifest struct {
	store   Store
	mu      sync.Mutex
	commits []Commit
}

func commitName(id uint64) string { return fmt.Sprintf("%s%020d.json", ManifestPrefix, id) }

// OpenManifest reads every commit of the store's manifest, checking that ids run
// 1, 2, 3, ... without a gap and that each entry parses.
func OpenManifest(ctx context.Context, store Store) (*Manifest, error) {
	names, err := store.List(ctx, ManifestPrefix)
	if err != nil {
		return nil, fmt.Errorf("bronze: open manifest: %w", err)
	}
	m := &Manifest{store: store}
	for i, name := range names {
		id, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(name, ManifestPrefix), ".json"), 10, 64)
		if err != nil || commitName(id) != name {
			return nil, fmt.Errorf("%w: unexpected entry %s", ErrManifest, name)
		}
		if id != uint64(i)+1 {
			return nil, fmt.Errorf("%w: commit %d missing before %s", ErrManifest, i+1, name)
		}
		b, err := store.Get(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("bronze: open manifest: %w", err)
		}
		var c Commit
		if err := json.Unmarshal(b, &c); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrManifest, name, err)
		}
		if c.ID != id {
			return nil, fmt.Errorf("%w: %s holds commit %d", ErrManifest, name, c.ID)
		}
		m.commits = append(m.commits, c)
	}
	return m, nil
}

// Commits returns the commits in order (the slice is a copy; entries are shared).
func (m *Manifest) Commits() []Commit {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Commit(nil), m.commits...)
}

// Last returns the latest commit, if any.
func (m *Manifest) Last() (Commit, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.commits) == 0 {
		return Commit{}, false
	}
	return m.commits[len(m.commits)-1], true
}

// Position returns the source position to resume after: that of the latest commit.
func (m *Manifest) Position() cdc.Position {
	c, _ := m.Last()
	return c.Position
}

// Append publishes c as the next commit (its ID is assigned) and returns it. The files
// it lists must already be durable in the store. With a store that has a conditional
// put, a concurrent writer that won the id makes Append fail with ErrConflict (reopen
// the manifest to see its commit); without one, a single writer is assumed.
func (m *Manifest) Append(ctx context.Context, c Commit) (Commit, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.appendLocked(ctx, c)
}

// appendAtLast publishes c as the next commit at the position of the latest one: a
// commit that adds no source data (snapshots, retention) and so reaches no further,
// whatever a writer sharing the manifest published meanwhile.
func (m *Manifest) appendAtLast(ctx context.Context, c Commit) (Commit, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n := len(m.commits); n > 0 {
		c.Position = m.commits[n-1].Position
	}
	return m.appendLocked(ctx, c)
}

func (m *Manifest) appendLocked(ctx context.Context, c Commit) (Commit, error) {
	c.ID = uint64(len(m.commits)) + 1
	if c.Time.IsZero() {
		c.Time = time.Now().UTC()
	}
	if n := len(m.commits); n > 0 && c.Position.Less(m.commits[n-1].Position) {
		return Commit{}, fmt.Errorf("bronze: commit %d at %s goes back before commit %d at %s", c.ID, c.Position, n, m.commits[n-1].Position)
	}
	b, err := json.Marshal(c)
	if err != nil {
		return Commit{}, fmt.Errorf("bronze: commit %d: %w", c.ID, err)
	}
	if cp, ok := m.store.(ConditionalPutter); ok {
		err = cp.PutIfAbsent(ctx, commitName(c.ID), b)
		if errors.Is(err, ErrExists) {
			return Commit{}, fmt.Errorf("%w: commit %d was published by another writer", ErrConflict, c.ID)
		}
	} else {
		err = m.store.Put(ctx, commitName(c.ID), b)
	}
	if err != nil {
		return Commit{}, fmt.Errorf("bronze: commit %d: %w", c.ID, err)
	}
	m.commits = append(m.commits, c)
	return c, nil
}

// Entry returns the manifest entry of a data file put now: its size and checksum.
func Entry(name, table string, data []byte) FileEntry {
	sum := sha256.Sum256(data)
	return FileEntry{Name: name, Table: table, Bytes: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}
}

// ReadFile returns a committed file's bytes after checking them against its entry; a
// mismatch is an ErrChecksum naming the file.
func (m *Manifest) ReadFile(ctx context.Context, f FileEntry) ([]byte, error) {
	return readChecked(ctx, m.store, f.Name, f.Bytes, f.SHA256)
}

// readChecked returns an object's bytes after checking them against the size and
// sha256 its commit recorded; a mismatch is an ErrChecksum naming the object.
func readChecked(ctx context.Context, store Store, name string, size int64, sha string) ([]byte, error) {
	b, err := store.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	if int64(len(b)) != size || hex.EncodeToString(sum[:]) != sha {
		return nil, fmt.Errorf("%w: %s has %d bytes with sha256 %x, its commit recorded %d bytes with sha256 %s",
			ErrChecksum, name, len(b), sum, size, sha)
	}
	return b, nil
}

// Verify checks every live data file and snapshot (listed by a commit and not removed
// by a later one) against its checksum and returns every mismatch.
func (m *Manifest) Verify(ctx context.Context) error {
	commits := m.Commits()
	live := liveNames(commits)
	var errs []error
	for _, c := range commits {
		for _, f := range c.Files {
			if live[f.Name] != c.ID {
				continue
			}
			if _, err := m.ReadFile(ctx, f); err != nil {
				errs = append(errs, fmt.Errorf("commit %d: %w", c.ID, err))
			}
		}
		for _, s := range c.Snapshots {
			if live[s.Name] != c.ID {
				continue
			}
			if _, err := readChecked(ctx, m.store, s.Name, s.Bytes, s.SHA256); err != nil {
				errs = append(errs, fmt.Errorf("commit %d: snapshot of %s: %w", c.ID, s.Table, err))
			}
		}
	}
	return errors.Join(errs...)
}

// liveNames maps the name of every live data file and snapshot to the id of the commit
// whose entry for it is live: the last commit listing the name, unless a later one
// removes it.
func liveNames(commits []Commit) map[string]uint64 {
	live := map[string]uint64{}
	for _, c := range commits {
		for _, f := range c.Files {
			live[f.Name] = c.ID
		}
		for _, s := range c.Snapshots {
			live[s.Name] = c.ID
		}
		for _, n := range c.Removed {
			delete(live, n)
		}
	}
	return live
}

// RemovedFiles returns the names of data files and snapshots that retention dropped,
// each with the id of the commit that dropped it. A replay that meets one must start
// from a snapshot of its table instead.
func (m *Manifest) RemovedFiles() map[string]uint64 {
	commits := m.Commits()
	live := liveNames(commits)
	out := map[string]uint64{}
	for _, c := range commits {
		for _, n := range c.Removed {
			if _, ok := live[n]; !ok {
				out[n] = c.ID
			}
		}
	}
	return out
}

// CleanOrphans deletes data files and snapshots no live commit entry lists: what a
// writer that crashed between putting files and publishing their commit left behind,
// and files a retention commit removed before a crash let it delete them. Only one
// writer may run it, and only before it writes (another writer's uncommitted files look
// the same); compaction and retention are writers too.
func (m *Manifest) CleanOrphans(ctx context.Context) ([]string, error) {
	live := liveNames(m.Commits())
	var names []string
	for _, prefix := range []string{DataPrefix, SnapshotPrefix} {
		n, err := m.store.List(ctx, prefix)
		if err != nil {
			return nil, fmt.Errorf("bronze: clean orphans: %w", err)
		}
		names = append(names, n...)
	}
	var removed []string
	for _, n := range names {
		if _, ok := live[n]; ok {
			continue
		}
		if err := m.store.Delete(ctx, n); err != nil {
			return removed, fmt.Errorf("bronze: clean orphans: %w", err)
		}
		removed = append(removed, n)
	}
	return removed, nil
}
