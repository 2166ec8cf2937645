package gold_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/strata-data/strata/gold"
)

// Load a dbt-style project, order its models and select a part of it.
func ExampleLoad() {
	p, err := gold.Load("testdata/shop")
	if err != nil {
		log.Fatal(err)
	}
	d, err := p.DAG()
	if err != nil {
		log.Fatal(err)
	}
	sel, err := d.Select("+orders")
	if err != nil {
		log.Fatal(err)
	}
	for _, n := range sel {
		if m := p.Models[n]; m != nil {
			fmt.Println(n, m.Materialized, m.Refs)
		} else {
			fmt.Println(n, "seed")
		}
	}
	// Output:
	// raw_orders seed
	// raw_payments seed
	// stg_orders view [raw_orders]
	// stg_payments view [raw_payments]
	// orders table [stg_orders stg_payments]
}

// The lineage graph of a project as Mermaid.
func ExampleCatalog_WriteMermaid() {
	p, err := gold.Load("testdata/shop")
	if err != nil {
		log.Fatal(err)
	}
	c, err := p.Catalog(nil)
	if err != nil {
		log.Fatal(err)
	}
	if err := c.WriteMermaid(os.Stdout); err != nil {
		log.Fatal(err)
	}
	// Output:
	// flowchart LR
	//   n0[/"raw_customers (seed)"/]
	//   n1[/"raw_orders (seed)"/]
	//   n2[/"raw_payments (seed)"/]
	//   n3("stg_customers (view)")
	//   n4("stg_orders (view)")
	//   n5("stg_payments (view)")
	//   n6["orders (table)"]
	//   n7("int_customer_orders (ephemeral)")
	//   n8["customers (table)"]
	//   n9["payments_daily (incremental)"]
	//   n0 --> n3
	//   n1 --> n4
	//   n2 --> n5
	//   n4 --> n6
	//   n5 --> n6
	//   n6 --> n7
	//   n3 --> n8
	//   n7 --> n8
	//   n5 --> n9
}

// Build a project: seeds, models in DAG order, then the data tests.
func ExampleProject_Build() {
	p, err := gold.Load("testdata/shop")
	if err != nil {
		log.Fatal(err)
	}
	target, err := os.MkdirTemp("", "shop-target")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(target)
	run, err := p.Build(context.Background(), gold.Options{Target: target, Select: "+customers"})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range run.Nodes {
		fmt.Println(r.Status, r.Kind, r.Name, r.Rows)
	}
	for _, r := range run.Tests {
		if r.Status != gold.StatusPass {
			fmt.Println(r.Status, r.Name, r.Rows, "failing")
		}
	}
	fmt.Println("failed:", run.Failed())
	// Output:
	// OK seed raw_customers 8
	// OK seed raw_orders 12
	// OK seed raw_payments 15
	// OK view stg_customers -1
	// OK view stg_orders -1
	// OK view stg_payments -1
	// OK table orders 12
	// OK ephemeral int_customer_orders -1
	// OK table customers 8
	// WARN not_null_customers_email 1 failing
	// WARN relationships_stg_payments_order_id_order_id_ref_stg_orders 1 failing
	// failed: false
}
