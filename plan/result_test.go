package plan

import (
	"context"
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

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
