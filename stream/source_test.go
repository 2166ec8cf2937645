package stream_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/stream"
)

// readAll reads src to the end and returns, per table, the schemas its batches had and
// the rows in order.
func readAll(t *testing.T, src *stream.CDCSource) (map[string][]*change.Schema, map[string][]change.Row, error) {
	t.Helper()
	ctx := context.Background()
	if err := src.Open(ctx, cdc.Position{}); err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	schemas, rows := map[string][]*change.Schema{}, map[string][]change.Row{}
	for {
		tx, err := src.Next(ctx)
		if errors.Is(err, io.EOF) {
			return schemas, rows, nil
		}
		if err != nil {
			return schemas, rows, err
		}
		for i, b := range tx.Batches {
			name := tx.Tables[i]
			if ss := schemas[name]; len(ss) == 0 || !ss[len(ss)-1].Equal(b.Schema()) {
				schemas[name] = append(ss, b.Schema())
			}
			rows[name] = append(rows[name], b.Rows()...)
		}
		tx.Release()
	}
}

// A column added mid-stream: without Schemas the operators would get batches of the new
// version; with them, every batch has the pipeline's schema and the same values, whether
// the pipeline was built for the first version (the new column is dropped) or the second
// (the older events have NULL there).
func TestCDCSourceProjectsNewSchemaVersions(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	sc := shopSchemas(t)
	gc := genConfig(1500)
	gc.AddColumnAt = 700
	raw, err := stream.NewCDCSource(stream.CDCSourceConfig{Source: cdc.NewGenerator(gc), Mem: mem})
	if err != nil {
		t.Fatal(err)
	}
	rawSchemas, rawRows, err := readAll(t, raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(rawSchemas["public.orders"]) != 2 {
		t.Fatalf("orders came in %d schemas, want 2 (the generator adds a column)", len(rawSchemas["public.orders"]))
	}
	v2 := map[string]*change.Schema{}
	for table, ss := range rawSchemas {
		v2[table] = ss[len(ss)-1]
	}
	checkProjected(t, mem, gc, sc, rawRows)
	checkProjected(t, mem, gc, v2, rawRows)
}

func checkProjected(t *testing.T, mem memory.Allocator, gc cdc.GeneratorConfig, sc map[string]*change.Schema, rawRows map[string][]change.Row) {
	t.Helper()
	src, err := stream.NewCDCSource(stream.CDCSourceConfig{Source: cdc.NewGenerator(gc), Mem: mem, Schemas: sc})
	if err != nil {
		t.Fatal(err)
	}
	schemas, rows, err := readAll(t, src)
	if err != nil {
		t.Fatal(err)
	}
	for table, ss := range schemas {
		if len(ss) != 1 || !ss[0].Equal(sc[table]) {
			t.Errorf("%s: batches of %d schemas (%v), want only %s", table, len(ss), ss, sc[table])
		}
		want := rawRows[table]
		if len(rows[table]) != len(want) {
			t.Fatalf("%s: %d rows, want %d", table, len(rows[table]), len(want))
		}
		// Projected rows hold the raw rows' values; the added column (last) is NULL in
		// rows from before it was added.
		for i, r := range rows[table] {
			for j, f := range sc[table].Fields() {
				w := change.Null()
				if j < len(want[i]) {
					w = want[i][j]
				}
				if r[j].String() != w.String() {
					t.Fatalf("%s row %d column %s: %v, want %v", table, i, f.Name, r[j], w)
				}
			}
		}
	}
}

// Operators built for a column the events no longer have, or of another type, stop
// the source with an error naming the table, the position and the column.
func TestCDCSourceRejectsIncompatibleVersions(t *testing.T) {
	sc := shopSchemas(t)
	orders := sc["public.orders"]
	for name, tc := range map[string]struct {
		fields []arrow.Field
		want   string
	}{
		"missing": {append(orders.Fields(), arrow.Field{Name: "rebate", Type: arrow.PrimitiveTypes.Int64}),
			`column "rebate" is missing and the pipeline takes it NOT NULL`},
		"retyped": {func() []arrow.Field {
			fs := orders.Fields()
			for i := range fs {
				if fs[i].Name == "order_date" {
					fs[i].Type = arrow.BinaryTypes.String
				}
			}
			return fs
		}(), `column "order_date" is date32, the pipeline takes utf8`},
	} {
		t.Run(name, func(t *testing.T) {
			pipe := map[string]*change.Schema{"public.orders": change.MustSchema(tc.fields, orders.KeyNames()...)}
			src, err := stream.NewCDCSource(stream.CDCSourceConfig{Source: cdc.NewGenerator(genConfig(300)), Schemas: pipe})
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = readAll(t, src)
			if !errors.Is(err, stream.ErrInput) || !strings.Contains(err.Error(), "public.orders at ") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrInput naming public.orders, its position and %q", err, tc.want)
			}
		})
	}
}
