package reduce

import (
	"encoding/binary"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// A join gathers each output column of the build side row by row from the build
// batches: for a string column, two cache misses per output row over a large build
// side (the row's offsets, then its bytes). Build string columns of few distinct values
// (a region, a status, a category: the usual dimension attribute) are worth encoding
// once as a dictionary: a 2-byte code per build row, and the distinct strings, which
// stay in the caches; gathering an output row then reads one code. The output is the
// same plain string column. The table encodes its output string columns once a pass
// has emitted pairs for a quarter of its rows (encoding a row, a hash and a probe of a
// small table in the caches, costs a fraction of a gather's two misses, so a join
// emitting fewer pairs loses little), and gives up on a column at more than
// maxDictValues distinct values.

// maxDictValues bounds a build column's distinct values for its dictionary.
const maxDictValues = 4096

// strDict is a build string column as dictionary codes.
type strDict struct {
	codes [][]uint16 // per build batch, per row: the index of its value
	ends  []int32    // per value: where it ends in data
	data  []byte     // the values back to back, then 16 bytes of slack
}

// joinDicts are a table's dictionaries, per input column (nil: not encoded).
type joinDicts map[int]*strDict

// tableDicts builds a table's dictionaries once, when asked by the first pass that
// emitted enough pairs (probes of a shared build may ask at once).
type tableDicts struct {
	once  sync.Once
	ready atomic.Pointer[joinDicts]
	acct  account
}

// dicts returns the table's dictionaries, encoding them when the pairs emitted by the
// asking pass reach a quarter of the table's rows; nil before.
func (t *joinTable) dicts(emitted int64) joinDicts {
	if d := t.dict.ready.Load(); d != nil {
		return *d
	}
	if emitted < int64(len(t.refs))/4 || len(t.refs) == 0 {
		return nil
	}
	t.dict.once.Do(func() {
		d := joinDicts{}
		var n int64
		for _, c := range t.spec.cols {
			if c.side != t.side || d[c.col] != nil {
				continue
			}
			if id := t.spec.in[t.side].Field(c.col).Type.ID(); id != arrow.STRING && id != arrow.BINARY {
				continue
			}
			// codes for every row: counted before they are made, skipped if they do not fit
			need := 2 * int64(len(t.refs)+len(t.nulls))
			if !t.spec.budget.Fits(need) {
				continue
			}
			if sd := t.encode(c.col); sd != nil {
				d[c.col] = sd
				n += sd.bytes()
				t.dict.acct.budget = t.spec.budget
				t.dict.acct.set(n)
			}
		}
		t.dict.ready.Store(&d)
	})
	return *t.dict.ready.Load()
}

func (d *strDict) bytes() int64 {
	n := int64(len(d.data)) + 4*int64(len(d.ends))
	for _, c := range d.codes {
		n += 2 * int64(len(c))
	}
	return n
}

// encode returns column col of the table's batches as a dictionary, nil when it has
// more than maxDictValues distinct values.
func (t *joinTable) encode(col int) *strDict {
	l := newKeyLayout([]keyKind{kindBytes})
	kt := newKeyTable(l, t.spec.budget)
	defer kt.release()
	bk := newBatchKeys(l, t.spec.budget)
	defer bk.release()
	d := &strDict{codes: make([][]uint16, len(t.batches))}
	var groups []int32
	cols := []int{col}
	for i, b := range t.batches {
		n := b.Len()
		bk.load(b, cols)
		bk.null = nil // a NULL's slot is encoded as the bytes it holds (an empty string)
		if cap(groups) < n {
			groups = make([]int32, n)
		}
		groups = groups[:n]
		kt.insert(bk, groups)
		if kt.Len() > maxDictValues {
			return nil
		}
		codes := make([]uint16, n)
		for r, g := range groups {
			codes[r] = uint16(g)
		}
		d.codes[i] = codes
	}
	d.ends = make([]int32, kt.Len())
	for g := range d.ends {
		d.ends[g] = int32(kt.ends[0][g])
	}
	d.data = make([]byte, len(kt.arena[0])+16)
	copy(d.data, kt.arena[0])
	return d
}

// gatherDict is gatherBytes for a column encoded as d.
func gatherDict(mem memory.Allocator, d *strDict, refs []uint64, scratch *[]int32) []*memory.Buffer {
	offBuf := memory.NewResizableBuffer(mem)
	offBuf.Resize(4 * (len(refs) + 1))
	offs := arrow.GetData[int32](offBuf.Bytes())
	// codes become value indexes in place of the refs' rows, in a scratch the
	// offsets' buffer cannot hold: the caller's (the emitter keeps one across batches,
	// a batch's worth of Go garbage less each), or a new one
	var starts []int32
	if scratch != nil {
		if cap(*scratch) < len(refs) {
			*scratch = make([]int32, len(refs))
		}
		starts = (*scratch)[:len(refs)]
	} else {
		starts = make([]int32, len(refs))
	}
	total := int32(0)
	offs[0] = 0
	for i, r := range refs {
		start := int32(0) // a NULL's too: the scratch holds an earlier batch's
		if r != nullRef {
			c := d.codes[refBatch(r)][refRow(r)]
			if c > 0 {
				start = d.ends[c-1]
			}
			total += d.ends[c] - start
		}
		starts[i] = start
		offs[i+1] = total
	}
	dataBuf := memory.NewResizableBuffer(mem)
	dataBuf.Reserve(int(total) + 16)
	dataBuf.ResizeNoShrink(int(total))
	dst := dataBuf.Buf()
	src := d.data
	for i := range refs {
		o, n, from := int(offs[i]), int(offs[i+1]-offs[i]), int(starts[i])
		if n <= 16 { // src has 16 bytes of slack; see gatherBytes
			binary.LittleEndian.PutUint64(dst[o:], binary.LittleEndian.Uint64(src[from:]))
			binary.LittleEndian.PutUint64(dst[o+8:], binary.LittleEndian.Uint64(src[from+8:]))
			continue
		}
		copy(dst[o:o+n], src[from:from+n])
	}
	clear(dst[total:])
	return []*memory.Buffer{offBuf, dataBuf}
}
