package tpchgen

import (
	"sync"
)

// textPoolSize is large enough that comments rarely repeat within a table at small
// scale factors (dbgen uses 300 MB; substrings of a smaller pool serve the queries).
const textPoolSize = 8 << 20

var textPool = sync.OnceValue(func() string {
	r := newRNG(0x7e47, 0, 0) // fixed: the pool is the same for every seed, as dbgen's
	b := make([]byte, 0, textPoolSize+256)
	word := func(ws []string) { b = append(b, ws[r.pick(len(ws))]...) }
	nounPhrase := func() {
		switch r.pick(4) {
		case 0:
			word(nouns)
		case 1:
			word(adjectives)
			b = append(b, ' ')
			word(nouns)
		case 2:
			word(adjectives)
			b = append(b, ", "...)
			word(adjectives)
			b = append(b, ' ')
			word(nouns)
		default:
			word(adverbs)
			b = append(b, ' ')
			word(adjectives)
			b = append(b, ' ')
			word(nouns)
		}
	}
	verbPhrase := func() {
		switch r.pick(4) {
		case 0:
			word(verbs)
		case 1:
			word(auxiliaries)
			b = append(b, ' ')
			word(verbs)
		case 2:
			word(verbs)
			b = append(b, ' ')
			word(adverbs)
		default:
			word(auxiliaries)
			b = append(b, ' ')
			word(verbs)
			b = append(b, ' ')
			word(adverbs)
		}
	}
	prepPhrase := func() {
		word(prepositions)
		b = append(b, " the "...)
		nounPhrase()
	}
	for len(b) < textPoolSize {
		nounPhrase()
		b = append(b, ' ')
		switch r.pick(5) {
		case 0:
			verbPhrase()
		case 1:
			verbPhrase()
			b = append(b, ' ')
			prepPhrase()
		case 2:
			verbPhrase()
			b = append(b, ' ')
			nounPhrase()
		case 3:
			prepPhrase()
			b = append(b, ' ')
			verbPhrase()
			b = append(b, ' ')
			nounPhrase()
		default:
			prepPhrase()
			b = append(b, ' ')
			verbPhrase()
			b = append(b, ' ')
			prepPhrase()
		}
		word(terminators)
		b = append(b, ' ')
	}
	return unsafeString(b[:textPoolSize])
})
