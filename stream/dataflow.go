package stream

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/shuffle"
	"github.com/strata-data/strata/sink"
	"github.com/strata-data/strata/state"
)

// Node is an operator with one or more input ports: a Join has two (left, right),
// a one-input Operator wrapped by Single has one. A Node runs in one goroutine.
type Node interface {
	Inputs() int
	InputSchema(port int) *change.Schema
	// ProcessPort processes a batch of input port, taking over its reference.
	ProcessPort(ctx context.Context, port int, in *change.Batch, emit Emit) error
	// Schema is the schema of the batches the node emits.
	Schema() *change.Schema
}

// Single makes a one-input Operator (e.g. a Chain ending in an Aggregate) whose
// input schema is in a Node.
func Single(in *change.Schema, op Operator) Node { return single{in, op} }

type single struct {
	in *change.Schema
	op Operator
}

func (s single) Inputs() int                    { return 1 }
func (s single) InputSchema(int) *change.Schema { return s.in }
func (s single) Schema() *change.Schema         { return s.op.Schema() }
func (s single) Process(ctx context.Context, in *change.Batch, emit Emit) error {
	return s.op.Process(ctx, in, emit)
}
func (s single) ProcessPort(ctx context.Context, port int, in *change.Batch, emit Emit) error {
	if port != 0 {
		in.Release()
		return fmt.Errorf("%w: no input port %d", ErrInput, port)
	}
	return s.op.Process(ctx, in, emit)
}

// StageInput feeds one input port of a stage: a source table, or the output of
// an earlier stage, partitioned by the Key columns.
type StageInput struct {
	// Table is a source table ("public.orders"), or
	Table string
	// Stage is the name of an earlier stage.
	Stage string
	// Key names the columns (of this input) rows are partitioned by. They must be
	// the columns the stage's operator keys its state by (a join's key, a group-by's
	// columns), so that each partition owns its keys. Nil: every row to partition 0.
	Key []string
}

// Stage is one step of a dataflow, run as Partitions copies, each in its own
// goroutine. Every copy is built by Build and must use the same operator IDs and
// the shared backend: partitions own disjoint keys, so they share namespaces, and
// a checkpoint restores under any number of partitions.
type Stage struct {
	Name   string
	Inputs []StageInput // one per input port, in port order
	Build  func(partition int) (Node, error)
}

// DataflowConfig configures NewDataflow. Source, Stages, Sink and State are required.
type DataflowConfig struct {
	Source BatchSource
	// Stages in topological order: a stage reads source tables and earlier stages.
	// Each stage's output feeds exactly one later stage, except the last stage's,
	// which goes to Sink.
	Stages []Stage
	Sink   sink.Sink
	// State holds every operator's state; checkpoints snapshot it.
	State state.Backend
	// Partitions is the number of copies of each stage (default GOMAXPROCS).
	Partitions int
	// ChannelDepth bounds each channel between goroutines, in batches (default 16):
	// a slow stage holds up the ones before it, down to the source.
	ChannelDepth int
	// EpochTxs is how many source transactions make an epoch (default 1). A barrier
	// after each epoch aligns the stages; the sink gets an epoch's output in one go,
	// with the position of its last transaction. Within an epoch, the changes of
	// consecutive transactions to a table reach the operators as one batch (up to
	// 4096 rows): larger epochs mean fewer, larger batches.
	EpochTxs int
	// MaxEpochTxs, when above EpochTxs, makes epochs adaptive: an epoch that has
	// reached EpochTxs transactions goes on taking the ones the source has ready
	// (read ahead by a goroutine, up to MaxEpochTxs of them) and ends when none is.
	// An idle or slow source then gets an epoch per EpochTxs transactions (the
	// least latency), a busy one fewer and larger batches (the most throughput).
	// Epoch boundaries then depend on timing, so a replay after a restart may cut
	// them elsewhere: a sink that is exactly-once by skipping positions it already
	// holds (sink.Silver) needs fixed epochs; one that commits at checkpoints does
	// not. With it, Source.Next runs on its own goroutine, concurrently with Ack.
	MaxEpochTxs int
	// CheckpointDir, when set, enables checkpoints (see Checkpoint) and restores
	// the latest one at Run.
	CheckpointDir string
	// CheckpointInterval is the time between periodic checkpoints (0: only on
	// demand and at the end of a finite source).
	CheckpointInterval time.Duration
	// Mem allocates the partitioned batches (default memory.DefaultAllocator).
	Mem memory.Allocator
	// Logger gets checkpoint and restore messages (default slog.Default()).
	Logger *slog.Logger
	// Watermark, when set, makes the source send event-time watermarks to every
	// partition (see WatermarkConfig); nodes that handle them get OnWatermark.
	Watermark WatermarkConfig
	// Name labels the dataflow's metrics and log lines (default "dataflow").
	Name string
	// Metrics counts what the source read, what each stage took in, emitted and
	// spent, what reached the sink, and the checkpoints (nil: nothing).
	Metrics *Metrics
}

// Validate reports whether the configuration can work.
func (c DataflowConfig) Validate() error {
	switch {
	case c.Source == nil || c.Sink == nil || c.State == nil:
		return fmt.Errorf("%w: dataflow: Source, Sink and State are required", ErrConfig)
	case len(c.Stages) == 0:
		return fmt.Errorf("%w: dataflow: no stages", ErrConfig)
	case c.Partitions < 0 || c.ChannelDepth < 0 || c.EpochTxs < 0 || c.MaxEpochTxs < 0 || c.CheckpointInterval < 0:
		return fmt.Errorf("%w: dataflow: negative Partitions, ChannelDepth, EpochTxs, MaxEpochTxs or CheckpointInterval", ErrConfig)
	}
	return nil
}

func (c *DataflowConfig) ensureDefaults() {
	if c.Partitions == 0 {
		c.Partitions = runtime.GOMAXPROCS(0)
	}
	if c.ChannelDepth == 0 {
		c.ChannelDepth = 16
	}
	if c.EpochTxs == 0 {
		c.EpochTxs = 1
	}
	if c.Mem == nil {
		c.Mem = memory.DefaultAllocator
	}
	if c.Name == "" {
		c.Name = "dataflow"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Dataflow runs a source through stages of operators into a sink, each stage
// partitioned by key across goroutines, with bounded channels between them.
//
// Barriers: after each epoch (EpochTxs transactions) the source sends a barrier
// down every channel. A goroutine with several senders aligns them: once a
// sender's barrier has come, its later messages wait until every sender's has,
// then the barrier goes on. So every batch between two barriers derives from the
// same transactions, and the sink writes an epoch's output at the position of its
// last transaction.
//
// A checkpoint barrier also stops the source until it has reached the sink. Then
// every operator has processed everything before it and nothing after it, so the
// shared backend holds exactly the state at that transaction boundary: the sink
// pre-commits (sink.PreCommitAt), the backend is checkpointed with the source
// position, the sink commits (sink.CommitAt) and the source is acked. Run on a
// CheckpointDir with a checkpoint restores it first (state.Backend.Restore,
// sink.RecoverAt) and reopens the source at its position.
type Dataflow struct {
	cfg     DataflowConfig
	ckptReq chan chan error

	mu      sync.Mutex
	running bool
	lastID  uint64
	lastPos cdc.Position
}

// NewDataflow checks cfg and returns the dataflow, ready to Run.
func NewDataflow(cfg DataflowConfig) (*Dataflow, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.ensureDefaults()
	return &Dataflow{cfg: cfg, ckptReq: make(chan chan error, 16)}, nil
}

// msg is what flows through the channels: a batch for a port, a barrier, or the
// end of a sender.
type msg struct {
	from    int
	port    int
	b       *change.Batch
	barrier *barrier
	end     bool
	// watermark: wm (Unix ns) is the sender's event-time watermark.
	watermark bool
	wm        int64
}

type barrier struct {
	pos        cdc.Position
	checkpoint uint64     // 0: an epoch barrier only
	done       chan error // checkpoint: the sink reports completion
}

// flow is one Run's wiring.
type flow struct {
	d        *Dataflow
	p        int
	nodes    [][]Node
	in       [][]chan msg // per stage, per partition
	sinkIn   chan msg
	senders  []int // per stage: number of senders
	upBase   []int // per stage: sender id of partition 0 of its upstream stage
	consumer []int // per stage: consuming stage, or -1 for the sink
	conPort  []int
	conKey   [][]int // columns of this stage's output the consumer partitions by
	tables   map[string][]tableRoute
	srcFed   []bool
	m        *flowMetrics // nil: none
}

type tableRoute struct {
	stage, port int
	key         []int
	// pk and ns are set when the input has a primary key that does not contain
	// the partitioning key: a retraction may then carry only the key columns (a
	// partial before-image), so the partition each row went to is kept by primary
	// key in namespace ns of the backend and retractions follow it there.
	pk []int
	ns string
}

func (d *Dataflow) wire() (*flow, error) {
	cfg := &d.cfg
	f := &flow{d: d, p: cfg.Partitions, tables: map[string][]tableRoute{}, m: cfg.Metrics.forFlow(cfg.Name, cfg.Stages)}
	n := len(cfg.Stages)
	f.nodes = make([][]Node, n)
	f.in = make([][]chan msg, n)
	f.senders, f.upBase, f.srcFed = make([]int, n), make([]int, n), make([]bool, n)
	f.consumer, f.conPort, f.conKey = make([]int, n), make([]int, n), make([][]int, n)
	index := map[string]int{}
	for s := range cfg.Stages {
		f.consumer[s] = -1
	}
	for s, st := range cfg.Stages {
		if _, dup := index[st.Name]; dup || st.Name == "" {
			return nil, fmt.Errorf("%w: dataflow: stage %d: name %q empty or not unique", ErrConfig, s, st.Name)
		}
		index[st.Name] = s
		for p := range f.p {
			node, err := st.Build(p)
			if err != nil {
				return nil, fmt.Errorf("stream: dataflow: stage %s: %w", st.Name, err)
			}
			if node.Inputs() != len(st.Inputs) {
				return nil, fmt.Errorf("%w: dataflow: stage %s has %d inputs, its node %d", ErrConfig, st.Name, len(st.Inputs), node.Inputs())
			}
			if err := setPartition(node, p, f.p); err != nil {
				return nil, fmt.Errorf("stream: dataflow: stage %s: %w", st.Name, err)
			}
			f.nodes[s] = append(f.nodes[s], node)
			f.in[s] = append(f.in[s], make(chan msg, cfg.ChannelDepth))
		}
		ups := 0
		for port, in := range st.Inputs {
			schema := f.nodes[s][0].InputSchema(port)
			key, err := columns(schema, in.Key)
			if err != nil {
				return nil, fmt.Errorf("%w: dataflow: stage %s input %d: %w", ErrConfig, st.Name, port, err)
			}
			switch {
			case in.Table != "" && in.Stage == "":
				tr := tableRoute{stage: s, port: port, key: key}
				if pk := schema.Key(); len(pk) > 0 && len(key) > 0 && !containsAll(pk, key) {
					tr.pk, tr.ns = pk, fmt.Sprintf("dataflow/%s/%d", st.Name, port)
				}
				f.tables[in.Table] = append(f.tables[in.Table], tr)
				f.srcFed[s] = true
			case in.Stage != "" && in.Table == "":
				u, ok := index[in.Stage]
				if !ok {
					return nil, fmt.Errorf("%w: dataflow: stage %s reads %q, not an earlier stage", ErrConfig, st.Name, in.Stage)
				}
				if f.consumer[u] >= 0 {
					return nil, fmt.Errorf("%w: dataflow: stage %s is read twice", ErrConfig, in.Stage)
				}
				if !f.nodes[u][0].Schema().Equal(schema) {
					return nil, fmt.Errorf("%w: dataflow: stage %s emits %s, stage %s input %d takes %s",
						ErrConfig, in.Stage, f.nodes[u][0].Schema(), st.Name, port, schema)
				}
				f.consumer[u], f.conPort[u], f.conKey[u] = s, port, key
				ups++
			default:
				return nil, fmt.Errorf("%w: dataflow: stage %s input %d: set one of Table and Stage", ErrConfig, st.Name, port)
			}
		}
		if f.srcFed[s] {
			f.senders[s] = 1
		}
		f.upBase[s] = f.senders[s]
		f.senders[s] += ups * f.p
	}
	last := -1
	for s := range cfg.Stages {
		if f.consumer[s] < 0 {
			if last >= 0 {
				return nil, fmt.Errorf("%w: dataflow: stages %s and %s both end the flow", ErrConfig, cfg.Stages[last].Name, cfg.Stages[s].Name)
			}
			last = s
		}
	}
	// Upstream stages of one consumer get consecutive sender ids.
	next := make([]int, n)
	copy(next, f.upBase)
	for u := range cfg.Stages {
		if c := f.consumer[u]; c >= 0 {
			f.upBase[u], next[c] = next[c], next[c]+f.p
		}
	}
	f.sinkIn = make(chan msg, cfg.ChannelDepth)
	return f, nil
}

// senderID is the id partition p of stage u has at its consumer.
func (f *flow) senderID(u, p int) int { return f.upBase[u] + p }

func containsAll(set, sub []int) bool {
	for _, x := range sub {
		if !slices.Contains(set, x) {
			return false
		}
	}
	return true
}

func columns(s *change.Schema, names []string) ([]int, error) {
	var out []int
	for _, n := range names {
		c := s.FieldIndex(n)
		if c < 0 {
			return nil, fmt.Errorf("key column %q is not a column of %s", n, s)
		}
		out = append(out, c)
	}
	return out, nil
}

func send(ctx context.Context, ch chan msg, m msg) error {
	select {
	case ch <- m:
		return nil
	case <-ctx.Done():
		if m.b != nil {
			m.b.Release()
		}
		return context.Cause(ctx)
	}
}

// route partitions b by key and sends each part to its partition of stage s.
// With tr, retractions go where their primary key's addition went.
func (f *flow) route(ctx context.Context, b *change.Batch, s, port int, key []int, from int, tr *tableRoute) error {
	if f.p == 1 || len(key) == 0 {
		return send(ctx, f.in[s][0], msg{from: from, port: port, b: b})
	}
	defer b.Release()
	hashes := make([]uint64, b.Len())
	shuffle.HashKeys(b, key, hashes)
	if tr != nil && tr.pk != nil {
		if err := f.stickyHashes(b, tr, hashes); err != nil {
			return err
		}
	}
	parts := make([]int, b.Len())
	for i, h := range hashes {
		parts[i] = shuffle.PartitionOf(h, f.p)
	}
	ops := b.Ops()
	rows := make([][]int, f.p)
	pops := make([][]change.Op, f.p)
	for i, op := range ops {
		// An update whose before and after go to different partitions becomes a
		// delete in one and an insert in the other.
		if op == change.UpdateBefore && i+1 < len(ops) && ops[i+1] == change.UpdateAfter && parts[i] != parts[i+1] {
			op = change.Delete
		} else if op == change.UpdateAfter && i > 0 && ops[i-1] == change.UpdateBefore && parts[i] != parts[i-1] {
			op = change.Insert
		}
		rows[parts[i]] = append(rows[parts[i]], i)
		pops[parts[i]] = append(pops[parts[i]], op)
	}
	for p := range f.p {
		if len(rows[p]) == 0 {
			continue
		}
		part, err := takeRows(f.d.cfg.Mem, b, rows[p], pops[p])
		if err != nil {
			return err
		}
		if err := send(ctx, f.in[s][p], msg{from: from, port: port, b: part}); err != nil {
			return err
		}
	}
	return nil
}

// stickyHashes records the hash of each added row under its primary key and gives
// each retraction the hash recorded for its key.
func (f *flow) stickyHashes(b *change.Batch, tr *tableRoute, hashes []uint64) error {
	be := f.d.cfg.State
	var k, v []byte
	for i, op := range b.Ops() {
		k = k[:0]
		for _, c := range tr.pk {
			k = appendKey(k, b.Column(c), i)
		}
		var err error
		if op.IsRetraction() {
			var ok bool
			if v, ok, err = be.Get(tr.ns, k, v[:0]); err == nil && ok && len(v) == 8 {
				hashes[i] = binary.LittleEndian.Uint64(v)
				err = be.Delete(tr.ns, k)
			}
		} else {
			err = be.Put(tr.ns, k, binary.LittleEndian.AppendUint64(v[:0], hashes[i]))
		}
		if err != nil {
			return fmt.Errorf("stream: dataflow: routing state: %w", err)
		}
	}
	return nil
}

// aligned reads in until every one of n senders has ended, holding back the
// messages of a sender whose barrier or watermark has come until every sender's
// has (then onBarrier, or onWatermark with their least, runs once).
//
// Watermarks are aligned like barriers so that a partition applies each one
// between the same rows as an operator fed the whole stream in order: every
// sender forwards the same sequence of watermarks and barriers, each after the
// rows before it, but a fast sender's rows after a watermark would otherwise be
// processed before the watermark, and whether a session merges or a row is late
// would depend on the goroutines' timing (and a restarted run could differ from
// an uninterrupted one).
func aligned(ctx context.Context, in chan msg, n int, onData func(msg) error, onBarrier func(*barrier) error, onWatermark func(int64) error) error {
	blocked := make([]bool, n)
	held := make([][]msg, n)
	// replay[ri:] are the held messages still to process; spare is the other
	// buffer: both are reused from barrier to barrier (one per transaction at
	// EpochTxs 1) instead of allocated anew.
	var replay, spare []msg
	ri := 0
	nblocked, ended := 0, 0
	var bar *barrier // the control message being aligned: a barrier, or watermarks
	nwm, least := 0, int64(0)
	release := func() {
		for _, h := range held {
			for _, m := range h {
				if m.b != nil {
					m.b.Release()
				}
			}
		}
		for _, m := range replay[ri:] {
			if m.b != nil {
				m.b.Release()
			}
		}
	}
	for ended < n {
		var m msg
		if ri < len(replay) {
			m = replay[ri]
			ri++
		} else {
			select {
			case m = <-in:
			case <-ctx.Done():
				release()
				return context.Cause(ctx)
			}
		}
		if blocked[m.from] {
			held[m.from] = append(held[m.from], m)
			continue
		}
		var err error
		switch {
		case m.end:
			ended++
		case m.barrier == nil && !m.watermark:
			err = onData(m)
		default:
			blocked[m.from] = true
			if m.watermark {
				if nwm == 0 || m.wm < least {
					least = m.wm
				}
				nwm++
			} else {
				bar = m.barrier
			}
			if nblocked++; nblocked < n-ended {
				continue
			}
			switch {
			case nwm > 0 && bar != nil:
				err = fmt.Errorf("stream: dataflow: internal error: senders sent a barrier and a watermark in different orders")
			case bar != nil:
				err = onBarrier(bar)
			default:
				err = onWatermark(least)
			}
			front := spare[:0]
			for i := range held {
				front = append(front, held[i]...)
				clear(held[i])
				held[i], blocked[i] = held[i][:0], false
			}
			front = append(front, replay[ri:]...)
			clear(replay)
			replay, spare, ri = front, replay[:0], 0
			nblocked, nwm, bar = 0, 0, nil
		}
		if err != nil {
			release()
			return err
		}
	}
	return nil
}

// Run restores the latest checkpoint (with CheckpointDir), opens the source there
// and runs until the source ends (io.EOF: a final checkpoint, or a Flush of the
// sink, then nil), an error, or ctx is done. It closes the source, not the sink.
func (d *Dataflow) Run(ctx context.Context) error {
	d.mu.Lock()
	if d.running {
		d.mu.Unlock()
		return fmt.Errorf("%w: dataflow: already running", ErrConfig)
	}
	d.running = true
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.running = false
		d.mu.Unlock()
	}()
	f, err := d.wire()
	if err != nil {
		return err
	}
	id, pos, err := d.restore(ctx)
	if err != nil {
		return err
	}
	for s := range f.nodes {
		for _, node := range f.nodes[s] {
			if err := loadShared(node); err != nil {
				return fmt.Errorf("stream: dataflow: stage %s: %w", d.cfg.Stages[s].Name, err)
			}
		}
	}
	if err := sink.RecoverAt(ctx, d.cfg.Sink, id); err != nil {
		return fmt.Errorf("stream: dataflow: recover sink at checkpoint %d: %w", id, err)
	}
	if err := d.cfg.Source.Open(ctx, pos); err != nil {
		return fmt.Errorf("stream: dataflow: open source at %s: %w", pos, err)
	}
	defer d.cfg.Source.Close()
	d.mu.Lock()
	d.lastID, d.lastPos = id, pos
	d.mu.Unlock()

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	fail := func(err error) {
		if err != nil {
			once.Do(func() { first = err; cancel(err) })
		}
	}
	for s := range f.nodes {
		for p := range f.nodes[s] {
			wg.Add(1)
			go func() { defer wg.Done(); fail(f.worker(ctx, s, p)) }()
		}
	}
	wg.Add(1)
	go func() { defer wg.Done(); fail(f.sinkLoop(ctx)) }()
	fail(f.source(ctx, pos))
	wg.Wait()
	// After a failure, release what is left in the channels.
	for _, ins := range append(f.in, []chan msg{f.sinkIn}) {
		for _, ch := range ins {
			for len(ch) > 0 {
				if m := <-ch; m.b != nil {
					m.b.Release()
				}
			}
		}
	}
	return first
}

// worker runs partition p of stage s.
func (f *flow) worker(ctx context.Context, s, p int) error {
	node := f.nodes[s][p]
	c := f.consumer[s]
	out := 0 // rows emitted by the current ProcessPort
	emit := func(b *change.Batch) error {
		out += b.Len()
		if c < 0 {
			return send(ctx, f.sinkIn, msg{from: p, b: b})
		}
		return f.route(ctx, b, c, f.conPort[s], f.conKey[s], f.senderID(s, p), nil)
	}
	broadcast := func(m msg) error {
		if c < 0 {
			m.from = p
			return send(ctx, f.sinkIn, m)
		}
		m.from = f.senderID(s, p)
		for q := range f.p {
			if err := send(ctx, f.in[c][q], m); err != nil {
				return err
			}
		}
		return nil
	}
	wms := newWatermarkMerge()
	err := aligned(ctx, f.in[s][p], f.senders[s],
		func(m msg) error {
			if f.m == nil {
				return node.ProcessPort(ctx, m.port, m.b, emit)
			}
			in, t0 := m.b.Len(), time.Now()
			out = 0
			err := node.ProcessPort(ctx, m.port, m.b, emit)
			f.m.stage(s, in, out, time.Since(t0))
			return err
		},
		func(b *barrier) error { return broadcast(msg{barrier: b}) },
		func(wm int64) error {
			return wms.on(ctx, wm, node, emit, func(wm int64) error {
				if c < 0 {
					return nil // the sink has no use for it
				}
				return broadcast(msg{watermark: true, wm: wm})
			})
		})
	if err != nil {
		return fmt.Errorf("stream: dataflow: stage %s partition %d: %w", f.d.cfg.Stages[s].Name, p, err)
	}
	return broadcast(msg{end: true})
}

// sinkLoop writes each epoch's output at its barrier and completes checkpoints.
func (f *flow) sinkLoop(ctx context.Context) error {
	d := f.d
	var epoch []*change.Batch
	defer func() {
		for _, b := range epoch {
			b.Release()
		}
	}()
	err := aligned(ctx, f.sinkIn, f.p,
		func(m msg) error { epoch = append(epoch, m.b); return nil },
		func(b *barrier) error {
			f.m.epoch()
			for i, out := range epoch {
				epoch[i] = nil
				f.m.sink(out.Len())
				if err := d.cfg.Sink.Write(ctx, out, b.pos); err != nil {
					for _, rest := range epoch[i+1:] {
						rest.Release()
					}
					epoch = epoch[:0]
					return fmt.Errorf("stream: dataflow: sink write at %s: %w", b.pos, err)
				}
			}
			epoch = epoch[:0]
			if b.checkpoint == 0 {
				return nil
			}
			err := d.complete(ctx, b)
			b.done <- err
			return err
		},
		func(int64) error { return nil }) // stages do not send the sink watermarks
	if err != nil {
		return err
	}
	if d.cfg.CheckpointDir == "" {
		if err := d.cfg.Sink.Flush(ctx); err != nil {
			return fmt.Errorf("stream: dataflow: sink flush: %w", err)
		}
	}
	return nil
}

// source reads transactions, routes their batches, and sends barriers.
func (f *flow) source(ctx context.Context, last cdc.Position) error {
	d := f.d
	end := func() {
		for s := range f.nodes {
			if f.srcFed[s] {
				for p := range f.p {
					_ = send(ctx, f.in[s][p], msg{end: true})
				}
			}
		}
	}
	defer end()
	bar := func(b *barrier) error {
		for s := range f.nodes {
			if f.srcFed[s] {
				for p := range f.p {
					if err := send(ctx, f.in[s][p], msg{barrier: b}); err != nil {
						return err
					}
				}
			}
		}
		return nil
	}
	// The interval runs from the end of one checkpoint to the start of the next, so
	// checkpoints slower than it do not follow each other back to back.
	periodic := d.cfg.CheckpointInterval > 0 && d.cfg.CheckpointDir != ""
	nextDue := time.Now().Add(d.cfg.CheckpointInterval)
	var waiting []chan error
	wms := newSourceWatermark(d.cfg.Watermark)
	since, inEpoch := 0, 0 // transactions since the last checkpoint, in the epoch
	var pend pending
	defer pend.release()
	flushPending := func() error {
		defer pend.reset()
		for i, table := range pend.tables {
			b, err := concatBatches(d.cfg.Mem, pend.batches[i])
			pend.batches[i] = nil
			if err != nil {
				return err
			}
			routes := f.tables[table]
			for k := range routes {
				if k < len(routes)-1 {
					b.Retain()
				}
				r := &routes[k]
				if err := f.route(ctx, b, r.stage, r.port, r.key, 0, r); err != nil {
					if k < len(routes)-1 {
						b.Release() // the reference kept for the routes not taken
					}
					for _, bs := range pend.batches[i+1:] {
						for _, b := range bs {
							b.Release()
						}
					}
					return err
				}
			}
		}
		return nil
	}
	checkpoint := func() error {
		if err := flushPending(); err != nil {
			return err
		}
		var err error
		if since > 0 || len(waiting) == 0 {
			err = f.checkpoint(ctx, last, bar)
		}
		for _, w := range waiting {
			w <- err
		}
		waiting, since, inEpoch = nil, 0, 0
		nextDue = time.Now().Add(d.cfg.CheckpointInterval)
		return err
	}
	next := d.cfg.Source.Next
	adaptive := d.cfg.MaxEpochTxs > d.cfg.EpochTxs
	var ahead *readAhead
	if adaptive {
		ahead = newReadAhead(ctx, d.cfg.Source, d.cfg.MaxEpochTxs)
		defer ahead.stop()
		next = ahead.next
	}
	for {
		due := false
		select {
		case w := <-d.ckptReq:
			waiting = append(waiting, w)
			due = true
		default:
			due = periodic && since > 0 && time.Now().After(nextDue)
		}
		if due {
			if err := checkpoint(); err != nil {
				return err
			}
		}
		tx, err := next(ctx)
		if errors.Is(err, io.EOF) {
			if wm, ok := wms.end(); ok { // close every window; a barrier takes the output to the sink
				if err := flushPending(); err != nil { // the rows before the watermark
					return err
				}
				if err := f.sendWatermark(ctx, wm); err != nil {
					return err
				}
				since, inEpoch = max(since, 1), max(inEpoch, 1)
			}
			if d.cfg.CheckpointDir != "" {
				if since > 0 || d.lastCheckpoint() == 0 {
					since = max(since, 1)
					return checkpoint()
				}
				return nil
			}
			if inEpoch > 0 {
				if err := flushPending(); err != nil {
					return err
				}
				return bar(&barrier{pos: last})
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("stream: dataflow: source: %w", err)
		}
		if err := wms.observe(&tx); err != nil {
			tx.Release()
			return err
		}
		if f.m != nil {
			n := 0
			for _, b := range tx.Batches {
				n += b.Len()
			}
			f.m.source(n)
		}
		for i, b := range tx.Batches {
			tx.Batches[i] = nil
			if len(f.tables[tx.Tables[i]]) == 0 {
				b.Release()
				continue
			}
			pend.add(tx.Tables[i], b)
		}
		last = tx.Commit
		if wm, ok := wms.next(); ok {
			// A watermark goes after the rows before it: they must not turn late.
			if err := flushPending(); err != nil {
				return err
			}
			if err := f.sendWatermark(ctx, wm); err != nil {
				return err
			}
		}
		since++
		inEpoch++
		endEpoch := inEpoch >= d.cfg.EpochTxs
		if endEpoch && adaptive && inEpoch < d.cfg.MaxEpochTxs && ahead.ready() {
			endEpoch = false // take what is ready into this epoch
		}
		if endEpoch || pend.rows >= coalesceRows {
			if err := flushPending(); err != nil {
				return err
			}
		}
		if endEpoch {
			inEpoch = 0
			if err := bar(&barrier{pos: last}); err != nil {
				return err
			}
		}
	}
}

// coalesceRows bounds the rows of one table a source holds back to coalesce.
const coalesceRows = 4096

// pending holds the batches of an epoch's transactions per table (in the order
// the epoch first touches each table), to go out as one batch per table: the
// same row changes in each table's order, in fewer and larger batches. Every
// operator's output is a function of the changes each input port has seen, not
// of how they are cut into batches or interleaved across ports, and the sink only
// sees an epoch's output at its barrier. Watermarks cut it: the rows before a
// watermark reach the operators before it.
type pending struct {
	tables  []string
	batches [][]*change.Batch
	rows    int
}

func (p *pending) add(table string, b *change.Batch) {
	i := slices.Index(p.tables, table)
	if i < 0 {
		i = len(p.tables)
		p.tables = append(p.tables, table)
		p.batches = append(p.batches, nil)
	}
	p.batches[i] = append(p.batches[i], b)
	p.rows += b.Len()
}

func (p *pending) release() {
	for _, bs := range p.batches {
		for _, b := range bs {
			b.Release()
		}
	}
	p.reset()
}

func (p *pending) reset() {
	p.tables, p.batches, p.rows = p.tables[:0], p.batches[:0], 0
}

// concatBatches joins batches of one schema into one, taking over their references.
func concatBatches(mem memory.Allocator, bs []*change.Batch) (*change.Batch, error) {
	if len(bs) == 1 {
		return bs[0], nil
	}
	defer func() {
		for _, b := range bs {
			b.Release()
		}
	}()
	out, err := change.Concat(mem, bs)
	if err != nil {
		return nil, fmt.Errorf("stream: dataflow: %w", err)
	}
	return out, nil
}

// Checkpoint asks the running dataflow for a checkpoint at the next transaction
// boundary and waits for it to complete (sink committed, source acked).
func (d *Dataflow) Checkpoint(ctx context.Context) error {
	if d.cfg.CheckpointDir == "" {
		return fmt.Errorf("%w: dataflow: no CheckpointDir", ErrConfig)
	}
	w := make(chan error, 1)
	select {
	case d.ckptReq <- w:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-w:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// LastCheckpoint returns the id and source position of the latest completed
// checkpoint (0 and zero before the first).
func (d *Dataflow) LastCheckpoint() (uint64, cdc.Position) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lastID, d.lastPos
}

func (d *Dataflow) lastCheckpoint() uint64 { id, _ := d.LastCheckpoint(); return id }
