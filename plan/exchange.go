package plan

import (
	"context"
	"fmt"
	"io"
	"sort"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/compute/exec"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/shuffle"
)

// PartitionKind is how a stage's output is split among the tasks that read it.
type PartitionKind uint8

// Partitionings of a stage's output.
const (
	// Single: one partition (a gather; a broadcast when several tasks read it whole).
	Single PartitionKind = iota
	// Hash: rows by the hash of key columns (shuffle.HashPartitioner).
	Hash
	// Forward: task i's rows go to partition i mod N.
	Forward
)

func (k PartitionKind) String() string { return [...]string{"single", "hash", "forward"}[k] }

// Partitioning describes a stage output's partitions.
type Partitioning struct {
	Kind PartitionKind
	N    int
	Keys []int
}

func (p Partitioning) String() string {
	switch p.Kind {
	case Hash:
		return fmt.Sprintf("hash(%s) x%d", colList(p.Keys), p.N)
	case Forward:
		return fmt.Sprintf("forward x%d", p.N)
	}
	return "single"
}

func colList(cs []int) string {
	s := ""
	for i, c := range cs {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("#%d", c)
	}
	return s
}

// exchange holds the committed outputs of a stage's tasks, split into partitions. A
// task attempt writes into its own output (attempt-scoped); only commit publishes it,
// once per task, so a retried or duplicated attempt never doubles rows. Partitions can
// be read any number of times (a retried reader sees the same rows).
type exchange struct {
	part   Partitioning
	schema *change.Schema
	mu     sync.Mutex
	tasks  map[int][][]*change.Batch // task -> partition -> batches
	rows   int64
	bytes  int64
}

func newExchange(p Partitioning, s *change.Schema) *exchange {
	if p.N < 1 {
		p.N = 1
	}
	return &exchange{part: p, schema: s, tasks: map[int][][]*change.Batch{}}
}

// taskOutput is one attempt's output, invisible until committed.
type taskOutput struct {
	x     *exchange
	task  int
	parts [][]*change.Batch
	rows  int64
	bytes int64
	mem   memory.Allocator
	hp    *shuffle.HashPartitioner
	idx   []int
}

func (x *exchange) open(task int, mem memory.Allocator) *taskOutput {
	o := &taskOutput{x: x, task: task, parts: make([][]*change.Batch, x.part.N), mem: mem}
	if x.part.Kind == Hash {
		names := make([]string, len(x.part.Keys))
		for i, k := range x.part.Keys {
			names[i] = x.schema.Field(k).Name
		}
		o.hp = shuffle.NewHashPartitioner(x.part.N, names...)
	}
	return o
}

// write takes over b.
func (o *taskOutput) write(ctx context.Context, b *change.Batch) error {
	if b.Len() == 0 {
		b.Release()
		return nil
	}
	o.rows += int64(b.Len())
	o.bytes += shuffle.BatchBytes(b)
	switch o.x.part.Kind {
	case Single:
		o.parts[0] = append(o.parts[0], b)
		return nil
	case Forward:
		p := o.task % o.x.part.N
		o.parts[p] = append(o.parts[p], b)
		return nil
	}
	if o.x.part.N == 1 {
		o.parts[0] = append(o.parts[0], b)
		return nil
	}
	defer b.Release()
	if cap(o.idx) < b.Len() {
		o.idx = make([]int, b.Len())
	}
	out := o.idx[:b.Len()]
	if err := o.hp.Partition(b, out); err != nil {
		return err
	}
	rows := make([][]int32, o.x.part.N)
	for i, p := range out {
		rows[p] = append(rows[p], int32(i))
	}
	for p, r := range rows {
		if len(r) == 0 {
			continue
		}
		nb, err := takeRows(ctx, o.mem, b, r)
		if err != nil {
			return err
		}
		o.parts[p] = append(o.parts[p], nb)
	}
	return nil
}

// discard releases an attempt's output (a failed attempt).
func (o *taskOutput) discard() {
	for _, p := range o.parts {
		for _, b := range p {
			b.Release()
		}
	}
	o.parts = nil
}

// commit publishes the output: the commit marker of the task. A task already
// committed (a duplicate attempt) keeps its first output.
func (o *taskOutput) commit() bool {
	x := o.x
	x.mu.Lock()
	defer x.mu.Unlock()
	if _, done := x.tasks[o.task]; done {
		o.discard()
		return false
	}
	x.tasks[o.task] = o.parts
	x.rows += o.rows
	x.bytes += o.bytes
	o.parts = nil
	return true
}

func (x *exchange) committed(task int) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	_, ok := x.tasks[task]
	return ok
}

// read streams partition p: every committed task's batches in task order (retained).
func (x *exchange) read(p int) shuffle.Stream {
	x.mu.Lock()
	defer x.mu.Unlock()
	ids := make([]int, 0, len(x.tasks))
	for t := range x.tasks {
		ids = append(ids, t)
	}
	sort.Ints(ids)
	var bs []*change.Batch
	for _, t := range ids {
		for _, b := range x.tasks[t][p] {
			b.Retain()
			bs = append(bs, b)
		}
	}
	return shuffle.NewSliceStream(bs...)
}

// release drops everything the exchange holds.
func (x *exchange) release() {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, parts := range x.tasks {
		for _, p := range parts {
			for _, b := range p {
				b.Release()
			}
		}
	}
	x.tasks = map[int][][]*change.Batch{}
}

// takeRows gathers rows of b.
func takeRows(ctx context.Context, mem memory.Allocator, b *change.Batch, rows []int32) (*change.Batch, error) {
	rec := b.Record()
	cols := make([]arrow.Array, rec.NumCols())
	var idx arrow.Array // for the compute kernel, made once needed
	defer func() {
		if idx != nil {
			idx.Release()
		}
	}()
	for c := range cols {
		if shuffle.CanTake(rec.Column(c).DataType()) {
			cols[c] = shuffle.Take(mem, rec.Column(c), rows)
			continue
		}
		if idx == nil {
			ib := array.NewInt32Builder(mem)
			ib.AppendValues(rows, nil)
			idx = ib.NewArray()
			ib.Release()
		}
		a, err := compute.TakeArray(exec.WithAllocator(ctx, mem), rec.Column(c), idx)
		if err != nil {
			for _, x := range cols[:c] {
				x.Release()
			}
			return nil, fmt.Errorf("plan: partition rows: %w", err)
		}
		cols[c] = a
	}
	out := array.NewRecordBatch(rec.Schema(), cols, int64(len(rows)))
	for _, c := range cols {
		c.Release()
	}
	return change.NewBatch(b.Schema(), out, insertOps(len(rows)))
}

var opsPool = make([]change.Op, 1<<16)

// insertOps returns n Insert ops (a shared read-only slice when it fits).
func insertOps(n int) []change.Op {
	if n <= len(opsPool) {
		return opsPool[:n:n]
	}
	return make([]change.Op, n)
}

// drain reads s to its end, calling f on each batch (handed over).
func drain(ctx context.Context, s shuffle.Stream, f func(*change.Batch) error) error {
	for {
		b, err := s.Next(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := f(b); err != nil {
			return err
		}
	}
}
