package tpchgen

import (
	"math/bits"
	"math/rand/v2"
	"time"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// rng is one chunk's random stream.
type rng struct{ p rand.PCG }

func newRNG(seed uint64, table, chunk int) *rng {
	r := &rng{}
	r.p.Seed(seed^0x9e3779b97f4a7c15, uint64(table)<<40|uint64(chunk))
	return r
}

// between returns a uniform integer in [lo, hi] (Lemire's multiply; the bias at these
// ranges is below 2^-40).
func (r *rng) between(lo, hi int64) int64 {
	h, _ := bits.Mul64(r.p.Uint64(), uint64(hi-lo+1))
	return lo + int64(h)
}

func (r *rng) pick(n int) int { return int(r.between(0, int64(n-1))) }

// Columns are filled as Go slices and handed to Arrow without copying.

type int64Col []int64

func (c int64Col) array() arrow.Array {
	return array.NewInt64Data(array.NewData(arrow.PrimitiveTypes.Int64, len(c),
		[]*memory.Buffer{nil, memory.NewBufferBytes(arrow.Int64Traits.CastToBytes(c))}, nil, 0, 0))
}

type int32Col []int32

func (c int32Col) array() arrow.Array {
	return array.NewInt32Data(array.NewData(arrow.PrimitiveTypes.Int32, len(c),
		[]*memory.Buffer{nil, memory.NewBufferBytes(arrow.Int32Traits.CastToBytes(c))}, nil, 0, 0))
}

type dateCol []arrow.Date32

func (c dateCol) array() arrow.Array {
	return array.NewDate32Data(array.NewData(arrow.FixedWidthTypes.Date32, len(c),
		[]*memory.Buffer{nil, memory.NewBufferBytes(arrow.Date32Traits.CastToBytes(c))}, nil, 0, 0))
}

// moneyType is decimal(15,2), the type of every money column.
var moneyType = &arrow.Decimal128Type{Precision: 15, Scale: 2}

// moneyCol holds amounts in cents.
type moneyCol []decimal128.Num

func (c *moneyCol) add(cents int64) { *c = append(*c, decimal128.FromI64(cents)) }

func (c moneyCol) array() arrow.Array {
	return array.NewDecimal128Data(array.NewData(moneyType, len(c),
		[]*memory.Buffer{nil, memory.NewBufferBytes(arrow.Decimal128Traits.CastToBytes(c))}, nil, 0, 0))
}

type strCol struct {
	off  []int32
	data []byte
}

func newStrCol(n, avg int) strCol {
	s := strCol{off: make([]int32, 1, n+1), data: make([]byte, 0, n*avg)}
	return s
}

func (s *strCol) add(v string) {
	s.data = append(s.data, v...)
	s.off = append(s.off, int32(len(s.data)))
}

func (s *strCol) addBytes(v []byte) {
	s.data = append(s.data, v...)
	s.off = append(s.off, int32(len(s.data)))
}

// end closes a value appended to data directly.
func (s *strCol) end() { s.off = append(s.off, int32(len(s.data))) }

func (s *strCol) array() arrow.Array {
	return array.NewStringData(array.NewData(arrow.BinaryTypes.String, len(s.off)-1,
		[]*memory.Buffer{nil, memory.NewBufferBytes(arrow.Int32Traits.CastToBytes(s.off)), memory.NewBufferBytes(s.data)}, nil, 0, 0))
}

// addKeyed appends prefix followed by n as nine zero-padded digits ("Customer#000000001").
func (s *strCol) addKeyed(prefix string, n int64) {
	s.data = append(s.data, prefix...)
	var d [9]byte
	for i := 8; i >= 0; i-- {
		d[i] = byte('0' + n%10)
		n /= 10
	}
	s.data = append(s.data, d[:]...)
	s.end()
}

// vstringChars is dbgen's alphabet for random v-strings (addresses).
const vstringChars = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ,  "

// addVString appends a random string of length in [lo, hi].
func (s *strCol) addVString(r *rng, lo, hi int64) {
	n := int(r.between(lo, hi))
	for n > 0 {
		x := r.p.Uint64()
		for k := 0; k < 10 && n > 0; k++ {
			s.data = append(s.data, vstringChars[x&63])
			x >>= 6
			n--
		}
	}
	s.end()
}

// addPhone appends a phone number of the nation: "CC-LLL-LLL-LLLL", country code 10+nation.
func (s *strCol) addPhone(r *rng, nation int64) {
	cc := nation + 10
	a, b, c := r.between(100, 999), r.between(100, 999), r.between(1000, 9999)
	s.data = append(s.data, byte('0'+cc/10), byte('0'+cc%10), '-',
		byte('0'+a/100), byte('0'+a/10%10), byte('0'+a%10), '-',
		byte('0'+b/100), byte('0'+b/10%10), byte('0'+b%10), '-',
		byte('0'+c/1000), byte('0'+c/100%10), byte('0'+c/10%10), byte('0'+c%10))
	s.end()
}

// addText appends a substring of the text pool with a length in [lo, hi].
func (s *strCol) addText(r *rng, lo, hi int64) {
	p := textPool()
	n := r.between(lo, hi)
	off := r.between(0, int64(len(p))-n)
	s.data = append(s.data, p[off:off+n]...)
	s.end()
}

func newRecord(schema *arrow.Schema, cols []arrow.Array) arrow.RecordBatch {
	rec := array.NewRecordBatch(schema, cols, int64(cols[0].Len()))
	for _, c := range cols {
		c.Release()
	}
	return rec
}

// Dates.

func day(y int, m time.Month, d int) arrow.Date32 {
	return arrow.Date32(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

var (
	startDate   = day(1992, 1, 1)
	currentDate = day(1995, 6, 17)
	// lastOrderDate leaves room for the latest ship (121 days) and receipt (30 days).
	lastOrderDate = day(1998, 12, 31) - 151
)

// unsafeString views b as a string without copying; b must not change afterwards.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
