package tpchgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// Path returns the Parquet file of a table in dir.
func Path(dir, table string) string { return filepath.Join(dir, table+".parquet") }

// markerName is the file Generate writes last; its presence says dir is complete.
const markerName = "tpchgen.json"

// formatVersion changes whenever the generated data would.
const formatVersion = 1

// Manifest describes a generated directory.
type Manifest struct {
	Version int              `json:"version"`
	SF      float64          `json:"sf"`
	Seed    uint64           `json:"seed"`
	Rows    map[string]int64 `json:"rows"`
}

// ReadManifest returns the manifest of a complete directory, or an error if dir holds
// no complete generation.
func ReadManifest(dir string) (Manifest, error) {
	var m Manifest
	b, err := os.ReadFile(filepath.Join(dir, markerName))
	if err != nil {
		return m, fmt.Errorf("tpchgen: %s: %w", dir, err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("tpchgen: %s: manifest: %w", dir, err)
	}
	return m, nil
}

// Matches reports whether the manifest is of this generator's version, scale factor
// and seed, so its files can be reused.
func (m Manifest) Matches(c Config) bool {
	c = c.withDefaults()
	return m.Version == formatVersion && m.SF == c.SF && m.Seed == c.Seed
}

// Generate writes every table of c into dir as <table>.parquet (one row group per
// chunk), then the manifest. Files appear under their final names only once complete.
func Generate(ctx context.Context, c Config, dir string) (Manifest, error) {
	if err := c.Validate(); err != nil {
		return Manifest{}, err
	}
	c = c.withDefaults()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Manifest{}, fmt.Errorf("tpchgen: %w", err)
	}
	_ = os.Remove(filepath.Join(dir, markerName))

	parent := ctx
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	jobs := c.jobs()
	// Each table's writer consumes its chunks in order from per-chunk channels.
	type out struct{ recs []arrow.RecordBatch }
	results := make([]chan out, len(jobs))
	for i := range results {
		results[i] = make(chan out, 1)
	}
	// tokens bound the chunks generated but not yet written.
	tokens := make(chan struct{}, 2*c.Workers+2)

	var wg sync.WaitGroup
	next := make(chan int)
	go func() {
		defer close(next)
		for i := range jobs {
			select {
			case tokens <- struct{}{}:
			case <-ctx.Done():
				return
			}
			select {
			case next <- i:
			case <-ctx.Done():
				<-tokens
				return
			}
		}
	}()
	for range c.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i] <- out{c.generate(jobs[i])}
			}
		}()
	}

	// Writers: one per table; orders jobs feed both orders and lineitem.
	writers := map[string]*tableWriter{}
	for _, t := range Tables {
		w, err := newTableWriter(c, dir, t)
		if err != nil {
			cancel(err)
			for _, w := range writers {
				w.abort()
			}
			wg.Wait()
			return Manifest{}, err
		}
		writers[t] = w
	}
	byKind := map[int][]int{}
	for i, j := range jobs {
		byKind[j.kind] = append(byKind[j.kind], i)
	}
	var werr error
	var mu sync.Mutex
	var wwg sync.WaitGroup
	complete := 0 // kinds whose every chunk was written
	for kind, idx := range byKind {
		wwg.Add(1)
		go func() {
			defer wwg.Done()
			for _, i := range idx {
				var o out
				select {
				case o = <-results[i]:
				case <-ctx.Done():
					return
				}
				for k, rec := range o.recs {
					t := Tables[kind]
					if k == 1 {
						t = Lineitem
					}
					err := writers[t].write(rec)
					rec.Release()
					if err != nil {
						mu.Lock()
						werr = errors.Join(werr, err)
						mu.Unlock()
						cancel(err)
					}
				}
				<-tokens
			}
			mu.Lock()
			complete++
			mu.Unlock()
		}()
	}
	wwg.Wait()
	cancel(nil)
	wg.Wait() // the feeder has stopped (done or cancelled) and closed next
	// Release what workers produced that no writer took.
	for _, ch := range results {
		select {
		case o := <-ch:
			for _, r := range o.recs {
				r.Release()
			}
		default:
		}
	}
	if werr == nil && complete < len(byKind) {
		werr = fmt.Errorf("tpchgen: generation stopped: %w", parent.Err())
	}
	m := Manifest{Version: formatVersion, SF: c.SF, Seed: c.Seed, Rows: map[string]int64{}}
	for _, t := range Tables {
		w := writers[t]
		if werr != nil {
			w.abort()
			continue
		}
		if err := w.commit(); err != nil {
			werr = errors.Join(werr, err)
			continue
		}
		m.Rows[t] = w.rows
	}
	if werr != nil {
		return Manifest{}, werr
	}
	b, _ := json.MarshalIndent(m, "", "  ")
	if err := writeFileAtomic(filepath.Join(dir, markerName), b); err != nil {
		return Manifest{}, err
	}
	return m, nil
}

// dictColumns are dictionary-encoded: their distinct values do not grow with the scale
// factor. Others are plain: a dictionary that overflows falls back to plain pages
// within a column chunk, and the writer then lists the two encodings in map order,
// which would make the files' bytes differ from run to run.
var dictColumns = map[string]bool{
	"r_name": true, "n_name": true, "n_regionkey": true, "s_nationkey": true, "c_nationkey": true,
	"c_mktsegment": true, "p_mfgr": true, "p_brand": true, "p_type": true, "p_size": true, "p_container": true,
	"o_orderstatus": true, "o_orderdate": true, "o_orderpriority": true, "o_shippriority": true,
	"l_linenumber": true, "l_quantity": true, "l_discount": true, "l_tax": true, "l_returnflag": true, "l_linestatus": true,
	"l_shipdate": true, "l_commitdate": true, "l_receiptdate": true, "l_shipinstruct": true, "l_shipmode": true,
}

type tableWriter struct {
	table, path, tmp string
	f                *os.File
	w                *pqarrow.FileWriter
	rows             int64
}

func newTableWriter(c Config, dir, table string) (*tableWriter, error) {
	tw := &tableWriter{table: table, path: Path(dir, table)}
	tw.tmp = tw.path + ".tmp"
	f, err := os.Create(tw.tmp)
	if err != nil {
		return nil, fmt.Errorf("tpchgen: %s: %w", table, err)
	}
	opts := []parquet.WriterProperty{
		parquet.WithAllocator(c.Alloc),
		parquet.WithCompression(compress.Codecs.Snappy),
		parquet.WithStoreDecimalAsInteger(true),
		parquet.WithMaxRowGroupLength(1 << 20),
		parquet.WithStats(true),
		parquet.WithDictionaryDefault(false),
	}
	for _, f := range schemas[table].Fields() {
		if dictColumns[f.Name] {
			opts = append(opts, parquet.WithDictionaryFor(f.Name, true))
		}
	}
	props := parquet.NewWriterProperties(opts...)
	w, err := pqarrow.NewFileWriter(schemas[table], f, props, pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(c.Alloc)))
	if err != nil {
		f.Close()
		os.Remove(tw.tmp)
		return nil, fmt.Errorf("tpchgen: %s: %w", table, err)
	}
	tw.f, tw.w = f, w
	return tw, nil
}

func (tw *tableWriter) write(rec arrow.RecordBatch) error {
	if err := tw.w.Write(rec); err != nil {
		return fmt.Errorf("tpchgen: %s: write: %w", tw.table, err)
	}
	tw.rows += rec.NumRows()
	return nil
}

func (tw *tableWriter) commit() error {
	if err := tw.w.Close(); err != nil { // also closes the file
		os.Remove(tw.tmp)
		return fmt.Errorf("tpchgen: %s: close: %w", tw.table, err)
	}
	if err := os.Rename(tw.tmp, tw.path); err != nil {
		return fmt.Errorf("tpchgen: %s: %w", tw.table, err)
	}
	return nil
}

func (tw *tableWriter) abort() {
	_ = tw.w.Close()
	_ = tw.f.Close()
	_ = os.Remove(tw.tmp)
}

func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("tpchgen: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("tpchgen: %w", err)
	}
	return nil
}
