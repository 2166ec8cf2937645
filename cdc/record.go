package cdc

import (
	"fmt"
	"time"
)

// Record is one raw message as Kafka carries it: the unit sources read before decoding,
// and what dead letters keep. A file source reads the same shape from JSON lines.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte // nil: no key
	Value     []byte // nil or empty: a tombstone
	Headers   []Header
	Time      time.Time
}

// Header is a Kafka record header.
type Header struct {
	Key   string
	Value []byte
}

// Origin names where a record sits in its stream, for errors and dead letters.
type Origin struct {
	Topic     string
	Partition int32
	Offset    int64
}

// Origin returns the record's coordinates.
func (r *Record) Origin() Origin { return Origin{r.Topic, r.Partition, r.Offset} }

// Clone returns a deep copy, so that the record outlives buffers the source reuses.
func (r *Record) Clone() Record {
	c := *r
	c.Key = cloneBytes(r.Key)
	c.Value = cloneBytes(r.Value)
	if r.Headers != nil {
		c.Headers = make([]Header, len(r.Headers))
		for i, h := range r.Headers {
			c.Headers[i] = Header{h.Key, cloneBytes(h.Value)}
		}
	}
	return c
}

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

// String renders "topic/partition@offset".
func (o Origin) String() string { return fmt.Sprintf("%s/%d@%d", o.Topic, o.Partition, o.Offset) }
