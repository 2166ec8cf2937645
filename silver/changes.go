package silver

import (
	"context"
	"fmt"
	"slices"

	"github.com/strata-data/strata/change"
)

// Changes returns the change feed of the table between snapshots from and to: the net
// row-level changes that turn the table as of from into the table as of to, in key
// order. Intermediate versions are collapsed: per key, a row that did not exist at from
// and exists at to is +I; one that existed and no longer does is -D; one that exists at
// both with a different row is -U (the row at from) then +U (the row at to); a key
// whose row is the same at both (updated and updated back, or rewritten by compaction)
// gives nothing, and a key inserted and deleted within the range gives nothing. This is
// what an incremental consumer wants: applying the feed to the table as of from gives
// the table as of to. from = 0 means the empty table before the first snapshot, so
// Changes(ctx, 0, to) is every row as of to as +I. Rows are in the schema of to (rows of
// older versions are read through it).
//
// The feed reads the files added in the range and, of the files live at from, those
// with rows made dead in the range: cost follows the size of the change, except across
// a compaction or a truncate, which touch the whole table.
func (t *Table) Changes(ctx context.Context, from, to uint64) (*Scanner, error) {
	if to == 0 {
		s, ok := t.Latest()
		if !ok {
			return nil, fmt.Errorf("%w: %s has no snapshot yet", ErrNoSnapshot, t.name)
		}
		to = s.ID
	}
	if from > to {
		return nil, fmt.Errorf("silver: %s: change feed from snapshot %d to %d goes backwards", t.name, from, to)
	}
	vt, err := t.viewAt(to)
	if err != nil {
		return nil, err
	}
	schema := vt.schema
	var stFrom *state
	if from == 0 {
		stFrom = stateAt(nil)
	} else {
		if _, err := t.viewAt(from); err != nil {
			return nil, err
		}
		stFrom = stateAt(vt.snaps[:from])
	}
	deadFrom, err := t.deletes(ctx, stFrom)
	if err != nil {
		return nil, err
	}
	deadTo, err := t.deletes(ctx, vt.st)
	if err != nil {
		return nil, err
	}
	kc := newKeyCodec(schema)
	all := make([]int, schema.NumFields())
	for i := range all {
		all[i] = i
	}
	type image struct {
		key      string
		old, new change.Row
	}
	byKey := map[string]int{}
	var imgs []image
	at := func(key []byte) *image {
		if i, ok := byKey[string(key)]; ok {
			return &imgs[i]
		}
		byKey[string(key)] = len(imgs)
		imgs = append(imgs, image{key: string(key)})
		return &imgs[len(imgs)-1]
	}
	isDead := func(bm []uint64, r int64) bool { return bm != nil && bm[r>>6]&(1<<(r&63)) != 0 }
	var key []byte
	// each calls fn for the rows of f that keep says to.
	each := func(f DataFile, keep func(r int64) bool, fn func(change.Row)) error {
		r, err := t.openFile(ctx, f, vt.vers, schema, all, schema)
		if err != nil {
			return err
		}
		defer r.close()
		row := int64(0)
		for {
			rec, err := r.next()
			if err != nil {
				return fmt.Errorf("silver: %s: reading %s: %w", t.name, f.Name, err)
			}
			if rec == nil {
				return nil
			}
			for i := 0; i < int(rec.NumRows()); i, row = i+1, row+1 {
				if !keep(row) {
					continue
				}
				vals := make(change.Row, rec.NumCols())
				for c := range vals {
					vals[c] = change.ValueAt(rec.Column(c), i)
				}
				fn(vals)
			}
		}
	}
	// Rows live at from and dead at to.
	for _, f := range stFrom.data {
		df, dt := deadFrom[f.Name], deadTo[f.Name]
		_, liveAtTo := vt.st.dataIdx[f.Name]
		if liveAtTo && !anyNew(df, dt) {
			continue
		}
		err := each(f, func(r int64) bool { return !isDead(df, r) && (!liveAtTo || isDead(dt, r)) }, func(row change.Row) {
			key = kc.row(key[:0], row)
			at(key).old = row
		})
		if err != nil {
			return nil, err
		}
	}
	// Rows added in the range and live at to.
	for _, f := range vt.st.data {
		if vt.st.addedAt[f.Name] <= from {
			continue
		}
		dt := deadTo[f.Name]
		err := each(f, func(r int64) bool { return !isDead(dt, r) }, func(row change.Row) {
			key = kc.row(key[:0], row)
			at(key).new = row
		})
		if err != nil {
			return nil, err
		}
	}
	slices.SortFunc(imgs, func(a, b image) int {
		switch {
		case a.key < b.key:
			return -1
		case a.key > b.key:
			return 1
		}
		return 0
	})
	s := &Scanner{proj: schema, pre: []*change.Batch{}}
	b := change.NewBuilder(t.cfg.Mem, schema)
	defer b.Release()
	flush := func() {
		if b.Len() > 0 {
			s.pre = append(s.pre, b.NewBatch())
		}
	}
	add := func(op change.Op, row change.Row) error {
		if err := b.Append(op, row); err != nil {
			return fmt.Errorf("silver: %s: change feed: %w", t.name, err)
		}
		if b.Len() >= t.cfg.ScanBatchRows {
			flush()
		}
		return nil
	}
	for _, im := range imgs {
		var err error
		switch {
		case im.old == nil && im.new != nil:
			err = add(change.Insert, im.new)
		case im.old != nil && im.new == nil:
			err = add(change.Delete, im.old)
		case im.old != nil && !slices.Equal(im.old, im.new):
			if err = add(change.UpdateBefore, im.old); err == nil {
				err = add(change.UpdateAfter, im.new)
			}
		}
		if err != nil {
			s.Close()
			return nil, err
		}
	}
	flush()
	return s, nil
}

// anyNew reports whether bitmap to has a bit that from has not.
func anyNew(from, to []uint64) bool {
	for i, x := range to {
		var y uint64
		if i < len(from) {
			y = from[i]
		}
		if x&^y != 0 {
			return true
		}
	}
	return false
}
