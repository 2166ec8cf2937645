package bronze_test

import (
	"context"
	"fmt"
	"os"

	"github.com/strata-data/strata/bronze"
)

// Objects are published atomically; names from data go through Escape first.
func ExampleDirStore() {
	dir, _ := os.MkdirTemp("", "lake")
	defer os.RemoveAll(dir)
	store, err := bronze.OpenDir(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	table := "public.orders" // from a change event: never a path as it is
	_ = store.Put(ctx, "bronze/"+bronze.Escape(table)+"/part-0", []byte("..."))
	_ = store.PutIfAbsent(ctx, "manifest/000001", []byte("commit 1"))
	err = store.PutIfAbsent(ctx, "manifest/000001", []byte("a racing writer"))
	fmt.Println(err)
	names, _ := store.List(ctx, "")
	fmt.Println(names)
	fmt.Println(store.Put(ctx, "../outside", nil))
	// Output:
	// bronze: put manifest/000001: bronze: object exists
	// [bronze/public.orders/part-0 manifest/000001]
	// bronze: invalid object name: "../outside" has a ".." segment
}
