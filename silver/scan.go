package silver

import (
	"context"
	"fmt"
	"iter"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/shuffle"
)

// Cond is an equality condition on a column: Value is a plain Go value as
// change.ValueOf takes it (an int for an integer column, a string for a decimal, ...).
type Cond struct {
	Column string
	Value  any
}

// Eq returns the condition column = v.
func Eq(column string, v any) Cond { return Cond{Column: column, Value: v} }

// ScanOptions selects what a scan reads; the zero value reads every column of every row
// at the latest snapshot.
type ScanOptions struct {
	// AsOf is the snapshot id to read (0: the latest); see Table.SnapshotAt for a
	// commit position.
	AsOf uint64
	// Columns projects the scan to these columns, in this order (default: all).
	Columns []string
	// Where keeps only rows meeting every condition. A condition on the partition
	// column, or conditions on every key column of a bucketed table, skip files of
	// other partitions unread; the others are checked row by row.
	Where []Cond
}

// inserts is a shared run of +I ops: a scan's batches all hold only inserts, and a
// batch's ops are read-only.
var inserts = make([]change.Op, 1<<20)

// Scanner iterates the batches of a scan or of a change feed. Call Next until it
// returns false, then Err; Close releases what is held (it must be called, the scan
// need not be exhausted). The batch Batch returns stays valid until the next call of
// Next or Close; Retain it to keep it longer.
type Scanner struct {
	ctx   context.Context
	t     *Table
	v     view
	proj  *change.Schema // output schema
	read  *change.Schema // schema of the columns read (output first, then condition columns)
	rcols []int          // table columns read
	conds []scanCond
	files []DataFile
	dead  map[string][]uint64

	fi      int
	cur     *dataReader
	curDead []uint64
	row     int64
	idx     []int32

	pre   []*change.Batch // a change feed's batches, handed out in order
	batch *change.Batch
	err   error
}

type scanCond struct {
	col int // column of the read schema
	val change.Value
}

// Scan reads the table's rows as of a snapshot: batches of +I rows. Updates and deletes
// were recorded as position deletes, which the scan applies with one bitmap per file.
func (t *Table) Scan(ctx context.Context, opts ScanOptions) (*Scanner, error) {
	v, err := t.viewAt(opts.AsOf)
	if err != nil {
		return nil, err
	}
	s := &Scanner{ctx: ctx, t: t, v: v}
	var cols []int
	if opts.Columns == nil {
		for i := range v.schema.NumFields() {
			cols = append(cols, i)
		}
	}
	for _, name := range opts.Columns {
		c := v.schema.FieldIndex(name)
		if c < 0 {
			return nil, fmt.Errorf("silver: %s: no column %q to scan (columns: %s)", t.name, name, v.schema)
		}
		cols = append(cols, c)
	}
	if s.proj, err = project(v.schema, cols); err != nil {
		return nil, fmt.Errorf("silver: %s: %w", t.name, err)
	}
	s.rcols = cols
	keyConds := map[string]change.Value{}
	partConds := map[string]string{}
	for _, w := range opts.Where {
		c := v.schema.FieldIndex(w.Column)
		if c < 0 {
			return nil, fmt.Errorf("silver: %s: no column %q to filter on", t.name, w.Column)
		}
		f := v.schema.Field(c)
		val, err := change.ValueOf(w.Value, f.Type)
		if err != nil {
			return nil, fmt.Errorf("silver: %s: condition on %q: %w", t.name, w.Column, err)
		}
		if err := fits(f, val); err != nil {
			return nil, fmt.Errorf("silver: %s: condition on %q: %w", t.name, w.Column, err)
		}
		rc := -1
		for i, x := range s.rcols {
			if x == c {
				rc = i
			}
		}
		if rc < 0 {
			rc = len(s.rcols)
			s.rcols = append(s.rcols, c)
		}
		s.conds = append(s.conds, scanCond{col: rc, val: val})
		partConds[w.Column] = valueText(nil, val, f.Type)
		keyConds[w.Column] = val
	}
	if s.read, err = project(v.schema, s.rcols); err != nil {
		return nil, fmt.Errorf("silver: %s: %w", t.name, err)
	}
	bucketOf := bucketPruner(v.schema, keyConds)
	for _, f := range v.st.data {
		if prunable(f.Partition, partConds, bucketOf) {
			continue
		}
		s.files = append(s.files, f)
	}
	if s.dead, err = t.deletes(ctx, v.st); err != nil {
		return nil, err
	}
	return s, nil
}

// fits reports whether v can be stored in a column f.
func fits(f arrow.Field, v change.Value) error {
	s, err := change.NewSchema([]arrow.Field{f})
	if err != nil {
		return err
	}
	b := change.NewBuilder(nil, s)
	defer b.Release()
	return b.Append(change.Insert, change.Row{v})
}

// bucketPruner returns, when conditions fix every key column, the function giving the
// key's bucket among n; nil otherwise.
func bucketPruner(s *change.Schema, conds map[string]change.Value) func(n int) int {
	if len(s.Key()) == 0 {
		return nil
	}
	var fields []arrow.Field
	var row change.Row
	for _, c := range s.Key() {
		f := s.Field(c)
		v, ok := conds[f.Name]
		if !ok {
			return nil
		}
		fields = append(fields, f)
		row = append(row, v)
	}
	ks, err := change.NewSchema(fields)
	if err != nil {
		return nil
	}
	b := change.NewBuilder(nil, ks)
	defer b.Release()
	if b.Append(change.Insert, row) != nil {
		return nil
	}
	batch := b.NewBatch()
	defer batch.Release()
	cols := make([]int, len(fields))
	for i := range cols {
		cols[i] = i
	}
	h := make([]uint64, 1)
	shuffle.HashKeys(batch, cols, h)
	return func(n int) int { return shuffle.PartitionOf(h[0], n) }
}

// prunable reports whether a file of partition label can hold no row meeting the
// conditions.
func prunable(label string, conds map[string]string, bucketOf func(int) int) bool {
	if label == "" {
		return false
	}
	col, val, _ := strings.Cut(label, "=")
	if col == "bucket" && bucketOf != nil {
		is, ns, ok := strings.Cut(val, "/")
		i, err1 := strconv.Atoi(is)
		n, err2 := strconv.Atoi(ns)
		if ok && err1 == nil && err2 == nil && n > 0 {
			return bucketOf(n) != i
		}
	}
	if want, ok := conds[col]; ok {
		return want != val
	}
	return false
}

// Schema returns the schema of the batches.
func (s *Scanner) Schema() *change.Schema { return s.proj }

// Next advances to the next batch.
func (s *Scanner) Next() bool {
	if s.batch != nil {
		s.batch.Release()
		s.batch = nil
	}
	if s.err != nil {
		return false
	}
	if s.pre != nil || s.t == nil {
		if len(s.pre) == 0 {
			return false
		}
		s.batch, s.pre = s.pre[0], s.pre[1:]
		return true
	}
	for {
		if err := s.ctx.Err(); err != nil {
			s.err = err
			return false
		}
		if s.cur == nil {
			if s.fi >= len(s.files) {
				return false
			}
			f := s.files[s.fi]
			s.fi++
			r, err := s.t.openFile(s.ctx, f, s.v.vers, s.v.schema, s.rcols, s.read)
			if err != nil {
				s.err = err
				return false
			}
			s.cur, s.curDead, s.row = r, s.dead[f.Name], 0
		}
		rec, err := s.cur.next()
		if err != nil {
			s.err = fmt.Errorf("silver: %s: reading %s: %w", s.t.name, s.files[s.fi-1].Name, err)
			return false
		}
		if rec == nil {
			s.cur.close()
			s.cur = nil
			continue
		}
		if b := s.keep(rec); b != nil {
			s.batch = b
			return true
		}
	}
}

// keep returns the live rows of rec meeting the conditions, projected (nil: none).
func (s *Scanner) keep(rec arrow.RecordBatch) *change.Batch {
	n := int(rec.NumRows())
	base := s.row
	s.row += int64(n)
	all := true
	if s.curDead != nil || len(s.conds) > 0 {
		idx := s.idx[:0]
		for i := range n {
			r := base + int64(i)
			if s.curDead != nil && s.curDead[r>>6]&(1<<(r&63)) != 0 {
				all = false
				continue
			}
			if !s.match(rec, i) {
				all = false
				continue
			}
			idx = append(idx, int32(i))
		}
		s.idx = idx
		if len(idx) == 0 {
			return nil
		}
	}
	nout := s.proj.NumFields()
	cols := make([]arrow.Array, nout)
	rows := n
	for c := range cols {
		if all {
			cols[c] = rec.Column(c)
			cols[c].Retain()
		} else {
			cols[c] = shuffle.Take(s.t.cfg.Mem, rec.Column(c), s.idx)
			rows = len(s.idx)
		}
	}
	out := array.NewRecordBatch(s.proj.Arrow(), cols, int64(rows))
	for _, c := range cols {
		c.Release()
	}
	b, err := change.NewBatch(s.proj, out, opsOf(rows))
	if err != nil {
		panic(err) // the projection's schema and +I ops
	}
	return b
}

func opsOf(n int) []change.Op {
	if n <= len(inserts) {
		return inserts[:n:n]
	}
	return make([]change.Op, n)
}

func (s *Scanner) match(rec arrow.RecordBatch, i int) bool {
	for _, c := range s.conds {
		if change.ValueAt(rec.Column(c.col), i) != c.val {
			return false
		}
	}
	return true
}

// Batch returns the current batch.
func (s *Scanner) Batch() *change.Batch { return s.batch }

// Err returns the error that ended the scan, if any.
func (s *Scanner) Err() error { return s.err }

// Close releases the scanner's batches and files.
func (s *Scanner) Close() error {
	if s.batch != nil {
		s.batch.Release()
		s.batch = nil
	}
	for _, b := range s.pre {
		b.Release()
	}
	s.pre = nil
	if s.cur != nil {
		s.cur.close()
		s.cur = nil
	}
	return nil
}

// All adapts the scanner to a range loop: each batch is valid for its iteration only.
// It closes the scanner at the end; an error ends the loop as the last pair.
func (s *Scanner) All() iter.Seq2[*change.Batch, error] {
	return func(yield func(*change.Batch, error) bool) {
		defer s.Close()
		for s.Next() {
			if !yield(s.batch, nil) {
				return
			}
		}
		if err := s.Err(); err != nil {
			yield(nil, err)
		}
	}
}
