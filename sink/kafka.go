package sink

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/change"
)

// Kafka message headers the Kafka sink sets on every message.
const (
	// HeaderPosition is the source position of the row's batch (cdc.Position text form).
	HeaderPosition = "strata.position"
	// HeaderSeq is the row's ordinal among the rows written at its position (decimal),
	// so that (position, seq) orders every message of a key.
	HeaderSeq = "strata.seq"
	// HeaderOp is the row's op: +I, +U, -U or -D.
	HeaderOp = "strata.op"
)

// opBytes are the header values of the ops, shared by every message (read-only).
var opBytes = [...][]byte{[]byte("+I"), []byte("-U"), []byte("+U"), []byte("-D")}

// KafkaConfig configures a Kafka sink. Brokers, Topic and Schema are required.
type KafkaConfig struct {
	// Brokers are the bootstrap brokers, host:port.
	Brokers []string
	// Topic receives every message; create it compacted (cleanup.policy=compact) for a
	// table that converges to the latest row per key.
	Topic string
	// Schema is the rows' schema; it must have a primary key.
	Schema *change.Schema
	// Name labels metrics and errors (default: Topic).
	Name string
	// MaxBuffered is how many messages Write buffers before it sends them (default 10000).
	MaxBuffered int
	// Balancer picks a message's partition (default kafka-go's Murmur2Balancer, the
	// Java client's partitioner: all messages of a key go to one partition, in order).
	Balancer kafkago.Balancer
	// Compression of message batches (default none).
	Compression kafkago.Compression
	// WriteTimeout bounds one produce request (default 10s).
	WriteTimeout time.Duration
	// AllowAutoTopicCreation lets the broker create a missing topic.
	AllowAutoTopicCreation bool
	// Metrics counts rows, batches and errors (nil: none).
	Metrics *Metrics
}

// Validate reports a setting NewKafka cannot use.
func (c KafkaConfig) Validate() error {
	switch {
	case len(c.Brokers) == 0:
		return fmt.Errorf("%w: kafka: no Brokers", ErrConfig)
	case c.Topic == "":
		return fmt.Errorf("%w: kafka: no Topic", ErrConfig)
	case c.Schema == nil:
		return fmt.Errorf("%w: kafka %s: no Schema", ErrConfig, c.Topic)
	case len(c.Schema.Key()) == 0:
		return fmt.Errorf("%w: kafka %s: schema %s has no primary key", ErrConfig, c.Topic, c.Schema)
	case c.MaxBuffered < 0 || c.WriteTimeout < 0:
		return fmt.Errorf("%w: kafka %s: negative MaxBuffered or WriteTimeout", ErrConfig, c.Topic)
	}
	return nil
}

func (c *KafkaConfig) ensureDefaults() {
	if c.Name == "" {
		c.Name = c.Topic
	}
	if c.MaxBuffered == 0 {
		c.MaxBuffered = 10000
	}
	if c.Balancer == nil {
		c.Balancer = kafkago.Murmur2Balancer{}
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 10 * time.Second
	}
}

// Kafka writes rows as messages to a Kafka topic with kafka-go, so that a compacted
// topic converges to the table: the key is the row's primary key as [AppendKeyJSON]
// encodes it ({"id":42}), the value the row's after image as [AppendRowJSON] encodes
// it, and a delete is a tombstone (a nil value). An update is one message with the new
// image: a -U is dropped when a +U or +I of the same key follows it in the same batch
// (before any other change of that key); any other -U (a key change, or a pair split
// across batches) is a tombstone of its key, which the following +U overwrites.
//
// Delivery is at-least-once: Flush returns once the brokers have acknowledged every
// message (acks=all), and a failed Flush or a restart resends. Consumers make it
// idempotent by (key, position): every message carries [HeaderPosition], [HeaderSeq] and
// [HeaderOp], and a consumer ignores a message of a key whose (position, seq) is not
// after the last one it applied for that key. A compacted topic needs nothing: a
// resent message carries the same key and value as the original.
type Kafka struct {
	cfg    KafkaConfig
	w      *kafkago.Writer
	m      counters
	seq    sequencer
	msgs   []kafkago.Message
	arena  arena
	keys   [][]byte
	drop   []bool
	next   map[string]change.Op
	posSeq uint64 // rows written so far at seq.last
	closed bool
}

// NewKafka returns a Kafka sink; it connects on the first send.
func NewKafka(cfg KafkaConfig) (*Kafka, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.ensureDefaults()
	w := &kafkago.Writer{
		Addr:                   kafkago.TCP(cfg.Brokers...),
		Topic:                  cfg.Topic,
		Balancer:               cfg.Balancer,
		RequiredAcks:           kafkago.RequireAll,
		BatchSize:              cfg.MaxBuffered,
		BatchTimeout:           time.Millisecond, // Flush waits for partial batches
		WriteTimeout:           cfg.WriteTimeout,
		Compression:            cfg.Compression,
		AllowAutoTopicCreation: cfg.AllowAutoTopicCreation,
	}
	return &Kafka{cfg: cfg, w: w, m: cfg.Metrics.forSink(cfg.Name), seq: sequencer{name: cfg.Name}}, nil
}

// Write implements Sink. It sends when MaxBuffered messages are buffered.
func (s *Kafka) Write(ctx context.Context, b *change.Batch, pos cdc.Position) error {
	defer b.Release()
	if s.closed {
		return ErrClosed
	}
	if err := checkSchema(s.cfg.Name, s.cfg.Schema, b); err != nil {
		return s.m.fail(err)
	}
	prev, wrote := s.seq.last, s.seq.wrote
	if _, err := s.seq.admit(pos); err != nil {
		return s.m.fail(err)
	}
	if !wrote || prev != pos {
		s.posSeq = 0
	}
	s.m.batch()
	ops := b.Ops()
	s.keys = s.keys[:0]
	for i := range ops {
		s.keys = append(s.keys, s.arena.add(func(dst []byte) []byte { return AppendKeyJSON(dst, b, i) }))
	}
	s.markDropped(ops)
	posText := []byte(pos.String())
	headers := make([]kafkago.Header, 3*len(ops)) // one allocation for the batch's headers
	for i, op := range ops {
		seq := s.posSeq
		s.posSeq++
		if s.drop[i] {
			continue
		}
		h := headers[3*i : 3*i+3 : 3*i+3]
		h[0] = kafkago.Header{Key: HeaderPosition, Value: posText}
		h[1] = kafkago.Header{Key: HeaderSeq, Value: s.arena.add(func(dst []byte) []byte { return strconv.AppendUint(dst, seq, 10) })}
		h[2] = kafkago.Header{Key: HeaderOp, Value: opBytes[op]}
		m := kafkago.Message{Key: s.keys[i], Headers: h}
		if op == change.Insert || op == change.UpdateAfter {
			m.Value = s.arena.add(func(dst []byte) []byte { return AppendRowJSON(dst, b, i) })
		}
		s.msgs = append(s.msgs, m)
	}
	if len(s.msgs) >= s.cfg.MaxBuffered {
		return s.send(ctx)
	}
	return nil
}

// markDropped sets s.drop[i] for each -U followed in the batch by a +U or +I of the
// same key before any other change of it.
func (s *Kafka) markDropped(ops []change.Op) {
	s.drop = append(s.drop[:0], make([]bool, len(ops))...)
	for i := 0; i+1 < len(ops); i++ {
		if ops[i] != change.UpdateBefore {
			continue
		}
		if nx := ops[i+1]; (nx == change.UpdateAfter || nx == change.Insert) && string(s.keys[i]) == string(s.keys[i+1]) {
			s.drop[i] = true // the usual adjacent pair
			continue
		}
		if s.next == nil {
			s.next = map[string]change.Op{}
		}
		clear(s.next)
		for j := len(ops) - 1; j > i; j-- { // rare: look for the key's next change
			s.next[string(s.keys[j])] = ops[j]
		}
		if nx, ok := s.next[string(s.keys[i])]; ok && (nx == change.UpdateAfter || nx == change.Insert) {
			s.drop[i] = true
		}
	}
}

// send writes the buffered messages and waits for their acknowledgement.
func (s *Kafka) send(ctx context.Context) error {
	if len(s.msgs) == 0 {
		return nil
	}
	if err := s.w.WriteMessages(ctx, s.msgs...); err != nil {
		var we kafkago.WriteErrors
		if errors.As(err, &we) {
			err = fmt.Errorf("%d of %d messages failed: %w", we.Count(), len(s.msgs), err)
		}
		return s.m.fail(fmt.Errorf("sink: %s: topic %s up to position %s: %w", s.cfg.Name, s.cfg.Topic, s.seq.last, err))
	}
	s.m.wrote(len(s.msgs))
	clear(s.msgs)
	s.msgs = s.msgs[:0]
	s.arena.reset()
	return nil
}

// Flush implements Sink: it returns when every message written so far is acknowledged.
func (s *Kafka) Flush(ctx context.Context) error {
	if s.closed {
		return ErrClosed
	}
	t0 := time.Now()
	if err := s.send(ctx); err != nil {
		return err
	}
	s.seq.flushed = s.seq.last
	s.m.committed(t0)
	return nil
}

// Close implements Sink; buffered messages not yet sent are dropped.
func (s *Kafka) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	s.msgs = nil
	return s.w.Close()
}

// arena hands out byte slices from large chunks, so that messages of a send share a
// few allocations and stay valid until reset.
type arena struct {
	chunks [][]byte
	cur    []byte
}

// add appends what fn appends to an empty slice and returns it, stable until reset.
func (a *arena) add(fn func([]byte) []byte) []byte {
	n := len(a.cur)
	out := fn(a.cur)
	if cap(out) != cap(a.cur) || len(a.cur) == 0 && cap(a.cur) == 0 { // grew: moved to a new array
		size := max(64<<10, 2*(len(out)-n))
		c := make([]byte, 0, size)
		c = append(c, out[n:]...)
		a.chunks = append(a.chunks, c)
		a.cur = c
		return c[:len(c):len(c)]
	}
	a.cur = out
	return out[n:len(out):len(out)]
}

func (a *arena) reset() {
	a.chunks = a.chunks[:0]
	a.cur = nil
}
