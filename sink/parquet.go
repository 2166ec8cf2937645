package sink

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/strata-data/strata/bronze"
	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/change"
)

// ParquetConfig configures a Parquet table sink. Store, Prefix and Schema are required.
type ParquetConfig struct {
	// Store holds the table (bronze.OpenDir for a local directory).
	Store bronze.Store
	// Prefix is the table's folder in the store, e.g. "gold/revenue"; a valid object name.
	Prefix string
	// Schema is the table's; it must have a primary key.
	Schema *change.Schema
	// Name labels metrics and errors (default: Prefix).
	Name string
	// Mem allocates Arrow buffers (default memory.DefaultAllocator).
	Mem memory.Allocator
	// RowGroup is the number of rows per Parquet row group (default 131072).
	RowGroup int
	// Keep is how many committed versions stay readable (default 2, at least 1): a
	// reader that listed the previous version can still read its files.
	Keep int
	// Metrics counts rows, batches, commits and errors (nil: none).
	Metrics *Metrics
	// Logger reports files it failed to clean up (default slog.Default()).
	Logger *slog.Logger
}

// Validate reports a setting OpenParquet cannot use.
func (c ParquetConfig) Validate() error {
	switch {
	case c.Store == nil:
		return fmt.Errorf("%w: parquet: no Store", ErrConfig)
	case c.Schema == nil:
		return fmt.Errorf("%w: parquet %s: no Schema", ErrConfig, c.Prefix)
	case len(c.Schema.Key()) == 0:
		return fmt.Errorf("%w: parquet %s: schema %s has no primary key", ErrConfig, c.Prefix, c.Schema)
	case c.RowGroup < 0 || c.Keep < 0:
		return fmt.Errorf("%w: parquet %s: negative RowGroup or Keep", ErrConfig, c.Prefix)
	}
	if err := bronze.ValidName(c.Prefix); err != nil {
		return fmt.Errorf("%w: parquet: Prefix: %w", ErrConfig, err)
	}
	return nil
}

func (c *ParquetConfig) ensureDefaults() {
	c.Prefix = strings.TrimSuffix(c.Prefix, "/")
	if c.Name == "" {
		c.Name = c.Prefix
	}
	if c.Mem == nil {
		c.Mem = memory.DefaultAllocator
	}
	if c.RowGroup == 0 {
		c.RowGroup = 128 << 10
	}
	if c.Keep == 0 {
		c.Keep = 2
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// ParquetManifest is one committed version of a Parquet table: the files that hold all
// its rows, and the source position they reflect. It is stored as JSON under
// {prefix}/manifest/{version:020d}.json; the highest version is the table.
type ParquetManifest struct {
	Version    uint64        `json:"version"`
	Checkpoint uint64        `json:"checkpoint,omitempty"` // last checkpoint committed (0: none)
	Position   cdc.Position  `json:"position"`
	Time       time.Time     `json:"time"`
	Rows       int64         `json:"rows"`
	Files      []ParquetFile `json:"files"`
}

// ParquetFile is one data file of a version, with what a reader checks it against.
type ParquetFile struct {
	Name   string `json:"name"`
	Rows   int64  `json:"rows"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// pendingParquet is what PreCommit leaves in the store: enough for Commit to publish
// the checkpoint from another process.
type pendingParquet struct {
	Checkpoint uint64        `json:"checkpoint"`
	Position   cdc.Position  `json:"position"`
	Rows       int64         `json:"rows"`
	Files      []ParquetFile `json:"files"`
}

// Parquet is a keyed table of Parquet files (arrow-go pqarrow, zstd) for gold outputs
// and marts: it holds the net rows, the latest image of every key the changes left
// present. Inserts and update-afters upsert by primary key, deletes and update-befores
// remove the key (a key change arrives as -U old, +U new).
//
// Every commit writes the whole table as new files, sorted by the key's JSON encoding,
// and publishes them with one manifest entry (an atomic put), which also records the
// source position: a reader sees one version whole, a crash leaves the last version,
// and after a restart Write skips what the version already holds (Resumer). The table
// lives in memory while the sink runs (loaded from the last version on open), which
// suits marts of up to a few million rows; large keyed tables belong in silver.
//
// Two-phase (TwoPhase): PreCommit writes the files under attempt-scoped names plus a
// pending record {prefix}/pending/{checkpoint}.json; Commit publishes the record as the
// next version, from memory or, after a restart, from the store; files of aborted,
// superseded and crashed attempts are deleted after each commit.
type Parquet struct {
	cfg     ParquetConfig
	attempt string
	scale   []int64
	pschema *change.Schema
	m       counters
	seq     sequencer

	cur      ParquetManifest // last committed version (zero: none)
	rows     map[string]change.Row
	dirty    bool
	pending  map[uint64]pendingParquet
	lastPre  uint64
	keyBuf   []byte
	closed   bool
	sequence uint64 // names files of Flush
}

// OpenParquet opens (or starts) the table at cfg.Prefix and loads its latest version.
func OpenParquet(ctx context.Context, cfg ParquetConfig) (*Parquet, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.ensureDefaults()
	var nonce [8]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, err
	}
	ps, scale, err := parquetSchema(cfg.Schema)
	if err != nil {
		return nil, err
	}
	s := &Parquet{cfg: cfg, attempt: hex.EncodeToString(nonce[:]), pschema: ps, scale: scale,
		m: cfg.Metrics.forSink(cfg.Name), rows: map[string]change.Row{}, pending: map[uint64]pendingParquet{},
		seq: sequencer{name: cfg.Name}}
	cur, found, err := LatestParquet(ctx, cfg.Store, cfg.Prefix)
	if err != nil {
		return nil, err
	}
	if found {
		if err := s.load(ctx, cur); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// load makes version v the sink's table and position.
func (s *Parquet) load(ctx context.Context, v ParquetManifest) error {
	clear(s.rows)
	err := readParquet(ctx, s.cfg.Store, v, s.cfg.Schema, s.cfg.Mem, func(b *change.Batch) {
		for i := range b.Len() {
			s.rows[string(AppendKeyJSON(nil, b, i))] = b.Row(i)
		}
	})
	if err != nil {
		return err
	}
	s.cur, s.dirty = v, false
	s.seq = sequencer{name: s.cfg.Name, recovered: v.Position, flushed: v.Position}
	s.lastPre = max(s.lastPre, v.Checkpoint)
	return nil
}

// Committed implements Resumer.
func (s *Parquet) Committed() cdc.Position { return s.cur.Position }

// Version returns the last committed version.
func (s *Parquet) Version() ParquetManifest { return s.cur }

// Write implements Sink.
func (s *Parquet) Write(ctx context.Context, b *change.Batch, pos cdc.Position) error {
	defer b.Release()
	if s.closed {
		return ErrClosed
	}
	if err := checkSchema(s.cfg.Name, s.cfg.Schema, b); err != nil {
		return s.m.fail(err)
	}
	if ok, err := s.seq.admitCounted(pos, s.m); !ok {
		return err
	}
	for i, op := range b.Ops() {
		s.keyBuf = AppendKeyJSON(s.keyBuf[:0], b, i)
		switch op {
		case change.Insert, change.UpdateAfter:
			s.rows[string(s.keyBuf)] = b.Row(i)
		default:
			delete(s.rows, string(s.keyBuf))
		}
	}
	s.dirty = true
	return nil
}

// Flush implements Sink: it writes and publishes the table as the next version.
func (s *Parquet) Flush(ctx context.Context) error {
	if s.closed {
		return ErrClosed
	}
	if !s.dirty {
		return nil
	}
	t0 := time.Now()
	s.sequence++
	f, err := s.writeFile(ctx, fmt.Sprintf("f%020d", s.sequence))
	if err != nil {
		return s.m.fail(err)
	}
	if err := s.publish(ctx, s.cur.Checkpoint, s.position(), []ParquetFile{f}, f.Rows); err != nil {
		return s.m.fail(err)
	}
	s.dirty = false
	s.m.committed(t0)
	s.collect(ctx)
	return nil
}

// PreCommit implements TwoPhase.
func (s *Parquet) PreCommit(ctx context.Context, checkpointID uint64) error {
	if s.closed {
		return ErrClosed
	}
	if checkpointID <= s.lastPre {
		return s.m.fail(fmt.Errorf("%w: %s: pre-commit of checkpoint %d after %d", ErrCheckpoint, s.cfg.Name, checkpointID, s.lastPre))
	}
	f, err := s.writeFile(ctx, fmt.Sprintf("c%020d", checkpointID))
	if err != nil {
		return s.m.fail(err)
	}
	p := pendingParquet{Checkpoint: checkpointID, Position: s.position(), Rows: f.Rows, Files: []ParquetFile{f}}
	data, err := json.Marshal(p)
	if err != nil {
		return s.m.fail(err)
	}
	if err := s.cfg.Store.Put(ctx, s.pendingName(checkpointID), data); err != nil {
		return s.m.fail(fmt.Errorf("sink: %s: pre-commit %d: %w", s.cfg.Name, checkpointID, err))
	}
	s.pending[checkpointID] = p
	s.lastPre = checkpointID
	s.seq.flushed = s.seq.last
	return nil
}

// position is the position of everything written so far.
func (s *Parquet) position() cdc.Position {
	if s.seq.wrote {
		return s.seq.last
	}
	return s.cur.Position
}

// Commit implements TwoPhase.
func (s *Parquet) Commit(ctx context.Context, checkpointID uint64) error {
	if s.closed {
		return ErrClosed
	}
	if checkpointID <= s.cur.Checkpoint {
		return nil
	}
	t0 := time.Now()
	p, inMemory := s.pending[checkpointID]
	if !inMemory {
		data, err := s.cfg.Store.Get(ctx, s.pendingName(checkpointID))
		if errors.Is(err, bronze.ErrNotFound) {
			return s.m.fail(fmt.Errorf("%w: %s: checkpoint %d was not pre-committed", ErrCheckpoint, s.cfg.Name, checkpointID))
		}
		if err != nil {
			return s.m.fail(err)
		}
		if err := json.Unmarshal(data, &p); err != nil || p.Checkpoint != checkpointID {
			return s.m.fail(fmt.Errorf("%w: %s: pending record of checkpoint %d: %v", ErrCorrupt, s.cfg.Name, checkpointID, err))
		}
		if s.seq.wrote || s.lastPre > checkpointID {
			return s.m.fail(fmt.Errorf("%w: %s: checkpoint %d was pre-committed by another run; commit it before writing",
				ErrOrder, s.cfg.Name, checkpointID))
		}
	}
	if p.Position.Less(s.cur.Position) {
		// A Flush since the pre-commit published newer rows: keep them, record the checkpoint.
		p = pendingParquet{Checkpoint: checkpointID, Position: s.cur.Position, Rows: s.cur.Rows, Files: s.cur.Files}
	}
	if err := s.publish(ctx, checkpointID, p.Position, p.Files, p.Rows); err != nil {
		return s.m.fail(err)
	}
	if !inMemory { // the table is what that run pre-committed
		if err := s.load(ctx, s.cur); err != nil {
			return s.m.fail(err)
		}
	}
	for id := range s.pending {
		if id <= checkpointID {
			delete(s.pending, id)
		}
	}
	s.m.committed(t0)
	s.collect(ctx)
	return nil
}

// Abort implements TwoPhase.
func (s *Parquet) Abort(ctx context.Context, checkpointID uint64) error {
	if s.closed {
		return ErrClosed
	}
	if checkpointID <= s.cur.Checkpoint {
		return s.m.fail(fmt.Errorf("%w: %s: checkpoint %d is committed", ErrCheckpoint, s.cfg.Name, checkpointID))
	}
	if _, ok := s.pending[checkpointID]; ok {
		delete(s.pending, checkpointID)
		s.dirty = true // its rows stay in the table and go into the next checkpoint
	}
	if err := s.cfg.Store.Delete(ctx, s.pendingName(checkpointID)); err != nil {
		return s.m.fail(err)
	}
	s.collect(ctx)
	return nil
}

// Pending returns the checkpoints pre-committed in the store and not committed, in order.
func (s *Parquet) Pending(ctx context.Context) ([]uint64, error) {
	pre := s.cfg.Prefix + "/pending/"
	names, err := s.cfg.Store.List(ctx, pre)
	if err != nil {
		return nil, err
	}
	var ids []uint64
	for _, name := range names {
		id, err := strconv.ParseUint(strings.TrimSuffix(name[len(pre):], ".json"), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: %s", ErrCorrupt, name)
		}
		if id > s.cur.Checkpoint {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// Close implements Sink. Pre-committed checkpoints stay in the store for Commit by the
// next run.
func (s *Parquet) Close() error {
	s.closed = true
	clear(s.rows)
	return nil
}

func (s *Parquet) pendingName(id uint64) string {
	return fmt.Sprintf("%s/pending/%020d.json", s.cfg.Prefix, id)
}

func manifestName(prefix string, v uint64) string {
	return fmt.Sprintf("%s/manifest/%020d.json", prefix, v)
}

// publish makes files the next version.
func (s *Parquet) publish(ctx context.Context, checkpoint uint64, pos cdc.Position, files []ParquetFile, rows int64) error {
	next := ParquetManifest{Version: s.cur.Version + 1, Checkpoint: checkpoint, Position: pos,
		Time: time.Now().UTC(), Rows: rows, Files: files}
	data, err := json.Marshal(next)
	if err != nil {
		return err
	}
	name := manifestName(s.cfg.Prefix, next.Version)
	if cp, ok := s.cfg.Store.(bronze.ConditionalPutter); ok {
		err = cp.PutIfAbsent(ctx, name, data)
		if errors.Is(err, bronze.ErrExists) {
			return fmt.Errorf("%w: %s: version %d was published by another writer", ErrOrder, s.cfg.Name, next.Version)
		}
	} else {
		err = s.cfg.Store.Put(ctx, name, data)
	}
	if err != nil {
		return fmt.Errorf("sink: %s: publish version %d: %w", s.cfg.Name, next.Version, err)
	}
	s.cur = next
	s.seq.flushed = cdc.Max(s.seq.flushed, pos)
	s.m.wrote(int(rows))
	return nil
}

// collect deletes manifests older than Keep versions, pending records of committed
// checkpoints, and data files no kept version or pending checkpoint names. It runs
// after a commit, which stands whether or not it succeeds: a failure is logged and
// counted, and the next commit tries again.
func (s *Parquet) collect(ctx context.Context) {
	if err := s.collectErr(ctx); err != nil {
		s.m.fail(err)
		s.cfg.Logger.Warn("sink: cleaning up old Parquet files failed", "sink", s.cfg.Name, "err", err)
	}
}

func (s *Parquet) collectErr(ctx context.Context) error {
	st, pre := s.cfg.Store, s.cfg.Prefix
	live := map[string]bool{}
	mans, err := st.List(ctx, pre+"/manifest/")
	if err != nil {
		return err
	}
	for i, name := range mans {
		if i < len(mans)-s.cfg.Keep {
			if err := st.Delete(ctx, name); err != nil {
				return err
			}
			continue
		}
		data, err := st.Get(ctx, name)
		if err != nil {
			return err
		}
		var m ParquetManifest
		if err := json.Unmarshal(data, &m); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrCorrupt, name, err)
		}
		for _, f := range m.Files {
			live[f.Name] = true
		}
	}
	pend, err := st.List(ctx, pre+"/pending/")
	if err != nil {
		return err
	}
	for _, name := range pend {
		id, err := strconv.ParseUint(strings.TrimSuffix(name[len(pre)+len("/pending/"):], ".json"), 10, 64)
		if err == nil && id <= s.cur.Checkpoint {
			if err := st.Delete(ctx, name); err != nil {
				return err
			}
			continue
		}
		data, err := st.Get(ctx, name)
		if err != nil {
			return err
		}
		var p pendingParquet
		if err := json.Unmarshal(data, &p); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrCorrupt, name, err)
		}
		for _, f := range p.Files {
			live[f.Name] = true
		}
	}
	files, err := st.List(ctx, pre+"/data/")
	if err != nil {
		return err
	}
	for _, name := range files {
		if !live[name] { // aborted, superseded, or left by a crashed attempt
			if err := st.Delete(ctx, name); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeFile writes the table as one Parquet file named after tag and this run.
func (s *Parquet) writeFile(ctx context.Context, tag string) (ParquetFile, error) {
	keys := make([]string, 0, len(s.rows))
	for k := range s.rows {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var buf bytes.Buffer
	if err := s.encode(&buf, keys); err != nil {
		return ParquetFile{}, fmt.Errorf("sink: %s: %w", s.cfg.Name, err)
	}
	sum := sha256.Sum256(buf.Bytes())
	f := ParquetFile{Name: fmt.Sprintf("%s/data/%s-%s.parquet", s.cfg.Prefix, tag, s.attempt),
		Rows: int64(len(keys)), Bytes: int64(buf.Len()), SHA256: hex.EncodeToString(sum[:])}
	if err := s.cfg.Store.Put(ctx, f.Name, buf.Bytes()); err != nil {
		return ParquetFile{}, fmt.Errorf("sink: %s: write %s: %w", s.cfg.Name, f.Name, err)
	}
	return f, nil
}

func (s *Parquet) encode(w io.Writer, keys []string) error {
	mem := s.cfg.Mem
	props := parquet.NewWriterProperties(
		parquet.WithCompression(compress.Codecs.Zstd),
		parquet.WithAllocator(mem),
		parquet.WithMaxRowGroupLength(int64(s.cfg.RowGroup)),
	)
	fw, err := pqarrow.NewFileWriter(s.pschema.Arrow(), w, props,
		pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema(), pqarrow.WithAllocator(mem)))
	if err != nil {
		return err
	}
	b := change.NewBuilder(mem, s.pschema)
	defer b.Release()
	write := func() error {
		batch := b.NewBatch()
		defer batch.Release()
		return fw.Write(batch.Record())
	}
	scratch := make(change.Row, s.pschema.NumFields())
	for _, k := range keys {
		row := s.rows[k]
		for i, v := range row {
			if f := s.scale[i]; f != 1 && v.Kind() == change.KindInt {
				x := v.AsInt()
				if x > math.MaxInt64/f || x < math.MinInt64/f {
					fw.Close()
					return fmt.Errorf("key %s: column %q: %d seconds do not fit Parquet's milliseconds", k, s.pschema.Field(i).Name, x)
				}
				v = change.Int(x * f)
			}
			scratch[i] = v
		}
		if err := b.Append(change.Insert, scratch); err != nil {
			fw.Close()
			return fmt.Errorf("key %s: %w", k, err)
		}
		if b.Len() >= 64<<10 {
			if err := write(); err != nil {
				fw.Close()
				return err
			}
		}
	}
	if b.Len() > 0 || len(keys) == 0 {
		if err := write(); err != nil {
			fw.Close()
			return err
		}
	}
	return fw.Close()
}

// parquetType returns the type a column is stored as: Parquet has no seconds unit, so
// seconds become milliseconds (the factor is returned).
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

// LatestParquet returns the latest committed version of the table at prefix; found is
// false when the table has none.
func LatestParquet(ctx context.Context, store bronze.Store, prefix string) (m ParquetManifest, found bool, err error) {
	prefix = strings.TrimSuffix(prefix, "/")
	names, err := store.List(ctx, prefix+"/manifest/")
	if err != nil || len(names) == 0 {
		return m, false, err
	}
	last := names[len(names)-1]
	data, err := store.Get(ctx, last)
	if err != nil {
		return m, false, err
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, false, fmt.Errorf("%w: %s: %v", ErrCorrupt, last, err)
	}
	if manifestName(prefix, m.Version) != last {
		return m, false, fmt.Errorf("%w: %s holds version %d", ErrCorrupt, last, m.Version)
	}
	return m, true, nil
}

// ReadParquet reads the latest version of the table at prefix as batches of schema s
// (every op +I, in key-encoding order), allocated from mem (nil: the default), and
// hands each to fn, which must not keep it past the call. Files are checked against
// the manifest's size and sha256. A table with no version reads as empty.
func ReadParquet(ctx context.Context, store bronze.Store, prefix string, s *change.Schema, mem memory.Allocator, fn func(*change.Batch)) (ParquetManifest, error) {
	m, found, err := LatestParquet(ctx, store, prefix)
	if err != nil || !found {
		return m, err
	}
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	return m, readParquet(ctx, store, m, s, mem, fn)
}

func readParquet(ctx context.Context, store bronze.Store, m ParquetManifest, s *change.Schema, mem memory.Allocator, fn func(*change.Batch)) error {
	for _, f := range m.Files {
		if err := readParquetFile(ctx, store, f, s, mem, fn); err != nil {
			return fmt.Errorf("sink: version %d: %s: %w", m.Version, f.Name, err)
		}
	}
	return nil
}

func readParquetFile(ctx context.Context, store bronze.Store, f ParquetFile, s *change.Schema, mem memory.Allocator, fn func(*change.Batch)) error {
	data, err := store.Get(ctx, f.Name)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	if int64(len(data)) != f.Bytes || hex.EncodeToString(sum[:]) != f.SHA256 {
		return fmt.Errorf("%w: %d bytes with sha256 %x, the manifest says %d bytes with %s", ErrCorrupt, len(data), sum, f.Bytes, f.SHA256)
	}
	ps, scale, err := parquetSchema(s)
	if err != nil {
		return err
	}
	pr, err := file.NewParquetReader(bytes.NewReader(data), file.WithReadProps(parquet.NewReaderProperties(mem)))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	defer pr.Close()
	fr, err := pqarrow.NewFileReader(pr, pqarrow.ArrowReadProperties{BatchSize: 64 << 10}, mem)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	rr, err := fr.GetRecordReader(ctx, nil, nil)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	defer rr.Release()
	got := rr.Schema()
	if got.NumFields() != ps.NumFields() {
		return fmt.Errorf("%w: %d columns, the schema has %d", ErrSchema, got.NumFields(), ps.NumFields())
	}
	for i, fl := range ps.Fields() {
		if g := got.Field(i); g.Name != fl.Name || !arrow.TypeEqual(g.Type, fl.Type) {
			return fmt.Errorf("%w: column %d is %s %s, the schema says %s %s", ErrSchema, i, g.Name, g.Type, fl.Name, fl.Type)
		}
	}
	b := change.NewBuilder(mem, s)
	defer b.Release()
	row := make(change.Row, s.NumFields())
	var n int64
	for rr.Next() {
		rec := rr.RecordBatch()
		for r := range int(rec.NumRows()) {
			for c := range row {
				v := change.ValueAt(rec.Column(c), r)
				if scale[c] != 1 && v.Kind() == change.KindInt {
					v = change.Int(v.AsInt() / scale[c])
				}
				row[c] = v
			}
			if err := b.Append(change.Insert, row); err != nil {
				return err
			}
		}
		n += rec.NumRows()
		batch := b.NewBatch()
		fn(batch)
		batch.Release()
	}
	if err := rr.Err(); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if n != f.Rows {
		return fmt.Errorf("%w: %d rows, the manifest says %d", ErrCorrupt, n, f.Rows)
	}
	return nil
}
