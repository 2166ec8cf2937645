package shuffle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/change"
)

// ErrClosed is returned (wrapped) by a shuffle, writer or reader used after Close.
var ErrClosed = errors.New("shuffle: closed")

// SpillScratch bounds the block buffers a shuffle's spill holds while it writes (one
// spill at a time, counted in the budget): 3 × (256 KiB + the codec's bound).
const SpillScratch = 3 * (blockSize + blockSize + blockSize/64 + 1024)

// Config configures the in-process shuffle. Partitioner is required; the rest has
// defaults.
type Config struct {
	// Partitioner assigns the rows given to Writer.Write to partitions.
	Partitioner Partitioner
	// Budget bounds the memory of the batches the shuffle holds; they are copied into
	// buffers allocated from it. Over the budget, the largest partitions spill. The
	// default is unlimited (over the Go allocator): nothing spills.
	Budget *change.Budget
	// SpillDir is where the shuffle makes its own directory for spill files (default
	// os.TempDir()). A crash leaves only that directory (strata-shuffle-*) behind.
	SpillDir string
	// Codec compresses spill files (default LZ4).
	Codec Codec
	// BatchRows is the size readers coalesce small batches up to (default 8192).
	BatchRows int
	// Metrics counts bytes shuffled and spilled (default: not counted).
	Metrics *Metrics
	// Logger receives a debug line per spill (default slog.Default()).
	Logger *slog.Logger
}

// Validate reports a setting New cannot use.
func (c Config) Validate() error {
	switch {
	case c.Partitioner == nil:
		return errors.New("shuffle: Config.Partitioner is required")
	case c.Partitioner.NumPartitions() < 1:
		return fmt.Errorf("shuffle: Config.Partitioner has %d partitions", c.Partitioner.NumPartitions())
	case c.Codec > Uncompressed:
		return fmt.Errorf("shuffle: Config.Codec %d is unknown", c.Codec)
	case c.BatchRows < 0:
		return fmt.Errorf("shuffle: Config.BatchRows %d is negative", c.BatchRows)
	}
	return nil
}

func (c *Config) ensureDefaults() error {
	if err := c.Validate(); err != nil {
		return err
	}
	if c.Budget == nil {
		c.Budget = change.NewBudget(0, nil)
	}
	if c.SpillDir == "" {
		c.SpillDir = os.TempDir()
	}
	if c.BatchRows == 0 {
		c.BatchRows = 8192
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Local is the in-process Shuffler. Writers (one per map task, each used by one
// goroutine, several at once) copy the rows of each partition into buffers allocated
// from the budget. When a write would not fit, the shuffle spills the partitions
// holding the most memory, one spill file per partition and map task, until it fits.
// Reader(p) streams partition p back: map tasks in ascending task order, and each
// task's rows in the order written, from its spill files then its memory.
//
// Memory: Budget.Peak() stays within the budget's limit plus SpillScratch plus the
// batches other map tasks are copying at the same moment (one input batch each); a
// single input batch larger than the limit is the one exception. Batches read back
// are allocated from the budget and handed over; a reader holds one spill block and
// one batch being coalesced.
type Local struct {
	cfg   Config
	parts []*partition

	mu      sync.Mutex
	writers map[int]*localWriter
	open    int
	reading bool
	closed  atomic.Bool
	dir     string // made at the first spill

	schema  atomic.Pointer[change.Schema]
	spillMu sync.Mutex
	stats   struct{ bytes, spilledBytes, spilledMem, files atomic.Int64 }
}

type partition struct {
	mu    sync.Mutex
	bytes atomic.Int64 // Arrow bytes in memory
	tasks map[int]*taskPart
	read  bool
}

// taskPart is one map task's part of one partition: spilled runs, then memory.
type taskPart struct {
	files []SpillFile
	mem   []*change.Batch
}

// New returns an in-process shuffle.
func New(cfg Config) (*Local, error) {
	if err := cfg.ensureDefaults(); err != nil {
		return nil, err
	}
	s := &Local{cfg: cfg, writers: map[int]*localWriter{}}
	for range cfg.Partitioner.NumPartitions() {
		s.parts = append(s.parts, &partition{tasks: map[int]*taskPart{}})
	}
	return s, nil
}

// Stats are a shuffle's totals so far.
type Stats struct {
	// Bytes is the Arrow size of the batches written.
	Bytes int64
	// SpilledBytes is the size of the spill files written; SpilledMem the memory
	// they freed; SpillFiles their number.
	SpilledBytes, SpilledMem, SpillFiles int64
}

// Stats returns the shuffle's totals so far.
func (s *Local) Stats() Stats {
	return Stats{Bytes: s.stats.bytes.Load(), SpilledBytes: s.stats.spilledBytes.Load(),
		SpilledMem: s.stats.spilledMem.Load(), SpillFiles: s.stats.files.Load()}
}

// Writer implements Shuffler: task is any non-negative number, used once.
func (s *Local) Writer(task int) (Writer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed.Load():
		return nil, ErrClosed
	case task < 0:
		return nil, fmt.Errorf("shuffle: Writer: negative task %d", task)
	case s.reading:
		return nil, fmt.Errorf("shuffle: Writer(%d) after a Reader", task)
	case s.writers[task] != nil:
		return nil, fmt.Errorf("shuffle: Writer(%d) called twice", task)
	}
	w := &localWriter{s: s, task: task}
	s.writers[task] = w
	s.open++
	return w, nil
}

type localWriter struct {
	s      *Local
	task   int
	closed bool
	parts  []int
	idx    []int32
	counts []int
}

// Write implements Writer.
func (w *localWriter) Write(ctx context.Context, b *change.Batch) error {
	if err := w.check(ctx, b); err != nil {
		return err
	}
	n := b.Len()
	if n == 0 {
		return nil
	}
	s := w.s
	np := len(s.parts)
	if cap(w.parts) < n {
		w.parts = make([]int, n)
		w.idx = make([]int32, n)
	}
	parts, idx := w.parts[:n], w.idx[:n]
	if err := s.cfg.Partitioner.Partition(b, parts); err != nil {
		return fmt.Errorf("shuffle: task %d: %w", w.task, err)
	}
	// Counting sort of the row numbers by partition.
	if w.counts == nil {
		w.counts = make([]int, np+1)
	}
	counts := w.counts
	clear(counts)
	for _, p := range parts {
		if p < 0 || p >= np {
			return fmt.Errorf("shuffle: task %d: partitioner returned %d of %d partitions", w.task, p, np)
		}
		counts[p+1]++
	}
	used := 0
	for p := range np {
		if counts[p+1] > 0 {
			used++
		}
		counts[p+1] += counts[p]
	}
	next := slices.Clone(counts[:np])
	for i, p := range parts {
		idx[next[p]] = int32(i)
		next[p]++
	}
	if err := s.makeRoom(ctx, estimate(b, used)); err != nil {
		return err
	}
	for p := range np {
		if counts[p+1] > counts[p] {
			if err := s.add(w.task, p, takeBatch(s.cfg.Budget, b, idx[counts[p]:counts[p+1]])); err != nil {
				return err
			}
		}
	}
	return nil
}

// Append implements Writer.
func (w *localWriter) Append(ctx context.Context, p int, b *change.Batch) error {
	if err := w.check(ctx, b); err != nil {
		return err
	}
	s := w.s
	if p < 0 || p >= len(s.parts) {
		return fmt.Errorf("shuffle: task %d: Append to partition %d of %d", w.task, p, len(s.parts))
	}
	n := b.Len()
	if n == 0 {
		return nil
	}
	if err := s.makeRoom(ctx, estimate(b, 1)); err != nil {
		return err
	}
	idx := w.idx[:0]
	for i := range n {
		idx = append(idx, int32(i))
	}
	w.idx = idx
	return s.add(w.task, p, takeBatch(s.cfg.Budget, b, idx))
}

func (w *localWriter) check(ctx context.Context, b *change.Batch) error {
	if w.closed {
		return fmt.Errorf("shuffle: task %d: write after Close", w.task)
	}
	if w.s.closed.Load() {
		return ErrClosed
	}
	if !b.Schema().Equal(w.s.schemaOf(b)) {
		return fmt.Errorf("shuffle: task %d: batch schema (%s) differs from the shuffle's (%s)", w.task, b.Schema(), w.s.schemaOf(b))
	}
	return ctx.Err()
}

// Close implements Writer.
func (w *localWriter) Close() error {
	s := w.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	s.open--
	return nil
}

// schemaOf returns the shuffle's schema: that of the first batch written.
func (s *Local) schemaOf(b *change.Batch) *change.Schema {
	s.schema.CompareAndSwap(nil, b.Schema())
	return s.schema.Load()
}

// estimate bounds the budget bytes that copying b's rows into parts partitions
// allocates: the rows' bytes plus one 64-byte rounding per buffer and partition.
func estimate(b *change.Batch, parts int) int64 {
	n := int64(b.Len())
	var est int64
	for _, c := range b.Record().Columns() {
		bufs := int64(2)
		switch c := c.(type) {
		case *array.String:
			offs := c.ValueOffsets()
			est += int64(offs[len(offs)-1]-offs[0]) + 4*(n+1)
			bufs = 3
		case *array.Binary:
			offs := c.ValueOffsets()
			est += int64(offs[len(offs)-1]-offs[0]) + 4*(n+1)
			bufs = 3
		case *array.Boolean:
			est += (n + 7) / 8
		default:
			est += n * int64(c.DataType().(arrow.FixedWidthDataType).Bytes())
		}
		est += (n+7)/8 + int64(parts)*bufs*64
	}
	return est
}

// add appends a copied part to partition p of task.
func (s *Local) add(task, p int, b *change.Batch) error {
	part := s.parts[p]
	size := BatchBytes(b)
	part.mu.Lock()
	if s.closed.Load() { // Close has released, or will not see, this partition
		part.mu.Unlock()
		b.Release()
		return ErrClosed
	}
	tp := part.tasks[task]
	if tp == nil {
		tp = &taskPart{}
		part.tasks[task] = tp
	}
	tp.mem = append(tp.mem, b)
	part.bytes.Add(size)
	part.mu.Unlock()
	s.stats.bytes.Add(size)
	s.cfg.Metrics.shuffled(size)
	return nil
}

// makeRoom spills the partitions holding the most memory until need more bytes fit
// in the budget, or nothing is left in memory.
func (s *Local) makeRoom(ctx context.Context, need int64) error {
	budget := s.cfg.Budget
	if budget.Fits(need) {
		return nil
	}
	s.spillMu.Lock()
	defer s.spillMu.Unlock()
	for !budget.Fits(need) {
		if err := ctx.Err(); err != nil {
			return err
		}
		best, most := -1, int64(0)
		for p, part := range s.parts {
			if n := part.bytes.Load(); n > most {
				best, most = p, n
			}
		}
		if best < 0 {
			return nil // all on disk: the write goes over the limit
		}
		if err := s.spill(best); err != nil {
			return err
		}
	}
	return nil
}

// spillDir returns the shuffle's own spill directory, making it at the first spill.
func (s *Local) spillDir() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return "", ErrClosed
	}
	if s.dir == "" {
		d, err := os.MkdirTemp(s.cfg.SpillDir, "strata-shuffle-*")
		if err != nil {
			return "", fmt.Errorf("shuffle: spill directory: %w", err)
		}
		s.dir = d
	}
	return s.dir, nil
}

// spill writes the memory of partition p to one spill file per map task and frees it.
// On error what was in memory stays there.
func (s *Local) spill(p int) error {
	dir, err := s.spillDir()
	if err != nil {
		return err
	}
	part := s.parts[p]
	part.mu.Lock()
	defer part.mu.Unlock()
	start := time.Now()
	tasks := slices.Sorted(mapKeys(part.tasks))
	var files, rows, fileBytes, memBytes int64
	for _, t := range tasks {
		tp := part.tasks[t]
		if len(tp.mem) == 0 {
			continue
		}
		f, err := writeSpillFile(dir, tp.mem, SpillOptions{Codec: s.cfg.Codec, Mem: s.cfg.Budget, Concurrency: 1})
		if err != nil {
			return fmt.Errorf("shuffle: spill partition %d of task %d: %w", p, t, err)
		}
		for _, b := range tp.mem {
			b.Release()
		}
		tp.mem = nil
		tp.files = append(tp.files, f)
		files++
		rows += f.Rows
		fileBytes += f.Bytes
		memBytes += f.MemBytes
	}
	part.bytes.Add(-memBytes)
	s.stats.spilledBytes.Add(fileBytes)
	s.stats.spilledMem.Add(memBytes)
	s.stats.files.Add(files)
	s.cfg.Metrics.spilled(fileBytes, files)
	s.cfg.Logger.Debug("shuffle: spilled", "partition", p, "files", files, "rows", rows,
		"mem_bytes", memBytes, "file_bytes", fileBytes, "elapsed", time.Since(start), "dir", dir)
	return nil
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func writeSpillFile(dir string, batches []*change.Batch, opts SpillOptions) (SpillFile, error) {
	w, err := CreateSpill(dir, batches[0].Schema(), opts)
	if err != nil {
		return SpillFile{}, err
	}
	for _, b := range batches {
		if err := w.Write(b); err != nil {
			w.Abort()
			return SpillFile{}, err
		}
	}
	return w.Finish()
}

// Reader implements Shuffler. Each partition is read once: the stream takes over
// what the shuffle holds of it, and removes its spill files when closed.
func (s *Local) Reader(p int) (Stream, error) {
	s.mu.Lock()
	switch {
	case s.closed.Load():
		s.mu.Unlock()
		return nil, ErrClosed
	case p < 0 || p >= len(s.parts):
		s.mu.Unlock()
		return nil, fmt.Errorf("shuffle: Reader(%d) of %d partitions", p, len(s.parts))
	case s.open > 0:
		s.mu.Unlock()
		return nil, fmt.Errorf("shuffle: Reader(%d) while %d writers are open", p, s.open)
	}
	s.reading = true
	s.mu.Unlock()

	part := s.parts[p]
	part.mu.Lock()
	defer part.mu.Unlock()
	if part.read {
		return nil, fmt.Errorf("shuffle: Reader(%d) called twice", p)
	}
	part.read = true
	r := &localReader{mem: s.cfg.Budget, rows: s.cfg.BatchRows}
	for _, t := range slices.Sorted(mapKeys(part.tasks)) {
		tp := part.tasks[t]
		for _, f := range tp.files {
			r.steps = append(r.steps, step{file: f, isFile: true})
		}
		for _, b := range tp.mem {
			r.steps = append(r.steps, step{batch: b})
		}
	}
	clear(part.tasks)
	part.bytes.Store(0)
	return r, nil
}

// step is one source of a reader: a spill file or a batch in memory.
type step struct {
	isFile bool
	file   SpillFile
	batch  *change.Batch
}

type localReader struct {
	mem     memory.Allocator
	rows    int
	steps   []step
	cur     Stream // the open spill file
	curFile SpillFile
	pending *change.Batch // read ahead while coalescing
	closed  bool
}

// next returns the next source batch, or io.EOF.
func (r *localReader) next(ctx context.Context) (*change.Batch, error) {
	if b := r.pending; b != nil {
		r.pending = nil
		return b, nil
	}
	for {
		if r.cur != nil {
			b, err := r.cur.Next(ctx)
			if err == nil {
				return b, nil
			}
			if !errors.Is(err, io.EOF) {
				return nil, err
			}
			r.closeFile()
		}
		if len(r.steps) == 0 {
			return nil, io.EOF
		}
		st := r.steps[0]
		r.steps[0] = step{}
		r.steps = r.steps[1:]
		if !st.isFile {
			return st.batch, nil
		}
		cur, err := st.file.Open(r.mem)
		if err != nil {
			st.file.Remove()
			return nil, err
		}
		r.cur, r.curFile = cur, st.file
	}
}

func (r *localReader) closeFile() error {
	if r.cur == nil {
		return nil
	}
	err := r.cur.Close()
	if rerr := r.curFile.Remove(); err == nil {
		err = rerr
	}
	r.cur = nil
	return err
}

// Next implements Stream: batches of the partition in order, small ones coalesced up
// to Config.BatchRows.
func (r *localReader) Next(ctx context.Context) (*change.Batch, error) {
	if r.closed {
		return nil, fmt.Errorf("shuffle: reader: %w", ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	first, err := r.next(ctx)
	if err != nil {
		return nil, err
	}
	if first.Len() >= r.rows {
		return first, nil
	}
	group := []*change.Batch{first}
	rows := first.Len()
	for rows < r.rows {
		b, err := r.next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			releaseAll(group)
			return nil, err
		}
		if rows+b.Len() > r.rows {
			r.pending = b
			break
		}
		group = append(group, b)
		rows += b.Len()
	}
	if len(group) == 1 {
		return first, nil
	}
	out, err := change.Concat(r.mem, group)
	releaseAll(group)
	return out, err
}

// Close implements Stream: it releases what was not read and removes the partition's
// spill files.
func (r *localReader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	err := r.closeFile()
	if r.pending != nil {
		r.pending.Release()
		r.pending = nil
	}
	for _, st := range r.steps {
		if st.isFile {
			if rerr := st.file.Remove(); err == nil {
				err = rerr
			}
		} else {
			st.batch.Release()
		}
	}
	r.steps = nil
	return err
}

func releaseAll(bs []*change.Batch) {
	for _, b := range bs {
		b.Release()
	}
}

// Close implements Shuffler: it releases the batches in memory and removes the spill
// directory. Streams from Reader own what they took and are closed by their callers.
func (s *Local) Close() error {
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return nil
	}
	s.closed.Store(true)
	dir := s.dir
	s.mu.Unlock()
	s.spillMu.Lock() // wait for a spill in progress
	defer s.spillMu.Unlock()
	for _, part := range s.parts {
		part.mu.Lock()
		for _, tp := range part.tasks {
			releaseAll(tp.mem)
		}
		clear(part.tasks)
		part.bytes.Store(0)
		part.mu.Unlock()
	}
	if dir != "" {
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("shuffle: remove spill directory: %w", err)
		}
	}
	return nil
}

var _ Shuffler = (*Local)(nil)
