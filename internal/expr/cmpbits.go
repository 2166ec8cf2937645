package expr

// The kernels of cmpOrdered, one per operator and written out, so that each compiles
// to a loop without branches or calls that packs eight results to a byte; keep the
// six in step.

import "cmp"

// bit is 1 for true, 0 for false (compiled without a branch).
func bit(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// cmpConstEq sets bit i of out when v[i] == c, eight rows to a byte.
func cmpConstEq[T cmp.Ordered](v []T, c T, out []byte) {
	n := len(v)
	i := 0
	for ; i+8 <= n; i += 8 {
		x := v[i : i+8 : i+8]
		out[i/8] = bit(x[0] == c) | bit(x[1] == c)<<1 | bit(x[2] == c)<<2 | bit(x[3] == c)<<3 |
			bit(x[4] == c)<<4 | bit(x[5] == c)<<5 | bit(x[6] == c)<<6 | bit(x[7] == c)<<7
	}
	if i < n {
		var b byte
		for j := i; j < n; j++ {
			b |= bit(v[j] == c) << (j - i)
		}
		out[i/8] = b
	}
}

// cmpColsEq sets bit i of out when a[i] == b[i], eight rows to a byte.
func cmpColsEq[T cmp.Ordered](a, b []T, out []byte) {
	n := len(a)
	b = b[:n]
	i := 0
	for ; i+8 <= n; i += 8 {
		x, y := a[i:i+8:i+8], b[i:i+8:i+8]
		out[i/8] = bit(x[0] == y[0]) | bit(x[1] == y[1])<<1 | bit(x[2] == y[2])<<2 | bit(x[3] == y[3])<<3 |
			bit(x[4] == y[4])<<4 | bit(x[5] == y[5])<<5 | bit(x[6] == y[6])<<6 | bit(x[7] == y[7])<<7
	}
	if i < n {
		var r byte
		for j := i; j < n; j++ {
			r |= bit(a[j] == b[j]) << (j - i)
		}
		out[i/8] = r
	}
}

// cmpConstNe sets bit i of out when v[i] != c, eight rows to a byte.
func cmpConstNe[T cmp.Ordered](v []T, c T, out []byte) {
	n := len(v)
	i := 0
	for ; i+8 <= n; i += 8 {
		x := v[i : i+8 : i+8]
		out[i/8] = bit(x[0] != c) | bit(x[1] != c)<<1 | bit(x[2] != c)<<2 | bit(x[3] != c)<<3 |
			bit(x[4] != c)<<4 | bit(x[5] != c)<<5 | bit(x[6] != c)<<6 | bit(x[7] != c)<<7
	}
	if i < n {
		var b byte
		for j := i; j < n; j++ {
			b |= bit(v[j] != c) << (j - i)
		}
		out[i/8] = b
	}
}

// cmpColsNe sets bit i of out when a[i] != b[i], eight rows to a byte.
func cmpColsNe[T cmp.Ordered](a, b []T, out []byte) {
	n := len(a)
	b = b[:n]
	i := 0
	for ; i+8 <= n; i += 8 {
		x, y := a[i:i+8:i+8], b[i:i+8:i+8]
		out[i/8] = bit(x[0] != y[0]) | bit(x[1] != y[1])<<1 | bit(x[2] != y[2])<<2 | bit(x[3] != y[3])<<3 |
			bit(x[4] != y[4])<<4 | bit(x[5] != y[5])<<5 | bit(x[6] != y[6])<<6 | bit(x[7] != y[7])<<7
	}
	if i < n {
		var r byte
		for j := i; j < n; j++ {
			r |= bit(a[j] != b[j]) << (j - i)
		}
		out[i/8] = r
	}
}

// cmpConstLt sets bit i of out when v[i] < c, eight rows to a byte.
func cmpConstLt[T cmp.Ordered](v []T, c T, out []byte) {
	n := len(v)
	i := 0
	for ; i+8 <= n; i += 8 {
		x := v[i : i+8 : i+8]
		out[i/8] = bit(x[0] < c) | bit(x[1] < c)<<1 | bit(x[2] < c)<<2 | bit(x[3] < c)<<3 |
			bit(x[4] < c)<<4 | bit(x[5] < c)<<5 | bit(x[6] < c)<<6 | bit(x[7] < c)<<7
	}
	if i < n {
		var b byte
		for j := i; j < n; j++ {
			b |= bit(v[j] < c) << (j - i)
		}
		out[i/8] = b
	}
}

// cmpColsLt sets bit i of out when a[i] < b[i], eight rows to a byte.
func cmpColsLt[T cmp.Ordered](a, b []T, out []byte) {
	n := len(a)
	b = b[:n]
	i := 0
	for ; i+8 <= n; i += 8 {
		x, y := a[i:i+8:i+8], b[i:i+8:i+8]
		out[i/8] = bit(x[0] < y[0]) | bit(x[1] < y[1])<<1 | bit(x[2] < y[2])<<2 | bit(x[3] < y[3])<<3 |
			bit(x[4] < y[4])<<4 | bit(x[5] < y[5])<<5 | bit(x[6] < y[6])<<6 | bit(x[7] < y[7])<<7
	}
	if i < n {
		var r byte
		for j := i; j < n; j++ {
			r |= bit(a[j] < b[j]) << (j - i)
		}
		out[i/8] = r
	}
}

// cmpConstLe sets bit i of out when v[i] <= c, eight rows to a byte.
func cmpConstLe[T cmp.Ordered](v []T, c T, out []byte) {
	n := len(v)
	i := 0
	for ; i+8 <= n; i += 8 {
		x := v[i : i+8 : i+8]
		out[i/8] = bit(x[0] <= c) | bit(x[1] <= c)<<1 | bit(x[2] <= c)<<2 | bit(x[3] <= c)<<3 |
			bit(x[4] <= c)<<4 | bit(x[5] <= c)<<5 | bit(x[6] <= c)<<6 | bit(x[7] <= c)<<7
	}
	if i < n {
		var b byte
		for j := i; j < n; j++ {
			b |= bit(v[j] <= c) << (j - i)
		}
		out[i/8] = b
	}
}

// cmpColsLe sets bit i of out when a[i] <= b[i], eight rows to a byte.
func cmpColsLe[T cmp.Ordered](a, b []T, out []byte) {
	n := len(a)
	b = b[:n]
	i := 0
	for ; i+8 <= n; i += 8 {
		x, y := a[i:i+8:i+8], b[i:i+8:i+8]
		out[i/8] = bit(x[0] <= y[0]) | bit(x[1] <= y[1])<<1 | bit(x[2] <= y[2])<<2 | bit(x[3] <= y[3])<<3 |
			bit(x[4] <= y[4])<<4 | bit(x[5] <= y[5])<<5 | bit(x[6] <= y[6])<<6 | bit(x[7] <= y[7])<<7
	}
	if i < n {
		var r byte
		for j := i; j < n; j++ {
			r |= bit(a[j] <= b[j]) << (j - i)
		}
		out[i/8] = r
	}
}

// cmpConstGt sets bit i of out when v[i] > c, eight rows to a byte.
func cmpConstGt[T cmp.Ordered](v []T, c T, out []byte) {
	n := len(v)
	i := 0
	for ; i+8 <= n; i += 8 {
		x := v[i : i+8 : i+8]
		out[i/8] = bit(x[0] > c) | bit(x[1] > c)<<1 | bit(x[2] > c)<<2 | bit(x[3] > c)<<3 |
			bit(x[4] > c)<<4 | bit(x[5] > c)<<5 | bit(x[6] > c)<<6 | bit(x[7] > c)<<7
	}
	if i < n {
		var b byte
		for j := i; j < n; j++ {
			b |= bit(v[j] > c) << (j - i)
		}
		out[i/8] = b
	}
}

// cmpColsGt sets bit i of out when a[i] > b[i], eight rows to a byte.
func cmpColsGt[T cmp.Ordered](a, b []T, out []byte) {
	n := len(a)
	b = b[:n]
	i := 0
	for ; i+8 <= n; i += 8 {
		x, y := a[i:i+8:i+8], b[i:i+8:i+8]
		out[i/8] = bit(x[0] > y[0]) | bit(x[1] > y[1])<<1 | bit(x[2] > y[2])<<2 | bit(x[3] > y[3])<<3 |
			bit(x[4] > y[4])<<4 | bit(x[5] > y[5])<<5 | bit(x[6] > y[6])<<6 | bit(x[7] > y[7])<<7
	}
	if i < n {
		var r byte
		for j := i; j < n; j++ {
			r |= bit(a[j] > b[j]) << (j - i)
		}
		out[i/8] = r
	}
}

// cmpConstGe sets bit i of out when v[i] >= c, eight rows to a byte.
func cmpConstGe[T cmp.Ordered](v []T, c T, out []byte) {
	n := len(v)
	i := 0
	for ; i+8 <= n; i += 8 {
		x := v[i : i+8 : i+8]
		out[i/8] = bit(x[0] >= c) | bit(x[1] >= c)<<1 | bit(x[2] >= c)<<2 | bit(x[3] >= c)<<3 |
			bit(x[4] >= c)<<4 | bit(x[5] >= c)<<5 | bit(x[6] >= c)<<6 | bit(x[7] >= c)<<7
	}
	if i < n {
		var b byte
		for j := i; j < n; j++ {
			b |= bit(v[j] >= c) << (j - i)
		}
		out[i/8] = b
	}
}

// cmpColsGe sets bit i of out when a[i] >= b[i], eight rows to a byte.
func cmpColsGe[T cmp.Ordered](a, b []T, out []byte) {
	n := len(a)
	b = b[:n]
	i := 0
	for ; i+8 <= n; i += 8 {
		x, y := a[i:i+8:i+8], b[i:i+8:i+8]
		out[i/8] = bit(x[0] >= y[0]) | bit(x[1] >= y[1])<<1 | bit(x[2] >= y[2])<<2 | bit(x[3] >= y[3])<<3 |
			bit(x[4] >= y[4])<<4 | bit(x[5] >= y[5])<<5 | bit(x[6] >= y[6])<<6 | bit(x[7] >= y[7])<<7
	}
	if i < n {
		var r byte
		for j := i; j < n; j++ {
			r |= bit(a[j] >= b[j]) << (j - i)
		}
		out[i/8] = r
	}
}
