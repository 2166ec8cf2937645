package shuffle_test

import (
	"context"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/shuffle"
)

var codecs = []shuffle.Codec{shuffle.LZ4, shuffle.Zstd, shuffle.Uncompressed}

// edgeBatch holds the values most likely to be mangled: extremes, -0, NaN, infinities,
// empty and non-ASCII text, and a row of NULLs, with every op.
func edgeBatch(t testing.TB, mem memory.Allocator, s *change.Schema) *change.Batch {
	t.Helper()
	bld := change.NewBuilder(mem, s)
	defer bld.Release()
	maxDec := decimal128.GetMaxValue(38)
	rows := []change.Row{
		{change.Int(math.MinInt64), change.Bool(false), change.Int(math.MinInt8), change.Int(math.MinInt16), change.Int(math.MinInt32),
			change.Int(math.MinInt64), change.Int(0), change.Int(0), change.Int(0), change.Int(0),
			change.Float(math.Copysign(0, -1)), change.Float(math.Inf(-1)), change.Decimal(maxDec.Negate()), change.Str(""), change.Bytes(nil),
			change.Int(math.MinInt32), change.Int(0), change.Int(0), change.Int(math.MinInt64)},
		{change.Int(math.MaxInt64), change.Bool(true), change.Int(math.MaxInt8), change.Int(math.MaxInt16), change.Int(math.MaxInt32),
			change.Int(math.MaxInt64), change.Int(math.MaxUint8), change.Int(math.MaxUint16), change.Int(math.MaxUint32), change.Int(-1),
			change.Float(math.NaN()), change.Float(math.Inf(1)), change.Decimal(maxDec), change.Str("zß水🙂"), change.Bytes([]byte{0, 1, 0xff}),
			change.Int(math.MaxInt32), change.Int(86_399_999), change.Int(86_399_999_999), change.Int(math.MaxInt64)},
		{change.Int(0), change.Null(), change.Null(), change.Null(), change.Null(), change.Null(), change.Null(), change.Null(),
			change.Null(), change.Null(), change.Null(), change.Null(), change.Null(), change.Null(), change.Null(), change.Null(),
			change.Null(), change.Null(), change.Null()},
		{change.Int(1), change.Bool(true), change.Int(-1), change.Int(-1), change.Int(-1), change.Int(-1), change.Int(1), change.Int(1),
			change.Int(1), change.Int(1), change.Float(-1.5), change.Float(math.SmallestNonzeroFloat64), change.Decimal(decimal128.FromI64(-1)),
			change.Str("a"), change.Bytes([]byte("a")), change.Int(-1), change.Int(1), change.Int(1), change.Int(-1)},
	}
	for i, r := range rows {
		require.NoError(t, bld.Append(change.Op(i%4), r))
	}
	return bld.NewBatch()
}

// slice returns rows [i, j) of b as a batch sharing b's buffers.
func slice(t testing.TB, b *change.Batch, i, j int) *change.Batch {
	t.Helper()
	out, err := change.NewBatch(b.Schema(), b.Record().NewSlice(int64(i), int64(j)), b.Ops()[i:j])
	require.NoError(t, err)
	return out
}

func writeSpill(t testing.TB, dir string, opts shuffle.SpillOptions, batches ...*change.Batch) shuffle.SpillFile {
	t.Helper()
	w, err := shuffle.CreateSpill(dir, batches[0].Schema(), opts)
	require.NoError(t, err)
	for _, b := range batches {
		require.NoError(t, w.Write(b))
	}
	f, err := w.Finish()
	require.NoError(t, err)
	return f
}

func TestSpillRoundTripEveryType(t *testing.T) {
	s := allTypes()
	for _, codec := range codecs {
		t.Run(codec.String(), func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
			defer mem.AssertSize(t, 0)
			scratch := memory.NewCheckedAllocator(memory.DefaultAllocator)
			defer scratch.AssertSize(t, 0)
			rng := rand.New(rand.NewPCG(1, uint64(codec)))
			dir := t.TempDir()

			edge := edgeBatch(t, mem, s)
			defer edge.Release()
			big := randomBatch(t, rng, mem, s, 100, 3000, 20)
			defer big.Release()
			part := slice(t, big, 1001, 1517) // a slice: offsets into shared buffers
			defer part.Release()
			empty := slice(t, big, 7, 7)
			defer empty.Release()
			in := []*change.Batch{edge, big, part, empty, edge}

			f := writeSpill(t, dir, shuffle.SpillOptions{Codec: codec, Mem: scratch}, in...)
			assert.Equal(t, dir, filepath.Dir(f.Path))
			ok, err := filepath.Match(shuffle.SpillPattern, filepath.Base(f.Path))
			require.NoError(t, err)
			assert.True(t, ok, f.Path)
			st, err := os.Stat(f.Path)
			require.NoError(t, err)
			assert.Equal(t, st.Size(), f.Bytes)
			assert.Equal(t, int64(4+3000+516+0+4), f.Rows)
			assert.Equal(t, 5, f.Batches)
			assert.Equal(t, codec, f.Codec)
			assert.True(t, f.Schema().Equal(s))
			if codec != shuffle.Uncompressed {
				assert.Less(t, f.Bytes, f.MemBytes, "compressed")
			}

			stream, err := f.Open(mem)
			require.NoError(t, err)
			var got []*change.Batch
			for b, err := range shuffle.All(context.Background(), stream) {
				require.NoError(t, err)
				got = append(got, b)
			}
			require.NoError(t, stream.Close())
			require.Len(t, got, len(in))
			for i := range in {
				assert.True(t, got[i].Schema().Equal(s))
				assert.Equal(t, in[i].Ops(), got[i].Ops(), "batch %d", i)
				assert.Equal(t, nanSafe(plain(in[i])), nanSafe(plain(got[i])), "batch %d", i)
			}
			ops := map[change.Op]bool{}
			for _, b := range got {
				for _, op := range b.Ops() {
					ops[op] = true
				}
			}
			assert.Len(t, ops, 4, "all four ops")
			releaseAll(got)

			require.NoError(t, f.Remove())
			_, err = os.Stat(f.Path)
			assert.ErrorIs(t, err, os.ErrNotExist)
			require.NoError(t, f.Remove(), "removing twice is fine")
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			assert.Empty(t, entries)
		})
	}
}

func TestSpillNegativeZeroAndNaNBitsSurvive(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	s := allTypes()
	in := edgeBatch(t, mem, s)
	defer in.Release()
	f := writeSpill(t, t.TempDir(), shuffle.SpillOptions{}, in)
	st, err := f.Open(mem)
	require.NoError(t, err)
	b, err := st.Next(context.Background())
	require.NoError(t, err)
	defer b.Release()
	require.NoError(t, st.Close())
	f32 := s.FieldIndex("f32")
	assert.True(t, math.Signbit(b.Value(0, f32).AsFloat()), "-0 stays -0")
	assert.True(t, math.IsNaN(b.Value(1, f32).AsFloat()))
}

func TestSpillDefaultsToTempDirAndLZ4(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	in := edgeBatch(t, nil, allTypes())
	defer in.Release()
	f := writeSpill(t, "", shuffle.SpillOptions{}, in)
	defer f.Remove()
	assert.Equal(t, tmp, filepath.Dir(f.Path))
	assert.Equal(t, shuffle.LZ4, f.Codec)
}

// With Zstd the file is a multi-frame .zst of the Arrow IPC stream; uncompressed it is
// the stream itself (continuation marker 0xFFFFFFFF first).
func TestSpillFileFormat(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	in := randomBatch(t, rng, nil, allTypes(), 0, 5000, 10)
	defer in.Release()
	dir := t.TempDir()
	z := writeSpill(t, dir, shuffle.SpillOptions{Codec: shuffle.Zstd}, in, in)
	raw, err := os.ReadFile(z.Path)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(raw), "\x28\xb5\x2f\xfd"), "zstd magic")
	assert.Greater(t, strings.Count(string(raw), "\x28\xb5\x2f\xfd"), 1, "one frame per block")
	u := writeSpill(t, dir, shuffle.SpillOptions{Codec: shuffle.Uncompressed}, in, in)
	raw, err = os.ReadFile(u.Path)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(raw), "\xff\xff\xff\xff"), "Arrow IPC stream")
	assert.Contains(t, string(raw), shuffle.OpColumn)
	assert.Greater(t, u.Bytes, z.Bytes)
}

func TestSpillTruncatedFileNamesIt(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	rng := rand.New(rand.NewPCG(2, 2))
	in := randomBatch(t, rng, mem, allTypes(), 0, 500, 10)
	defer in.Release()
	for _, codec := range codecs {
		f := writeSpill(t, t.TempDir(), shuffle.SpillOptions{Codec: codec}, in, in)
		for _, size := range []int64{0, 8, f.Bytes / 2, f.Bytes - 8, f.Bytes - 1} {
			require.NoError(t, os.Truncate(f.Path, size))
			_, err := f.Open(mem)
			require.ErrorIs(t, err, shuffle.ErrCorrupt, "%s truncated to %d", codec, size)
			assert.Contains(t, err.Error(), f.Path)
			assert.Contains(t, err.Error(), "truncated")
		}
	}
}

// Every single-byte change anywhere in the file is an error naming the file, from
// Open or at the latest at the end of the stream, never a panic or a silent success.
func TestSpillCorruptedFileIsAnError(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	rng := rand.New(rand.NewPCG(3, 3))
	in := randomBatch(t, rng, mem, allTypes(), 0, 200, 10)
	defer in.Release()
	for _, codec := range codecs {
		f := writeSpill(t, t.TempDir(), shuffle.SpillOptions{Codec: codec}, in, in)
		orig, err := os.ReadFile(f.Path)
		require.NoError(t, err)
		step := max(1, len(orig)/150)
		for pos := 0; pos < len(orig); pos += step {
			bad := append([]byte(nil), orig...)
			bad[pos] ^= 0x5a
			require.NoError(t, os.WriteFile(f.Path, bad, 0o600))
			err := readAll(mem, f)
			require.ErrorIs(t, err, shuffle.ErrCorrupt, "%s: byte %d of %d", codec, pos, len(orig))
			assert.Contains(t, err.Error(), f.Path)
		}
		require.NoError(t, os.WriteFile(f.Path, orig, 0o600))
		require.NoError(t, readAll(mem, f), "the original reads")
	}
}

// readAll opens f and reads it to the end, releasing everything.
func readAll(mem memory.Allocator, f shuffle.SpillFile) error {
	st, err := f.Open(mem)
	if err != nil {
		return err
	}
	defer st.Close()
	for {
		b, err := st.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		b.Release()
	}
}

func TestSpillCloseBeforeTheEndReleases(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	in := edgeBatch(t, mem, allTypes())
	defer in.Release()
	f := writeSpill(t, t.TempDir(), shuffle.SpillOptions{}, in, in, in)
	st, err := f.Open(mem)
	require.NoError(t, err)
	b, err := st.Next(context.Background())
	require.NoError(t, err)
	require.NoError(t, st.Close())
	require.NoError(t, st.Close(), "twice")
	_, err = st.Next(context.Background())
	assert.ErrorContains(t, err, "closed")
	b.Release()

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	st, err = f.Open(mem)
	require.NoError(t, err)
	_, err = st.Next(ctx)
	assert.ErrorIs(t, err, context.Canceled)
	require.NoError(t, st.Close())
}

func TestSpillWriterErrors(t *testing.T) {
	dir := t.TempDir()
	s := allTypes()
	other := change.MustSchema([]arrow.Field{change.Col("x", arrow.PrimitiveTypes.Int64)})
	w, err := shuffle.CreateSpill(dir, s, shuffle.SpillOptions{})
	require.NoError(t, err)
	ob, err := change.FromRows(nil, other, [][]any{{change.Insert, 1}})
	require.NoError(t, err)
	defer ob.Release()
	err = w.Write(ob)
	require.ErrorContains(t, err, w.Path())
	require.ErrorContains(t, err, "schema")

	// Abort removes the unfinished file; Finish after Abort fails.
	_, err = os.Stat(w.Path())
	require.NoError(t, err)
	w.Abort()
	_, err = os.Stat(w.Path())
	assert.ErrorIs(t, err, os.ErrNotExist)
	_, err = w.Finish()
	assert.Error(t, err)

	_, err = shuffle.CreateSpill(filepath.Join(dir, "missing"), s, shuffle.SpillOptions{})
	assert.ErrorContains(t, err, filepath.Join(dir, "missing"))
	_, err = shuffle.CreateSpill(dir, s, shuffle.SpillOptions{Codec: 9})
	assert.ErrorContains(t, err, "codec")

	// Finish twice, Write after Finish.
	in := edgeBatch(t, nil, s)
	defer in.Release()
	w, err = shuffle.CreateSpill(dir, s, shuffle.SpillOptions{})
	require.NoError(t, err)
	require.NoError(t, w.Write(in))
	assert.EqualValues(t, 4, w.Rows())
	f, err := w.Finish()
	require.NoError(t, err)
	defer f.Remove()
	_, err = w.Finish()
	assert.ErrorContains(t, err, "twice")
	assert.ErrorContains(t, w.Write(in), "after Finish")
	w.Abort() // no-op after Finish
	_, err = os.Stat(f.Path)
	assert.NoError(t, err)

	_, err = shuffle.SpillFile{Path: f.Path}.Open(nil)
	assert.Error(t, err, "a SpillFile not from Finish")
}

// A file replaced by another spill file (of another schema) is reported, not misread.
func TestSpillFileReplacedByAnother(t *testing.T) {
	dir := t.TempDir()
	a := change.MustSchema([]arrow.Field{change.Col("x", arrow.PrimitiveTypes.Int64)})
	b := change.MustSchema([]arrow.Field{change.Col("x", arrow.PrimitiveTypes.Float64)})
	ba, err := change.FromRows(nil, a, [][]any{{change.Insert, 1}})
	require.NoError(t, err)
	defer ba.Release()
	bb, err := change.FromRows(nil, b, [][]any{{change.Insert, 1.0}})
	require.NoError(t, err)
	defer bb.Release()
	fa := writeSpill(t, dir, shuffle.SpillOptions{Codec: shuffle.Uncompressed}, ba)
	fb := writeSpill(t, dir, shuffle.SpillOptions{Codec: shuffle.Uncompressed}, bb)
	require.NoError(t, os.Rename(fb.Path, fa.Path))
	_, err = fa.Open(nil)
	require.ErrorIs(t, err, shuffle.ErrCorrupt)
	assert.ErrorContains(t, err, fa.Path)
}

// Spill files live only in the directory given, under SpillPattern, so what a crashed
// process leaves behind is easy to find.
func TestSpillFilesOnlyInTheirDirectory(t *testing.T) {
	dir := t.TempDir()
	in := edgeBatch(t, nil, allTypes())
	defer in.Release()
	var ws []*shuffle.SpillWriter
	for range 3 {
		w, err := shuffle.CreateSpill(dir, in.Schema(), shuffle.SpillOptions{})
		require.NoError(t, err)
		require.NoError(t, w.Write(in))
		ws = append(ws, w)
	}
	names, err := filepath.Glob(filepath.Join(dir, shuffle.SpillPattern))
	require.NoError(t, err)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, names, 3)
	assert.Len(t, entries, 3, "nothing else")
	for _, w := range ws {
		w.Abort()
	}
}

// Blocks compressed on several goroutines are written in order: the file does not
// depend on the concurrency.
func TestSpillConcurrencyKeepsBlockOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	in := randomBatch(t, rng, nil, allTypes(), 0, 20000, 10)
	defer in.Release()
	dir := t.TempDir()
	var files [][]byte
	for _, c := range []int{1, 4} {
		f := writeSpill(t, dir, shuffle.SpillOptions{Codec: shuffle.Zstd, Concurrency: c}, in, in, in)
		raw, err := os.ReadFile(f.Path)
		require.NoError(t, err)
		files = append(files, raw)
		rows, _ := drain(t, mustOpen(t, f))
		assert.Len(t, rows, 60000)
	}
	require.Greater(t, len(files[0]), 3*256<<10/4, "several blocks")
	assert.Equal(t, files[0], files[1])
}

func mustOpen(t testing.TB, f shuffle.SpillFile) shuffle.Stream {
	t.Helper()
	s, err := f.Open(nil)
	require.NoError(t, err)
	return s
}
