package expr

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// rowStr runs f on every non-NULL row of the (materialized) args, building a text
// (or bytea) result; f appends the row's value to dst. NULL in any arg gives NULL.
func rowStr(ctx *Context, args []datum, n int, dt arrow.DataType, f func(dst []byte, i int) ([]byte, error)) (arrow.Array, error) {
	mem := ctx.mem()
	var arrs []arrow.Array
	hint := 0
	for _, a := range args {
		if a.arr != nil {
			arrs = append(arrs, a.arr)
			if id := a.arr.DataType().ID(); hint == 0 && (id == arrow.STRING || id == arrow.BINARY) {
				s := strsOf(a.arr)
				if len(s.off) > 0 {
					hint = int(s.off[len(s.off)-1] - s.off[0])
				}
			}
		}
	}
	vb, nulls := andValidity(mem, n, arrs...)
	var valid []byte
	if vb != nil {
		valid = vb.Bytes()
	}
	sb := newStrBuilder(mem, n, hint)
	for i := range n {
		if !validAt(valid, i) {
			sb.add(nil)
			continue
		}
		// f appends straight into the result's data
		var err error
		sb.data, err = f(sb.data, i)
		if err != nil {
			if vb != nil {
				vb.Release()
			}
			return nil, err
		}
		sb.off = append(sb.off, int32(len(sb.data)))
	}
	return sb.finish(dt, vb, nulls), nil
}

// rowFixed runs f on every non-NULL row, building a fixed-width result.
func rowFixed[R any](ctx *Context, args []datum, n int, dt arrow.DataType, f func(i int) (R, error)) (arrow.Array, error) {
	mem := ctx.mem()
	var arrs []arrow.Array
	for _, a := range args {
		if a.arr != nil {
			arrs = append(arrs, a.arr)
		}
	}
	vb, nulls := andValidity(mem, n, arrs...)
	var valid []byte
	if vb != nil {
		valid = vb.Bytes()
	}
	ob, out := allocFixed[R](mem, n)
	for i := range n {
		if !validAt(valid, i) {
			var z R
			out[i] = z
			continue
		}
		r, err := f(i)
		if err != nil {
			ob.Release()
			if vb != nil {
				vb.Release()
			}
			return nil, err
		}
		out[i] = r
	}
	return makeArray(dt, n, nulls, vb, ob), nil
}

func isASCII(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b)&0x8080808080808080 != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

var lowerASCII, upperASCII [256]byte

func init() {
	for i := range 256 {
		c := byte(i)
		lowerASCII[i], upperASCII[i] = c, c
		if 'A' <= c && c <= 'Z' {
			lowerASCII[i] = c + 'a' - 'A'
		}
		if 'a' <= c && c <= 'z' {
			upperASCII[i] = c - ('a' - 'A')
		}
	}
}

// mapASCII appends s (all ASCII) case-mapped: eight bytes at a time with a SWAR
// range test (no byte is >= 0x80, so the adds do not carry between bytes).
func mapASCII(dst, s []byte, table *[256]byte) []byte {
	k := len(dst)
	dst = append(dst, s...)
	out := dst[k:]
	lower := table == &lowerASCII
	for len(out) >= 8 {
		w := binary.LittleEndian.Uint64(out)
		var ge, gt uint64
		if lower {
			ge = w + 0x3f3f3f3f3f3f3f3f // high bit: byte >= 'A'
			gt = w + 0x2525252525252525 // high bit: byte > 'Z'
		} else {
			ge = w + 0x1f1f1f1f1f1f1f1f // >= 'a'
			gt = w + 0x0505050505050505 // > 'z'
		}
		m := (ge &^ gt) & 0x8080808080808080
		w ^= m >> 2 // flip the 0x20 bit of letters in range
		binary.LittleEndian.PutUint64(out, w)
		out = out[8:]
	}
	for i, c := range out {
		out[i] = table[c]
	}
	return dst
}

func appendLower(dst, s []byte) []byte {
	if isASCII(s) {
		return mapASCII(dst, s, &lowerASCII)
	}
	return append(dst, bytes.ToLower(s)...)
}

func appendUpper(dst, s []byte) []byte {
	if isASCII(s) {
		return mapASCII(dst, s, &upperASCII)
	}
	return append(dst, bytes.ToUpper(s)...)
}

func textArgs(name string, args []Expr, min, max int) ([]Expr, error) {
	if len(args) < min || len(args) > max {
		return nil, noFunction(name, args)
	}
	return argsAs(name, args, Text, isText)
}

func registerStrings() {
	unary := func(f func(dst, s []byte) []byte) resolver {
		return func(name string, args []Expr) (*Call, error) {
			args, err := textArgs(name, args, 1, 1)
			if err != nil {
				return nil, err
			}
			return newCall(name, Text, strictKernel(func(ctx *Context, c *Call, d []datum, n int) (arrow.Array, error) {
				s := strsOf(d[0].arr)
				return rowStr(ctx, d, n, Text, func(dst []byte, i int) ([]byte, error) { return f(dst, s.at(i)), nil })
			}), args...), nil
		}
	}
	register(unary(appendLower), "lower")
	register(unary(appendUpper), "upper")
	register(unary(func(dst, s []byte) []byte {
		for len(s) > 0 {
			r, size := utf8.DecodeLastRune(s)
			dst = utf8.AppendRune(dst, r)
			s = s[:len(s)-size]
		}
		return dst
	}), "reverse")
	register(func(name string, args []Expr) (*Call, error) {
		if len(args) == 1 && args[0].Type().ID() == arrow.BINARY {
			return newCall(name, Int32, strictKernel(func(ctx *Context, c *Call, d []datum, n int) (arrow.Array, error) {
				s := strsOf(d[0].arr)
				return rowFixed(ctx, d, n, Int32, func(i int) (int32, error) { return int32(len(s.at(i))), nil })
			}), args...), nil
		}
		args, err := textArgs(name, args, 1, 1)
		if err != nil {
			return nil, err
		}
		bytesOnly := name == "octet_length"
		return newCall(name, Int32, strictKernel(func(ctx *Context, c *Call, d []datum, n int) (arrow.Array, error) {
			s := strsOf(d[0].arr)
			return rowFixed(ctx, d, n, Int32, func(i int) (int32, error) {
				if bytesOnly {
					return int32(len(s.at(i))), nil
				}
				return int32(utf8.RuneCount(s.at(i))), nil
			})
		}), args...), nil
	}, "length", "char_length", "character_length", "octet_length")
	register(resolveSubstr, "substr", "substring")
	register(func(name string, args []Expr) (*Call, error) {
		cargs := make([]Expr, len(args))
		for i, a := range args {
			c, err := coerce(a, Text)
			if err != nil {
				return nil, err
			}
			cargs[i] = c
		}
		return newCall(name, Text, &kernel{fn: concatKernel(true)}, cargs...), nil
	}, "concat")
	register(resolveTrim, "trim", "btrim", "ltrim", "rtrim")
	register(func(name string, args []Expr) (*Call, error) {
		args, err := textArgs(name, args, 3, 3)
		if err != nil {
			return nil, err
		}
		return newCall(name, Text, strictKernel(func(ctx *Context, c *Call, d []datum, n int) (arrow.Array, error) {
			s, from, to := bytesOperand(d[0]), bytesOperand(d[1]), bytesOperand(d[2])
			return rowStr(ctx, d, n, Text, func(dst []byte, i int) ([]byte, error) {
				f := from.at(i)
				if len(f) == 0 {
					return append(dst, s.at(i)...), nil
				}
				return appendReplace(dst, s.at(i), f, to.at(i)), nil
			})
		}), args...), nil
	}, "replace")
	register(func(name string, args []Expr) (*Call, error) {
		args, err := textArgs(name, args, 2, 2)
		if err != nil {
			return nil, err
		}
		return newCall(name, Int32, strictKernel(func(ctx *Context, c *Call, d []datum, n int) (arrow.Array, error) {
			s, sub := bytesOperand(d[0]), bytesOperand(d[1])
			return rowFixed(ctx, d, n, Int32, func(i int) (int32, error) {
				k := bytes.Index(s.at(i), sub.at(i))
				if k < 0 {
					return 0, nil
				}
				return int32(utf8.RuneCount(s.at(i)[:k])) + 1, nil
			})
		}), args...), nil
	}, "strpos", "position")
	register(func(name string, args []Expr) (*Call, error) {
		args, err := textArgs(name, args, 2, 2)
		if err != nil {
			return nil, err
		}
		return newCall(name, Bool, strictKernel(func(ctx *Context, c *Call, d []datum, n int) (arrow.Array, error) {
			arrs, err := materialize(ctx, d, n)
			if err != nil {
				return nil, err
			}
			defer releaseArrays(arrs)
			s, p := strsOf(arrs[0]), strsOf(arrs[1])
			vb, nulls := andValidity(ctx.mem(), n, arrs...)
			ob, out := allocBits(ctx.mem(), n)
			packBits(out, n, func(i int) bool { return bytes.HasPrefix(s.at(i), p.at(i)) })
			return makeArray(Bool, n, nulls, vb, ob), nil
		}), args...), nil
	}, "starts_with")
	register(func(name string, args []Expr) (*Call, error) {
		if len(args) != 2 {
			return nil, noFunction(name, args)
		}
		s, err := argsAs(name, args[:1], Text, isText)
		if err != nil {
			return nil, err
		}
		k, err := coerce(args[1], Int32)
		if err != nil || !isInt(k.Type()) {
			return nil, noFunction(name, args)
		}
		if k, err = coerce(k, Int32); err != nil {
			return nil, err
		}
		left := name == "left"
		return newCall(name, Text, strictKernel(func(ctx *Context, c *Call, d []datum, n int) (arrow.Array, error) {
			s, kv := bytesOperand(d[0]), operandOf[int32](d[1])
			return rowStr(ctx, d, n, Text, func(dst []byte, i int) ([]byte, error) {
				r := []rune(string(s.at(i)))
				k := int(kv.at(i))
				if k < 0 {
					k = max(0, len(r)+k)
				}
				k = min(k, len(r))
				if left {
					return append(dst, string(r[:k])...), nil
				}
				return append(dst, string(r[len(r)-k:])...), nil
			})
		}), s[0], k), nil
	}, "left", "right")
}

func appendReplace(dst, s, from, to []byte) []byte {
	for {
		k := bytes.Index(s, from)
		if k < 0 {
			return append(dst, s...)
		}
		dst = append(dst, s[:k]...)
		dst = append(dst, to...)
		s = s[k+len(from):]
	}
}

// resolveSubstr: substr(text, start[, count]), 1-based in characters. A start
// below 1 counts the missing positions against count, as in PostgreSQL:
// substr('hello', 0, 3) = 'he'; a negative count is an error.
func resolveSubstr(name string, args []Expr) (*Call, error) {
	if len(args) < 2 || len(args) > 3 {
		return nil, noFunction(name, args)
	}
	s, err := argsAs(name, args[:1], Text, isText)
	if err != nil {
		return nil, err
	}
	out := []Expr{s[0]}
	for _, a := range args[1:] {
		c, err := coerce(a, Int32)
		if err != nil || !isInt(c.Type()) {
			return nil, noFunction(name, args)
		}
		if c, err = coerce(c, Int64); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return newCall(name, Text, strictKernel(func(ctx *Context, c *Call, d []datum, n int) (arrow.Array, error) {
		str, start := bytesOperand(d[0]), operandOf[int64](d[1])
		var count operand[int64]
		hasCount := len(d) == 3
		if hasCount {
			count = operandOf[int64](d[2])
		}
		return rowStr(ctx, d, n, Text, func(dst []byte, i int) ([]byte, error) {
			v := str.at(i)
			st := start.at(i)
			end := int64(1 << 62)
			if hasCount {
				k := count.at(i)
				if k < 0 {
					return nil, fmt.Errorf("%w: negative substring length not allowed", ErrInvalidArg)
				}
				end = st + k  // exclusive, 1-based
				if end < st { // overflow
					end = 1 << 62
				}
			}
			if st < 1 {
				st = 1
			}
			if end <= st {
				return dst, nil
			}
			// walk characters
			pos := int64(1)
			from, to := -1, len(v)
			for b := 0; b < len(v); {
				if pos == st {
					from = b
				}
				if pos == end {
					to = b
					break
				}
				if v[b] < utf8.RuneSelf {
					b++
				} else {
					_, sz := utf8.DecodeRune(v[b:])
					b += sz
				}
				pos++
			}
			if from < 0 {
				return dst, nil
			}
			return append(dst, v[from:to]...), nil
		})
	}), out...), nil
}

// resolveTrim: trim/btrim/ltrim/rtrim(text[, characters]); the default removes
// spaces.
func resolveTrim(name string, args []Expr) (*Call, error) {
	args, err := textArgs(name, args, 1, 2)
	if err != nil {
		return nil, err
	}
	left, right := name != "rtrim", name != "ltrim"
	return newCall(name, Text, strictKernel(func(ctx *Context, c *Call, d []datum, n int) (arrow.Array, error) {
		s := bytesOperand(d[0])
		chars := bytesOp{c: []byte(" "), vc: true}
		if len(d) == 2 {
			chars = bytesOperand(d[1])
		}
		return rowStr(ctx, d, n, Text, func(dst []byte, i int) ([]byte, error) {
			v, cs := string(s.at(i)), string(chars.at(i))
			if left {
				v = strings.TrimLeft(v, cs)
			}
			if right {
				v = strings.TrimRight(v, cs)
			}
			return append(dst, v...), nil
		})
	}), args...), nil
}

var _ memory.Allocator
