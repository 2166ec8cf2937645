package stream

import (
	"context"
	"slices"
	"testing"
)

// TestAlignedReusesBuffers checks that holding back and replaying messages at a
// barrier allocates nothing once the buffers have grown: at one transaction per
// epoch a barrier comes with every transaction. It also checks the order: a
// sender's messages after its barrier come after the barrier's callback.
func TestAlignedReusesBuffers(t *testing.T) {
	ctx := context.Background()
	bar := &barrier{}
	var seen []int
	run := func(rounds int) {
		in := make(chan msg, 6*rounds+2)
		for r := range rounds {
			in <- msg{from: 0, port: r}
			in <- msg{from: 0, barrier: bar}
			in <- msg{from: 0, port: -1} // held until sender 1's barrier
			in <- msg{from: 0, port: -1}
			in <- msg{from: 1, port: r}
			in <- msg{from: 1, barrier: bar}
		}
		in <- msg{from: 0, end: true}
		in <- msg{from: 1, end: true}
		seen = seen[:0]
		err := aligned(ctx, in, 2, func(m msg) error {
			seen = append(seen, m.port)
			return nil
		}, func(*barrier) error {
			seen = append(seen, -2)
			return nil
		}, func(int64) error { t.Fatal("no watermarks were sent"); return nil })
		if err != nil {
			t.Fatal(err)
		}
	}
	run(3)
	// Round 0: 0, 0, barrier; then round 0's held pair, round 1's 1, 1 ... .
	want := []int{0, 0, -2, -1, -1, 1, 1, -2, -1, -1, 2, 2, -2, -1, -1}
	if len(seen) != len(want) {
		t.Fatalf("order %v, want %v", seen, want)
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Fatalf("order %v, want %v", seen, want)
		}
	}
	seen = make([]int, 0, 10000)
	few := testing.AllocsPerRun(5, func() { run(10) })
	many := testing.AllocsPerRun(5, func() { run(1000) })
	// The channel is the only allocation that grows with the rounds.
	if many > few+2 {
		t.Errorf("%v allocations for 1000 barriers, %v for 10: aligned allocates per barrier", many, few)
	}
}

// TestAlignedWatermarks checks that a sender's rows after its watermark wait until
// every sender's watermark has come, and that the watermark passed on is the least.
func TestAlignedWatermarks(t *testing.T) {
	in := make(chan msg, 16)
	in <- msg{from: 0, port: 1}
	in <- msg{from: 0, watermark: true, wm: 10}
	in <- msg{from: 0, port: 2} // after the watermark at sender 0: held
	in <- msg{from: 1, port: 1}
	in <- msg{from: 1, port: 1}
	in <- msg{from: 1, watermark: true, wm: 9}
	in <- msg{from: 1, port: 2}
	in <- msg{from: 0, end: true}
	in <- msg{from: 1, end: true}
	var seen []int64
	err := aligned(context.Background(), in, 2, func(m msg) error {
		seen = append(seen, int64(m.port))
		return nil
	}, func(*barrier) error {
		t.Fatal("no barriers were sent")
		return nil
	}, func(wm int64) error {
		seen = append(seen, wm)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []int64{1, 1, 1, 9, 2, 2}
	if !slices.Equal(seen, want) {
		t.Fatalf("order %v, want %v", seen, want)
	}
}
