package expr

import (
	"math/big"
	"math/bits"

	"github.com/apache/arrow-go/v18/arrow/decimal128"
)

type num = decimal128.Num

var pow10 [39]num // 10^0 .. 10^38

var pow10big [80]*big.Int

func init() {
	p := decimal128.FromU64(1)
	for i := range pow10 {
		pow10[i] = p
		p = p.Mul(decimal128.FromU64(10))
	}
	b := big.NewInt(1)
	for i := range pow10big {
		pow10big[i] = new(big.Int).Set(b)
		b.Mul(b, big.NewInt(10))
	}
}

// fits38 reports whether |v| < 10^38, the range of numeric(38, s).
func fits38(v num) bool {
	if v.HighBits() < 0 {
		v = v.Negate()
		if v.HighBits() < 0 { // -2^127
			return false
		}
	}
	return v.Less(pow10[38])
}

// is64 reports whether v fits in an int64.
func is64(v num) bool { return v.HighBits() == int64(v.LowBits())>>63 }

func add128(a, b num) (num, bool) {
	lo, c := bits.Add64(a.LowBits(), b.LowBits(), 0)
	hi := uint64(a.HighBits()) + uint64(b.HighBits()) + c
	r := decimal128.New(int64(hi), lo)
	ov := (a.HighBits() >= 0) == (b.HighBits() >= 0) && (int64(hi) >= 0) != (a.HighBits() >= 0)
	return r, !ov && fits38(r)
}

func sub128(a, b num) (num, bool) {
	lo, c := bits.Sub64(a.LowBits(), b.LowBits(), 0)
	hi := uint64(a.HighBits()) - uint64(b.HighBits()) - c
	r := decimal128.New(int64(hi), lo)
	ov := (a.HighBits() >= 0) != (b.HighBits() >= 0) && (int64(hi) >= 0) != (a.HighBits() >= 0)
	return r, !ov && fits38(r)
}

// mul64x64 is the exact 128-bit product of two int64s.
func mul64x64(x, y int64) num {
	hi, lo := bits.Mul64(uint64(x), uint64(y))
	hi -= uint64(x>>63) & uint64(y)
	hi -= uint64(y>>63) & uint64(x)
	return decimal128.New(int64(hi), lo)
}

// mul128 multiplies; ok is false beyond 38 digits.
func mul128(a, b num) (num, bool) {
	if is64(a) && is64(b) {
		return mul64x64(int64(a.LowBits()), int64(b.LowBits())), true // |p| < 2^126 < 10^38
	}
	neg := (a.HighBits() < 0) != (b.HighBits() < 0)
	a, b = a.Abs(), b.Abs()
	if a.HighBits() < 0 || b.HighBits() < 0 || (a.HighBits() != 0 && b.HighBits() != 0) {
		return num{}, false
	}
	// (ah*2^64 + al) * (bh*2^64 + bl) with ah*bh == 0
	h1, l := bits.Mul64(a.LowBits(), b.LowBits())
	c1h, c1 := bits.Mul64(uint64(a.HighBits()), b.LowBits())
	c2h, c2 := bits.Mul64(a.LowBits(), uint64(b.HighBits()))
	if c1h != 0 || c2h != 0 {
		return num{}, false
	}
	h, carry := bits.Add64(h1, c1, 0)
	if carry != 0 {
		return num{}, false
	}
	h, carry = bits.Add64(h, c2, 0)
	if carry != 0 || int64(h) < 0 {
		return num{}, false
	}
	r := decimal128.New(int64(h), l)
	if !fits38(r) {
		return num{}, false
	}
	if neg {
		r = r.Negate()
	}
	return r, true
}

// scaleUp multiplies by 10^k (k >= 0); ok is false beyond 38 digits.
func scaleUp(v num, k int32) (num, bool) {
	if k == 0 {
		return v, true
	}
	if k > 38 {
		return v, v.Sign() == 0
	}
	return mul128(v, pow10[k])
}

// scaleDown divides by 10^k rounding half away from zero.
func scaleDown(v num, k int32) num {
	if k <= 0 {
		return v
	}
	if k > 38 {
		return num{}
	}
	if is64(v) && k <= 18 {
		x := int64(v.LowBits())
		p := int64(pow10[k].LowBits())
		q, r := x/p, x%p
		if r < 0 {
			r = -r
		}
		if 2*r >= p {
			if x < 0 {
				q--
			} else {
				q++
			}
		}
		return decimal128.FromI64(q)
	}
	return divRound(v.BigInt(), pow10big[k])
}

// divRound is x/y rounded half away from zero, as a num (the caller checks range
// via fits38 when it matters).
func divRound(x, y *big.Int) num {
	q, r := new(big.Int).QuoRem(x, y, new(big.Int))
	r.Abs(r)
	r.Lsh(r, 1)
	if r.CmpAbs(y) >= 0 {
		if (x.Sign() < 0) != (y.Sign() < 0) {
			q.Sub(q, big.NewInt(1))
		} else {
			q.Add(q, big.NewInt(1))
		}
	}
	return bigToNum(q)
}

// bigToNum converts; values beyond 128 bits saturate to a value fits38 rejects.
func bigToNum(b *big.Int) num {
	if b.BitLen() > 126 {
		if b.Sign() < 0 {
			return pow10[38].Negate()
		}
		return pow10[38]
	}
	return decimal128.FromBigInt(b)
}

// divDec divides a (scale sa) by b (scale sb) into scale s, rounding half away from
// zero; b must not be zero.
func divDec(a num, sa int32, b num, sb int32, s int32) (num, bool) {
	// a/10^sa / (b/10^sb) * 10^s = a * 10^(s - sa + sb) / b
	k := s - sa + sb
	if k >= 0 && k <= 18 && is64(a) && is64(b) {
		p := int64(pow10[k].LowBits())
		hi, lo := bits.Mul64(uint64(abs64(a)), uint64(p))
		if hi == 0 && lo < 1<<63 {
			x := int64(lo)
			if a.HighBits() < 0 {
				x = -x
			}
			y := int64(b.LowBits())
			q, r := x/y, x%y
			if r < 0 {
				r = -r
			}
			ay := y
			if ay < 0 {
				ay = -ay
			}
			if uint64(r)*2 >= uint64(ay) {
				if (x < 0) != (y < 0) {
					q--
				} else {
					q++
				}
			}
			return decimal128.FromI64(q), true
		}
	}
	x := a.BigInt()
	y := b.BigInt()
	if k >= 0 {
		x.Mul(x, pow10big[k])
	} else {
		y.Mul(y, pow10big[-k])
	}
	r := divRound(x, y)
	return r, fits38(r)
}

func abs64(v num) int64 {
	x := int64(v.LowBits())
	if x < 0 {
		return -x
	}
	return x
}

// modDec is a % b for equal scales, sign of a (PostgreSQL's numeric mod).
func modDec(a, b num) num {
	if is64(a) && is64(b) {
		x, y := int64(a.LowBits()), int64(b.LowBits())
		if y == -1 {
			return num{}
		}
		return decimal128.FromI64(x % y)
	}
	return decimal128.FromBigInt(new(big.Int).Rem(a.BigInt(), b.BigInt()))
}

// cmp128 compares two nums of the same scale.
func cmp128(a, b num) int {
	switch {
	case a.HighBits() < b.HighBits():
		return -1
	case a.HighBits() > b.HighBits():
		return 1
	case a.LowBits() < b.LowBits():
		return -1
	case a.LowBits() > b.LowBits():
		return 1
	}
	return 0
}
