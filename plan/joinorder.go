package plan

import (
	"math"
	"math/bits"
	"sort"

	"github.com/strata-data/strata/internal/expr"
)

// joinGraph is a cluster of inner joins flattened for ordering: its leaves, the
// conditions over their concatenated columns, and the equivalence classes of columns
// that equality conditions make equal (a = b and b = c also join a with c).
type joinGraph struct {
	leaves []Node
	rows   []float64 // estimated rows of each leaf
	starts []int     // global column offset of each leaf
	conds  []expr.Expr
	masks  []uint64 // leaves each condition reads
	class  []int    // equivalence class of each condition, -1 when not a column equality
	// members lists each class's columns; ndv their estimated distinct values
	members [][]int
	ndv     map[int]float64
	// sameLeaf marks the classes with two columns of one leaf (not equal in the leaf)
	sameLeaf []bool
	cards    map[uint64]float64
}

// joinTree is a join order: a leaf, or the join of two trees (left the probe side).
type joinTree struct {
	leaf        int
	left, right *joinTree
	mask        uint64
}

// maxDPLeaves bounds the clusters ordered by dynamic programming (3^n splits).
const maxDPLeaves = 12

func newJoinGraph(leaves []Node, conds []expr.Expr) *joinGraph {
	g := &joinGraph{leaves: leaves, conds: conds, ndv: map[int]float64{}, cards: map[uint64]float64{}}
	off := 0
	for _, l := range leaves {
		g.starts = append(g.starts, off)
		off += len(l.Fields())
		g.rows = append(g.rows, estimate(l))
	}
	parent := make([]int, off)
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(x int) int {
		for parent[x] != x {
			parent[x] = parent[parent[x]]
			x = parent[x]
		}
		return x
	}
	pairs := make([][2]int, len(conds))
	for i, c := range conds {
		var m uint64
		for _, col := range expr.Columns(c) {
			m |= 1 << g.leafOf(col)
		}
		g.masks = append(g.masks, m)
		pairs[i] = [2]int{-1, -1}
		if a, b, ok := columnEquality(c); ok && g.leafOf(a) != g.leafOf(b) {
			pairs[i] = [2]int{a, b}
			parent[find(a)] = find(b)
		}
	}
	ids := map[int]int{}
	g.class = make([]int, len(conds))
	for i, p := range pairs {
		g.class[i] = -1
		if p[0] < 0 {
			continue
		}
		root := find(p[0])
		id, ok := ids[root]
		if !ok {
			id = len(g.members)
			ids[root] = id
			g.members = append(g.members, nil)
		}
		g.class[i] = id
	}
	for col := range parent {
		if id, ok := ids[find(col)]; ok {
			g.members[id] = append(g.members[id], col)
			leaf := g.leafOf(col)
			g.ndv[col] = math.Max(ndvOf(leaves[leaf], col-g.starts[leaf], g.rows[leaf]), 1)
		}
	}
	g.sameLeaf = make([]bool, len(g.members))
	for k, ms := range g.members {
		seen := map[int]bool{}
		for _, col := range ms {
			l := g.leafOf(col)
			g.sameLeaf[k] = g.sameLeaf[k] || seen[l]
			seen[l] = true
		}
	}
	return g
}

// columnEquality matches "column = column" of hash-compatible types.
func columnEquality(e expr.Expr) (a, b int, ok bool) {
	c, isCall := e.(*expr.Call)
	if !isCall || c.Name != "=" || len(c.Args) != 2 {
		return 0, 0, false
	}
	x, okX := c.Args[0].(*expr.Column)
	y, okY := c.Args[1].(*expr.Column)
	if !okX || !okY || !keyCompatible(x.T, y.T) {
		return 0, 0, false
	}
	return x.Index, y.Index, true
}

func (g *joinGraph) leafOf(col int) int {
	return sort.Search(len(g.starts), func(i int) bool { return g.starts[i] > col }) - 1
}

// card estimates the rows of the join of the leaves in mask: the product of their rows,
// times 1/ndv for every member of an equivalence class present but the one with the
// fewest distinct values, times 1/2 for every other condition they cover.
func (g *joinGraph) card(mask uint64) float64 {
	if c, ok := g.cards[mask]; ok {
		return c
	}
	r := 1.0
	for i := range g.leaves {
		if mask&(1<<i) != 0 {
			r *= g.rows[i]
		}
	}
	for i, m := range g.masks {
		if g.class[i] < 0 && m&mask == m && bits.OnesCount64(m) > 1 {
			r *= 0.5
		}
	}
	for _, ms := range g.members {
		n, least := 0, math.Inf(1)
		for _, col := range ms {
			if mask&(1<<g.leafOf(col)) != 0 {
				n++
				d := g.ndv[col]
				r /= d
				least = math.Min(least, d)
			}
		}
		if n > 0 {
			r *= least
		}
	}
	r = math.Max(r, 1)
	g.cards[mask] = r
	return r
}

// connected reports whether a condition joins the leaves of a with those of b.
func (g *joinGraph) connected(a, b uint64) bool {
	for i, m := range g.masks {
		if g.class[i] < 0 && m&(a|b) == m && m&a != 0 && m&b != 0 {
			return true
		}
	}
	for _, ms := range g.members {
		var inA, inB bool
		for _, col := range ms {
			l := uint64(1) << g.leafOf(col)
			inA = inA || a&l != 0
			inB = inB || b&l != 0
		}
		if inA && inB {
			return true
		}
	}
	return false
}

// joinCost is the work of a hash join of a and b: the larger side probes, the smaller
// is built (a row built costs about two probed), and the output is produced.
func (g *joinGraph) joinCost(a, b uint64) float64 {
	ca, cb := g.card(a), g.card(b)
	return math.Max(ca, cb) + 2*math.Min(ca, cb) + g.card(a|b)
}

// cost is the estimated work of t's joins.
func (g *joinGraph) cost(t *joinTree) float64 {
	if t.left == nil {
		return 0
	}
	return g.cost(t.left) + g.cost(t.right) + g.joinCost(t.left.mask, t.right.mask)
}

func (g *joinGraph) leafTree(i int) *joinTree { return &joinTree{leaf: i, mask: 1 << i} }

// join makes the tree joining a and b, the side of more estimated rows on the left.
func (g *joinGraph) join(a, b *joinTree) *joinTree {
	if g.card(b.mask) > g.card(a.mask) {
		a, b = b, a
	}
	return &joinTree{leaf: -1, left: a, right: b, mask: a.mask | b.mask}
}

// join2 joins two leaves in their order.
func (g *joinGraph) join2() *joinTree {
	if len(g.leaves) == 1 {
		return g.leafTree(0)
	}
	return &joinTree{leaf: -1, left: g.leafTree(0), right: g.leafTree(1), mask: 3}
}

// greedy is a left-deep order: from the largest input (the probe side of every hash
// join), adding each time the connected input that gives the fewest estimated rows.
func (g *joinGraph) greedy() *joinTree {
	first := 0
	for i := range g.leaves {
		if g.rows[i] > g.rows[first] {
			first = i
		}
	}
	t := g.leafTree(first)
	for t.mask != 1<<len(g.leaves)-1 {
		best, bestRows, connected := -1, math.Inf(1), false
		for i := range g.leaves {
			m := uint64(1) << i
			if t.mask&m != 0 {
				continue
			}
			conn := g.connected(t.mask, m)
			est := g.card(t.mask | m)
			if conn && !connected || conn == connected && est < bestRows {
				best, bestRows, connected = i, est, conn
			}
		}
		t = &joinTree{leaf: -1, left: t, right: g.leafTree(best), mask: t.mask | 1<<best}
	}
	return t
}

// bushy is the cheapest tree by joinCost over every split of every connected set of
// leaves (nil when the leaves are not all connected).
func (g *joinGraph) bushy() *joinTree {
	n := len(g.leaves)
	full := uint64(1)<<n - 1
	best := make([]*joinTree, full+1)
	costs := make([]float64, full+1)
	for i := range n {
		best[1<<i] = g.leafTree(i)
	}
	for mask := uint64(1); mask <= full; mask++ {
		if bits.OnesCount64(mask) < 2 {
			continue
		}
		low := mask & -mask
		costs[mask] = math.Inf(1)
		// every split once: the part holding the lowest leaf, then the rest
		for a := (mask - 1) & mask; a > 0; a = (a - 1) & mask {
			if a&low == 0 {
				continue
			}
			b := mask ^ a
			if best[a] == nil || best[b] == nil || !g.connected(a, b) {
				continue
			}
			c := costs[a] + costs[b] + g.joinCost(a, b)
			if c < costs[mask] {
				costs[mask] = c
				best[mask] = g.join(best[a], best[b])
			}
		}
	}
	return best[full]
}

// order picks the join tree: the greedy left-deep one unless a bushy tree is clearly
// cheaper (a filtered dimension joined to its own dimensions before the fact probes it).
func (g *joinGraph) order() *joinTree {
	t := g.greedy()
	if len(g.leaves) > maxDPLeaves {
		return t
	}
	if b := g.bushy(); b != nil && g.cost(b) < 0.9*g.cost(t) {
		return b
	}
	return t
}

// rebuild makes the plan of tree t. Each condition is attached at the lowest join that
// has all its columns; a join that an equivalence class connects but none of its
// conditions gets the implied equality too (c.k = s.k and s.k = n.k join c with n).
// The columns are projected back to the leaves' original order.
func (g *joinGraph) rebuild(t *joinTree) (Node, error) {
	total := 0
	for _, l := range g.leaves {
		total += len(l.Fields())
	}
	used := make([]bool, len(g.conds))
	var build func(t *joinTree) (Node, []int, error)
	build = func(t *joinTree) (Node, []int, error) {
		if t.left == nil {
			cols := make([]int, len(g.leaves[t.leaf].Fields()))
			for k := range cols {
				cols[k] = g.starts[t.leaf] + k
			}
			return g.leaves[t.leaf], cols, nil
		}
		l, lc, err := build(t.left)
		if err != nil {
			return nil, nil, err
		}
		r, rc, err := build(t.right)
		if err != nil {
			return nil, nil, err
		}
		cols := append(append([]int(nil), lc...), rc...)
		pos := make([]int, total)
		for i := range pos {
			pos[i] = -1
		}
		for p, c := range cols {
			pos[c] = p
		}
		fs := append(append([]Field(nil), l.Fields()...), r.Fields()...)
		column := func(c int) *expr.Column {
			return &expr.Column{Index: pos[c], Name: fs[pos[c]].Name, T: fs[pos[c]].Type}
		}
		var here []expr.Expr
		joined := map[int]bool{}
		for ci, c := range g.conds {
			if used[ci] || g.masks[ci] == 0 || g.masks[ci]&t.mask != g.masks[ci] {
				continue
			}
			used[ci] = true
			k := g.class[ci]
			across := k >= 0 && g.masks[ci]&t.left.mask != 0 && g.masks[ci]&t.right.mask != 0
			if across && joined[k] && !g.sameLeaf[k] {
				continue // implied: each side's members of k are equal already
			}
			rc, err := remap(c, func(i int) int { return pos[i] })
			if err != nil {
				return nil, nil, err
			}
			here = append(here, rc)
			if across {
				joined[k] = true
			}
		}
		for k, ms := range g.members {
			if joined[k] {
				continue
			}
			a, b := -1, -1
			for _, col := range ms {
				l := uint64(1) << g.leafOf(col)
				switch {
				case t.left.mask&l != 0 && a < 0:
					a = col
				case t.right.mask&l != 0 && b < 0:
					b = col
				}
			}
			if a >= 0 && b >= 0 {
				eq, err := expr.NewCall("=", column(a), column(b))
				if err != nil {
					return nil, nil, err
				}
				here = append(here, eq)
			}
		}
		j := NewJoin(CrossJoin, l, r, nil, nil, nil)
		j.Extra = andOrNil(here)
		node, err := pushJoin(j, nil)
		return node, cols, err
	}
	cur, cols, err := build(t)
	if err != nil {
		return nil, err
	}
	// constant conditions (no columns) stay on top
	var top []expr.Expr
	for ci, c := range g.conds {
		if !used[ci] {
			top = append(top, c)
		}
	}
	out := withFilter(cur, top)
	identity := true
	for i, c := range cols {
		if c != i {
			identity = false
		}
	}
	if identity {
		return out, nil
	}
	fs := cur.Fields()
	pos := make([]int, total)
	for p, c := range cols {
		pos[c] = p
	}
	exprs := make([]expr.Expr, total)
	fields := make([]Field, total)
	for i, p := range pos {
		exprs[i] = &expr.Column{Index: p, Name: fs[p].Name, T: fs[p].Type}
		fields[i] = fs[p]
	}
	return &Project{Input: out, Exprs: exprs, fields: fields}, nil
}
