package state

import "time"

// BatchOp is the kind of one write in a Batch.
type BatchOp uint8

// The kinds of batched writes.
const (
	OpPut BatchOp = iota + 1
	OpDelete
)

// Batch collects writes to apply atomically with Backend.Apply. Writes are copied
// into the batch; a batch is not safe for concurrent use. The zero value is ready.
type Batch struct {
	buf []byte // namespaces, keys and values, back to back
	ops []batchEntry
}

type batchEntry struct {
	op                    BatchOp
	nsEnd, keyEnd, valEnd int // offsets into buf; the entry starts at the previous valEnd
	ttl                   time.Duration
}

// Put records a write of value under key in ns, with no expiry.
func (b *Batch) Put(ns string, key, value []byte) { b.PutTTL(ns, key, value, 0) }

// PutTTL records a write of value under key in ns that expires ttl after the batch
// is applied (ttl <= 0: never).
func (b *Batch) PutTTL(ns string, key, value []byte, ttl time.Duration) {
	b.add(OpPut, ns, key, value, ttl)
}

// Delete records the removal of key from ns.
func (b *Batch) Delete(ns string, key []byte) { b.add(OpDelete, ns, key, nil, 0) }

func (b *Batch) add(op BatchOp, ns string, key, value []byte, ttl time.Duration) {
	b.buf = append(b.buf, ns...)
	e := batchEntry{op: op, nsEnd: len(b.buf), ttl: ttl}
	b.buf = append(b.buf, key...)
	e.keyEnd = len(b.buf)
	b.buf = append(b.buf, value...)
	e.valEnd = len(b.buf)
	b.ops = append(b.ops, e)
}

// Len is the number of writes recorded.
func (b *Batch) Len() int { return len(b.ops) }

// Reset empties the batch, keeping its memory.
func (b *Batch) Reset() {
	b.buf = b.buf[:0]
	b.ops = b.ops[:0]
}

// BatchEntry is one recorded write, as Entry returns it. Its slices alias the
// batch and are valid until the batch is next modified.
type BatchEntry struct {
	Op        BatchOp
	Namespace []byte
	Key       []byte
	Value     []byte // nil for OpDelete
	TTL       time.Duration
}

// Entry returns the i'th write, for backends implementing Apply.
func (b *Batch) Entry(i int) BatchEntry {
	e := b.ops[i]
	start := 0
	if i > 0 {
		start = b.ops[i-1].valEnd
	}
	be := BatchEntry{Op: e.op, Namespace: b.buf[start:e.nsEnd:e.nsEnd],
		Key: b.buf[e.nsEnd:e.keyEnd:e.keyEnd], TTL: e.ttl}
	if e.op == OpPut {
		be.Value = b.buf[e.keyEnd:e.valEnd:e.valEnd]
	}
	return be
}
