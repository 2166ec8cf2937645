package expr

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

const benchRows = 1 << 20

// benchBatch is a lineitem-like batch of 1M rows: a, b int64; price decimal(15,2);
// discount decimal(15,2) in [0, 0.10]; shipdate date; comment text.
func benchBatch(b *testing.B) arrow.RecordBatch {
	mem := memory.NewGoAllocator()
	r := rand.New(rand.NewPCG(1, 2))
	ab := array.NewInt64Builder(mem)
	bb := array.NewInt64Builder(mem)
	pb := array.NewDecimal128Builder(mem, Numeric(15, 2).(*arrow.Decimal128Type))
	db := array.NewDecimal128Builder(mem, Numeric(15, 2).(*arrow.Decimal128Type))
	sb := array.NewDate32Builder(mem)
	cb := array.NewStringBuilder(mem)
	words := []string{"furiously", "special", "requests", "carefully", "final", "deposits", "ironic", "packages", "blithely", "express"}
	for range benchRows {
		ab.Append(r.Int64N(1 << 30))
		bb.Append(r.Int64N(1 << 30))
		pb.Append(decimal128.FromI64(r.Int64N(10000000) + 90000))
		db.Append(decimal128.FromI64(r.Int64N(11)))
		sb.Append(arrow.Date32(8036 + r.IntN(2526))) // 1992-01-02 .. 1998-12-01
		var c []byte
		for k := range 3 + r.IntN(5) {
			if k > 0 {
				c = append(c, ' ')
			}
			c = append(c, words[r.IntN(len(words))]...)
		}
		cb.Append(string(c))
	}
	names := []string{"a", "b", "price", "discount", "shipdate", "comment"}
	bs := []array.Builder{ab, bb, pb, db, sb, cb}
	fields := make([]arrow.Field, len(bs))
	cols := make([]arrow.Array, len(bs))
	for i, bl := range bs {
		cols[i] = bl.NewArray()
		fields[i] = arrow.Field{Name: names[i], Type: cols[i].DataType(), Nullable: true}
	}
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, benchRows)
}

// benchEval evaluates e over the 1M rows as batches of chunk rows (slices of rb).
func benchEval(b *testing.B, rb arrow.RecordBatch, e Expr, filter bool, chunk int) {
	var parts []arrow.RecordBatch
	for off := 0; off < benchRows; off += chunk {
		parts = append(parts, rb.NewSlice(int64(off), int64(min(off+chunk, benchRows))))
	}
	defer func() {
		for _, p := range parts {
			p.Release()
		}
	}()
	ctx := &Context{Alloc: memory.NewGoAllocator()}
	var ru0, ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	b.ResetTimer()
	for b.Loop() {
		for _, rb := range parts {
			if filter {
				out, err := Filter(ctx, rb, e)
				if err != nil {
					b.Fatal(err)
				}
				out.Release()
				continue
			}
			a, err := e.Eval(ctx, rb)
			if err != nil {
				b.Fatal(err)
			}
			a.Release()
		}
	}
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano()+ru1.Stime.Nano()-ru0.Utime.Nano()-ru0.Stime.Nano()) * time.Nanosecond
	// wall time per row, and CPU time per row (steadier on a shared machine)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchRows, "ns/row")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N)/benchRows, "cpu-ns/row")
}

func BenchmarkEval(b *testing.B) {
	rb := benchBatch(b)
	defer rb.Release()
	c := func(n string) Expr { return colRef(rb, n) }
	mk := func(name string, args ...Expr) Expr { return call(b, name, args...) }
	cases := []struct {
		name   string
		e      Expr
		filter bool
	}{
		{"a+b", mk("+", c("a"), c("b")), false},
		{"a+1", mk("+", c("a"), lit(1)), false},
		{"a*b", mk("*", c("a"), c("b")), false},
		{"price*(1-discount)", mk("*", c("price"), mk("-", dec("1", 15, 2), c("discount"))), false},
		{"price*(1-discount)*(1+tax)", mk("*", mk("*", c("price"), mk("-", dec("1", 15, 2), c("discount"))), mk("+", dec("1", 15, 2), c("discount"))), false},
		{"shipdate<=date", mk("<=", c("shipdate"), typed("1998-09-02", Date)), false},
		{"filter shipdate<=date", mk("<=", c("shipdate"), typed("1998-09-02", Date)), true},
		{"discount between", mk("between", c("discount"), dec("0.05", 15, 2), dec("0.07", 15, 2)), false},
		{"q6 predicate", mk("and", mk("and", mk(">=", c("shipdate"), typed("1994-01-01", Date)), mk("<", c("shipdate"), typed("1995-01-01", Date))), mk("between", c("discount"), dec("0.05", 15, 2), dec("0.07", 15, 2))), false},
		{"comment like %special%requests%", mk("like", c("comment"), lit("%special%requests%")), false},
		{"comment like final%", mk("like", c("comment"), lit("final%")), false},
		{"lower(comment)", mk("lower", c("comment")), false},
		{"case when discount>0.05 then price else 0", must(NewCase(nil, []When{{mk(">", c("discount"), dec("0.05", 15, 2)), c("price")}}, lit(0))), false},
		{"coalesce(nullif(a%7,0),b)", mk("coalesce", mk("nullif", mk("%", c("a"), lit(7)), lit(0)), c("b")), false},
		{"a in (1..10)", mk("in", c("a"), lit(1), lit(2), lit(3), lit(4), lit(5), lit(6), lit(7), lit(8), lit(9), lit(10)), false},
	}
	for _, chunk := range []int{64 << 10, benchRows} {
		for _, tc := range cases {
			b.Run(fmt.Sprintf("%s/batch=%d", tc.name, chunk), func(b *testing.B) { benchEval(b, rb, tc.e, tc.filter, chunk) })
		}
	}
}
