package postgres

import (
	"fmt"
	"os"
	"slices"
	"testing"
)

// TestSpoolAbortSubAcrossFileAndMemory cuts subtransactions off a spool whose records
// lie partly in its file and partly in memory, at either side of the boundary, and
// checks what replays and that memory stays within the bound.
func TestSpoolAbortSubAcrossFileAndMemory(t *testing.T) {
	dir := t.TempDir()
	ss := newSpools(dir, 200, nil) // a few records in memory at most
	sp := ss.start(1, true)
	var want []string
	add := func(xid uint32, n int, keep bool) {
		t.Helper()
		for i := 0; i < n; i++ {
			msg := fmt.Sprintf("x%d-%d", xid, i)
			if err := ss.add(sp, xid, uint64(len(want)+i), 'I', []byte(msg)); err != nil {
				t.Fatal(err)
			}
			if keep {
				want = append(want, "I"+msg)
			}
			if ss.inMem > 200 {
				t.Fatalf("%d bytes in memory, bound 200", ss.inMem)
			}
		}
	}
	add(1, 20, true)  // top level: in the file
	add(2, 20, false) // subtransaction 2, aborted: its start is in the file
	add(3, 3, false)  // 3, begun inside 2, goes with it
	if err := ss.abortSub(sp, 2); err != nil {
		t.Fatal(err)
	}
	add(4, 20, true)
	add(5, 2, false) // aborted while in memory only
	if sp.fsize == 0 || len(sp.mem) == 0 {
		t.Fatalf("file %d bytes, memory %d: want both", sp.fsize, len(sp.mem))
	}
	if err := ss.abortSub(sp, 5); err != nil {
		t.Fatal(err)
	}
	if err := ss.abortSub(sp, 99); err != nil { // no changes of its own
		t.Fatal(err)
	}
	add(1, 2, true)
	var got []string
	if err := ss.replay(sp, func(_ uint64, msg []byte) error { got = append(got, string(msg)); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("replayed %q\nwant %q", got, want)
	}
	ss.release(sp)
	if files, _ := os.ReadDir(dir); len(files) != 0 || ss.inMem != 0 || len(ss.byXid) != 0 {
		t.Fatalf("after release: %d files, %d bytes in memory, %d spools", len(files), ss.inMem, len(ss.byXid))
	}
}
