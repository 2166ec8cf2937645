package stream_test

import (
	"context"
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/reduce"
	"github.com/strata-data/strata/state"
	"github.com/strata-data/strata/stream"
)

// Page views per page and minute of event time. Views arrive up to 10 s out of
// order; a minute is emitted once the watermark passes its end, updated by views
// up to a minute late, and later ones go to the side output.
func ExampleWindowAggregate() {
	views := change.MustSchema([]arrow.Field{
		change.NotNull("id", arrow.PrimitiveTypes.Int64),
		change.NotNull("page", arrow.BinaryTypes.String),
		change.NotNull("at", &arrow.TimestampType{Unit: arrow.Second}),
	}, "id")
	st, _ := state.NewMemory(state.MemoryConfig{})
	defer st.Close()
	print := func(prefix string) stream.Emit {
		return func(b *change.Batch) error {
			defer b.Release()
			for _, r := range b.Plain() {
				fmt.Print(prefix, r[0])
				for _, v := range r[1:] {
					if t, ok := v.(time.Time); ok {
						v = t.Format("15:04:05")
					}
					fmt.Print(" ", v)
				}
				fmt.Println()
			}
			return nil
		}
	}
	w, err := stream.NewWindowAggregate(stream.WindowAggregateConfig{
		ID: "views", Schema: views, Time: "at", Windows: stream.Tumbling(time.Minute),
		GroupBy: []string{"page"}, Aggs: []reduce.Agg{{Func: reduce.CountStar, As: "views"}},
		OutOfOrderness: 10 * time.Second, AllowedLateness: time.Minute,
		State: st, Late: print("late: "),
	})
	if err != nil {
		panic(err)
	}
	at := func(min, sec int) time.Time { return time.Date(2026, 1, 1, 12, min, sec, 0, time.UTC) }
	ctx := context.Background()
	for _, rows := range [][][]any{
		{{change.Insert, 1, "/home", at(0, 5)}, {change.Insert, 2, "/docs", at(0, 30)}, {change.Insert, 3, "/home", at(1, 5)}},
		{{change.Insert, 4, "/home", at(0, 58)}, {change.Insert, 5, "/home", at(1, 20)}}, // watermark 12:01:10
		{{change.Insert, 6, "/docs", at(0, 40)}},                                         // late, within the lateness
		{{change.Insert, 7, "/home", at(2, 30)}},                                         // watermark 12:02:20
		{{change.Insert, 8, "/docs", at(0, 45)}},                                         // too late
	} {
		fmt.Println("--")
		in, _ := change.FromRows(nil, views, rows)
		if err := w.Process(ctx, in, print("")); err != nil {
			panic(err)
		}
	}
	fmt.Println("-- end of input")
	if err := w.OnWatermark(ctx, stream.MaxWatermark, print("")); err != nil {
		panic(err)
	}
	// Output:
	// --
	// --
	// +I 12:00:00 12:01:00 /docs 1
	// +I 12:00:00 12:01:00 /home 2
	// --
	// -U 12:00:00 12:01:00 /docs 1
	// +U 12:00:00 12:01:00 /docs 2
	// --
	// +I 12:01:00 12:02:00 /home 2
	// --
	// late: +I 8 /docs 12:00:45
	// -- end of input
	// +I 12:02:00 12:03:00 /home 1
}
