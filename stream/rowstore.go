package stream

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/state"
)

// rowStore keeps the rows of a keyed input by primary key, so that a retraction
// carrying only the key columns (a partial before-image, as REPLICA IDENTITY DEFAULT
// gives) leaves it as the whole row it retracts. An operator that reads a
// retraction's values (an Aggregate) needs that; a Join finds the row itself. An
// update pair whose row does not change is dropped.
//
// State: namespace "ID" maps the partition's prefix ++ primary key to the row, in
// the order-preserving encoding of encode.go.
type rowStore struct {
	id, ns string
	in     *change.Schema
	pk     []int
	kinds  []encKind
	mem    memory.Allocator
	part   []byte // see Join.part: a row moving partitions is stored under each

	kbuf, k2buf, vbuf, obuf []byte
	pending                 state.Batch
	overlay                 map[string]int
	be                      state.Backend
	rb                      *array.RecordBuilder // empty between calls
	outOps                  []change.Op
}

func newRowStore(id string, in *change.Schema, be state.Backend, mem memory.Allocator) (*rowStore, error) {
	if len(in.Key()) == 0 {
		return nil, fmt.Errorf("%w: row store %s: input %s has no primary key", ErrConfig, id, in)
	}
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	s := &rowStore{id: id, ns: id, in: in, pk: in.Key(), mem: mem, be: be, overlay: map[string]int{}}
	for _, f := range in.Fields() {
		k, err := encKindOf(f.Type)
		if err != nil {
			return nil, fmt.Errorf("%w: row store %s: column %q: %w", ErrConfig, id, f.Name, err)
		}
		s.kinds = append(s.kinds, k)
	}
	return s, nil
}

func (s *rowStore) Schema() *change.Schema { return s.in }

func (s *rowStore) Namespaces() []string { return []string{s.ns} }

func (s *rowStore) setPartition(p, n int) error {
	s.part = nil
	if n > 1 {
		s.part = binary.AppendUvarint(nil, uint64(p))
	}
	return nil
}

func (s *rowStore) key(dst []byte, cols []arrow.Array, r int) []byte {
	dst = append(dst[:0], s.part...)
	for _, c := range s.pk {
		dst = appendKey(dst, cols[c], r)
	}
	return dst
}

// get reads a stored row through the batch's pending writes.
func (s *rowStore) get(key, dst []byte) ([]byte, bool, error) {
	if i, ok := s.overlay[string(key)]; ok {
		e := s.pending.Entry(i)
		if e.Op == state.OpDelete {
			return dst, false, nil
		}
		return append(dst, e.Value...), true, nil
	}
	v, ok, err := s.be.Get(s.ns, key, dst)
	if err != nil {
		return v, ok, fmt.Errorf("stream: row store %s: %w", s.id, err)
	}
	return v, ok, nil
}

func (s *rowStore) put(key, val []byte) {
	s.overlay[string(key)] = s.pending.Len()
	s.pending.Put(s.ns, key, val)
}

func (s *rowStore) del(key []byte) {
	s.overlay[string(key)] = s.pending.Len()
	s.pending.Delete(s.ns, key)
}

// Process implements Operator.
func (s *rowStore) Process(ctx context.Context, in *change.Batch, emit Emit) error {
	defer in.Release()
	if err := checkSchema("row store "+s.id, s.in, in); err != nil {
		return err
	}
	ops := in.Ops()
	cols := make([]arrow.Array, in.Record().NumCols())
	for i := range cols {
		cols[i] = in.Column(i)
	}
	if !slices.ContainsFunc(ops, change.Op.IsRetraction) {
		return s.passInserts(in, cols, emit)
	}
	if s.rb == nil {
		s.rb = array.NewRecordBuilder(s.mem, s.in.Arrow())
	}
	rb, fb, outOps := s.rb, s.rb.Fields(), s.outOps[:0]
	defer func() {
		s.pending.Reset()
		clear(s.overlay)
		if len(outOps) > 0 { // an error: drop the rows built
			rb.NewRecordBatch().Release()
		}
		s.outOps = outOps[:0]
	}()
	appendRow := func(op change.Op, enc []byte) error {
		for i, k := range s.kinds {
			var err error
			if enc, err = decodeInto(fb[i], k, enc); err != nil {
				return fmt.Errorf("%w: row store %s: %w", state.ErrCorrupt, s.id, err)
			}
		}
		outOps = append(outOps, op)
		return nil
	}
	for r := 0; r < len(ops); r++ {
		op := ops[r]
		s.kbuf = s.key(s.kbuf, cols, r)
		if !op.IsRetraction() {
			s.vbuf = encodeRow(s.vbuf[:0], cols, r)
			s.put(s.kbuf, s.vbuf)
			if err := appendRow(op, s.vbuf); err != nil {
				return err
			}
			continue
		}
		old, found, err := s.get(s.kbuf, s.obuf[:0])
		if err != nil {
			return err
		}
		s.obuf = old
		if !found {
			return fmt.Errorf("%w: row store %s: retraction of a row it does not hold", ErrInput, s.id)
		}
		if op == change.UpdateBefore && r+1 < len(ops) && ops[r+1] == change.UpdateAfter {
			s.vbuf = encodeRow(s.vbuf[:0], cols, r+1)
			if s.k2buf = s.key(s.k2buf, cols, r+1); string(s.k2buf) == string(s.kbuf) { // same primary key
				r++
				if string(s.vbuf) == string(old) {
					continue // the row does not change
				}
				s.put(s.kbuf, s.vbuf)
				if err := appendRow(change.UpdateBefore, old); err != nil {
					return err
				}
				if err := appendRow(change.UpdateAfter, s.vbuf); err != nil {
					return err
				}
				continue
			}
		}
		s.del(s.kbuf)
		if err := appendRow(op, old); err != nil {
			return err
		}
	}
	if s.pending.Len() > 0 {
		if err := s.be.Apply(&s.pending); err != nil {
			return fmt.Errorf("stream: row store %s: %w", s.id, err)
		}
	}
	if len(outOps) == 0 {
		return nil
	}
	rec := rb.NewRecordBatch()
	out, err := change.NewBatch(s.in, rec, slices.Clone(outOps))
	outOps = outOps[:0]
	if err != nil {
		rec.Release()
		return fmt.Errorf("stream: row store %s: %w", s.id, err)
	}
	return emit(out)
}

// passInserts stores a batch without retractions and emits it as it came: its
// rows are whole already, so building a copy (an Arrow batch per call, most of
// the cost at a transaction or two per call) buys nothing.
func (s *rowStore) passInserts(in *change.Batch, cols []arrow.Array, emit Emit) error {
	defer func() {
		s.pending.Reset()
		clear(s.overlay)
	}()
	for r := range in.Len() {
		s.kbuf = s.key(s.kbuf, cols, r)
		s.vbuf = encodeRow(s.vbuf[:0], cols, r)
		s.put(s.kbuf, s.vbuf)
	}
	if s.pending.Len() > 0 {
		if err := s.be.Apply(&s.pending); err != nil {
			return fmt.Errorf("stream: row store %s: %w", s.id, err)
		}
	}
	if in.Len() == 0 {
		return nil
	}
	in.Retain() // Process releases its reference
	return emit(in)
}

// encodeRow appends the encoding of row r of cols.
func encodeRow(dst []byte, cols []arrow.Array, r int) []byte {
	for _, c := range cols {
		dst = appendKey(dst, c, r)
	}
	return dst
}
