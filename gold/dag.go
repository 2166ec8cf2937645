package gold

import (
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
)

// DAG is the dependency graph of a project's models and seeds: an edge runs from a node to
// each model that refs it. Sources are outside the graph; [DAG.SourceParents] lists them.
type DAG struct {
	p        *Project
	parents  map[string][]string
	children map[string][]string
	order    []string // topological, ties broken by name
}

// DAG builds the graph from the models' refs and reports a cycle with its members.
func (p *Project) DAG() (*DAG, error) {
	d := &DAG{p: p, parents: map[string][]string{}, children: map[string][]string{}}
	var names []string
	for n := range p.Seeds {
		names = append(names, n)
	}
	for n, m := range p.Models {
		names = append(names, n)
		for _, r := range m.Refs {
			d.parents[n] = append(d.parents[n], r)
			d.children[r] = append(d.children[r], n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		sort.Strings(d.children[n])
	}
	if cyc := d.findCycle(names); cyc != nil {
		return nil, fmt.Errorf("%w: %s", ErrCycle, strings.Join(cyc, " -> "))
	}
	// Kahn's algorithm over sorted names: a deterministic order.
	indeg := map[string]int{}
	for _, n := range names {
		indeg[n] = len(d.parents[n])
	}
	var ready []string
	for _, n := range names {
		if indeg[n] == 0 {
			ready = append(ready, n)
		}
	}
	for len(ready) > 0 {
		n := ready[0]
		ready = ready[1:]
		d.order = append(d.order, n)
		for _, c := range d.children[n] {
			if indeg[c]--; indeg[c] == 0 {
				ready = insertSorted(ready, c)
			}
		}
	}
	return d, nil
}

func insertSorted(s []string, v string) []string {
	i := sort.SearchStrings(s, v)
	s = append(s, "")
	copy(s[i+1:], s[i:])
	s[i] = v
	return s
}

// findCycle returns the members of a cycle, first member repeated at the end, or nil.
func (d *DAG) findCycle(names []string) []string {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	var cycle []string
	var visit func(n string) bool
	visit = func(n string) bool {
		color[n] = grey
		stack = append(stack, n)
		for _, parent := range d.parents[n] {
			switch color[parent] {
			case grey:
				i := len(stack) - 1
				for stack[i] != parent {
					i--
				}
				// stack[i:] follows child -> parent edges; print in ref (data flow) order.
				members := append([]string(nil), stack[i:]...)
				for l, r := 0, len(members)-1; l < r; l, r = l+1, r-1 {
					members[l], members[r] = members[r], members[l]
				}
				// Start at the smallest name: the same cycle reads the same every time.
				low := 0
				for k := range members {
					if members[k] < members[low] {
						low = k
					}
				}
				members = append(members[low:], members[:low]...)
				cycle = append(members, members[0])
				return true
			case white:
				if visit(parent) {
					return true
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[n] = black
		return false
	}
	for _, n := range names {
		if color[n] == white && visit(n) {
			return cycle
		}
	}
	return nil
}

// Order returns every model and seed, each after everything it refs.
func (d *DAG) Order() []string { return append([]string(nil), d.order...) }

// Parents returns the models and seeds that n refs.
func (d *DAG) Parents(n string) []string { return d.parents[n] }

// Children returns the models that ref n.
func (d *DAG) Children(n string) []string { return d.children[n] }

// SourceParents returns the sources model n reads.
func (d *DAG) SourceParents(n string) []SourceRef {
	if m := d.p.Models[n]; m != nil {
		return m.Sources
	}
	return nil
}

// Select returns the models and seeds chosen by sel, in DAG order. sel is dbt's selection
// syntax: selectors separated by spaces are a union, comma-joined selectors an
// intersection. A selector is a name (shell wildcards allowed), tag:T, path:P,
// source:S[.T] (the models reading it), config.materialized:M, or fqn:NAME; a '+' before
// it adds ancestors, after it descendants, with an optional depth (2+name, name+1); '@'
// before it adds descendants and all their ancestors. An empty sel selects everything.
func (d *DAG) Select(sel string) ([]string, error) {
	fields := strings.Fields(sel)
	if len(fields) == 0 {
		return d.Order(), nil
	}
	chosen := map[string]bool{}
	for _, f := range fields {
		var inter map[string]bool
		for _, atom := range strings.Split(f, ",") {
			set, err := d.selectAtom(atom)
			if err != nil {
				return nil, err
			}
			if inter == nil {
				inter = set
				continue
			}
			for n := range inter {
				if !set[n] {
					delete(inter, n)
				}
			}
		}
		for n := range inter {
			chosen[n] = true
		}
	}
	var out []string
	for _, n := range d.order {
		if chosen[n] {
			out = append(out, n)
		}
	}
	return out, nil
}

func (d *DAG) selectAtom(atom string) (map[string]bool, error) {
	orig := atom
	if atom == "" {
		return nil, fmt.Errorf("%w: empty selector in %q", ErrSelection, orig)
	}
	at := strings.HasPrefix(atom, "@")
	atom = strings.TrimPrefix(atom, "@")
	up, down := 0, 0 // depth; -1 is unlimited
	if i := strings.IndexByte(atom, '+'); i >= 0 && strings.Trim(atom[:i], "0123456789") == "" {
		depth := atom[:i]
		up = -1
		if depth != "" {
			n, err := strconv.Atoi(depth)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("%w: %q: bad ancestor depth %q", ErrSelection, orig, depth)
			}
			up = n
		}
		atom = atom[i+1:]
	}
	if i := strings.LastIndexByte(atom, '+'); i >= 0 && strings.Trim(atom[i+1:], "0123456789") == "" {
		depth := atom[i+1:]
		down = -1
		if depth != "" {
			n, err := strconv.Atoi(depth)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("%w: %q: bad descendant depth %q", ErrSelection, orig, depth)
			}
			down = n
		}
		atom = atom[:i]
	}
	if at && (up != 0 || down != 0) {
		return nil, fmt.Errorf("%w: %q: '@' cannot be combined with '+'", ErrSelection, orig)
	}
	base, err := d.selectBase(atom)
	if err != nil {
		return nil, fmt.Errorf("%w (in %q)", err, orig)
	}
	if len(base) == 0 {
		return nil, fmt.Errorf("%w: %q matches no model or seed", ErrSelection, orig)
	}
	out := map[string]bool{}
	for n := range base {
		out[n] = true
	}
	if at {
		down = -1
	}
	if down != 0 {
		for n := range base {
			d.walk(n, d.children, down, out)
		}
	}
	if at {
		for n := range maps(out) {
			d.walk(n, d.parents, -1, out)
		}
	}
	if up != 0 {
		for n := range base {
			d.walk(n, d.parents, up, out)
		}
	}
	return out, nil
}

func maps(m map[string]bool) map[string]bool {
	c := make(map[string]bool, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// walk adds the nodes reachable from n along edges within depth (-1: any) to out.
func (d *DAG) walk(n string, edges map[string][]string, depth int, out map[string]bool) {
	type item struct {
		n     string
		depth int
	}
	queue := []item{{n, 0}}
	seen := map[string]int{n: 0}
	for len(queue) > 0 {
		it := queue[0]
		queue = queue[1:]
		if depth >= 0 && it.depth >= depth {
			continue
		}
		for _, next := range edges[it.n] {
			if dd, ok := seen[next]; ok && dd <= it.depth+1 {
				continue
			}
			seen[next] = it.depth + 1
			out[next] = true
			queue = append(queue, item{next, it.depth + 1})
		}
	}
}

func (d *DAG) selectBase(atom string) (map[string]bool, error) {
	out := map[string]bool{}
	method, value, hasMethod := strings.Cut(atom, ":")
	if !hasMethod {
		method, value = "fqn", atom
	}
	switch method {
	case "fqn":
		for _, n := range d.order {
			if ok, err := path.Match(value, n); err != nil {
				return nil, fmt.Errorf("%w: bad pattern %q: %v", ErrSelection, value, err)
			} else if ok {
				out[n] = true
			}
		}
	case "tag":
		for n, m := range d.p.Models {
			if contains(m.Tags, value) {
				out[n] = true
			}
		}
		for n, s := range d.p.Seeds {
			if contains(s.Tags, value) {
				out[n] = true
			}
		}
	case "path":
		value = strings.TrimSuffix(value, "/")
		match := func(rel string) bool {
			return rel == value || strings.HasPrefix(rel, value+"/")
		}
		for n, m := range d.p.Models {
			if match(m.Path) {
				out[n] = true
			}
		}
		for n, s := range d.p.Seeds {
			if match(s.Path) {
				out[n] = true
			}
		}
	case "source":
		for n, m := range d.p.Models {
			for _, s := range m.Sources {
				if s.Source == value || s.String() == value {
					out[n] = true
				}
			}
		}
	case "config.materialized":
		for n, m := range d.p.Models {
			if m.Materialized == value {
				out[n] = true
			}
		}
	default:
		return nil, fmt.Errorf("%w: unknown method %q", ErrSelection, method)
	}
	return out, nil
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}
