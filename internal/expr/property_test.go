package expr

import (
	"bytes"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"
	"github.com/stretchr/testify/require"
)

// The property test builds random expressions over a random batch and compares the
// vectorised result with a row-at-a-time reference written independently here
// (math/big for decimals, regexp for LIKE, rune slices for substr).

// rv is a reference value.
type rv struct {
	null bool
	i    int64    // integers, dates
	f    float64  // floats
	d    *big.Int // decimals, scaled by the type's scale
	s    string
	b    bool
}

type gen struct {
	r    *rand.Rand
	rb   arrow.RecordBatch
	cols map[string]*Column
}

func (g *gen) pick(xs ...string) string { return xs[g.r.IntN(len(xs))] }

func (g *gen) intLit() Expr {
	switch g.r.IntN(6) {
	case 0:
		return NewLit(int64(g.r.Int64N(1<<62)) - 1<<61)
	case 1:
		return NewLit(0)
	default:
		return NewLit(g.r.IntN(21) - 10)
	}
}

func (g *gen) num(d int) Expr {
	if d <= 0 || g.r.IntN(4) == 0 {
		switch g.r.IntN(7) {
		case 0, 1:
			return g.cols[g.pick("i", "j", "f", "d")]
		case 2:
			return g.cols["i"]
		case 3:
			return NewLit(float64(g.r.IntN(200)-100) / 8)
		case 4:
			v := decimal128.FromI64(g.r.Int64N(20000) - 10000)
			return &Literal{Value: scalar.NewDecimal128Scalar(v, Numeric(7, 3))}
		default:
			return g.intLit()
		}
	}
	for {
		var e Expr
		var err error
		switch g.r.IntN(11) {
		case 0, 1, 2, 3:
			e, err = NewCall(g.pick("+", "-", "*", "/", "%"), g.num(d-1), g.num(d-1))
		case 4:
			e, err = NewCall("neg", g.num(d-1))
		case 5:
			e, err = NewCase(nil, []When{{g.boolean(d - 1), g.num(d - 1)}}, g.num(d-1))
		case 6:
			e, err = NewCall("coalesce", g.num(d-1), g.num(d-1))
		case 7:
			e, err = NewCall("abs", g.num(d-1))
		case 8:
			e, err = NewCall("length", g.text(d-1))
		case 9:
			e, err = NewCall(g.pick("greatest", "least"), g.num(d-1), g.num(d-1), g.num(d-1))
		case 10:
			e, err = NewCall("nullif", g.num(d-1), g.num(d-1))
		}
		if err == nil {
			return e
		}
	}
}

func (g *gen) boolean(d int) Expr {
	if d <= 0 || g.r.IntN(5) == 0 {
		if g.r.IntN(3) == 0 {
			return NewLit(g.r.IntN(2) == 0)
		}
		return g.cols["b"]
	}
	for {
		var e Expr
		var err error
		switch g.r.IntN(12) {
		case 0, 1, 2:
			e, err = NewCall(g.pick("=", "<>", "<", "<=", ">", ">="), g.num(d-1), g.num(d-1))
		case 3:
			e, err = NewCall(g.pick("=", "<", ">="), g.text(d-1), g.text(d-1))
		case 4, 5:
			e, err = NewCall(g.pick("and", "or"), g.boolean(d-1), g.boolean(d-1))
		case 6:
			e, err = NewCall(g.pick("not", "is_null", "is_not_null"), g.boolean(d-1))
		case 7:
			pat := g.str(true)
			e, err = NewCall(g.pick("like", "not_like", "ilike"), g.text(d-1), NewLit(pat))
		case 8:
			e, err = NewCall(g.pick("in", "not_in"), g.num(d-1), g.intLit(), g.intLit(), g.pickNull())
		case 9:
			e, err = NewCall("is_null", g.num(d-1))
		case 10:
			e, err = NewCall(g.pick("between", "not_between"), g.num(d-1), g.num(d-1), g.num(d-1))
		case 11:
			e, err = NewCall(g.pick("is_distinct_from", "is_not_distinct_from"), g.num(d-1), g.num(d-1))
		}
		if err == nil {
			return e
		}
	}
}

func (g *gen) pickNull() Expr {
	if g.r.IntN(3) == 0 {
		return Null()
	}
	return g.intLit()
}

func (g *gen) str(pattern bool) string {
	alpha := []string{"a", "A", "b", "é", " "}
	if pattern {
		alpha = append(alpha, "%", "_", "%")
	}
	var sb strings.Builder
	for range g.r.IntN(5) {
		sb.WriteString(alpha[g.r.IntN(len(alpha))])
	}
	return sb.String()
}

func (g *gen) text(d int) Expr {
	if d <= 0 || g.r.IntN(4) == 0 {
		if g.r.IntN(3) == 0 {
			return NewLit(g.str(false))
		}
		return g.cols["s"]
	}
	for {
		var e Expr
		var err error
		switch g.r.IntN(5) {
		case 0:
			e, err = NewCall(g.pick("lower", "upper"), g.text(d-1))
		case 1:
			e, err = NewCall("substr", g.text(d-1), NewLit(g.r.IntN(7)-2), NewLit(g.r.IntN(4)))
		case 2:
			e, err = NewCall("||", g.text(d-1), g.text(d-1))
		case 3:
			e, err = NewCase(nil, []When{{g.boolean(d - 1), g.text(d - 1)}}, g.text(d-1))
		case 4:
			e, err = NewCall("substr", g.text(d-1), NewLit(g.r.IntN(5)-1))
		}
		if err == nil {
			return e
		}
	}
}

// randomBatch has columns i int32, j int64, f float64, d numeric(12,2), s text,
// b bool, each about 15% NULL.
func randomBatch(t testing.TB, r *rand.Rand, mem memory.Allocator, n int) arrow.RecordBatch {
	null := func() bool { return r.IntN(100) < 15 }
	ib := array.NewInt32Builder(mem)
	jb := array.NewInt64Builder(mem)
	fb := array.NewFloat64Builder(mem)
	db := array.NewDecimal128Builder(mem, Numeric(12, 2).(*arrow.Decimal128Type))
	sb := array.NewStringBuilder(mem)
	bb := array.NewBooleanBuilder(mem)
	g := &gen{r: r}
	for range n {
		if null() {
			ib.AppendNull()
		} else if r.IntN(20) == 0 {
			ib.Append(int32(math.MaxInt32 - r.IntN(3)))
		} else {
			ib.Append(int32(r.IntN(41) - 20))
		}
		if null() {
			jb.AppendNull()
		} else if r.IntN(20) == 0 {
			jb.Append(math.MinInt64 + int64(r.IntN(3)))
		} else {
			jb.Append(r.Int64N(2001) - 1000)
		}
		if null() {
			fb.AppendNull()
		} else {
			fb.Append(float64(r.IntN(4001)-2000) / 16)
		}
		if null() {
			db.AppendNull()
		} else {
			db.Append(decimal128.FromI64(r.Int64N(200001) - 100000))
		}
		if null() {
			sb.AppendNull()
		} else {
			sb.Append(g.str(false))
		}
		if null() {
			bb.AppendNull()
		} else {
			bb.Append(r.IntN(2) == 0)
		}
	}
	names := []string{"i", "j", "f", "d", "s", "b"}
	bs := []array.Builder{ib, jb, fb, db, sb, bb}
	fields := make([]arrow.Field, len(bs))
	cols := make([]arrow.Array, len(bs))
	for k, b := range bs {
		cols[k] = b.NewArray()
		b.Release()
		fields[k] = arrow.Field{Name: names[k], Type: cols[k].DataType(), Nullable: true}
	}
	rb := array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, int64(n))
	for _, c := range cols {
		c.Release()
	}
	return rb
}

func TestPropertyVectorisedMatchesRowAtATime(t *testing.T) {
	mem := newMem(t)
	seed := uint64(7)
	if v, err := strconv.ParseUint(os.Getenv("EXPR_SEED"), 10, 64); err == nil {
		seed = v // EXPR_SEED=n go test -run Property: another random sample
	}
	r := rand.New(rand.NewPCG(seed, 11))
	iters := 1500
	if testing.Short() {
		iters = 300
	}
	for it := range iters {
		rb := randomBatch(t, r, mem, 1+r.IntN(150))
		g := &gen{r: r, rb: rb, cols: map[string]*Column{}}
		for _, n := range []string{"i", "j", "f", "d", "s", "b"} {
			g.cols[n] = colRef(rb, n)
		}
		var e Expr
		switch it % 3 {
		case 0:
			e = g.num(4)
		case 1:
			e = g.boolean(4)
		default:
			e = g.text(4)
		}
		ctx := &Context{Alloc: mem}
		got, gerr := e.Eval(ctx, rb)
		var want []string
		var werr error
		for row := range int(rb.NumRows()) {
			v, err := refEval(rb, e, row)
			if err != nil {
				werr = err
				break
			}
			want = append(want, refText(e.Type(), v))
		}
		if (gerr != nil) != (werr != nil) {
			t.Fatalf("iteration %d: %s\nvectorised error: %v\nreference error: %v", it, e, gerr, werr)
		}
		if gerr == nil {
			require.Equal(t, want, texts(got), "iteration %d: %s", it, e)
			got.Release()
		}
		// folding must not change the result
		if gerr == nil {
			fe, err := Fold(ctx, e)
			require.NoError(t, err)
			fa, err := fe.Eval(ctx, rb)
			require.NoError(t, err, "folded %s", fe)
			require.Equal(t, want, texts(fa), "folded %s", fe)
			fa.Release()
		}
		rb.Release()
	}
}

func refText(t arrow.DataType, v rv) string {
	if v.null {
		return "NULL"
	}
	switch {
	case isInt(t):
		return fmt.Sprint(v.i)
	case isFloat(t):
		return string(appendFloat(nil, v.f, 64))
	case isDec(t):
		return decText(v.d, decScale(t))
	case isText(t):
		return v.s
	case t.ID() == arrow.BOOL:
		return fmt.Sprint(v.b)
	}
	return "?"
}

func decText(d *big.Int, s int32) string {
	neg := d.Sign() < 0
	str := new(big.Int).Abs(d).String()
	for len(str) <= int(s) {
		str = "0" + str
	}
	if s > 0 {
		str = str[:len(str)-int(s)] + "." + str[len(str)-int(s):]
	}
	if neg {
		str = "-" + str
	}
	return str
}

var errRef = fmt.Errorf("reference error")

func refEval(rb arrow.RecordBatch, e Expr, row int) (rv, error) {
	switch e := e.(type) {
	case *Column:
		a := rb.Column(e.Index)
		if a.IsNull(row) {
			return rv{null: true}, nil
		}
		switch a := a.(type) {
		case *array.Int32:
			return rv{i: int64(a.Value(row))}, nil
		case *array.Int64:
			return rv{i: a.Value(row)}, nil
		case *array.Float64:
			return rv{f: a.Value(row)}, nil
		case *array.Decimal128:
			return rv{d: a.Value(row).BigInt()}, nil
		case *array.String:
			return rv{s: a.Value(row)}, nil
		case *array.Boolean:
			return rv{b: a.Value(row)}, nil
		}
	case *Literal:
		if !e.Value.IsValid() {
			return rv{null: true}, nil
		}
		switch v := e.Value.(type) {
		case *scalar.Int32:
			return rv{i: int64(v.Value)}, nil
		case *scalar.Int64:
			return rv{i: v.Value}, nil
		case *scalar.Int16:
			return rv{i: int64(v.Value)}, nil
		case *scalar.Float64:
			return rv{f: v.Value}, nil
		case *scalar.Decimal128:
			return rv{d: v.Value.BigInt()}, nil
		case *scalar.String:
			return rv{s: string(v.Data())}, nil
		case *scalar.Boolean:
			return rv{b: v.Value}, nil
		}
	case *Cast:
		v, err := refEval(rb, e.E, row)
		if err != nil || v.null {
			return v, err
		}
		return refCast(v, e.E.Type(), e.To)
	case *Case:
		for _, w := range e.Whens {
			c, err := refEval(rb, w.Cond, row)
			if err != nil {
				return rv{}, err
			}
			if !c.null && c.b {
				return refEval(rb, w.Then, row)
			}
		}
		if e.Else == nil {
			return rv{null: true}, nil
		}
		return refEval(rb, e.Else, row)
	case *Call:
		return refCall(rb, e, row)
	}
	return rv{}, fmt.Errorf("reference cannot evaluate %T %s", e, e)
}

func intRange(t arrow.DataType) (int64, int64) {
	switch t.ID() {
	case arrow.INT16:
		return math.MinInt16, math.MaxInt16
	case arrow.INT32:
		return math.MinInt32, math.MaxInt32
	}
	return math.MinInt64, math.MaxInt64
}

func pow10b(k int32) *big.Int { return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(k)), nil) }

func fits38b(d *big.Int) bool { return new(big.Int).Abs(d).Cmp(pow10b(38)) < 0 }

// roundDivB is x/y rounded half away from zero.
func roundDivB(x, y *big.Int) *big.Int {
	r := new(big.Rat).SetFrac(x, y)
	neg := r.Sign() < 0
	r.Abs(r)
	r.Add(r, big.NewRat(1, 2))
	q := new(big.Int).Quo(r.Num(), r.Denom())
	if neg {
		q.Neg(q)
	}
	return q
}

func refCast(v rv, from, to arrow.DataType) (rv, error) {
	switch {
	case isInt(from) && isInt(to):
		lo, hi := intRange(to)
		if v.i < lo || v.i > hi {
			return rv{}, errRef
		}
		return v, nil
	case isInt(from) && isFloat(to):
		return rv{f: float64(v.i)}, nil
	case isInt(from) && isDec(to):
		d := new(big.Int).Mul(big.NewInt(v.i), pow10b(decScale(to)))
		if new(big.Int).Abs(d).Cmp(pow10b(decPrec(to))) >= 0 {
			return rv{}, errRef
		}
		return rv{d: d}, nil
	case isDec(from) && isFloat(to):
		f, _ := new(big.Rat).SetFrac(v.d, pow10b(decScale(from))).Float64()
		return rv{f: f}, nil
	case isDec(from) && isDec(to):
		fs, ts := decScale(from), decScale(to)
		var d *big.Int
		if ts >= fs {
			d = new(big.Int).Mul(v.d, pow10b(ts-fs))
		} else {
			d = roundDivB(v.d, pow10b(fs-ts))
		}
		if new(big.Int).Abs(d).Cmp(pow10b(decPrec(to))) >= 0 {
			return rv{}, errRef
		}
		return rv{d: d}, nil
	case isText(to) && isText(from):
		return v, nil
	case isText(to) && isInt(from):
		return rv{s: fmt.Sprint(v.i)}, nil
	}
	return rv{}, fmt.Errorf("reference cast %s -> %s", from, to)
}

func refCmp(t arrow.DataType, a, b rv) int {
	switch {
	case isInt(t):
		return cmpI(a.i, b.i)
	case isFloat(t):
		return fcmp(a.f, b.f)
	case isDec(t):
		return a.d.Cmp(b.d)
	case isText(t):
		return strings.Compare(a.s, b.s)
	case t.ID() == arrow.BOOL:
		return cmpI(b2i64(a.b), b2i64(b.b))
	}
	panic("refCmp")
}

func cmpI(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func b2i64(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// likeRegexp translates a LIKE pattern with escape \ into a regexp.
func likeRegexp(p string, fold bool) *regexp.Regexp {
	var sb strings.Builder
	sb.WriteString("^(?s:")
	if fold {
		sb.WriteString("(?i)")
	}
	rs := []rune(p)
	for i := 0; i < len(rs); i++ {
		switch rs[i] {
		case '\\':
			i++
			sb.WriteString(regexp.QuoteMeta(string(rs[i])))
		case '%':
			sb.WriteString(".*")
		case '_':
			sb.WriteString(".")
		default:
			sb.WriteString(regexp.QuoteMeta(string(rs[i])))
		}
	}
	sb.WriteString(")$")
	return regexp.MustCompile(sb.String())
}

func refCall(rb arrow.RecordBatch, c *Call, row int) (rv, error) {
	ev := func(i int) (rv, error) { return refEval(rb, c.Args[i], row) }
	switch c.Name {
	case "and", "or":
		l, err := ev(0)
		if err != nil {
			return rv{}, err
		}
		isAnd := c.Name == "and"
		if !l.null && l.b != isAnd {
			return l, nil
		}
		r, err := ev(1)
		if err != nil {
			return rv{}, err
		}
		switch {
		case !r.null && r.b != isAnd:
			return r, nil
		case l.null || r.null:
			return rv{null: true}, nil
		}
		return rv{b: isAnd}, nil
	case "coalesce":
		for i := range c.Args {
			v, err := ev(i)
			if err != nil || !v.null {
				return v, err
			}
		}
		return rv{null: true}, nil
	case "is_null", "is_not_null":
		v, err := ev(0)
		return rv{b: v.null == (c.Name == "is_null")}, err
	case "in", "not_in":
		x, err := ev(0)
		if err != nil {
			return rv{}, err
		}
		sawNull := x.null
		found := false
		for i := 1; i < len(c.Args); i++ {
			v, err := ev(i)
			if err != nil {
				return rv{}, err
			}
			if v.null || x.null {
				sawNull = true
				continue
			}
			if refCmp(c.Args[0].Type(), x, v) == 0 {
				found = true
			}
		}
		switch {
		case found:
			return rv{b: c.Name == "in"}, nil
		case sawNull:
			return rv{null: true}, nil
		}
		return rv{b: c.Name == "not_in"}, nil
	case "greatest", "least":
		var best rv
		best.null = true
		t := c.Args[0].Type()
		for i := range c.Args {
			v, err := ev(i)
			if err != nil {
				return rv{}, err
			}
			if v.null {
				continue
			}
			k := 0
			if !best.null {
				k = refCmp(t, v, best)
			}
			if best.null || (c.Name == "greatest" && k > 0) || (c.Name == "least" && k < 0) {
				best = v
			}
		}
		return best, nil
	case "nullif":
		a, err := ev(0)
		if err != nil {
			return rv{}, err
		}
		b, err := ev(1)
		if err != nil {
			return rv{}, err
		}
		if !a.null && !b.null && refCmp(c.Args[0].Type(), a, b) == 0 {
			return rv{null: true}, nil
		}
		return a, nil
	case "is_distinct_from", "is_not_distinct_from":
		a, err := ev(0)
		if err != nil {
			return rv{}, err
		}
		b, err := ev(1)
		if err != nil {
			return rv{}, err
		}
		var distinct bool
		switch {
		case a.null && b.null:
		case a.null || b.null:
			distinct = true
		default:
			distinct = refCmp(c.Args[0].Type(), a, b) != 0
		}
		return rv{b: distinct == (c.Name == "is_distinct_from")}, nil
	case "between", "not_between":
		x, err := ev(0)
		if err != nil {
			return rv{}, err
		}
		lo, err := ev(1)
		if err != nil {
			return rv{}, err
		}
		hi, err := ev(2)
		if err != nil {
			return rv{}, err
		}
		t := c.Args[0].Type()
		// three-valued (x >= lo AND x <= hi), or (x < lo OR x > hi)
		cmp3 := func(v rv, want func(int) bool) rv {
			if x.null || v.null {
				return rv{null: true}
			}
			return rv{b: want(refCmp(t, x, v))}
		}
		var l, r rv
		isAnd := c.Name == "between"
		if isAnd {
			l, r = cmp3(lo, func(k int) bool { return k >= 0 }), cmp3(hi, func(k int) bool { return k <= 0 })
		} else {
			l, r = cmp3(lo, func(k int) bool { return k < 0 }), cmp3(hi, func(k int) bool { return k > 0 })
		}
		switch {
		case !l.null && l.b != isAnd:
			return l, nil
		case !r.null && r.b != isAnd:
			return r, nil
		case l.null || r.null:
			return rv{null: true}, nil
		}
		return rv{b: isAnd}, nil
	}
	// strict
	args := make([]rv, len(c.Args))
	anyNull := false
	for i := range c.Args {
		v, err := ev(i)
		if err != nil {
			return rv{}, err
		}
		args[i] = v
		anyNull = anyNull || v.null
	}
	if anyNull {
		return rv{null: true}, nil
	}
	t := c.Args[0].Type()
	switch c.Name {
	case "=", "<>", "<", "<=", ">", ">=":
		k := refCmp(t, args[0], args[1])
		return rv{b: cmpHolds(cmpOps[c.Name], k)}, nil
	case "not":
		return rv{b: !args[0].b}, nil
	case "neg":
		switch {
		case isInt(t):
			lo, _ := intRange(t)
			if args[0].i == lo {
				return rv{}, errRef
			}
			return rv{i: -args[0].i}, nil
		case isFloat(t):
			return rv{f: -args[0].f}, nil
		default:
			return rv{d: new(big.Int).Neg(args[0].d)}, nil
		}
	case "abs":
		switch {
		case isInt(t):
			lo, _ := intRange(t)
			if args[0].i == lo {
				return rv{}, errRef
			}
			return rv{i: max(args[0].i, -args[0].i)}, nil
		case isFloat(t):
			return rv{f: math.Abs(args[0].f)}, nil
		default:
			return rv{d: new(big.Int).Abs(args[0].d)}, nil
		}
	case "+", "-", "*", "/", "%":
		return refArith(c, args)
	case "length":
		return rv{i: int64(utf8.RuneCountInString(args[0].s))}, nil
	case "lower":
		return rv{s: strings.ToLower(args[0].s)}, nil
	case "upper":
		return rv{s: strings.ToUpper(args[0].s)}, nil
	case "||":
		return rv{s: args[0].s + args[1].s}, nil
	case "substr":
		rs := []rune(args[0].s)
		start := args[1].i
		end := int64(len(rs)) + 1
		if len(args) == 3 {
			end = start + args[2].i
		}
		start = max(start, 1)
		end = min(end, int64(len(rs))+1)
		if end <= start {
			return rv{s: ""}, nil
		}
		return rv{s: string(rs[start-1 : end-1])}, nil
	case "like", "not_like", "ilike", "not_ilike":
		m := likeRegexp(args[1].s, strings.Contains(c.Name, "ilike")).MatchString(args[0].s)
		return rv{b: m != strings.HasPrefix(c.Name, "not")}, nil
	}
	return rv{}, fmt.Errorf("reference cannot call %s", c.Name)
}

func refArith(c *Call, a []rv) (rv, error) {
	t := c.T
	op := c.Name
	switch {
	case isInt(t):
		x, y := big.NewInt(a[0].i), big.NewInt(a[1].i)
		r := new(big.Int)
		switch op {
		case "+":
			r.Add(x, y)
		case "-":
			r.Sub(x, y)
		case "*":
			r.Mul(x, y)
		case "/", "%":
			if y.Sign() == 0 {
				return rv{}, errRef
			}
			if op == "/" {
				r.Quo(x, y)
			} else {
				r.Rem(x, y)
			}
		}
		lo, hi := intRange(t)
		if !r.IsInt64() || r.Int64() < lo || r.Int64() > hi {
			return rv{}, errRef
		}
		return rv{i: r.Int64()}, nil
	case isFloat(t):
		var r float64
		switch op {
		case "+":
			r = a[0].f + a[1].f
		case "-":
			r = a[0].f - a[1].f
		case "*":
			r = a[0].f * a[1].f
		case "/":
			if a[1].f == 0 {
				return rv{}, errRef
			}
			r = a[0].f / a[1].f
		}
		if math.IsInf(r, 0) {
			return rv{}, errRef
		}
		return rv{f: r}, nil
	default:
		x, y := a[0].d, a[1].d
		r := new(big.Int)
		switch op {
		case "+":
			r.Add(x, y)
		case "-":
			r.Sub(x, y)
		case "*":
			r.Mul(x, y)
		case "%":
			if y.Sign() == 0 {
				return rv{}, errRef
			}
			r.Rem(x, y)
		case "/":
			if y.Sign() == 0 {
				return rv{}, errRef
			}
			sa, sb := decScale(c.Args[0].Type()), decScale(c.Args[1].Type())
			k := decScale(t) - sa + sb
			num, den := new(big.Int).Set(x), new(big.Int).Set(y)
			if k >= 0 {
				num.Mul(num, pow10b(k))
			} else {
				den.Mul(den, pow10b(-k))
			}
			r = roundDivB(num, den)
		}
		if !fits38b(r) {
			return rv{}, errRef
		}
		return rv{d: r}, nil
	}
}

var _ = bytes.Equal
