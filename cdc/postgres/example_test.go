package postgres_test

import (
	"context"
	"fmt"

	"github.com/strata-data/strata/bronze"
	"github.com/strata-data/strata/cdc/postgres"
)

// A source URL, as strata ingest --from takes it: publication, slot, tables and
// snapshot mode are the source's; the rest stays in the DSN.
func ExampleParseURL() {
	cfg, err := postgres.ParseURL("postgres://app@db.internal:5432/shop?sslmode=disable&publication=orders_pub&slot=lake&tables=public.orders,customers")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.DSN)
	fmt.Println(cfg.Publication, cfg.Slot, cfg.Tables, cfg.Snapshot)
	// Output:
	// postgres://app@db.internal:5432/shop?sslmode=disable
	// orders_pub lake [public.orders customers] initial
}

// The source runs into a bronze lake; each run resumes after the lake's last commit, and
// the slot is confirmed only for what the lake holds.
func ExampleSource() {
	store, _ := bronze.OpenDir("/var/lib/shop-lake")
	src := postgres.NewSource(postgres.Config{DSN: "postgres://app@localhost/shop", Tables: []string{"public.orders"}})
	defer src.Close()
	st, err := bronze.Ingest(context.Background(), bronze.IngestConfig{Source: src, Writer: bronze.WriterConfig{Store: store}, ExitWhenIdle: true})
	fmt.Println(st.Events, err)
}
