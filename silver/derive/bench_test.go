package derive_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/strata-data/strata/bronze"
	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/silver"
	"github.com/strata-data/strata/silver/derive"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchLake applies n customers, 2n addresses and 5n orders to the input tables
// directly (no bronze), as one transaction each.
func benchLake(b *testing.B, n int) (bronze.Store, func(lsn uint64, frac float64) int) {
	ctx := context.Background()
	store := bronze.NewMemStore()
	rng := rand.New(rand.NewPCG(1, 2))
	tables := map[string]*silver.Table{}
	for _, name := range []string{customers, addresses, orders} {
		t, err := silver.Open(ctx, store, name, silver.Config{})
		if err != nil {
			b.Fatal(err)
		}
		tables[name] = t
	}
	clock := int64(0)
	rows := func(table string, count int) []cdc.Event {
		evs := make([]cdc.Event, 0, count)
		for range count {
			var r change.Row
			switch table {
			case customers:
				id := rng.Int64N(int64(n))
				r = change.Row{change.Int(id), change.Str(fmt.Sprint("c", id)), change.Str([]string{"a", "b", "c"}[rng.IntN(3)])}
			case addresses:
				clock++
				r = change.Row{change.Int(rng.Int64N(int64(2 * n))), change.Int(rng.Int64N(int64(n))), change.Int(clock), change.Str(fmt.Sprint("city", rng.IntN(100)))}
			default:
				r = change.Row{change.Int(rng.Int64N(int64(5 * n))), change.Int(rng.Int64N(int64(n))), change.Int(rng.Int64N(1000))}
			}
			evs = append(evs, cdc.Event{Table: table, Op: cdc.OpCreate, Schema: schemas[table], SchemaVersion: 1, After: r})
		}
		return evs
	}
	// apply upserts frac of each table's keys (at least one) at lsn; it returns the changes.
	apply := func(lsn uint64, frac float64) int {
		total := 0
		for name, k := range map[string]int{customers: n, addresses: 2 * n, orders: 5 * n} {
			evs := rows(name, max(1, int(frac*float64(k))))
			if _, err := tables[name].Apply(ctx, []cdc.Tx{{Events: evs, Commit: cdc.Position{Major: lsn}}}); err != nil {
				b.Fatal(err)
			}
			total += len(evs)
		}
		return total
	}
	return store, apply
}

// BenchmarkDerive measures the customer 360 query: the first build over n customers
// (2n addresses, 5n orders), then catch-ups after 1% of each input's keys changed.
// changes/cpu-s counts input row changes per CPU-second of the process.
func BenchmarkDerive(b *testing.B) {
	for _, n := range []int{20_000} {
		b.Run(fmt.Sprint("build/customers=", n), func(b *testing.B) {
			var changes int
			var cpu time.Duration
			for b.Loop() {
				b.StopTimer()
				store, apply := benchLake(b, n)
				changes += apply(1, 1)
				d := openBench(b, store)
				c0 := cpuTime()
				b.StartTimer()
				if err := d.CatchUp(context.Background()); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				cpu += cpuTime() - c0
				d.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(changes)/b.Elapsed().Seconds(), "changes/s")
			b.ReportMetric(float64(changes)/cpu.Seconds(), "changes/cpu-s")
		})
		b.Run(fmt.Sprint("incremental-1%/customers=", n), func(b *testing.B) {
			store, apply := benchLake(b, n)
			apply(1, 1)
			d := openBench(b, store)
			defer d.Close()
			if err := d.CatchUp(context.Background()); err != nil {
				b.Fatal(err)
			}
			var changes int
			var cpu time.Duration
			lsn := uint64(1)
			b.ResetTimer()
			for b.Loop() {
				b.StopTimer()
				lsn++
				changes += apply(lsn, 0.01)
				c0 := cpuTime()
				b.StartTimer()
				if err := d.CatchUp(context.Background()); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				cpu += cpuTime() - c0
				b.StartTimer()
			}
			b.ReportMetric(float64(changes)/b.Elapsed().Seconds(), "changes/s")
			b.ReportMetric(float64(changes)/cpu.Seconds(), "changes/cpu-s")
		})
	}
}

func openBench(b *testing.B, store bronze.Store) *derive.Table {
	d, err := derive.Open(context.Background(), derive.Config{Store: store, Name: derived,
		Inputs: []string{customers, addresses, orders}, Build: customer360, CheckpointDir: b.TempDir(),
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	return d
}
