package cdc_test

import (
	"encoding/json"
	"errors"
	"io"
	"runtime"
	"runtime/debug"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/internal/cputime"
)

// generated returns n records of the generator's workload (envelope JSON with schemas),
// made once per process: the testing package runs a benchmark function more than once,
// and generating them again would leave the heap in a different state each time.
func generated(b *testing.B, n int) []cdc.Record {
	if recs, ok := generatedRecords[n]; ok {
		return recs
	}
	g := cdc.NewGenerator(cdc.GeneratorConfig{Seed: 7, Events: n})
	var recs []cdc.Record
	for {
		r, err := g.NextRecord()
		if errors.Is(err, io.EOF) {
			generatedRecords[n] = recs
			return recs
		}
		if err != nil {
			b.Fatal(err)
		}
		recs = append(recs, r.Clone())
	}
}

var generatedRecords = map[int][]cdc.Record{} // read only once made

// BenchmarkDecode measures Debezium JSON -> change batches: decode each record, append
// its changelog rows to the table's builder, cut a batch every 4096 rows.
//
// cold starts timing on a fresh heap, so every byte the loop allocates is memory the
// process touches for the first time (about 7 µs per 4 KiB page on the development
// machines, as much as decoding an event); steady first runs the loop over the workload
// twice untimed and collects the garbage, so that the timed loop reuses memory and
// warm decoder and assembler state as a long-running pipeline does.
func BenchmarkDecode(b *testing.B) {
	recs := generated(b, 50000)
	b.Run("cold", func(b *testing.B) { benchDecode(b, recs, false, false) })
	b.Run("steady", func(b *testing.B) { benchDecode(b, recs, false, true) })
}

// BenchmarkDecodeAssemble is BenchmarkDecode with transaction assembly in the loop; the
// ratio of the two is what assembly adds (BenchmarkAssemblyOverhead measures it with
// both in one process). Both decode cdc.DecodeAhead records in a run, as sources do;
// this one then assembles the run.
func BenchmarkDecodeAssemble(b *testing.B) {
	recs := generated(b, 50000)
	b.Run("cold", func(b *testing.B) { benchDecode(b, recs, true, false) })
	b.Run("steady", func(b *testing.B) { benchDecode(b, recs, true, true) })
}

// decodeLoop is the loop BenchmarkDecode and BenchmarkDecodeAssemble time: decode each
// record, append its changelog rows to the table's builder, cut a batch every 4096 rows,
// and when assembling, assemble each run of decoded events.
type decodeLoop struct {
	b        *testing.B
	recs     []cdc.Record
	assemble bool
	builders map[*change.Schema]*change.Builder
	d        *cdc.DebeziumDecoder
	asm      *cdc.Assembler
	dls      *cdc.MemoryDeadLetters
	oddIDs   []string // steady: the transaction ids of odd passes, by record (oddTxIDs)
	run      []cdc.Event
	nrun     int
	i        int // the next record, counting passes
}

func newDecodeLoop(b *testing.B, recs []cdc.Record, assemble bool) *decodeLoop {
	l := &decodeLoop{b: b, recs: recs, assemble: assemble, builders: map[*change.Schema]*change.Builder{}}
	l.reset()
	// Records are decoded DecodeAhead at a time, then assembled, as a cdc.BatchReader
	// source and its consumers do (stream.CDCSource, bronze): into reused events, or
	// when assembling into the room the assembler reserves, which spares their copy.
	l.run = make([]cdc.Event, cdc.DecodeAhead)
	return l
}

func (l *decodeLoop) reset() {
	l.d = cdc.NewDebeziumDecoder(cdc.DebeziumConfig{})
	l.dls = cdc.NewMemoryDeadLetters()
	l.asm = cdc.NewAssembler(cdc.AssemblerConfig{DeadLetters: l.dls})
}

// oddTxIDs returns, by record, the transaction ids of steady loops' odd passes. The
// assembler drops what it has seen: a steady loop keeps one, as a long run does, so
// each pass's events are relabelled as later ones: positions and offsets move on, and
// the odd passes take other transaction ids (an id seen two passes before was forgotten
// long since). Both benchmarks relabel, with or without an assembler: it is the
// harness's work, and the ratio of the two is what assembly adds.
func oddTxIDs(b *testing.B, recs []cdc.Record) []string {
	d := cdc.NewDebeziumDecoder(cdc.DebeziumConfig{})
	ids := map[string]string{"": ""}
	odd := make([]string, len(recs))
	for j := range recs {
		ev, err := d.Decode(&recs[j])
		if err != nil {
			b.Fatal(err)
		}
		id := ev.Source.TxID
		if _, ok := ids[id]; !ok {
			ids[id] = id + ".odd"
		}
		odd[j] = ids[id]
	}
	return odd
}

// endRun assembles the run decoded, handing back each transaction once emitted.
func (l *decodeLoop) endRun() {
	if l.assemble {
		ctx := l.b.Context()
		for j := range l.run[:l.nrun] {
			if err := l.asm.Add(ctx, &l.run[j]); err != nil {
				l.b.Fatal(err)
			}
			for tx, ok := l.asm.Next(); ok; tx, ok = l.asm.Next() {
				l.asm.Release(tx) // done with it: its memory holds later events
			}
		}
	}
	l.nrun = 0
}

// step decodes the next record: the record i%len(recs) of pass i/len(recs).
func (l *decodeLoop) step() {
	i := l.i
	l.i++
	if l.assemble && l.nrun == 0 {
		l.run = l.asm.Reserve(cdc.DecodeAhead)
	}
	ev := &l.run[l.nrun]
	if err := l.d.DecodeInto(&l.recs[i%len(l.recs)], ev); err != nil {
		l.b.Fatal(err)
	}
	if ev.Schema != nil {
		bl := l.builders[ev.Schema]
		if bl == nil {
			bl = change.NewBuilder(memory.DefaultAllocator, ev.Schema)
			l.builders[ev.Schema] = bl
		}
		if err := cdc.AppendChanges(bl, ev); err != nil {
			l.b.Fatal(err)
		}
		if bl.Len() >= 4096 {
			bl.NewBatch().Release()
		}
	}
	if l.oddIDs != nil {
		if lap := uint64(i / len(l.recs)); lap > 0 {
			ev.Pos.Major += lap << 40
			ev.Pos.Minor += lap << 40
			ev.Origin.Offset += int64(lap) * int64(len(l.recs))
			if lap%2 == 1 {
				ev.Source.TxID = l.oddIDs[i%len(l.recs)]
			}
		}
	}
	if l.nrun++; l.nrun == len(l.run) {
		l.endRun()
	}
}

// warm runs two passes over the records untimed (see BenchmarkDecode's steady), and
// from then on relabels every pass after the first (odd ones with oddIDs, from oddTxIDs).
func (l *decodeLoop) warm(oddIDs []string) {
	l.oddIDs = oddIDs
	for range 2 * len(l.recs) {
		l.step()
	}
}

// check fails the benchmark if the assembler dropped or rejected anything.
func (l *decodeLoop) check() {
	if l.asm.Duplicates() != 0 || l.dls.Len() != 0 {
		l.b.Fatalf("the assembler dropped %d events as duplicates and dead-lettered %d", l.asm.Duplicates(), l.dls.Len())
	}
}

func recordsSize(recs []cdc.Record) int64 {
	var size int64
	for i := range recs {
		size += int64(len(recs[i].Value) + len(recs[i].Key))
	}
	return size
}

func benchDecode(b *testing.B, recs []cdc.Record, assemble, steady bool) {
	l := newDecodeLoop(b, recs, assemble)
	if steady {
		l.warm(oddTxIDs(b, recs))
		runtime.GC()
	} else {
		debug.FreeOSMemory() // whatever ran before in this process, the heap starts cold
	}
	b.SetBytes(recordsSize(recs) / int64(len(recs)))
	b.ResetTimer()
	cpu0 := cputime.Process()
	for i := 0; i < b.N; i++ {
		if !steady && assemble && i > 0 && i%len(recs) == 0 {
			l.endRun() // the pass's last run
			b.StopTimer()
			_ = l.asm.Flush(b.Context())
			l.reset()
			b.StartTimer()
		}
		if !steady {
			l.i = i % len(recs) // each pass as new to a new assembler
		}
		l.step()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	cputime.Report(b, cpu0, b.N, "events") // cold: includes the untimed resets between passes
	l.check()
}

// BenchmarkAssemblyOverhead measures what transaction assembly adds to decoding, as the
// ratio of BenchmarkDecodeAssemble's steady loop to BenchmarkDecode's, in one process
// and interleaved: the two loops take turns over chunks of the same records (in the
// order ABBA, so that a drift of the machine's speed cancels out), each chunk timed by
// the process's CPU time. A shared machine's speed changes over seconds; chunks of a
// few milliseconds taken in turn see the same machine, where two benchmarks run one
// after the other do not. It reports the median of the chunk pairs' ratios ("ratio"),
// and each loop's median CPU time per event. b.N is the events of each loop.
func BenchmarkAssemblyOverhead(b *testing.B) {
	recs := generated(b, 50000)
	loops := [2]*decodeLoop{newDecodeLoop(b, recs, false), newDecodeLoop(b, recs, true)}
	oddIDs := oddTxIDs(b, recs)
	for _, l := range loops {
		l.warm(oddIDs)
	}
	runtime.GC()
	const chunk = 4096
	var ratios []float64
	var per [2][]float64
	b.ResetTimer()
	for done, k := 0, 0; done < b.N; k++ {
		n := min(chunk, b.N-done)
		var cpu [2]float64
		for j := range 2 {
			w := j ^ k&1 // ABBA: the loop that goes first alternates
			cpu0 := cputime.Process()
			for range n {
				loops[w].step()
			}
			cpu[w] = float64(cputime.Process()-cpu0) / float64(n)
			per[w] = append(per[w], cpu[w])
		}
		if cpu[0] > 0 {
			ratios = append(ratios, cpu[1]/cpu[0])
		}
		done += n
	}
	b.StopTimer()
	for _, l := range loops {
		l.check()
	}
	if len(ratios) == 0 {
		b.Skip("the CPU time is not available here")
	}
	b.ReportMetric(median(ratios), "ratio")
	b.ReportMetric(median(per[0]), "decode-cpu-ns/event")
	b.ReportMetric(median(per[1]), "assemble-cpu-ns/event")
}

func median(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	if n := len(v); n%2 == 1 {
		return v[n/2]
	} else {
		return (v[n/2-1] + v[n/2]) / 2
	}
}

// BenchmarkDecodeEncodingJSON is the yardstick for BenchmarkDecode: the same records
// through encoding/json into generic maps (no typing, no change batches).
func BenchmarkDecodeEncodingJSON(b *testing.B) {
	recs := generated(b, 50000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var v map[string]any
		if err := json.Unmarshal(recs[i%len(recs)].Value, &v); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// payloadOnly strips the {schema, payload} envelope from records, as Kafka Connect's JSON
// converter writes them with schemas.enable=false.
func payloadOnly(b *testing.B, recs []cdc.Record) []cdc.Record {
	out := make([]cdc.Record, len(recs))
	for i, r := range recs {
		var env struct{ Payload json.RawMessage }
		if err := json.Unmarshal(r.Value, &env); err != nil {
			b.Fatal(err)
		}
		var key struct{ Payload json.RawMessage }
		if err := json.Unmarshal(r.Key, &key); err != nil {
			b.Fatal(err)
		}
		r.Value, r.Key = env.Payload, key.Payload
		out[i] = r
	}
	return out
}

// BenchmarkDecodePayloadOnly decodes the same workload without schemas (column types
// inferred) into change batches, beside encoding/json on the same bytes.
func BenchmarkDecodePayloadOnly(b *testing.B) {
	recs := payloadOnly(b, generated(b, 50000))
	size := recordsSize(recs)
	b.Run("strata-cold", func(b *testing.B) { benchDecode(b, recs, false, false) })
	b.Run("strata-steady", func(b *testing.B) { benchDecode(b, recs, false, true) })
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(size / int64(len(recs)))
		for i := 0; i < b.N; i++ {
			var v map[string]any
			if err := json.Unmarshal(recs[i%len(recs)].Value, &v); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
}
