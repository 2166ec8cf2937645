package reduce

import (
	"cmp"
	"slices"
)

// sortEntry is a row to sort: its key prefix and its reference.
type sortEntry struct{ key, ref uint64 }

// radixMin is the size under which a comparison sort beats the radix passes.
const radixMin = 256

// radixSort sorts ents by key, stably, with tmp (at least as long) as scratch, and
// returns the sorted entries (ents or tmp). It is an LSD radix sort over bytes that
// skips the bytes on which every key agrees (the high bytes of small integers), so
// sorting n int64 keys costs a few linear passes, not n log n comparisons.
func radixSort(ents, tmp []sortEntry) []sortEntry {
	if len(ents) < radixMin {
		slices.SortStableFunc(ents, func(a, b sortEntry) int { return cmp.Compare(a.key, b.key) })
		return ents
	}
	var counts [8][256]int
	for _, e := range ents {
		k := e.key
		counts[0][byte(k)]++
		counts[1][byte(k>>8)]++
		counts[2][byte(k>>16)]++
		counts[3][byte(k>>24)]++
		counts[4][byte(k>>32)]++
		counts[5][byte(k>>40)]++
		counts[6][byte(k>>48)]++
		counts[7][byte(k>>56)]++
	}
	src, dst := ents, tmp[:len(ents)]
	for d := range 8 {
		c := &counts[d]
		shift := 8 * d
		if c[byte(src[0].key>>shift)] == len(src) {
			continue // every key has this byte
		}
		sum := 0
		for i, n := range c {
			c[i] = sum
			sum += n
		}
		for _, e := range src {
			b := byte(e.key >> shift)
			dst[c[b]] = e
			c[b]++
		}
		src, dst = dst, src
	}
	return src
}
