package expr

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// A decimal column compared with a constant, over more rows than one chunk of the
// 64-bit kernel and a row count that is not a multiple of eight, gives each row its
// own answer: when every value fits 64 bits, and when one in a later chunk does not.
func TestDecimalCompareConstManyRows(t *testing.T) {
	const n = 2*1024 + 517
	const wideRow = 2000
	for _, wide := range []bool{false, true} {
		mem := newMem(t)
		var sb strings.Builder
		sb.WriteString("[")
		for i := range n {
			if i > 0 {
				sb.WriteString(",")
			}
			if wide && i == wideRow {
				sb.WriteString(`"-18446744073709551616.00"`) // -100 * 2^64 unscaled: low word 0
				continue
			}
			sb.WriteString(`"` + cents(i*7-9000) + `"`)
		}
		sb.WriteString("]")
		rb := mkBatch(t, mem, col{"d", Numeric(38, 2), sb.String()})
		c := 3*1024 - 9000 // a value in the second chunk, unscaled
		for _, op := range []string{"=", "<>", "<", "<=", ">", ">="} {
			got, err := evalTexts(t, mem, rb, call(t, op, colRef(rb, "d"), dec(cents(c), 38, 2)))
			require.NoError(t, err)
			for i := range n {
				v := i*7 - 9000
				want := map[string]bool{"=": v == c, "<>": v != c, "<": v < c, "<=": v <= c, ">": v > c, ">=": v >= c}[op]
				if wide && i == wideRow {
					want = op == "<>" || op == "<" || op == "<="
				}
				require.Equal(t, fmt.Sprint(want), got[i], "wide %v row %d: %d %s %d", wide, i, v, op, c)
			}
		}
		rb.Release()
	}
}

// cents renders v/100 with two decimals.
func cents(v int) string {
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	return fmt.Sprintf("%s%d.%02d", sign, v/100, v%100)
}
