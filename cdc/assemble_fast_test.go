package cdc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// generatedEvents decodes n data events of the generator's workload (three topics).
func generatedEvents(t *testing.T, seed int64, n int, meta bool) []Event {
	t.Helper()
	g := NewGenerator(GeneratorConfig{Seed: seed, Events: n, TxMetadata: meta})
	d := NewDebeziumDecoder(DebeziumConfig{})
	var evs []Event
	for {
		r, err := g.NextRecord()
		if errors.Is(err, io.EOF) {
			return evs
		}
		require.NoError(t, err)
		r = r.Clone()
		ev, err := d.Decode(&r)
		require.NoError(t, err)
		evs = append(evs, ev)
	}
}

// perturbed returns evs as a source with lagging streams and redeliveries may return
// them: each stream's events stay in order, streams are merged in runs of random length
// (so one can fall far behind the others), and now and then an event already returned
// on a stream comes again.
func perturbed(r *rand.Rand, evs []Event) []Event {
	var order []streamID
	queues := map[streamID][]Event{}
	for _, ev := range evs {
		id := streamID{ev.Origin.Topic, ev.Origin.Partition}
		if _, ok := queues[id]; !ok {
			order = append(order, id)
		}
		queues[id] = append(queues[id], ev)
	}
	sent := map[streamID][]Event{}
	var out []Event
	for len(out) < 2*len(evs) {
		var live []streamID
		for _, id := range order {
			if len(queues[id]) > 0 {
				live = append(live, id)
			}
		}
		if len(live) == 0 {
			break
		}
		id := live[r.IntN(len(live))]
		for run := 1 + r.IntN(1+r.IntN(40)); run > 0 && len(queues[id]) > 0; run-- {
			if s := sent[id]; len(s) > 0 && r.IntN(30) == 0 {
				out = append(out, s[len(s)-1-r.IntN(min(len(s), 20))]) // a redelivery
				continue
			}
			ev := queues[id][0]
			queues[id] = queues[id][1:]
			sent[id] = append(sent[id], ev)
			out = append(out, ev)
		}
	}
	return out
}

// addData's common case must do exactly what addDataSlow does: the same transactions,
// dead letters, errors, duplicates and open count after every call, whatever the input.
// Two assemblers take the same perturbed generator workloads, one with every data event
// through addDataSlow; tight limits and a timeout make them give transactions up too.
func TestAssembleFastPathMatchesSlowPath(t *testing.T) {
	ctx := context.Background()
	for _, meta := range []bool{false, true} {
		evs := generatedEvents(t, 11, 2000, meta)
		for seed := range uint64(12) {
			t.Run(fmt.Sprintf("metadata=%v/seed=%d", meta, seed), func(t *testing.T) {
				r := rand.New(rand.NewPCG(seed, 5))
				input := perturbed(r, evs)
				as, dls := twinAssemblers(seed%4 == 1, seed%4 == 2)
				as[1].allSlow = true
				drain := func(a *Assembler) []Tx {
					var txs []Tx
					for tx, ok := a.Next(); ok; tx, ok = a.Next() {
						txs = append(txs, tx)
					}
					return txs
				}
				emitted := 0
				for i := range input {
					idle := r.IntN(100) == 0
					var errs [2]error
					var got [2][]Tx
					for k, a := range as {
						ev := input[i]
						errs[k] = a.Add(ctx, &ev)
						if idle {
							errs[k] = errors.Join(errs[k], a.Idle(ctx))
						}
						got[k] = drain(a)
					}
					requireTwins(t, as, dls, errs, got, i)
					emitted += len(got[0])
				}
				ferr0, ferr1 := as[0].Flush(ctx), as[1].Flush(ctx)
				require.Equal(t, fmt.Sprint(ferr1), fmt.Sprint(ferr0))
				require.Equal(t, drain(as[1]), drain(as[0]))
				require.Equal(t, dls[1].All(), dls[0].All())
				require.Positive(t, emitted)
				require.Positive(t, as[0].Duplicates(), "the input redelivered events")
			})
		}
	}
}

// A buffer back on the free list must be as new: release clears only the fields a
// transaction without metadata sets, so a field added to txBuf and not cleared there
// fails this.
func TestReleasedBuffersAreZero(t *testing.T) {
	ctx := context.Background()
	for _, meta := range []bool{false, true} {
		evs := generatedEvents(t, 13, 1500, meta)
		for seed := range uint64(4) {
			r := rand.New(rand.NewPCG(seed, 9))
			as, _ := twinAssemblers(seed%2 == 1, seed%2 == 0)
			a := as[0]
			for i, ev := range perturbed(r, evs) {
				require.NoError(t, a.Add(ctx, &ev))
				for tx, ok := a.Next(); ok; tx, ok = a.Next() {
					a.Release(tx)
				}
				for _, b := range a.free {
					v := reflect.ValueOf(b).Elem()
					for f := range v.NumField() {
						name := v.Type().Field(f).Name
						switch fv := v.Field(f); name {
						case "streams", "got": // their arrays are kept
							require.Zero(t, fv.Len(), "metadata=%v seed=%d event %d: txBuf.%s", meta, seed, i, name)
						default:
							require.True(t, fv.IsZero(), "metadata=%v seed=%d event %d: txBuf.%s is %v", meta, seed, i, name, fv)
						}
					}
				}
			}
			require.NotEmpty(t, a.free)
		}
	}
}

// Next leaves nothing in the ready queue that holds memory: it clears a popped slot
// field by field, so a field added to Tx and not cleared there fails this.
func TestNextClearsReadySlots(t *testing.T) {
	ctx := context.Background()
	a := NewAssembler(AssemblerConfig{})
	n := 0
	for _, ev := range generatedEvents(t, 5, 500, false) {
		require.NoError(t, a.Add(ctx, &ev))
		for tx, ok := a.Next(); ok; tx, ok = a.Next() {
			n++
			a.Release(tx)
		}
		done := a.ready[:cap(a.ready)]
		for i := range done {
			if i >= a.readyHead && i < len(a.ready) {
				continue // not popped yet
			}
			require.Equal(t, Tx{Commit: done[i].Commit}, done[i], "slot %d", i)
		}
	}
	require.Positive(t, n)
}

// twinAssemblers returns two assemblers configured alike, each with its own dead letters
// and a clock that advances 1 ms per reading; limits sets tight MaxOpen and MaxEvents,
// timeout a Timeout of 150 ms.
func twinAssemblers(limits, timeout bool) ([2]*Assembler, [2]*MemoryDeadLetters) {
	var as [2]*Assembler
	var dls [2]*MemoryDeadLetters
	for i := range as {
		clock := time.Unix(1767225600, 0)
		dls[i] = NewMemoryDeadLetters()
		cfg := AssemblerConfig{DeadLetters: dls[i], Now: func() time.Time {
			clock = clock.Add(time.Millisecond)
			return clock
		}}
		if limits {
			cfg.MaxOpen, cfg.MaxEvents = 20, 60
		}
		if timeout {
			cfg.Timeout = 150 * time.Millisecond
		}
		as[i] = NewAssembler(cfg)
	}
	return as, dls
}

// requireTwins fails unless twin assemblers, after taking event at, returned the same
// errors and transactions and agree on what they hold, dropped and dead-lettered.
func requireTwins(t *testing.T, as [2]*Assembler, dls [2]*MemoryDeadLetters, errs [2]error, got [2][]Tx, at int) {
	t.Helper()
	require.Equal(t, fmt.Sprint(errs[0]), fmt.Sprint(errs[1]), "event %d", at)
	require.Equal(t, got[0], got[1], "event %d", at)
	require.Equal(t, as[0].Open(), as[1].Open(), "event %d", at)
	require.Equal(t, as[0].Duplicates(), as[1].Duplicates(), "event %d", at)
	require.Equal(t, as[0].LastCommit(), as[1].LastCommit(), "event %d", at)
	require.Equal(t, dls[0].Len(), dls[1].Len(), "event %d", at)
}

func TestFirstClassIsFirstRegions(t *testing.T) {
	require.Equal(t, bits.Len(firstRegion)-1, firstClass)
}

// The position queue hands out transactions in order whatever grows, and whatever is
// removed from where, with transactions in and out of order and the array compacted
// as it goes.
func TestTxQueue(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for round := range 300 {
		var p txQueue
		var in []*txn // in the queue, in no order
		seq := uint64(0)
		check := func() {
			t.Helper()
			all := p.all()
			require.Len(t, all, len(in), "round %d", round)
			for i := 1; i < len(all); i++ {
				require.True(t, before(all[i-1], all[i]), "round %d: out of order at %d", round, i)
			}
			for _, x := range p.q[:p.head] {
				require.Nil(t, x, "round %d", round)
			}
		}
		for range 1 + r.IntN(200) {
			switch op := r.IntN(10); {
			case op < 4 || len(in) == 0: // a new one, mostly the latest
				c := Position{Major: seq + uint64(r.IntN(3))}
				if r.IntN(5) == 0 {
					c.Major = uint64(r.IntN(int(seq) + 1))
				}
				seq++
				x := &txn{commit: c, seq: seq}
				p.push(x)
				require.True(t, x.queued)
				in = append(in, x)
			case op < 7: // one grows
				x := in[r.IntN(len(in))]
				p.grow(x, Position{Major: x.commit.Major + 1 + uint64(r.IntN(4))})
			case op < 8: // one leaves from anywhere
				k := r.IntN(len(in))
				p.remove(in[k])
				require.False(t, in[k].queued)
				p.remove(in[k]) // a second time does nothing
				in = slices.Delete(in, k, k+1)
			default: // the first leaves
				x := p.front()
				p.remove(x)
				in = slices.DeleteFunc(in, func(y *txn) bool { return y == x })
			}
			check()
		}
		for p.len() > 0 {
			x := p.front()
			for _, y := range in {
				require.False(t, before(y, x), "round %d: the front is not the first", round)
			}
			p.remove(x)
			in = slices.DeleteFunc(in, func(y *txn) bool { return y == x })
			check()
		}
	}
}
