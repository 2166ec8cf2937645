package jsonscan

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxDepth bounds nesting in Skip, so hostile input cannot exhaust the stack.
const MaxDepth = 1000

// ErrSyntax is wrapped by every error the scanner reports.
var ErrSyntax = errors.New("invalid JSON")

// Scanner reads one JSON document. The zero value is ready after Reset.
type Scanner struct {
	data    []byte
	pos     int
	err     error
	scratch []byte
	stack   []byte
}

// Reset starts scanning data.
func (s *Scanner) Reset(data []byte) {
	s.data, s.pos, s.err = data, 0, nil
}

// Err returns the first error met, with its byte offset.
func (s *Scanner) Err() error { return s.err }

// Pos returns the current byte offset.
func (s *Scanner) Pos() int { return s.pos }

// Fail records an error at the current offset (the first error wins) and returns it.
func (s *Scanner) Fail(format string, args ...any) error {
	if s.err == nil {
		s.err = fmt.Errorf("%w at offset %d: %s", ErrSyntax, s.pos, fmt.Sprintf(format, args...))
		s.pos = len(s.data)
	}
	return s.err
}

func (s *Scanner) ws() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// Peek returns the first byte of the next token (after whitespace), or 0 at the end.
func (s *Scanner) Peek() byte {
	s.ws()
	if s.pos < len(s.data) {
		return s.data[s.pos]
	}
	return 0
}

// End reports whether only whitespace remains; otherwise it records an error.
func (s *Scanner) End() bool {
	s.ws()
	if s.err == nil && s.pos != len(s.data) {
		s.Fail("unexpected data after the value")
	}
	return s.err == nil
}

// Null consumes a null literal if one is next and reports whether it did.
func (s *Scanner) Null() bool {
	if s.Peek() == 'n' {
		if bytes.HasPrefix(s.data[s.pos:], []byte("null")) {
			s.pos += 4
			return true
		}
		s.Fail("invalid literal")
	}
	return false
}

// Bool reads true or false.
func (s *Scanner) Bool() (bool, bool) {
	switch s.Peek() {
	case 't':
		if bytes.HasPrefix(s.data[s.pos:], []byte("true")) {
			s.pos += 4
			return true, true
		}
	case 'f':
		if bytes.HasPrefix(s.data[s.pos:], []byte("false")) {
			s.pos += 5
			return false, true
		}
	}
	return false, false
}

// Object consumes '{' and reports whether it was there.
func (s *Scanner) Object() bool { return s.consume('{') }

// consume consumes c if it is the next token's first byte.
func (s *Scanner) consume(c byte) bool {
	if s.Peek() == c {
		s.pos++
		return true
	}
	return false
}

// Key returns the next key of the current object and consumes the ':' after it, or
// ok=false at the closing '}' (which it consumes) or on error. Call it after Object and
// after reading or skipping each value. The key is valid until the next call.
func (s *Scanner) Key() (key []byte, ok bool) {
	c := s.Peek()
	if c == ',' {
		s.pos++
		c = s.Peek()
		if c != '"' {
			s.Fail("expected a key after ','")
			return nil, false
		}
	} else if c == '}' {
		s.pos++
		return nil, false
	}
	if c != '"' {
		s.Fail("expected a key or '}'")
		return nil, false
	}
	return s.keyColon()
}

// Array consumes '[' and reports whether it was there.
func (s *Scanner) Array() bool { return s.consume('[') }

// More reports whether the current array has another element, consuming the ',' before
// it, or the closing ']' when it does not. first must be true for the first call.
func (s *Scanner) More(first bool) bool {
	c := s.Peek()
	if c == ']' {
		s.pos++
		return false
	}
	if !first {
		if c != ',' {
			s.Fail("expected ',' or ']'")
			return false
		}
		s.pos++
	}
	return s.err == nil && s.pos < len(s.data)
}

// String reads a string and returns its unescaped bytes: a slice of the input when it has
// no escapes, else of a scratch buffer valid until the next String call.
func (s *Scanner) String() ([]byte, bool) {
	if s.Peek() != '"' {
		return nil, false
	}
	start := s.pos + 1
	d := s.data
	// One pass over the usual short string: stop at the quote, or at the first byte
	// that needs the slow path (a backslash or a control character).
	for i := start; i < len(d); i++ {
		if c := d[i]; plain[c] == 0 {
			if c == '"' {
				s.pos = i + 1
				return d[start:i], true
			}
			return s.slowString(start, i)
		}
	}
	s.Fail("unterminated string")
	return nil, false
}

// plain[c] is 1 for bytes that can appear in a string as themselves.
var plain = func() (t [256]byte) {
	for c := 0x20; c < 256; c++ {
		t[c] = 1
	}
	t['"'], t['\\'] = 0, 0
	return t
}()

// slowString reads the rest of a string that has an escape or a control byte at i.
func (s *Scanner) slowString(start, i int) ([]byte, bool) {
	out := append(s.scratch[:0], s.data[start:i]...)
	for i < len(s.data) {
		// copy the run of plain bytes up to the next quote, backslash or control byte
		j := i
		for j < len(s.data) && plain[s.data[j]] != 0 {
			j++
		}
		out = append(out, s.data[i:j]...)
		i = j
		if i >= len(s.data) {
			break
		}
		c := s.data[i]
		switch {
		case c == '"':
			s.pos = i + 1
			s.scratch = out
			return out, true
		case c < 0x20:
			s.pos = i
			s.Fail("control character in string")
			return nil, false
		}
		if i+1 >= len(s.data) {
			break
		}
		e := s.data[i+1]
		i += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(s.data, i)
			if !ok {
				s.pos = i
				s.Fail("invalid \\u escape")
				return nil, false
			}
			i += 4
			if utf16.IsSurrogate(r) {
				if r2, ok := hex4(s.data, i+2); ok && i+1 < len(s.data) && s.data[i] == '\\' && s.data[i+1] == 'u' {
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						i += 6
						out = utf8.AppendRune(out, d)
						continue
					}
				}
				r = utf8.RuneError
			}
			out = utf8.AppendRune(out, r)
		default:
			s.pos = i - 1
			s.Fail("invalid escape '\\%c'", e)
			return nil, false
		}
	}
	s.pos = len(s.data)
	s.Fail("unterminated string")
	return nil, false
}

func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// Number reads a number and returns its raw text, validated against the JSON grammar.
// isInt is true when it has neither fraction nor exponent.
func (s *Scanner) Number() (raw []byte, isInt bool, ok bool) {
	s.ws()
	start, i := s.pos, s.pos
	d := s.data
	if i < len(d) && d[i] == '-' {
		i++
	}
	if i >= len(d) || d[i] < '0' || d[i] > '9' {
		return nil, false, false
	}
	if d[i] == '0' {
		i++
	} else {
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	}
	isInt = true
	if i < len(d) && d[i] == '.' {
		isInt = false
		i++
		j := i
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
		if i == j {
			s.pos = i
			s.Fail("invalid number")
			return nil, false, false
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		isInt = false
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		j := i
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
		if i == j {
			s.pos = i
			s.Fail("invalid number")
			return nil, false, false
		}
	}
	s.pos = i
	return d[start:i], isInt, true
}

// Skip consumes the next value of any type and returns its raw bytes.
func (s *Scanner) Skip() []byte {
	s.ws()
	start := s.pos
	if s.pos < len(s.data) {
		// scalars, the usual values skipped, need no stack
		switch c := s.data[s.pos]; {
		case c == '-' || c >= '0' && c <= '9':
			if _, _, ok := s.Number(); ok {
				return s.data[start:s.pos]
			}
		case c == 'n':
			if s.Null() {
				return s.data[start:s.pos]
			}
		case c == '"':
			if _, ok := s.String(); ok {
				return s.data[start:s.pos]
			}
		}
		if s.err != nil {
			return nil
		}
		s.pos = start
	}
	stack := s.stack[:0]
	defer func() { s.stack = stack[:0] }()
	for {
		// a value is expected here
		switch c := s.Peek(); c {
		case '{', '[':
			if len(stack) >= MaxDepth {
				s.Fail("nesting deeper than %d", MaxDepth)
				return nil
			}
			s.pos++
			if n := s.Peek(); (c == '{' && n == '}') || (c == '[' && n == ']') {
				s.pos++
				break
			}
			stack = append(stack, c)
			if c == '{' && !s.skipKey() {
				return nil
			}
			continue
		case '"':
			if _, ok := s.String(); !ok {
				s.Fail("invalid string")
				return nil
			}
		case 't', 'f':
			if _, ok := s.Bool(); !ok {
				s.Fail("invalid literal")
				return nil
			}
		case 'n':
			if !s.Null() {
				s.Fail("invalid literal")
				return nil
			}
		default:
			if _, _, ok := s.Number(); !ok {
				s.Fail("unexpected character %q", c)
				return nil
			}
		}
		// after a value: close containers, or move to the next element
		for {
			if s.err != nil {
				return nil
			}
			if len(stack) == 0 {
				return s.data[start:s.pos]
			}
			top := stack[len(stack)-1]
			c := s.Peek()
			if (top == '{' && c == '}') || (top == '[' && c == ']') {
				s.pos++
				stack = stack[:len(stack)-1]
				continue
			}
			if c != ',' {
				s.Fail("expected ',' or a closing bracket")
				return nil
			}
			s.pos++
			if top == '{' && !s.skipKey() {
				return nil
			}
			break
		}
	}
}

// skipKey consumes a key and the ':' after it.
func (s *Scanner) skipKey() bool {
	_, ok := s.keyColon()
	return ok
}

// keyColon reads a key and the ':' after it.
func (s *Scanner) keyColon() ([]byte, bool) {
	k, ok := s.String()
	if !ok {
		s.Fail("expected a key")
		return nil, false
	}
	if s.Peek() != ':' {
		s.Fail("expected ':' after key")
		return nil, false
	}
	s.pos++
	return k, true
}

// Int64 parses the raw text of an integer exactly.
func Int64(raw []byte) (int64, error) {
	if len(raw) > 0 && len(raw) < 19 {
		// fast path: fewer than 19 digits cannot overflow
		neg := raw[0] == '-'
		i := 0
		if neg {
			i = 1
		}
		if i < len(raw) {
			var n int64
			for ; i < len(raw); i++ {
				c := raw[i]
				if c < '0' || c > '9' {
					return strconv.ParseInt(string(raw), 10, 64)
				}
				n = n*10 + int64(c-'0')
			}
			if neg {
				n = -n
			}
			return n, nil
		}
	}
	return strconv.ParseInt(string(raw), 10, 64)
}

// Lit consumes lit if the unread input, after whitespace, starts with it, and reports
// whether it did: one comparison for a run of tokens the caller expects, such as a key
// and its colon or a string it has seen before. lit must end at a token boundary (a
// closing quote, colon, comma or bracket) so that a match cannot end inside a token.
func (s *Scanner) Lit(lit []byte) bool {
	s.ws()
	if len(s.data)-s.pos >= len(lit) && equal(s.data[s.pos:s.pos+len(lit)], lit) {
		s.pos += len(lit)
		return true
	}
	return false
}

// equal compares slices of equal length, the short ones (keys, enum values) with a
// few word loads instead of a call.
func equal(a, b []byte) bool {
	n := len(b)
	a = a[:n]
	switch {
	case n >= 16:
		return string(a) == string(b)
	case n >= 8:
		return binary.LittleEndian.Uint64(a) == binary.LittleEndian.Uint64(b) &&
			binary.LittleEndian.Uint64(a[n-8:]) == binary.LittleEndian.Uint64(b[n-8:])
	case n >= 4:
		return binary.LittleEndian.Uint32(a) == binary.LittleEndian.Uint32(b) &&
			binary.LittleEndian.Uint32(a[n-4:]) == binary.LittleEndian.Uint32(b[n-4:])
	}
	for i := range b {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Int reads an integer that fits int64, parsing it as it scans. For anything else (a
// larger integer, a fraction, an exponent, a leading zero, a value of another type) it
// consumes only whitespace and returns false: read it with Number.
func (s *Scanner) Int() (int64, bool) {
	s.ws()
	d := s.data
	i := s.pos
	neg := i < len(d) && d[i] == '-'
	if neg {
		i++
	}
	start := i
	var n uint64 // 19 digits fit
	for i < len(d) && i-start < 20 {
		c := d[i] - '0'
		if c > 9 {
			break
		}
		n = n*10 + uint64(c)
		i++
	}
	digits := i - start
	if digits == 0 || digits > 19 || (d[start] == '0' && digits > 1) {
		return 0, false
	}
	if i < len(d) {
		if c := d[i]; c == '.' || c == 'e' || c == 'E' {
			return 0, false
		}
	}
	if neg {
		if n > 1<<63 {
			return 0, false
		}
		s.pos = i
		return -int64(n), true
	}
	if n > 1<<63-1 {
		return 0, false
	}
	s.pos = i
	return int64(n), true
}

// Span returns the input from offset start (a Pos) to the current offset: the raw text
// of what was read since.
func (s *Scanner) Span(start int) []byte { return s.data[start:s.pos] }

// Rest returns the unread input, after whitespace.
func (s *Scanner) Rest() []byte {
	s.ws()
	return s.data[s.pos:]
}

// Advance moves past n bytes of Rest that the caller has validated itself, such as a
// value it recognised byte for byte.
func (s *Scanner) Advance(n int) {
	s.ws()
	if n < 0 || s.pos+n > len(s.data) {
		s.Fail("advance past the end")
		return
	}
	s.pos += n
}
