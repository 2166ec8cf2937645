package cdc_test

import (
	"encoding/json"
	"errors"
	"io"
	"runtime"
	"runtime/debug"
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
// ratio of the two is what assembly adds. Both decode cdc.DecodeAhead records in a run,
// as sources do; this one then assembles the run.
func BenchmarkDecodeAssemble(b *testing.B) {
	recs := generated(b, 50000)
	b.Run("cold", func(b *testing.B) { benchDecode(b, recs, true, false) })
	b.Run("steady", func(b *testing.B) { benchDecode(b, recs, true, true) })
}

func benchDecode(b *testing.B, recs []cdc.Record, assemble, steady bool) {
	var size int64
	for i := range recs {
		size += int64(len(recs[i].Value) + len(recs[i].Key))
	}
	builders := map[*change.Schema]*change.Builder{}
	var d *cdc.DebeziumDecoder
	var asm *cdc.Assembler
	var dls *cdc.MemoryDeadLetters
	ctx := b.Context()
	reset := func() {
		d = cdc.NewDebeziumDecoder(cdc.DebeziumConfig{})
		dls = cdc.NewMemoryDeadLetters()
		asm = cdc.NewAssembler(cdc.AssemblerConfig{DeadLetters: dls})
	}
	// The assembler drops what it has seen: cold makes a new one for each pass over
	// the records; steady keeps one, as a long run does, and relabels each pass's
	// events as later ones: positions and offsets move on, and the odd passes take
	// other transaction ids (an id seen two passes before was forgotten long since).
	// Both benchmarks make the relabelling table, so that the heap the collector marks
	// is the same and the ratio of the two is what assembly adds.
	var oddIDs []string // by record, made before timing
	if steady {
		txIDs := make([]string, len(recs))
		d := cdc.NewDebeziumDecoder(cdc.DebeziumConfig{})
		for j := range recs {
			ev, err := d.Decode(&recs[j])
			if err != nil {
				b.Fatal(err)
			}
			txIDs[j] = ev.Source.TxID
		}
		ids := map[string]string{"": ""}
		oddIDs = make([]string, len(recs))
		for j, id := range txIDs {
			if _, ok := ids[id]; !ok {
				ids[id] = id + ".odd"
			}
			oddIDs[j] = ids[id]
		}
	}
	// Records are decoded DecodeAhead at a time, then assembled, as a cdc.BatchReader
	// source and its consumers do (stream.CDCSource, bronze): into reused events, or
	// when assembling into the room the assembler reserves, which spares their copy.
	run := make([]cdc.Event, cdc.DecodeAhead)
	nrun := 0
	endRun := func() {
		if assemble {
			for j := range run[:nrun] {
				if err := asm.Add(ctx, &run[j]); err != nil {
					b.Fatal(err)
				}
				for tx, ok := asm.Next(); ok; tx, ok = asm.Next() {
					asm.Release(tx) // done with it: its memory holds later events
				}
			}
		}
		nrun = 0
	}
	step := func(i int) {
		if assemble && nrun == 0 {
			run = asm.Reserve(cdc.DecodeAhead)
		}
		ev := &run[nrun]
		if err := d.DecodeInto(&recs[i%len(recs)], ev); err != nil {
			b.Fatal(err)
		}
		if ev.Schema != nil {
			bl := builders[ev.Schema]
			if bl == nil {
				bl = change.NewBuilder(memory.DefaultAllocator, ev.Schema)
				builders[ev.Schema] = bl
			}
			if err := cdc.AppendChanges(bl, ev); err != nil {
				b.Fatal(err)
			}
			if bl.Len() >= 4096 {
				bl.NewBatch().Release()
			}
		}
		if assemble {
			if lap := uint64(i / len(recs)); lap > 0 {
				ev.Pos.Major += lap << 40
				ev.Pos.Minor += lap << 40
				ev.Origin.Offset += int64(lap) * int64(len(recs))
				if lap%2 == 1 {
					ev.Source.TxID = oddIDs[i%len(recs)]
				}
			}
		}
		if nrun++; nrun == len(run) {
			endRun()
		}
	}
	reset()
	first := 0 // the index of the first timed step
	if steady {
		for ; first < 2*len(recs); first++ {
			step(first)
		}
		runtime.GC()
	} else {
		debug.FreeOSMemory() // whatever ran before in this process, the heap starts cold
	}
	b.SetBytes(size / int64(len(recs)))
	b.ResetTimer()
	cpu0 := cputime.Process()
	for i := first; i < first+b.N; i++ {
		if steady {
			step(i)
			continue
		}
		if assemble && i > 0 && i%len(recs) == 0 {
			endRun() // the pass's last run
			b.StopTimer()
			_ = asm.Flush(ctx)
			reset()
			b.StartTimer()
		}
		step(i % len(recs)) // each pass as new to a new assembler
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	cputime.Report(b, cpu0, b.N, "events") // cold: includes the untimed resets between passes
	if asm.Duplicates() != 0 || dls.Len() != 0 {
		b.Fatalf("the assembler dropped %d events as duplicates and dead-lettered %d", asm.Duplicates(), dls.Len())
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
	var size int64
	for i := range recs {
		size += int64(len(recs[i].Value) + len(recs[i].Key))
	}
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
