package silver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/strata-data/strata/bronze"
	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/change"
)

// Errors of silver tables, matched with errors.Is.
var (
	// ErrManifest: a table's manifest is damaged (an unreadable entry, a gap in ids).
	ErrManifest = errors.New("silver: damaged manifest")
	// ErrConflict: another writer published the snapshot this one tried to.
	ErrConflict = errors.New("silver: commit conflict")
	// ErrChecksum: a file's bytes do not match the checksum its snapshot recorded.
	ErrChecksum = errors.New("silver: checksum mismatch")
	// ErrNoSnapshot: no snapshot has the id, or none is at or before the position.
	ErrNoSnapshot = errors.New("silver: no such snapshot")
	// ErrNotFound: the lake has no silver table of that name.
	ErrNotFound = errors.New("silver: no such table")
	// ErrApply: a transaction could not be applied (no key, incompatible schema, a
	// malformed event); nothing of the batch was committed.
	ErrApply = errors.New("silver: cannot apply transaction")
	// ErrFile: a data or delete file does not hold what its snapshot says.
	ErrFile = errors.New("silver: malformed file")
)

// Prefix is where every silver table lives in a lake's store:
// silver/{Escape(table)}/manifest/{id:020d}.json for its snapshots,
// silver/{Escape(table)}/data/ and .../deletes/ for its Parquet files.
const Prefix = "silver/"

// DataFile is one Parquet data file a snapshot adds.
type DataFile struct {
	Name          string `json:"name"`
	Rows          int64  `json:"rows"`
	Bytes         int64  `json:"bytes"`
	SHA256        string `json:"sha256"`
	SchemaVersion int    `json:"schema_version"`
	// Partition is the file's partition: "COLUMN=VALUE" (the value as AppendText
	// writes it) or "bucket=I/N" (bucket I of N of the key's hash); "" when the
	// table is not partitioned.
	Partition string `json:"partition,omitempty"`
}

// DeleteFile is one Parquet position-delete file a snapshot adds: (file, pos) pairs
// naming rows of earlier data files that are no longer live.
type DeleteFile struct {
	Name   string `json:"name"`
	Rows   int64  `json:"rows"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
	// Files are the data files it names; it is dropped once all of them are.
	Files []string `json:"files"`
}

// Snapshot is one entry of a table's manifest: one atomic commit.
type Snapshot struct {
	Table string    `json:"table"`
	ID    uint64    `json:"id"`
	Time  time.Time `json:"time"`
	// Op is what made it: "apply" (transactions), "compact" (files rewritten),
	// "advance" (transactions up to Position touched no row of the table).
	Op string `json:"op"`
	// Position is the commit position of the last transaction applied through this
	// snapshot: a restart resumes after it, and applying a transaction at or before
	// it again is a no-op.
	Position cdc.Position `json:"position"`
	// Txs and Changes count the transactions and row events this snapshot applied.
	Txs     int64 `json:"txs,omitempty"`
	Changes int64 `json:"changes,omitempty"`
	// Truncated: a truncate emptied the table before the snapshot's other changes.
	Truncated bool `json:"truncated,omitempty"`
	// SchemaVersion is the table's schema version as of this snapshot; Schema is set
	// (the change.Schema as JSON) on the snapshot that registers a version.
	SchemaVersion int             `json:"schema_version"`
	Schema        json.RawMessage `json:"schema,omitempty"`
	// Added and Removed are the data files made live and dropped; Deletes and
	// RemovedDeletes the same for delete files.
	Added          []DataFile   `json:"added,omitempty"`
	Removed        []string     `json:"removed,omitempty"`
	Deletes        []DeleteFile `json:"deletes,omitempty"`
	RemovedDeletes []string     `json:"removed_deletes,omitempty"`
	// Rows is the number of live rows as of this snapshot.
	Rows int64 `json:"rows"`
}

// tableDir is the store prefix of one table.
func tableDir(table string) string { return Prefix + bronze.Escape(table) + "/" }

func manifestName(table string, id uint64) string {
	return fmt.Sprintf("%smanifest/%020d.json", tableDir(table), id)
}

// readManifest reads every snapshot of table, checking ids run 1, 2, 3 ... without a
// gap. A table without snapshots returns none and no error.
func readManifest(ctx context.Context, store bronze.Store, table string) ([]Snapshot, error) {
	prefix := tableDir(table) + "manifest/"
	names, err := store.List(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("silver: %s: listing the manifest: %w", table, err)
	}
	out := make([]Snapshot, 0, len(names))
	for i, name := range names {
		id, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(name, prefix), ".json"), 10, 64)
		if err != nil || manifestName(table, id) != name {
			return nil, fmt.Errorf("%w: %s: unexpected entry %s", ErrManifest, table, name)
		}
		if id != uint64(i)+1 {
			return nil, fmt.Errorf("%w: %s: snapshot %d missing before %s", ErrManifest, table, i+1, name)
		}
		b, err := store.Get(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("silver: %s: %w", table, err)
		}
		var s Snapshot
		if err := json.Unmarshal(b, &s); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrManifest, name, err)
		}
		if s.ID != id || s.Table != table {
			return nil, fmt.Errorf("%w: %s holds snapshot %d of table %q", ErrManifest, name, s.ID, s.Table)
		}
		out = append(out, s)
	}
	return out, nil
}

// publish puts snapshot s as its table's manifest entry, with a conditional put where
// the store has one, so two writers cannot both publish one id.
func publish(ctx context.Context, store bronze.Store, s Snapshot) error {
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("silver: %s: snapshot %d: %w", s.Table, s.ID, err)
	}
	name := manifestName(s.Table, s.ID)
	if cp, ok := store.(bronze.ConditionalPutter); ok {
		err = cp.PutIfAbsent(ctx, name, b)
		if errors.Is(err, bronze.ErrExists) {
			return fmt.Errorf("%w: %s: snapshot %d was published by another writer", ErrConflict, s.Table, s.ID)
		}
	} else {
		err = store.Put(ctx, name, b)
	}
	if err != nil {
		return fmt.Errorf("silver: %s: publishing snapshot %d: %w", s.Table, s.ID, err)
	}
	return nil
}

// Tables returns the names of the silver tables in the lake, sorted.
func Tables(ctx context.Context, store bronze.Store) ([]string, error) {
	names, err := store.List(ctx, Prefix)
	if err != nil {
		return nil, fmt.Errorf("silver: listing tables: %w", err)
	}
	var out []string
	seen := map[string]bool{}
	for _, n := range names {
		rest := strings.TrimPrefix(n, Prefix)
		dir, file, ok := strings.Cut(rest, "/manifest/")
		if !ok || seen[dir] {
			continue
		}
		seen[dir] = true
		// The first entry names the table (an escape of a long name is not reversible).
		b, err := store.Get(ctx, Prefix+dir+"/manifest/"+file)
		if err != nil {
			return nil, fmt.Errorf("silver: listing tables: %w", err)
		}
		var s Snapshot
		if err := json.Unmarshal(b, &s); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrManifest, n, err)
		}
		out = append(out, s.Table)
	}
	sortStrings(out)
	return out, nil
}

// fileEntry computes the size and checksum of a file about to be put.
func checksum(data []byte) (int64, string) {
	sum := sha256.Sum256(data)
	return int64(len(data)), hex.EncodeToString(sum[:])
}

// readChecked returns a file's bytes after checking them against the size and sha256
// its snapshot recorded.
func readChecked(ctx context.Context, store bronze.Store, name string, size int64, sha string) ([]byte, error) {
	b, err := store.Get(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("silver: %s: %w", name, err)
	}
	if n, s := checksum(b); n != size || s != sha {
		return nil, fmt.Errorf("%w: %s has %d bytes with sha256 %s, its snapshot recorded %d bytes with sha256 %s",
			ErrChecksum, name, n, s, size, sha)
	}
	return b, nil
}

// schemaVersions folds the schema registrations of snapshots: version -> schema.
func schemaVersions(table string, snaps []Snapshot) (map[int]*change.Schema, error) {
	out := map[int]*change.Schema{}
	for _, s := range snaps {
		if len(s.Schema) == 0 {
			continue
		}
		sc, err := bronze.UnmarshalSchema(s.Schema)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: snapshot %d: schema version %d: %v", ErrManifest, table, s.ID, s.SchemaVersion, err)
		}
		out[s.SchemaVersion] = sc
	}
	return out, nil
}

// state is the set of live files as of one snapshot.
type state struct {
	data    []DataFile        // live data files, in the order they were added
	dataIdx map[string]int    // name -> index in data
	deletes []DeleteFile      // live delete files
	addedAt map[string]uint64 // file or delete file name -> snapshot id that added it
	removed map[string]uint64 // data file name -> snapshot id that removed it (if any)
}

// stateAt folds snapshots[0:n] into the live file set.
func stateAt(snaps []Snapshot) *state {
	st := &state{dataIdx: map[string]int{}, addedAt: map[string]uint64{}, removed: map[string]uint64{}}
	live := map[string]bool{}
	liveDel := map[string]bool{}
	var order []DataFile
	var dels []DeleteFile
	for _, s := range snaps {
		for _, n := range s.Removed {
			live[n] = false
			st.removed[n] = s.ID
		}
		for _, n := range s.RemovedDeletes {
			liveDel[n] = false
		}
		for _, f := range s.Added {
			live[f.Name] = true
			st.addedAt[f.Name] = s.ID
			order = append(order, f)
		}
		for _, d := range s.Deletes {
			liveDel[d.Name] = true
			st.addedAt[d.Name] = s.ID
			dels = append(dels, d)
		}
	}
	for _, f := range order {
		if live[f.Name] {
			st.dataIdx[f.Name] = len(st.data)
			st.data = append(st.data, f)
		}
	}
	for _, d := range dels {
		if liveDel[d.Name] {
			st.deletes = append(st.deletes, d)
		}
	}
	return st
}
