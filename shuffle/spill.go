package shuffle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/zeebo/xxh3"

	"github.com/strata-data/strata/change"
)

// OpColumn is the name of the extra uint8 column that carries each row's change.Op in
// a spill file. It is the last column of the file's schema and is stripped on read.
const OpColumn = "strata.op"

// SpillPattern is the pattern (as for os.CreateTemp) of spill file names. A process that
// crashes leaves only files of this pattern in the directories it spilled to, and
// nothing else: spill files are scratch, never published, and safe to delete whenever
// no live process uses the directory.
const SpillPattern = "strata-spill-*.arrows"

// ErrCorrupt is returned (wrapped, with the file's path) when a spill file is
// truncated, altered or not a spill file of the expected schema.
var ErrCorrupt = errors.New("shuffle: corrupt spill file")

// Codec is the compression of spill files' blocks. The zero value is LZ4: on the
// benchmark's batches it writes at ~640 MB/s and reads at ~1.6 GB/s on two cores,
// where zstd (at its fastest level) writes at ~300-430 MB/s and reads at ~500 MB/s,
// for files 0.32 of the Arrow size instead of 0.51 (see BENCHMARKS.md). Spark spills
// with LZ4 by default for the same reason.
type Codec uint8

const (
	// LZ4 (raw blocks) is the default.
	LZ4 Codec = iota
	// Zstd (at its fastest level) compresses best, for disks slower than the cores.
	Zstd
	// Uncompressed stores blocks as they are: the plain Arrow IPC stream.
	Uncompressed
)

// String returns "lz4", "zstd" or "none".
func (c Codec) String() string {
	switch c {
	case Zstd:
		return "zstd"
	case LZ4:
		return "lz4"
	case Uncompressed:
		return "none"
	}
	return fmt.Sprintf("Codec(%d)", uint8(c))
}

// SpillOptions configures a spill file; the zero value writes LZ4 with the default
// Go allocator.
type SpillOptions struct {
	// Codec compresses the file's blocks (default LZ4).
	Codec Codec
	// Mem allocates the writer's block buffers, (Concurrency+2) × ~2 × 256 KiB held
	// until Finish (default memory.DefaultAllocator). Give the budget to count them.
	Mem memory.Allocator
	// Concurrency is the number of goroutines compressing blocks while the caller
	// encodes the next ones (default GOMAXPROCS).
	Concurrency int
}

// A spill file is an Arrow IPC stream (the batch's columns plus a last uint8 column
// OpColumn) cut into blocks of blockSize bytes, each stored on its own: a zstd frame,
// an LZ4 block, or as is. With Zstd the file is a valid multi-frame .zst whose content
// is the IPC stream; Uncompressed, it is the IPC stream. Block sizes and xxh3
// checksums of the stored bytes stay in the SpillFile, in memory, so a reader checks
// each block before decoding it. Arrow's own IPC body compression was measured at
// 130 MB/s (write) and 180 MB/s (read) with zstd on the benchmark's batches: arrow-go
// compresses at zstd's default level and makes a decoder per record batch.
const blockSize = 256 << 10

// blockMeta describes one stored block.
type blockMeta struct {
	stored, raw uint32 // bytes on disk, bytes of IPC stream
	sum         uint64 // xxh3 of the stored bytes
}

// SpillWriter writes a sequence of change batches of one schema to a new spill file.
// It is not safe for concurrent use. End it with Finish, or with Abort on a failure.
type SpillWriter struct {
	path   string
	schema *change.Schema
	fileAS *arrow.Schema
	codec  Codec
	w      *ipc.Writer
	blk    *blockWriter

	rows, memBytes int64
	batches        int
	err            error
	done           bool
}

// SpillFile is a finished spill file: its path, what it holds, and what Open needs to
// check it. It stays on disk until Remove.
type SpillFile struct {
	// Path is the file's path.
	Path string
	// Rows and Batches count what was written.
	Rows    int64
	Batches int
	// Bytes is the file's size on disk.
	Bytes int64
	// MemBytes is the size of the Arrow buffers of the batches written.
	MemBytes int64
	// Codec is the compression used.
	Codec Codec

	schema *change.Schema
	blocks []blockMeta
}

// Schema returns the schema of the file's batches.
func (f SpillFile) Schema() *change.Schema { return f.schema }

// CreateSpill creates a spill file for batches of schema s in dir (default
// os.TempDir()), with a unique name of SpillPattern.
func CreateSpill(dir string, s *change.Schema, opts SpillOptions) (*SpillWriter, error) {
	if s == nil {
		return nil, errors.New("shuffle: CreateSpill: nil schema")
	}
	if opts.Codec > Uncompressed {
		return nil, fmt.Errorf("shuffle: CreateSpill: unknown codec %d", uint8(opts.Codec))
	}
	if dir == "" {
		dir = os.TempDir()
	}
	if opts.Mem == nil {
		opts.Mem = memory.DefaultAllocator
	}
	f, err := os.CreateTemp(dir, SpillPattern)
	if err != nil {
		return nil, fmt.Errorf("shuffle: create spill file in %s: %w", dir, err)
	}
	w := &SpillWriter{path: f.Name(), schema: s, fileAS: fileSchema(s), codec: opts.Codec}
	w.blk = newBlockWriter(f, opts)
	w.w = ipc.NewWriter(w.blk, ipc.WithSchema(w.fileAS), ipc.WithAllocator(opts.Mem))
	return w, nil
}

// fileSchema is s's Arrow schema plus the op column.
func fileSchema(s *change.Schema) *arrow.Schema {
	md := s.Arrow().Metadata()
	fs := append(s.Fields()[:s.NumFields():s.NumFields()],
		arrow.Field{Name: OpColumn, Type: arrow.PrimitiveTypes.Uint8})
	return arrow.NewSchema(fs, &md)
}

// Path returns the file's path.
func (w *SpillWriter) Path() string { return w.path }

// Rows returns the rows written so far.
func (w *SpillWriter) Rows() int64 { return w.rows }

// Write appends b; the caller keeps b. A failed Write fails the writer: Abort it.
func (w *SpillWriter) Write(b *change.Batch) error {
	if w.err != nil {
		return w.err
	}
	if w.done {
		return fmt.Errorf("shuffle: spill file %s: write after Finish", w.path)
	}
	if !b.Schema().Equal(w.schema) {
		return fmt.Errorf("shuffle: spill file %s: batch schema %s, want %s", w.path, b.Schema(), w.schema)
	}
	n := b.Len()
	cols := make([]arrow.Array, 0, w.fileAS.NumFields())
	cols = append(cols, b.Record().Columns()...)
	opsArr := opsArray(b.Ops())
	cols = append(cols, opsArr)
	rec := array.NewRecordBatch(w.fileAS, cols, int64(n))
	opsArr.Release()
	err := w.w.Write(rec)
	rec.Release()
	if err != nil {
		w.err = fmt.Errorf("shuffle: spill file %s: write: %w", w.path, err)
		return w.err
	}
	w.rows += int64(n)
	w.memBytes += BatchBytes(b)
	w.batches++
	return nil
}

// opsArray views ops as a uint8 array without copying (Op is a uint8).
func opsArray(ops []change.Op) *array.Uint8 {
	var raw []byte
	if len(ops) > 0 {
		raw = unsafe.Slice((*byte)(unsafe.Pointer(&ops[0])), len(ops))
	}
	data := array.NewData(arrow.PrimitiveTypes.Uint8, len(ops),
		[]*memory.Buffer{nil, memory.NewBufferBytes(raw)}, nil, 0, 0)
	defer data.Release()
	return array.NewUint8Data(data)
}

// Finish ends the file (the Arrow IPC end-of-stream marker), closes it and describes
// it. The file is not synced: spill files need not survive a crash. On error the file
// is removed.
func (w *SpillWriter) Finish() (SpillFile, error) {
	if w.done {
		if w.err != nil {
			return SpillFile{}, w.err
		}
		return SpillFile{}, fmt.Errorf("shuffle: spill file %s: Finish called twice", w.path)
	}
	if w.err != nil {
		w.Abort()
		return SpillFile{}, w.err
	}
	w.done = true
	err := w.w.Close()
	if cerr := w.blk.close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(w.path)
		w.err = fmt.Errorf("shuffle: spill file %s: finish: %w", w.path, err)
		return SpillFile{}, w.err
	}
	return SpillFile{
		Path: w.path, Rows: w.rows, Batches: w.batches, Bytes: w.blk.n, MemBytes: w.memBytes,
		Codec: w.codec, schema: w.schema, blocks: w.blk.blocks,
	}, nil
}

// Abort closes and removes an unfinished file; it is a no-op after Finish.
func (w *SpillWriter) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.blk.fail(errAborted)
	w.w.Close()
	w.blk.close()
	os.Remove(w.path)
	if w.err == nil {
		w.err = fmt.Errorf("shuffle: spill file %s: aborted", w.path)
	}
}

var errAborted = errors.New("aborted")

// Remove deletes the file; removing a file already gone is not an error.
func (f SpillFile) Remove() error {
	if err := os.Remove(f.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("shuffle: remove spill file: %w", err)
	}
	return nil
}

var (
	zstdEnc = sync.OnceValue(func() *zstd.Encoder {
		e, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderCRC(false),
			zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)))
		if err != nil {
			panic(err) // only invalid options fail
		}
		return e
	})
	zstdDec = sync.OnceValue(func() *zstd.Decoder {
		d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(2*blockSize))
		if err != nil {
			panic(err)
		}
		return d
	})
)

// blockWriter cuts the IPC stream into blocks, compresses them on Concurrency
// goroutines and writes them in order on one more.
type blockWriter struct {
	f       *os.File
	codec   Codec
	mem     memory.Allocator
	slots   []*slot
	free    chan *slot
	work    chan *slot
	ordered chan *slot
	cur     *slot
	wg      sync.WaitGroup
	closed  bool

	// owned by the writing goroutine until wg is done
	n      int64
	blocks []blockMeta
	errMu  sync.Mutex
	err    error
}

type slot struct {
	raw  []byte // the block's IPC bytes; len(raw) is the block's size so far
	out  []byte // compression output
	keep []byte // what goes to disk: raw or out[:n]
	done chan struct{}
}

func newBlockWriter(f *os.File, opts SpillOptions) *blockWriter {
	c := opts.Concurrency
	if c <= 0 {
		c = runtime.GOMAXPROCS(0)
	}
	w := &blockWriter{f: f, codec: opts.Codec, mem: opts.Mem,
		free: make(chan *slot, c+2), work: make(chan *slot, c+2), ordered: make(chan *slot, c+2)}
	bound := 0
	switch opts.Codec {
	case Zstd:
		bound = zstdEnc().MaxEncodedSize(blockSize)
	case LZ4:
		bound = lz4.CompressBlockBound(blockSize)
	}
	for range c + 2 {
		s := &slot{raw: opts.Mem.Allocate(blockSize)[:0], done: make(chan struct{}, 1)}
		if bound > 0 {
			s.out = opts.Mem.Allocate(bound)
		}
		w.slots = append(w.slots, s)
		w.free <- s
	}
	w.cur = <-w.free
	w.wg.Add(c + 1)
	for range c {
		go w.compress()
	}
	go w.write()
	return w
}

func (w *blockWriter) fail(err error) {
	w.errMu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.errMu.Unlock()
}

func (w *blockWriter) failed() error {
	w.errMu.Lock()
	defer w.errMu.Unlock()
	return w.err
}

// Write takes IPC stream bytes.
func (w *blockWriter) Write(p []byte) (int, error) {
	if err := w.failed(); err != nil {
		return 0, err
	}
	n := len(p)
	for len(p) > 0 {
		k := copy(w.cur.raw[len(w.cur.raw):blockSize], p)
		w.cur.raw = w.cur.raw[:len(w.cur.raw)+k]
		p = p[k:]
		if len(w.cur.raw) == blockSize {
			w.submit()
		}
	}
	return n, nil
}

func (w *blockWriter) submit() {
	w.work <- w.cur
	w.ordered <- w.cur
	w.cur = <-w.free
}

func (w *blockWriter) compress() {
	defer w.wg.Done()
	var lz lz4.Compressor
	for s := range w.work {
		s.keep = s.raw
		switch w.codec {
		case Zstd:
			s.keep = zstdEnc().EncodeAll(s.raw, s.out[:0])
		case LZ4:
			if n, err := lz.CompressBlock(s.raw, s.out); err == nil && n > 0 && n < len(s.raw) {
				s.keep = s.out[:n]
			}
		}
		s.done <- struct{}{}
	}
}

func (w *blockWriter) write() {
	defer w.wg.Done()
	for s := range w.ordered {
		<-s.done
		if w.failed() == nil {
			if _, err := w.f.Write(s.keep); err != nil {
				w.fail(err)
			}
			w.n += int64(len(s.keep))
			w.blocks = append(w.blocks, blockMeta{stored: uint32(len(s.keep)), raw: uint32(len(s.raw)), sum: xxh3.Hash(s.keep)})
		}
		s.raw = s.raw[:0]
		w.free <- s
	}
}

// close writes the last block, waits for the goroutines, closes the file and frees
// the buffers.
func (w *blockWriter) close() error {
	if w.closed {
		return w.failed()
	}
	w.closed = true
	if len(w.cur.raw) > 0 && w.failed() == nil {
		w.submit()
	}
	close(w.work)
	close(w.ordered)
	w.wg.Wait()
	if err := w.f.Close(); err != nil {
		w.fail(err)
	}
	for _, s := range w.slots {
		w.mem.Free(s.raw[:blockSize])
		if s.out != nil {
			w.mem.Free(s.out)
		}
	}
	w.slots = nil
	return w.failed()
}

// Open streams the file's batches back, allocating their buffers from mem (nil:
// memory.DefaultAllocator); pass the memory budget so what is read counts against it.
// The file's size is checked at once, and each block against its checksum before it
// is decoded, so a truncated or altered file is an error wrapping ErrCorrupt, from
// Open or Next, and never a panic or a wrong batch. Batches come back in the order
// they were written. Beside the batches it returns, an open stream holds one block
// and one IPC message (about one batch).
func (f SpillFile) Open(mem memory.Allocator) (Stream, error) {
	if f.schema == nil {
		return nil, errors.New("shuffle: SpillFile.Open: not a file from SpillWriter.Finish")
	}
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	fh, err := os.Open(f.Path)
	if err != nil {
		return nil, fmt.Errorf("shuffle: open spill file: %w", err)
	}
	st, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, fmt.Errorf("shuffle: spill file %s: %w", f.Path, err)
	}
	if st.Size() != f.Bytes {
		fh.Close()
		return nil, fmt.Errorf("%w %s: size %d bytes, written %d (truncated or overwritten)", ErrCorrupt, f.Path, st.Size(), f.Bytes)
	}
	s := &spillStream{file: f, fh: fh}
	s.blocks = blockReader{r: fh, path: f.Path, codec: f.Codec, blocks: f.blocks, mem: mem}
	r, err := ipc.NewReader(&s.blocks, ipc.WithAllocator(mem))
	if err != nil {
		err = s.corrupt(err)
		s.blocks.release()
		fh.Close()
		return nil, err
	}
	s.r = r
	return s, nil
}

type spillStream struct {
	file   SpillFile
	fh     *os.File
	blocks blockReader
	r      *ipc.Reader
	rows   int64
	err    error
}

// corrupt wraps a read error: the block reader's own error when it failed.
func (s *spillStream) corrupt(err error) error {
	if s.blocks.err != nil && !errors.Is(s.blocks.err, io.EOF) {
		return s.blocks.err
	}
	return fmt.Errorf("%w %s: %v", ErrCorrupt, s.file.Path, err)
}

// Next returns the next batch (handed over to the caller) or io.EOF.
func (s *spillStream) Next(ctx context.Context) (*change.Batch, error) {
	if s.err != nil {
		return nil, s.err
	}
	if s.r == nil {
		return nil, fmt.Errorf("shuffle: spill file %s: stream closed", s.file.Path)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rec, err := s.r.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			s.err = s.checkEnd()
		} else {
			s.err = s.corrupt(err)
		}
		return nil, s.err
	}
	b, err := s.toBatch(rec)
	if err != nil {
		s.err = err
		return nil, err
	}
	s.rows += int64(b.Len())
	return b, nil
}

// checkEnd verifies, at the end-of-stream marker, that the whole file was read.
func (s *spillStream) checkEnd() error {
	if s.rows != s.file.Rows || s.blocks.k != len(s.file.blocks) || s.blocks.pos != len(s.blocks.cur) {
		return fmt.Errorf("%w %s: end of stream after %d rows of %d", ErrCorrupt, s.file.Path, s.rows, s.file.Rows)
	}
	return io.EOF
}

// toBatch strips the op column of rec (owned by the IPC reader until its next Read).
func (s *spillStream) toBatch(rec arrow.RecordBatch) (*change.Batch, error) {
	n := s.file.schema.NumFields()
	rows := int(rec.NumRows())
	opsCol := rec.Column(n).(*array.Uint8)
	ops := make([]change.Op, rows)
	for i, v := range opsCol.Uint8Values() {
		ops[i] = change.Op(v)
	}
	out := array.NewRecordBatch(s.file.schema.Arrow(), rec.Columns()[:n], int64(rows))
	b, err := change.NewBatch(s.file.schema, out, ops)
	if err != nil {
		out.Release()
		return nil, fmt.Errorf("%w %s: %v", ErrCorrupt, s.file.Path, err)
	}
	return b, nil
}

// Close releases the reader and closes the file (which stays on disk).
func (s *spillStream) Close() error {
	if s.r == nil {
		return nil
	}
	s.r.Release()
	s.r = nil
	s.blocks.release()
	if err := s.fh.Close(); err != nil {
		return fmt.Errorf("shuffle: spill file %s: close: %w", s.file.Path, err)
	}
	return nil
}

// blockReader reads a spill file block by block; each block's stored bytes are checked
// against their sum before they are decoded.
type blockReader struct {
	r      io.Reader
	path   string
	codec  Codec
	blocks []blockMeta
	mem    memory.Allocator
	stored []byte // allocated from mem
	raw    []byte // allocated from mem
	cur    []byte // the current block's IPC bytes
	pos    int    // read position in cur
	k      int    // blocks loaded
	off    int64  // file offset after block k-1
	err    error
}

func (b *blockReader) Read(p []byte) (int, error) {
	if b.pos == len(b.cur) {
		if b.err != nil {
			return 0, b.err
		}
		if b.err = b.load(); b.err != nil {
			return 0, b.err
		}
	}
	n := copy(p, b.cur[b.pos:])
	b.pos += n
	return n, nil
}

func (b *blockReader) load() error {
	if b.k == len(b.blocks) {
		return io.EOF
	}
	m := b.blocks[b.k]
	if b.stored == nil {
		b.stored = b.mem.Allocate(max(blockSize, lz4.CompressBlockBound(blockSize), zstdEnc().MaxEncodedSize(blockSize)))
		b.raw = b.mem.Allocate(blockSize)
	}
	if int(m.stored) > len(b.stored) || int(m.raw) > len(b.raw) {
		return fmt.Errorf("%w %s: block %d of %d bytes", ErrCorrupt, b.path, b.k, m.stored)
	}
	in := b.stored[:m.stored]
	if _, err := io.ReadFull(b.r, in); err != nil {
		return fmt.Errorf("%w %s: read block %d at byte %d: %v", ErrCorrupt, b.path, b.k, b.off, err)
	}
	if xxh3.Hash(in) != m.sum {
		return fmt.Errorf("%w %s: checksum mismatch in bytes %d-%d", ErrCorrupt, b.path, b.off, b.off+int64(m.stored))
	}
	b.cur, b.pos = in, 0
	if m.stored != m.raw {
		var err error
		switch b.codec {
		case Zstd:
			b.cur, err = zstdDec().DecodeAll(in, b.raw[:0])
		case LZ4:
			var n int
			n, err = lz4.UncompressBlock(in, b.raw)
			b.cur = b.raw[:n]
		}
		if err == nil && len(b.cur) != int(m.raw) {
			err = fmt.Errorf("%d bytes, want %d", len(b.cur), m.raw)
		}
		if err != nil {
			b.cur = nil
			return fmt.Errorf("%w %s: decompress block %d at byte %d: %v", ErrCorrupt, b.path, b.k, b.off, err)
		}
	}
	b.off += int64(m.stored)
	b.k++
	return nil
}

func (b *blockReader) release() {
	if b.stored != nil {
		b.mem.Free(b.stored)
		b.mem.Free(b.raw)
		b.stored, b.raw, b.cur = nil, nil, nil
	}
}

// BatchBytes returns the bytes of the Arrow buffers b references (whole buffers, also
// for a slice: what keeping b alive costs).
func BatchBytes(b *change.Batch) int64 {
	var n int64
	for _, c := range b.Record().Columns() {
		n += dataBytes(c.Data())
	}
	return n
}

func dataBytes(d arrow.ArrayData) int64 {
	var n int64
	for _, buf := range d.Buffers() {
		if buf != nil {
			n += int64(buf.Len())
		}
	}
	for _, c := range d.Children() {
		n += dataBytes(c)
	}
	return n
}
