package bronze_test

import (
	"bytes"
	"context"
	"fmt"
	"os"

	"github.com/strata-data/strata/bronze"
	"github.com/strata-data/strata/cdc"
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

// One table's events go into an Avro file and come back exactly, absent columns included.
func ExampleEncodeEvents() {
	d := cdc.NewDebeziumDecoder(cdc.DebeziumConfig{})
	var events []cdc.Event
	for i, v := range []string{
		`{"op":"c","after":{"id":1,"status":"new"},"source":{"schema":"public","table":"orders","lsn":10}}`,
		`{"op":"u","before":{"id":1},"after":{"id":1,"status":"paid"},"source":{"schema":"public","table":"orders","lsn":20}}`,
	} {
		ev, err := d.Decode(&cdc.Record{Topic: "shop.public.orders", Offset: int64(i), Value: []byte(v)})
		if err != nil {
			fmt.Println(err)
			return
		}
		events = append(events, ev)
	}
	var file bytes.Buffer
	if err := bronze.EncodeEvents(&file, events, bronze.AvroOptions{}); err != nil {
		fmt.Println(err)
		return
	}
	back, err := bronze.DecodeEvents(&file)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, ev := range back {
		fmt.Println(ev.Table, ev.Op, ev.Pos, ev.Before, ev.After)
	}
	// Output:
	// public.orders create a/a/0 () (1, "new")
	// public.orders update 14/14/0 (1, <absent>) (1, "paid")
}
