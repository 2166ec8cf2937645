package mempool

import (
	"runtime/debug"
	"sync"
	"testing"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func TestClasses(t *testing.T) {
	prev := 0
	for c := range nClasses {
		n := classSize(c)
		if n <= prev {
			t.Fatalf("class %d size %d not above class %d's %d", c, n, c-1, prev)
		}
		if got, gn := classOf(n); got != c || gn != n {
			t.Fatalf("classOf(%d) = %d, %d; want %d, %d", n, got, gn, c, n)
		}
		if c > 0 {
			if got, gn := classOf(prev + 1); got != c || gn != n {
				t.Fatalf("classOf(%d) = %d, %d; want %d, %d", prev+1, got, gn, c, n)
			}
			if waste := float64(n-prev-1) / float64(n); waste > 0.25 {
				t.Fatalf("class %d (%d bytes) wastes %.2f of a %d-byte buffer", c, n, waste, prev+1)
			}
		}
		prev = n
	}
	if prev != MaxPooled {
		t.Fatalf("largest class %d, want MaxPooled %d", prev, MaxPooled)
	}
}

func TestPoolReusesZeroed(t *testing.T) {
	p := New()
	b := p.Allocate(100_000)
	if len(b) != 100_000 || uintptr(unsafe.Pointer(&b[0]))%64 != 0 {
		t.Fatalf("len %d, address %p: want 100000 bytes aligned to 64", len(b), &b[0])
	}
	for i := range b {
		b[i] = 0xab
	}
	p.Free(b)
	// sync.Pool keeps a Put item for the same P's next Get unless a collection runs
	// between them; retry a few times to make the test robust against one.
	for range 10 {
		c := p.Allocate(90_000) // same class
		if unsafe.SliceData(c) == unsafe.SliceData(b) {
			for i, v := range c {
				if v != 0 {
					t.Fatalf("reused buffer byte %d = %#x, want 0", i, v)
				}
			}
			// Growing within the class clears the tail an earlier user wrote.
			c = p.Reallocate(100_000, c)
			for i, v := range c {
				if v != 0 {
					t.Fatalf("reallocated buffer byte %d = %#x, want 0", i, v)
				}
			}
			if s := p.Stats(); s.Reused == 0 || s.Frees == 0 {
				t.Fatalf("stats %+v: want a reuse and a free counted", s)
			}
			return
		}
		p.Free(c)
		b = c
	}
	t.Fatal("a freed buffer was never handed out again")
}

func TestPoolSmallAndHuge(t *testing.T) {
	p := New()
	for _, n := range []int{0, 1, 100, MinPooled - 1, MaxPooled + 1} {
		b := p.Allocate(n)
		if len(b) != n {
			t.Fatalf("Allocate(%d): len %d", n, len(b))
		}
		p.Free(b)
	}
	if s := p.Stats(); s.Allocs != 0 || s.Frees != 0 {
		t.Fatalf("stats %+v: buffers outside the classes must not be pooled", s)
	}
}

// TestPoolConcurrent runs builders on several goroutines against one pool (run it with
// -race): no buffer may be handed to two users at once.
func TestPoolConcurrent(t *testing.T) {
	p := New()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				bld := array.NewInt64Builder(p)
				n := 1000 + (i*37+g*101)%20000
				for v := range n {
					bld.Append(int64(g<<32 | v))
				}
				arr := bld.NewInt64Array()
				bld.Release()
				for v, x := range arr.Int64Values() {
					if x != int64(g<<32|v) {
						t.Errorf("goroutine %d value %d = %#x: buffer shared", g, v, x)
						return
					}
				}
				arr.Release()
			}
		}()
	}
	wg.Wait()
}

func TestGuardFaultsOnReadAfterFree(t *testing.T) {
	g := NewGuard(4)
	bld := array.NewStringBuilder(g)
	bld.AppendValues([]string{"kept", "too long"}, nil)
	arr := bld.NewStringArray()
	bld.Release()
	s := arr.Value(0) // aliases the buffer, as String.Value does
	if s != "kept" {
		t.Fatalf("value %q", s)
	}
	arr.Release()
	if n := g.Live(); n != 0 {
		t.Fatalf("%d buffers live after release", n)
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	faulted := func() (f bool) {
		defer func() { f = recover() != nil }()
		sink = s[0] + s[3]
		return false
	}()
	if !faulted {
		t.Fatal("reading a released buffer did not fault")
	}
}

var sink byte

func TestGuardDoubleFree(t *testing.T) {
	g := NewGuard(4)
	b := g.Allocate(10)
	g.Free(b)
	defer func() {
		if recover() == nil {
			t.Fatal("double free did not panic")
		}
	}()
	g.Free(b)
}

func TestGuardBuilds(t *testing.T) {
	mem := memory.NewCheckedAllocator(NewGuard(8))
	defer mem.AssertSize(t, 0)
	b := array.NewFloat64Builder(mem)
	for i := range 10_000 {
		b.Append(float64(i))
	}
	a := b.NewArray()
	b.Release()
	if a.Len() != 10_000 || a.DataType() != arrow.PrimitiveTypes.Float64 {
		t.Fatalf("array %v", a)
	}
	a.Release()
}
