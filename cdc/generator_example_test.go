package cdc_test

import (
	"context"
	"fmt"
	"io"

	"github.com/strata-data/strata/cdc"
)

// NextRecord gives the raw Debezium records, as a Kafka consumer would read them; a
// decoder turns them into typed events.
func ExampleGenerator_NextRecord() {
	gen := cdc.NewGenerator(cdc.GeneratorConfig{Seed: 1, Events: 4})
	dec := cdc.NewDebeziumDecoder(cdc.DebeziumConfig{})
	for {
		rec, err := gen.NextRecord()
		if err == io.EOF {
			break
		}
		if err != nil {
			panic(err)
		}
		ev, err := dec.Decode(&rec)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s@%d %s key=%v pos=%s\n", rec.Topic, rec.Offset, ev.Op, ev.Key, ev.Pos)
	}
	// Output:
	// gen.public.customers@0 create key=(1) pos=16b374d48/16b374e50/0
	// gen.public.orders@0 create key=(1) pos=16b374f88/16b375178/0
	// gen.public.payments@0 create key=(1) pos=16b3751a0/16b375370/0
	// gen.public.orders@1 update key=(1) pos=16b3751a0/16b375448/0
}

// As a Source, the generator decodes its own records; with transaction metadata every
// transaction is framed by BEGIN and END, and END's position is what gets acked.
func ExampleGenerator_Read() {
	ctx := context.Background()
	gen := cdc.NewGenerator(cdc.GeneratorConfig{Seed: 1, Events: 4, TxMetadata: true})
	if err := gen.Open(ctx, cdc.Position{}); err != nil {
		panic(err)
	}
	defer gen.Close()
	for {
		ev, err := gen.Read(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			panic(err)
		}
		fmt.Println(ev.Op, ev.Table, ev.Tx.ID)
		if ev.Op == cdc.OpTxEnd {
			_ = gen.Ack(ctx, ev.Pos)
		}
	}
	fmt.Println("acked", gen.Acked())
	// Output:
	// tx-begin  770:6093753704
	// create public.customers 770:6093754248
	// tx-end  770:6093754248
	// tx-begin  771:6093754440
	// create public.orders 771:6093754784
	// tx-end  771:6093754784
	// tx-begin  772:6093754968
	// create public.payments 772:6093755616
	// update public.orders 772:6093755616
	// tx-end  772:6093755616
	// acked 16b3751a0/16b3754e0/0
}
