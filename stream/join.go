package stream

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/state"
)

// JoinInput is one input of a Join.
type JoinInput struct {
	// Name prefixes the input's columns in the output ("orders" -> "orders.id").
	Name   string
	Schema *change.Schema
	// Key names the join key columns; every input names the same number, of the
	// same types, matched in order.
	Key []string
}

// JoinConfig configures NewJoin.
type JoinConfig struct {
	// ID names the operator; its state namespaces are "ID/in<i>". Required.
	ID     string
	Inputs []JoinInput
	// State holds every input's rows; required.
	State state.Backend
	// Mem allocates output batches (default memory.DefaultAllocator).
	Mem memory.Allocator
	// BatchRows caps the rows of one output batch (default 4096).
	BatchRows int
	// TTL, when positive, bounds the state of joins over unbounded streams: a
	// stored row expires TTL after its last change (by the backend's clock) and
	// then joins nothing more; what it joined before is not retracted, and a later
	// retraction of it is ignored.
	TTL time.Duration
}

// Join is a stateful inner equi-join of n inputs on one key shared by all of them
// (a star join: orders, payments and shipments on order id). Each input's rows are
// kept in state by join key; a change on one input is joined against the current
// rows of the n-1 others under its key, and emitted as +I (the input row was
// added: -U counts as -D, +U as +I) or -D (it was retracted), once per matching
// combination; then the input row is applied to its own state. Rows are processed
// in order, so changes within one batch see each other. Rows with a NULL in the
// key never match (SQL equality) and are not stored.
//
// Not yet: outer joins, joins whose inputs pair up on different keys (chain
// binary joins for those).
type Join struct {
	cfg    JoinConfig
	out    *change.Schema
	keys   [][]int     // per input, its key columns
	kinds  [][]encKind // per input, every column's encoding
	types  [][]arrow.DataType
	ns     []string
	offset []int // per input, its first output column
}

// NewJoin checks cfg and returns the operator; feed input i through Input(i).
func NewJoin(cfg JoinConfig) (*Join, error) {
	if cfg.ID == "" || cfg.State == nil || len(cfg.Inputs) < 2 {
		return nil, fmt.Errorf("%w: join: ID, State and at least two Inputs are required", ErrConfig)
	}
	if cfg.Mem == nil {
		cfg.Mem = memory.DefaultAllocator
	}
	if cfg.BatchRows <= 0 {
		cfg.BatchRows = 4096
	}
	j := &Join{cfg: cfg}
	var fields []arrow.Field
	for i, in := range cfg.Inputs {
		if in.Schema == nil || in.Name == "" || len(in.Key) == 0 {
			return nil, fmt.Errorf("%w: join %s: input %d needs a Name, a Schema and Key columns", ErrConfig, cfg.ID, i)
		}
		if len(in.Key) != len(cfg.Inputs[0].Key) {
			return nil, fmt.Errorf("%w: join %s: input %s has %d key columns, input %s %d",
				ErrConfig, cfg.ID, in.Name, len(in.Key), cfg.Inputs[0].Name, len(cfg.Inputs[0].Key))
		}
		var keys []int
		for k, name := range in.Key {
			c := in.Schema.FieldIndex(name)
			if c < 0 {
				return nil, fmt.Errorf("%w: join %s: key column %q is not a column of %s", ErrConfig, cfg.ID, name, in.Name)
			}
			first := cfg.Inputs[0].Schema.Field(cfg.Inputs[0].Schema.FieldIndex(cfg.Inputs[0].Key[k])).Type
			if i > 0 && !arrow.TypeEqual(in.Schema.Field(c).Type, first) {
				return nil, fmt.Errorf("%w: join %s: key column %s.%s is %s, %s's is %s", ErrConfig, cfg.ID,
					in.Name, name, in.Schema.Field(c).Type, cfg.Inputs[0].Name, first)
			}
			keys = append(keys, c)
		}
		j.keys = append(j.keys, keys)
		var kinds []encKind
		var types []arrow.DataType
		j.offset = append(j.offset, len(fields))
		for _, f := range in.Schema.Fields() {
			k, err := encKindOf(f.Type)
			if err != nil {
				return nil, fmt.Errorf("%w: join %s: column %s.%s: %w", ErrConfig, cfg.ID, in.Name, f.Name, err)
			}
			kinds = append(kinds, k)
			types = append(types, f.Type)
			f.Name = in.Name + "." + f.Name
			f.Metadata = arrow.Metadata{}
			fields = append(fields, f)
		}
		j.kinds = append(j.kinds, kinds)
		j.types = append(j.types, types)
		j.ns = append(j.ns, fmt.Sprintf("%s/in%d", cfg.ID, i))
	}
	var err error
	if j.out, err = change.NewSchema(fields); err != nil {
		return nil, fmt.Errorf("%w: join %s: %w", ErrConfig, cfg.ID, err)
	}
	return j, nil
}

// Schema is the output schema: every input's columns, prefixed by its name.
func (j *Join) Schema() *change.Schema { return j.out }

// Namespaces implements Stateful.
func (j *Join) Namespaces() []string { return slices.Clone(j.ns) }

// Input returns the Operator that takes input i's batches. The inputs share the
// join's state: run them in one goroutine.
func (j *Join) Input(i int) Stateful { return &joinInput{j: j, i: i} }

type joinInput struct {
	j *Join
	i int
}

func (in *joinInput) Schema() *change.Schema { return in.j.out }
func (in *joinInput) Namespaces() []string   { return in.j.Namespaces() }
func (in *joinInput) Process(ctx context.Context, b *change.Batch, emit Emit) error {
	return in.j.process(ctx, in.i, b, emit)
}

// match is one stored row of another input under the current key.
type match struct {
	row   []byte // encoded row
	count int64
}

func (j *Join) process(ctx context.Context, i int, in *change.Batch, emit Emit) error {
	defer in.Release()
	if err := checkSchema("join "+j.cfg.ID+" input "+j.cfg.Inputs[i].Name, j.cfg.Inputs[i].Schema, in); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	b := change.NewBuilder(j.cfg.Mem, j.out)
	defer b.Release()
	flush := func() error {
		if b.Len() == 0 {
			return nil
		}
		return emit(b.NewBatch())
	}
	cols := make([]arrow.Array, in.Record().NumCols())
	for c := range cols {
		cols[c] = in.Column(c)
	}
	n := len(j.cfg.Inputs)
	matches := make([][]match, n)
	row := make(change.Row, j.out.NumFields())
	var key, cur []byte
	for r, op := range in.Ops() {
		nullKey := false
		key = key[:0]
		for _, c := range j.keys[i] {
			if cols[c].IsNull(r) {
				nullKey = true
				break
			}
			key = appendKey(key, cols[c], r)
		}
		if nullKey {
			continue
		}
		klen := len(key)
		for c := range cols {
			key = appendKey(key, cols[c], r)
		}
		sign := int64(1)
		if op.IsRetraction() {
			sign = -1
		}
		// The row's count in its own input's state.
		var err error
		var ok bool
		cur, ok, err = j.cfg.State.Get(j.ns[i], key, cur[:0])
		if err != nil {
			return fmt.Errorf("stream: join %s: %w", j.cfg.ID, err)
		}
		var c0 int64
		if ok {
			c0, _ = binary.Varint(cur)
		}
		// Probe the other inputs under the key; a retraction of a row the state
		// does not hold (expired under a TTL) joins nothing.
		empty := sign < 0 && c0 == 0
		for o := range n {
			matches[o] = matches[o][:0]
			if o == i || empty {
				continue
			}
			it := j.cfg.State.ScanPrefix(j.ns[o], key[:klen])
			for it.Next() {
				c, _ := binary.Varint(it.Value())
				matches[o] = append(matches[o], match{row: slices.Clone(it.Key()[klen:]), count: c})
			}
			err := it.Err()
			it.Close()
			if err != nil {
				return fmt.Errorf("stream: join %s: %w", j.cfg.ID, err)
			}
			empty = len(matches[o]) == 0
		}
		if !empty {
			if err := j.decodeInto(row, i, key[klen:]); err != nil {
				return err
			}
			outOp := change.Insert
			if sign < 0 {
				outOp = change.Delete
			}
			if err := j.product(b, row, matches, i, 0, 1, outOp, flush); err != nil {
				return err
			}
		}
		// Apply the row to its own input's state.
		switch c1 := c0 + sign; {
		case c1 < 0 && j.cfg.TTL > 0:
			// The row expired from state: nothing to retract.
		case c1 < 0:
			return fmt.Errorf("%w: join %s: input %s retracts a row it does not hold", ErrInput, j.cfg.ID, j.cfg.Inputs[i].Name)
		case c1 == 0:
			err = j.cfg.State.Delete(j.ns[i], key)
		default:
			err = j.cfg.State.PutTTL(j.ns[i], key, binary.AppendVarint(cur[:0], c1), j.cfg.TTL)
		}
		if err != nil {
			return fmt.Errorf("stream: join %s: %w", j.cfg.ID, err)
		}
	}
	return flush()
}

// product appends every combination of the other inputs' matches (from input o
// on) to row, times mult, and emits each complete row.
func (j *Join) product(b *change.Builder, row change.Row, matches [][]match, i, o int, mult int64, op change.Op, flush func() error) error {
	if o == len(matches) {
		for range mult {
			if err := b.Append(op, row); err != nil {
				return fmt.Errorf("stream: join %s: %w", j.cfg.ID, err)
			}
			if b.Len() >= j.cfg.BatchRows {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if o == i {
		return j.product(b, row, matches, i, o+1, mult, op, flush)
	}
	for _, m := range matches[o] {
		if err := j.decodeInto(row, o, m.row); err != nil {
			return err
		}
		if err := j.product(b, row, matches, i, o+1, mult*m.count, op, flush); err != nil {
			return err
		}
	}
	return nil
}

// decodeInto decodes an encoded row of input o into its output columns.
func (j *Join) decodeInto(row change.Row, o int, enc []byte) error {
	for c, kind := range j.kinds[o] {
		v, rest, err := decodeKey(kind, enc)
		if err != nil {
			return fmt.Errorf("%w: join %s: stored row of %s: %w", state.ErrCorrupt, j.cfg.ID, j.cfg.Inputs[o].Name, err)
		}
		row[j.offset[o]+c] = asType(v, j.types[o][c])
		enc = rest
	}
	return nil
}
