package plan

import (
	"context"
	"fmt"
	"testing"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func TestSizeClass(t *testing.T) {
	prev, prevSize := -1, 0
	for n := 1 << poolMinShift; n <= 1<<poolMaxShift; n += 97 {
		c, size := sizeClass(n)
		if c < 0 || size < n || size > n+n/poolSteps+1 {
			t.Fatalf("sizeClass(%d) = %d, %d", n, c, size)
		}
		if c < prev || (c == prev && size != prevSize) || (c != prev && size <= prevSize) {
			t.Fatalf("sizeClass(%d) = %d, %d after %d, %d", n, c, size, prev, prevSize)
		}
		if classOf(size) != c {
			t.Fatalf("classOf(%d) = %d, want %d", size, classOf(size), c)
		}
		prev, prevSize = c, size
	}
	if c, _ := sizeClass(1<<poolMinShift - 1); c != -1 {
		t.Fatal("below the pooled range")
	}
	if c, _ := sizeClass(1<<poolMaxShift + 1); c != -1 {
		t.Fatal("above the pooled range")
	}
}

func addr(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

// A freed buffer is handed out again, aligned and cleared; one freed after the pool
// is closed is not (nor overwritten).
func TestBufferPoolReuse(t *testing.T) {
	p := newBufferPool()
	size := 100_000
	a := p.Allocate(size)
	if len(a) != size || addr(a)%poolAlign != 0 {
		t.Fatalf("len %d, address %#x", len(a), addr(a))
	}
	for i := range a {
		a[i] = 7
	}
	// sync.Pool keeps a buffer per P; stay on this one.
	p.Free(a)
	b := p.Allocate(size - 10)
	if addr(b) != addr(a) {
		t.Fatalf("a freed buffer was not reused")
	}
	for i, v := range b {
		if v != 0 {
			t.Fatalf("byte %d of a reused buffer is %d", i, v)
		}
	}
	b[0] = 1
	c := p.Reallocate(size, b) // within its capacity: the same buffer, the new bytes zero
	if addr(c) != addr(b) || c[0] != 1 || c[size-1] != 0 {
		t.Fatalf("Reallocate within capacity: %#x %#x %d %d", addr(c), addr(b), c[0], c[size-1])
	}
	d := p.Reallocate(4*size, c) // beyond it: copied
	if d[0] != 1 || len(d) != 4*size {
		t.Fatal("Reallocate lost the buffer's bytes")
	}
	p.close()
	d[1] = 9
	p.Free(d)
	if d[1] != 9 {
		t.Fatal("a buffer freed after close was overwritten")
	}
	if e := p.Allocate(4 * size); addr(e) == addr(d) {
		t.Fatal("a buffer freed after close was reused")
	}
	// Small buffers are Go memory, aligned, not pooled.
	s := p.Allocate(100)
	if len(s) != 100 || addr(s)%poolAlign != 0 {
		t.Fatalf("small: len %d, address %#x", len(s), addr(s))
	}
}

// A query's result, released after the query, is not reused by a later query: a
// string of it kept by the caller stays as it was, as with memory.GoAllocator.
func TestQueryResultNotReused(t *testing.T) {
	rows := make([][]any, 5000)
	for i := range rows {
		rows[i] = []any{fmt.Sprintf("value of row %d", i)}
	}
	cat := newTestCatalog(t, tableDef{name: "t", fields: []arrow.Field{{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true}}, rows: rows})
	res, err := Query(context.Background(), cat, "SELECT s || '!' AS s FROM t")
	if err != nil {
		t.Fatal(err)
	}
	kept := res.Batches[0].Column(0).(*array.String).Value(0)
	want := string([]byte(kept))
	res.Release()
	for range 3 {
		res, err := Query(context.Background(), cat, "SELECT s || '?' AS s FROM t")
		if err != nil {
			t.Fatal(err)
		}
		res.Release()
	}
	if kept != want {
		t.Fatalf("a kept string of a released result changed: %q, was %q", kept, want)
	}
}

var _ memory.Allocator = (*bufferPool)(nil)
