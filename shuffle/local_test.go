package shuffle_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/shuffle"
)

// mapTask is what one map task writes: batches through Write, and some through
// Append to a fixed partition.
type mapTask struct {
	batches []*change.Batch
	appendP []int // -1: Write; else Append to that partition
}

// makeTasks builds tasks of random batches (sizes 1..maxRows) of schema s.
func makeTasks(t testing.TB, rng *rand.Rand, s *change.Schema, tasks, batches, maxRows, nparts int) []mapTask {
	out := make([]mapTask, tasks)
	id := 0
	for i := range out {
		for range batches {
			n := 1 + rng.IntN(maxRows)
			out[i].batches = append(out[i].batches, randomBatch(t, rng, nil, s, id, n, 15))
			id += n
			p := -1
			if rng.IntN(8) == 0 {
				p = rng.IntN(nparts)
			}
			out[i].appendP = append(out[i].appendP, p)
		}
	}
	return out
}

func releaseTasks(ts []mapTask) {
	for _, mt := range ts {
		releaseAll(mt.batches)
	}
}

// naive is the expected content of each partition: tasks in order, rows in order.
func naive(t testing.TB, p shuffle.Partitioner, ts []mapTask) [][][]any {
	out := make([][][]any, p.NumPartitions())
	for _, mt := range ts {
		for i, b := range mt.batches {
			rows := b.Plain()
			if q := mt.appendP[i]; q >= 0 {
				out[q] = append(out[q], rows...)
				continue
			}
			parts := make([]int, b.Len())
			require.NoError(t, p.Partition(b, parts))
			for r, q := range parts {
				out[q] = append(out[q], rows[r])
			}
		}
	}
	return out
}

// runShuffle writes the tasks concurrently (task ids = index × 10, started in reverse
// order) and reads every partition back.
func runShuffle(t testing.TB, sh shuffle.Shuffler, ts []mapTask, nparts int) ([][][]any, []int) {
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, len(ts))
	for i := len(ts) - 1; i >= 0; i-- {
		w, err := sh.Writer(i * 10)
		require.NoError(t, err)
		wg.Go(func() {
			for j, b := range ts[i].batches {
				var err error
				if q := ts[i].appendP[j]; q >= 0 {
					err = w.Append(ctx, q, b)
				} else {
					err = w.Write(ctx, b)
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- w.Close()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	got := make([][][]any, nparts)
	batches := make([]int, nparts)
	for p := range nparts {
		r, err := sh.Reader(p)
		require.NoError(t, err)
		got[p], batches[p] = drain(t, r)
	}
	return got, batches
}

func TestLocalMatchesNaivePartitioning(t *testing.T) {
	checked := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer checked.AssertSize(t, 0)
	rng := rand.New(rand.NewPCG(20, 20))
	s := allTypes()
	const nparts = 5
	part := shuffle.NewHashPartitioner(nparts, "i16", "s")
	ts := makeTasks(t, rng, s, 3, 30, 300, nparts)
	defer releaseTasks(ts)

	sh, err := shuffle.New(shuffle.Config{Partitioner: part, Budget: change.NewBudget(0, checked)})
	require.NoError(t, err)
	got, _ := runShuffle(t, sh, ts, nparts)
	want := naive(t, part, ts)
	for p := range nparts {
		assert.Equal(t, nanSafe(want[p]), nanSafe(got[p]), "partition %d", p)
	}
	st := sh.Stats()
	assert.Positive(t, st.Bytes)
	assert.Zero(t, st.SpillFiles, "unlimited budget")
	require.NoError(t, sh.Close())
}

// spillSchema is narrower than allTypes, to move more rows quickly.
var spillSchema = change.MustSchema([]arrow.Field{
	change.NotNull("id", arrow.PrimitiveTypes.Int64),
	change.Col("v", arrow.PrimitiveTypes.Float64),
	change.Col("s", arrow.BinaryTypes.String),
	change.Col("d", &arrow.Decimal128Type{Precision: 20, Scale: 2}),
}, "id")

func dataBytes(ts []mapTask) (total, largest int64) {
	for _, mt := range ts {
		for _, b := range mt.batches {
			n := shuffle.BatchBytes(b)
			total += n
			largest = max(largest, n)
		}
	}
	return total, largest
}

func TestLocalSpillsWithinBudget(t *testing.T) {
	checked := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer checked.AssertSize(t, 0)
	rng := rand.New(rand.NewPCG(21, 21))
	const nparts = 6
	part := shuffle.NewHashPartitioner(nparts)
	ts := makeTasks(t, rng, spillSchema, 3, 40, 1500, nparts)
	defer releaseTasks(ts)
	total, largest := dataBytes(ts)
	want := naive(t, part, ts)

	for _, codec := range codecs {
		t.Run(codec.String(), func(t *testing.T) {
			reg := prometheus.NewRegistry()
			var logs bytes.Buffer
			dir := t.TempDir()
			budget := change.NewBudget(total/10, checked)
			sh, err := shuffle.New(shuffle.Config{
				Partitioner: part, Budget: budget, SpillDir: dir, Codec: codec, BatchRows: 4096,
				Metrics: shuffle.NewMetrics(reg),
				Logger:  slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
			})
			require.NoError(t, err)

			// Write sequentially first (one task), then concurrently.
			seq, err := sh.Writer(1000)
			require.NoError(t, err)
			for _, b := range ts[0].batches[:20] {
				require.NoError(t, seq.Write(context.Background(), b))
			}
			require.NoError(t, seq.Close())
			assert.LessOrEqual(t, budget.Peak(), budget.Limit()+shuffle.SpillScratch, "one writer")

			got, batches := runShufflePartial(t, sh, ts, nparts, budget, largest)
			st := sh.Stats()
			assert.Positive(t, st.SpillFiles)
			assert.Greater(t, st.SpilledMem, total/2, "most of the data went to disk")
			assert.Positive(t, st.SpilledBytes)
			assert.InDelta(t, float64(st.Bytes), counterValue(t, reg, "strata_shuffle_bytes_total"), 0)
			assert.InDelta(t, float64(st.SpilledBytes), counterValue(t, reg, "strata_shuffle_spilled_bytes_total"), 0)
			assert.InDelta(t, float64(st.SpillFiles), counterValue(t, reg, "strata_shuffle_spill_files_total"), 0)
			assert.Contains(t, logs.String(), "shuffle: spilled")

			// The sequential task (1000) comes after the others (0, 10, 20).
			seqRows := 0
			for _, b := range ts[0].batches[:20] {
				seqRows += b.Len()
			}
			for p := range nparts {
				wp := want[p]
				var extra [][]any
				for _, b := range ts[0].batches[:20] {
					parts := make([]int, b.Len())
					require.NoError(t, part.Partition(b, parts))
					for r, rows := range b.Plain() {
						if parts[r] == p {
							extra = append(extra, rows)
						}
					}
				}
				require.Equal(t, len(wp)+len(extra), len(got[p]), "partition %d", p)
				assert.Equal(t, wp, got[p][:len(wp)], "partition %d", p)
				assert.Equal(t, extra, got[p][len(wp):], "partition %d", p)
				assert.LessOrEqual(t, batches[p], (len(got[p])+4095)/4096*2, "coalesced batches")
			}
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			require.Len(t, entries, 1, "the shuffle's own directory")
			left, err := os.ReadDir(filepath.Join(dir, entries[0].Name()))
			require.NoError(t, err)
			assert.Empty(t, left, "readers remove the files they read")
			require.NoError(t, sh.Close())
			entries, err = os.ReadDir(dir)
			require.NoError(t, err)
			assert.Empty(t, entries, "Close removes the directory")
			assert.Zero(t, budget.Allocated())
			t.Logf("%s: data %d bytes, budget %d, peak %d, %d spill files, %d bytes on disk",
				codec, total, budget.Limit(), budget.Peak(), st.SpillFiles, st.SpilledBytes)
		})
	}
}

// runShufflePartial is runShuffle with a peak check between the writes and the reads.
func runShufflePartial(t *testing.T, sh *shuffle.Local, ts []mapTask, nparts int, budget *change.Budget, largest int64) ([][][]any, []int) {
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, len(ts))
	for i := range ts {
		w, err := sh.Writer(i * 10)
		require.NoError(t, err)
		wg.Go(func() {
			for j, b := range ts[i].batches {
				var err error
				if q := ts[i].appendP[j]; q >= 0 {
					err = w.Append(ctx, q, b)
				} else {
					err = w.Write(ctx, b)
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- w.Close()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	slack := shuffle.SpillScratch + int64(len(ts)-1)*2*largest
	assert.LessOrEqual(t, budget.Peak(), budget.Limit()+slack, "writers: limit + scratch + other writers' batches")
	got := make([][][]any, nparts)
	batches := make([]int, nparts)
	for p := range nparts {
		r, err := sh.Reader(p)
		require.NoError(t, err)
		got[p], batches[p] = drain(t, r)
	}
	return got, batches
}

func counterValue(t testing.TB, reg *prometheus.Registry, name string) float64 {
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func TestLocalCoalescesSmallWrites(t *testing.T) {
	rng := rand.New(rand.NewPCG(22, 22))
	sh, err := shuffle.New(shuffle.Config{Partitioner: shuffle.NewHashPartitioner(2), BatchRows: 1000})
	require.NoError(t, err)
	defer sh.Close()
	w, err := sh.Writer(0)
	require.NoError(t, err)
	var in []*change.Batch
	for i := range 300 {
		b := randomBatch(t, rng, nil, spillSchema, i*10, 10, 10)
		in = append(in, b)
		require.NoError(t, w.Write(context.Background(), b))
	}
	defer releaseAll(in)
	require.NoError(t, w.Close())
	total := 0
	for p := range 2 {
		r, err := sh.Reader(p)
		require.NoError(t, err)
		n := 0
		for b, err := range shuffle.All(context.Background(), r) {
			require.NoError(t, err)
			assert.LessOrEqual(t, b.Len(), 1000)
			total += b.Len()
			n++
			b.Release()
		}
		require.NoError(t, r.Close())
		assert.LessOrEqual(t, n, 3, "partition %d: ~1500 rows written 5 at a time come back in 2-3 batches", p)
	}
	assert.Equal(t, 3000, total)
}

func TestLocalCloseReleasesAndRemoves(t *testing.T) {
	checked := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer checked.AssertSize(t, 0)
	rng := rand.New(rand.NewPCG(23, 23))
	ts := makeTasks(t, rng, spillSchema, 1, 20, 2000, 3)
	defer releaseTasks(ts)
	total, _ := dataBytes(ts)
	dir := t.TempDir()
	budget := change.NewBudget(total/4, checked)
	sh, err := shuffle.New(shuffle.Config{Partitioner: shuffle.NewHashPartitioner(3), Budget: budget, SpillDir: dir})
	require.NoError(t, err)
	w, err := sh.Writer(0)
	require.NoError(t, err)
	for _, b := range ts[0].batches {
		require.NoError(t, w.Write(context.Background(), b))
	}
	require.NoError(t, w.Close())
	require.Positive(t, sh.Stats().SpillFiles)
	r, err := sh.Reader(0)
	require.NoError(t, err)
	b, err := r.Next(context.Background())
	require.NoError(t, err)
	b.Release()
	require.NoError(t, r.Close(), "closed before the end")
	require.NoError(t, sh.Close())
	require.NoError(t, sh.Close(), "twice")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries)
	assert.Zero(t, budget.Allocated())

	_, err = sh.Reader(1)
	assert.ErrorIs(t, err, shuffle.ErrClosed)
	_, err = sh.Writer(5)
	assert.ErrorIs(t, err, shuffle.ErrClosed)
	_, err = r.Next(context.Background())
	assert.ErrorIs(t, err, shuffle.ErrClosed)

	// A writer of a closed shuffle fails, and keeps nothing.
	sh, err = shuffle.New(shuffle.Config{Partitioner: shuffle.NewHashPartitioner(3), Budget: budget})
	require.NoError(t, err)
	w, err = sh.Writer(0)
	require.NoError(t, err)
	require.NoError(t, w.Write(context.Background(), ts[0].batches[0]))
	require.NoError(t, sh.Close())
	assert.ErrorIs(t, w.Write(context.Background(), ts[0].batches[0]), shuffle.ErrClosed)
	assert.Zero(t, budget.Allocated())
}

func TestLocalErrors(t *testing.T) {
	_, err := shuffle.New(shuffle.Config{})
	assert.ErrorContains(t, err, "Partitioner")
	_, err = shuffle.New(shuffle.Config{Partitioner: shuffle.NewHashPartitioner(2), BatchRows: -1})
	assert.ErrorContains(t, err, "BatchRows")
	_, err = shuffle.New(shuffle.Config{Partitioner: shuffle.NewHashPartitioner(2), Codec: 7})
	assert.ErrorContains(t, err, "Codec")

	ctx := context.Background()
	sh, err := shuffle.New(shuffle.Config{Partitioner: shuffle.NewHashPartitioner(2, "id")})
	require.NoError(t, err)
	defer sh.Close()
	b := edgeBatch(t, nil, allTypes())
	defer b.Release()
	w, err := sh.Writer(0)
	require.NoError(t, err)
	_, err = sh.Writer(0)
	assert.ErrorContains(t, err, "twice")
	_, err = sh.Writer(-1)
	assert.ErrorContains(t, err, "negative")
	require.NoError(t, w.Write(ctx, b))
	assert.ErrorContains(t, w.Append(ctx, 2, b), "partition 2 of 2")
	other, err := change.FromRows(nil, spillSchema, [][]any{{change.Insert, 1, 1.0, "x", "1.00"}})
	require.NoError(t, err)
	defer other.Release()
	assert.ErrorContains(t, w.Write(ctx, other), "schema")
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	assert.ErrorIs(t, w.Write(cctx, b), context.Canceled)
	_, err = sh.Reader(0)
	assert.ErrorContains(t, err, "1 writers are open")
	require.NoError(t, w.Close())
	assert.ErrorContains(t, w.Write(ctx, b), "after Close")
	_, err = sh.Reader(2)
	assert.ErrorContains(t, err, "Reader(2) of 2")
	r, err := sh.Reader(0)
	require.NoError(t, err)
	defer r.Close()
	_, err = sh.Reader(0)
	assert.ErrorContains(t, err, "twice")
	_, err = sh.Writer(1)
	assert.ErrorContains(t, err, "after a Reader")

	bad, err := shuffle.New(shuffle.Config{Partitioner: badPartitioner{}})
	require.NoError(t, err)
	defer bad.Close()
	bw, err := bad.Writer(0)
	require.NoError(t, err)
	assert.ErrorContains(t, bw.Write(ctx, b), "returned 3 of 2")
	assert.True(t, strings.HasPrefix(fmt.Sprint(shuffle.ErrClosed), "shuffle:"))
}

type badPartitioner struct{}

func (badPartitioner) NumPartitions() int { return 2 }
func (badPartitioner) Partition(b *change.Batch, out []int) error {
	for i := range b.Len() {
		out[i] = 3
	}
	return nil
}
