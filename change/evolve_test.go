package change_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/change"
)

// one returns a schema of a key column and a column v of type t.
func one(t arrow.DataType) *change.Schema {
	return change.MustSchema([]arrow.Field{change.NotNull("id", arrow.PrimitiveTypes.Int64), change.Col("v", t)}, "id")
}

// columnTypes is one of every column type change supports, with the parameters that
// matter for evolution varied.
var columnTypes = map[string]arrow.DataType{
	"bool":      arrow.FixedWidthTypes.Boolean,
	"int8":      arrow.PrimitiveTypes.Int8,
	"int16":     arrow.PrimitiveTypes.Int16,
	"int32":     arrow.PrimitiveTypes.Int32,
	"int64":     arrow.PrimitiveTypes.Int64,
	"uint8":     arrow.PrimitiveTypes.Uint8,
	"uint16":    arrow.PrimitiveTypes.Uint16,
	"uint32":    arrow.PrimitiveTypes.Uint32,
	"uint64":    arrow.PrimitiveTypes.Uint64,
	"float32":   arrow.PrimitiveTypes.Float32,
	"float64":   arrow.PrimitiveTypes.Float64,
	"dec(10,2)": &arrow.Decimal128Type{Precision: 10, Scale: 2},
	"dec(12,4)": &arrow.Decimal128Type{Precision: 12, Scale: 4},
	"dec(11,2)": &arrow.Decimal128Type{Precision: 11, Scale: 2},
	"dec(11,4)": &arrow.Decimal128Type{Precision: 11, Scale: 4}, // fewer integer digits than (10,2)
	"utf8":      arrow.BinaryTypes.String,
	"binary":    arrow.BinaryTypes.Binary,
	"date32":    arrow.FixedWidthTypes.Date32,
	"time32ms":  arrow.FixedWidthTypes.Time32ms,
	"time64us":  arrow.FixedWidthTypes.Time64us,
	"time64ns":  arrow.FixedWidthTypes.Time64ns,
	"ts_us_utc": &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"},
	"ts_us":     &arrow.TimestampType{Unit: arrow.Microsecond},
	"ts_ms_utc": &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"},
}

// allowed is every change of column type the rules accept, written out independently
// of the implementation's table; anything else must be rejected.
var allowed = map[[2]string]bool{
	{"int8", "int16"}: true, {"int8", "int32"}: true, {"int8", "int64"}: true, {"int16", "int32"}: true,
	{"int16", "int64"}: true, {"int32", "int64"}: true,
	{"uint8", "uint16"}: true, {"uint8", "uint32"}: true, {"uint8", "uint64"}: true, {"uint16", "uint32"}: true,
	{"uint16", "uint64"}: true, {"uint32", "uint64"}: true,
	{"uint8", "int16"}: true, {"uint8", "int32"}: true, {"uint8", "int64"}: true,
	{"uint16", "int32"}: true, {"uint16", "int64"}: true, {"uint32", "int64"}: true,
	{"int8", "float64"}: true, {"int16", "float64"}: true, {"int32", "float64"}: true,
	{"uint8", "float64"}: true, {"uint16", "float64"}: true, {"uint32", "float64"}: true,
	{"float32", "float64"}:     true,
	{"dec(10,2)", "dec(12,4)"}: true, {"dec(10,2)", "dec(11,2)"}: true, {"dec(11,4)", "dec(12,4)"}: true,
	// not allowed (listed to show why): fewer integer digits, or a smaller scale
	{"dec(10,2)", "dec(11,4)"}: false, {"dec(11,2)", "dec(12,4)"}: false, {"dec(12,4)", "dec(11,2)"}: false,
}

func TestCheckEvolutionTypeChangesExhaustive(t *testing.T) {
	for fromName, from := range columnTypes {
		require.NoError(t, change.Supported(from))
		for toName, to := range columnTypes {
			err := change.CheckEvolution(one(from), one(to))
			if fromName == toName || allowed[[2]string{fromName, toName}] {
				assert.NoError(t, err, "%s -> %s", fromName, toName)
				continue
			}
			if assert.ErrorIs(t, err, change.ErrIncompatible, "%s -> %s", fromName, toName) {
				assert.ErrorContains(t, err, fmt.Sprintf(`column "v": %s cannot become %s (`, from, to))
			}
		}
	}
}

func TestCheckEvolutionNamesTheRule(t *testing.T) {
	dec := func(p, s int32) arrow.DataType { return &arrow.Decimal128Type{Precision: p, Scale: s} }
	for _, c := range []struct {
		from, to arrow.DataType
		want     string
	}{
		{dec(10, 2), arrow.PrimitiveTypes.Int32, "decimal(10, 2) cannot become int32 (not a widening)"},
		{arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Int32, "int64 cannot become int32 (narrowing)"},
		{arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Float64, "int64 cannot become float64 (not a widening)"},
		{arrow.PrimitiveTypes.Uint64, arrow.PrimitiveTypes.Int64, "uint64 cannot become int64 (not a widening)"},
		{arrow.PrimitiveTypes.Int8, arrow.PrimitiveTypes.Uint8, "int8 cannot become uint8 (not a widening)"},
		{arrow.PrimitiveTypes.Uint16, arrow.PrimitiveTypes.Int16, "uint16 cannot become int16 (not a widening)"},
		{arrow.PrimitiveTypes.Float64, arrow.PrimitiveTypes.Float32, "float64 cannot become float32 (narrowing)"},
		{dec(12, 4), dec(12, 2), "decimal(12, 4) cannot become decimal(12, 2) (scale decreases)"},
		{dec(10, 2), dec(10, 3), "decimal(10, 2) cannot become decimal(10, 3) (fewer integer digits)"},
		{arrow.BinaryTypes.String, arrow.BinaryTypes.Binary, "utf8 cannot become binary (not a widening)"},
		{arrow.FixedWidthTypes.Timestamp_ms, arrow.FixedWidthTypes.Timestamp_us, "timestamp[ms, tz=UTC] cannot become timestamp[us, tz=UTC] (not a widening)"},
	} {
		err := change.CheckEvolution(one(c.from), one(c.to))
		require.ErrorIs(t, err, change.ErrIncompatible)
		assert.ErrorContains(t, err, `change: incompatible schema change: column "v": `+c.want)
	}

	base := change.MustSchema([]arrow.Field{
		change.NotNull("id", arrow.PrimitiveTypes.Int64),
		change.NotNull("region", arrow.BinaryTypes.String),
		change.Col("note", arrow.BinaryTypes.String),
		change.Logical(change.Col("doc", arrow.BinaryTypes.String), "json"),
	}, "id")
	fields := base.Fields()
	for _, c := range []struct {
		name string
		s    *change.Schema
		want string
	}{
		{"added not null", change.MustSchema(append(fields[:4:4], change.NotNull("x", arrow.PrimitiveTypes.Int8)), "id"),
			`column "x": added as NOT NULL`},
		{"removed not null", change.MustSchema([]arrow.Field{fields[0], fields[2], fields[3]}, "id"),
			`column "region": removed but was NOT NULL`},
		{"nullable to not null", change.MustSchema([]arrow.Field{fields[0], fields[1], change.NotNull("note", arrow.BinaryTypes.String), fields[3]}, "id"),
			`column "note": nullable cannot become NOT NULL`},
		{"key added", change.MustSchema(fields, "id", "region"), "primary key (id) cannot become (id, region)"},
		{"key dropped", change.MustSchema(fields), "primary key (id) cannot become ()"},
		{"key renamed", change.MustSchema(fields, "region"), "primary key (id) cannot become (region)"},
		{"logical type", change.MustSchema([]arrow.Field{fields[0], fields[1], fields[2], change.Logical(change.Col("doc", arrow.BinaryTypes.String), "uuid")}, "id"),
			`column "doc": strata.logical "json" cannot become "uuid"`},
	} {
		err := change.CheckEvolution(base, c.s)
		require.ErrorIs(t, err, change.ErrIncompatible, c.name)
		assert.ErrorContains(t, err, c.want, c.name)
	}

	// The key's order matters too.
	k2 := change.MustSchema(fields, "id", "region")
	assert.ErrorContains(t, change.CheckEvolution(k2, change.MustSchema(fields, "region", "id")), "primary key (id, region) cannot become (region, id)")

	// Every problem is named, not just the first.
	err := change.CheckEvolution(base, change.MustSchema([]arrow.Field{fields[0], change.NotNull("note", arrow.BinaryTypes.Binary)}, "id"))
	assert.ErrorContains(t, err, `column "note": nullable cannot become NOT NULL, utf8 cannot become binary (not a widening); column "region": removed but was NOT NULL`)

	_, err = change.NewEvolution(base, nil)
	assert.ErrorIs(t, err, change.ErrSchema)
}

func TestCheckEvolutionAccepts(t *testing.T) {
	base := change.MustSchema([]arrow.Field{
		change.NotNull("id", arrow.PrimitiveTypes.Int64),
		change.NotNull("status", arrow.BinaryTypes.String),
		change.Col("note", arrow.BinaryTypes.String),
		change.Logical(change.Col("doc", arrow.BinaryTypes.String), "json"),
	}, "id")
	f := base.Fields()
	for name, s := range map[string]*change.Schema{
		"identical":           change.MustSchema(f, "id"),
		"reordered":           change.MustSchema([]arrow.Field{f[3], f[2], f[1], f[0]}, "id"),
		"nullable added":      change.MustSchema(append(f[:4:4], change.Col("x", arrow.PrimitiveTypes.Int8)), "id"),
		"nullable removed":    change.MustSchema([]arrow.Field{f[0], f[1], f[3]}, "id"),
		"not null → nullable": change.MustSchema([]arrow.Field{f[0], change.Col("status", arrow.BinaryTypes.String), f[2], f[3]}, "id"),
		"logical tag dropped": change.MustSchema([]arrow.Field{f[0], f[1], f[2], change.Col("doc", arrow.BinaryTypes.String)}, "id"),
	} {
		assert.NoError(t, change.CheckEvolution(base, s), name)
	}
	narrowKey := change.MustSchema([]arrow.Field{change.NotNull("id", arrow.PrimitiveTypes.Int32), f[1]}, "id")
	assert.NoError(t, change.CheckEvolution(narrowKey, change.MustSchema([]arrow.Field{change.NotNull("id", arrow.PrimitiveTypes.Int64), f[1]}, "id")))
}

// Every accepted type change converts the extreme values of the old type exactly into
// values the new type's builder takes.
func TestEvolutionConvertsEveryWideningExactly(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	extremes := map[string][]any{
		"int8":      {int8(math.MinInt8), int8(math.MaxInt8), int8(0)},
		"int16":     {int16(math.MinInt16), int16(math.MaxInt16)},
		"int32":     {int32(math.MinInt32), int32(math.MaxInt32)},
		"uint8":     {uint8(0), uint8(math.MaxUint8)},
		"uint16":    {uint16(math.MaxUint16)},
		"uint32":    {uint32(math.MaxUint32)},
		"float32":   {float32(1.1), float32(math.MaxFloat32), float32(math.SmallestNonzeroFloat32), math.Inf(-1)},
		"dec(10,2)": {"99999999.99", "-99999999.99", "0.01"},
		"dec(11,4)": {"9999999.9999", "-0.0001"},
		"dec(11,2)": {"-999999999.99"},
	}
	for pair, ok := range allowed {
		if !ok {
			continue
		}
		require.NotEmpty(t, extremes[pair[0]], "extreme values of %s", pair[0])
		from, to := columnTypes[pair[0]], columnTypes[pair[1]]
		ev, err := change.NewEvolution(one(from), one(to))
		require.NoError(t, err, pair)
		b := change.NewBuilder(mem, one(to))
		var row change.Row
		for _, x := range extremes[pair[0]] {
			v, err := change.ValueOf(x, from)
			require.NoError(t, err)
			row = ev.Apply(row, change.Row{change.Int(1), v})
			require.NoError(t, b.Append(change.Insert, row), "%v: %v", pair, x)
			switch td, isDec := to.(*arrow.Decimal128Type); {
			case isDec:
				// the same number, with the new scale's trailing zeros
				want, err := change.ParseDecimal(x.(string), td.Scale)
				require.NoError(t, err)
				assert.Equal(t, change.Decimal(want), row[1], "%v: %v", pair, x)
			case to.ID() == arrow.FLOAT64 && change.KindOf(from) == change.KindInt:
				require.Equal(t, change.KindFloat, row[1].Kind(), pair)
				assert.Equal(t, v.AsInt(), int64(row[1].AsFloat()), "%v: %v", pair, x)
			default:
				assert.Equal(t, v, row[1], "%v: %v", pair, x)
			}
		}
		batch := b.NewBatch()
		assert.Equal(t, len(extremes[pair[0]]), batch.Len())
		batch.Release()
		b.Release()
	}
}

func TestEvolutionApply(t *testing.T) {
	from := change.MustSchema([]arrow.Field{
		change.NotNull("id", arrow.PrimitiveTypes.Int32),
		change.Col("gone", arrow.BinaryTypes.String),
		change.Col("qty", arrow.PrimitiveTypes.Uint32),
		change.Col("amount", &arrow.Decimal128Type{Precision: 20, Scale: 2}),
		change.Col("status", arrow.BinaryTypes.String),
	}, "id")
	to := change.MustSchema([]arrow.Field{
		change.NotNull("id", arrow.PrimitiveTypes.Int64),
		change.Col("status", arrow.BinaryTypes.String),
		change.Col("added", arrow.PrimitiveTypes.Int64),
		change.Col("amount", &arrow.Decimal128Type{Precision: 38, Scale: 20}),
		change.Col("qty", arrow.PrimitiveTypes.Float64),
	}, "id")
	ev, err := change.NewEvolution(from, to)
	require.NoError(t, err)
	assert.Same(t, from, ev.From())
	assert.Same(t, to, ev.To())

	big, err := change.ParseDecimal("-123456789012345678.91", 2)
	require.NoError(t, err)
	got := ev.Apply(nil, change.Row{change.Int(7), change.Str("x"), change.Int(math.MaxUint32), change.Decimal(big), change.Str("paid")})
	require.Len(t, got, 5)
	assert.Equal(t, change.Int(7), got[0])
	assert.Equal(t, change.Str("paid"), got[1])
	assert.True(t, got[2].IsNull())
	assert.Equal(t, "-123456789012345678.91000000000000000000", change.FormatDecimal(got[3].AsDecimal(), 20))
	assert.Equal(t, change.Float(math.MaxUint32), got[4])

	// A partial image keeps its absent columns absent; a column the old schema lacked is
	// NULL, not absent. NULL stays NULL, and a whole number in a decimal column stays one.
	part := ev.Apply(got, change.Row{change.Int(8), change.Absent(), change.Null(), change.Int(5), change.Absent()})
	assert.Equal(t, change.Row{change.Int(8), change.Absent(), change.Null(), change.Int(5), change.Null()}, part)
	assert.True(t, part[2].IsNull())
	b := change.NewBuilder(nil, to)
	defer b.Release()
	require.NoError(t, b.Append(change.Insert, part))
	batch := b.NewBatch()
	defer batch.Release()
	assert.Equal(t, "5.00000000000000000000", batch.Plain()[0][4], "the builder stores the whole number 5")
	assert.Nil(t, ev.Apply(part, nil), "a missing image stays missing")
	assert.Panics(t, func() { ev.Apply(nil, change.Row{change.Int(1)}) })

	// Reusing dst costs no allocation, whatever the conversion.
	src := change.Row{change.Int(7), change.Str("x"), change.Int(3), change.Decimal(big), change.Str("paid")}
	dst := make(change.Row, 0, 5)
	assert.Zero(t, testing.AllocsPerRun(100, func() { dst = ev.Apply(dst, src) }))
	same, err := change.NewEvolution(from, from)
	require.NoError(t, err)
	assert.Zero(t, testing.AllocsPerRun(100, func() { dst = same.Apply(dst, src) }))
	assert.Equal(t, src, dst)
}

func BenchmarkEvolutionApply(b *testing.B) {
	from := change.MustSchema([]arrow.Field{
		change.NotNull("id", arrow.PrimitiveTypes.Int32),
		change.Col("status", arrow.BinaryTypes.String),
		change.Col("qty", arrow.PrimitiveTypes.Int16),
		change.Col("amount", &arrow.Decimal128Type{Precision: 10, Scale: 2}),
	}, "id")
	to := change.MustSchema([]arrow.Field{
		change.NotNull("id", arrow.PrimitiveTypes.Int64),
		change.Col("status", arrow.BinaryTypes.String),
		change.Col("qty", arrow.PrimitiveTypes.Float64),
		change.Col("amount", &arrow.Decimal128Type{Precision: 14, Scale: 6}),
		change.Col("note", arrow.BinaryTypes.String),
	}, "id")
	ev, err := change.NewEvolution(from, to)
	if err != nil {
		b.Fatal(err)
	}
	src := change.Row{change.Int(7), change.Str("paid"), change.Int(3), change.Decimal(decimal128.FromI64(1990))}
	var dst change.Row
	b.ReportAllocs()
	for b.Loop() {
		dst = ev.Apply(dst, src)
	}
}
