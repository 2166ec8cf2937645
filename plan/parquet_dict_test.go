package plan

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Dictionary-encoded string and binary columns, required or nullable, with few or
// hundreds of distinct values, in data pages of version 1 and 2, are read page by
// page (dictCol) and come back as written, in batches that cross pages and row groups.
func TestParquetDictionaryColumnsDirect(t *testing.T) {
	const n = 6000
	fields := []arrow.Field{
		{Name: "few", Type: arrow.BinaryTypes.String},
		{Name: "few?", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "many", Type: arrow.BinaryTypes.String},
		{Name: "many?", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "bin?", Type: arrow.BinaryTypes.Binary, Nullable: true},
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, arrow.NewSchema(fields, nil))
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		few := []string{"A", "N", "R", ""}[i/7%4] // runs: RLE
		many := fmt.Sprintf("v%d", rng.IntN(300)) // 9-bit codes, bit-packed
		b.Field(0).(*array.StringBuilder).Append(few)
		b.Field(2).(*array.StringBuilder).Append(many)
		if i%3 == 1 || i%50 < 10 {
			b.Field(1).AppendNull()
			b.Field(3).AppendNull()
			b.Field(4).AppendNull()
		} else {
			b.Field(1).(*array.StringBuilder).Append(few)
			b.Field(3).(*array.StringBuilder).Append(many)
			b.Field(4).(*array.BinaryBuilder).Append([]byte{byte(i % 5), 0})
		}
		b.Field(5).(*array.Int64Builder).Append(int64(i))
	}
	rec := b.NewRecordBatch()
	b.Release()
	defer rec.Release()
	for _, v := range []parquet.DataPageVersion{parquet.DataPageV1, parquet.DataPageV2} {
		t.Run(fmt.Sprint("v", v), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "d.parquet")
			f, err := os.Create(path)
			require.NoError(t, err)
			w, err := pqarrow.NewFileWriter(rec.Schema(), f, parquet.NewWriterProperties(
				parquet.WithMaxRowGroupLength(2500), parquet.WithDataPageSize(512), parquet.WithDataPageVersion(v),
				parquet.WithDictionaryDefault(true), parquet.WithCompression(0)), pqarrow.DefaultWriterProps())
			require.NoError(t, err)
			require.NoError(t, w.Write(rec))
			require.NoError(t, w.Close())
			tab, err := OpenParquet(path)
			require.NoError(t, err)
			tab.BatchRows = 333
			cols := []int{4, 0, 5, 3, 1, 2}
			mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
			defer mem.AssertSize(t, 0)
			splits, err := tab.Splits(context.Background(), ScanRequest{Columns: cols})
			require.NoError(t, err)
			require.Len(t, splits, 3)
			got := make([][]arrow.Array, len(cols))
			for _, sp := range splits {
				r, err := sp.Open(context.Background(), mem)
				require.NoError(t, err)
				nd := 0
				for _, dc := range r.(*parquetReader).direct {
					if _, ok := dc.(*dictCol); ok {
						nd++
					}
				}
				require.Equal(t, 5, nd, "columns read through their dictionary pages")
				for {
					bt, err := r.Next(context.Background())
					if err == io.EOF {
						break
					}
					require.NoError(t, err)
					for i := range cols {
						a := bt.Column(i)
						a.Retain()
						got[i] = append(got[i], a)
					}
					bt.Release()
				}
				require.NoError(t, r.Close())
			}
			for i, c := range cols {
				all, err := array.Concatenate(got[i], memory.DefaultAllocator)
				require.NoError(t, err)
				assert.True(t, array.Equal(rec.Column(c), all), "column %s", fields[c].Name)
				all.Release()
				for _, a := range got[i] {
					a.Release()
				}
			}
		})
	}
}

// hybridEncode encodes vals (of bw bits) in Parquet's RLE / bit-packing hybrid:
// runs of 8 or more equal values as RLE runs, the rest bit-packed in groups of 8
// (the last group padded). With cut, the padding bytes of a last bit-packed run are
// left off, as some writers do.
func hybridEncode(vals []uint32, bw int, cut bool) []byte {
	var out []byte
	uvar := func(x uint64) { out = binary.AppendUvarint(out, x) }
	for i := 0; i < len(vals); {
		j := i
		for j < len(vals) && vals[j] == vals[i] {
			j++
		}
		if j-i >= 8 {
			uvar(uint64(j-i) << 1)
			for k := 0; k < (bw+7)/8; k++ {
				out = append(out, byte(vals[i]>>(8*k)))
			}
			i = j
			continue
		}
		// Bit-pack until the next run of 8 equal values (whole groups of 8).
		end := i
		for end < len(vals) {
			r := end
			for r < len(vals) && vals[r] == vals[end] {
				r++
			}
			if r-end >= 8 && (end-i)%8 == 0 && end > i {
				break
			}
			end++
		}
		groups := (end - i + 7) / 8
		uvar(uint64(groups)<<1 | 1)
		packed := make([]byte, groups*bw)
		for k := 0; k < groups*8; k++ {
			var v uint64
			if i+k < len(vals) {
				v = uint64(vals[i+k])
			}
			for b := 0; b < bw; b++ {
				if v>>b&1 == 1 {
					bit := k*bw + b
					packed[bit/8] |= 1 << (bit % 8)
				}
			}
		}
		out = append(out, packed...)
		start := i
		i = min(i+groups*8, len(vals))
		if i == len(vals) && cut {
			used := (len(vals) - start) * bw
			out = out[:len(out)-len(packed)+(used+7)/8]
		}
	}
	return out
}

// The hybrid decoder reads every bit width 0..32, RLE and bit-packed runs, in reads
// of any size, and a last bit-packed run cut short of its padding.
func TestRLEHybrid(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for bw := 0; bw <= 32; bw++ {
		for _, cut := range []bool{false, true} {
			vals := make([]uint32, 1000+rng.IntN(50))
			mask := uint64(1)<<bw - 1
			for i := range vals {
				if i%100 < 30 && i > 0 {
					vals[i] = vals[i-1] // runs
				} else {
					vals[i] = uint32(rng.Uint64() & mask)
				}
			}
			data := hybridEncode(vals, bw, cut)
			h := rleHybrid{data: data, bw: bw}
			got := make([]int32, len(vals))
			for at := 0; at < len(vals); {
				k := min(1+rng.IntN(40), len(vals)-at)
				require.NoError(t, h.read(got[at:at+k]), "bw %d", bw)
				at += k
			}
			for i, v := range vals {
				if uint32(got[i]) != v {
					t.Fatalf("bw %d cut %v: value %d = %d, want %d", bw, cut, i, uint32(got[i]), v)
				}
			}
			require.Error(t, h.read(make([]int32, 9)), "bw %d: reading past the end", bw)
		}
	}
}

// A code outside the dictionary is an error, not an out-of-range read later.
func TestCheckCodes(t *testing.T) {
	require.NoError(t, checkCodes([]int32{0, 3, 2}, 4))
	require.Error(t, checkCodes([]int32{0, 4, 2}, 4))
	require.Error(t, checkCodes([]int32{-1}, 4))
	require.NoError(t, checkCodes(nil, 0))
}
