package stream

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/reduce"
	"github.com/strata-data/strata/state"
)

// JoinConfig configures NewJoin.
type JoinConfig struct {
	// ID names the operator; its state namespaces are "ID/l" and "ID/r". Required,
	// unique among the operators sharing a backend.
	ID string
	// Type is reduce.InnerJoin (the default) or reduce.LeftJoin.
	Type reduce.JoinType
	// Left and Right are the input schemas; required.
	Left, Right *change.Schema
	// LeftKeys and RightKeys name the equi-join columns, compared pairwise; a NULL in
	// any of them matches nothing. Pairs must encode alike: integers of any width
	// (or dates and times), floats, decimals of one scale, strings and binary, bools.
	LeftKeys, RightKeys []string
	// RightPrefix renames a right column whose name a left column has (default
	// "right_"). A name still clashing after that is a configuration error.
	RightPrefix string
	// TTL, when positive, lets each stored row expire TTL after it was last written
	// (through the backend's TTL), so state over an unbounded stream stays bounded.
	// An expired row no longer joins, and its later retraction is dropped (counted
	// by Expired): rows it had joined are not retracted. Zero keeps rows forever.
	TTL time.Duration
	// State holds both inputs' rows; required.
	State state.Backend
	// Mem allocates output batches (default memory.DefaultAllocator).
	Mem memory.Allocator
}

// Validate reports whether the configuration can work.
func (c JoinConfig) Validate() error {
	switch {
	case c.ID == "":
		return fmt.Errorf("%w: join: ID is required", ErrConfig)
	case c.State == nil:
		return fmt.Errorf("%w: join %s: State is required", ErrConfig, c.ID)
	case c.Left == nil || c.Right == nil:
		return fmt.Errorf("%w: join %s: Left and Right schemas are required", ErrConfig, c.ID)
	case len(c.LeftKeys) == 0 || len(c.LeftKeys) != len(c.RightKeys):
		return fmt.Errorf("%w: join %s: %d left keys and %d right keys, want as many and at least one",
			ErrConfig, c.ID, len(c.LeftKeys), len(c.RightKeys))
	case c.Type != reduce.InnerJoin && c.Type != reduce.LeftJoin:
		return fmt.Errorf("%w: join %s: %s join is not supported (inner or left)", ErrConfig, c.ID, c.Type)
	}
	return nil
}

// Join is a stateful equi-join of two change streams. Each input's rows are kept in
// the backend, keyed by join key and row identity, so a change on either input is
// joined against the current rows of the other (one prefix scan), and the joined
// rows it invalidates are retracted: its output, applied as a multiset, equals the
// SQL join of the inputs' current rows after every batch.
//
// An n-way join is a chain of binary joins, each on its own key: the output of
// orders ⋈ customers (on customer_id) is the left input of ⋈ payments (on
// order_id), so a change on any of the n inputs probes the n−1 other states along
// the chain. Each join's inputs are fed through Side(0) and Side(1) (or Process
// with a port, as a Dataflow does).
//
// Output: the left columns, then the right ones (nullable for a left join). An
// input +I or +U adds rows (+I), a -D or -U retracts them (-D); an input -U/+U
// pair gives -U/+U pairs as far as the old and new joined rows pair up. For a left
// join, a left row without match is emitted NULL-padded; the padded row is
// retracted when its first match appears and emitted again when its last match
// disappears. The key is the left key columns then the right ones, when both
// inputs have one.
//
// State: namespace "ID/l" (and "ID/r") maps join key ++ row identity to a count
// and the row, in the order-preserving encoding of encode.go; the identity is the
// row's primary key, or the whole row for a keyless input (a multiset). For an
// input with a primary key, "ID/lk" (and "ID/rk") maps the key to the join key and
// the row, so that a retraction carrying only the key columns (a partial
// before-image) finds the row; rows with a NULL join key, which match nothing,
// are only there. An input whose join key is its primary key (a partial
// aggregate's rows, a table joined on its key) has no "ID/lk": "ID/l" finds its
// rows by key, those with a NULL key included (no probe reads them).
type Join struct {
	cfg     JoinConfig
	out     *change.Schema
	sides   [2]joinSide
	expired int64

	// scratch, reused across rows
	kbuf, vbuf, obuf, jbuf, pbuf, nbuf, xbuf []byte
	// part prefixes the primary-key entries ("ID/lk") in a partitioned dataflow: a
	// row whose join key changes moves to another partition, where its insert may be
	// applied before the old partition's retraction, so each partition keeps its own.
	part []byte

	// Output under construction: joined rows queued by the current input row (or
	// update pair) as encodings in arena, then decoded straight into the builder.
	rb          *array.RecordBuilder
	fb          []array.Builder
	ops         []change.Op
	arena       []byte
	minus, plus []outRow

	// Writes of the current input batch, applied in one Apply at its end (one
	// commit for Pebble). Reads of the batch's own side go through overlay first;
	// the other side is not written while a batch is processed.
	pending  state.Batch
	overlay  map[string]int // tag byte ++ key -> its latest write in pending
	pendingN [4]int         // pending writes per tag (port*2, +1 for nsKey)
}

// outRow is a queued joined row: its left and right encodings in the arena (no
// right: NULL-padded).
type outRow struct {
	l0, l1, r0, r1 int
	pad            bool
}

type joinSide struct {
	name   string
	schema *change.Schema
	keys   []int
	kinds  []encKind // of every column
	pk     []int     // row identity; nil: the whole row
	ns     string    // join key ++ row identity -> count, row
	nsKey  string    // primary key -> join key, row (inputs with a primary key)
	// pkJoin: the join key is the primary key (same columns, same order), so "ID/l"
	// alone finds a row by its key: nsKey is not used.
	pkJoin bool
}

// NewJoin checks cfg and returns the operator.
func NewJoin(cfg JoinConfig) (*Join, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Mem == nil {
		cfg.Mem = memory.DefaultAllocator
	}
	if cfg.RightPrefix == "" {
		cfg.RightPrefix = "right_"
	}
	j := &Join{cfg: cfg}
	for s, sc := range []*change.Schema{cfg.Left, cfg.Right} {
		sd := &j.sides[s]
		sd.schema, sd.pk = sc, sc.Key()
		sd.name, sd.ns, sd.nsKey = "left", cfg.ID+"/l", cfg.ID+"/lk"
		keys := cfg.LeftKeys
		if s == 1 {
			sd.name, sd.ns, sd.nsKey, keys = "right", cfg.ID+"/r", cfg.ID+"/rk", cfg.RightKeys
		}
		for _, f := range sc.Fields() {
			k, err := encKindOf(f.Type)
			if err != nil {
				return nil, fmt.Errorf("%w: join %s: %s column %q: %w", ErrConfig, cfg.ID, sd.name, f.Name, err)
			}
			sd.kinds = append(sd.kinds, k)
		}
		for _, name := range keys {
			c := sc.FieldIndex(name)
			if c < 0 {
				return nil, fmt.Errorf("%w: join %s: %s key %q is not a column of %s", ErrConfig, cfg.ID, sd.name, name, sc)
			}
			sd.keys = append(sd.keys, c)
		}
		sd.pkJoin = sd.pk != nil && slices.Equal(sd.pk, sd.keys)
	}
	l, r := &j.sides[0], &j.sides[1]
	for i := range l.keys {
		lt, rt := cfg.Left.Field(l.keys[i]).Type, cfg.Right.Field(r.keys[i]).Type
		ok := l.kinds[l.keys[i]] == r.kinds[r.keys[i]]
		if ld, isDec := lt.(*arrow.Decimal128Type); ok && isDec {
			ok = ld.Scale == rt.(*arrow.Decimal128Type).Scale
		}
		if !ok {
			return nil, fmt.Errorf("%w: join %s: key %s %s and %s %s do not compare", ErrConfig, cfg.ID,
				cfg.LeftKeys[i], lt, cfg.RightKeys[i], rt)
		}
	}
	fields := slices.Clone(cfg.Left.Fields())
	var key []string
	for _, c := range l.pk {
		key = append(key, fields[c].Name)
	}
	for i, f := range cfg.Right.Fields() {
		if cfg.Left.FieldIndex(f.Name) >= 0 {
			f.Name = cfg.RightPrefix + f.Name
		}
		if cfg.Type == reduce.LeftJoin {
			f.Nullable = true
		}
		if slices.Contains(r.pk, i) {
			key = append(key, f.Name)
		}
		fields = append(fields, f)
	}
	if len(l.pk) == 0 || len(r.pk) == 0 {
		key = nil
	}
	var err error
	if j.out, err = change.NewSchema(fields, key...); err != nil {
		return nil, fmt.Errorf("%w: join %s: %w", ErrConfig, cfg.ID, err)
	}
	return j, nil
}

// Schema implements Operator.
func (j *Join) Schema() *change.Schema { return j.out }

// Namespaces implements Stateful.
func (j *Join) Namespaces() []string {
	var out []string
	for _, sd := range j.sides {
		out = append(out, sd.ns)
		if sd.pk != nil && !sd.pkJoin {
			out = append(out, sd.nsKey)
		}
	}
	return out
}

// Expired returns how many retractions were dropped because their row had expired.
func (j *Join) Expired() int64 { return j.expired }

// InputSchema returns the schema of input port (0: left, 1: right).
func (j *Join) InputSchema(port int) *change.Schema { return j.sides[port].schema }

// Inputs implements MultiInput: a join has two inputs.
func (j *Join) Inputs() int { return 2 }

// Side returns input port (0: left, 1: right) as an Operator emitting the join's
// output. Both sides share the join's state: use them from one goroutine.
func (j *Join) Side(port int) Operator { return joinPort{j, port} }

type joinPort struct {
	j    *Join
	port int
}

func (p joinPort) Schema() *change.Schema { return p.j.out }
func (p joinPort) Process(ctx context.Context, in *change.Batch, emit Emit) error {
	return p.j.ProcessPort(ctx, p.port, in, emit)
}

// ProcessPort processes a batch of input port (0: left, 1: right); it takes over
// the batch's reference.
func (j *Join) ProcessPort(ctx context.Context, port int, in *change.Batch, emit Emit) error {
	defer in.Release()
	if port != 0 && port != 1 {
		return fmt.Errorf("%w: join %s: no input port %d", ErrInput, j.cfg.ID, port)
	}
	sd := &j.sides[port]
	if err := checkSchema("join "+j.cfg.ID+" "+sd.name, sd.schema, in); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if j.rb == nil {
		j.rb = array.NewRecordBuilder(j.cfg.Mem, j.out.Arrow())
		j.fb = j.rb.Fields()
		j.overlay = map[string]int{}
	}
	ops := in.Ops()
	cols := make([]arrow.Array, in.Record().NumCols())
	for i := range cols {
		cols[i] = in.Column(i)
	}
	j.resetQueue()
	err := func() error {
		for r := 0; r < len(ops); r++ {
			op := ops[r]
			pair := op == change.UpdateBefore && r+1 < len(ops) && ops[r+1] == change.UpdateAfter
			if pair && sd.pk != nil {
				done, err := j.updatePair(port, cols, r)
				if err != nil {
					return err
				}
				if done {
					r++
					if err := j.flush(); err != nil {
						return err
					}
					continue
				}
			}
			if err := j.row(port, cols, r, op.IsRetraction()); err != nil {
				return err
			}
			if pair {
				continue // pair this row's retractions with the next one's additions
			}
			if err := j.flush(); err != nil {
				return err
			}
		}
		return j.applyPending()
	}()
	if err != nil {
		j.discardPending()
		j.discardOutput()
		return err
	}
	if len(j.ops) == 0 {
		return nil
	}
	rec := j.rb.NewRecordBatch()
	out, err := change.NewBatch(j.out, rec, j.ops)
	j.ops = nil
	if err != nil {
		rec.Release()
		return fmt.Errorf("stream: join %s: %w", j.cfg.ID, err)
	}
	return emit(out)
}

// discardOutput drops the rows built so far (after an error).
func (j *Join) discardOutput() {
	if len(j.ops) > 0 {
		j.rb.NewRecordBatch().Release()
		j.ops = j.ops[:0]
	}
	j.resetQueue()
}

func (j *Join) resetQueue() {
	j.minus, j.plus, j.arena = j.minus[:0], j.plus[:0], j.arena[:0]
}

// flush appends the pending retractions and additions: as -U/+U pairs while both
// remain, then -D and +I.
func (j *Join) flush() error {
	n := min(len(j.minus), len(j.plus))
	var err error
	for i := 0; i < n && err == nil; i++ {
		if err = j.appendOut(change.UpdateBefore, j.minus[i]); err == nil {
			err = j.appendOut(change.UpdateAfter, j.plus[i])
		}
	}
	for _, r := range j.minus[n:] {
		if err == nil {
			err = j.appendOut(change.Delete, r)
		}
	}
	for _, r := range j.plus[n:] {
		if err == nil {
			err = j.appendOut(change.Insert, r)
		}
	}
	j.resetQueue()
	return err
}

// appendOut decodes a queued joined row into the output builder.
func (j *Join) appendOut(op change.Op, o outRow) error {
	nl := j.sides[0].schema.NumFields()
	if err := j.decodeInto(j.fb[:nl], &j.sides[0], j.arena[o.l0:o.l1]); err != nil {
		return err
	}
	if o.pad {
		for _, b := range j.fb[nl:] {
			b.AppendNull()
		}
	} else if err := j.decodeInto(j.fb[nl:], &j.sides[1], j.arena[o.r0:o.r1]); err != nil {
		return err
	}
	j.ops = append(j.ops, op)
	return nil
}

func (j *Join) decodeInto(dst []array.Builder, sd *joinSide, enc []byte) error {
	for i, k := range sd.kinds {
		var err error
		if enc, err = decodeInto(dst[i], k, enc); err != nil {
			return fmt.Errorf("%w: join %s: %s row: %w", state.ErrCorrupt, j.cfg.ID, sd.name, err)
		}
	}
	if len(enc) != 0 {
		return fmt.Errorf("%w: join %s: %s row has trailing bytes", state.ErrCorrupt, j.cfg.ID, sd.name)
	}
	return nil
}

// The state, read through the batch's pending writes. tag names the namespace:
// port*2 for its rows, +1 for its primary-key namespace.

func (j *Join) nsOf(tag int) string {
	if tag&1 == 1 {
		return j.sides[tag>>1].nsKey
	}
	return j.sides[tag>>1].ns
}

func (j *Join) get(tag int, key, dst []byte) ([]byte, bool, error) {
	if j.pendingN[tag] > 0 {
		j.nbuf = append(append(j.nbuf[:0], byte(tag)), key...)
		if i, ok := j.overlay[string(j.nbuf)]; ok {
			e := j.pending.Entry(i)
			if e.Op == state.OpDelete {
				return dst, false, nil
			}
			return append(dst, e.Value...), true, nil
		}
	}
	v, ok, err := j.cfg.State.Get(j.nsOf(tag), key, dst)
	if err != nil {
		return v, ok, fmt.Errorf("stream: join %s: %w", j.cfg.ID, err)
	}
	return v, ok, nil
}

func (j *Join) putState(tag int, key, val []byte) {
	j.overlay[j.overlayKey(tag, key)] = j.pending.Len()
	j.pending.PutTTL(j.nsOf(tag), key, val, j.cfg.TTL)
	j.pendingN[tag]++
}

func (j *Join) deleteState(tag int, key []byte) {
	j.overlay[j.overlayKey(tag, key)] = j.pending.Len()
	j.pending.Delete(j.nsOf(tag), key)
	j.pendingN[tag]++
}

func (j *Join) overlayKey(tag int, key []byte) string {
	j.nbuf = append(append(j.nbuf[:0], byte(tag)), key...)
	return string(j.nbuf)
}

// applyPending writes the batch's pending writes to the backend.
func (j *Join) applyPending() error {
	if j.pending.Len() == 0 {
		return nil
	}
	err := j.cfg.State.Apply(&j.pending)
	j.discardPending()
	if err != nil {
		return fmt.Errorf("stream: join %s: %w", j.cfg.ID, err)
	}
	return nil
}

func (j *Join) discardPending() {
	j.pending.Reset()
	clear(j.overlay)
	j.pendingN = [4]int{}
}

// row applies row r of an input of port (a retraction if retract) to the state and
// queues the joined rows it adds and retracts.
func (j *Join) row(port int, cols []arrow.Array, r int, retract bool) error {
	sd := &j.sides[port]
	// The row's encoding, as stored and as decoded for output.
	j.vbuf = j.encodeRow(j.vbuf[:0], cols, r)
	// Its join key's encoding (nil: a NULL in it, matching nothing).
	var jk []byte
	j.jbuf, jk = j.joinKey(j.jbuf[:0], sd, cols, r)
	if sd.pk != nil {
		return j.keyedRow(port, cols, r, jk, retract)
	}
	if jk == nil { // a keyless row that matches nothing is not stored
		if port == 0 && j.cfg.Type == reduce.LeftJoin {
			j.queue(retract, j.vbuf, nil, 1)
		}
		return nil
	}
	// A keyless input is a multiset: join key ++ row -> count, row.
	tag := port * 2
	j.kbuf = append(append(j.kbuf[:0], jk...), j.vbuf...)
	stored, found, err := j.get(tag, j.kbuf, j.obuf[:0])
	if err != nil {
		return err
	}
	j.obuf = stored
	var count uint64
	if found {
		n, w := binary.Uvarint(stored)
		if w <= 0 {
			return fmt.Errorf("%w: join %s: malformed %s row state", state.ErrCorrupt, j.cfg.ID, sd.name)
		}
		count = n
	}
	row := j.vbuf
	if retract {
		if !found {
			return j.unknown(sd)
		}
		if count > 1 {
			j.put(tag, j.kbuf, count-1, row)
		} else {
			j.deleteState(tag, j.kbuf)
		}
		return j.effects(port, jk, row, true, count == 1)
	}
	wasEmpty := false
	if port == 1 && j.cfg.Type == reduce.LeftJoin && !found {
		if wasEmpty, err = j.emptyAt(tag, jk); err != nil {
			return err
		}
	}
	j.put(tag, j.kbuf, count+1, row)
	return j.effects(port, jk, row, false, wasEmpty)
}

func (j *Join) encodeRow(dst []byte, cols []arrow.Array, r int) []byte {
	for _, c := range cols {
		dst = appendKey(dst, c, r)
	}
	return dst
}

// joinKey appends the encoding of row r's join key to dst; the key is nil when
// a NULL in it matches nothing.
func (j *Join) joinKey(dst []byte, sd *joinSide, cols []arrow.Array, r int) ([]byte, []byte) {
	for _, c := range sd.keys {
		if cols[c].IsNull(r) {
			return dst, nil
		}
		dst = appendKey(dst, cols[c], r)
	}
	return dst, dst
}

// keyedRow applies a row of an input with a primary key. The row is found by its
// key alone ("ID/lk": key -> join key, row), so a retraction may carry only the
// key columns (a partial before-image, as REPLICA IDENTITY DEFAULT gives); what
// is retracted is the row stored. Rows with a non-NULL join key are also under
// join key ++ primary key in "ID/l", where the other side's changes find them.
func (j *Join) keyedRow(port int, cols []arrow.Array, r int, jk []byte, retract bool) error {
	sd := &j.sides[port]
	tag := port * 2
	j.pbuf = j.pbuf[:0]
	for _, c := range sd.pk {
		j.pbuf = appendKey(j.pbuf, cols[c], r)
	}
	stored, found, err := j.getKeyed(sd, tag)
	if err != nil {
		return err
	}
	j.obuf = stored
	if retract {
		if !found {
			return j.unknown(sd)
		}
		sjk, row, err := j.splitKeyed(sd, stored, jk)
		if err != nil {
			return err
		}
		j.deleteKeyed(sd, tag, sjk)
		return j.effects(port, sjk, row, true, true)
	}
	if found {
		return fmt.Errorf("%w: join %s: %s row inserted twice (same primary key) without a retraction between",
			ErrInput, j.cfg.ID, sd.name)
	}
	row := j.vbuf
	if jk == nil {
		j.putKeyed(sd, tag, jk, row)
		return j.effects(port, nil, row, false, false)
	}
	wasEmpty := false
	if port == 1 && j.cfg.Type == reduce.LeftJoin {
		if wasEmpty, err = j.emptyAt(tag, jk); err != nil {
			return err
		}
	}
	j.putKeyed(sd, tag, jk, row)
	return j.effects(port, jk, row, false, wasEmpty)
}

// getKeyed reads the entry of the primary key in j.pbuf (into j.obuf's space).
func (j *Join) getKeyed(sd *joinSide, tag int) ([]byte, bool, error) {
	if sd.pkJoin {
		j.kbuf = append(append(j.kbuf[:0], j.pbuf...), j.pbuf...)
		return j.get(tag, j.kbuf, j.obuf[:0])
	}
	return j.get(tag+1, j.pkKey(), j.obuf[:0])
}

// splitKeyed splits an entry getKeyed read into the stored row's join key and the
// row; jk is the join key of the row looked up (the stored one's when pkJoin).
func (j *Join) splitKeyed(sd *joinSide, stored, jk []byte) ([]byte, []byte, error) {
	if !sd.pkJoin {
		return j.splitKeyState(sd, stored)
	}
	_, w := binary.Uvarint(stored)
	if w <= 0 {
		return nil, nil, fmt.Errorf("%w: join %s: malformed %s row state", state.ErrCorrupt, j.cfg.ID, sd.name)
	}
	return jk, stored[w:], nil
}

// putKeyed stores row (its primary key in j.pbuf, its join key jk, nil: NULL):
// under join key ++ primary key, and by primary key unless pkJoin. It reuses
// j.kbuf and j.obuf.
func (j *Join) putKeyed(sd *joinSide, tag int, jk, row []byte) {
	if sd.pkJoin { // rows with a NULL key too: no probe scans their prefix
		j.kbuf = append(append(j.kbuf[:0], j.pbuf...), j.pbuf...)
		j.put(tag, j.kbuf, 1, row)
		return
	}
	v := binary.AppendUvarint(j.kbuf[:0], uint64(len(jk)))
	v = append(append(v, jk...), row...)
	j.kbuf = v
	j.putState(tag+1, j.pkKey(), v)
	if jk != nil {
		j.kbuf = append(append(j.kbuf[:0], jk...), j.pbuf...)
		j.put(tag, j.kbuf, 1, row)
	}
}

// deleteKeyed deletes the row of the primary key in j.pbuf, stored under join
// key sjk.
func (j *Join) deleteKeyed(sd *joinSide, tag int, sjk []byte) {
	if sd.pkJoin {
		j.kbuf = append(append(j.kbuf[:0], j.pbuf...), j.pbuf...)
		j.deleteState(tag, j.kbuf)
		return
	}
	j.deleteState(tag+1, j.pkKey())
	if sjk != nil {
		j.kbuf = append(append(j.kbuf[:0], sjk...), j.pbuf...)
		j.deleteState(tag, j.kbuf)
	}
}

// pkKey returns the key of the primary key in j.pbuf in "ID/lk" (or "ID/rk"): the
// partition's prefix, then the key.
func (j *Join) pkKey() []byte {
	if len(j.part) == 0 {
		return j.pbuf // one partition: no prefix, no copy
	}
	j.xbuf = append(append(j.xbuf[:0], j.part...), j.pbuf...)
	return j.xbuf
}

// setPartition implements partitioned: in a dataflow of several partitions, each
// keeps its own primary-key entries (see part). A checkpoint holds them per
// partition, so it restores only into as many partitions (Dataflow checks).
func (j *Join) setPartition(p, n int) error {
	j.part = nil
	if n > 1 {
		j.part = binary.AppendUvarint(nil, uint64(p))
	}
	return nil
}

// splitKeyState splits a primary-key entry into its join key (nil: NULL) and row.
func (j *Join) splitKeyState(sd *joinSide, stored []byte) (jk, row []byte, err error) {
	n, w := binary.Uvarint(stored)
	if w <= 0 || uint64(len(stored)-w) < n {
		return nil, nil, fmt.Errorf("%w: join %s: malformed %s key state", state.ErrCorrupt, j.cfg.ID, sd.name)
	}
	if n > 0 {
		jk = stored[w : w+int(n) : w+int(n)]
	}
	return jk, stored[w+int(n):], nil
}

// updatePair applies the update of rows r (-U) and r+1 (+U) of a keyed input in
// one step when both have the same primary key and join key and the old row is
// held: the stored row is replaced, and one probe of the other side pairs each
// old joined row (-U) with its new one (+U). Unchanged rows emit nothing. It
// reports false, having done nothing, when the pair does not qualify.
func (j *Join) updatePair(port int, cols []arrow.Array, r int) (bool, error) {
	sd := &j.sides[port]
	tag := port * 2
	j.pbuf = j.pbuf[:0]
	for _, c := range sd.pk {
		j.pbuf = appendKey(j.pbuf, cols[c], r)
	}
	pk := len(j.pbuf)
	for _, c := range sd.pk {
		j.pbuf = appendKey(j.pbuf, cols[c], r+1)
	}
	if !bytes.Equal(j.pbuf[:pk], j.pbuf[pk:]) {
		return false, nil
	}
	j.pbuf = j.pbuf[:pk]
	stored, found, err := j.getKeyed(sd, tag)
	if err != nil || !found {
		return false, err
	}
	j.obuf = stored
	var jk []byte
	j.jbuf, jk = j.joinKey(j.jbuf[:0], sd, cols, r+1)
	sjk, old, err := j.splitKeyed(sd, stored, jk)
	if err != nil {
		return false, err
	}
	if (jk == nil) != (sjk == nil) || !bytes.Equal(jk, sjk) {
		return false, nil
	}
	j.vbuf = j.encodeRow(j.vbuf[:0], cols, r+1)
	row := j.vbuf
	same := bytes.Equal(old, row)
	if same && j.cfg.TTL <= 0 {
		return true, nil // nothing changes, not even an expiry
	}
	// The old row is kept in the arena: the writes below reuse obuf.
	o0 := len(j.arena)
	j.arena = append(j.arena, old...)
	o1 := len(j.arena)
	j.putKeyed(sd, tag, jk, row)
	if same {
		return true, nil
	}
	r0 := len(j.arena)
	j.arena = append(j.arena, row...)
	r1 := len(j.arena)
	matched := false
	if jk != nil {
		od := &j.sides[1-port]
		it := j.cfg.State.ScanPrefix(od.ns, jk)
		for it.Next() {
			matched = true
			v := it.Value()
			n, w := binary.Uvarint(v)
			if w <= 0 {
				it.Close()
				return false, fmt.Errorf("%w: join %s: malformed %s row state", state.ErrCorrupt, j.cfg.ID, od.name)
			}
			m0 := len(j.arena)
			j.arena = append(j.arena, v[w:]...)
			m1 := len(j.arena)
			for range n {
				if port == 0 {
					j.minus = append(j.minus, outRow{l0: o0, l1: o1, r0: m0, r1: m1})
					j.plus = append(j.plus, outRow{l0: r0, l1: r1, r0: m0, r1: m1})
				} else {
					j.minus = append(j.minus, outRow{l0: m0, l1: m1, r0: o0, r1: o1})
					j.plus = append(j.plus, outRow{l0: m0, l1: m1, r0: r0, r1: r1})
				}
			}
		}
		err := it.Err()
		it.Close()
		if err != nil {
			return false, fmt.Errorf("stream: join %s: %w", j.cfg.ID, err)
		}
	}
	if port == 0 && j.cfg.Type == reduce.LeftJoin && !matched {
		j.minus = append(j.minus, outRow{l0: o0, l1: o1, pad: true})
		j.plus = append(j.plus, outRow{l0: r0, l1: r1, pad: true})
	}
	return true, nil
}

// unknown handles the retraction of a row the state does not hold.
func (j *Join) unknown(sd *joinSide) error {
	if j.cfg.TTL > 0 {
		j.expired++
		return nil
	}
	return fmt.Errorf("%w: join %s: retraction of a %s row it does not hold", ErrInput, j.cfg.ID, sd.name)
}

// effects queues what adding or retracting row (of port, under join key jk, nil
// for NULL) does to the output, the state already updated. flip is set when, for
// a left join, the row is the first right row under jk (added) or was the last
// one (retracted: then it is checked that none is left).
func (j *Join) effects(port int, jk, row []byte, retract, flip bool) error {
	outer := j.cfg.Type == reduce.LeftJoin
	if port == 1 && outer && flip && !retract && jk != nil {
		if err := j.padLeft(jk, true); err != nil {
			return err
		}
	}
	matched := false
	if jk != nil {
		var err error
		if matched, err = j.probe(port, jk, row, retract); err != nil {
			return err
		}
	}
	if port == 0 && outer && !matched {
		j.queue(retract, row, nil, 1)
		return nil
	}
	if port == 1 && outer && flip && retract && jk != nil {
		if empty, err := j.emptyAt(2, jk); err != nil {
			return err
		} else if empty {
			return j.padLeft(jk, false)
		}
	}
	return nil
}

func (j *Join) put(tag int, key []byte, count uint64, row []byte) {
	v := binary.AppendUvarint(j.obuf[:0], count)
	v = append(v, row...)
	j.obuf = v
	j.putState(tag, key, v)
}

// emptyAt reports whether no row of namespace tag is stored under join key jk.
// The batch's writes to it are applied first, so the scan sees them.
func (j *Join) emptyAt(tag int, jk []byte) (bool, error) {
	if j.pendingN[tag] > 0 {
		if err := j.applyPending(); err != nil {
			return false, err
		}
	}
	it := j.cfg.State.ScanPrefix(j.nsOf(tag), jk)
	has := it.Next()
	err := it.Err()
	it.Close()
	if err != nil {
		return false, fmt.Errorf("stream: join %s: %w", j.cfg.ID, err)
	}
	return !has, nil
}

// probe queues the join of row (of port) with every row of the other input under
// jk; it reports whether there was any.
func (j *Join) probe(port int, jk, row []byte, retract bool) (bool, error) {
	od := &j.sides[1-port]
	it := j.cfg.State.ScanPrefix(od.ns, jk)
	defer it.Close()
	matched := false
	s0 := len(j.arena)
	j.arena = append(j.arena, row...)
	s1 := len(j.arena)
	for it.Next() {
		matched = true
		v := it.Value()
		n, w := binary.Uvarint(v)
		if w <= 0 {
			return false, fmt.Errorf("%w: join %s: malformed %s row state", state.ErrCorrupt, j.cfg.ID, od.name)
		}
		m0 := len(j.arena)
		j.arena = append(j.arena, v[w:]...)
		m1 := len(j.arena)
		o := outRow{l0: s0, l1: s1, r0: m0, r1: m1}
		if port == 1 {
			o = outRow{l0: m0, l1: m1, r0: s0, r1: s1}
		}
		j.queueN(retract, o, int(n))
	}
	if err := it.Err(); err != nil {
		return false, fmt.Errorf("stream: join %s: %w", j.cfg.ID, err)
	}
	return matched, nil
}

// padLeft queues, for every left row under jk, its NULL-padded row: retracted
// when a first right row appears, added when the last one goes.
func (j *Join) padLeft(jk []byte, retract bool) error {
	it := j.cfg.State.ScanPrefix(j.sides[0].ns, jk)
	defer it.Close()
	for it.Next() {
		v := it.Value()
		n, w := binary.Uvarint(v)
		if w <= 0 {
			return fmt.Errorf("%w: join %s: malformed left row state", state.ErrCorrupt, j.cfg.ID)
		}
		j.queue(retract, v[w:], nil, int(n))
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("stream: join %s: %w", j.cfg.ID, err)
	}
	return nil
}

// queue queues the joined row of encodings left and right (nil: NULLs) n times,
// as a retraction or an addition.
func (j *Join) queue(retract bool, left, right []byte, n int) {
	o := outRow{l0: len(j.arena)}
	j.arena = append(j.arena, left...)
	o.l1, o.r0 = len(j.arena), len(j.arena)
	if right == nil {
		o.pad = true
	} else {
		j.arena = append(j.arena, right...)
	}
	o.r1 = len(j.arena)
	j.queueN(retract, o, n)
}

func (j *Join) queueN(retract bool, o outRow, n int) {
	for range n {
		if retract {
			j.minus = append(j.minus, o)
		} else {
			j.plus = append(j.plus, o)
		}
	}
}
