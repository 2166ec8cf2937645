package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/strata-data/strata/cdc"
)

// Sentinel errors, matched with errors.Is.
var (
	// ErrConfig: the Config is not usable; the wrapping error says which field and why.
	ErrConfig = errors.New("kafka: invalid config")
	// ErrTopic: a configured topic does not exist on the cluster.
	ErrTopic = errors.New("kafka: unknown topic")
	// ErrNotOpen: Read or Ack was called before Open.
	ErrNotOpen = errors.New("kafka: source not open")
	// ErrClosed: the source was closed.
	ErrClosed = errors.New("kafka: source closed")
)

// StartOffset says where a partition without a committed group offset is read from.
type StartOffset uint8

const (
	// FirstOffset reads such a partition from its earliest retained record (the default),
	// so that a new consumer group sees the whole topic.
	FirstOffset StartOffset = iota
	// LastOffset reads such a partition from records produced after the group joined.
	LastOffset
)

// String returns "first" or "last".
func (o StartOffset) String() string {
	switch o {
	case FirstOffset:
		return "first"
	case LastOffset:
		return "last"
	}
	return fmt.Sprintf("StartOffset(%d)", o)
}

// ParseStartOffset parses "first" or "last" (as in a CLI flag or URL parameter).
func ParseStartOffset(s string) (StartOffset, error) {
	switch s {
	case "first":
		return FirstOffset, nil
	case "last":
		return LastOffset, nil
	}
	return 0, fmt.Errorf("%w: start offset %q: want first or last", ErrConfig, s)
}

// Default values filled in by Config.EnsureDefaults.
const (
	DefaultIdleWait          = 200 * time.Millisecond
	DefaultSessionTimeout    = 10 * time.Second
	DefaultRebalanceTimeout  = 10 * time.Second
	DefaultHeartbeatInterval = 1 * time.Second
)

// Config configures a Source. The zero value of every optional field works; Brokers,
// Topics and Group are required.
type Config struct {
	// Brokers are the bootstrap brokers, "host:port".
	Brokers []string
	// Topics are the Debezium data topics, one per table or a routed topic.
	Topics []string
	// TxTopic is the optional Debezium transaction-metadata topic (BEGIN/END records);
	// it is consumed with the data topics so that transactions can be assembled.
	TxTopic string
	// Group is the consumer group id. Offsets are committed for it, and only for acked
	// records, so a restart with the same group resumes after the last ack.
	Group string
	// Decoder turns records into events; default: a Debezium JSON decoder sharing Metrics.
	// The source calls it from Read only, so it need not be safe for concurrent use, but
	// it must not be shared with another source.
	Decoder cdc.Decoder
	// DeadLetters receives records that cannot be decoded. When nil, such a record makes
	// Read fail (nothing is dropped silently) and offsets of its partition stop before it.
	DeadLetters cdc.DeadLetters
	// Metrics counts decoded (by the default decoder), rejected and dead-lettered records
	// (nil: not counted).
	Metrics *cdc.Metrics
	// Logger receives the client's diagnostics (default: slog.Default()).
	Logger *slog.Logger
	// IdleWait is how long Read waits for a record before it returns cdc.ErrIdle
	// (default 200ms).
	IdleWait time.Duration
	// StartOffset is where partitions without a committed offset start (default first).
	StartOffset StartOffset
	// SessionTimeout is how long the group coordinator waits for a silent member before
	// it reassigns its partitions (default 10s).
	SessionTimeout time.Duration
	// RebalanceTimeout is how long the coordinator waits for members to rejoin during a
	// rebalance (default 10s).
	RebalanceTimeout time.Duration
	// HeartbeatInterval is how often the member tells the coordinator it is alive
	// (default 1s); keep it well below SessionTimeout.
	HeartbeatInterval time.Duration
}

// EnsureDefaults fills the zero optional fields with their defaults; it is the one
// place defaults are decided. NewSource calls it on its own copy.
func (c *Config) EnsureDefaults() {
	if c.Decoder == nil {
		c.Decoder = cdc.NewDebeziumDecoder(cdc.DebeziumConfig{Metrics: c.Metrics})
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.IdleWait == 0 {
		c.IdleWait = DefaultIdleWait
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = DefaultSessionTimeout
	}
	if c.RebalanceTimeout == 0 {
		c.RebalanceTimeout = DefaultRebalanceTimeout
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = DefaultHeartbeatInterval
	}
}

// Validate reports the first problem with c, wrapping ErrConfig and naming the field.
// Zero optional fields are valid (they take their defaults).
func (c *Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	if len(c.Brokers) == 0 {
		return bad("Brokers is empty: give at least one bootstrap broker host:port")
	}
	for i, b := range c.Brokers {
		if j := strings.LastIndexByte(b, ':'); j <= 0 || j == len(b)-1 {
			return bad("Brokers[%d] = %q: want host:port", i, b)
		}
	}
	if len(c.Topics) == 0 {
		return bad("Topics is empty: give at least one data topic")
	}
	seen := make(map[string]bool, len(c.Topics)+1)
	for i, t := range c.Topics {
		if err := checkTopic(t); err != nil {
			return bad("Topics[%d] = %q: %v", i, t, err)
		}
		if seen[t] {
			return bad("Topics[%d] = %q: listed twice", i, t)
		}
		seen[t] = true
	}
	if c.TxTopic != "" {
		if err := checkTopic(c.TxTopic); err != nil {
			return bad("TxTopic = %q: %v", c.TxTopic, err)
		}
		if seen[c.TxTopic] {
			return bad("TxTopic = %q is also one of Topics", c.TxTopic)
		}
	}
	if c.Group == "" {
		return bad("Group is empty: a consumer group id is required to commit offsets")
	}
	if c.IdleWait < 0 {
		return bad("IdleWait = %v: must not be negative", c.IdleWait)
	}
	if c.StartOffset > LastOffset {
		return bad("StartOffset = %v: want FirstOffset or LastOffset", c.StartOffset)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"SessionTimeout", c.SessionTimeout}, {"RebalanceTimeout", c.RebalanceTimeout}, {"HeartbeatInterval", c.HeartbeatInterval}} {
		if d.v < 0 {
			return bad("%s = %v: must not be negative", d.name, d.v)
		}
	}
	if c.HeartbeatInterval > 0 && c.SessionTimeout > 0 && c.HeartbeatInterval >= c.SessionTimeout {
		return bad("HeartbeatInterval = %v must be below SessionTimeout = %v", c.HeartbeatInterval, c.SessionTimeout)
	}
	return nil
}

// checkTopic applies Kafka's topic name rules: 1-249 characters of [a-zA-Z0-9._-].
func checkTopic(t string) error {
	if t == "" {
		return errors.New("empty topic name")
	}
	if len(t) > 249 {
		return errors.New("longer than 249 characters")
	}
	if t == "." || t == ".." {
		return errors.New("not a valid topic name")
	}
	for i := 0; i < len(t); i++ {
		switch c := t[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return fmt.Errorf("character %q at %d is not one of [a-zA-Z0-9._-]", c, i)
		}
	}
	return nil
}

// Source reads Debezium change events from Kafka topics as a member of a consumer group,
// and commits the group's offsets only for records whose events have been acked (see the
// package documentation for the exact rules). Read must not be called concurrently with
// itself; Ack may run concurrently with Read.
type Source struct {
	cfg       Config
	topics    []string      // Topics plus TxTopic
	holdLimit time.Duration // how long transaction metadata may wait for its data

	// Read and ReadBatch state; only they touch it.
	filler   cdc.PositionFiller
	from     cdc.Position
	ready    []readyEvent // released metadata (and the event behind it), returned before fetching
	batchErr error        // what stopped the last ReadBatch after some events

	ackMu sync.Mutex // serializes Ack, so that commits never go backwards

	mu     sync.Mutex // guards the fields below, and the txState and metaRec they point to
	reader *kafkago.Reader
	closed bool
	parts  map[partKey]*partition
	txs    map[string]*txState // by cdc.Event.TxKey; only with a TxTopic
	sweep  int                 // len(txs) at which Ack next looks for finished ones
	held   []*metaRec          // metadata waiting for its transaction's decision, in arrival order

	// backlog holds, per partition that had records to read when the source opened, the
	// offset after its last one then. Read does not report ErrIdle while it is not empty
	// (until backlogUntil), so that a drain-and-exit run does not stop while the group is
	// still joining. Partitions another group member reads never leave it, hence the limit.
	backlog      map[partKey]int64
	backlogUntil time.Time
}

type partKey struct {
	topic     string
	partition int
}

// partition tracks the records of one topic partition that were fetched but whose offset
// is not committed yet.
type partition struct {
	next    int64   // offset after the last record fetched; -1 before the first
	pending []entry // in offset order
}

type entryState uint8

const (
	delivered entryState = iota // an event returned by Read: done once acked at or past pos
	done                        // skipped or dead-lettered: done once its predecessors are
	held                        // could not be dead-lettered: never done in this run
	meta                        // transaction metadata: done with its transaction (see metaRec)
)

type entry struct {
	offset int64
	pos    cdc.Position
	state  entryState
	meta   *metaRec
}

// decision says whether a transaction lies after the position the source was opened at.
type decision uint8

const (
	undecided decision = iota
	deliverTx          // after from: its metadata is returned
	skipTx             // at or before from: committed downstream already, metadata skipped
)

// txState follows one transaction across the data topics and the transaction topic, so
// that its BEGIN and END, which carry no position of their own, are skipped, released and
// committed together with its data events.
type txState struct {
	key      string
	decision decision
	nData    int64        // data events fetched (returned or skipped)
	maxPos   cdc.Position // their greatest position: the transaction's commit position
	endCount int64        // the END's event count; -1 until the END is fetched
	refs     int          // metadata records of this transaction not yet committed
}

// complete reports whether every data event the END counts has been fetched.
func (t *txState) complete() bool { return t.endCount >= 0 && t.nData >= t.endCount }

// metaRec is one BEGIN or END record of the transaction topic.
type metaRec struct {
	ev       cdc.Event
	part     partKey
	tx       *txState
	since    time.Time // when it started waiting for a decision
	returned bool      // Read returned it
	skipped  bool      // dropped: its transaction is at or before from
}

// doneByTx reports whether the record's transaction is committed downstream (acked up to
// upTo) and the record itself was returned or skipped.
func (m *metaRec) doneByTx(upTo cdc.Position) bool {
	return m.skipped || (m.returned && m.tx.complete() && !upTo.Less(m.tx.maxPos))
}

type readyEvent struct {
	ev   cdc.Event
	meta *metaRec // nil for a data event queued behind released metadata
}

// NewSource checks cfg and returns a Source that connects on Open.
func NewSource(cfg Config) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.EnsureDefaults()
	topics := append([]string(nil), cfg.Topics...)
	if cfg.TxTopic != "" {
		topics = append(topics, cfg.TxTopic)
	}
	return &Source{
		cfg:       cfg,
		topics:    topics,
		holdLimit: max(10*cfg.IdleWait, 2*time.Second),
		parts:     map[partKey]*partition{},
		txs:       map[string]*txState{},
		sweep:     1024,
	}, nil
}

// Open checks that the topics exist and joins the consumer group. Reading resumes at the
// group's committed offsets (at StartOffset for partitions without one); events at or
// before from are then skipped, so that records delivered and committed downstream
// before a crash, but whose offsets were not committed yet, do not come back.
func (s *Source) Open(ctx context.Context, from cdc.Position) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.reader != nil {
		return fmt.Errorf("kafka: group %s: source already open", s.cfg.Group)
	}
	parts, err := s.checkTopics(ctx)
	if err != nil {
		return err
	}
	s.backlog = s.findBacklog(ctx, parts)
	s.backlogUntil = time.Now().Add(s.cfg.SessionTimeout + s.cfg.RebalanceTimeout)
	start := kafkago.FirstOffset
	if s.cfg.StartOffset == LastOffset {
		start = kafkago.LastOffset
	}
	log := s.cfg.Logger.With("group", s.cfg.Group)
	s.reader = kafkago.NewReader(kafkago.ReaderConfig{
		Brokers:           s.cfg.Brokers,
		GroupID:           s.cfg.Group,
		GroupTopics:       s.topics,
		CommitInterval:    0, // synchronous commits, made only by Ack
		StartOffset:       start,
		SessionTimeout:    s.cfg.SessionTimeout,
		RebalanceTimeout:  s.cfg.RebalanceTimeout,
		HeartbeatInterval: s.cfg.HeartbeatInterval,
		JoinGroupBackoff:  time.Second,
		MaxWait:           500 * time.Millisecond,
		ReadBackoffMin:    50 * time.Millisecond,
		ReadBackoffMax:    time.Second,
		Logger: kafkago.LoggerFunc(func(msg string, args ...any) {
			log.Debug(strings.TrimSpace(fmt.Sprintf(msg, args...)))
		}),
		ErrorLogger: kafkago.LoggerFunc(func(msg string, args ...any) {
			log.Warn(strings.TrimSpace(fmt.Sprintf(msg, args...)))
		}),
	})
	s.from = from
	return nil
}

// checkTopics fails when a configured topic does not exist, rather than letting the group
// wait silently for partitions that will never be assigned. It does not create topics.
// It returns the partitions of each topic.
func (s *Source) checkTopics(ctx context.Context) (map[string][]int, error) {
	tr := &kafkago.Transport{DialTimeout: 5 * time.Second}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c := &kafkago.Client{Addr: kafkago.TCP(s.cfg.Brokers...), Transport: tr}
	md, err := c.Metadata(ctx, &kafkago.MetadataRequest{Topics: s.topics})
	if err != nil {
		return nil, fmt.Errorf("kafka: metadata from brokers %s: %w", strings.Join(s.cfg.Brokers, ","), err)
	}
	found := make(map[string]error, len(md.Topics))
	parts := make(map[string][]int, len(md.Topics))
	for _, t := range md.Topics {
		found[t.Name] = t.Error
		for _, p := range t.Partitions {
			parts[t.Name] = append(parts[t.Name], p.ID)
		}
	}
	for _, t := range s.topics {
		terr, ok := found[t]
		if !ok || terr != nil {
			if terr == nil {
				terr = errors.New("not in the cluster metadata")
			}
			return nil, fmt.Errorf("%w: %s on brokers %s: %v", ErrTopic, t, strings.Join(s.cfg.Brokers, ","), terr)
		}
	}
	return parts, nil
}

// findBacklog returns, for each partition with records past where the group resumes
// (its committed offset, else StartOffset), the offset after its last record. It is
// best effort: when the brokers cannot tell, the source just has no backlog to wait for.
func (s *Source) findBacklog(ctx context.Context, parts map[string][]int) map[partKey]int64 {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	tr := &kafkago.Transport{DialTimeout: 5 * time.Second}
	defer tr.CloseIdleConnections()
	c := &kafkago.Client{Addr: kafkago.TCP(s.cfg.Brokers...), Transport: tr}
	req := &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{}}
	for t, ps := range parts {
		for _, p := range ps {
			req.Topics[t] = append(req.Topics[t], kafkago.FirstOffsetOf(p), kafkago.LastOffsetOf(p))
		}
	}
	offs, err := c.ListOffsets(ctx, req)
	if err != nil {
		s.cfg.Logger.Debug("kafka: listing offsets", "err", err)
		return nil
	}
	committed, err := c.OffsetFetch(ctx, &kafkago.OffsetFetchRequest{GroupID: s.cfg.Group, Topics: parts})
	if err != nil {
		s.cfg.Logger.Debug("kafka: fetching committed offsets", "err", err)
		return nil
	}
	resume := map[partKey]int64{}
	for t, ps := range committed.Topics {
		for _, p := range ps {
			if p.Error == nil && p.CommittedOffset >= 0 {
				resume[partKey{t, p.Partition}] = p.CommittedOffset
			}
		}
	}
	backlog := map[partKey]int64{}
	for t, ps := range offs.Topics {
		for _, p := range ps {
			if p.Error != nil {
				continue
			}
			k := partKey{t, p.Partition}
			from, ok := resume[k]
			if !ok {
				from = p.FirstOffset
				if s.cfg.StartOffset == LastOffset {
					from = p.LastOffset
				}
			}
			if from < p.LastOffset {
				backlog[k] = p.LastOffset
			}
		}
	}
	return backlog
}

// Read returns the next decoded event. Undecodable records go to DeadLetters and Read
// continues with the next record; cdc.ErrIdle means nothing arrived within IdleWait.
func (s *Source) Read(ctx context.Context) (cdc.Event, error) {
	r, err := s.readerOf()
	if err != nil {
		return cdc.Event{}, err
	}
	return s.read(ctx, r, nil)
}

// readerOf returns the open reader.
func (s *Source) readerOf() (*kafkago.Reader, error) {
	s.mu.Lock()
	r, closed := s.reader, s.closed
	s.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	if r == nil {
		return nil, ErrNotOpen
	}
	return r, nil
}

// batchLinger is how long ReadBatch waits for more records once it has one: records
// already fetched come at once, and a quiet topic delays its batch by this much at most.
const batchLinger = 200 * time.Microsecond

// ReadBatch implements cdc.BatchReader: the first event as Read returns it, then up to
// len(dst)-1 more that arrive within batchLinger of it.
func (s *Source) ReadBatch(ctx context.Context, dst []cdc.Event) (int, error) {
	if len(dst) == 0 {
		return 0, nil
	}
	r, err := s.readerOf()
	if err != nil {
		return 0, err
	}
	if dst[0], err = s.read(ctx, r, nil); err != nil {
		return 0, err
	}
	n := 1
	linger, cancel := context.WithTimeout(ctx, batchLinger)
	defer cancel()
	for n < len(dst) {
		ev, err := s.read(ctx, r, linger)
		if err != nil {
			if ctx.Err() == nil && linger.Err() == nil && !errors.Is(err, cdc.ErrIdle) {
				s.batchErr = err // for the next call, after the events read before it
			}
			break
		}
		dst[n] = ev
		n++
	}
	return n, nil
}

var _ cdc.BatchReader = (*Source)(nil)

// read is Read. With a fetch context (ReadBatch's linger), records are fetched under
// it and read returns its error once it ends, instead of waiting IdleWait.
func (s *Source) read(ctx context.Context, r *kafkago.Reader, fetch context.Context) (cdc.Event, error) {
	if err := s.batchErr; err != nil {
		s.batchErr = nil
		return cdc.Event{}, err
	}
	for {
		if len(s.ready) > 0 {
			return s.popReady(), nil
		}
		if err := ctx.Err(); err != nil {
			return cdc.Event{}, err
		}
		var m kafkago.Message
		var err error
		if fetch != nil {
			if err := fetch.Err(); err != nil {
				return cdc.Event{}, err
			}
			m, err = r.FetchMessage(fetch)
		} else {
			fctx, cancel := context.WithTimeout(ctx, s.cfg.IdleWait)
			m, err = r.FetchMessage(fctx)
			cancel()
		}
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return cdc.Event{}, ctx.Err()
		case fetch != nil && fetch.Err() != nil:
			return cdc.Event{}, fetch.Err()
		case errors.Is(err, context.DeadlineExceeded):
			now := time.Now()
			if s.expireHeld(now) {
				continue
			}
			if len(s.backlog) > 0 && now.Before(s.backlogUntil) {
				continue // the group is still joining, or catching up
			}
			return cdc.Event{}, cdc.ErrIdle
		case errors.Is(err, io.EOF):
			return cdc.Event{}, ErrClosed
		default:
			return cdc.Event{}, fmt.Errorf("kafka: fetch from %s (group %s): %w", strings.Join(s.topics, ","), s.cfg.Group, err)
		}
		if end, ok := s.backlog[partKey{m.Topic, m.Partition}]; ok && m.Offset+1 >= end {
			delete(s.backlog, partKey{m.Topic, m.Partition})
		}
		ev, ok, err := s.handle(ctx, &m)
		if err != nil {
			return cdc.Event{}, err
		}
		if ok {
			if len(s.ready) == 0 {
				return ev, nil
			}
			// Metadata this event released goes first: its BEGIN precedes it.
			s.ready = append(s.ready, readyEvent{ev: ev})
		}
	}
}

func (s *Source) popReady() cdc.Event {
	r := s.ready[0]
	s.ready[0] = readyEvent{}
	s.ready = s.ready[1:]
	if r.meta != nil {
		s.mu.Lock()
		r.meta.returned = true
		s.mu.Unlock()
	}
	return r.ev
}

// handle decodes one fetched message. It returns ok=false for a record that yields no
// event now (a redelivery, a skipped duplicate, a dead letter, held metadata).
func (s *Source) handle(ctx context.Context, m *kafkago.Message) (cdc.Event, bool, error) {
	key := partKey{m.Topic, m.Partition}
	s.mu.Lock()
	p := s.parts[key]
	if p == nil {
		p = &partition{next: -1}
		s.parts[key] = p
	}
	if p.next >= 0 && m.Offset < p.next {
		// A rebalance restarted the partition at its committed offset: this record was
		// already returned by this source and is tracked (or committed) already.
		s.mu.Unlock()
		s.cfg.Logger.Debug("kafka: skipping redelivered record", "topic", m.Topic, "partition", m.Partition, "offset", m.Offset)
		return cdc.Event{}, false, nil
	}
	p.next = m.Offset + 1
	s.mu.Unlock()

	rec := toRecord(m)
	ev, err := s.cfg.Decoder.Decode(&rec)
	if err != nil {
		var de *cdc.DecodeError
		if !errors.As(err, &de) {
			err = &cdc.DecodeError{Origin: rec.Origin(), Err: err}
		} else if de.Origin == (cdc.Origin{}) {
			de.Origin = rec.Origin()
		}
		if rerr := cdc.Reject(ctx, s.cfg.DeadLetters, s.cfg.Metrics, cdc.DeadLetter{Record: rec}, err); rerr != nil {
			s.track(p, entry{offset: m.Offset, state: held})
			return cdc.Event{}, false, fmt.Errorf("kafka: group %s: %w", s.cfg.Group, rerr)
		}
		s.track(p, entry{offset: m.Offset, state: done})
		return cdc.Event{}, false, nil
	}
	if ev.Origin == (cdc.Origin{}) {
		ev.Origin = rec.Origin()
	}
	isMeta := ev.Op == cdc.OpTxBegin || ev.Op == cdc.OpTxEnd
	if s.cfg.TxTopic != "" && isMeta && ev.Pos.IsZero() && ev.TxKey() != "" {
		s.filler.Fill(&ev)
		s.addMeta(p, key, m.Offset, ev)
		return cdc.Event{}, false, nil
	}
	s.filler.Fill(&ev)
	skip := !s.from.Less(ev.Pos)

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.TxTopic != "" && !isMeta {
		if k := ev.TxKey(); k != "" {
			t := s.tx(k)
			t.nData++
			t.maxPos = cdc.Max(t.maxPos, ev.Pos)
			if t.decision == undecided {
				t.decision = deliverTx
				if skip {
					t.decision = skipTx
				}
				s.releaseLocked()
			}
		}
	}
	if skip {
		p.pending = append(p.pending, entry{offset: m.Offset, state: done})
		return cdc.Event{}, false, nil
	}
	p.pending = append(p.pending, entry{offset: m.Offset, pos: ev.Pos, state: delivered})
	return ev, true, nil
}

func (s *Source) track(p *partition, e entry) {
	s.mu.Lock()
	p.pending = append(p.pending, e)
	s.mu.Unlock()
}

// tx returns the state of the transaction with key k, creating it. Callers hold mu.
func (s *Source) tx(k string) *txState {
	t := s.txs[k]
	if t == nil {
		t = &txState{key: k, endCount: -1}
		if s.from.IsZero() {
			t.decision = deliverTx // nothing lies at or before the zero position
		}
		s.txs[k] = t
	}
	return t
}

// addMeta queues a BEGIN or END until its transaction is known to lie after from.
func (s *Source) addMeta(p *partition, key partKey, offset int64, ev cdc.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tx(ev.TxKey())
	if ev.Op == cdc.OpTxEnd {
		t.endCount = ev.EventCount
	}
	t.refs++
	m := &metaRec{ev: ev, part: key, tx: t, since: time.Now()}
	p.pending = append(p.pending, entry{offset: offset, state: meta, meta: m})
	s.held = append(s.held, m)
	s.releaseLocked()
}

// releaseLocked moves held metadata whose transaction is decided, in order per partition,
// to the ready queue (or drops it when skipped). The transaction topic is in commit order,
// so a transaction after one known to be at or before from is too, and one before a
// transaction known to be after from is too. Callers hold mu.
func (s *Source) releaseLocked() {
	if len(s.held) == 0 {
		return
	}
	lastSkip := map[partKey]int{}
	for i, m := range s.held {
		if m.tx.decision == skipTx {
			lastSkip[m.part] = i
		}
	}
	blocked := map[partKey]bool{}
	delivering := map[partKey]bool{}
	kept := s.held[:0]
	for i, m := range s.held {
		if m.tx.decision == undecided {
			if j, ok := lastSkip[m.part]; ok && i < j {
				m.tx.decision = skipTx
			} else if delivering[m.part] {
				m.tx.decision = deliverTx
			}
		}
		switch {
		case blocked[m.part]:
			kept = append(kept, m)
		case m.tx.decision == deliverTx:
			delivering[m.part] = true
			s.ready = append(s.ready, readyEvent{ev: m.ev, meta: m})
		case m.tx.decision == skipTx:
			m.skipped = true
		default:
			blocked[m.part] = true
			kept = append(kept, m)
		}
	}
	clear(s.held[len(kept):])
	s.held = kept
}

// expireHeld releases metadata that waited longer than holdLimit for any data event of its
// transaction, as the source went idle: returning it is safer than losing it (an
// assembler gives such a transaction up to dead letters). It reports whether anything was
// released.
func (s *Source) expireHeld(now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	expired := false
	for _, m := range s.held {
		if m.tx.decision == undecided && now.Sub(m.since) >= s.holdLimit {
			m.tx.decision = deliverTx
			expired = true
			s.cfg.Logger.Warn("kafka: transaction metadata released without any data event of its transaction",
				"origin", m.ev.Origin.String(), "op", m.ev.Op.String(), "tx", m.ev.Tx.ID, "waited", now.Sub(m.since))
		}
	}
	if expired {
		s.releaseLocked()
	}
	return len(s.ready) > 0
}

func toRecord(m *kafkago.Message) cdc.Record {
	rec := cdc.Record{
		Topic:     m.Topic,
		Partition: int32(m.Partition),
		Offset:    m.Offset,
		Key:       m.Key,
		Value:     m.Value,
		Time:      m.Time,
	}
	if len(m.Headers) > 0 {
		rec.Headers = make([]cdc.Header, len(m.Headers))
		for i, h := range m.Headers {
			rec.Headers[i] = cdc.Header{Key: h.Key, Value: h.Value}
		}
	}
	return rec
}

// Ack commits, for each partition, the offset after the longest run of fetched records
// that are all done: events at or before upTo; skipped or dead-lettered records; BEGIN and
// END records whose transaction is complete and at or before upTo. Offsets never move
// past a record that is not done.
func (s *Source) Ack(ctx context.Context, upTo cdc.Position) error {
	s.ackMu.Lock()
	defer s.ackMu.Unlock()

	type commit struct {
		p *partition
		n int // entries to drop once committed
	}
	s.mu.Lock()
	r, closed := s.reader, s.closed
	if closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if r == nil {
		s.mu.Unlock()
		return ErrNotOpen
	}
	var (
		msgs    []kafkago.Message
		commits []commit
	)
	for key, p := range s.parts {
		n := donePrefix(p.pending, upTo)
		if n == 0 {
			continue
		}
		// CommitMessages commits Offset+1: the next record to read.
		msgs = append(msgs, kafkago.Message{Topic: key.topic, Partition: key.partition, Offset: p.pending[n-1].offset})
		commits = append(commits, commit{p, n})
	}
	s.mu.Unlock()
	if len(msgs) == 0 {
		return nil
	}
	// Read only appends to pending and Ack is serialized, so the first n entries of each
	// partition are still the ones counted above when the commit returns.
	if err := r.CommitMessages(ctx, msgs...); err != nil {
		if errors.Is(err, io.ErrClosedPipe) {
			return ErrClosed
		}
		return fmt.Errorf("kafka: group %s: commit offsets up to %s: %w", s.cfg.Group, upTo, err)
	}
	s.mu.Lock()
	for _, c := range commits {
		for _, e := range c.p.pending[:c.n] {
			if e.state == meta {
				t := e.meta.tx
				t.refs--
				if t.refs == 0 && t.endCount >= 0 {
					delete(s.txs, t.key)
				}
			}
		}
		c.p.pending = dropFront(c.p.pending, c.n)
	}
	if len(s.txs) >= s.sweep {
		s.sweepTxs(upTo)
	}
	s.mu.Unlock()
	return nil
}

// sweepTxs forgets transactions acked without any metadata (snapshot reads carry a txId
// but no BEGIN/END); those with metadata are forgotten when it is committed. It runs when
// the table has doubled since the last sweep, so its cost per Ack is amortized O(1).
// Callers hold mu.
func (s *Source) sweepTxs(upTo cdc.Position) {
	for k, t := range s.txs {
		if t.refs == 0 && t.endCount < 0 && t.nData > 0 && !upTo.Less(t.maxPos) {
			delete(s.txs, k)
		}
	}
	s.sweep = max(1024, 2*len(s.txs))
}

// donePrefix returns how many leading entries are done at upTo. Metadata before a BEGIN or
// END that is done by its own transaction is done too: the transaction topic is in commit
// order, and downstream acks a transaction only after resolving every one before it (an
// earlier transaction may never complete here, when some of its events were
// dead-lettered).
func donePrefix(es []entry, upTo cdc.Position) int {
	lastMeta := -1
	for i := len(es) - 1; i >= 0; i-- {
		if es[i].state == meta && es[i].meta.doneByTx(upTo) {
			lastMeta = i
			break
		}
	}
	n := 0
	for n < len(es) {
		e := &es[n]
		ok := false
		switch e.state {
		case done:
			ok = true
		case delivered:
			ok = !upTo.Less(e.pos)
		case meta:
			ok = n <= lastMeta && (e.meta.returned || e.meta.skipped)
		}
		if !ok {
			break
		}
		n++
	}
	return n
}

// dropFront removes the first n entries. It moves the rest to the front when that costs
// no more than the entries dropped, so the backing array is reused rather than grown.
func dropFront(es []entry, n int) []entry {
	if n >= len(es)-n {
		m := copy(es, es[n:])
		clear(es[m:])
		return es[:m]
	}
	clear(es[:n])
	return es[n:]
}

// Pending returns how many fetched records are not committed yet, over all partitions:
// the records a restart would read again.
func (s *Source) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, p := range s.parts {
		n += len(p.pending)
	}
	return n
}

// Close leaves the consumer group and releases the connections. It commits nothing:
// offsets of records not acked stay uncommitted, so the next member reads them again.
func (s *Source) Close() error {
	s.mu.Lock()
	r, closed := s.reader, s.closed
	s.closed = true
	s.mu.Unlock()
	if closed || r == nil {
		return nil
	}
	if err := r.Close(); err != nil {
		return fmt.Errorf("kafka: group %s: close reader: %w", s.cfg.Group, err)
	}
	return nil
}

var _ cdc.Source = (*Source)(nil)
