package reduce

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync/atomic"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/shuffle"
)

// SortKey is one key of a sort order: shuffle's, so that a range partition and the
// sort within each partition order rows alike (NaN after every number, -0 equal to
// 0, strings and binaries by bytes).
type SortKey = shuffle.SortKey

// ErrSortConfig is returned (wrapped) for a sort configuration that cannot work.
var ErrSortConfig = errors.New("reduce: invalid sort")

// SortConfig configures a Sort.
type SortConfig struct {
	// Schema is the schema of the input (and output) batches; required.
	Schema *change.Schema
	// Keys is the sort order, most significant first; required. The sort is stable:
	// rows with equal keys keep their input order.
	Keys []SortKey
	// Limit, when positive, keeps only the first Limit rows of the order (top-N): the
	// sort then holds O(Limit) rows, not its input.
	Limit int
	// BatchRows is the number of rows per output batch (default DefaultBatchRows).
	BatchRows int
	// Budget counts the sort's memory: the batches it holds, its row indexes, its
	// spill buffers (nil: uncounted). Inputs should allocate from it too. Over its
	// limit, the sort spills sorted runs and merges them.
	Budget *change.Budget
	// SpillDir is where runs are spilled (default os.TempDir()).
	SpillDir string
	// SpillCodec compresses the runs (default LZ4).
	SpillCodec shuffle.Codec
	// MaxFanIn bounds the runs merged at once (default 64; at least 2). With more
	// runs than the budget or MaxFanIn allows, merges take several passes.
	MaxFanIn int
}

// DefaultMaxFanIn is the default SortConfig.MaxFanIn.
const DefaultMaxFanIn = 64

// Sort is the sort reducer: it reads one input and emits its rows ordered by Keys,
// each with its op. Comparators are typed per key column and chosen once per input;
// the first key is also reduced to a 64-bit order-preserving prefix per row, so that
// most of the work is a radix sort of integers. Over the budget it is an external
// sort: runs sorted in memory are spilled (shuffle spill files) and merged k ways,
// in several passes when there are more runs than the fan-in.
//
// Memory: the sort plans its runs and merges within the budget's limit, so the peak
// stays within the limit plus the input batch being read and estimates (an output
// batch of longer rows than the average). Under a limit below 8 × shuffle.SpillScratch
// (~12 MiB) it keeps no room for its spill writer, whose buffers then go beyond the
// limit while a run is written, and a merge reads at least two runs whatever they
// cost (TestSortBoundedMemory states the slack at a 2 MiB limit).
type Sort struct {
	cfg   SortConfig
	stats struct{ runs, passes, spilled atomic.Int64 }
}

// SortStats are a sort's totals over its runs so far.
type SortStats struct {
	// Runs is the number of sorted runs spilled (0: every sort fit in memory).
	Runs int64
	// Merges is the number of merges that wrote a run of merged runs (the passes before the last, which streams).
	Merges int64
	// SpilledBytes is the size on disk of everything spilled.
	SpilledBytes int64
}

// Stats returns the sort's totals so far.
func (s *Sort) Stats() SortStats {
	return SortStats{Runs: s.stats.runs.Load(), Merges: s.stats.passes.Load(), SpilledBytes: s.stats.spilled.Load()}
}

// NewSort checks cfg and returns the sort.
func NewSort(cfg SortConfig) (*Sort, error) {
	if cfg.Schema == nil {
		return nil, fmt.Errorf("%w: the Schema is required", ErrSortConfig)
	}
	if cfg.Limit < 0 {
		return nil, fmt.Errorf("%w: limit %d is negative", ErrSortConfig, cfg.Limit)
	}
	if _, err := resolveSortKeys(cfg.Schema, cfg.Keys); err != nil {
		return nil, err
	}
	if cfg.BatchRows <= 0 {
		cfg.BatchRows = DefaultBatchRows
	}
	if cfg.MaxFanIn <= 0 {
		cfg.MaxFanIn = DefaultMaxFanIn
	}
	cfg.MaxFanIn = max(cfg.MaxFanIn, 2)
	if cfg.SpillCodec > shuffle.Uncompressed {
		return nil, fmt.Errorf("%w: unknown spill codec %d", ErrSortConfig, cfg.SpillCodec)
	}
	if cfg.Budget == nil {
		cfg.Budget = change.NewBudget(0, nil)
	}
	cfg.Keys = slices.Clone(cfg.Keys)
	return &Sort{cfg: cfg}, nil
}

// Schema returns the schema of the output batches (the input's).
func (s *Sort) Schema() *change.Schema { return s.cfg.Schema }

// Reduce sorts in[0] and emits it.
func (s *Sort) Reduce(ctx context.Context, in []shuffle.Stream, emit Emit) error {
	if len(in) != 1 {
		return fmt.Errorf("reduce: a sort takes 1 input, got %d", len(in))
	}
	out, err := s.Sorted(ctx, in[0])
	if err != nil {
		return err
	}
	defer out.Close()
	for {
		b, err := out.Next(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := emit(b); err != nil {
			return err
		}
	}
}

// Sorted reads in to its end and returns its rows in order as a stream of batches of
// up to BatchRows rows, which the caller must close (it need not read to the end).
// It does not close in.
func (s *Sort) Sorted(ctx context.Context, in shuffle.Stream) (shuffle.Stream, error) {
	l := s.cfg.Budget.Limit()
	return s.sorted(ctx, in, l, l)
}

// sorted is Sorted with the memory it may use: runLimit while it reads its input,
// mergeLimit for the stream it returns (0: unlimited).
func (s *Sort) sorted(ctx context.Context, in shuffle.Stream, runLimit, mergeLimit int64) (shuffle.Stream, error) {
	keys, err := resolveSortKeys(s.cfg.Schema, s.cfg.Keys)
	if err != nil {
		return nil, err
	}
	x := &sorter{sort: s, keys: keys, runLimit: runLimit, mergeLimit: mergeLimit}
	out, err := x.sortAll(ctx, in)
	if err != nil {
		x.cleanup()
		return nil, err
	}
	return out, nil
}

// checkInput reports a batch whose schema is not the sort's.
func (s *Sort) checkInput(b *change.Batch) error {
	if !b.Schema().Equal(s.cfg.Schema) {
		return fmt.Errorf("reduce: sort input batch has schema %s, want %s", b.Schema(), s.cfg.Schema)
	}
	return nil
}

// sortRun is rows held in memory to be sorted: the batches as they came.
type sortRun struct {
	sort  *Sort
	keys  []*sortKeyCol
	srcs  []*change.Batch
	rows  int
	bytes int64 // Arrow bytes of srcs
	acct  account
}

// add takes over b.
func (r *sortRun) add(b *change.Batch) error {
	if err := r.sort.checkInput(b); err != nil {
		b.Release()
		return err
	}
	if b.Len() == 0 {
		b.Release()
		return nil
	}
	setSource(r.keys, len(r.srcs), b)
	r.srcs = append(r.srcs, b)
	r.rows += b.Len()
	r.bytes += shuffle.BatchBytes(b)
	return nil
}

// sortBytesPerRow is what sorting costs per row beside the rows: an entry and its
// radix scratch.
const sortBytesPerRow = 2 * int64(unsafe.Sizeof(sortEntry{}))

// order returns the references of the run's rows in sort order. The rows whose first
// key is NULL are sorted apart and placed first or last; the others are radix-sorted
// by prefix, and only runs of equal prefixes are compared column by column.
func (r *sortRun) order() []uint64 {
	n := r.rows
	if n == 0 {
		return nil
	}
	r.acct.set(sortBytesPerRow * int64(n))
	first := r.keys[0]
	ents := make([]sortEntry, 0, n)
	var nulls []uint64
	var pre []uint64
	exact := true
	for i, b := range r.srcs {
		a := b.Column(first.col)
		if cap(pre) < b.Len() {
			pre = make([]uint64, b.Len())
		}
		p := pre[:b.Len()]
		exact = first.Prefix(a, p)
		if a.NullN() == 0 {
			for row, k := range p {
				ents = append(ents, sortEntry{key: k, ref: mkRef(i, row)})
			}
			continue
		}
		for row, k := range p {
			if a.IsNull(row) {
				nulls = append(nulls, mkRef(i, row))
				continue
			}
			ents = append(ents, sortEntry{key: k, ref: mkRef(i, row)})
		}
	}
	var tmp []sortEntry
	if len(ents) >= radixMin {
		tmp = make([]sortEntry, max(len(ents), (n+1)/2))
	}
	sorted := radixSort(ents, tmp)
	from := 1
	if !exact {
		from = 0
	}
	if from < len(r.keys) {
		tie := rowComparator(r.keys, from)
		byRef := func(a, b sortEntry) int { return tie(a.ref, b.ref) }
		for i := 0; i < len(sorted); {
			j := i + 1
			for j < len(sorted) && sorted[j].key == sorted[i].key {
				j++
			}
			if j-i > 1 {
				slices.SortFunc(sorted[i:j], byRef)
			}
			i = j
		}
	}
	if len(nulls) > 1 && len(r.keys) > 1 {
		slices.SortFunc(nulls, rowComparator(r.keys, 1))
	}
	// The references go into the half of the entries and scratch not holding the
	// sorted entries (16 bytes a row, room for two references).
	var out []uint64
	switch {
	case len(tmp) > 0 && &sorted[0] == &ents[0]:
		out = unsafe.Slice((*uint64)(unsafe.Pointer(&tmp[0])), 2*len(tmp))[:0]
	case len(tmp) > 0:
		out = unsafe.Slice((*uint64)(unsafe.Pointer(&ents[0])), 2*cap(ents))[:0]
	default:
		out = make([]uint64, 0, n)
	}
	if first.NullsFirst() {
		out = append(out, nulls...)
	}
	for _, e := range sorted {
		out = append(out, e.ref)
	}
	if !first.NullsFirst() {
		out = append(out, nulls...)
	}
	r.acct.set(8 * int64(cap(out))) // the sorted entries are dropped
	return out
}

// ordered sorts the run and returns its rows as a stream (limit > 0: the first limit
// rows only). The stream takes over the run's batches.
func (r *sortRun) ordered(limit int) *orderedStream {
	refs := r.order()
	if limit > 0 && len(refs) > limit {
		refs = refs[:limit]
	}
	s := &orderedStream{schema: r.sort.cfg.Schema, mem: r.sort.cfg.Budget, batchRows: r.sort.cfg.BatchRows,
		srcs: r.srcs, refs: refs, acct: r.acct}
	r.srcs, r.acct = nil, account{}
	return s
}

// release drops the run's batches.
func (r *sortRun) release() {
	for _, b := range r.srcs {
		b.Release()
	}
	r.srcs, r.rows, r.bytes = nil, 0, 0
	r.acct.set(0)
}

// orderedStream emits rows of its source batches in the order of refs, gathered into
// batches of batchRows rows. It holds the sources until its end or Close.
type orderedStream struct {
	schema    *change.Schema
	mem       memory.Allocator
	batchRows int
	srcs      []*change.Batch
	refs      []uint64
	acct      account
	closed    bool
}

func (s *orderedStream) Next(ctx context.Context) (*change.Batch, error) {
	return s.next(ctx, s.batchRows)
}

// next returns a batch of up to n rows.
func (s *orderedStream) next(ctx context.Context, n int) (*change.Batch, error) {
	if s.closed {
		return nil, errors.New("reduce: sorted stream used after Close")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(s.refs) == 0 {
		s.free() // the end: give the sources back without waiting for Close
		return nil, io.EOF
	}
	n = min(len(s.refs), n)
	b := gatherRows(s.mem, s.schema, s.srcs, s.refs[:n])
	s.refs = s.refs[n:]
	return b, nil
}

func (s *orderedStream) Close() error {
	s.free()
	s.closed = true
	return nil
}

func (s *orderedStream) free() {
	for _, b := range s.srcs {
		b.Release()
	}
	s.srcs, s.refs = nil, nil
	s.acct.set(0)
}

// gatherRows builds a batch of the rows refs of srcs (batches of schema s), with
// their ops, allocated from mem.
func gatherRows(mem memory.Allocator, s *change.Schema, srcs []*change.Batch, refs []uint64) *change.Batch {
	return gatherRowsOps(mem, s, srcs, refs, nil)
}

// gatherRowsOps is gatherRows with the given ops (nil: the rows' own).
func gatherRowsOps(mem memory.Allocator, s *change.Schema, srcs []*change.Batch, refs []uint64, ops []change.Op) *change.Batch {
	cols := make([]arrow.Array, s.NumFields())
	for c := range cols {
		cols[c] = gather(mem, s.Field(c).Type, srcs, c, refs)
	}
	rec := array.NewRecordBatch(s.Arrow(), cols, int64(len(refs)))
	for _, c := range cols {
		c.Release()
	}
	own := make([]change.Op, len(refs))
	for i, r := range refs {
		if ops != nil {
			own[i] = ops[i]
		} else {
			own[i] = srcs[refSrc(r)].Ops()[refPos(r)]
		}
	}
	b, err := change.NewBatch(s, rec, own)
	if err != nil {
		panic(err) // the sources' schema and ops
	}
	return b
}
