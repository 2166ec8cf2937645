package shuffle_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/shuffle"
)

// allTypes is a schema with a column of every type change.Supported accepts.
func allTypes() *change.Schema {
	return change.MustSchema([]arrow.Field{
		change.NotNull("id", arrow.PrimitiveTypes.Int64),
		change.Col("b", arrow.FixedWidthTypes.Boolean),
		change.Col("i8", arrow.PrimitiveTypes.Int8),
		change.Col("i16", arrow.PrimitiveTypes.Int16),
		change.Col("i32", arrow.PrimitiveTypes.Int32),
		change.Col("i64", arrow.PrimitiveTypes.Int64),
		change.Col("u8", arrow.PrimitiveTypes.Uint8),
		change.Col("u16", arrow.PrimitiveTypes.Uint16),
		change.Col("u32", arrow.PrimitiveTypes.Uint32),
		change.Col("u64", arrow.PrimitiveTypes.Uint64),
		change.Col("f32", arrow.PrimitiveTypes.Float32),
		change.Col("f64", arrow.PrimitiveTypes.Float64),
		change.Col("dec", &arrow.Decimal128Type{Precision: 38, Scale: 4}),
		change.Col("s", arrow.BinaryTypes.String),
		change.Col("bin", arrow.BinaryTypes.Binary),
		change.Col("day", arrow.FixedWidthTypes.Date32),
		change.Col("t32", arrow.FixedWidthTypes.Time32ms),
		change.Col("t64", arrow.FixedWidthTypes.Time64us),
		change.Col("ts", &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}),
	}, "id")
}

// randomValue returns a random value for a column of type t; nullPct percent are NULL
// where the column is nullable.
func randomValue(rng *rand.Rand, f arrow.Field, nullPct int) change.Value {
	if f.Nullable && rng.IntN(100) < nullPct {
		return change.Null()
	}
	switch f.Type.ID() {
	case arrow.BOOL:
		return change.Bool(rng.IntN(2) == 1)
	case arrow.INT8:
		return change.Int(int64(int8(rng.Uint32())))
	case arrow.INT16:
		return change.Int(int64(int16(rng.Uint32())))
	case arrow.INT32, arrow.DATE32, arrow.TIME32:
		return change.Int(int64(int32(rng.Uint32())))
	case arrow.UINT8:
		return change.Int(int64(uint8(rng.Uint32())))
	case arrow.UINT16:
		return change.Int(int64(uint16(rng.Uint32())))
	case arrow.UINT32:
		return change.Int(int64(rng.Uint32()))
	case arrow.FLOAT32:
		return change.Float(float64(float32(rng.NormFloat64() * 1000)))
	case arrow.FLOAT64:
		return change.Float(rng.NormFloat64() * 1e6)
	case arrow.DECIMAL128:
		return change.Decimal(decimal128.New(int64(rng.Uint64())>>20, rng.Uint64()))
	case arrow.STRING:
		return change.Str(randomText(rng))
	case arrow.BINARY:
		return change.BytesString(randomText(rng) + "\x00\xff")
	}
	return change.Int(int64(rng.Uint64()))
}

func randomText(rng *rand.Rand) string {
	const alpha = "abcdefghijklmnopqrstuvwxyzåé"
	n := rng.IntN(24)
	b := make([]rune, n)
	rs := []rune(alpha)
	for i := range b {
		b[i] = rs[rng.IntN(len(rs))]
	}
	return string(b)
}

// randomBatch builds n random rows of s with every op; column 0 counts from first.
func randomBatch(t testing.TB, rng *rand.Rand, mem memory.Allocator, s *change.Schema, first, n, nullPct int) *change.Batch {
	t.Helper()
	bld := change.NewBuilder(mem, s)
	defer bld.Release()
	row := make(change.Row, s.NumFields())
	for i := range n {
		row[0] = change.Int(int64(first + i))
		for c := 1; c < len(row); c++ {
			row[c] = randomValue(rng, s.Field(c), nullPct)
		}
		require.NoError(t, bld.Append(change.Op(rng.IntN(4)), row))
	}
	return bld.NewBatch()
}

// plain returns the rows of batches, each led by its op, as plain Go values.
func plain(batches ...*change.Batch) [][]any {
	var out [][]any
	for _, b := range batches {
		out = append(out, b.Plain()...)
	}
	return out
}

// drain reads s to the end, returns its rows and batch count, and closes it.
func drain(t testing.TB, s shuffle.Stream) ([][]any, int) {
	t.Helper()
	var rows [][]any
	n := 0
	for {
		b, err := s.Next(context.Background())
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		rows = append(rows, b.Plain()...)
		b.Release()
		n++
	}
	require.NoError(t, s.Close())
	return rows, n
}

func releaseAll(bs []*change.Batch) {
	for _, b := range bs {
		b.Release()
	}
}

// nanSafe replaces NaN floats (never equal to themselves) by a marker for comparisons.
func nanSafe(rows [][]any) [][]any {
	for _, r := range rows {
		for i, v := range r {
			if f, ok := v.(float64); ok && math.IsNaN(f) {
				r[i] = fmt.Sprint(f)
			}
		}
	}
	return rows
}
