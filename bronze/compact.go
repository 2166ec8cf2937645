package bronze

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/change"
)

// CompactOptions configures Compact; the zero value compacts every table up to the
// latest commit.
type CompactOptions struct {
	// Tables limits compaction to these tables (default: every table with data files).
	Tables []string
	// UpTo is the id of the commit to compact up to (default 0: the latest commit).
	UpTo uint64
	// Mem allocates the Arrow buffers of snapshots written and read back (default
	// memory.DefaultAllocator).
	Mem memory.Allocator
	// RowGroupRows is the number of rows per Parquet row group (default 131072).
	RowGroupRows int
	// Now is the clock for the commit's time (default time.Now).
	Now func() time.Time
	// Logger receives one summary line per snapshot (default slog.Default()).
	Logger *slog.Logger
}

// Validate reports a setting Compact cannot use.
func (o CompactOptions) Validate() error {
	if o.RowGroupRows < 0 {
		return fmt.Errorf("bronze: CompactOptions.RowGroupRows %d is negative", o.RowGroupRows)
	}
	for i, t := range o.Tables {
		if slices.Contains(o.Tables[:i], t) {
			return fmt.Errorf("bronze: CompactOptions.Tables names %q twice", t)
		}
	}
	return nil
}

func (o *CompactOptions) ensureDefaults() error {
	if err := o.Validate(); err != nil {
		return err
	}
	if o.Mem == nil {
		o.Mem = memory.DefaultAllocator
	}
	if o.RowGroupRows == 0 {
		o.RowGroupRows = 128 << 10
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}

// CompactReport is what Compact did.
type CompactReport struct {
	// Commit is the manifest commit that published the snapshots; its ID is 0 when no
	// table needed one.
	Commit Commit
	// Tables has one entry per table considered, in name order.
	Tables []TableCompaction
}

// Snapshots returns the snapshots written, in table order.
func (r CompactReport) Snapshots() []SnapshotEntry {
	var out []SnapshotEntry
	for _, t := range r.Tables {
		if t.Skipped == "" {
			out = append(out, t.Snapshot)
		}
	}
	return out
}

// Snapshot returns the snapshot written of table, if one was.
func (r CompactReport) Snapshot(table string) (SnapshotEntry, bool) {
	for _, t := range r.Tables {
		if t.Table == table && t.Skipped == "" {
			return t.Snapshot, true
		}
	}
	return SnapshotEntry{}, false
}

// TableCompaction reports one table's compaction.
type TableCompaction struct {
	Table string
	// Snapshot is the snapshot written (zero when Skipped is set).
	Snapshot SnapshotEntry
	// Skipped says why no snapshot was written: the table has no primary key, its latest
	// snapshot is current, ...
	Skipped string
	// Base is the commit id of the snapshot the fold started from (0: the first commit).
	Base uint64
	// Files and Events count the data files and events folded after Base.
	Files  int
	Events int64
	// Absent counts cells that partial images left absent with no earlier row to take
	// them from; the snapshot stores them as NULL.
	Absent int64
	// Duration is the time spent reading, folding and writing.
	Duration time.Duration
}

// Compact writes, for each table, a snapshot of its latest row per primary key as of
// commit opts.UpTo: it starts from the table's latest snapshot at or before that commit
// (read back from Parquet) and folds the table's events of the later commits in commit
// order. A create, read or update makes the row under its key the after image (columns
// absent from a partial image keep the previous row's values); a delete removes the key;
// a truncate empties the table; tombstones, messages and transaction metadata change
// nothing. Each snapshot is put durably, then one manifest commit lists them all (it
// adds no files and keeps the latest commit's position).
//
// A snapshot is written in the table's latest schema version within the range (from
// the manifest's registry, [Schemas]): rows and images of older versions, and an older
// base snapshot, are read through it with change.Evolution. Tables without a primary
// key, and tables whose latest snapshot is already current, are skipped and reported.
//
// Compaction is a writer of the lake: pass the manifest of the lake's Writer
// (Writer.Manifest) when one runs in the same process, and never run it in another
// process while a writer opens the lake, whose orphan cleaning would take its snapshots
// for leftovers.
func Compact(ctx context.Context, m *Manifest, opts CompactOptions) (CompactReport, error) {
	if err := opts.ensureDefaults(); err != nil {
		return CompactReport{}, err
	}
	commits := m.Commits()
	if len(commits) == 0 {
		return CompactReport{}, nil
	}
	upTo := opts.UpTo
	if upTo == 0 {
		upTo = commits[len(commits)-1].ID
	}
	if upTo > uint64(len(commits)) {
		return CompactReport{}, fmt.Errorf("bronze: compact up to commit %d: the manifest ends at commit %d", upTo, len(commits))
	}
	target := commits[upTo-1]
	schemas, err := NewSchemas(commits[:upTo])
	if err != nil {
		return CompactReport{}, fmt.Errorf("bronze: compact: %w", err)
	}
	plans, skipped, err := planCompaction(commits, schemas, upTo, opts.Tables)
	if err != nil {
		return CompactReport{}, err
	}

	var rep CompactReport
	rep.Tables = skipped
	var entries []SnapshotEntry
	for _, p := range plans {
		if err := ctx.Err(); err != nil {
			return CompactReport{}, err
		}
		tc, err := compactTable(ctx, m, p, target, opts)
		if err != nil {
			return CompactReport{}, err
		}
		rep.Tables = append(rep.Tables, tc)
		if tc.Skipped == "" {
			entries = append(entries, tc.Snapshot)
		}
	}
	sort.Slice(rep.Tables, func(i, j int) bool { return rep.Tables[i].Table < rep.Tables[j].Table })
	if len(entries) > 0 {
		c, err := m.appendAtLast(ctx, Commit{Time: opts.Now().UTC(), Snapshots: entries})
		if err != nil {
			return CompactReport{}, fmt.Errorf("bronze: compact: publishing %d snapshots: %w", len(entries), err)
		}
		rep.Commit = c
	}
	for _, t := range rep.Tables {
		if t.Skipped != "" {
			opts.Logger.Info("bronze: compaction skipped a table", "table", t.Table, "reason", t.Skipped)
			continue
		}
		opts.Logger.Info("bronze: snapshot", "table", t.Table, "rows", t.Snapshot.Rows, "bytes", t.Snapshot.Bytes,
			"duration", t.Duration, "as_of_commit", t.Snapshot.CommitID, "base", t.Base, "files", t.Files,
			"events", t.Events, "absent", t.Absent, "commit", rep.Commit.ID)
	}
	return rep, nil
}

// tablePlan is the work of one table's compaction.
type tablePlan struct {
	table   string
	base    SnapshotEntry
	hasBase bool
	tail    [][]FileEntry // the table's files of each commit after the base, in commit order
	ids     []uint64      // the commit id of each tail entry
	// version is the latest schema version in range, the snapshot's; schema is its
	// registered schema (nil in a lake without registrations, where the files' own
	// schema, one version only, is taken).
	version int
	schema  *change.Schema
}

// planCompaction decides, from the manifest alone, what each table's compaction reads
// and the schema version its snapshot is written in.
func planCompaction(commits []Commit, schemas *Schemas, upTo uint64, only []string) ([]tablePlan, []TableCompaction, error) {
	live := liveNames(commits)
	seen := map[string]bool{}
	var tables []string
	for _, c := range commits[:upTo] {
		for _, f := range c.Files {
			if f.Table != "" && !seen[f.Table] {
				seen[f.Table] = true
				tables = append(tables, f.Table)
			}
		}
		for _, s := range c.Snapshots {
			if !seen[s.Table] {
				seen[s.Table] = true
				tables = append(tables, s.Table)
			}
		}
	}
	var skipped []TableCompaction
	if len(only) > 0 {
		var keep []string
		for _, t := range only {
			if seen[t] {
				keep = append(keep, t)
			} else {
				skipped = append(skipped, TableCompaction{Table: t, Skipped: fmt.Sprintf("no data files up to commit %d", upTo)})
			}
		}
		tables = keep
	}
	sort.Strings(tables)

	var plans []tablePlan
	for _, t := range tables {
		p := tablePlan{table: t}
		p.base, p.hasBase = latestSnapshot(commits, live, t, upTo)
		if p.hasBase && p.base.CommitID == upTo {
			skipped = append(skipped, TableCompaction{Table: t, Base: upTo, Skipped: fmt.Sprintf("the snapshot at commit %d is current", upTo)})
			continue
		}
		lo := 0 // the oldest version in range
		see := func(v int) {
			if v > 0 && (lo == 0 || v < lo) {
				lo = v
			}
			p.version = max(p.version, v)
		}
		if p.hasBase {
			see(p.base.SchemaVersion)
		}
		for _, c := range commits[p.base.CommitID:upTo] {
			var files []FileEntry
			for _, f := range c.Files {
				if f.Table != t {
					continue
				}
				if live[f.Name] != c.ID {
					return nil, nil, fmt.Errorf("bronze: compact %s: file %s of commit %d was removed and no snapshot at or before commit %d covers it",
						t, f.Name, c.ID, upTo)
				}
				see(f.SchemaVersion)
				files = append(files, f)
			}
			if len(files) > 0 {
				p.tail = append(p.tail, files)
				p.ids = append(p.ids, c.ID)
			}
		}
		if len(p.tail) == 0 {
			skipped = append(skipped, TableCompaction{Table: t, Base: p.base.CommitID,
				Skipped: fmt.Sprintf("no changes after the snapshot at commit %d", p.base.CommitID)})
			continue
		}
		if sv, ok := schemas.Version(t, p.version); ok {
			p.schema = sv.Schema
		} else if lo != p.version {
			return nil, nil, fmt.Errorf("bronze: compact %s: schema versions %d..%d in range, but version %d is not registered in the manifest up to commit %d",
				t, lo, p.version, p.version, upTo)
		}
		plans = append(plans, p)
	}
	return plans, skipped, nil
}

// errKeyless stops the fold of a table without a primary key.
var errKeyless = errors.New("no primary key")

// fold is the state of one table being compacted: its latest row per encoded key, in
// the snapshot's schema.
type fold struct {
	table    string
	schema   *change.Schema // the snapshot's schema (nil until known)
	version  int
	keyCols  []int
	unsigned []bool
	rows     map[string]change.Row
	evos     map[*change.Schema]*change.Evolution // to the snapshot's schema; nil: identical
	key      []byte
	keyVals  change.Row    // the current event's key, typed by the snapshot's schema
	scratch  [4]change.Row // evolved after and before images, a key's source row and its evolution
	events   int64
}

// adopt makes s (version) the snapshot's schema.
func (f *fold) adopt(s *change.Schema, version int) error {
	if len(s.Key()) == 0 {
		return errKeyless
	}
	f.schema, f.version, f.keyCols = s, version, s.Key()
	f.unsigned = make([]bool, len(f.keyCols))
	for i, c := range f.keyCols {
		f.unsigned[i] = s.Field(c).Type.ID() == arrow.UINT64
	}
	f.keyVals = make(change.Row, len(f.keyCols))
	return nil
}

// evolution returns how rows of s (a file's or a base snapshot's schema, version
// version) become rows of the snapshot's schema: nil when they already are. Without a
// registered schema the first one seen is adopted.
func (f *fold) evolution(s *change.Schema, version int, where string) (*change.Evolution, error) {
	if s == nil {
		return nil, nil
	}
	if f.schema == nil {
		return nil, f.adopt(s, version)
	}
	if e, ok := f.evos[s]; ok {
		return e, nil
	}
	var e *change.Evolution
	if !f.schema.Equal(s) {
		var err error
		if e, err = change.NewEvolution(s, f.schema); err != nil {
			return nil, fmt.Errorf("%s has schema version %d, which cannot be read through version %d: %w", where, version, f.version, err)
		}
	}
	if f.evos == nil {
		f.evos = map[*change.Schema]*change.Evolution{}
	}
	f.evos[s] = e
	return e, nil
}

// rowKey sets f.key to the encoded key of a full row of the snapshot's schema.
func (f *fold) rowKey(row change.Row) {
	f.key = f.key[:0]
	for i, c := range f.keyCols {
		f.key = change.AppendKey(f.key, row[c], f.unsigned[i])
	}
}

// foldCursor reads one data file of a commit being merged.
type foldCursor struct {
	file   FileEntry
	r      *EventReader
	ev     cdc.Event
	n      int64
	from   *change.Schema    // the file's schema
	evo    *change.Evolution // from the file's schema to the snapshot's; nil: identical
	keyMap []int             // the key schema's column of each key column (nil: not yet mapped)
	keyCol []int             // the file schema's column of each key column (with evo)
}

// eventKey sets f.keyVals and f.key to the event's key, typed by the snapshot's schema:
// its Key, or else the key columns of image (already in the snapshot's schema). A Key
// of an older version goes through the file's evolution, as its row would.
func (f *fold) eventKey(cur *foldCursor, image change.Row) error {
	ev := &cur.ev
	if ev.Key != nil && ev.KeySchema != nil {
		if cur.keyMap == nil {
			cur.keyMap = make([]int, len(f.keyCols))
			for i, c := range f.keyCols {
				name := f.schema.Field(c).Name
				if cur.keyMap[i] = ev.KeySchema.FieldIndex(name); cur.keyMap[i] < 0 {
					return fmt.Errorf("its key schema (%s) lacks key column %q", ev.KeySchema, name)
				}
			}
		}
		if len(ev.Key) != ev.KeySchema.NumFields() {
			return fmt.Errorf("its key has %d values, its key schema %d columns", len(ev.Key), ev.KeySchema.NumFields())
		}
		if cur.evo == nil {
			for i, k := range cur.keyMap {
				f.keyVals[i] = ev.Key[k]
			}
		} else {
			if cur.keyCol == nil {
				cur.keyCol = make([]int, len(f.keyCols))
				for i, c := range f.keyCols { // key columns keep their names across versions
					cur.keyCol[i] = cur.from.FieldIndex(f.schema.Field(c).Name)
				}
			}
			row := f.scratch[2][:0]
			for range cur.from.NumFields() {
				row = append(row, change.Absent())
			}
			for i, k := range cur.keyMap {
				row[cur.keyCol[i]] = ev.Key[k]
			}
			f.scratch[2] = row
			evolved := cur.evo.Apply(f.scratch[3], row)
			f.scratch[3] = evolved
			for i, c := range f.keyCols {
				f.keyVals[i] = evolved[c]
			}
		}
	} else {
		if image == nil {
			return errors.New("it has neither a key nor an image to take one from")
		}
		for i, c := range f.keyCols {
			if image[c].IsAbsent() {
				return fmt.Errorf("it has no key and key column %q is absent from its image", f.schema.Field(c).Name)
			}
			f.keyVals[i] = image[c]
		}
	}
	f.key = f.key[:0]
	for i, v := range f.keyVals {
		f.key = change.AppendKey(f.key, v, f.unsigned[i])
	}
	return nil
}

// image returns an image of the event in the snapshot's schema: converted by the
// file's evolution into scratch buffer i, or as it is.
func (f *fold) image(cur *foldCursor, img change.Row, i int) (change.Row, error) {
	if img == nil || cur.evo == nil {
		return img, nil
	}
	if len(img) != cur.from.NumFields() {
		return nil, fmt.Errorf("an image has %d values, the file's schema %d columns", len(img), cur.from.NumFields())
	}
	f.scratch[i] = cur.evo.Apply(f.scratch[i], img)
	return f.scratch[i], nil
}

// detach copies a value out of the memory of the file it was decoded from, so a row
// kept in the fold does not keep the file's block alive.
func detach(v change.Value) change.Value {
	switch v.Kind() {
	case change.KindString:
		return change.Str(strings.Clone(v.AsString()))
	case change.KindBytes:
		return change.BytesString(strings.Clone(v.AsString()))
	}
	return v
}

// apply folds one event into the state.
func (f *fold) apply(cur *foldCursor) error {
	ev := &cur.ev
	switch ev.Op {
	case cdc.OpCreate, cdc.OpRead, cdc.OpUpdate:
		if ev.After == nil {
			return errors.New("it has no after image")
		}
		if f.schema == nil {
			return errors.New("its file has no schema")
		}
		after, err := f.image(cur, ev.After, 0)
		if err != nil {
			return err
		}
		if len(after) != f.schema.NumFields() {
			return fmt.Errorf("its after image has %d values, the schema %d columns", len(after), f.schema.NumFields())
		}
		if err := f.eventKey(cur, after); err != nil {
			return err
		}
		if prev, ok := f.rows[string(f.key)]; ok {
			for i, v := range after {
				if !v.IsAbsent() {
					prev[i] = detach(v)
				}
			}
			return nil
		}
		row := make(change.Row, len(after))
		for i, v := range after {
			row[i] = detach(v)
		}
		for i, c := range f.keyCols { // a key column absent from the image: take the key's value
			if row[c].IsAbsent() {
				row[c] = detach(f.keyVals[i])
			}
		}
		f.rows[string(f.key)] = row
	case cdc.OpDelete:
		if f.schema == nil || len(f.rows) == 0 {
			return nil // nothing to delete; before any row image the table is empty
		}
		before, err := f.image(cur, ev.Before, 1)
		if err != nil {
			return err
		}
		if err := f.eventKey(cur, before); err != nil {
			return err
		}
		delete(f.rows, string(f.key))
	case cdc.OpTruncate:
		clear(f.rows)
	}
	return nil
}

// compactTable folds one table and writes its snapshot.
func compactTable(ctx context.Context, m *Manifest, p tablePlan, target Commit, opts CompactOptions) (TableCompaction, error) {
	start := time.Now()
	tc := TableCompaction{Table: p.table, Base: p.base.CommitID}
	f := &fold{table: p.table, rows: map[string]change.Row{}}
	if p.schema != nil {
		if err := f.adopt(p.schema, p.version); err != nil {
			tc.Skipped = "no primary key"
			return tc, nil
		}
	}
	if p.hasBase {
		b, err := ReadSnapshot(ctx, m.store, p.base, opts.Mem)
		if err != nil {
			return tc, fmt.Errorf("bronze: compact %s: %w", p.table, err)
		}
		evo, err := f.evolution(b.Schema(), p.base.SchemaVersion, "snapshot "+p.base.Name)
		if err == nil {
			for i := 0; i < b.Len(); i++ {
				row := b.Row(i)
				if evo != nil {
					row = evo.Apply(nil, row)
				}
				f.rowKey(row)
				f.rows[string(f.key)] = row
			}
		}
		b.Release()
		if errors.Is(err, errKeyless) {
			tc.Skipped = "no primary key"
			return tc, nil
		}
		if err != nil {
			return tc, fmt.Errorf("bronze: compact %s: %w", p.table, err)
		}
	}
	for i, files := range p.tail {
		if err := ctx.Err(); err != nil {
			return tc, err
		}
		err := f.foldCommit(ctx, m, files)
		if errors.Is(err, errKeyless) {
			tc.Skipped = "no primary key"
			tc.Duration = time.Since(start)
			return tc, nil
		}
		if err != nil {
			return tc, fmt.Errorf("bronze: compact %s: commit %d: %w", p.table, p.ids[i], err)
		}
		tc.Files += len(files)
	}
	tc.Events = f.events
	if f.schema == nil {
		tc.Skipped = "no schema: its files hold only events without row images"
		tc.Duration = time.Since(start)
		return tc, nil
	}

	keys := make([]string, 0, len(f.rows))
	for k := range f.rows {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	rows := make([]change.Row, len(keys))
	for i, k := range keys {
		rows[i] = f.rows[k]
	}
	name := snapshotName(p.table, target.ID)
	var buf bytes.Buffer
	absent, err := encodeSnapshot(&buf, f.schema, snapshotMeta{
		table: p.table, version: f.version, commitID: target.ID, position: target.Position.String(),
	}, rows, opts.Mem, opts.RowGroupRows)
	if err != nil {
		return tc, fmt.Errorf("bronze: compact %s: snapshot %s as of commit %d at %s: %w", p.table, name, target.ID, target.Position, err)
	}
	if err := m.store.Put(ctx, name, buf.Bytes()); err != nil {
		return tc, fmt.Errorf("bronze: compact %s: %w", p.table, err)
	}
	e := Entry(name, p.table, buf.Bytes())
	tc.Snapshot = SnapshotEntry{
		Table: p.table, Name: name, Rows: int64(len(rows)), Bytes: e.Bytes, SHA256: e.SHA256,
		CommitID: target.ID, Position: target.Position, SchemaVersion: f.version,
	}
	tc.Absent = absent
	tc.Duration = time.Since(start)
	return tc, nil
}

// foldCommit folds the table's files of one commit, merging their events by position:
// one commit may hold several files of a table (schema versions, events without a
// schema such as truncates, files split at MaxFileEvents), each in commit order.
func (f *fold) foldCommit(ctx context.Context, m *Manifest, files []FileEntry) error {
	curs := make([]*foldCursor, 0, len(files))
	defer func() {
		for _, c := range curs {
			c.r.Close()
		}
	}()
	for _, fe := range files {
		data, err := m.ReadFile(ctx, fe)
		if err != nil {
			return err
		}
		r, err := NewEventReader(bytes.NewReader(data))
		if err != nil {
			return fmt.Errorf("file %s: %w", fe.Name, err)
		}
		cur := &foldCursor{file: fe, r: r}
		curs = append(curs, cur)
		cur.from, _ = r.Schema()
		if cur.evo, err = f.evolution(cur.from, fe.SchemaVersion, "file "+fe.Name); err != nil {
			return err
		}
	}
	advance := func(c *foldCursor) (bool, error) {
		if c.r.Next() {
			c.ev = c.r.Event()
			c.n++
			return true, nil
		}
		if err := c.r.Err(); err != nil {
			return false, fmt.Errorf("file %s: %w", c.file.Name, err)
		}
		if c.n != c.file.Rows {
			return false, fmt.Errorf("file %s: %d events, its commit recorded %d", c.file.Name, c.n, c.file.Rows)
		}
		return false, nil
	}
	active := curs[:0:0]
	for _, c := range curs {
		ok, err := advance(c)
		if err != nil {
			return err
		}
		if ok {
			active = append(active, c)
		}
	}
	for len(active) > 0 {
		best := 0
		for i := 1; i < len(active); i++ {
			if active[i].ev.Pos.Less(active[best].ev.Pos) {
				best = i
			}
		}
		c := active[best]
		if err := f.apply(c); err != nil {
			return fmt.Errorf("file %s: %s at %s: %w", c.file.Name, c.ev.Op, c.ev.Pos, err)
		}
		f.events++
		ok, err := advance(c)
		if err != nil {
			return err
		}
		if !ok {
			active = slices.Delete(active, best, best+1)
		}
	}
	return nil
}
