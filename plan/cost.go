package plan

import (
	"math"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/internal/expr"
)

// estimate is the estimated number of rows n outputs.
func estimate(n Node) float64 {
	switch x := n.(type) {
	case *Scan:
		r := float64(x.stats.Rows)
		if x.stats.Rows < 0 {
			r = 1e6
		}
		for _, f := range x.Filter {
			r *= selectivity(f, x)
		}
		return math.Max(r, 1)
	case *Values:
		return float64(x.Rows)
	case *Filter:
		r := estimate(x.Input)
		for _, c := range splitAnd(x.Cond) {
			r *= selectivity(c, nil)
		}
		return math.Max(r, 1)
	case *Project:
		return estimate(x.Input)
	case *Join:
		l, r := estimate(x.Left), estimate(x.Right)
		switch x.Kind {
		case CrossJoin:
			return l * r
		case SemiJoin:
			return l * 0.5
		case AntiJoin:
			return l * 0.5
		}
		est := l * r
		if len(x.LeftKeys) > 0 {
			ndv := math.Max(ndvOf(x.Left, x.LeftKeys[0], l), ndvOf(x.Right, x.RightKeys[0], r))
			est = l * r / math.Max(ndv, 1)
		}
		if x.Extra != nil {
			est *= 0.5
		}
		switch x.Kind {
		case LeftJoin:
			est = math.Max(est, l)
		case RightJoin:
			est = math.Max(est, r)
		case FullJoin:
			est = math.Max(est, l+r)
		}
		return math.Max(est, 1)
	case *Aggregate:
		in := estimate(x.Input)
		if len(x.Group) == 0 {
			return 1
		}
		g := 1.0
		for _, c := range x.Group {
			g *= ndvOf(x.Input, c, in)
		}
		return math.Max(math.Min(g, in), 1)
	case *Sort:
		r := estimate(x.Input)
		if x.Limit >= 0 {
			r = math.Min(r, float64(x.Limit))
		}
		return r
	case *Limit:
		r := estimate(x.Input) - float64(x.Offset)
		if x.Count >= 0 {
			r = math.Min(r, float64(x.Count))
		}
		return math.Max(r, 0)
	case *Union:
		t := 0.0
		for _, c := range x.Inputs {
			t += estimate(c)
		}
		return t
	case *SingleRow:
		return 1
	case *Window:
		return estimate(x.Input)
	}
	return 1000
}

// ndvOf estimates the distinct values of column c of n (capped by rows).
func ndvOf(n Node, c int, rows float64) float64 {
	for {
		switch x := n.(type) {
		case *Scan:
			if d, ok := scanDistinct(x, c); ok {
				return math.Min(d, rows)
			}
			if x.stats.Rows > 0 {
				return math.Min(float64(x.stats.Rows), rows)
			}
			return rows
		case *Filter:
			n = x.Input
		case *Project:
			col, ok := x.Exprs[c].(*expr.Column)
			if !ok {
				return rows
			}
			n, c = x.Input, col.Index
		case *Join:
			nl := len(x.Left.Fields())
			if c < nl {
				n = x.Left
			} else {
				n, c = x.Right, c-nl
			}
		case *Aggregate:
			if c < len(x.Group) {
				n, c = x.Input, x.Group[c]
			} else {
				return rows
			}
		default:
			return rows
		}
	}
}

// scanDistinct returns the distinct values of column c of x when its statistics tell:
// a distinct estimate, or the span of an integer min/max (dates, ids). Text and other
// columns without one are unknown: guessing them unique would make an equality with a
// literal (l_returnflag = 'R') keep one row.
func scanDistinct(x *Scan, c int) (float64, bool) {
	cs := x.stats.Columns
	col := x.Cols[c]
	if col >= len(cs) {
		return 0, false
	}
	s := cs[col]
	if s.Distinct > 0 {
		return float64(s.Distinct), true
	}
	if s.HasMinMax && s.Min.Kind() == change.KindInt && s.Max.Kind() == change.KindInt {
		if span := float64(s.Max.AsInt()-s.Min.AsInt()) + 1; span > 0 {
			return span, true
		}
	}
	return 0, false
}

// selectivity guesses the fraction of rows a predicate keeps.
func selectivity(e expr.Expr, s *Scan) float64 {
	c, ok := e.(*expr.Call)
	if !ok {
		return 0.5
	}
	switch c.Name {
	case "=":
		if s != nil {
			if col, ok := c.Args[0].(*expr.Column); ok {
				if _, lit := c.Args[1].(*expr.Literal); lit {
					if d, ok := scanDistinct(s, col.Index); ok {
						return 1 / math.Max(math.Min(d, math.Max(float64(s.stats.Rows), 1)), 1)
					}
				}
			}
		}
		return 0.1
	case "<", "<=", ">", ">=":
		return 0.4
	case "between":
		return 0.25
	case "like", "ilike":
		return 0.25
	case "in":
		return math.Min(0.1*float64(len(c.Args)-1), 0.8)
	case "and":
		r := 1.0
		for _, a := range c.Args {
			r *= selectivity(a, s)
		}
		return r
	case "or":
		r := 0.0
		for _, a := range c.Args {
			r += selectivity(a, s)
		}
		return math.Min(r, 1)
	case "not", "<>", "not_like", "not_ilike":
		return 0.9
	}
	return 0.5
}
