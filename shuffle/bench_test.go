package shuffle_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/internal/cputime"
	"github.com/strata-data/strata/shuffle"
)

var benchSchema = change.MustSchema([]arrow.Field{
	change.NotNull("id", arrow.PrimitiveTypes.Int64),
	change.Col("amount", arrow.PrimitiveTypes.Float64),
	change.Col("email", arrow.BinaryTypes.String),
}, "id")

// benchBatches returns rows rows of (id int64, amount float64, email string) in
// batches of 8192: ids ascending with gaps, amounts in cents, emails ~22 bytes.
func benchBatches(b testing.TB, rows int) ([]*change.Batch, int64) {
	rng := rand.New(rand.NewPCG(42, 42))
	domains := []string{"example.com", "mail.test", "strata.dev", "corp.example"}
	var out []*change.Batch
	var bytes int64
	id := int64(1000)
	for start := 0; start < rows; start += 8192 {
		n := min(8192, rows-start)
		ids := array.NewInt64Builder(memory.DefaultAllocator)
		amts := array.NewFloat64Builder(memory.DefaultAllocator)
		emails := array.NewStringBuilder(memory.DefaultAllocator)
		ops := make([]change.Op, n)
		for i := range n {
			id += 1 + rng.Int64N(3)
			ids.Append(id)
			amts.Append(float64(rng.IntN(1_000_000)) / 100)
			emails.Append(fmt.Sprintf("user%d@%s", rng.IntN(10_000_000), domains[rng.IntN(len(domains))]))
			ops[i] = change.Op(rng.IntN(4))
		}
		cols := []arrow.Array{ids.NewArray(), amts.NewArray(), emails.NewArray()}
		rec := array.NewRecordBatch(benchSchema.Arrow(), cols, int64(n))
		for _, c := range cols {
			c.Release()
		}
		bt, err := change.NewBatch(benchSchema, rec, ops)
		require.NoError(b, err)
		bytes += shuffle.BatchBytes(bt) + int64(n)
		out = append(out, bt)
	}
	return out, bytes
}

func BenchmarkSpillWrite(b *testing.B) {
	batches, size := benchBatches(b, 1<<20)
	defer releaseAll(batches)
	for _, codec := range codecs {
		b.Run(codec.String(), func(b *testing.B) {
			dir := b.TempDir()
			b.SetBytes(size)
			var fileBytes int64
			cpu := cputime.Process()
			for b.Loop() {
				w, err := shuffle.CreateSpill(dir, benchSchema, shuffle.SpillOptions{Codec: codec})
				require.NoError(b, err)
				for _, bt := range batches {
					require.NoError(b, w.Write(bt))
				}
				f, err := w.Finish()
				require.NoError(b, err)
				fileBytes = f.Bytes
				require.NoError(b, f.Remove())
			}
			b.ReportMetric(float64(fileBytes)/float64(size), "file/mem")
			reportCPUBytes(b, cpu, size)
		})
	}
}

func BenchmarkSpillRead(b *testing.B) {
	batches, size := benchBatches(b, 1<<20)
	defer releaseAll(batches)
	for _, codec := range codecs {
		b.Run(codec.String(), func(b *testing.B) {
			f := writeSpill(b, b.TempDir(), shuffle.SpillOptions{Codec: codec}, batches...)
			defer f.Remove()
			b.SetBytes(size)
			ctx := context.Background()
			cpu := cputime.Process()
			for b.Loop() {
				s, err := f.Open(memory.DefaultAllocator)
				require.NoError(b, err)
				for {
					bt, err := s.Next(ctx)
					if errors.Is(err, io.EOF) {
						break
					}
					require.NoError(b, err)
					bt.Release()
				}
				require.NoError(b, s.Close())
			}
			reportCPUBytes(b, cpu, size)
		})
	}
}

// reportCPUBytes reports MB (of Arrow bytes, size per iteration) per CPU-second of the
// process since cpu: on a shared machine the wall-clock MB/s also counts other
// processes' turns on the cores. Spill writing compresses on more than one goroutine,
// so this is the throughput per core busy, not per wall second.
func reportCPUBytes(b *testing.B, cpu time.Duration, size int64) {
	if used := cputime.Process() - cpu; used > 0 {
		b.ReportMetric(float64(size)*float64(b.N)/used.Seconds()/1e6, "MB/cpu-s")
	}
}

// BenchmarkHashPartition: HashKeys and PartitionOf over 1M rows, by an int64 key and
// by (int64, string).
func BenchmarkHashPartition(b *testing.B) {
	batches, _ := benchBatches(b, 1<<20)
	defer releaseAll(batches)
	out := make([]int, 8192)
	for _, keys := range [][]string{{"id"}, {"id", "email"}} {
		b.Run(fmt.Sprint(keys), func(b *testing.B) {
			p := shuffle.NewHashPartitioner(64, keys...)
			for b.Loop() {
				for _, bt := range batches {
					if err := p.Partition(bt, out); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.N)*float64(1<<20)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkLocal: 1M rows through the in-process shuffle by two map tasks into 16
// partitions and read back, with an unlimited budget and with one a tenth of the data
// (most of it spilled, LZ4).
func BenchmarkLocal(b *testing.B) {
	batches, size := benchBatches(b, 1<<20)
	defer releaseAll(batches)
	ctx := context.Background()
	for _, frac := range []int64{0, 10} {
		name := "memory"
		if frac > 0 {
			name = fmt.Sprintf("budget=1/%d", frac)
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(size)
			var spilled int64
			for b.Loop() {
				var budget *change.Budget
				if frac > 0 {
					budget = change.NewBudget(size/frac, nil)
				}
				sh, err := shuffle.New(shuffle.Config{Partitioner: shuffle.NewHashPartitioner(16, "id"), Budget: budget, SpillDir: b.TempDir()})
				require.NoError(b, err)
				done := make(chan error, 2)
				for task := range 2 {
					w, err := sh.Writer(task)
					require.NoError(b, err)
					go func() {
						for i := task; i < len(batches); i += 2 {
							if err := w.Write(ctx, batches[i]); err != nil {
								done <- err
								return
							}
						}
						done <- w.Close()
					}()
				}
				require.NoError(b, <-done)
				require.NoError(b, <-done)
				for p := range 16 {
					r, err := sh.Reader(p)
					require.NoError(b, err)
					for bt, err := range shuffle.All(ctx, r) {
						require.NoError(b, err)
						bt.Release()
					}
					require.NoError(b, r.Close())
				}
				spilled = sh.Stats().SpilledMem
				require.NoError(b, sh.Close())
			}
			b.ReportMetric(float64(spilled)/float64(size), "spilled/data")
		})
	}
}
