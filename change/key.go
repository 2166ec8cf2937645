package change

import (
	"encoding/binary"
	"math"
)

// AppendKey appends an order-preserving encoding of one key value: byte strings of
// encoded keys sort as the keys do (NULL first, integers as signed, or unsigned for
// uint64 columns, strings and bytes bytewise). All integer widths encode alike, so a
// key column widened by schema evolution keeps its keys. Bronze snapshots and silver
// tables store keys in this encoding.
func AppendKey(b []byte, v Value, unsigned bool) []byte {
	b = append(b, byte(v.Kind()))
	switch v.Kind() {
	case KindBool:
		if v.AsBool() {
			return append(b, 1)
		}
		return append(b, 0)
	case KindInt:
		u := uint64(v.AsInt())
		if !unsigned {
			u ^= 1 << 63
		}
		return binary.BigEndian.AppendUint64(b, u)
	case KindFloat:
		u := math.Float64bits(v.AsFloat())
		if u&(1<<63) != 0 {
			u = ^u
		} else {
			u |= 1 << 63
		}
		return binary.BigEndian.AppendUint64(b, u)
	case KindDecimal:
		n := v.AsDecimal()
		b = binary.BigEndian.AppendUint64(b, uint64(n.HighBits())^1<<63)
		return binary.BigEndian.AppendUint64(b, n.LowBits())
	case KindString, KindBytes:
		s := v.AsString()
		for i := 0; i < len(s); i++ {
			if s[i] == 0 {
				b = append(b, 0, 0xff)
			} else {
				b = append(b, s[i])
			}
		}
		return append(b, 0, 0)
	}
	return b
}
