package bronze_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
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

// Ingest runs a source into a lake; a second run resumes after what the lake holds.
func ExampleIngest() {
	dir, _ := os.MkdirTemp("", "lake")
	defer os.RemoveAll(dir)
	store, _ := bronze.OpenDir(dir)
	ctx := context.Background()
	for _, events := range []int{1000, 3000} { // the same stream, run further the second time
		st, err := bronze.Ingest(ctx, bronze.IngestConfig{
			Source: cdc.NewGenerator(cdc.GeneratorConfig{Seed: 1, Events: events, AddColumnAt: -1}),
			Writer: bronze.WriterConfig{Store: store},
		})
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println("ingested", st.Events > 0, "commits", st.Commits)
	}
	r, _ := bronze.OpenReader(ctx, store)
	rep, err := r.Verify(ctx)
	fmt.Println(rep.Events, "events,", rep.Tables, "tables,", rep.DuplicatePositions, "duplicates,", err)
	// Output:
	// ingested true commits 1
	// ingested true commits 1
	// 3000 events, 3 tables, 0 duplicates, <nil>
}

// Replay returns the lake's events in global commit order; Transactions cuts them into
// whole transactions again.
func ExampleReader_Transactions() {
	store := bronze.NewMemStore()
	ctx := context.Background()
	_, _ = bronze.Ingest(ctx, bronze.IngestConfig{
		Source: cdc.NewGenerator(cdc.GeneratorConfig{Seed: 1, Events: 6, AddColumnAt: -1, TxMetadata: true}),
		Writer: bronze.WriterConfig{Store: store},
	})
	r, _ := bronze.OpenReader(ctx, store)
	for tx, err := range r.Transactions(ctx, bronze.ReplayOptions{}) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("tx %s:", tx.ID)
		for _, ev := range tx.Events {
			fmt.Printf(" %s %s", ev.Op, ev.Table)
		}
		fmt.Println()
	}
	// Output:
	// tx 770:6093754248: create public.customers
	// tx 771:6093754784: create public.orders
	// tx 772:6093755672: create public.payments update public.orders
	// tx 773:6093756008: create public.orders
	// tx 774:6093756600: update public.orders
}

// A lake is a source too: a pipeline re-runs from it deterministically.
func ExampleSource() {
	store := bronze.NewMemStore()
	ctx := context.Background()
	_, _ = bronze.Ingest(ctx, bronze.IngestConfig{
		Source: cdc.NewGenerator(cdc.GeneratorConfig{Seed: 2, Events: 500}),
		Writer: bronze.WriterConfig{Store: store},
	})
	src := bronze.NewSource(bronze.SourceConfig{Store: store, Tables: []string{"public.orders"}})
	if err := src.Open(ctx, cdc.Position{}); err != nil {
		fmt.Println(err)
		return
	}
	defer src.Close()
	n := 0
	for {
		tx, err := src.ReadTx(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		n += len(tx.Events)
		_ = src.Ack(ctx, tx.Commit) // after the transaction is applied downstream
	}
	fmt.Println(n > 0, "orders events replayed")
	// Output:
	// true orders events replayed
}
