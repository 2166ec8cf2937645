package postgres_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/strata-data/strata/bronze"
	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/cdc/postgres"
)

// BenchmarkIngestToBronze measures row changes per second from the local cluster's slot
// into a bronze lake on disk (DirStore): the server's decoding, the source and the
// lake's commits together. The changes are written before the timed run, so it
// measures catching up on a backlog, sustained. The raw sub-benchmark is the yardstick:
// the same backlog received from the walsender and thrown away, nothing decoded.
//
//	go test ./cdc/postgres/ -run '^$' -bench IngestToBronze -benchtime 1x
func BenchmarkIngestToBronze(b *testing.B) {
	b.Run("raw-walsender-tx=1000rows", func(b *testing.B) {
		for range b.N {
			benchRaw(b, 1000, 200)
		}
	})
	for _, tc := range []struct {
		name      string
		rowsPerTx int
		txs       int
		streaming bool
	}{{"tx=10rows", 10, 20_000, false}, {"tx=1000rows", 1000, 200, false},
		// Large transactions, decoded whole by the server (spilling to its disk) or
		// streamed in progress (protocol 2) past a 1 MB logical_decoding_work_mem, spooled
		// by the source past its default 64 MiB.
		{"tx=100000rows", 100_000, 2, false}, {"tx=100000rows-streaming", 100_000, 2, true}} {
		b.Run(tc.name, func(b *testing.B) {
			for range b.N {
				benchIngest(b, tc.rowsPerTx, tc.txs, tc.streaming)
			}
		})
	}
}

// backlog creates the table and the slot, then writes the changes; it returns the DSN
// and the number of row changes.
func backlog(b *testing.B, rowsPerTx, txs int) (string, int64) {
	dsn := pgtestDB(b)
	conn := connect(b, dsn)
	exec(b, conn, "CREATE TABLE orders (id bigint PRIMARY KEY, customer int NOT NULL, status text NOT NULL, total numeric(12,2), created timestamptz NOT NULL DEFAULT now())")
	cfg := postgres.Config{DSN: dsn, Snapshot: postgres.SnapshotNever}
	src := postgres.NewSource(cfg)
	if err := src.Open(context.Background(), cdc.Position{}); err != nil { // creates the slot
		b.Fatal(err)
	}
	src.Close()
	// Half inserts, half updates of the inserted rows, in transactions of rowsPerTx.
	half := rowsPerTx / 2
	exec(b, conn, fmt.Sprintf(`DO $$ BEGIN FOR t IN 0..%d LOOP
		INSERT INTO orders (id, customer, status, total) SELECT t * %d + g, g %% 97, 'new', g * 1.25 FROM generate_series(1, %d) g;
		UPDATE orders SET status = 'paid', total = total + 1 WHERE id > t * %d AND id <= t * %d + %d;
		COMMIT; END LOOP; END $$`, txs-1, half, half, half, half, half))
	return dsn, int64(txs * 2 * half)
}

func benchRaw(b *testing.B, rowsPerTx, txs int) {
	b.StopTimer()
	dsn, rows := backlog(b, rowsPerTx, txs)
	rc, err := pgconn.Connect(context.Background(), dsn+"&replication=database")
	if err != nil {
		b.Fatal(err)
	}
	defer rc.Close(context.Background())
	b.StartTimer()
	t0 := time.Now()
	if err := pglogrepl.StartReplication(context.Background(), rc, postgres.DefaultSlot, 0, pglogrepl.StartReplicationOptions{Mode: pglogrepl.LogicalReplication,
		PluginArgs: []string{"proto_version '1'", "publication_names '" + postgres.DefaultPublication + "'"}}); err != nil {
		b.Fatal(err)
	}
	var n int64
	for n < rows {
		msg, err := rc.ReceiveMessage(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if cd, ok := msg.(*pgproto3.CopyData); ok && len(cd.Data) > 1 && cd.Data[0] == 'w' {
			if k := cd.Data[25]; k == 'I' || k == 'U' || k == 'D' { // after the 24-byte XLogData header
				n++
			}
		}
	}
	d := time.Since(t0)
	b.StopTimer()
	b.ReportMetric(float64(rows)/d.Seconds(), "changes/s")
}

func benchIngest(b *testing.B, rowsPerTx, txs int, streaming bool) {
	b.StopTimer()
	dsn, rows := backlog(b, rowsPerTx, txs)
	cfg := postgres.Config{DSN: dsn, Snapshot: postgres.SnapshotNever, Streaming: streaming}
	if rowsPerTx > 10_000 {
		// The walsender reads the setting when it starts (after this).
		conn := connect(b, dsn)
		exec(b, conn, "ALTER DATABASE "+conn.Config().Database+" SET logical_decoding_work_mem = '1MB'")
	}
	store, err := bronze.OpenDir(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.StartTimer()
	t0, cpu0, reads0 := time.Now(), postgres.ProcessCPU(), readSyscalls()
	src := postgres.NewSource(cfg)
	st, err := bronze.Ingest(context.Background(), bronze.IngestConfig{Source: src, Writer: bronze.WriterConfig{Store: store}, ExitWhenIdle: true})
	d, cpu := time.Since(t0), postgres.ProcessCPU()-cpu0
	b.StopTimer()
	walsender := walsenderCPU(b, connect(b, dsn)) // it served this run only
	src.Close()
	if err != nil {
		b.Fatal(err)
	}
	if st.Events != rows {
		b.Fatalf("ingested %d events, want %d", st.Events, rows)
	}
	b.ReportMetric(float64(rows)/d.Seconds(), "changes/s")
	b.ReportMetric(float64(st.Bytes)/float64(rows), "lake-B/change")
	// CPU per change of each side: on a machine shared with other work, wall-clock rates
	// follow the load; these say what an idle machine allows (the two run in parallel).
	b.ReportMetric(float64(cpu.Microseconds())/float64(rows), "client-cpu-µs/change")
	if walsender > 0 {
		b.ReportMetric(float64(walsender.Microseconds())/float64(rows), "walsender-cpu-µs/change")
	}
	// Read system calls per change (the lake's file reads included): how often the
	// source woke for the stream, a figure the load does not blur.
	if reads := readSyscalls(); reads > 0 {
		b.ReportMetric(float64(reads-reads0)/float64(rows), "reads/change")
	}
}

// readSyscalls returns the read system calls this process made (syscr of
// /proc/self/io; 0 when unknown).
func readSyscalls() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "syscr: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// walsenderCPU returns the CPU time of the slot's walsender process (0 when unknown).
func walsenderCPU(b *testing.B, conn *pgx.Conn) time.Duration {
	var pid int
	if err := conn.QueryRow(context.Background(), "SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1", postgres.DefaultSlot).Scan(&pid); err != nil {
		return 0
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+2:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64) // utime and stime, fields 14 and 15, in clock ticks (100/s)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}
