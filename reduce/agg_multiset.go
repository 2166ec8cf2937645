package reduce

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/change"
)

// multiset counts, per group, each distinct value of one column: a key table over
// (group, value) whose entries carry the net count of rows with that value. A value
// is present while its count is above 0. Count distinct is the number of present
// values, kept up to date as counts cross 0. Min and max are kept too: a value that
// becomes present is compared with the group's best; when the best is retracted the
// group is marked, and its best is found again, among its present values, before the
// next output (one pass over the entries for all marked groups).
type multiset struct {
	spec     *msSpec
	part     keyPart // the value's part of the layout
	kind     valueKind
	t        *keyTable
	keys     *batchKeys
	cnt      []int64 // per entry
	distinct []int64 // per group
	min, max []int32 // per group: the best entry, -1 for none
	dirty    []bool
	anyDirty bool
	ids      []int32
	weights  []int64
	acct     account
}

func newMultiset(spec *msSpec, budget *change.Budget) *multiset {
	_, kind := keyClass(spec.dt)
	l := newKeyLayout([]keyKind{kindWord, kind})
	return &multiset{spec: spec, part: l.parts[1], kind: valueKindOf(spec.dt), t: newKeyTable(l, budget),
		keys: newBatchKeys(l, budget), acct: account{budget: budget}}
}

func (m *multiset) grow(groups int) {
	m.distinct = growTo(m.distinct, groups)
	if m.spec.minMax {
		n := len(m.min)
		m.min, m.max, m.dirty = growTo(m.min, groups), growTo(m.max, groups), growTo(m.dirty, groups)
		for g := n; g < groups; g++ {
			m.min[g], m.max[g] = -1, -1
		}
	}
	m.count()
}

func (m *multiset) count() {
	m.acct.set(8*int64(cap(m.cnt)+cap(m.distinct)+cap(m.weights)) + 4*int64(cap(m.min)+cap(m.max)+cap(m.ids)) + int64(cap(m.dirty)))
}

// bytes is the multiset's memory, its table included.
func (m *multiset) bytes() int64 { return m.acct.n + m.t.bytes() + m.keys.acct.n }

// add adds the values of column col of b, each to its group gids[r] with weight
// weights[r].
func (m *multiset) add(b *change.Batch, col int, gids []int32, weights []int64) {
	n := b.Len()
	loadValues(m.keys, gids, b, col)
	if cap(m.ids) < n {
		m.ids = make([]int32, n, max(n, 2*cap(m.ids)))
	}
	ids := m.ids[:n]
	m.t.insert(m.keys, ids)
	m.cnt = growTo(m.cnt, m.t.Len())
	for r, e := range ids {
		if e < 0 || weights[r] == 0 {
			continue
		}
		before := m.cnt[e] > 0
		m.cnt[e] += weights[r]
		after := m.cnt[e] > 0
		if before == after {
			continue
		}
		g := gids[r]
		if after {
			m.distinct[g]++
			if m.spec.minMax && !m.dirty[g] {
				if b := m.min[g]; b < 0 || m.compare(e, b) < 0 {
					m.min[g] = e
				}
				if b := m.max[g]; b < 0 || m.compare(e, b) > 0 {
					m.max[g] = e
				}
			}
			continue
		}
		m.distinct[g]--
		if m.spec.minMax && (m.min[g] == e || m.max[g] == e) {
			m.dirty[g], m.anyDirty = true, true
		}
	}
	m.count()
}

// update adds the values of input rows (column col of b) with their rows' signs.
func (m *multiset) update(b *change.Batch, col int, gids []int32, signs []int64) {
	m.add(b, col, gids, m.weightsOf(b.Len(), signs, nil))
}

// merge adds the values of partial rows (column col of b, their counts the next).
func (m *multiset) merge(b *change.Batch, col int, gids []int32, signs []int64) {
	m.add(b, col, gids, m.weightsOf(b.Len(), signs, b.Column(col+1).(*array.Int64).Int64Values()))
}

func (m *multiset) weightsOf(n int, signs, counts []int64) []int64 {
	if cap(m.weights) < n {
		m.weights = make([]int64, n, max(n, 2*cap(m.weights)))
	}
	w := m.weights[:n]
	for r := range w {
		w[r] = signOf(signs, r)
		if counts != nil {
			w[r] *= counts[r]
		}
	}
	return w
}

func (m *multiset) value(e int32) normValue { return tableValue(m.t, m.part, int(e)) }

func (m *multiset) group(e int) int32 { return int32(m.t.words[0][e]) }

func (m *multiset) compare(a, b int32) int { return compareNorm(m.kind, m.value(a), m.value(b)) }

// settle finds the best values of the groups whose best was retracted.
func (m *multiset) settle() {
	if !m.anyDirty {
		return
	}
	for g, d := range m.dirty {
		if d {
			m.min[g], m.max[g] = -1, -1
		}
	}
	for e, c := range m.cnt {
		if c <= 0 {
			continue
		}
		g := m.group(e)
		if !m.dirty[g] {
			continue
		}
		if b := m.min[g]; b < 0 || m.compare(int32(e), b) < 0 {
			m.min[g] = int32(e)
		}
		if b := m.max[g]; b < 0 || m.compare(int32(e), b) > 0 {
			m.max[g] = int32(e)
		}
	}
	clear(m.dirty)
	m.anyDirty = false
}

// best returns the column of min (or max) values of groups gids.
func (m *multiset) best(mem memory.Allocator, gids []int32, isMax bool) arrow.Array {
	m.settle()
	pick := m.min
	if isMax {
		pick = m.max
	}
	return buildColumn(mem, m.spec.dt, len(gids), func(i int) bool { return pick[gids[i]] < 0 },
		func(i int) normValue { return m.value(pick[gids[i]]) })
}

func (m *multiset) release() {
	m.t.release()
	m.keys.release()
	m.cnt, m.distinct, m.min, m.max, m.dirty, m.ids, m.weights = nil, nil, nil, nil, nil, nil, nil
	m.acct.set(0)
}

// msAgg is an aggregate answered by a multiset: count distinct, or min or max of an
// input with retractions. Its state is the multiset's.
type msAgg struct {
	sp *aggSpec
	m  *multiset
}

func (a *msAgg) grow(int)                                      {}
func (a *msAgg) bytes() int64                                  { return 0 }
func (a *msAgg) perGroup() int64                               { return 0 }
func (a *msAgg) update(arrow.Array, []int32, []int64) error    { return nil }
func (a *msAgg) merge([]arrow.Array, []int32, []int64) error   { return nil }
func (a *msAgg) state(memory.Allocator, []int32) []arrow.Array { return nil }

func (a *msAgg) output(mem memory.Allocator, gids []int32) (arrow.Array, error) {
	if a.sp.Func == CountDistinct {
		return int64Array(mem, gids, func(g int32) int64 { return a.m.distinct[g] }), nil
	}
	return a.m.best(mem, gids, a.sp.Func == Max), nil
}
