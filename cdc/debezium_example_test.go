package cdc_test

import (
	"fmt"

	"github.com/strata-data/strata/cdc"
)

// A Debezium record (key and value as Kafka Connect's JSON converter writes them) becomes
// a typed event; here a payload-only update with a key-only before-image.
func ExampleDebeziumDecoder() {
	d := cdc.NewDebeziumDecoder(cdc.DebeziumConfig{})
	ev, err := d.Decode(&cdc.Record{
		Topic: "shop.public.orders", Partition: 0, Offset: 42,
		Key: []byte(`{"id": 7}`),
		Value: []byte(`{"before": {"id": 7}, "after": {"id": 7, "status": "paid", "total": 1250},
			"source": {"connector": "postgresql", "schema": "public", "table": "orders",
			           "txId": 556, "lsn": 24023128, "sequence": "[\"24023119\",\"24023128\"]"},
			"op": "u", "ts_ms": 1559033904863}`),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(ev.Table, ev.Op, ev.Pos, ev.TxKey())
	fmt.Println("schema:", ev.Schema)
	fmt.Println("before:", ev.Before)
	fmt.Println("after: ", ev.After)

	_, err = d.Decode(&cdc.Record{Topic: "shop.public.orders", Offset: 43, Value: []byte(`{"op": "x"}`)})
	fmt.Println(err)
	// Output:
	// public.orders update 16e904f/16e9058/0 556
	// schema: id int64, status utf8, total int64 (key: id)
	// before: (7, <absent>, <absent>)
	// after:  (7, "paid", 1250)
	// cdc: decode shop.public.orders/0@43: field op: cdc: unknown op: "x" (want c, u, d, r, t or m)
}
