package reduce

import (
	"cmp"
	"fmt"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/internal/order"
)

// A sort compares rows of several batches (its sources: the batches of a run held in
// memory, or the current batches of the runs a merge reads) by reference (order.Ref:
// the source's index in the upper 32 bits, the row in the lower) with the typed
// comparators of package order, which shuffle's RangePartitioner shares. Each row also
// gets a 64-bit prefix of its first key, order-preserving, so most comparisons are
// one integer compare; only rows whose prefixes tie go through the comparators of the
// key columns, one function call per column.

func refSrc(r uint64) int       { return order.Src(r) }
func refPos(r uint64) int       { return order.Row(r) }
func mkRef(src, row int) uint64 { return order.Ref(src, row) }

// sortKeyCol is one resolved key of a sort order.
type sortKeyCol struct {
	*order.Column
	col  int // column index in the schema
	name string
}

// resolveSortKeys resolves keys against schema s; errors name the column.
func resolveSortKeys(s *change.Schema, keys []SortKey) ([]*sortKeyCol, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no sort keys", ErrSortConfig)
	}
	out := make([]*sortKeyCol, len(keys))
	for i, k := range keys {
		c := s.FieldIndex(k.Column)
		if c < 0 {
			return nil, fmt.Errorf("%w: sort key %q is not a column of %s", ErrSortConfig, k.Column, s)
		}
		oc, err := order.New(s.Field(c).Type, k.Desc, k.NullsFirst)
		if err != nil {
			return nil, fmt.Errorf("%w: sort key %q: %v", ErrSortConfig, k.Column, err)
		}
		out[i] = &sortKeyCol{Column: oc, col: c, name: k.Column}
	}
	return out, nil
}

// setSource makes b source i of every key.
func setSource(keys []*sortKeyCol, i int, b *change.Batch) {
	for _, k := range keys {
		k.Set(i, b.Column(k.col))
	}
}

// keysComparator compares rows by keys[from:] (0 when they tie on all of them).
func keysComparator(keys []*sortKeyCol, from int) func(x, y uint64) int {
	cols := make([]*order.Column, 0, len(keys)-from)
	for _, k := range keys[from:] {
		cols = append(cols, k.Column)
	}
	if len(cols) == 0 {
		return func(x, y uint64) int { return 0 }
	}
	return order.Comparator(cols)
}

// rowComparator compares rows by keys[from:], then by reference, so that a sort by
// it is stable when references follow input order.
func rowComparator(keys []*sortKeyCol, from int) func(x, y uint64) int {
	c := keysComparator(keys, from)
	return func(x, y uint64) int {
		if r := c(x, y); r != 0 {
			return r
		}
		return cmp.Compare(x, y)
	}
}
