package cdc

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"math/bits"
	"slices"
	"strconv"
	"time"
	"unsafe"

	"github.com/strata-data/strata/change"
)

// ErrLate: an event arrived after its place in commit order had been passed: the
// transaction it belongs to, or a later one, was already emitted. It is dead-lettered
// rather than emitted out of order or as a second piece of an emitted transaction.
var ErrLate = errors.New("cdc: event arrived after its position was emitted")

// ErrAssemblerConfig is returned (wrapped) by AssemblerConfig.Validate, so callers
// building a config from flags can tell a bad setting from a failure.
var ErrAssemblerConfig = errors.New("cdc: invalid assembler config")

// AssemblyError names the event the assembler gave up on: where it sat, its table and
// transaction, and why. Err wraps ErrTxCount, ErrTxBegin, ErrTxTimeout, ErrLate or
// ErrMalformed; its text is the Reason of the event's dead letter.
type AssemblyError struct {
	Origin Origin
	Table  string
	Op     Op
	TxID   string // the transaction's id as the source spells it; "" outside transactions
	Err    error
}

func (e *AssemblyError) Error() string {
	what := e.Op.String()
	if e.Table != "" {
		what = e.Table + " " + what
	}
	if e.TxID == "" {
		return fmt.Sprintf("cdc: assemble %s (%s): %v", e.Origin, what, e.Err)
	}
	return fmt.Sprintf("cdc: assemble %s (%s) in transaction %q: %v", e.Origin, what, e.TxID, e.Err)
}

func (e *AssemblyError) Unwrap() error { return e.Err }

// AssemblerConfig bounds what an Assembler may hold back while it waits for transactions
// to complete. The zero value works.
type AssemblerConfig struct {
	// MaxOpen is how many transactions may be buffered (incomplete, or complete and
	// waiting for an earlier one); default 10000. Past it, or past MaxEvents, the oldest
	// incomplete transaction is given up to dead letters.
	MaxOpen int
	// MaxEvents is how many events those transactions may hold; default 1_000_000.
	MaxEvents int
	// Timeout is how long, by Now, a transaction may stay incomplete; default 5m. The
	// clock is not read for every record: a transaction's age counts from the first
	// reading after its first record arrived, and readings are taken on Idle and Flush,
	// every 256 Adds, and on every Add while a transaction has been buffered for 32 Adds
	// or more. A transaction is thus never given up before Timeout, and late by at most
	// the time the 32 Adds after its arrival took (or until the next Idle).
	Timeout time.Duration
	// Now is the clock for Timeout and the lag metric; default time.Now. Tests inject a
	// fake clock.
	Now func() time.Time
	// DeadLetters receives the events of transactions given up. Without it, giving up
	// is reported as an error from Add, Idle or Flush, so nothing is dropped silently.
	DeadLetters DeadLetters
	// Metrics counts emitted transactions, open transactions, lag and rejections.
	Metrics *Metrics
	// Logger receives give-ups (warn) and dropped duplicates (debug); default slog.Default().
	Logger *slog.Logger
}

const (
	defaultMaxOpen   = 10000
	defaultMaxEvents = 1_000_000
	defaultTimeout   = 5 * time.Minute
	// timeCheckEvery bounds how many Adds may pass without looking at the clock.
	timeCheckEvery = 256
	// staleAdds is how many Adds a transaction may stay buffered before every Add looks
	// at the clock (see Timeout).
	staleAdds = 32
	// minDoneKeys is the least number of finished transaction ids remembered (2*MaxOpen
	// if more); up to twice as many are. Of those emitted without metadata, only the last
	// recentKeys are.
	minDoneKeys = 1024
	recentKeys  = 64
)

// Validate reports the first setting that cannot work, wrapping ErrAssemblerConfig.
func (c AssemblerConfig) Validate() error {
	switch {
	case c.MaxOpen < 0:
		return fmt.Errorf("%w: MaxOpen is %d, want >= 0 (0: %d)", ErrAssemblerConfig, c.MaxOpen, defaultMaxOpen)
	case c.MaxEvents < 0:
		return fmt.Errorf("%w: MaxEvents is %d, want >= 0 (0: %d)", ErrAssemblerConfig, c.MaxEvents, defaultMaxEvents)
	case c.Timeout < 0:
		return fmt.Errorf("%w: Timeout is %v, want >= 0 (0: %v)", ErrAssemblerConfig, c.Timeout, defaultTimeout)
	}
	return nil
}

// withDefaults fills the zero fields; it is the only place defaults are decided.
func (c AssemblerConfig) withDefaults() AssemblerConfig {
	if c.MaxOpen == 0 {
		c.MaxOpen = defaultMaxOpen
	}
	if c.MaxEvents == 0 {
		c.MaxEvents = defaultMaxEvents
	}
	if c.Timeout == 0 {
		c.Timeout = defaultTimeout
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Assembler turns the events of one source, in the order the source returns them, into
// whole transactions in commit order. A transaction is emitted whole or not at all, so
// acking a source with the Commit of each emitted Tx never splits one.
//
// Events come from streams, a stream being an (Origin.Topic, Origin.Partition). Within a
// stream events arrive in commit order; across streams they interleave arbitrarily.
// Events pair into a transaction by [Event.TxKey]. Events with an empty key and snapshot
// reads (which carry the snapshot's txId but belong to no commit) are transactions of
// their own, with ID "". A tombstone outside any transaction that follows an event of a
// buffered transaction on its stream joins that transaction, after its delete.
//
// A transaction with metadata (a BEGIN or END has been seen, or its events carry a total
// order, which Debezium sends only together with BEGIN/END) is complete when its END has
// arrived and the events received match the END's per-collection counts; such
// transactions are emitted in END order. More events than counted, an END without its
// BEGIN, or counts still short at Timeout send the whole transaction to dead letters. A
// transaction without metadata is complete when every stream that delivered its events
// has since delivered an event of another transaction, or on Idle or Flush.
//
// Either kind is emitted only once no known stream can still deliver an event ordered
// before it: each has delivered events at or past its commit position, or events of it.
// Idle vouches that everything up to the greatest position delivered so far (the
// frontier) is in: an idle stream counts as being at the frontier, not as out of the
// way for good, since data written after the Idle may reach one stream before another.
// A stream is known from its first event; transactions without metadata cannot wait for
// a stream that has delivered nothing yet. With a single stream the cost per event is
// O(1).
//
// An event not ahead of what its stream delivered (by position or offset) is compared
// with what is buffered: one equal in Origin, or in position, table, op and row images,
// or one at or before LastCommit, is a redelivery, dropped and counted by Duplicates.
// An event that is new but ordered before LastCommit, or that belongs to a transaction
// already emitted or given up, goes to dead letters: emitting it would break commit
// order or split a transaction. Finished transactions are known by id for a while: those
// with metadata and those given up, for at least 2*MaxOpen (and 1024) transactions; those
// emitted without metadata, for the next 64 only, after which their late events are
// placed by position alone (before LastCommit: dead letters; after it: a later change).
//
// After each Add, Idle or Flush, call Next until it reports false; hand each transaction
// back with Release once done with it, so that its memory holds later events. An
// Assembler is not safe for concurrent use.
type Assembler struct {
	cfg AssemblerConfig
	log *slog.Logger

	streams []*stream
	byID    map[streamID]*stream
	lastS   *stream // the stream of the previous Add: one stream is the common case

	txs            txTable   // buffered transactions, and recent ones (see remember), by key
	fin            *finished // other finished transactions by key, for a while
	oldest, newest *txn      // buffered transactions by first arrival
	open, events   int       // buffered transactions and their data events
	nMeta          int       // buffered transactions with metadata
	metaQ          []*txn    // transactions with metadata, in END order
	metaHead       int
	pos            txQueue // buffered transactions without metadata, by commit position

	ready     []Tx
	readyHead int

	// Events are buffered in regions of slabs (see store); Tx.Events is handed out with
	// cap == len. Regions dropped or released are reused, the last freed first (see slab).
	slab       *slab // the slab regions are carved from
	tail       *txn  // the transaction whose region ends the slab
	freeEvents int   // events' worth of the free regions (in freeRegions)
	nextKnown  int   // the next slot of known

	// Reserve's room: slab.events[slab.used:resvEnd] of resvSlab is the caller's to decode
	// into. Once Reserve was called, slabs are reused whole (freeSlabs), not by region.
	resvSlab  *slab
	resvEnd   int
	spill     *slab // what regions are carved from while the room in slab is the caller's
	slabMode  bool
	freeSlabs []*slab

	free     []*txBuf  // buffers of transactions that left the buffer, for reuse
	freeTxns []*txn    // transactions forgotten, for reuse
	freeMeta []*txMeta // BEGIN/END holders of released buffers, for reuse
	forget   func(*txn)

	recentHead int // the oldest entry of recent
	recentLen  int

	lastCommit Position
	emitted    bool // whether any transaction was emitted: lastCommit is meaningful
	metaSeen   bool // a BEGIN or END has arrived: keyed transactions wait for their END

	frontier  Position // the greatest data position delivered when Idle was last called
	minWM     Position // least watermark of the data streams
	minStream *stream
	minActive bool // whether any data stream is known
	minValid  bool

	seq       uint64 // records added, for arrival order
	sinceTime int    // Adds since the clock was last read (starts at timeCheckEvery)
	now       time.Time
	nowRead   bool // Now was read during this call
	dups      int64
	lastOpen  int
	allSlow   bool // tests: every data event through addDataSlow, to check addData against it

	// The arrays last: the fields above, read on every Add, share fewer cache lines.
	freeRegions [regionClasses][]region // free regions by size class (see slab)
	known       [32]*slab               // the slabs last made, for Release; older ones are left to the GC
	recent      [recentKeys]doneKey     // ring of emitted transactions without metadata kept in txs
}

type stream struct {
	id         streamID
	wm         Position // greatest position delivered
	lastOffset int64    // greatest Origin.Offset delivered
	n          int64    // events accepted
	hasOffset  bool
	data       bool // has delivered data events (not only BEGIN/END)
	idle       bool
	cur        *txn // the keyed transaction whose run of events is open on this stream
	last       *txn // the keyed transaction of the latest non-tombstone event
	lastLone   lone // the latest event outside transactions
}

// lone is what identifies an event outside transactions, kept to recognize it re-sent.
type lone struct {
	pos                Position
	table              string
	op                 Op
	key, before, after change.Row
}

type txState uint8

const (
	txBuffered txState = iota
	txEmitted
	txGaveUp
)

// txn is one transaction: buffered, or finished and remembered by key for a while (see
// remember). What only a buffered transaction needs is in its txBuf, which goes back to
// the assembler's free list when the transaction leaves the buffer, so the transactions
// remembered stay small and the buffers are reused while still in cache.
type txn struct {
	key   string
	h     uint64 // key's hash in the assembler's txs
	name  string // the id, fixed when it leaves the buffer
	err   error  // why it was given up
	runs  int32  // streams whose current run of events belongs to this transaction
	state txState
	meta  bool
	// sawBegin and sawEnd record that a BEGIN or END arrived; they outlive the buffer.
	sawBegin, sawEnd bool
	// commit, seq and queued are the position queue's, here rather than in the buffer
	// so that comparing two transactions reads one cache line of each.
	commit Position
	seq    uint64 // arrival of its first record
	queued bool   // in the position queue
	*txBuf        // nil once the transaction left the buffer
}

// txBuf is what a buffered transaction holds.
//
// The fields every transaction uses come first, those of transactions with metadata
// last: a buffer is touched on every event, and the fewer cache lines the better.
type txBuf struct {
	events []Event // data events in arrival order

	prev, next *txn

	region *slab // where events lives when in a slab (nil: in an array of its own)
	at     int   // the region's start in it

	streams []*stream  // streams that delivered its events
	stream1 [1]*stream // backing for streams: one stream is the common case

	// What is known from the events alone (the transaction's id, its commit time, the
	// order to emit its events in) is worked out from them when needed, not kept up to
	// date as each arrives: that is less code per event. What the first event says is
	// kept as it arrives, while it is in cache: most transactions have one event.
	txID, srcTxID string // the first event's Tx.ID and Source.TxID

	timed bool      // whether first is set: the untimed transactions are the newest
	first time.Time // the first clock reading after its first record arrived

	begin, end *Event  // in metaEv
	metaEv     *txMeta // from the assembler's free list, once a BEGIN or END arrives
	wantTotal  int64
	want       []CollectionCount
	got        []int64
	counted    int64
	extra      bool // a row change of a collection the END does not list
}

// txMeta holds a transaction's BEGIN and END. It is apart from txBuf, and reused,
// so that transactions without metadata neither carry nor clear two more events,
// and one with metadata does not copy each to the heap.
type txMeta struct{ begin, end Event }

// NewAssembler returns an empty assembler. It panics if cfg.Validate fails: a config is
// the program's, not the data's.
func NewAssembler(cfg AssemblerConfig) *Assembler {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	cfg = cfg.withDefaults()
	return &Assembler{
		cfg:  cfg,
		log:  cfg.Logger,
		byID: map[streamID]*stream{},
		txs:  newTxTable(0),
		fin:  newFinished(max(2*cfg.MaxOpen, minDoneKeys)),
		// the first Add reads the clock, so the first transaction is timed from its arrival
		sinceTime: timeCheckEvery,
	}
}

// Add feeds the next event, in the order the source returned it. The assembler keeps a
// copy of *ev, not ev itself: the caller may reuse or change *ev once Add returns (the
// rows, strings and message it points to are kept, and must not be changed). An Event is
// large, so it is passed by pointer to save a copy per event. Add returns an error only
// when a transaction given up could not be written to dead letters; the caller should
// then stop without acking further.
func (a *Assembler) Add(ctx context.Context, ev *Event) error {
	a.seq++
	a.nowRead = false
	s := a.lastS
	if s == nil || !s.id.is(&ev.Origin) {
		s = nil
		if len(a.streams) <= 8 { // a few streams: cheaper to compare than to hash
			for _, c := range a.streams {
				if c.id.is(&ev.Origin) {
					s = c
					break
				}
			}
		}
		if s == nil {
			s = a.stream(ev.Origin)
		}
		a.lastS = s
	}
	var err error
	if ev.Op == OpTxBegin || ev.Op == OpTxEnd {
		err = a.addMeta(ctx, s, ev)
	} else {
		err = a.addData(ctx, s, ev)
	}
	a.sinceTime++
	// settle's work, with what most Adds need (nothing but emitting) done here; most
	// often the transaction first in commit order still has its run open
	if len(a.metaQ) > 0 || (a.pos.len() > 0 && a.pos.front().runs == 0) {
		a.tryEmit()
	}
	if a.open > a.cfg.MaxOpen || a.events > a.cfg.MaxEvents || a.sinceTime >= timeCheckEvery ||
		(a.oldest != nil && a.seq-a.oldest.seq >= staleAdds) || (a.cfg.Metrics != nil && a.open != a.lastOpen) {
		err = errors.Join(err, a.settle(ctx, false))
	}
	return err
}

// Idle tells the assembler that the source reported ErrIdle: every stream is caught up
// for now. Transactions without metadata are complete, nothing up to the frontier (the
// greatest position delivered) is held back any longer, and the timeout is checked.
func (a *Assembler) Idle(ctx context.Context) error {
	a.nowRead = false
	for _, s := range a.streams {
		a.endRun(s)
		s.idle = true
		if s.data && a.frontier.Less(s.wm) {
			a.frontier = s.wm
		}
	}
	a.minValid = false
	return a.settle(ctx, true)
}

// Flush ends the input: what is complete is emitted, and every transaction still
// incomplete is given up to dead letters.
func (a *Assembler) Flush(ctx context.Context) error {
	err := a.Idle(ctx)
	for a.open > 0 {
		t := a.oldestIncomplete()
		if t == nil {
			t = a.oldest
		}
		err = errors.Join(err, a.giveUp(ctx, t, a.unfinished(t, "input ended")))
		a.tryEmit()
	}
	a.setOpen()
	return err
}

// Next pops the next transaction ready, in commit order. Its events are the caller's
// until the caller passes it to Release, if it does.
func (a *Assembler) Next() (Tx, bool) {
	if a.readyHead == len(a.ready) {
		return Tx{}, false
	}
	r := &a.ready[a.readyHead]
	tx := *r
	r.ID, r.Events, r.CommitTime = "", nil, time.Time{} // what holds memory; cheaper than clearing all
	a.readyHead++
	if a.readyHead == len(a.ready) {
		a.ready, a.readyHead = a.ready[:0], 0
	}
	return tx, true
}

// Ready iterates over the transactions ready now, popping each as Next does.
func (a *Assembler) Ready() iter.Seq[Tx] {
	return func(yield func(Tx) bool) {
		for {
			tx, ok := a.Next()
			if !ok || !yield(tx) {
				return
			}
		}
	}
}

// Open returns how many transactions are buffered: incomplete, or complete and waiting
// for an earlier one.
func (a *Assembler) Open() int { return a.open }

// LastCommit returns the commit position of the last transaction emitted (made ready
// for Next): what the source may be acked with once it is durably applied.
func (a *Assembler) LastCommit() Position { return a.lastCommit }

// Duplicates returns how many redelivered events were dropped.
func (a *Assembler) Duplicates() int64 { return a.dups }

// ---- adding events ----

// stream returns the stream of o, made on its first event. Add has looked for it among
// the first few.
//
//go:noinline
func (a *Assembler) stream(o Origin) *stream {
	id := streamID{o.Topic, o.Partition}
	s := a.byID[id]
	if s == nil {
		s = &stream{id: id}
		a.byID[id] = s
		a.streams = append(a.streams, s)
	}
	return s
}

// is reports whether o is of the stream id. Sources mostly hand out one string per
// topic, so the topics' bytes are compared only when their addresses differ.
func (id *streamID) is(o *Origin) bool {
	return id.partition == o.Partition && len(id.topic) == len(o.Topic) &&
		(unsafe.StringData(id.topic) == unsafe.StringData(o.Topic) || id.topic == o.Topic)
}

// How an event compares with what its stream already delivered.
const (
	fresh  = iota // ahead of the stream: new
	tied          // at the stream's latest position under a new offset: new, or that event re-sent
	behind        // behind the stream's position or offset: a redelivery, or out of order
)

// replay places ev against what s already delivered.
func (s *stream) replay(ev *Event) int {
	if s.n == 0 {
		return fresh
	}
	c := ev.Pos.Compare(s.wm)
	if c < 0 || (s.hasOffset && ev.Origin != (Origin{}) && ev.Origin.Offset <= s.lastOffset) {
		return behind
	}
	if c == 0 && !ev.Pos.IsZero() {
		return tied
	}
	return fresh
}

// advance records that s delivered ev.
func (a *Assembler) advance(s *stream, ev *Event, data bool) {
	if s.n == 0 || s.wm.Less(ev.Pos) {
		s.wm = ev.Pos
		if s == a.minStream {
			a.minValid = false
		}
	}
	if ev.Origin != (Origin{}) && (!s.hasOffset || ev.Origin.Offset > s.lastOffset) {
		s.lastOffset, s.hasOffset = ev.Origin.Offset, true
	}
	s.n++
	if s.idle {
		s.idle, a.minValid = false, false
	}
	if data && !s.data {
		s.data, a.minValid = true, false
	}
}

// addData adds a data event. The common case is handled here in one piece of code, not
// spread over calls (between two Adds the decoder evicts the assembler's code, so each
// Add pays for every line of code it runs through): a row change of a transaction
// without metadata, ahead of all its stream delivered, that either continues the run
// open on its stream or belongs to a transaction buffered or not seen yet. Whatever
// fails a check here, before anything changed, is left to addDataSlow, which handles
// every case the same way.
func (a *Assembler) addData(ctx context.Context, s *stream, ev *Event) error {
	if ev.Op < OpCreate || ev.Op > OpDelete || ev.Tx.TotalOrder > 0 || a.metaSeen || a.allSlow ||
		s.n == 0 || s.idle || !s.data || !s.wm.Less(ev.Pos) || ev.Origin.Topic == "" ||
		(s.hasOffset && ev.Origin.Offset <= s.lastOffset) {
		return a.addDataSlow(ctx, s, ev)
	}
	key := ev.Source.TxID
	if key == "" || ev.Source.Connector != "postgresql" {
		if key = ev.TxKey(); key == "" {
			return a.addDataSlow(ctx, s, ev)
		}
	}
	t := s.cur
	var h uint64
	if t == nil || t.key != key {
		t, h = a.txs.get(key)
		if t == nil && ((a.fin.n > 0 && a.fin.get(h, key) != nil) || (a.emitted && ev.Pos.Less(a.lastCommit))) {
			return a.addDataSlow(ctx, s, ev)
		}
	}
	if t != nil && (t.state != txBuffered || t.meta) {
		return a.addDataSlow(ctx, s, ev)
	}
	// what advance does for an event ahead of its stream
	s.wm = ev.Pos
	if s == a.minStream {
		a.minValid = false
	}
	s.lastOffset, s.hasOffset = ev.Origin.Offset, true
	s.n++
	if t == nil {
		t = a.newTxn(key, h, false)
	}
	if s.cur != t {
		a.joinRun(s, t)
	}
	s.last = t
	a.appendEvent(t, ev) // without an END, never over its counts
	return nil
}

// joinRun makes t the transaction whose run is open on s.
func (a *Assembler) joinRun(s *stream, t *txn) {
	a.endRun(s)
	s.cur = t
	t.runs++
	if !slices.Contains(t.streams, s) {
		if t.streams == nil {
			t.streams = t.stream1[:0]
		}
		t.streams = append(t.streams, s)
	}
}

// addDataSlow adds a data event: every case (see addData).
//
//go:noinline
func (a *Assembler) addDataSlow(ctx context.Context, s *stream, ev *Event) error {
	key := ""
	if ev.Op != OpRead {
		key = ev.TxKey()
	}
	var t *txn
	var h uint64
	if key != "" {
		if c := s.cur; c != nil && c.key == key {
			t = c
		} else {
			t, h = a.lookup(key)
		}
	}
	if r := s.replay(ev); r != fresh && a.isDuplicate(s, key, t, ev, r) {
		a.duplicate(ev)
		return nil
	}
	a.advance(s, ev, true)

	if key == "" {
		s.lastLone = lone{pos: ev.Pos, table: ev.Table, op: ev.Op, key: ev.Key, before: ev.Before, after: ev.After}
		if ev.Op == OpTombstone && s.last != nil {
			if handled, err := a.tombstone(ctx, s, ev); handled {
				return err
			}
		}
		a.endRun(s)
		s.last = nil
		if a.emitted && ev.Pos.Less(a.lastCommit) {
			return a.late(ctx, ev)
		}
		t = a.newTxn("", 0, false)
		a.appendEvent(t, ev)
		return nil
	}

	if t != nil && t.state != txBuffered {
		s.last = t
		return a.finished(ctx, t, ev)
	}
	if t == nil {
		meta := a.metaSeen || ev.Tx.TotalOrder > 0
		if !meta && a.emitted && ev.Pos.Less(a.lastCommit) {
			return a.late(ctx, ev)
		}
		t = a.newTxn(key, h, meta)
	}
	if s.cur != t {
		a.joinRun(s, t)
	}
	s.last = t
	if a.appendEvent(t, ev) {
		return a.giveUp(ctx, t, a.countErr(t, "more events than the END counts"))
	}
	return nil
}

// late dead-letters ev, new but ordered before the last commit emitted.
//
//go:noinline
func (a *Assembler) late(ctx context.Context, ev *Event) error {
	return a.reject(ctx, nil, ev, fmt.Errorf("%w: position %s is before the last commit emitted, %s",
		ErrLate, ev.Pos, a.lastCommit))
}

// isDuplicate reports whether ev, not ahead of its stream s (r is tied or behind), is an
// event already buffered or emitted.
func (a *Assembler) isDuplicate(s *stream, key string, t *txn, ev *Event, r int) bool {
	switch {
	case t != nil && t.state == txBuffered:
		return t.contains(ev)
	case t != nil:
		return true // emitted, or given up with its first delivery in dead letters
	case r == behind && a.emitted && !a.lastCommit.Less(ev.Pos):
		return true
	case key != "":
		return false
	case r == tied && s.lastLone.pos == ev.Pos && s.lastLone.table == ev.Table && s.lastLone.op == ev.Op &&
		slices.Equal(s.lastLone.key, ev.Key) && slices.Equal(s.lastLone.before, ev.Before) && slices.Equal(s.lastLone.after, ev.After):
		return true
	}
	if p := s.last; ev.Op == OpTombstone && p != nil && p.state == txBuffered && p.contains(ev) {
		return true
	}
	for _, p := range a.pos.all() {
		if p.key == "" && p.contains(ev) {
			return true
		}
	}
	return false
}

func (t *txn) contains(ev *Event) bool {
	for i := range t.events {
		if sameEvent(&t.events[i], ev) {
			return true
		}
	}
	return false
}

// sameEvent reports whether b is a redelivery of a: the same record, or the same change
// at the same position (a connector restart re-sends changes under new offsets).
func sameEvent(a, b *Event) bool {
	if a.Origin == b.Origin && a.Origin != (Origin{}) {
		return true
	}
	return a.Pos == b.Pos && a.Table == b.Table && a.Op == b.Op &&
		slices.Equal(a.Key, b.Key) && slices.Equal(a.Before, b.Before) && slices.Equal(a.After, b.After)
}

func (a *Assembler) duplicate(ev *Event) {
	a.dups++
	if a.log.Enabled(context.Background(), slog.LevelDebug) {
		a.log.Debug("cdc: assembler dropped a redelivered event",
			"origin", ev.Origin.String(), "table", ev.Table, "op", ev.Op.String(), "position", ev.Pos.String())
	}
}

// tombstone places a tombstone outside any transaction that follows an event of a
// transaction on its stream: it tells a compacted topic to drop the key the previous
// delete removed, so it goes with that delete. It reports false when the tombstone is
// to be handled as an event of its own.
func (a *Assembler) tombstone(ctx context.Context, s *stream, ev *Event) (bool, error) {
	p := s.last
	switch p.state {
	case txBuffered:
		if a.appendEvent(p, ev) {
			return true, a.giveUp(ctx, p, a.countErr(p, "more events than the END counts"))
		}
		return true, nil
	case txGaveUp:
		return true, a.reject(ctx, p, ev, p.err)
	}
	if a.emitted && ev.Pos.Less(a.lastCommit) {
		// Its transaction was emitted before the tombstone arrived. It changes no row, so
		// emitting it alone now reorders nothing; its position is already covered by
		// LastCommit.
		a.emitLone(ev)
		return true, nil
	}
	return false, nil
}

// finished handles an event of a transaction already emitted or given up.
func (a *Assembler) finished(ctx context.Context, t *txn, ev *Event) error {
	if t.state == txGaveUp {
		return a.reject(ctx, t, ev, t.err)
	}
	if t.meta {
		return a.reject(ctx, t, ev, fmt.Errorf("%w: transaction %q was complete by its END counts and emitted before this event arrived",
			ErrTxCount, t.key))
	}
	return a.reject(ctx, t, ev, fmt.Errorf("%w: transaction %q was emitted before this event arrived", ErrLate, t.key))
}

func (a *Assembler) addMeta(ctx context.Context, s *stream, ev *Event) error {
	key := ev.TxKey()
	t, h := a.lookup(key)
	if s.replay(ev) == behind && (t == nil || t.state != txBuffered ||
		(ev.Op == OpTxBegin && t.sawBegin) || (ev.Op == OpTxEnd && t.sawEnd)) {
		a.duplicate(ev)
		return nil
	}
	a.advance(s, ev, false)
	if key == "" {
		return a.reject(ctx, nil, ev, fmt.Errorf("%w: %s without a transaction id", ErrMalformed, ev.Op))
	}
	a.metaSeen = true
	if t != nil {
		switch t.state {
		case txGaveUp:
			return a.reject(ctx, t, ev, t.err)
		case txEmitted:
			if (ev.Op == OpTxBegin && t.sawBegin) || (ev.Op == OpTxEnd && t.sawEnd) {
				a.duplicate(ev)
			} else {
				a.log.Debug("cdc: assembler ignored transaction metadata arriving after its transaction was emitted",
					"origin", ev.Origin.String(), "op", ev.Op.String(), "tx", ev.Tx.ID)
			}
			return nil
		}
	}
	if t == nil {
		t = a.newTxn(key, h, true)
	} else if !t.meta {
		// Metadata for a transaction so far assembled by its runs: from now on its END decides.
		a.pos.remove(t)
		t.meta = true
		a.nMeta++
	}
	if ev.Op == OpTxBegin {
		if t.begin != nil {
			a.duplicate(ev)
			return nil
		}
		m := a.metaOf(t)
		m.begin = *ev
		t.begin, t.sawBegin = &m.begin, true
		return nil
	}
	if t.end != nil {
		a.duplicate(ev)
		return nil
	}
	m := a.metaOf(t)
	m.end = *ev
	t.end, t.sawEnd = &m.end, true
	if t.begin == nil {
		return a.giveUp(ctx, t, fmt.Errorf("%w: END %s of transaction %q arrived without its BEGIN",
			ErrTxBegin, ev.Origin, ev.Tx.ID))
	}
	t.wantTotal = ev.EventCount
	t.want = ev.Collections
	t.got = slices.Grow(t.got[:0], len(t.want))[:len(t.want)]
	clear(t.got)
	over := false
	for i := range t.events {
		over = t.count(&t.events[i]) || over
	}
	if over {
		return a.giveUp(ctx, t, a.countErr(t, "more events than the END counts"))
	}
	a.metaQ = append(a.metaQ, t)
	return nil
}

// newTxn buffers a new transaction of key, whose hash in txs is h (unused for key "").
func (a *Assembler) newTxn(key string, h uint64, meta bool) *txn {
	var t *txn
	if n := len(a.freeTxns); n > 0 {
		t = a.freeTxns[n-1]
		a.freeTxns[n-1] = nil
		a.freeTxns = a.freeTxns[:n-1]
		*t = txn{}
	} else {
		t = new(txn)
	}
	t.key, t.meta, t.txBuf = key, meta, a.newBuf()
	t.seq = a.seq
	if key != "" {
		t.h = h
		a.txs.put(h, t)
	}
	if a.newest == nil {
		a.oldest = t
	} else {
		a.newest.next, t.prev = t, a.newest
	}
	a.newest = t
	a.open++
	if meta {
		a.nMeta++
	}
	return t
}

// newBuf returns a zero txBuf, reused when one is free.
func (a *Assembler) newBuf() *txBuf {
	if n := len(a.free); n > 0 {
		b := a.free[n-1]
		a.free[n-1] = nil
		a.free = a.free[:n-1]
		return b
	}
	return new(txBuf)
}

// release takes t's buffer back once t has left the buffer and its events are handed
// on (emitted, or dead-lettered).
func (a *Assembler) release(t *txn) {
	a.dropRegion(t)
	b := t.txBuf
	t.txBuf = nil
	if a.tail == t {
		a.tail = nil
	}
	streams := b.streams[:0] // its array is kept for the next transaction
	if len(b.streams) == 1 {
		b.streams[0] = nil // most often: cheaper than the call clear makes
	} else {
		clear(b.streams)
	}
	if b.metaEv != nil {
		*b.metaEv = txMeta{}
		a.freeMeta = append(a.freeMeta, b.metaEv)
		*b = txBuf{streams: streams, got: b.got[:0]}
	} else {
		// Without metadata only these were set (TestReleasedBuffersAreZero checks): a
		// transaction of one event costs less than clearing the whole buffer.
		b.events, b.prev, b.next, b.region, b.at = nil, nil, nil, nil, 0
		b.streams, b.stream1 = streams, [1]*stream{}
		b.txID, b.srcTxID = "", ""
		b.timed, b.first = false, time.Time{}
	}
	a.free = append(a.free, b)
}

// metaOf returns t's BEGIN and END holder, taking one from the free list.
func (a *Assembler) metaOf(t *txn) *txMeta {
	if t.metaEv == nil {
		if n := len(a.freeMeta); n > 0 {
			t.metaEv, a.freeMeta = a.freeMeta[n-1], a.freeMeta[:n-1]
		} else {
			t.metaEv = new(txMeta)
		}
	}
	return t.metaEv
}

// appendEvent buffers ev in t and reports whether t now has more events than its END
// counts.
func (a *Assembler) appendEvent(t *txn, ev *Event) (over bool) {
	n := len(t.events)
	if a.resvEnd > 0 && a.keep(t, ev, n) {
		// kept where the caller decoded it
	} else {
		a.copyEvent(t, ev, n)
	}
	if n == 0 {
		t.txID, t.srcTxID = ev.Tx.ID, ev.Source.TxID
	}
	a.events++
	if n == 0 || t.commit.Less(ev.Pos) {
		if t.queued {
			a.pos.grow(t, ev.Pos)
		} else {
			t.commit = ev.Pos
			if !t.meta {
				a.pos.push(t)
			}
		}
	}
	if t.end != nil {
		return t.count(ev)
	}
	return false
}

// keep makes ev, which is not yet added, t's event n without copying it, if ev is in
// Reserve's room at or past the slab's carved end, and t is new or its events end right
// before ev. Slots of the room skipped on the way are left unused.
func (a *Assembler) keep(t *txn, ev *Event, n int) bool {
	s := a.slab
	if s != a.resvSlab {
		return false
	}
	const size = unsafe.Sizeof(Event{})
	off := uintptr(unsafe.Pointer(ev)) - s.base // wraps around below base
	j := int(off / size)
	if off%size != 0 || j < s.used || j >= a.resvEnd {
		return false
	}
	switch {
	case n == 0:
		s.used = j + 1
		s.starts[j/64] |= 1 << (j % 64)
		s.size[j] = 1
		t.events, t.region, t.at = s.events[j:j+1:j+1], s, j
		a.tail = t
		return true
	case a.tail == t && t.region == s && j == s.used && t.at+n == j:
		s.used++
		s.size[t.at]++
		t.events = s.events[t.at : j+1 : j+1]
		return true
	}
	return false
}

// copyEvent copies ev into t as its event n, making room when needed.
func (a *Assembler) copyEvent(t *txn, ev *Event, n int) {
	if n == cap(t.events) {
		if l := a.freeRegions[firstClass]; n == 0 && len(l) > 0 {
			// grow's common case, here: a first event into the region of its size freed last
			r := l[len(l)-1]
			a.freeRegions[firstClass] = l[:len(l)-1]
			k := int(r.s.size[r.at])
			a.freeEvents -= k
			t.events, t.region, t.at = r.s.events[r.at:r.at:r.at+k], r.s, r.at
			r.s.starts[r.at/64] |= 1 << (r.at % 64)
			if r.s == a.slab && r.at+k == r.s.used {
				a.tail = t
			}
		} else {
			a.grow(t)
		}
	}
	t.events = t.events[:n+1]
	t.events[n] = *ev
}

// slabEvents is how many events a slab holds (about 75 KB).
const slabEvents = 128

// maxFreeEvents bounds the events' worth of free regions kept for reuse.
const maxFreeEvents = 16 * slabEvents

// firstRegion is the size of a transaction's first region: room for a second event,
// which many transactions have, without moving the first. A slot never used is never
// touched, so it costs address space, not cache.
const firstRegion = 2

// firstClass is the size class of firstRegion (see regionClasses).
const firstClass = 1

// regionClasses is how many size classes free regions are kept in: class c holds
// regions of 2^c to 2^(c+1)-1 events (regions hold fewer than slabEvents).
const regionClasses = 8

// slab is memory for the events of small transactions, carved into regions. A region
// dropped by the assembler or released by the caller it was handed to goes on a free
// list by its size, and the next region of that size is the one freed last: its memory
// was written a few events ago and is still in cache, where carving fresh memory would
// push the decoder's working set out of it. Slabs are never reset; one is collected
// once nothing points into it.
type slab struct {
	events []Event
	base   uintptr                        // the address of events[0], for Release to find the slab
	used   int                            // events carved off
	free   bool                           // on the assembler's free list
	starts [(slabEvents + 63) / 64]uint64 // where the live regions start
	size   [slabEvents]uint8              // the size of the region starting at each start
}

// region is a free region of a slab.
type region struct {
	s  *slab
	at int
}

// grow makes room for one more event in t.events. Small transactions take regions of
// slabs, starting at two events (most transactions have one or two) and doubling as they
// grow (amortized O(1) however transactions interleave); the region carved last from
// the current slab grows in place, which is every transaction when there is one stream
// and no free region. Large ones grow an array of their own.
func (a *Assembler) grow(t *txn) {
	n := len(t.events)
	switch {
	case a.tail == t && n > 0 && a.slab.used < slabEvents && a.slab.used >= a.resvEnd:
		a.slab.used++
		a.slab.size[t.at]++
		t.events = a.slab.events[t.at : t.at+n : a.slab.used]
	case 2*n >= slabEvents:
		if a.tail == t {
			a.tail = nil
		}
		t.events = slices.Grow(t.events, 1) // moves t out of its region
		a.dropRegion(t)
	default:
		if a.tail == t {
			a.tail = nil
		}
		k := firstRegion
		if n > 0 {
			k = max(1<<bits.Len(uint(2*n-1)), k) // the power of two at or above 2n
		}
		s, at, k := a.region(k)
		moved := s.events[at : at : at+k]
		if n > 0 {
			moved = append(moved, t.events...)
			a.dropRegion(t)
		}
		t.events, t.region, t.at = moved, s, at
		s.starts[at/64] |= 1 << (at % 64)
		s.size[at] = uint8(k)
		if s == a.slab && at+k == s.used {
			a.tail = t
		}
	}
}

// region returns a region of at least k events (a power of two, at most slabEvents): the
// free one of its size class freed last, else one carved from the current slab. It
// returns the region's slab, start and size.
func (a *Assembler) region(k int) (*slab, int, int) {
	c := bits.Len(uint(k)) - 1
	if l := a.freeRegions[c]; len(l) > 0 {
		r := l[len(l)-1]
		a.freeRegions[c] = l[:len(l)-1]
		m := int(r.s.size[r.at])
		a.freeEvents -= m
		return r.s, r.at, m
	}
	s := a.slab
	if a.resvEnd > 0 && a.resvEnd > s.used {
		// Reserve's room is the caller's, and holds events yet to be added
		if a.spill == nil || a.spill.used+k > slabEvents {
			a.swapSlab(&a.spill)
		}
		s = a.spill
	} else if s == nil || s.used+k > slabEvents {
		a.newSlab()
		s = a.slab
	}
	at := s.used
	s.used += k
	return s, at, k
}

// newSlab makes a new slab, or a free one, the one regions are carved from.
func (a *Assembler) newSlab() {
	a.swapSlab(&a.slab)
	a.resvEnd, a.tail = 0, nil
}

// swapSlab replaces *p (a.slab or a.spill) with an empty slab, recycling the old one.
func (a *Assembler) swapSlab(p **slab) {
	old := *p
	*p = a.takeSlab()
	if old != nil {
		a.recycle(old)
	}
}

// takeSlab returns an empty slab, a free one if there is one.
func (a *Assembler) takeSlab() *slab {
	var s *slab
	if n := len(a.freeSlabs); n > 0 {
		s = a.freeSlabs[n-1]
		a.freeSlabs[n-1] = nil
		a.freeSlabs = a.freeSlabs[:n-1]
		s.used, s.free = 0, false
	} else {
		s = &slab{events: make([]Event, slabEvents)}
		s.base = uintptr(unsafe.Pointer(&s.events[0]))
	}
	a.known[a.nextKnown] = s
	a.nextKnown = (a.nextKnown + 1) % len(a.known)
	return s
}

// maxFreeSlabs bounds the slabs kept for reuse once Reserve is used.
const maxFreeSlabs = maxFreeEvents / slabEvents

// recycle puts s on the free list once Reserve is in use, if none of its regions is
// live and it is neither carved from (slab, spill) nor holding Reserve's room.
func (a *Assembler) recycle(s *slab) {
	if !a.slabMode || s == a.slab || s == a.resvSlab || s == a.spill || s.free || s.starts != [len(s.starts)]uint64{} ||
		len(a.freeSlabs) >= maxFreeSlabs {
		return
	}
	s.free = true
	a.freeSlabs = append(a.freeSlabs, s)
}

// Reserve returns room for n events (at most 128) in the assembler's memory, for the
// caller to decode the next events into (see BatchReader) and then Add. An event added
// from there in order is kept where it is instead of copied when it starts a
// transaction or continues the one before it, which is most events of a single stream;
// the others are copied as any Add's. The room is the caller's until the next Reserve:
// Add, Next and Release do not write to the part not yet added. Once added, an event
// is the assembler's, as with any Add.
//
// Once Reserve is used, the assembler reuses its memory by whole slabs of events
// rather than by the region of each transaction released, so that the room handed out
// is contiguous and recently used.
func (a *Assembler) Reserve(n int) []Event {
	n = min(max(n, 1), slabEvents)
	if !a.slabMode {
		a.slabMode = true
		a.freeRegions, a.freeEvents = [regionClasses][]region{}, 0
	}
	prev := a.resvSlab
	a.resvSlab = nil
	if a.slab == nil || a.slab.used+n > slabEvents {
		a.newSlab()
	}
	if prev != nil && prev != a.slab {
		a.recycle(prev)
	}
	s := a.slab
	a.resvSlab, a.resvEnd = s, s.used+n
	return s.events[s.used:a.resvEnd:a.resvEnd]
}

// dropRegion gives up t's region, once its events were moved, handed out or
// dead-lettered.
func (a *Assembler) dropRegion(t *txn) {
	if s := t.region; s != nil {
		t.region = nil
		a.dropAt(s, t.at)
	}
}

// dropAt ends the region of s starting at at, if it is live, and puts it on the free
// list of its size class. Its old events stay until overwritten: clearing them would
// cost as much as the copy into fresh memory that reuse saves.
func (a *Assembler) dropAt(s *slab, at int) {
	w, bit := at/64, uint64(1)<<(at%64)
	if s.starts[w]&bit == 0 {
		return
	}
	s.starts[w] &^= bit
	if a.slabMode {
		a.recycle(s)
		return
	}
	m := int(s.size[at])
	if a.freeEvents+m > maxFreeEvents {
		return // left to the GC with its slab
	}
	c := bits.Len(uint(m)) - 1
	a.freeRegions[c] = append(a.freeRegions[c], region{s, at})
	a.freeEvents += m
}

// Release hands back the events of tx, a transaction Next returned, for the events of
// later transactions: reusing that memory is cheaper than touching fresh memory. Call it
// at most once per Tx, once nothing refers to tx.Events any more (nor to any slice of its
// array); the rows, strings and messages the events point to are not affected and stay
// valid. Releasing is optional: what is not released is garbage-collected as usual, and
// releasing a Tx that holds no memory of this assembler does nothing.
func (a *Assembler) Release(tx Tx) {
	if len(tx.Events) == 0 {
		return
	}
	p := uintptr(unsafe.Pointer(&tx.Events[0]))
	const size = unsafe.Sizeof(Event{})
	for i := range a.known {
		// from the most recent slab back: transactions are usually released in order
		s := a.known[uint(a.nextKnown-1-i)%uint(len(a.known))]
		if s == nil {
			return
		}
		if p >= s.base && p < s.base+slabEvents*size {
			if off := p - s.base; off%size == 0 {
				a.dropAt(s, int(off/size))
			}
			return
		}
	}
}

// countIndex reports whether ev is one of the events an END counts (every row change,
// and other events, such as messages, of a collection the END lists), and the index of
// its collection in the END (-1: not listed).
func (t *txn) countIndex(ev *Event) (int, bool) {
	if ev.Op == OpTombstone {
		return -1, false
	}
	for i := range t.want {
		if t.want[i].Collection == ev.Table {
			return i, true
		}
	}
	return -1, ev.Op.IsRowChange()
}

// count adds ev to t's counts and reports whether they now exceed the END's.
func (t *txn) count(ev *Event) bool {
	i, ok := t.countIndex(ev)
	if !ok {
		return false
	}
	t.counted++
	if i < 0 {
		if len(t.want) > 0 {
			t.extra = true
			return true
		}
		return t.counted > t.wantTotal
	}
	t.got[i]++
	return t.got[i] > t.want[i].EventCount || t.counted > t.wantTotal
}

func (a *Assembler) countErr(t *txn, what string) error {
	var b []byte
	b = fmt.Appendf(b, "%s: END says %d, got %d", what, t.wantTotal, t.counted)
	for i, w := range t.want {
		b = fmt.Appendf(b, "; %s %d of %d", w.Collection, t.got[i], w.EventCount)
	}
	if t.extra {
		b = append(b, "; and changes of collections the END does not list"...)
	}
	return fmt.Errorf("%w: transaction %q: %s", ErrTxCount, t.id(), b)
}

// complete reports whether t has all its events.
func (t *txn) complete() bool {
	if !t.meta {
		return t.runs == 0
	}
	if t.end == nil || t.extra || t.counted != t.wantTotal {
		return false
	}
	for i := range t.want {
		if t.got[i] != t.want[i].EventCount {
			return false
		}
	}
	return true
}

func (a *Assembler) endRun(s *stream) {
	if c := s.cur; c != nil {
		s.cur = nil
		c.runs--
	}
}

// ---- emitting ----

// settle emits what is ready, then enforces MaxOpen, MaxEvents and the timeout: always
// when checkTime, else when the clock is due (see AssemblerConfig.Timeout).
//
// What runs on every Add is kept short, and the rest (giving up, reading the clock) in
// functions of their own: between two Adds the decoder's code evicts the assembler's
// from the instruction cache, so each Add pays for the code it runs through.
func (a *Assembler) settle(ctx context.Context, checkTime bool) error {
	a.tryEmit()
	var err error
	if a.open > a.cfg.MaxOpen || a.events > a.cfg.MaxEvents {
		err = a.overLimits(ctx)
	}
	if checkTime || a.sinceTime >= timeCheckEvery || (a.oldest != nil && a.seq-a.oldest.seq >= staleAdds) {
		if e := a.checkTime(ctx); e != nil {
			err = errors.Join(err, e)
		}
	}
	a.setOpen()
	return err
}

// overLimits gives up the oldest incomplete transactions (or the oldest) while more
// than MaxOpen transactions or MaxEvents events are buffered.
//
//go:noinline
func (a *Assembler) overLimits(ctx context.Context) error {
	var err error
	for a.open > a.cfg.MaxOpen || a.events > a.cfg.MaxEvents {
		t := a.oldestIncomplete()
		if t == nil {
			t = a.oldest
		}
		err = errors.Join(err, a.giveUp(ctx, t, fmt.Errorf("%w: transaction %q given up with %d transactions and %d events buffered (MaxOpen %d, MaxEvents %d)",
			ErrTxTimeout, t.id(), a.open, a.events, a.cfg.MaxOpen, a.cfg.MaxEvents)))
		a.tryEmit()
	}
	return err
}

// checkTime reads the clock, times the transactions not timed yet from it, and gives up
// those incomplete for longer than Timeout.
//
//go:noinline
func (a *Assembler) checkTime(ctx context.Context) error {
	a.sinceTime = 0
	now := a.clock()
	for t := a.newest; t != nil && !t.timed; t = t.prev {
		t.first, t.timed = now, true
	}
	var err error
	for {
		t := a.expired(now)
		if t == nil {
			return err
		}
		err = errors.Join(err, a.giveUp(ctx, t, a.unfinished(t, fmt.Sprintf("incomplete after %v", now.Sub(t.first)))))
		a.tryEmit()
	}
}

func (a *Assembler) setOpen() {
	if a.open != a.lastOpen {
		a.lastOpen = a.open
		a.cfg.Metrics.SetOpen(a.open)
	}
}

// unfinished is the error for giving up t before it completed.
func (a *Assembler) unfinished(t *txn, why string) error {
	if t.meta && t.end != nil {
		return a.countErr(t, why+", fewer events than the END counts")
	}
	if t.meta && t.begin == nil && len(t.events) > 0 {
		return fmt.Errorf("%w: transaction %q %s, without BEGIN or END", ErrTxTimeout, t.id(), why)
	}
	if t.meta {
		return fmt.Errorf("%w: transaction %q %s, without END", ErrTxTimeout, t.id(), why)
	}
	return fmt.Errorf("%w: transaction %q %s", ErrTxTimeout, t.id(), why)
}

// expired returns the oldest transaction incomplete for longer than Timeout.
func (a *Assembler) expired(now time.Time) *txn {
	for t := a.oldest; t != nil && now.Sub(t.first) > a.cfg.Timeout; t = t.next {
		if !t.complete() {
			return t
		}
	}
	return nil
}

func (a *Assembler) oldestIncomplete() *txn {
	for t := a.oldest; t != nil; t = t.next {
		if !t.complete() {
			return t
		}
	}
	return nil
}

// tryEmit moves every transaction that is complete and next in commit order to the
// ready queue.
func (a *Assembler) tryEmit() {
	for len(a.metaQ) == 0 {
		// no transaction with metadata is waiting for its turn: the common case
		if a.pos.len() == 0 {
			return
		}
		p := a.pos.front()
		if p.runs != 0 || !(a.minValid && (!a.minActive || !a.minWM.Less(p.commit)) || a.caughtUp(p)) ||
			(a.nMeta > 0 && a.metaBefore(p.commit)) {
			return
		}
		a.emit(p)
	}
	a.tryEmitMeta()
}

// tryEmitMeta is tryEmit when transactions with metadata may be waiting.
//
//go:noinline
func (a *Assembler) tryEmitMeta() {
	for {
		for a.metaHead < len(a.metaQ) && a.metaQ[a.metaHead].state != txBuffered {
			a.metaQ[a.metaHead] = nil
			a.metaHead++
		}
		if a.metaHead == len(a.metaQ) && a.metaHead > 0 {
			a.metaQ, a.metaHead = a.metaQ[:0], 0
		}
		var m, p *txn
		if a.metaHead < len(a.metaQ) {
			m = a.metaQ[a.metaHead]
		}
		if a.pos.len() > 0 {
			p = a.pos.front()
		}
		switch {
		case p != nil && (m == nil || (len(m.events) > 0 && p.commit.Less(m.commit))):
			if p.runs != 0 || !a.caughtUp(p) || a.metaBefore(p.commit) {
				return
			}
			a.emit(p)
		case m != nil:
			if !m.complete() || (len(m.events) > 0 && !a.caughtUp(m)) {
				return
			}
			a.emit(m)
		default:
			return
		}
	}
}

// caughtUp reports whether no stream can still deliver an event ordered before the
// complete transaction t: each data stream is at or past t's commit position, or
// delivered events of t (in commit order, what follows them there comes after t).
func (a *Assembler) caughtUp(t *txn) bool {
	if a.watermarkOK(t.commit) {
		return true
	}
	for _, s := range a.streams {
		if s.data && a.watermark(s).Less(t.commit) && !slices.Contains(t.streams, s) {
			return false
		}
	}
	return true
}

// watermark is how far s is known to have delivered: its latest position, or while it
// is idle, the frontier at the Idle call (everything up to it has been delivered).
func (a *Assembler) watermark(s *stream) Position {
	if s.idle && s.wm.Less(a.frontier) {
		return a.frontier
	}
	return s.wm
}

// watermarkOK reports whether no data stream can still deliver an event ordered before c.
func (a *Assembler) watermarkOK(c Position) bool {
	if !a.minValid {
		a.minActive, a.minStream = false, nil
		for _, s := range a.streams {
			if w := a.watermark(s); s.data && (!a.minActive || w.Less(a.minWM)) {
				a.minWM, a.minStream, a.minActive = w, s, true
			}
		}
		a.minValid = true
	}
	return !a.minActive || !a.minWM.Less(c)
}

// metaBefore reports whether a buffered transaction with metadata has events ordered
// before c: then a transaction without metadata at c waits for it.
func (a *Assembler) metaBefore(c Position) bool {
	if a.nMeta == 0 {
		return false
	}
	for t := a.oldest; t != nil; t = t.next {
		if t.meta && len(t.events) > 0 && t.commit.Less(c) {
			return true
		}
	}
	return false
}

// unlink removes t from the buffered set.
func (a *Assembler) unlink(t *txn) {
	t.name = t.id()
	if t.prev == nil {
		a.oldest = t.next
	} else {
		t.prev.next = t.next
	}
	if t.next == nil {
		a.newest = t.prev
	} else {
		t.next.prev = t.prev
	}
	t.prev, t.next = nil, nil
	a.pos.remove(t)
	a.open--
	a.events -= len(t.events)
	if t.meta {
		a.nMeta--
	}
}

// remember keeps the key of t, just emitted or given up, for a while, so that late
// events of it are recognized. A transaction with metadata or given up goes from txs to
// fin. One emitted without metadata stays in txs for the next recentKeys such
// transactions only: after that its late events are judged by their position (see
// addData), and keeping it longer would cost a cache miss per transaction.
func (a *Assembler) remember(t *txn) {
	if t.key == "" {
		return
	}
	if a.forget == nil {
		a.forget = a.reuse
	}
	if t.meta || t.state != txEmitted {
		a.txs.del(t.h, t)
		a.fin.add(t.h, t, a.forget)
		return
	}
	a.fin.tick(a.forget)
	k := doneKey{t, t.h}
	if a.recentLen == len(a.recent) {
		old := a.recent[a.recentHead]
		a.txs.del(old.h, old.t)
		a.reuseEmitted(old.t)
		a.recent[a.recentHead] = k
		a.recentHead = (a.recentHead + 1) % len(a.recent)
		return
	}
	a.recent[(a.recentHead+a.recentLen)%len(a.recent)] = k
	a.recentLen++
}

// reuse keeps t, forgotten now, for a later transaction, unless something may still
// point to it: a stream (checked when there are few), or the queue of transactions with
// metadata (which a transaction given up can linger in).
func (a *Assembler) reuse(t *txn) {
	if t.state == txEmitted {
		a.reuseEmitted(t)
	}
}

// reuseEmitted is reuse of t known to be emitted (those of recent are): it does not
// read t, written some 64 transactions ago and by now mostly out of the cache.
func (a *Assembler) reuseEmitted(t *txn) {
	if len(a.streams) > 8 {
		return
	}
	for _, s := range a.streams {
		if s.cur == t || s.last == t {
			return
		}
	}
	a.freeTxns = append(a.freeTxns, t)
}

// doneKey is a finished transaction remembered by key, with the key's hash in txs.
type doneKey struct {
	t *txn
	h uint64
}

// lookup returns the transaction of key, buffered or finished (nil if none), and the
// key's hash.
func (a *Assembler) lookup(key string) (*txn, uint64) {
	t, h := a.txs.get(key)
	if t == nil {
		t = a.fin.get(h, key)
	}
	return t, h
}

func (a *Assembler) emit(t *txn) {
	a.unlink(t)
	t.state = txEmitted
	a.remember(t)
	evs := t.events
	if len(evs) > 1 {
		evs = t.ordered()
	}
	tx := Tx{ID: t.name, Events: evs[:len(evs):len(evs)], Commit: t.commit}
	t.region = nil // the caller's now, until it releases it
	if len(evs) > 0 {
		evs[0].Tx.Commit = t.commit
		tx.CommitTime = evs[0].CommitTime
	}
	for i := 1; i < len(evs); i++ {
		e := &evs[i]
		e.Tx.Commit = t.commit
		// the latest commit time of all; the events of a transaction mostly share one
		if c := e.CommitTime; c != tx.CommitTime && c.After(tx.CommitTime) {
			tx.CommitTime = c
		}
	}
	if tx.CommitTime.IsZero() && t.end != nil {
		tx.CommitTime = t.end.CommitTime
	}
	a.release(t)
	if len(tx.Events) == 0 {
		a.log.Debug("cdc: assembler skipped an empty transaction", "tx", tx.ID)
		return
	}
	a.push(tx)
}

// emitLone emits ev as a transaction of its own right away.
func (a *Assembler) emitLone(ev *Event) {
	evs := []Event{*ev} // a copy: ev is the caller's
	evs[0].Tx.Commit = ev.Pos
	a.push(Tx{Events: evs, Commit: ev.Pos, CommitTime: ev.CommitTime})
}

func (a *Assembler) push(tx Tx) {
	a.ready = append(a.ready, tx)
	if !a.emitted || a.lastCommit.Less(tx.Commit) {
		a.lastCommit = tx.Commit
	}
	a.emitted = true
	if m := a.cfg.Metrics; m != nil {
		m.Assembled(&tx)
		if !tx.CommitTime.IsZero() {
			m.SetLag(a.cfg.Now().Sub(tx.CommitTime).Seconds())
		}
	}
}

// id returns the transaction's id as the source spells it.
func (t *txn) id() string {
	if t.key == "" || t.name != "" {
		return t.name
	}
	// the first Tx.ID of its events in arrival order, else its END's or BEGIN's, else the
	// first source transaction id of its events
	if t.txID != "" {
		return t.txID
	}
	for i := 1; i < len(t.events); i++ {
		if id := t.events[i].Tx.ID; id != "" {
			return id
		}
	}
	if t.end != nil && t.end.Tx.ID != "" {
		return t.end.Tx.ID
	}
	if t.begin != nil && t.begin.Tx.ID != "" {
		return t.begin.Tx.ID
	}
	if t.srcTxID != "" {
		return t.srcTxID
	}
	for i := 1; i < len(t.events); i++ {
		if id := t.events[i].Source.TxID; id != "" {
			return id
		}
	}
	return t.key
}

// ordered returns t's events by total order when every event has one, else by position,
// then arrival.
func (t *txn) ordered() []Event {
	ev := t.events
	if len(ev) < 2 {
		return ev
	}
	// A tombstone takes the total order of the event before it.
	missingTO, unsortedTO, unsortedPos := false, false, false
	var lastTO int64
	for i := range ev {
		to := ev[i].Tx.TotalOrder
		if ev[i].Op == OpTombstone {
			to = lastTO
		} else if to <= 0 {
			missingTO = true
		}
		unsortedTO = unsortedTO || to < lastTO
		unsortedPos = unsortedPos || (i > 0 && ev[i].Pos.Less(ev[i-1].Pos))
		lastTO = to
	}
	if !missingTO {
		if unsortedTO {
			// A tombstone sorts right after the event before it on its stream.
			keys := make([]int64, len(ev))
			last := map[streamID]int64{}
			for i := range ev {
				id := streamID{ev[i].Origin.Topic, ev[i].Origin.Partition}
				if ev[i].Op == OpTombstone {
					keys[i] = last[id]
				} else {
					keys[i] = ev[i].Tx.TotalOrder
					last[id] = keys[i]
				}
			}
			sortStable(ev, func(i, j int) int {
				if keys[i] != keys[j] {
					return cmpInt64(keys[i], keys[j])
				}
				return ev[i].Pos.Compare(ev[j].Pos)
			})
		}
		return ev
	}
	if unsortedPos {
		sortStable(ev, func(i, j int) int { return ev[i].Pos.Compare(ev[j].Pos) })
	}
	return ev
}

// sortStable sorts ev stably by cmp over the original indexes.
func sortStable(ev []Event, cmp func(i, j int) int) {
	idx := make([]int, len(ev))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, cmp)
	out := make([]Event, len(ev))
	for i, j := range idx {
		out[i] = ev[j]
	}
	copy(ev, out)
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// ---- giving up ----

// giveUp sends every record of t to dead letters with err as the reason; later events of
// its key follow them there.
func (a *Assembler) giveUp(ctx context.Context, t *txn, err error) error {
	a.unlink(t)
	t.state = txGaveUp
	t.err = err
	a.remember(t)
	a.log.Warn("cdc: assembler gave up a transaction", "tx", t.id(), "events", len(t.events), "reason", err.Error())
	var errs error
	if t.begin != nil {
		errs = errors.Join(errs, a.reject(ctx, t, t.begin, err))
	}
	for i := range t.events {
		errs = errors.Join(errs, a.reject(ctx, t, &t.events[i], err))
	}
	if t.end != nil {
		errs = errors.Join(errs, a.reject(ctx, t, t.end, err))
	}
	a.release(t)
	return errs
}

// reject dead-letters one event of t (nil: an event of its own).
func (a *Assembler) reject(ctx context.Context, t *txn, ev *Event, err error) error {
	id := ev.Tx.ID
	if t != nil {
		id = t.id()
	} else if id == "" && ev.Op != OpRead {
		id = ev.Source.TxID
	}
	aerr := &AssemblyError{Origin: ev.Origin, Table: ev.Table, Op: ev.Op, TxID: id, Err: err}
	dl := DeadLetter{
		Record: Record{
			Topic: ev.Origin.Topic, Partition: ev.Origin.Partition, Offset: ev.Origin.Offset,
			Value: AppendEventJSON(nil, ev),
		},
		Pos:   ev.Pos,
		Table: ev.Table,
		Time:  a.cfg.Now(),
	}
	if t == nil {
		a.log.Warn("cdc: assembler rejected an event", "reason", aerr.Error())
	}
	return Reject(ctx, a.cfg.DeadLetters, a.cfg.Metrics, dl, aerr)
}

// clock reads Now once per call of Add, Idle or Flush.
func (a *Assembler) clock() time.Time {
	if !a.nowRead {
		a.now, a.nowRead = a.cfg.Now(), true
	}
	return a.now
}

// ---- position queue ----

// txQueue orders transactions without metadata by commit position, then arrival, in a
// sorted array. Transactions mostly arrive in commit order, grow while they are the
// latest, and leave from the front, so what runs for nearly every event is O(1): a
// comparison with the last, or a look at the first. One out of order is found by
// binary search and moved by copying the pointers in between (a memmove, no per-element
// bookkeeping), which stays cheaper than a heap's sifting for the few open transactions
// of the common case and costs under a microsecond for thousands.
type txQueue struct {
	q    []*txn // q[head:] in order (before); q[:head] is nil
	head int
}

// before reports whether t comes before u: by commit position, then arrival.
func before(t, u *txn) bool {
	if t.commit != u.commit {
		return t.commit.Less(u.commit)
	}
	return t.seq < u.seq
}

func (p *txQueue) len() int { return len(p.q) - p.head }

// front returns the first transaction; the queue is not empty.
func (p *txQueue) front() *txn { return p.q[p.head] }

// all returns the transactions in order.
func (p *txQueue) all() []*txn { return p.q[p.head:] }

// push adds t, not in the queue, at its commit position.
func (p *txQueue) push(t *txn) {
	t.queued = true
	n := len(p.q)
	if n == p.head || !before(t, p.q[n-1]) {
		if n == cap(p.q) && p.head >= n/2 {
			p.compact() // rather than grow: at least half the array is free
		}
		p.q = append(p.q, t)
		return
	}
	i := p.search(t, p.head, n)
	p.q = append(p.q, nil)
	copy(p.q[i+1:], p.q[i:n])
	p.q[i] = t
}

// search returns the first index in [lo, hi) whose transaction t comes before, else hi.
func (p *txQueue) search(t *txn, lo, hi int) int {
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if before(t, p.q[m]) {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo
}

// index returns where t, in the queue, is.
func (p *txQueue) index(t *txn) int {
	n := len(p.q)
	if p.q[n-1] == t {
		return n - 1
	}
	if p.q[p.head] == t {
		return p.head
	}
	return p.search(t, p.head, n) - 1 // t comes before what follows it, not before itself
}

// grow moves t's commit position on to c (later than it), and t to its new place.
func (p *txQueue) grow(t *txn, c Position) {
	i := p.index(t)
	t.commit = c
	n := len(p.q)
	if i == n-1 || before(t, p.q[i+1]) {
		return // the latest, as mostly
	}
	j := p.search(t, i+1, n)
	copy(p.q[i:], p.q[i+1:j])
	p.q[j-1] = t
}

// remove takes t out of the queue, if it is in it.
func (p *txQueue) remove(t *txn) {
	if !t.queued {
		return
	}
	t.queued = false
	if i := p.head; p.q[i] == t { // mostly
		p.q[i] = nil
		p.head++
		if p.head == len(p.q) {
			p.q, p.head = p.q[:0], 0
		}
		return
	}
	i, n := p.index(t), len(p.q)
	copy(p.q[i:], p.q[i+1:])
	p.q[n-1] = nil
	p.q = p.q[:n-1]
}

// compact moves the transactions to the start of the array.
func (p *txQueue) compact() {
	n := copy(p.q, p.q[p.head:])
	clear(p.q[n:])
	p.q, p.head = p.q[:n], 0
}

// String renders the assembler's state for debugging.
func (a *Assembler) String() string {
	return "Assembler{open " + strconv.Itoa(a.open) + ", events " + strconv.Itoa(a.events) +
		", ready " + strconv.Itoa(len(a.ready)-a.readyHead) + ", last commit " + a.lastCommit.String() + "}"
}
