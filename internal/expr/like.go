package expr

import (
	"bytes"
	"fmt"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
)

// likeTok is a piece of a LIKE segment: literal bytes, or '_' (any one character).
type likeTok struct {
	lit []byte
	any bool
}

// likePattern is a compiled LIKE pattern: segments separated by '%'.
type likePattern struct {
	segs        [][]likeTok
	leadPct     bool // pattern starts with %
	trailPct    bool // pattern ends with %
	kind        int  // fast path
	fixed       []byte
	insensitive bool
}

const (
	likeGeneral = iota
	likeExact
	likePrefix
	likeSuffix
	likeContains
	likeAll
)

// compileLike parses pattern with escape character esc (-1: none).
func compileLike(pattern []byte, esc rune, insensitive bool) (*likePattern, error) {
	if insensitive {
		pattern = appendLower(nil, pattern)
	}
	p := &likePattern{insensitive: insensitive}
	var seg []likeTok
	var lit []byte
	flushLit := func() {
		if len(lit) > 0 {
			seg = append(seg, likeTok{lit: lit})
			lit = nil
		}
	}
	first := true
	for i := 0; i < len(pattern); {
		r, sz := utf8.DecodeRune(pattern[i:])
		switch {
		case esc >= 0 && r == esc:
			if i+sz >= len(pattern) {
				return nil, fmt.Errorf("%w: LIKE pattern must not end with escape character", ErrInvalidArg)
			}
			_, sz2 := utf8.DecodeRune(pattern[i+sz:])
			lit = append(lit, pattern[i+sz:i+sz+sz2]...)
			i += sz + sz2
			first = false
			continue
		case r == '%':
			flushLit()
			if first {
				p.leadPct = true
			} else {
				p.segs = append(p.segs, seg)
			}
			seg = nil
			for i < len(pattern) && pattern[i] == '%' {
				i++
			}
			first = false
			if i == len(pattern) {
				p.trailPct = true
			}
			continue
		case r == '_':
			flushLit()
			seg = append(seg, likeTok{any: true})
		default:
			lit = append(lit, pattern[i:i+sz]...)
		}
		first = false
		i += sz
	}
	flushLit()
	if !p.trailPct {
		p.segs = append(p.segs, seg)
	}
	// drop empty segments between %% (can't happen) and classify
	simple := func(s []likeTok) ([]byte, bool) {
		if len(s) == 0 {
			return nil, true
		}
		if len(s) == 1 && !s[0].any {
			return s[0].lit, true
		}
		return nil, false
	}
	switch {
	case len(p.segs) == 0 && p.leadPct:
		p.kind = likeAll
	case len(p.segs) == 1:
		if lit, ok := simple(p.segs[0]); ok {
			p.fixed = lit
			switch {
			case p.leadPct && p.trailPct:
				p.kind = likeContains
			case p.leadPct:
				p.kind = likeSuffix
			case p.trailPct:
				p.kind = likePrefix
			default:
				p.kind = likeExact
			}
		}
	}
	return p, nil
}

// matchAt matches seg at s[pos:], returning the end.
func matchAt(s []byte, pos int, seg []likeTok) (int, bool) {
	for _, t := range seg {
		if t.any {
			if pos >= len(s) {
				return 0, false
			}
			if s[pos] < utf8.RuneSelf {
				pos++
			} else {
				_, sz := utf8.DecodeRune(s[pos:])
				pos += sz
			}
			continue
		}
		if !bytes.HasPrefix(s[pos:], t.lit) {
			return 0, false
		}
		pos += len(t.lit)
	}
	return pos, true
}

// findSeg finds the leftmost match of seg at or after pos (leftmost is optimal for
// a segment of fixed length in characters) and returns its end.
func findSeg(s []byte, pos int, seg []likeTok) (int, bool) {
	if len(seg) > 0 && !seg[0].any {
		// candidates start where the leading literal occurs
		lit := seg[0].lit
		for pos <= len(s) {
			k := bytes.Index(s[pos:], lit)
			if k < 0 {
				return 0, false
			}
			st := pos + k
			if end, ok := matchAt(s, st+len(lit), seg[1:]); ok {
				return end, true
			}
			pos = st + 1
		}
		return 0, false
	}
	for st := pos; st <= len(s); st++ {
		if st < len(s) && !utf8.RuneStart(s[st]) {
			continue
		}
		if end, ok := matchAt(s, st, seg); ok {
			return end, true
		}
	}
	return 0, false
}

func (p *likePattern) match(s []byte) bool {
	switch p.kind {
	case likeAll:
		return true
	case likeExact:
		return bytes.Equal(s, p.fixed)
	case likePrefix:
		return bytes.HasPrefix(s, p.fixed)
	case likeSuffix:
		return bytes.HasSuffix(s, p.fixed)
	case likeContains:
		return bytes.Contains(s, p.fixed)
	}
	segs := p.segs
	pos := 0
	last := len(segs) - 1
	for k, seg := range segs {
		anchoredStart := k == 0 && !p.leadPct
		anchoredEnd := k == last && !p.trailPct
		switch {
		case anchoredStart:
			end, ok := matchAt(s, pos, seg)
			if !ok {
				return false
			}
			if anchoredEnd {
				return end == len(s)
			}
			pos = end
		case anchoredEnd:
			// the last segment must end at the end: try each start from pos
			for st := pos; st <= len(s); st++ {
				if st > pos && st < len(s) && !utf8.RuneStart(s[st]) {
					continue
				}
				if end, ok := matchAt(s, st, seg); ok && end == len(s) {
					return true
				}
			}
			return false
		default:
			end, ok := findSeg(s, pos, seg)
			if !ok {
				return false
			}
			pos = end
		}
	}
	return true
}

// resolveLike: like(x, pattern[, escape]); escape defaults to backslash and ”
// disables it.
func resolveLike(name string, args []Expr) (*Call, error) {
	if len(args) < 2 || len(args) > 3 {
		return nil, noFunction(name, args)
	}
	args, err := argsAs(name, args, Text, isText)
	if err != nil {
		return nil, noOperator(map[string]string{"like": "~~", "ilike": "~~*", "not_like": "!~~", "not_ilike": "!~~*"}[name], args)
	}
	if len(args) == 2 {
		args = append(args, NewLit(`\`))
	}
	insensitive := name == "ilike" || name == "not_ilike"
	negate := name == "not_like" || name == "not_ilike"
	var pre *likePattern // compiled once when pattern and escape are constants
	pl, ok1 := args[1].(*Literal)
	el, ok2 := args[2].(*Literal)
	if ok1 && ok2 && pl.Value.IsValid() && el.Value.IsValid() {
		esc, err := escRune(constBytes(el.Value))
		if err != nil {
			return nil, err
		}
		if pre, err = compileLike(constBytes(pl.Value), esc, insensitive); err != nil {
			return nil, err
		}
	}
	return newCall(name, Bool, strictKernel(func(ctx *Context, c *Call, d []datum, n int) (arrow.Array, error) {
		return likeKernel(ctx, d, n, pre, insensitive, negate)
	}), args...), nil
}

func escRune(b []byte) (rune, error) {
	if len(b) == 0 {
		return -1, nil
	}
	r, sz := utf8.DecodeRune(b)
	if sz != len(b) {
		return 0, fmt.Errorf("%w: invalid escape string (must be empty or one character)", ErrInvalidArg)
	}
	return r, nil
}

func likeKernel(ctx *Context, d []datum, n int, pre *likePattern, insensitive, negate bool) (arrow.Array, error) {
	mem := ctx.mem()
	vb, nulls := andValidity(mem, n, d[0].arr, d[1].arr, d[2].arr)
	ob, out := allocBits(mem, n)
	s, pat, esc := bytesOperand(d[0]), bytesOperand(d[1]), bytesOperand(d[2])
	var valid []byte
	if vb != nil {
		valid = vb.Bytes()
	}
	p := pre
	var lastPat, lastEsc []byte
	var buf []byte
	for i := range n {
		if !validAt(valid, i) {
			continue
		}
		if pre == nil {
			pb, eb := pat.at(i), esc.at(i)
			if p == nil || !bytes.Equal(pb, lastPat) || !bytes.Equal(eb, lastEsc) {
				e, err := escRune(eb)
				if err == nil {
					p, err = compileLike(pb, e, insensitive)
				}
				if err != nil {
					ob.Release()
					if vb != nil {
						vb.Release()
					}
					return nil, err
				}
				lastPat, lastEsc = pb, eb
			}
		}
		v := s.at(i)
		if insensitive {
			buf = appendLower(buf[:0], v)
			v = buf
		}
		if p.match(v) != negate {
			out[i>>3] |= 1 << (i & 7)
		}
	}
	return makeArray(Bool, n, nulls, vb, ob), nil
}
