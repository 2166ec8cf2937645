package cdc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Position is a point in a source's commit order, compared lexicographically by
// (Major, Minor, Seq). Transactions are ordered by commit, not by the LSN of their first
// change: PostgreSQL transactions interleave in the WAL, so event LSNs alone are not
// monotonic. What each component holds depends on where the event came from:
//
//	PostgreSQL (Debezium)  Major: last committed LSN from source.sequence (else the event LSN); Minor: event LSN
//	PostgreSQL (native)    Major: commit LSN of the transaction; Minor: event LSN
//	MySQL                  Major: binlog file number; Minor: binlog position; Seq: row
//	SQL Server             Major: commit_lsn high 64 bits; Minor: commit_lsn low bits; Seq: event_serial_no
//	generator              Major: commit LSN; Minor: event LSN
//	no position known      the previous event's position of the same stream with Seq+1
//
// The zero Position is before everything: opening a source at it reads from the start.
type Position struct {
	Major uint64
	Minor uint64
	Seq   uint64
}

// ErrPosition is returned (wrapped) when a position's text cannot be parsed.
var ErrPosition = errors.New("cdc: invalid position")

// Compare returns -1, 0 or +1 as p is before, equal to or after q.
func (p Position) Compare(q Position) int {
	switch {
	case p.Major != q.Major:
		return cmp(p.Major, q.Major)
	case p.Minor != q.Minor:
		return cmp(p.Minor, q.Minor)
	case p.Seq != q.Seq:
		return cmp(p.Seq, q.Seq)
	}
	return 0
}

func cmp(a, b uint64) int {
	if a < b {
		return -1
	}
	return 1
}

// Less reports whether p is before q. It compares directly rather than through Compare:
// the assembler calls it on every event, and the shorter code stays in cache longer.
func (p Position) Less(q Position) bool {
	if p.Major != q.Major {
		return p.Major < q.Major
	}
	if p.Minor != q.Minor {
		return p.Minor < q.Minor
	}
	return p.Seq < q.Seq
}

// IsZero reports whether p is the zero position.
func (p Position) IsZero() bool { return p == Position{} }

// Next returns the position right after p at the same (Major, Minor).
func (p Position) Next() Position { p.Seq++; return p }

// String renders p as "Major/Minor/Seq" in hexadecimal, PostgreSQL-LSN style; ParsePosition reads it back.
func (p Position) String() string {
	return strconv.FormatUint(p.Major, 16) + "/" + strconv.FormatUint(p.Minor, 16) + "/" + strconv.FormatUint(p.Seq, 16)
}

// ParsePosition parses the text form of [Position.String].
func ParsePosition(s string) (Position, error) {
	parts := strings.Split(s, "/")
	if len(parts) != 3 {
		return Position{}, fmt.Errorf("%w: %q (want MAJOR/MINOR/SEQ in hex)", ErrPosition, s)
	}
	var v [3]uint64
	for i, part := range parts {
		n, err := strconv.ParseUint(part, 16, 64)
		if err != nil {
			return Position{}, fmt.Errorf("%w: %q: %v", ErrPosition, s, err)
		}
		v[i] = n
	}
	return Position{v[0], v[1], v[2]}, nil
}

// MarshalText implements encoding.TextMarshaler.
func (p Position) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *Position) UnmarshalText(b []byte) error {
	q, err := ParsePosition(string(b))
	if err != nil {
		return err
	}
	*p = q
	return nil
}

// AppendBinary appends the 24-byte big-endian form, which sorts bytewise in position order.
func (p Position) AppendBinary(b []byte) ([]byte, error) {
	b = binary.BigEndian.AppendUint64(b, p.Major)
	b = binary.BigEndian.AppendUint64(b, p.Minor)
	return binary.BigEndian.AppendUint64(b, p.Seq), nil
}

// MarshalBinary implements encoding.BinaryMarshaler (see AppendBinary).
func (p Position) MarshalBinary() ([]byte, error) { return p.AppendBinary(make([]byte, 0, 24)) }

// UnmarshalBinary implements encoding.BinaryUnmarshaler.
func (p *Position) UnmarshalBinary(b []byte) error {
	if len(b) != 24 {
		return fmt.Errorf("%w: binary form has %d bytes, want 24", ErrPosition, len(b))
	}
	p.Major = binary.BigEndian.Uint64(b)
	p.Minor = binary.BigEndian.Uint64(b[8:])
	p.Seq = binary.BigEndian.Uint64(b[16:])
	return nil
}

// Max returns the later of p and q.
func Max(p, q Position) Position {
	if p.Less(q) {
		return q
	}
	return p
}

// PositionFiller gives events that carry no position of their own (a payload without a
// source block) the position right after the previous event of the same stream, so that
// they keep their place in the stream's order and a source can resume past them.
// Snapshot reads share the snapshot's position in Debezium (one LSN or binlog offset for
// every row), so a read at or before the stream's latest position also gets the next
// one. Other events keep their position: one that goes backwards is a redelivery, which
// the assembler drops by position. Sources call Fill on every event they decode; the
// zero value is ready to use.
type PositionFiller struct {
	last map[streamID]Position
}

type streamID struct {
	topic     string
	partition int32
}

// Fill sets ev.Pos when it is zero (or a tied snapshot read) and remembers the stream's
// latest position.
func (f *PositionFiller) Fill(ev *Event) {
	if f.last == nil {
		f.last = map[streamID]Position{}
	}
	id := streamID{ev.Origin.Topic, ev.Origin.Partition}
	last := f.last[id]
	if ev.Pos.IsZero() || (ev.Op == OpRead && ev.Pos.Compare(last) <= 0) {
		ev.Pos = last.Next()
	}
	f.last[id] = Max(last, ev.Pos)
}
