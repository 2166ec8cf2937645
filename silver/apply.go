package silver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/strata-data/strata/bronze"
	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/shuffle"
)

// loc addresses one stored row: a writer's file slot and the row within the file.
type loc struct{ file, row int32 }

// liveFile is a live data file as the writer tracks it.
type liveFile struct {
	f     DataFile
	dead  []uint64 // bitmap of dead rows
	ndead int64
}

// writerState is what a writing process keeps of the latest snapshot: its live files
// and where each key's live row is, so that an update or delete becomes a position
// delete without reading any data file.
type writerState struct {
	files []*liveFile // by slot; nil once removed
	slot  map[string]int32
	index *locIndex
}

// ensureWriter builds the writer state on the first write: it removes files no
// snapshot lists (left by a writer that crashed before publishing), then indexes the
// key of every live row. t.mu is held.
func (t *Table) ensureWriter(ctx context.Context) error {
	if t.w != nil {
		return nil
	}
	if err := t.cleanOrphans(ctx); err != nil {
		return err
	}
	w := &writerState{slot: map[string]int32{}, index: newLocIndex()}
	if len(t.snaps) == 0 {
		t.w = w
		return nil
	}
	st := stateAt(t.snaps)
	dead, err := t.deletes(ctx, st)
	if err != nil {
		return err
	}
	latest := t.snaps[len(t.snaps)-1]
	schema := t.schemas[latest.SchemaVersion]
	kc := newKeyCodec(schema)
	keyFields := make([]int, len(kc.cols))
	copy(keyFields, kc.cols)
	proj, err := project(schema, keyFields)
	if err != nil {
		return err
	}
	pkc := keyCodec{cols: make([]int, len(kc.cols)), unsigned: kc.unsigned}
	for i := range pkc.cols {
		pkc.cols[i] = i
	}
	var key []byte
	cols := make([]arrowArray, len(kc.cols))
	for _, f := range st.data {
		slot := int32(len(w.files))
		lf := &liveFile{f: f, dead: dead[f.Name]}
		if lf.dead == nil {
			lf.dead = make([]uint64, (f.Rows+63)/64)
		}
		for _, x := range lf.dead {
			lf.ndead += int64(popcount(x))
		}
		w.files = append(w.files, lf)
		w.slot[f.Name] = slot
		r, err := t.openFile(ctx, f, t.schemas, schema, keyFields, proj)
		if err != nil {
			return err
		}
		row := int64(0)
		for {
			rec, err := r.next()
			if err != nil {
				r.close()
				return fmt.Errorf("silver: %s: indexing %s: %w", t.name, f.Name, err)
			}
			if rec == nil {
				break
			}
			for c := range cols {
				cols[c] = rec.Column(c)
			}
			for i := 0; i < int(rec.NumRows()); i, row = i+1, row+1 {
				if lf.dead[row>>6]&(1<<(row&63)) != 0 {
					continue
				}
				key = pkc.arrays(key[:0], cols, i)
				w.index.set(string(key), loc{slot, int32(row)})
			}
		}
		r.close()
		if row != f.Rows {
			return fmt.Errorf("%w: %s has %d rows, its snapshot says %d", ErrFile, f.Name, row, f.Rows)
		}
	}
	t.w = w
	return nil
}

// cleanOrphans deletes data and delete files that no snapshot lists. t.mu is held.
func (t *Table) cleanOrphans(ctx context.Context) error {
	listed := map[string]bool{}
	for _, s := range t.snaps {
		for _, f := range s.Added {
			listed[f.Name] = true
		}
		for _, d := range s.Deletes {
			listed[d.Name] = true
		}
	}
	for _, sub := range []string{"data/", "deletes/"} {
		names, err := t.store.List(ctx, tableDir(t.name)+sub)
		if err != nil {
			return fmt.Errorf("silver: %s: cleaning orphans: %w", t.name, err)
		}
		for _, n := range names {
			if listed[n] {
				continue
			}
			if err := t.store.Delete(ctx, n); err != nil {
				return fmt.Errorf("silver: %s: cleaning orphans: %w", t.name, err)
			}
			t.cfg.Logger.Debug("silver: removed an orphan file", "table", t.name, "file", n)
		}
	}
	return nil
}

// openFile opens a live data file for reading through schema, projected to cols.
// vers are the table's schema versions as the caller saw them (the map is replaced,
// never changed, when a version is added, so a reader's copy stays valid).
func (t *Table) openFile(ctx context.Context, f DataFile, vers map[int]*change.Schema, schema *change.Schema, cols []int, proj *change.Schema) (*dataReader, error) {
	from := vers[f.SchemaVersion]
	if from == nil {
		return nil, fmt.Errorf("%w: %s: file %s is at schema version %d, which no snapshot registers", ErrManifest, t.name, f.Name, f.SchemaVersion)
	}
	data, err := readChecked(ctx, t.store, f.Name, f.Bytes, f.SHA256)
	if err != nil {
		return nil, fmt.Errorf("silver: %s: %w", t.name, err)
	}
	return openData(ctx, data, f.Name, from, schema, cols, proj, t.cfg.Mem, t.cfg.ScanBatchRows)
}

// entry states in an apply
const (
	entSet     = iota // row holds the key's new row
	entDeleted        // the key has no row
)

// entry is one key an apply touched.
type entry struct {
	key     string
	row     change.Row // the new row, in the apply's schema (entSet)
	state   uint8
	hasBase bool // a live row of the previous snapshot had the key
	base    loc
}

// applying is one Apply's work: the new state of every key it touched, kept in memory
// until the commit, so that nothing is visible before the snapshot is.
type applying struct {
	t         *Table
	schema    *change.Schema
	version   int
	newSchema bool
	codec     keyCodec
	idx       map[string]int32
	ents      []entry
	truncated bool
	evos      map[*change.Schema]*change.Evolution
	key       []byte
	oldKey    []byte
	keyVals   change.Row
	scratch   [3]change.Row
	fetched   map[int32]*change.Batch // data files read for partial images
	slab      []change.Value
	txs       int64
	changes   int64
	last      cdc.Position
}

// Apply applies whole transactions, in commit order, to the table and publishes the
// result as one snapshot, which it returns. Only events of this table count. MERGE
// semantics: a create, read or update upserts the after image by primary key (columns
// absent from a partial image keep the key's previous values), a delete removes the key
// (a before image that holds only the key is enough), an update whose before image has
// another key deletes that key first, and a truncate empties the table. Events of an
// older schema version are read through the table's; an event of a compatible newer
// version (change.CheckEvolution) evolves the table, whose older files are then read
// through the new version.
//
// Apply is atomic: on error nothing is published and the table is as before. It is
// idempotent: a transaction whose commit position is at or before the table's position
// (see Position) was applied already and is skipped, so re-applying after a crash
// applies each transaction exactly once. Transactions must carry their commit position
// and come in commit order; either mistake is an ErrApply. When nothing is left to
// apply, Apply publishes nothing and returns the latest snapshot (the zero Snapshot for
// an empty table).
func (t *Table) Apply(ctx context.Context, txs []cdc.Tx) (Snapshot, error) {
	start := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.ensureWriter(ctx); err != nil {
		return Snapshot{}, err
	}
	n := 0
	for i := range txs {
		for j := range txs[i].Events {
			if txs[i].Events[j].Table == t.name {
				n++
			}
		}
	}
	// Sized up front: growing the entries while the GC runs costs write barriers.
	a := &applying{t: t, idx: make(map[string]int32, n), ents: make([]entry, 0, n)}
	var latest Snapshot
	if n := len(t.snaps); n > 0 {
		latest = t.snaps[n-1]
		a.version = latest.SchemaVersion
		a.schema = t.schemas[a.version]
		a.codec = newKeyCodec(a.schema)
	}
	defer a.release()
	pos := latest.Position
	for i := range txs {
		tx := &txs[i]
		switch {
		case tx.Commit.IsZero():
			return Snapshot{}, fmt.Errorf("%w: %s: transaction %q (%d events) has no commit position", ErrApply, t.name, tx.ID, len(tx.Events))
		case tx.Commit.Compare(latest.Position) <= 0:
			continue // applied already: a redelivery after a crash
		case tx.Commit.Compare(pos) <= 0:
			return Snapshot{}, fmt.Errorf("%w: %s: transaction %q committed at %s comes after one committed at %s: not in commit order",
				ErrApply, t.name, tx.ID, tx.Commit, pos)
		}
		pos = tx.Commit
		n := int64(0)
		for j := range tx.Events {
			ev := &tx.Events[j]
			if ev.Table != t.name {
				continue
			}
			ok, err := a.event(ev)
			if err != nil {
				return Snapshot{}, fmt.Errorf("%w: %s: transaction %q committed at %s: %s event at %s: %w",
					ErrApply, t.name, tx.ID, tx.Commit, ev.Op, ev.Pos, err)
			}
			if ok {
				n++
			}
		}
		if n > 0 {
			a.txs++
			a.changes += n
			a.last = pos
		}
	}
	if a.txs == 0 {
		return latest, nil
	}
	a.last = pos
	s, err := t.commit(ctx, a)
	if err != nil {
		return Snapshot{}, err
	}
	if m := t.cfg.Metrics; m != nil {
		m.applied(t.name, a.txs, a.changes, time.Since(start))
	}
	return s, nil
}

// newRow returns a row of n values, carved from a slab: one allocation per thousand
// rows instead of one per row.
func (a *applying) newRow(n int) change.Row {
	if len(a.slab) < n {
		a.slab = make([]change.Value, 1024*n)
	}
	r := a.slab[:n:n]
	a.slab = a.slab[n:]
	return r
}

func (a *applying) release() {
	for _, b := range a.fetched {
		b.Release()
	}
}

// event applies one event; false for an event that changes no row (messages,
// tombstones, transaction markers).
func (a *applying) event(ev *cdc.Event) (bool, error) {
	switch ev.Op {
	case cdc.OpTruncate:
		a.truncated = true
		clear(a.idx)
		a.ents = a.ents[:0]
		return true, nil
	case cdc.OpCreate, cdc.OpRead, cdc.OpUpdate, cdc.OpDelete:
	default:
		return false, nil
	}
	if ev.Schema == nil {
		return false, errors.New("it has no schema")
	}
	evo, err := a.evolution(ev.Schema, ev.SchemaVersion)
	if err != nil {
		return false, err
	}
	nf := a.schema.NumFields()
	if ev.Op == cdc.OpDelete {
		img, err := a.image(ev.Before, evo, 1, ev.Schema)
		if err != nil {
			return false, err
		}
		if err := a.keyOf(ev, img, evo); err != nil {
			return false, err
		}
		a.delete(a.key)
		return true, nil
	}
	if ev.After == nil {
		return false, errors.New("it has no after image")
	}
	after, err := a.image(ev.After, evo, 0, ev.Schema)
	if err != nil {
		return false, err
	}
	if err := a.keyOf(ev, after, evo); err != nil {
		return false, err
	}
	var moved change.Row // the old key's row, when the key changed
	if ev.Op == cdc.OpUpdate && ev.Before != nil {
		// A key change within one update (as pgoutput can send): delete the old key.
		before, err := a.image(ev.Before, evo, 1, ev.Schema)
		if err != nil {
			return false, err
		}
		if a.hasKey(before) {
			a.oldKey = a.codec.row(a.oldKey[:0], before)
			if !bytes.Equal(a.oldKey, a.key) {
				// Columns absent from the after image (unchanged TOAST values) are the
				// old key's: read them before the old key goes.
				if hasAbsent(after) {
					if moved, err = a.prev(a.oldKey); err != nil {
						return false, err
					}
				}
				a.delete(a.oldKey)
			}
		}
	}
	row := a.newRow(nf)
	copy(row, after)
	if hasAbsent(row) {
		if err := a.complete(row, moved); err != nil {
			return false, err
		}
	}
	e := a.entry(a.key)
	e.row, e.state = row, entSet
	return true, nil
}

// image returns an image in the table's schema (converted into scratch buffer i).
func (a *applying) image(img change.Row, evo *change.Evolution, i int, from *change.Schema) (change.Row, error) {
	if img == nil {
		return nil, nil
	}
	if len(img) != from.NumFields() {
		return nil, fmt.Errorf("an image has %d values, its schema %d columns", len(img), from.NumFields())
	}
	if evo == nil {
		return img, nil
	}
	a.scratch[i] = evo.Apply(a.scratch[i], img)
	return a.scratch[i], nil
}

func (a *applying) hasKey(img change.Row) bool {
	if img == nil {
		return false
	}
	for _, c := range a.codec.cols {
		if img[c].IsAbsent() {
			return false
		}
	}
	return true
}

// keyOf sets a.key and a.keyVals to the event's key: the key columns of img when it
// has them all, else the event's Key (through the schema's evolution).
func (a *applying) keyOf(ev *cdc.Event, img change.Row, evo *change.Evolution) error {
	a.keyVals = a.keyVals[:0]
	if a.hasKey(img) {
		for _, c := range a.codec.cols {
			a.keyVals = append(a.keyVals, img[c])
		}
	} else {
		if ev.Key == nil || ev.KeySchema == nil {
			return errors.New("it has neither a key nor an image holding every key column")
		}
		if len(ev.Key) != ev.KeySchema.NumFields() {
			return fmt.Errorf("its key has %d values, its key schema %d columns", len(ev.Key), ev.KeySchema.NumFields())
		}
		row := a.scratch[2][:0]
		for range ev.Schema.NumFields() {
			row = append(row, change.Absent())
		}
		for i, f := range ev.KeySchema.Fields() {
			if j := ev.Schema.FieldIndex(f.Name); j >= 0 {
				row[j] = ev.Key[i]
			}
		}
		a.scratch[2] = row
		if evo != nil {
			row = evo.Apply(nil, row)
		}
		for _, c := range a.codec.cols {
			if row[c].IsAbsent() {
				return fmt.Errorf("its key (%s) lacks key column %q", ev.KeySchema, a.schema.Field(c).Name)
			}
			a.keyVals = append(a.keyVals, row[c])
		}
	}
	a.key = a.key[:0]
	for i, v := range a.keyVals {
		a.key = change.AppendKey(a.key, v, a.codec.unsigned[i])
	}
	return nil
}

// prev returns the current row of key (this apply's, or the stored one), or nil.
func (a *applying) prev(key []byte) (change.Row, error) {
	if i, ok := a.idx[string(key)]; ok {
		if e := &a.ents[i]; e.state == entSet {
			return e.row, nil
		}
		return nil, nil
	}
	if !a.truncated {
		if l, ok := a.t.w.index.get(string(key)); ok {
			return a.stored(l)
		}
	}
	return nil, nil
}

// complete fills the absent columns of a new row from prev, the row of the key it
// moved from, or else the key's previous row, and absent key columns from the key.
func (a *applying) complete(row, prev change.Row) error {
	if prev == nil {
		var err error
		if prev, err = a.prev(a.key); err != nil {
			return err
		}
	}
	for i, v := range row {
		if v.IsAbsent() && prev != nil {
			row[i] = prev[i]
		}
	}
	for i, c := range a.codec.cols {
		if row[c].IsAbsent() {
			row[c] = a.keyVals[i]
		}
	}
	return nil
}

// stored reads a stored row through the apply's schema (the slow path of partial
// images: the file is read whole once per apply).
func (a *applying) stored(l loc) (change.Row, error) {
	b, ok := a.fetched[l.file]
	if !ok {
		lf := a.t.w.files[l.file]
		cols := make([]int, a.schema.NumFields())
		for i := range cols {
			cols[i] = i
		}
		r, err := a.t.openFile(context.Background(), lf.f, a.t.schemas, a.schema, cols, a.schema)
		if err != nil {
			return nil, err
		}
		bld := change.NewBuilder(a.t.cfg.Mem, a.schema)
		defer bld.Release()
		for {
			rec, err := r.next()
			if err != nil {
				r.close()
				return nil, err
			}
			if rec == nil {
				break
			}
			for i := 0; i < int(rec.NumRows()); i++ {
				row := make(change.Row, rec.NumCols())
				for c := range row {
					row[c] = change.ValueAt(rec.Column(c), i)
				}
				if err := bld.Append(change.Insert, row); err != nil {
					r.close()
					return nil, err
				}
			}
		}
		r.close()
		b = bld.NewBatch()
		if a.fetched == nil {
			a.fetched = map[int32]*change.Batch{}
		}
		a.fetched[l.file] = b
	}
	if int(l.row) >= b.Len() {
		return nil, fmt.Errorf("%w: row %d of %s is past its end", ErrFile, l.row, a.t.w.files[l.file].f.Name)
	}
	return b.Row(int(l.row)), nil
}

// entry returns the entry of key, creating it (with the key's stored row as its base).
func (a *applying) entry(key []byte) *entry {
	if i, ok := a.idx[string(key)]; ok {
		return &a.ents[i]
	}
	k := string(key)
	e := entry{key: k}
	if !a.truncated {
		e.base, e.hasBase = a.t.w.index.get(k)
	}
	a.idx[k] = int32(len(a.ents))
	a.ents = append(a.ents, e)
	return &a.ents[len(a.ents)-1]
}

func (a *applying) delete(key []byte) {
	e := a.entry(key)
	e.row, e.state = nil, entDeleted
}

// evolution returns how images of s become images of the table's schema (nil: they
// already are). A table without a schema adopts s; a compatible newer schema evolves
// the table (the rows of this apply are converted).
func (a *applying) evolution(s *change.Schema, version int) (*change.Evolution, error) {
	if a.schema == nil {
		if len(s.Key()) == 0 {
			return nil, fmt.Errorf("the table has no primary key (schema %s)", s)
		}
		a.schema, a.version, a.newSchema = s, 1, true
		a.codec = newKeyCodec(s)
		return nil, nil
	}
	if s == a.schema {
		return nil, nil
	}
	if e, ok := a.evos[s]; ok {
		return e, nil
	}
	if a.schema.Equal(s) {
		a.cache(s, nil)
		return nil, nil
	}
	if change.CheckEvolution(a.schema, s) == nil {
		evo, err := change.NewEvolution(a.schema, s)
		if err != nil {
			return nil, err
		}
		for i := range a.ents {
			if a.ents[i].row != nil {
				a.ents[i].row = evo.Apply(nil, a.ents[i].row)
			}
		}
		for f, b := range a.fetched {
			b.Release()
			delete(a.fetched, f)
		}
		a.schema, a.newSchema = s, true
		a.version++
		a.codec = newKeyCodec(s)
		a.evos = nil
		return nil, nil
	}
	e, err := change.NewEvolution(s, a.schema)
	if err != nil {
		return nil, fmt.Errorf("its schema (version %d at the source) is neither an evolution of the table's nor readable through it: %w", version, err)
	}
	a.cache(s, e)
	return e, nil
}

func (a *applying) cache(s *change.Schema, e *change.Evolution) {
	if a.evos == nil {
		a.evos = map[*change.Schema]*change.Evolution{}
	}
	a.evos[s] = e
}

// commit writes the apply's files and publishes its snapshot. t.mu is held.
func (t *Table) commit(ctx context.Context, a *applying) (Snapshot, error) {
	w := t.w
	var prev Snapshot
	if n := len(t.snaps); n > 0 {
		prev = t.snaps[n-1]
	}
	s := Snapshot{Table: t.name, ID: prev.ID + 1, Time: t.cfg.Now().UTC(), Op: "apply", Position: a.last,
		Txs: a.txs, Changes: a.changes, Truncated: a.truncated, SchemaVersion: a.version}
	if a.newSchema {
		b, err := bronze.MarshalSchema(a.schema)
		if err != nil {
			return Snapshot{}, fmt.Errorf("silver: %s: %w", t.name, err)
		}
		s.Schema = b
	}
	dir := tableDir(t.name)

	// Rows to write, in key order, split by partition.
	live := make([]int32, 0, len(a.ents))
	for i := range a.ents {
		if a.ents[i].state == entSet {
			live = append(live, int32(i))
		}
	}
	slices.SortFunc(live, func(x, y int32) int {
		kx, ky := a.ents[x].key, a.ents[y].key
		switch {
		case kx < ky:
			return -1
		case kx > ky:
			return 1
		}
		return 0
	})
	labels, groups, err := t.partition(a.schema, a.ents, live)
	if err != nil {
		return Snapshot{}, err
	}
	var buf bytes.Buffer
	for g, rows := range groups {
		name := fmt.Sprintf("%sdata/%020d-%04d.parquet", dir, s.ID, g)
		buf.Reset()
		err := encodeData(&buf, a.schema, t.name, a.version, len(rows), func(i int) change.Row { return a.ents[rows[i]].row },
			t.cfg.Mem, t.cfg.RowGroupRows)
		if err != nil {
			return Snapshot{}, fmt.Errorf("silver: %s: writing %s: %w", t.name, name, err)
		}
		if err := t.store.Put(ctx, name, buf.Bytes()); err != nil {
			return Snapshot{}, fmt.Errorf("silver: %s: %w", t.name, err)
		}
		n, sum := checksum(buf.Bytes())
		s.Added = append(s.Added, DataFile{Name: name, Rows: int64(len(rows)), Bytes: n, SHA256: sum,
			SchemaVersion: a.version, Partition: labels[g]})
	}

	// Rows the apply made dead: position deletes, or whole files after a truncate.
	rows := prev.Rows
	if a.truncated {
		rows = 0
		for _, lf := range w.files {
			if lf != nil {
				s.Removed = append(s.Removed, lf.f.Name)
			}
		}
		for _, d := range stateAt(t.snaps).deletes {
			s.RemovedDeletes = append(s.RemovedDeletes, d.Name)
		}
	}
	dead := map[int32][]int64{}
	for i := range a.ents {
		if e := &a.ents[i]; e.hasBase {
			dead[e.base.file] = append(dead[e.base.file], int64(e.base.row))
		}
	}
	if len(dead) > 0 {
		var fps []filePositions
		var names []string
		for slot, pos := range dead {
			slices.Sort(pos)
			fps = append(fps, filePositions{file: w.files[slot].f.Name, pos: pos})
			rows -= int64(len(pos))
		}
		slices.SortFunc(fps, func(x, y filePositions) int {
			if x.file < y.file {
				return -1
			}
			return 1
		})
		n := int64(0)
		for _, fp := range fps {
			names = append(names, fp.file)
			n += int64(len(fp.pos))
		}
		name := fmt.Sprintf("%sdeletes/%020d.parquet", dir, s.ID)
		buf.Reset()
		if err := encodeDeletes(&buf, t.name, fps, t.cfg.Mem); err != nil {
			return Snapshot{}, fmt.Errorf("silver: %s: writing %s: %w", t.name, name, err)
		}
		if err := t.store.Put(ctx, name, buf.Bytes()); err != nil {
			return Snapshot{}, fmt.Errorf("silver: %s: %w", t.name, err)
		}
		size, sum := checksum(buf.Bytes())
		s.Deletes = append(s.Deletes, DeleteFile{Name: name, Rows: n, Bytes: size, SHA256: sum, Files: names})
	}
	s.Rows = rows + int64(len(live))
	if err := publish(ctx, t.store, s); err != nil {
		return Snapshot{}, err
	}

	// Published: the writer state follows.
	if a.truncated {
		w.files, w.slot, w.index = nil, map[string]int32{}, newLocIndex()
	}
	for slot, pos := range dead {
		lf := w.files[slot]
		for _, p := range pos {
			lf.dead[p>>6] |= 1 << (p & 63)
		}
		lf.ndead += int64(len(pos))
	}
	for i := range a.ents {
		if a.ents[i].state == entDeleted {
			w.index.del(a.ents[i].key)
		}
	}
	for g, rows := range groups {
		f := s.Added[g]
		slot := int32(len(w.files))
		w.files = append(w.files, &liveFile{f: f, dead: make([]uint64, (f.Rows+63)/64)})
		w.slot[f.Name] = slot
		for r, e := range rows {
			w.index.set(a.ents[e].key, loc{slot, int32(r)})
		}
	}
	t.snaps = append(t.snaps, s)
	if a.newSchema {
		vers := make(map[int]*change.Schema, len(t.schemas)+1)
		for v, sc := range t.schemas {
			vers[v] = sc
		}
		vers[a.version] = a.schema
		t.schemas = vers // replaced, not changed: readers hold the old map
	}
	return s, nil
}

// partition splits rows (entry indices, in key order) by the table's partitioning and
// returns each group's label and rows, in label order.
func (t *Table) partition(s *change.Schema, ents []entry, rows []int32) ([]string, [][]int32, error) {
	p := t.cfg.Partition
	if len(rows) == 0 {
		return nil, nil, nil
	}
	if p.Column == "" && p.Buckets <= 1 {
		return []string{""}, [][]int32{rows}, nil
	}
	label := make([]string, len(rows))
	if p.Column != "" {
		c := s.FieldIndex(p.Column)
		if c < 0 {
			return nil, nil, fmt.Errorf("silver: %s: partition column %q is not a column of %s", t.name, p.Column, s)
		}
		ft := s.Field(c).Type
		for i, e := range rows {
			label[i] = p.Column + "=" + valueText(nil, ents[e].row[c], ft)
		}
	} else {
		// Hash the key columns with shuffle.HashKeys, so buckets agree with shuffles.
		kf := make([]int, len(s.Key()))
		fields := make([]arrowField, len(kf))
		for i, c := range s.Key() {
			fields[i] = s.Field(c)
			kf[i] = i
		}
		ks, err := change.NewSchema(fields)
		if err != nil {
			return nil, nil, err
		}
		b := change.NewBuilder(t.cfg.Mem, ks)
		kv := make(change.Row, len(kf))
		for _, e := range rows {
			for i, c := range s.Key() {
				kv[i] = ents[e].row[c]
			}
			if err := b.Append(change.Insert, kv); err != nil {
				b.Release()
				return nil, nil, err
			}
		}
		batch := b.NewBatch()
		b.Release()
		h := make([]uint64, batch.Len())
		shuffle.HashKeys(batch, kf, h)
		batch.Release()
		for i := range rows {
			label[i] = bucketLabel(shuffle.PartitionOf(h[i], p.Buckets), p.Buckets)
		}
	}
	byLabel := map[string][]int32{}
	var labels []string
	for i, e := range rows {
		if _, ok := byLabel[label[i]]; !ok {
			labels = append(labels, label[i])
		}
		byLabel[label[i]] = append(byLabel[label[i]], e)
	}
	slices.Sort(labels)
	groups := make([][]int32, len(labels))
	for i, l := range labels {
		groups[i] = byLabel[l]
	}
	return labels, groups, nil
}
