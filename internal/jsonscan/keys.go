package jsonscan

// Keys predicts the keys of one kind of object (a table's rows, a connector's source
// blocks) from the previous object of that kind: producers write them in the same order
// every time, so each key is then recognised by one comparison of its raw bytes instead
// of being scanned and looked up. Make one with NewKeys; it is not safe for concurrent use.
type Keys struct {
	ids  map[string]int
	seen []seenKey // the keys of the previous object, by position
}

type seenKey struct {
	raw []byte // the key as it appeared, from its opening quote through the colon
	key []byte // unescaped
	id  int
}

// NewKeys returns a predictor for objects whose known keys are names; a key's id is its
// index in names, and -1 for keys not among them.
func NewKeys(names ...string) *Keys {
	k := &Keys{ids: make(map[string]int, len(names))}
	for i, n := range names {
		if _, dup := k.ids[n]; !dup {
			k.ids[n] = i
		}
	}
	return k
}

// ID returns the id of key: its index among the names, or -1.
func (k *Keys) ID(key []byte) int {
	if id, ok := k.ids[string(key)]; ok {
		return id
	}
	return -1
}

// NextKey is Key with k's prediction: it returns the id and the unescaped text of the
// next key of the current object, i being how many keys of this object were read
// before; ok is false at the closing '}' (which it consumes) or on error. It accepts
// exactly what Key accepts, and reads what it predicted as Key would; a key that differs
// from the prediction is looked up and remembered for the next object. The key text is
// valid until k predicts another object.
func (s *Scanner) NextKey(k *Keys, i int) (id int, key []byte, ok bool) {
	c := s.Peek()
	if c == ',' {
		s.pos++
		c = s.Peek()
		if c != '"' {
			s.Fail("expected a key after ','")
			return -1, nil, false
		}
	} else if c == '}' {
		s.pos++
		return -1, nil, false
	}
	if c != '"' {
		s.Fail("expected a key or '}'")
		return -1, nil, false
	}
	if i < len(k.seen) {
		if p := &k.seen[i]; s.Lit(p.raw) {
			return p.id, p.key, true
		}
	}
	start := s.pos
	key, ok = s.keyColon()
	if !ok {
		return -1, nil, false
	}
	id = k.ID(key)
	if i <= len(k.seen) && i < maxKeys {
		if i == len(k.seen) {
			k.seen = append(k.seen, seenKey{})
		}
		p := &k.seen[i]
		p.raw = append(p.raw[:0], s.data[start:s.pos]...)
		p.key = append(p.key[:0], key...)
		p.id = id
		key = p.key
	}
	return id, key, true
}

// maxKeys bounds what a Keys remembers, so that hostile objects with huge numbers of
// keys cannot make it grow without limit.
const maxKeys = 1024
