package bronze

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/strata-data/strata/change"
)

// Snapshot files
//
// A snapshot is one Parquet file (zstd) holding the latest row of every key of one table
// as of a commit, sorted by key, named snapshot/{Escape(table)}/{commit id:020d}.parquet.
// Its columns are the table schema's, written by arrow-go's pqarrow with the Arrow schema
// stored; Parquet has no seconds unit, so time32[s] and timestamp[s] columns are written
// in milliseconds and divided back exactly on read. The file's key-value metadata holds
// "strata.format" (bronze-snapshot/1), "strata.table", "strata.schema" (the change.Schema
// as JSON, as event files carry it), "strata.schema_version", "strata.commit_id",
// "strata.position" and "strata.rows", so a snapshot reads back with nothing else.

// ErrSnapshot is returned (wrapped) for a snapshot file that does not hold what its
// manifest entry says (another table or commit, a foreign or damaged layout).
var ErrSnapshot = errors.New("bronze: malformed snapshot")

// Keys of a snapshot's Parquet key-value metadata.
const (
	snapshotFormat  = "bronze-snapshot/1"
	snapMetaFormat  = "strata.format"
	snapMetaTable   = "strata.table"
	snapMetaSchema  = "strata.schema"
	snapMetaVersion = "strata.schema_version"
	snapMetaCommit  = "strata.commit_id"
	snapMetaPos     = "strata.position"
	snapMetaRows    = "strata.rows"
)

// snapshotName is the object name of table's snapshot as of commit id.
func snapshotName(table string, id uint64) string {
	return fmt.Sprintf("%s%s/%020d.parquet", SnapshotPrefix, Escape(table), id)
}

// parquetType returns the type a column is written to Parquet as, and the factor its
// values are multiplied by: Parquet has no seconds unit, so seconds become milliseconds.
func parquetType(t arrow.DataType) (arrow.DataType, int64) {
	switch t := t.(type) {
	case *arrow.Time32Type:
		if t.Unit == arrow.Second {
			return arrow.FixedWidthTypes.Time32ms, 1000
		}
	case *arrow.TimestampType:
		if t.Unit == arrow.Second {
			return &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: t.TimeZone}, 1000
		}
	}
	return t, 1
}

// parquetSchema returns the schema snapshots of s are written with, and the per-column
// factors of parquetType.
func parquetSchema(s *change.Schema) (*change.Schema, []int64, error) {
	fields := s.Fields()
	scale := make([]int64, len(fields))
	for i := range fields {
		fields[i].Type, scale[i] = parquetType(fields[i].Type)
	}
	md := s.Arrow().Metadata()
	ps, err := change.FromArrow(arrow.NewSchema(fields, &md))
	return ps, scale, err
}

// snapshotMeta is what a snapshot file says about itself.
type snapshotMeta struct {
	table    string
	version  int
	commitID uint64
	position string
}

// encodeSnapshot writes rows (full rows of s, in key order) as a snapshot to w and
// returns how many cells were absent (stored as NULL: a partial image with no earlier
// row to complete it). An absent cell of a NOT NULL column is an error.
func encodeSnapshot(w io.Writer, s *change.Schema, meta snapshotMeta, rows []change.Row, mem memory.Allocator, rowGroup int) (absent int64, err error) {
	ps, scale, err := parquetSchema(s)
	if err != nil {
		return 0, err
	}
	sj, err := schemaToJSON(s)
	if err != nil {
		return 0, err
	}
	props := parquet.NewWriterProperties(
		parquet.WithCompression(compress.Codecs.Zstd),
		parquet.WithAllocator(mem),
		parquet.WithMaxRowGroupLength(int64(rowGroup)),
	)
	fw, err := pqarrow.NewFileWriter(ps.Arrow(), w, props,
		pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema(), pqarrow.WithAllocator(mem)))
	if err != nil {
		return 0, err
	}
	closed := false
	defer func() {
		if !closed {
			fw.Close()
		}
	}()
	for _, kv := range [][2]string{
		{snapMetaFormat, snapshotFormat},
		{snapMetaTable, meta.table},
		{snapMetaSchema, string(sj)},
		{snapMetaVersion, strconv.Itoa(meta.version)},
		{snapMetaCommit, strconv.FormatUint(meta.commitID, 10)},
		{snapMetaPos, meta.position},
		{snapMetaRows, strconv.Itoa(len(rows))},
	} {
		if err := fw.AppendKeyValueMetadata(kv[0], kv[1]); err != nil {
			return 0, err
		}
	}
	b := change.NewBuilder(mem, ps)
	defer b.Release()
	scratch := make(change.Row, s.NumFields())
	flush := func() error {
		batch := b.NewBatch()
		defer batch.Release()
		return fw.Write(batch.Record())
	}
	for _, row := range rows {
		if len(row) != len(scratch) {
			return absent, fmt.Errorf("row %s has %d values, the schema %d columns", row, len(row), len(scratch))
		}
		for i, v := range row {
			switch {
			case v.IsAbsent():
				if !s.Field(i).Nullable {
					return absent, fmt.Errorf("row with key %s: NOT NULL column %q was absent from a partial image and no earlier row gives it",
						s.KeyOf(row), s.Field(i).Name)
				}
				absent++
			case scale[i] != 1 && v.Kind() == change.KindInt:
				x := v.AsInt()
				if x > math.MaxInt64/scale[i] || x < math.MinInt64/scale[i] {
					return absent, fmt.Errorf("row with key %s: column %q: %d seconds do not fit Parquet's milliseconds",
						s.KeyOf(row), s.Field(i).Name, x)
				}
				v = change.Int(x * scale[i])
			}
			scratch[i] = v
		}
		if err := b.Append(change.Insert, scratch); err != nil {
			return absent, fmt.Errorf("row with key %s: %w", s.KeyOf(row), err)
		}
		if b.Len() >= rowGroup {
			if err := flush(); err != nil {
				return absent, err
			}
		}
	}
	if b.Len() > 0 {
		if err := flush(); err != nil {
			return absent, err
		}
	}
	closed = true
	return absent, fw.Close()
}

// ReadSnapshot reads a snapshot back as one batch of rows (every op +I) in key order,
// allocated from mem (nil: the default allocator); the caller releases it. The file is
// checked against the entry's size and sha256 first: a mismatch is an ErrChecksum naming
// the file.
func ReadSnapshot(ctx context.Context, store Store, e SnapshotEntry, mem memory.Allocator) (*change.Batch, error) {
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	data, err := readChecked(ctx, store, e.Name, e.Bytes, e.SHA256)
	if err != nil {
		return nil, fmt.Errorf("bronze: snapshot of %s at commit %d: %w", e.Table, e.CommitID, err)
	}
	b, err := decodeSnapshot(ctx, data, e, mem)
	if err != nil {
		return nil, fmt.Errorf("%w: %s (%s at commit %d): %v", ErrSnapshot, e.Name, e.Table, e.CommitID, err)
	}
	return b, nil
}

func decodeSnapshot(ctx context.Context, data []byte, e SnapshotEntry, mem memory.Allocator) (*change.Batch, error) {
	pr, err := file.NewParquetReader(bytes.NewReader(data), file.WithReadProps(parquet.NewReaderProperties(mem)))
	if err != nil {
		return nil, err
	}
	defer pr.Close()
	kv := pr.MetaData().KeyValueMetadata()
	get := func(k string) string {
		if v := kv.FindValue(k); v != nil {
			return *v
		}
		return ""
	}
	if f := get(snapMetaFormat); f != snapshotFormat {
		return nil, fmt.Errorf("format %q, want %q", f, snapshotFormat)
	}
	want := map[string]string{
		snapMetaTable:   e.Table,
		snapMetaCommit:  strconv.FormatUint(e.CommitID, 10),
		snapMetaVersion: strconv.Itoa(e.SchemaVersion),
		snapMetaRows:    strconv.FormatInt(e.Rows, 10),
	}
	for k, v := range want {
		if got := get(k); got != v {
			return nil, fmt.Errorf("%s is %q, its manifest entry says %q", k, got, v)
		}
	}
	s, err := schemaFromJSON([]byte(get(snapMetaSchema)))
	if err != nil {
		return nil, err
	}
	ps, scale, err := parquetSchema(s)
	if err != nil {
		return nil, err
	}
	fr, err := pqarrow.NewFileReader(pr, pqarrow.ArrowReadProperties{BatchSize: 64 << 10}, mem)
	if err != nil {
		return nil, err
	}
	rr, err := fr.GetRecordReader(ctx, nil, nil)
	if err != nil {
		return nil, err
	}
	defer rr.Release()
	got := rr.Schema()
	if got.NumFields() != ps.NumFields() {
		return nil, fmt.Errorf("%d columns, its schema has %d", got.NumFields(), ps.NumFields())
	}
	for i, f := range ps.Fields() {
		if g := got.Field(i); g.Name != f.Name || !arrow.TypeEqual(g.Type, f.Type) {
			return nil, fmt.Errorf("column %d is %s %s, its schema says %s %s", i, g.Name, g.Type, f.Name, f.Type)
		}
	}
	b := change.NewBuilder(mem, s)
	defer b.Release()
	row := make(change.Row, s.NumFields())
	for rr.Next() {
		rec := rr.RecordBatch()
		for r := 0; r < int(rec.NumRows()); r++ {
			for c := range row {
				v := change.ValueAt(rec.Column(c), r)
				if scale[c] != 1 && v.Kind() == change.KindInt {
					if v.AsInt()%scale[c] != 0 {
						return nil, fmt.Errorf("column %q holds %d ms, not a whole number of seconds", s.Field(c).Name, v.AsInt())
					}
					v = change.Int(v.AsInt() / scale[c])
				}
				row[c] = v
			}
			if err := b.Append(change.Insert, row); err != nil {
				return nil, err
			}
		}
	}
	if err := rr.Err(); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if int64(b.Len()) != e.Rows {
		return nil, fmt.Errorf("%d rows, its manifest entry says %d", b.Len(), e.Rows)
	}
	return b.NewBatch(), nil
}

// LatestSnapshot returns the live snapshot of table with the highest commit id at or
// before upTo (0: any): where a replay of the table as of upTo starts, before folding
// the table's files of later commits.
func (m *Manifest) LatestSnapshot(table string, upTo uint64) (SnapshotEntry, bool) {
	commits := m.Commits()
	return latestSnapshot(commits, liveNames(commits), table, upTo)
}

func latestSnapshot(commits []Commit, live map[string]uint64, table string, upTo uint64) (SnapshotEntry, bool) {
	var best SnapshotEntry
	found := false
	for _, c := range commits {
		for _, s := range c.Snapshots {
			if s.Table != table || live[s.Name] != c.ID || upTo > 0 && s.CommitID > upTo {
				continue
			}
			if !found || s.CommitID >= best.CommitID {
				best, found = s, true
			}
		}
	}
	return best, found
}
