package expr

import (
	"math/big"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
)

// FuzzLike compares the LIKE matcher with a regexp translation of the pattern.
func FuzzLike(f *testing.F) {
	for _, s := range [][2]string{{"abc", "a%"}, {"abc", "%b_"}, {"a%c", `a\%c`}, {"ñaña", "_a%a"}, {"", "%"}, {"xx", "%x%x%"}, {"aab", "%ab"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, s, pat string) {
		if !utf8.ValidString(s) || !utf8.ValidString(pat) || strings.HasSuffix(strings.ReplaceAll(pat, `\\`, ""), `\`) {
			return
		}
		for _, fold := range []bool{false, true} {
			p, err := compileLike([]byte(pat), '\\', fold)
			if err != nil {
				t.Fatalf("compile %q: %v", pat, err)
			}
			v := []byte(s)
			if fold {
				v = appendLower(nil, v)
			}
			want := likeRegexp(pat, false).MatchString(string(v))
			if fold {
				want = likeRegexp(string(appendLower(nil, []byte(pat))), false).MatchString(string(v))
			}
			if got := p.match(v); got != want {
				t.Fatalf("%q LIKE %q (fold %v) = %v, want %v", s, pat, fold, got, want)
			}
		}
	})
}

// FuzzParseDecimal compares numeric input with math/big, rounding half away from
// zero to the scale.
func FuzzParseDecimal(f *testing.F) {
	for _, s := range []string{"1.25", "-0.005", "1e3", "12345678901234567890.123", " 7 ", ".5", "5.", "-1.5e-2", "abc", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		typ := Numeric(20, 2).(*arrow.Decimal128Type)
		got, err := parseDecimal(s, typ)
		r, ok := new(big.Rat).SetString(strings.TrimSpace(s))
		if strings.ContainsAny(s, "/xXpP_") || strings.HasPrefix(strings.TrimSpace(s), "0x") {
			ok = false // forms big.Rat accepts and SQL does not
		}
		if err != nil {
			return // must be invalid or out of range
		}
		if !ok {
			if strings.TrimSpace(s) == "" || strings.ContainsAny(s, "/xXpP_") {
				t.Fatalf("%q parsed as %s", s, got.ToString(2))
			}
			return
		}
		r.Mul(r, new(big.Rat).SetInt64(100))
		want := roundDivB(r.Num(), r.Denom())
		if got.BigInt().Cmp(want) != 0 {
			t.Fatalf("%q: got %s want %s", s, got.BigInt(), want)
		}
	})
}

// FuzzIntervalRoundTrip: the text output of an interval parses back to it.
func FuzzIntervalRoundTrip(f *testing.F) {
	f.Add(int32(14), int32(3), int64(3723000000000))
	f.Add(int32(-1), int32(0), int64(-1000))
	f.Add(int32(0), int32(0), int64(0))
	f.Fuzz(func(t *testing.T, m, d int32, ns int64) {
		v := mdn{Months: m, Days: d, Nanoseconds: ns / 1000 * 1000}
		if v.Nanoseconds > 1e18 || v.Nanoseconds < -1e18 {
			return
		}
		txt := string(appendInterval(nil, v))
		got, err := parseInterval(txt)
		if err != nil {
			t.Fatalf("%+v -> %q: %v", v, txt, err)
		}
		if got != v {
			t.Fatalf("%+v -> %q -> %+v", v, txt, got)
		}
		_, _ = parseTimestamp(txt, true) // must not panic
	})
}

// FuzzCaseMapping compares the SWAR ASCII case mapping with the bytes package.
func FuzzCaseMapping(f *testing.F) {
	f.Add("Hello, World! @[`{ AZaz 0123456789")
	f.Fuzz(func(t *testing.T, s string) {
		if !isASCII([]byte(s)) {
			return
		}
		if got, want := string(appendLower(nil, []byte(s))), strings.ToLower(s); got != want {
			t.Fatalf("lower(%q) = %q, want %q", s, got, want)
		}
		if got, want := string(appendUpper(nil, []byte(s))), strings.ToUpper(s); got != want {
			t.Fatalf("upper(%q) = %q, want %q", s, got, want)
		}
	})
}

// TestParseDecimalExtremes covers inputs whose digit count or exponent goes far
// past 38 digits: rounding must still see every digit.
func TestParseDecimalExtremes(t *testing.T) {
	typ := Numeric(20, 2).(*arrow.Decimal128Type)
	for _, c := range []struct{ in, want string }{
		{"." + "007" + strings.Repeat("0", 90), "1"},
		{"0.004" + strings.Repeat("9", 100), "0"},
		{"0.005" + strings.Repeat("0", 100), "1"},
		{"5" + strings.Repeat("0", 100) + "e-103", "1"},
		{"1e-9223372036854775808", "0"},
		{"0e9223372036854775807", "0"},
		{"-0.00500e0", "-1"},
	} {
		got, err := parseDecimal(c.in, typ)
		if err != nil {
			t.Fatalf("%.30q: %v", c.in, err)
		}
		if got.BigInt().String() != c.want {
			t.Errorf("%.30q: got %s want %s", c.in, got.BigInt(), c.want)
		}
	}
	if _, err := parseDecimal("1e9223372036854775807", typ); err == nil {
		t.Error("1e9223372036854775807 parsed")
	}
}
