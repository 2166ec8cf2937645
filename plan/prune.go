package plan

import (
	"github.com/strata-data/strata/internal/expr"
)

// prune returns n reduced to the columns need marks (in their order), and for each
// original column its new index (-1 when dropped).
func prune(n Node, need []bool) (Node, []int, error) {
	out, m, err := pruneLoose(n, need)
	if err != nil {
		return nil, nil, err
	}
	// Make it exact: project away columns kept only for use inside the node.
	extra := false
	for i, ok := range need {
		if !ok && m[i] >= 0 {
			extra = true
		}
	}
	if len(out.Fields()) != countTrue(need) {
		extra = true
	}
	if !extra {
		return out, m, nil
	}
	fs := out.Fields()
	var exprs []expr.Expr
	var fields []Field
	nm := make([]int, len(need))
	for i, ok := range need {
		nm[i] = -1
		if ok {
			p := m[i]
			nm[i] = len(exprs)
			exprs = append(exprs, &expr.Column{Index: p, Name: fs[p].Name, T: fs[p].Type})
			fields = append(fields, fs[p])
		}
	}
	return &Project{Input: out, Exprs: exprs, fields: fields}, nm, nil
}

func countTrue(b []bool) int {
	n := 0
	for _, x := range b {
		if x {
			n++
		}
	}
	return n
}

func markCols(need []bool, e expr.Expr) {
	if e == nil {
		return
	}
	for _, c := range expr.Columns(e) {
		need[c] = true
	}
}

func remapBy(e expr.Expr, m []int) (expr.Expr, error) {
	if e == nil {
		return nil, nil
	}
	return remap(e, func(i int) int { return m[i] })
}

// pruneLoose returns a node holding at least the needed columns, and the mapping.
func pruneLoose(n Node, need []bool) (Node, []int, error) {
	switch x := n.(type) {
	case *Scan:
		inner := append([]bool{}, need...)
		for _, f := range x.Filter {
			markCols(inner, f)
		}
		m := make([]int, len(need))
		var cols []int
		var fields []Field
		for i, ok := range inner {
			m[i] = -1
			if ok {
				m[i] = len(cols)
				cols = append(cols, x.Cols[i])
				fields = append(fields, x.fields[i])
			}
		}
		for i, f := range x.Filter {
			r, err := remapBy(f, m)
			if err != nil {
				return nil, nil, err
			}
			x.Filter[i] = r
		}
		x.Cols, x.fields = cols, fields
		return x, m, nil
	case *Values:
		return x, make([]int, len(need)), nil
	case *Filter:
		inner := append([]bool{}, need...)
		markCols(inner, x.Cond)
		in, m, err := pruneLoose(x.Input, inner)
		if err != nil {
			return nil, nil, err
		}
		if x.Cond, err = remapBy(x.Cond, m); err != nil {
			return nil, nil, err
		}
		x.Input = in
		return x, m, nil
	case *Project:
		inner := make([]bool, len(x.Input.Fields()))
		for i, ok := range need {
			if ok {
				markCols(inner, x.Exprs[i])
			}
		}
		in, im, err := pruneLoose(x.Input, inner)
		if err != nil {
			return nil, nil, err
		}
		m := make([]int, len(need))
		var exprs []expr.Expr
		var fields []Field
		for i, ok := range need {
			m[i] = -1
			if !ok {
				continue
			}
			e, err := remapBy(x.Exprs[i], im)
			if err != nil {
				return nil, nil, err
			}
			m[i] = len(exprs)
			exprs = append(exprs, e)
			fields = append(fields, x.fields[i])
		}
		x.Input, x.Exprs, x.fields = in, exprs, fields
		return x, m, nil
	case *Join:
		nl, nr := len(x.Left.Fields()), len(x.Right.Fields())
		ln, rn := make([]bool, nl), make([]bool, nr)
		for i, ok := range need {
			if ok {
				if i < nl {
					ln[i] = true
				} else {
					rn[i-nl] = true
				}
			}
		}
		for _, k := range x.LeftKeys {
			ln[k] = true
		}
		for _, k := range x.RightKeys {
			rn[k] = true
		}
		if x.Extra != nil {
			for _, c := range expr.Columns(x.Extra) {
				if c < nl {
					ln[c] = true
				} else {
					rn[c-nl] = true
				}
			}
		}
		l, lm, err := pruneLoose(x.Left, ln)
		if err != nil {
			return nil, nil, err
		}
		r, rm, err := pruneLoose(x.Right, rn)
		if err != nil {
			return nil, nil, err
		}
		newL := len(l.Fields())
		for i := range x.LeftKeys {
			x.LeftKeys[i] = lm[x.LeftKeys[i]]
			x.RightKeys[i] = rm[x.RightKeys[i]]
		}
		all := make([]int, nl+nr)
		for i := range nl {
			all[i] = lm[i]
		}
		for i := range nr {
			all[nl+i] = -1
			if rm[i] >= 0 {
				all[nl+i] = newL + rm[i]
			}
		}
		if x.Extra, err = remapBy(x.Extra, all); err != nil {
			return nil, nil, err
		}
		x.Left, x.Right = l, r
		x.fields = joinFields(x.Kind, l.Fields(), r.Fields())
		return x, all[:len(need)], nil
	case *Aggregate:
		inner := make([]bool, len(x.Input.Fields()))
		for _, g := range x.Group {
			inner[g] = true
		}
		for _, a := range x.Aggs {
			if a.Arg >= 0 {
				inner[a.Arg] = true
			}
		}
		in, im, err := prune(x.Input, inner)
		if err != nil {
			return nil, nil, err
		}
		for i := range x.Group {
			x.Group[i] = im[x.Group[i]]
		}
		for i := range x.Aggs {
			if x.Aggs[i].Arg >= 0 {
				x.Aggs[i].Arg = im[x.Aggs[i].Arg]
			}
		}
		x.Input = in
		m := make([]int, len(need))
		for i := range m {
			m[i] = i
		}
		return x, m, nil
	case *Sort:
		inner := append([]bool{}, need...)
		for _, k := range x.Keys {
			inner[k.Col] = true
		}
		in, m, err := pruneLoose(x.Input, inner)
		if err != nil {
			return nil, nil, err
		}
		for i := range x.Keys {
			x.Keys[i].Col = m[x.Keys[i].Col]
		}
		x.Input = in
		return x, m, nil
	case *Limit:
		in, m, err := pruneLoose(x.Input, need)
		if err != nil {
			return nil, nil, err
		}
		x.Input = in
		return x, m, nil
	case *SingleRow:
		in, m, err := pruneLoose(x.Input, need)
		if err != nil {
			return nil, nil, err
		}
		x.Input = in
		return x, m, nil
	case *Union:
		var m []int
		for i, c := range x.Inputs {
			in, cm, err := prune(c, need)
			if err != nil {
				return nil, nil, err
			}
			x.Inputs[i], m = in, cm
		}
		var fields []Field
		for i, ok := range need {
			if ok {
				fields = append(fields, x.fields[i])
			}
		}
		x.fields = fields
		return x, m, nil
	case *Window:
		// keep the input whole below a window (its columns feed the functions)
		all := make([]bool, len(x.Input.Fields()))
		for i := range all {
			all[i] = true
		}
		in, _, err := prune(x.Input, all)
		if err != nil {
			return nil, nil, err
		}
		x.Input = in
		m := make([]int, len(need))
		for i := range m {
			m[i] = i
		}
		return x, m, nil
	}
	m := make([]int, len(need))
	for i := range m {
		m[i] = i
	}
	return n, m, nil
}
