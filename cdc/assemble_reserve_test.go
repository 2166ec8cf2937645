package cdc

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// Events decoded into Reserve's room must give exactly what copies added one by one
// give, whatever the input (interleaved streams, redeliveries, metadata, limits,
// timeouts), in whatever order the room's events are added, and whenever transactions
// are released: a transaction not yet released keeps its events, and Add never writes
// over room not yet added.
func TestAssemblerReserveMatchesCopies(t *testing.T) {
	ctx := context.Background()
	for _, meta := range []bool{false, true} {
		evs := generatedEvents(t, 13, 3000, meta)
		for seed := range uint64(10) {
			t.Run(fmt.Sprintf("metadata=%v/seed=%d", meta, seed), func(t *testing.T) {
				r := rand.New(rand.NewPCG(seed, 9))
				input := evs
				if seed%2 == 1 {
					input = perturbed(r, evs)
				}
				as, dls := twinAssemblers(seed%5 == 2, seed%5 == 3) // 0: copies, 1: from Reserve's room
				type held struct {
					tx   Tx
					want []Event
				}
				var hold []held
				drain := func(k int) []Tx {
					var txs []Tx
					for tx, ok := as[k].Next(); ok; tx, ok = as[k].Next() {
						txs = append(txs, tx)
						if k == 1 {
							hold = append(hold, held{tx, slices.Clone(tx.Events)})
						}
					}
					return txs
				}
				// Release some of what room 1 emitted, in any order; check first that it
				// was left alone.
				release := func() {
					for len(hold) > 0 && r.IntN(3) > 0 {
						i := r.IntN(len(hold))
						if r.IntN(2) == 0 {
							i = 0
						}
						require.Equal(t, hold[i].want, hold[i].tx.Events, "a transaction not released changed")
						as[1].Release(hold[i].tx)
						hold = slices.Delete(hold, i, i+1)
					}
				}
				for i := 0; i < len(input); {
					n := min(1+r.IntN(DecodeAhead), len(input)-i)
					room := as[1].Reserve(n)
					require.Len(t, room, n)
					copy(room, input[i:i+n])
					order := make([]int, n) // the order the room's events are added in
					for j := range order {
						order[j] = j
					}
					if r.IntN(4) == 0 {
						r.Shuffle(n, func(a, b int) { order[a], order[b] = order[b], order[a] })
					}
					added := make([]bool, n)
					for _, j := range order {
						idle := r.IntN(100) == 0
						var errs [2]error
						var got [2][]Tx
						for k, a := range as {
							ev := &room[j]
							if k == 0 {
								c := input[i+j]
								ev = &c
							}
							errs[k] = a.Add(ctx, ev)
							if idle {
								errs[k] = errors.Join(errs[k], a.Idle(ctx))
							}
							got[k] = drain(k)
						}
						at := i + j
						added[j] = true
						requireTwins(t, as, dls, errs, got, at)
						for k := range got[0] {
							as[0].Release(got[0][k])
						}
						for l := range room {
							if !added[l] {
								require.Equal(t, input[i+l], room[l], "Add wrote over room not yet added (event %d)", at)
							}
						}
						release()
					}
					i += n
				}
				ferr0, ferr1 := as[0].Flush(ctx), as[1].Flush(ctx)
				require.Equal(t, fmt.Sprint(ferr0), fmt.Sprint(ferr1))
				require.Equal(t, drain(0), drain(1))
				require.Equal(t, dls[0].All(), dls[1].All())
				for _, h := range hold {
					require.Equal(t, h.want, h.tx.Events, "a transaction not released changed")
				}
			})
		}
	}
}

// From one stream, events decoded into Reserve's room stay where they were decoded:
// the transactions handed out point into the room.
func TestAssemblerReserveKeepsEventsInPlace(t *testing.T) {
	ctx := context.Background()
	evs := generatedEvents(t, 17, 2000, false)
	for i := range evs { // one stream, as a single-partition topic delivers them
		evs[i].Origin.Topic, evs[i].Origin.Partition, evs[i].Origin.Offset = "all", 0, int64(i)
	}
	a := NewAssembler(AssemblerConfig{DeadLetters: NewMemoryDeadLetters()})
	var rooms [][]Event
	inRoom := func(ev *Event) bool {
		for _, room := range rooms {
			p := uintptr(unsafe.Pointer(ev))
			if p >= uintptr(unsafe.Pointer(&room[0])) && p <= uintptr(unsafe.Pointer(&room[len(room)-1])) {
				return true
			}
		}
		return false
	}
	kept, moved, events := 0, 0, 0
	check := func() {
		for tx, ok := a.Next(); ok; tx, ok = a.Next() {
			events += len(tx.Events)
			if inRoom(&tx.Events[0]) {
				kept++
			} else {
				moved++
			}
			a.Release(tx)
		}
	}
	for i := 0; i < len(evs); i += DecodeAhead {
		room := a.Reserve(DecodeAhead)
		n := copy(room, evs[i:])
		rooms = append(rooms[max(len(rooms)-3, 0):], room[:n])
		for j := range room[:n] {
			require.NoError(t, a.Add(ctx, &room[j]))
			check()
		}
	}
	require.NoError(t, a.Flush(ctx))
	check()
	require.Equal(t, len(evs), events)
	// only a transaction that spans two slabs moves
	require.Greater(t, kept, 20*moved, "kept %d, moved %d", kept, moved)
}
