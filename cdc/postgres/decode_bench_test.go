package postgres

import (
	"context"
	"encoding/binary"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pglogrepl"
)

// BenchmarkDecodeTransactions measures the source's own work per row change, with no
// server and no network: pgoutput messages of transactions of 1 000 changes (half
// inserts, half updates) of the benchmark table of BenchmarkIngestToBronze, through
// handle to the consumer's queue and out.
//
//	go test ./cdc/postgres/ -run '^$' -bench DecodeTransactions -benchmem
func BenchmarkDecodeTransactions(b *testing.B) {
	ctx := context.Background()
	src := NewSource(Config{DSN: "postgres://bench/db"})
	src.ch, src.space, src.wake = make(chan item, 1), make(chan struct{}, 1), make(chan struct{}, 1)
	r := &reader{src: src, dec: newDecoder(), rels: map[uint32]*relation{}, tables: map[string]*tableVersion{}, db: "db"}
	cat := &catTable{oid: 1, schema: "public", name: "orders", replident: 'd', cols: []catColumn{
		{name: "id", typ: oidInt8, typmod: -1, notNull: true, pk: true},
		{name: "customer", typ: oidInt4, typmod: -1, notNull: true},
		{name: "status", typ: oidText, typmod: -1, notNull: true},
		{name: "total", typ: oidNumeric, typmod: (12<<16 | 2) + 4},
		{name: "created", typ: oidTimestampTZ, typmod: -1, notNull: true},
	}}
	var cols []colSource
	for _, c := range cat.cols {
		cols = append(cols, colSource{name: c.name, typ: c.typ, typmod: c.typmod, identity: c.pk})
	}
	rel, err := r.buildRelation(ctx, cat, cols)
	if err != nil {
		b.Fatal(err)
	}
	r.rels[1] = rel
	const perTx = 1000
	begin := make([]byte, 21)
	begin[0] = 'B'
	commit := make([]byte, 26)
	commit[0] = 'C'
	var changes [][]byte
	for i := 0; i < perTx; i++ {
		kind := byte('I')
		status := "new"
		if i >= perTx/2 {
			kind, status = 'U', "paid"
		}
		m := []byte{kind, 0, 0, 0, 1, 'N', 0, 5}
		for _, v := range []string{strconv.Itoa(i%(perTx/2) + 1), strconv.Itoa(i % 97), status, strconv.Itoa(i) + ".25", "2026-11-22 23:04:34.123456+00"} {
			m = append(m, 't')
			m = binary.BigEndian.AppendUint32(m, uint32(len(v)))
			m = append(m, v...)
		}
		changes = append(changes, m)
	}
	b.ResetTimer()
	cpu0 := ProcessCPU()
	for n := range b.N {
		lsn := uint64(n+1) << 20
		binary.BigEndian.PutUint64(begin[1:], lsn+perTx*100)
		binary.BigEndian.PutUint64(commit[2:], lsn+perTx*100)
		binary.BigEndian.PutUint64(commit[10:], lsn+perTx*100+50)
		if err := r.handle(ctx, pglogrepl.XLogData{WALStart: pglogrepl.LSN(lsn), WALData: begin}); err != nil {
			b.Fatal(err)
		}
		for i, m := range changes {
			if err := r.handle(ctx, pglogrepl.XLogData{WALStart: pglogrepl.LSN(lsn + uint64(i)*100), WALData: m}); err != nil {
				b.Fatal(err)
			}
		}
		if err := r.handle(ctx, pglogrepl.XLogData{WALStart: pglogrepl.LSN(lsn + perTx*100), WALData: commit}); err != nil {
			b.Fatal(err)
		}
		tx, err := src.got(<-src.ch)
		if err != nil || len(tx.Events) != perTx {
			b.Fatalf("%d events, %v", len(tx.Events), err)
		}
		src.ends = src.ends[:0]
	}
	cpu := ProcessCPU() - cpu0
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perTx), "ns/change")
	// On a shared machine the wall-clock figure follows the load; CPU time less so.
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*perTx), "cpu-ns/change")
}

// ProcessCPU returns the CPU time this process used (user + system). The benchmarks
// report CPU time per change beside wall-clock rates: on a machine shared with other
// work, the latter follow the load.
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
