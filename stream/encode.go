package stream

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/internal/order"
)

// The state key encoding of one value: order-preserving (bytewise order of the
// encodings is SQL order, NULL first, floats with NaN after every number, strings by
// bytes) and prefix-free, so encodings concatenate into composite keys that order
// column by column, and a key's bytes inverted order it the other way round.
//
//	NULL                  0x00
//	bool                  0x01, 0 or 1
//	signed int/temporal   0x01, 8 bytes big-endian with the sign bit flipped
//	unsigned int          0x01, 8 bytes big-endian
//	float                 0x01, 8 bytes: IEEE bits, sign flipped (negatives: all bits)
//	decimal128            0x01, high word sign-flipped, low word, big-endian
//	string/binary         0x01, bytes with 0x00 escaped as 0x00 0xff, then 0x00 0x01
const (
	encNull    = 0x00
	encPresent = 0x01
)

type encKind uint8

const (
	encBool encKind = iota
	encSigned
	encUnsigned
	encFloat
	encDecimal
	encBytes
)

func encKindOf(t arrow.DataType) (encKind, error) {
	switch t.ID() {
	case arrow.BOOL:
		return encBool, nil
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.DATE32, arrow.TIME32, arrow.TIME64, arrow.TIMESTAMP:
		return encSigned, nil
	case arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		return encUnsigned, nil
	case arrow.FLOAT32, arrow.FLOAT64:
		return encFloat, nil
	case arrow.DECIMAL128:
		return encDecimal, nil
	case arrow.STRING, arrow.BINARY:
		return encBytes, nil
	}
	return 0, fmt.Errorf("stream: no key encoding for type %s", t)
}

// appendKey appends the encoding of a's value at row i.
func appendKey(dst []byte, a arrow.Array, i int) []byte {
	if a.IsNull(i) {
		return append(dst, encNull)
	}
	dst = append(dst, encPresent)
	switch a := a.(type) {
	case *array.Boolean:
		if a.Value(i) {
			return append(dst, 1)
		}
		return append(dst, 0)
	case *array.Int8:
		return appendSigned(dst, int64(a.Value(i)))
	case *array.Int16:
		return appendSigned(dst, int64(a.Value(i)))
	case *array.Int32:
		return appendSigned(dst, int64(a.Value(i)))
	case *array.Int64:
		return appendSigned(dst, a.Value(i))
	case *array.Date32:
		return appendSigned(dst, int64(a.Value(i)))
	case *array.Time32:
		return appendSigned(dst, int64(a.Value(i)))
	case *array.Time64:
		return appendSigned(dst, int64(a.Value(i)))
	case *array.Timestamp:
		return appendSigned(dst, int64(a.Value(i)))
	case *array.Uint8:
		return binary.BigEndian.AppendUint64(dst, uint64(a.Value(i)))
	case *array.Uint16:
		return binary.BigEndian.AppendUint64(dst, uint64(a.Value(i)))
	case *array.Uint32:
		return binary.BigEndian.AppendUint64(dst, uint64(a.Value(i)))
	case *array.Uint64:
		return binary.BigEndian.AppendUint64(dst, a.Value(i))
	case *array.Float32:
		return appendFloat(dst, float64(a.Value(i)))
	case *array.Float64:
		return appendFloat(dst, a.Value(i))
	case *array.Decimal128:
		v := a.Value(i)
		dst = binary.BigEndian.AppendUint64(dst, uint64(v.HighBits())^(1<<63))
		return binary.BigEndian.AppendUint64(dst, v.LowBits())
	case *array.String:
		return appendBytes(dst, a.ValueStr(i))
	case *array.Binary:
		return appendBytes(dst, a.ValueString(i))
	}
	panic(fmt.Sprintf("stream: no key encoding for %s", a.DataType())) // checked by encKindOf
}

func appendSigned(dst []byte, v int64) []byte {
	return binary.BigEndian.AppendUint64(dst, uint64(v)^(1<<63))
}

func appendFloat(dst []byte, f float64) []byte {
	return binary.BigEndian.AppendUint64(dst, order.FloatPrefix(f)) // NaN last, -0 as 0
}

func appendBytes(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		dst = append(dst, c)
		if c == 0 {
			dst = append(dst, 0xff)
		}
	}
	return append(dst, 0x00, 0x01)
}

// decodeKey decodes one value of kind k from the front of src.
func decodeKey(k encKind, src []byte) (change.Value, []byte, error) {
	if len(src) == 0 {
		return change.Value{}, nil, errShortKey
	}
	switch src[0] {
	case encNull:
		return change.Null(), src[1:], nil
	case encPresent:
	default:
		return change.Value{}, nil, errBadKey
	}
	src = src[1:]
	switch k {
	case encBool:
		if len(src) < 1 {
			return change.Value{}, nil, errShortKey
		}
		if src[0] > 1 {
			return change.Value{}, nil, errBadKey
		}
		return change.Bool(src[0] == 1), src[1:], nil
	case encBytes:
		var out []byte
		for i := 0; i < len(src); i++ {
			if src[i] != 0 {
				out = append(out, src[i])
				continue
			}
			if i+1 >= len(src) {
				return change.Value{}, nil, errShortKey
			}
			switch src[i+1] {
			case 0x01:
				return change.BytesString(string(out)), src[i+2:], nil
			case 0xff:
			default:
				return change.Value{}, nil, errBadKey
			}
			out = append(out, 0)
			i++
		}
		return change.Value{}, nil, errShortKey
	case encDecimal:
		if len(src) < 16 {
			return change.Value{}, nil, errShortKey
		}
		hi := int64(binary.BigEndian.Uint64(src) ^ (1 << 63))
		return change.Decimal(decimal128.New(hi, binary.BigEndian.Uint64(src[8:]))), src[16:], nil
	}
	if len(src) < 8 {
		return change.Value{}, nil, errShortKey
	}
	w := binary.BigEndian.Uint64(src)
	switch k {
	case encSigned:
		return change.Int(int64(w ^ (1 << 63))), src[8:], nil
	case encUnsigned:
		return change.Int(int64(w)), src[8:], nil
	default: // encFloat
		if w>>63 == 1 {
			w &^= 1 << 63
		} else {
			w = ^w
		}
		return change.Float(math.Float64frombits(w)), src[8:], nil
	}
}

// invert flips every byte: the inverted encodings of prefix-free keys sort in
// reverse order.
func invert(dst, src []byte) []byte {
	for _, c := range src {
		dst = append(dst, ^c)
	}
	return dst
}

// decodeInto decodes one value of kind k from the front of src and appends it to
// b, a builder of the type the value was encoded from (decodeKey and a
// change.Builder in one step, without a change.Value in between). On error
// nothing is appended.
func decodeInto(b array.Builder, k encKind, src []byte) ([]byte, error) {
	if len(src) == 0 {
		return nil, errShortKey
	}
	switch src[0] {
	case encNull:
		b.AppendNull()
		return src[1:], nil
	case encPresent:
	default:
		return nil, errBadKey
	}
	src = src[1:]
	switch k {
	case encBool:
		if len(src) < 1 {
			return nil, errShortKey
		}
		if src[0] > 1 {
			return nil, errBadKey
		}
		b.(*array.BooleanBuilder).Append(src[0] == 1)
		return src[1:], nil
	case encBytes:
		end, escaped := -1, false
		for i := 0; i < len(src); i++ {
			if src[i] != 0 {
				continue
			}
			if i+1 >= len(src) {
				return nil, errShortKey
			}
			if src[i+1] == 0x01 {
				end = i
				break
			}
			if src[i+1] != 0xff {
				return nil, errBadKey
			}
			escaped = true
			i++
		}
		if end < 0 {
			return nil, errShortKey
		}
		v := src[:end]
		if escaped {
			out := make([]byte, 0, end)
			for i := 0; i < end; i++ {
				out = append(out, v[i])
				if v[i] == 0 {
					i++
				}
			}
			v = out
		}
		switch b := b.(type) {
		case *array.StringBuilder:
			b.BinaryBuilder.Append(v)
		case *array.BinaryBuilder:
			b.Append(v)
		}
		return src[end+2:], nil
	case encDecimal:
		if len(src) < 16 {
			return nil, errShortKey
		}
		hi := int64(binary.BigEndian.Uint64(src) ^ (1 << 63))
		b.(*array.Decimal128Builder).Append(decimal128.New(hi, binary.BigEndian.Uint64(src[8:])))
		return src[16:], nil
	}
	if len(src) < 8 {
		return nil, errShortKey
	}
	w := binary.BigEndian.Uint64(src)
	switch k {
	case encSigned:
		i := int64(w ^ (1 << 63))
		switch b := b.(type) {
		case *array.Int64Builder:
			b.Append(i)
		case *array.Int32Builder:
			b.Append(int32(i))
		case *array.Int16Builder:
			b.Append(int16(i))
		case *array.Int8Builder:
			b.Append(int8(i))
		case *array.Date32Builder:
			b.Append(arrow.Date32(i))
		case *array.Time32Builder:
			b.Append(arrow.Time32(i))
		case *array.Time64Builder:
			b.Append(arrow.Time64(i))
		case *array.TimestampBuilder:
			b.Append(arrow.Timestamp(i))
		}
	case encUnsigned:
		switch b := b.(type) {
		case *array.Uint64Builder:
			b.Append(w)
		case *array.Uint32Builder:
			b.Append(uint32(w))
		case *array.Uint16Builder:
			b.Append(uint16(w))
		case *array.Uint8Builder:
			b.Append(uint8(w))
		}
	default: // encFloat
		if w>>63 == 1 {
			w &^= 1 << 63
		} else {
			w = ^w
		}
		f := math.Float64frombits(w)
		switch b := b.(type) {
		case *array.Float64Builder:
			b.Append(f)
		case *array.Float32Builder:
			b.Append(float32(f))
		}
	}
	return src[8:], nil
}
