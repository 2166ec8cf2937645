package silver

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/shuffle"
)

// NeedsCompaction reports whether the table's compaction policy (Config.Compaction)
// asks for a compaction: too many live data files, or too many dead rows in them.
func (t *Table) NeedsCompaction(ctx context.Context) (bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.ensureWriter(ctx); err != nil {
		return false, err
	}
	return t.needsCompaction(), nil
}

func (t *Table) needsCompaction() bool {
	p := t.cfg.Compaction
	files, stored, dead := 0, int64(0), int64(0)
	for _, lf := range t.w.files {
		if lf != nil {
			files++
			stored += lf.f.Rows
			dead += lf.ndead
		}
	}
	return p.MaxFiles >= 0 && files > p.MaxFiles ||
		p.MaxDeadFraction >= 0 && stored > 0 && float64(dead) > p.MaxDeadFraction*float64(stored)
}

// CompactIfNeeded compacts the table when its policy asks for it; false when it did not.
func (t *Table) CompactIfNeeded(ctx context.Context) (Snapshot, bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.ensureWriter(ctx); err != nil {
		return Snapshot{}, false, err
	}
	if !t.needsCompaction() {
		return Snapshot{}, false, nil
	}
	return t.compact(ctx)
}

// RunCompactor compacts the table in the background, whenever its policy asks for it,
// checking every interval, until ctx ends (it returns nil then) or a compaction fails.
// It shares the table's lock with Apply, so the two never interleave.
func (t *Table) RunCompactor(ctx context.Context, every time.Duration) error {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if _, _, err := t.CompactIfNeeded(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// Compact rewrites the table's live rows into new data files (per partition, at most
// Config.MaxFileRows rows each) without dead rows, and publishes them in one snapshot
// that drops the old data files and every delete file; rows, schema and position stay.
// Older snapshots keep their files, so time travel still reads them. It returns false
// when there is nothing to gain: at most one file per partition and no dead row.
func (t *Table) Compact(ctx context.Context) (Snapshot, bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.ensureWriter(ctx); err != nil {
		return Snapshot{}, false, err
	}
	return t.compact(ctx)
}

func (t *Table) compact(ctx context.Context) (Snapshot, bool, error) {
	start := time.Now()
	w := t.w
	byPart := map[string][]int32{}
	var labels []string
	dead := int64(0)
	for slot, lf := range w.files {
		if lf == nil {
			continue
		}
		if _, ok := byPart[lf.f.Partition]; !ok {
			labels = append(labels, lf.f.Partition)
		}
		byPart[lf.f.Partition] = append(byPart[lf.f.Partition], int32(slot))
		dead += lf.ndead
	}
	if dead == 0 && len(labels) == len(w.files)-countNil(w.files) {
		return Snapshot{}, false, nil
	}
	slices.Sort(labels)
	prev := t.snaps[len(t.snaps)-1]
	schema := t.schemas[prev.SchemaVersion]
	s := Snapshot{Table: t.name, ID: prev.ID + 1, Time: t.cfg.Now().UTC(), Op: "compact", Position: prev.Position,
		SchemaVersion: prev.SchemaVersion, Rows: prev.Rows}
	for _, d := range stateAt(t.snaps).deletes {
		s.RemovedDeletes = append(s.RemovedDeletes, d.Name)
	}
	ps, scale, scaled, err := physical(schema)
	if err != nil {
		return Snapshot{}, false, err
	}
	all := make([]int, schema.NumFields())
	for i := range all {
		all[i] = i
	}
	remap := map[int32][]loc{}
	dir := tableDir(t.name)
	var (
		buf     bytes.Buffer
		fw      *pqarrow.FileWriter
		fwRows  int64
		label   string
		newSlot = int32(len(w.files))
	)
	finish := func() error {
		if fw == nil {
			return nil
		}
		if err := fw.Close(); err != nil {
			return err
		}
		fw = nil
		name := fmt.Sprintf("%sdata/%020d-%04d.parquet", dir, s.ID, len(s.Added))
		if err := t.store.Put(ctx, name, buf.Bytes()); err != nil {
			return err
		}
		n, sum := checksum(buf.Bytes())
		s.Added = append(s.Added, DataFile{Name: name, Rows: fwRows, Bytes: n, SHA256: sum, SchemaVersion: prev.SchemaVersion, Partition: label})
		newSlot++
		return nil
	}
	open := func() error {
		buf.Reset()
		props, aprops := writerProps(t.cfg.Mem, t.cfg.RowGroupRows, ps.Arrow())
		var err error
		if fw, err = pqarrow.NewFileWriter(ps.Arrow(), &buf, props, aprops); err != nil {
			return err
		}
		fwRows = 0
		for _, kv := range [][2]string{{metaFormat, dataFormat}, {metaTable, t.name}, {metaVersion, strconv.Itoa(prev.SchemaVersion)}} {
			if err := fw.AppendKeyValueMetadata(kv[0], kv[1]); err != nil {
				return err
			}
		}
		return nil
	}
	fail := func(err error) (Snapshot, bool, error) {
		if fw != nil {
			fw.Close()
		}
		return Snapshot{}, false, fmt.Errorf("silver: %s: compaction: %w", t.name, err)
	}
	var idx []int32
	for _, l := range labels {
		label = l
		for _, slot := range byPart[l] {
			lf := w.files[slot]
			s.Removed = append(s.Removed, lf.f.Name)
			m := make([]loc, lf.f.Rows)
			remap[slot] = m
			r, err := t.openFile(ctx, lf.f, t.schemas, schema, all, schema)
			if err != nil {
				return fail(err)
			}
			row := int64(0)
			for {
				rec, err := r.next()
				if err != nil {
					r.close()
					return fail(fmt.Errorf("reading %s: %w", lf.f.Name, err))
				}
				if rec == nil {
					break
				}
				n := int(rec.NumRows())
				for off := 0; off < n; {
					if fw == nil {
						if err := open(); err != nil {
							r.close()
							return fail(err)
						}
					}
					// The live rows of rec[off:end) that fit the current file.
					room := int64(t.cfg.MaxFileRows) - fwRows
					idx = idx[:0]
					end := off
					for ; end < n && int64(len(idx)) < room; end++ {
						p := row + int64(end)
						if lf.dead[p>>6]&(1<<(p&63)) != 0 {
							m[p] = loc{-1, -1}
							continue
						}
						m[p] = loc{newSlot, int32(fwRows + int64(len(idx)))}
						idx = append(idx, int32(end))
					}
					if len(idx) > 0 {
						if err := t.writeRows(fw, ps, scale, scaled, rec, idx); err != nil {
							r.close()
							return fail(err)
						}
						fwRows += int64(len(idx))
					}
					off = end
					if fwRows >= int64(t.cfg.MaxFileRows) {
						if err := finish(); err != nil {
							r.close()
							return fail(err)
						}
					}
				}
				row += int64(n)
			}
			r.close()
		}
		if err := finish(); err != nil {
			return fail(err)
		}
	}
	if err := publish(ctx, t.store, s); err != nil {
		return Snapshot{}, false, err
	}
	for slot := range remap {
		delete(w.slot, w.files[slot].f.Name)
		w.files[slot] = nil
	}
	for _, f := range s.Added {
		w.slot[f.Name] = int32(len(w.files))
		w.files = append(w.files, &liveFile{f: f, dead: make([]uint64, (f.Rows+63)/64)})
	}
	w.index.remap(func(l loc) loc { return remap[l.file][l.row] })
	t.snaps = append(t.snaps, s)
	t.cfg.Metrics.compacted(t.name)
	t.cfg.Logger.Info("silver: compacted", "table", t.name, "snapshot", s.ID, "files_in", len(s.Removed),
		"files_out", len(s.Added), "rows", s.Rows, "dead_rows_dropped", dead, "duration", time.Since(start))
	return s, true, nil
}

func countNil(fs []*liveFile) int {
	n := 0
	for _, f := range fs {
		if f == nil {
			n++
		}
	}
	return n
}

// writeRows writes rows idx of rec (in the table's schema) to fw (in its physical one).
func (t *Table) writeRows(fw *pqarrow.FileWriter, ps *change.Schema, scale []int64, scaled bool, rec arrow.RecordBatch, idx []int32) error {
	cols := make([]arrow.Array, rec.NumCols())
	for c := range cols {
		a := rec.Column(c)
		if len(idx) == int(rec.NumRows()) {
			a.Retain()
		} else {
			a = shuffle.Take(t.cfg.Mem, a, idx)
		}
		if scaled && scale[c] != 1 {
			up := scaleUp(t.cfg.Mem, a, ps.Field(c).Type, scale[c])
			a.Release()
			a = up
		}
		cols[c] = a
	}
	out := array.NewRecordBatch(ps.Arrow(), cols, int64(len(idx)))
	for _, c := range cols {
		c.Release()
	}
	defer out.Release()
	return fw.WriteBuffered(out)
}
