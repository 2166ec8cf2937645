package gold

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// parquetOut writes a model's output to one Parquet file. Batches go to a temporary file
// beside the target; Commit syncs it and renames it over the target, so a failed or
// interrupted build leaves the previous output whole.
type parquetOut struct {
	f    *os.File
	fw   *pqarrow.FileWriter
	path string
	rows int64
}

// rowGroupRows is the row group length of model outputs: large enough for fast scans,
// small enough that row-group pruning by min/max has something to skip.
const rowGroupRows = 1 << 20

func createParquet(path string, schema *arrow.Schema, mem memory.Allocator) (*parquetOut, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("gold: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, fmt.Errorf("gold: %w", err)
	}
	props := parquet.NewWriterProperties(
		parquet.WithCompression(compress.Codecs.Zstd),
		parquet.WithAllocator(mem),
		parquet.WithMaxRowGroupLength(rowGroupRows),
		parquet.WithStats(true),
	)
	fw, err := pqarrow.NewFileWriter(schema, f, props,
		pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema(), pqarrow.WithAllocator(mem)))
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("gold: parquet %s: %w", path, err)
	}
	return &parquetOut{f: f, fw: fw, path: path}, nil
}

// Write appends one batch; the caller keeps its reference.
func (o *parquetOut) Write(rec arrow.RecordBatch) error {
	if rec.NumRows() == 0 {
		return nil
	}
	if err := o.fw.WriteBuffered(rec); err != nil {
		return fmt.Errorf("gold: parquet %s: %w", o.path, err)
	}
	o.rows += rec.NumRows()
	return nil
}

// Commit finishes the file and puts it in place of the target.
func (o *parquetOut) Commit() error {
	name := o.f.Name()
	if err := o.fw.Close(); err != nil { // closes o.f too
		os.Remove(name)
		return fmt.Errorf("gold: parquet %s: %w", o.path, err)
	}
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err == nil {
		err = f.Sync()
		f.Close()
	}
	if err == nil {
		err = os.Rename(name, o.path)
	}
	if err != nil {
		os.Remove(name)
		return fmt.Errorf("gold: parquet %s: %w", o.path, err)
	}
	if d, err := os.Open(filepath.Dir(o.path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Abort drops the temporary file; the target is untouched.
func (o *parquetOut) Abort() {
	name := o.f.Name()
	o.fw.Close()
	os.Remove(name)
}
