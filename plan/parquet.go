package plan

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/internal/expr"
	"github.com/strata-data/strata/shuffle"
)

// ParquetTable is a table over one Parquet file or a directory of them (all of one
// schema), one split per row group. Row groups whose min/max statistics rule out a
// pushed-down predicate are skipped.
type ParquetTable struct {
	name   string
	files  []string
	schema *arrow.Schema
	groups []rowGroupMeta
	// BatchRows is the rows per batch read (default DefaultBatchRows).
	BatchRows int64
}

type rowGroupMeta struct {
	file  int
	index int
	rows  int64
	stats []ColumnStats // per arrow column
}

// DefaultBatchRows is the rows per batch a ParquetTable reads unless told otherwise.
// At 16384 rows a decimal column is 256 KiB, so the columns a pipeline of filters,
// projections and a partial aggregate touches stay in the cores' caches between
// operators; at 65536 they did not (TPC-H SF 1 q01 and q05 took 10-14% more CPU), and
// at 8192 per-batch costs begin to show.
const DefaultBatchRows = 1 << 14

// OpenParquet opens a Parquet file or a directory of .parquet files, reading their
// footers (not their data).
func OpenParquet(path string) (*ParquetTable, error) {
	files, err := listFiles(path, ".parquet")
	if err != nil {
		return nil, err
	}
	t := &ParquetTable{name: path, files: files, BatchRows: DefaultBatchRows}
	for fi, f := range files {
		pf, err := file.OpenParquetFile(f, false)
		if err != nil {
			return nil, fmt.Errorf("plan: open parquet %s: %w", f, err)
		}
		fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
		if err != nil {
			pf.Close()
			return nil, fmt.Errorf("plan: parquet %s: %w", f, err)
		}
		s, err := fr.Schema()
		if err != nil {
			pf.Close()
			return nil, fmt.Errorf("plan: parquet %s: %w", f, err)
		}
		if t.schema == nil {
			for _, fl := range s.Fields() {
				if err := change.Supported(fl.Type); err != nil {
					pf.Close()
					return nil, fmt.Errorf("plan: parquet %s column %q: %w", f, fl.Name, err)
				}
			}
			t.schema = s
		} else if !t.schema.Equal(s) {
			pf.Close()
			return nil, fmt.Errorf("plan: parquet %s has schema %s, but %s has %s", f, s, files[0], t.schema)
		}
		md := pf.MetaData()
		for rg := 0; rg < md.NumRowGroups(); rg++ {
			rgm := md.RowGroup(rg)
			g := rowGroupMeta{file: fi, index: rg, rows: rgm.NumRows(), stats: make([]ColumnStats, s.NumFields())}
			for c := range s.NumFields() {
				g.stats[c] = ColumnStats{Distinct: -1, Nulls: -1}
				leaf := fr.Manifest.Fields[c].ColIndex
				if leaf < 0 {
					continue
				}
				cc, err := rgm.ColumnChunk(leaf)
				if err != nil {
					continue
				}
				if ok, _ := cc.StatsSet(); !ok {
					continue
				}
				st, err := cc.Statistics()
				if err != nil || st == nil {
					continue
				}
				g.stats[c].Nulls = st.NullCount()
				if st.HasMinMax() {
					lo, hi, ok := statBounds(st, s.Field(c).Type)
					if ok {
						g.stats[c].HasMinMax, g.stats[c].Min, g.stats[c].Max = true, lo, hi
					}
				}
			}
			t.groups = append(t.groups, g)
		}
		pf.Close()
	}
	return t, nil
}

// listFiles returns path itself, or the files under the directory path whose name ends
// with ext (sorted), skipping hidden files.
func listFiles(path, ext string) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	if !st.IsDir() {
		return []string{path}, nil
	}
	var out []string
	err = filepath.WalkDir(path, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".") || strings.HasPrefix(d.Name(), "_") {
			if d.IsDir() && p != path {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.IsDir() && strings.HasSuffix(strings.ToLower(d.Name()), ext) {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("plan: list %s: %w", path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("plan: no %s files under %s", ext, path)
	}
	sort.Strings(out)
	return out, nil
}

// statBounds converts a column chunk's min/max to values of the column's type.
func statBounds(st metadata.TypedStatistics, t arrow.DataType) (lo, hi change.Value, ok bool) {
	dec, isDec := t.(*arrow.Decimal128Type)
	switch s := st.(type) {
	case *metadata.Int32Statistics:
		if isDec {
			return change.Decimal(decimal128.FromI64(int64(s.Min()))), change.Decimal(decimal128.FromI64(int64(s.Max()))), true
		}
		if t.ID() == arrow.UINT32 {
			return change.Int(int64(uint32(s.Min()))), change.Int(int64(uint32(s.Max()))), false
		}
		return change.Int(int64(s.Min())), change.Int(int64(s.Max())), true
	case *metadata.Int64Statistics:
		if isDec {
			return change.Decimal(decimal128.FromI64(s.Min())), change.Decimal(decimal128.FromI64(s.Max())), true
		}
		if t.ID() == arrow.UINT64 {
			return lo, hi, false
		}
		return change.Int(s.Min()), change.Int(s.Max()), true
	case *metadata.Float32Statistics:
		return change.Float(float64(s.Min())), change.Float(float64(s.Max())), true
	case *metadata.Float64Statistics:
		return change.Float(s.Min()), change.Float(s.Max()), true
	case *metadata.ByteArrayStatistics:
		if isDec {
			a, okA := beDecimal(s.Min(), dec)
			b, okB := beDecimal(s.Max(), dec)
			return change.Decimal(a), change.Decimal(b), okA && okB
		}
		if t.ID() == arrow.STRING {
			return change.Str(string(s.Min())), change.Str(string(s.Max())), true
		}
	case *metadata.FixedLenByteArrayStatistics:
		if isDec {
			a, okA := beDecimal(s.Min(), dec)
			b, okB := beDecimal(s.Max(), dec)
			return change.Decimal(a), change.Decimal(b), okA && okB
		}
	}
	return lo, hi, false
}

// beDecimal decodes a big-endian two's-complement unscaled decimal.
func beDecimal(b []byte, _ *arrow.Decimal128Type) (decimal128.Num, bool) {
	if len(b) == 0 || len(b) > 16 {
		return decimal128.Num{}, false
	}
	if len(b) == 16 {
		return decimal128.New(int64(binary.BigEndian.Uint64(b[:8])), binary.BigEndian.Uint64(b[8:])), true
	}
	n := new(big.Int).SetBytes(b)
	if b[0]&0x80 != 0 {
		n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	return decimal128.FromBigInt(n), true
}

// Schema implements Table.
func (t *ParquetTable) Schema() *arrow.Schema { return t.schema }

// Stats implements Table: row counts and min/max from the footers.
func (t *ParquetTable) Stats(context.Context) (TableStats, error) {
	st := TableStats{Columns: make([]ColumnStats, t.schema.NumFields())}
	for c := range st.Columns {
		st.Columns[c] = ColumnStats{Distinct: -1}
	}
	for gi, g := range t.groups {
		st.Rows += g.rows
		for c, cs := range g.stats {
			agg := &st.Columns[c]
			if cs.Nulls < 0 || agg.Nulls < 0 {
				agg.Nulls = -1
			} else {
				agg.Nulls += cs.Nulls
			}
			if !cs.HasMinMax {
				if gi == 0 || agg.HasMinMax {
					agg.HasMinMax = false
					agg.Min, agg.Max = change.Null(), change.Null()
				}
				continue
			}
			if gi == 0 {
				agg.HasMinMax, agg.Min, agg.Max = true, cs.Min, cs.Max
				continue
			}
			if !agg.HasMinMax {
				continue
			}
			if compareValues(cs.Min, agg.Min) == -1 {
				agg.Min = cs.Min
			}
			if compareValues(cs.Max, agg.Max) == 1 {
				agg.Max = cs.Max
			}
		}
	}
	return st, nil
}

// Splits implements Table: one split per row group that can hold rows matching req.Filter.
func (t *ParquetTable) Splits(_ context.Context, req ScanRequest) ([]Split, error) {
	var out []Split
	for _, g := range t.groups {
		if !groupMayMatch(g, req.Filter) {
			continue
		}
		out = append(out, &parquetSplit{t: t, g: g, cols: req.Columns})
	}
	return out, nil
}

func groupMayMatch(g rowGroupMeta, filter []Predicate) bool {
	for _, p := range filter {
		if p.Column < 0 || p.Column >= len(g.stats) {
			continue
		}
		cs := g.stats[p.Column]
		if cs.HasMinMax && !p.MayMatch(cs.Min, cs.Max) {
			return false
		}
		if !cs.HasMinMax && cs.Nulls >= 0 && cs.Nulls == g.rows && g.rows > 0 {
			return false // all NULL: no predicate holds
		}
	}
	return true
}

type parquetSplit struct {
	t    *ParquetTable
	g    rowGroupMeta
	cols []int
}

func (s *parquetSplit) Name() string {
	return fmt.Sprintf("%s#rg%d", filepath.Base(s.t.files[s.g.file]), s.g.index)
}
func (s *parquetSplit) Rows() int64 { return s.g.rows }

func (s *parquetSplit) Open(ctx context.Context, mem memory.Allocator) (BatchReader, error) {
	r, _, err := s.OpenWhere(ctx, mem, nil, nil)
	return r, err
}

// OpenWhere implements whereSplit: it takes the conditions that cannot fail (expr.Safe)
// and read one string or binary column that this row group encodes with a dictionary
// on every page. It evaluates them on the dictionary's values (once per dictionary,
// not once per row) and selects rows by their codes, expanding only the kept rows'
// strings.
func (s *parquetSplit) OpenWhere(ctx context.Context, mem memory.Allocator, ectx *expr.Context, conds []expr.Expr) (BatchReader, []expr.Expr, error) {
	path := s.t.files[s.g.file]
	pf, err := file.OpenParquetFile(path, false)
	if err != nil {
		return nil, nil, fmt.Errorf("plan: open parquet %s: %w", path, err)
	}
	props := pqarrow.ArrowReadProperties{BatchSize: s.t.BatchRows}
	// String and binary columns are read as dictionaries where the file encodes them so
	// (dense again in Next): decoding through a dictionary and one gather is far cheaper
	// than pqarrow's value-by-value builder. Not where the writer fell back to plain
	// pages (high-cardinality columns): pqarrow would hash every value into a
	// dictionary.
	var dense []bool
	rg := pf.MetaData().RowGroup(s.g.index)
	for i, c := range s.cols {
		switch s.t.schema.Field(c).Type.ID() {
		case arrow.STRING, arrow.BINARY:
			leaf := pf.MetaData().Schema.ColumnIndexByName(s.t.schema.Field(c).Name)
			if cc, err := rg.ColumnChunk(leaf); err != nil || !dictEncoded(cc) {
				continue
			}
			if dense == nil {
				dense = make([]bool, len(s.cols))
			}
			dense[i] = true
			props.SetReadDict(leaf, true)
		}
	}
	fr, err := pqarrow.NewFileReader(pf, props, mem)
	if err != nil {
		pf.Close()
		return nil, nil, fmt.Errorf("plan: parquet %s: %w", path, err)
	}
	leaves := make([]int, len(s.cols))
	for i, c := range s.cols {
		leaves[i] = fr.Manifest.Fields[c].ColIndex
	}
	if len(s.cols) == 0 {
		// No columns wanted (count(*)): produce empty-schema batches of the right length.
		return &countReader{rows: s.g.rows, batch: s.t.BatchRows, closer: pf}, conds, nil
	}
	rr, err := fr.GetRecordReader(ctx, leaves, []int{s.g.index})
	if err != nil {
		pf.Close()
		return nil, nil, fmt.Errorf("plan: parquet %s row group %d: %w", path, s.g.index, err)
	}
	out := make([]arrow.Field, len(s.cols))
	for i, c := range s.cols {
		out[i] = s.t.schema.Field(c)
	}
	r := &parquetReader{rr: rr, f: pf, path: path, dense: dense, schema: arrow.NewSchema(out, nil), mem: mem, ectx: ectx}
	var rest, rows []expr.Expr
	for _, c := range conds {
		if dc := newDictCond(c, dense, out); dc != nil {
			r.conds = append(r.conds, dc)
			continue
		}
		if dense != nil && readsAsIs(c, dense) {
			rows = append(rows, c)
			continue
		}
		rest = append(rest, c)
	}
	if err := r.setRowConds(rows, out); err != nil {
		r.Close()
		return nil, nil, err
	}
	return r, rest, nil
}

// readsAsIs reports whether c cannot fail and reads only columns the reader returns
// as they are read (not through a dictionary).
func readsAsIs(c expr.Expr, dense []bool) bool {
	if !expr.Safe(c) {
		return false
	}
	for _, col := range expr.Columns(c) {
		if dense[col] {
			return false
		}
	}
	return true
}

// setRowConds makes conds (see readsAsIs) the reader's row conditions: evaluated on
// the columns they read, as read, before the batch is gathered or its dictionaries
// expanded, so that both happen once, for the rows every condition keeps.
func (r *parquetReader) setRowConds(conds []expr.Expr, fields []arrow.Field) error {
	if len(conds) == 0 {
		return nil
	}
	at := map[int]int{} // a column of the batch -> its place in the narrow batch
	var nf []arrow.Field
	for _, c := range conds {
		for _, col := range expr.Columns(c) {
			if _, ok := at[col]; !ok {
				at[col] = len(r.need)
				r.need = append(r.need, col)
				nf = append(nf, fields[col])
			}
		}
	}
	for _, c := range conds {
		e, err := expr.Transform(c, func(x expr.Expr) (expr.Expr, error) {
			if cr, ok := x.(*expr.Column); ok {
				return &expr.Column{Index: at[cr.Index], Name: cr.Name, T: cr.T}, nil
			}
			return x, nil
		})
		if err != nil {
			return err
		}
		r.rowConds = append(r.rowConds, e)
	}
	r.narrow = arrow.NewSchema(nf, nil)
	if r.ectx == nil {
		r.ectx = &expr.Context{Alloc: r.mem}
	}
	return nil
}

// dictEncoded reports whether every data page of the column chunk is dictionary
// encoded (from the page encoding statistics; without them, whether it has a
// dictionary page at all).
func dictEncoded(cc *metadata.ColumnChunkMetaData) bool {
	if !cc.HasDictionaryPage() {
		return false
	}
	for _, st := range cc.EncodingStats() {
		// Parquet's page types (its format package is internal to arrow-go): 0
		// DATA_PAGE, 1 INDEX_PAGE, 2 DICTIONARY_PAGE, 3 DATA_PAGE_V2.
		if pt := int(st.PageType); pt != 0 && pt != 3 {
			continue
		}
		if st.Encoding != parquet.Encodings.RLEDict && st.Encoding != parquet.Encodings.PlainDict {
			return false
		}
	}
	return true
}

type parquetReader struct {
	rr     pqarrow.RecordReader
	f      *file.Reader
	path   string
	dense  []bool        // per column: read as a dictionary, returned dense
	schema *arrow.Schema // of the records returned
	mem    memory.Allocator
	ectx   *expr.Context
	conds  []*dictCond // conditions evaluated on dictionaries; only rows passing all are returned
	// rowConds are conditions on the columns need, as read (a batch of schema narrow),
	// evaluated after conds on the rows they keep (expr.Select).
	rowConds []expr.Expr
	need     []int
	narrow   *arrow.Schema
	rows     []int32 // scratch: the rows kept
}

// dictCond is a condition that cannot fail, on one column read through its
// dictionary, evaluated on the dictionary's values.
type dictCond struct {
	col  int       // the column of the batch
	e    expr.Expr // the condition, reading column 0: the dictionary's values
	dict arrow.Array
	keep []bool // per code of dict: e is TRUE
	// keepNull: e is TRUE of NULL
	keepNull bool
}

// newDictCond returns c as a dictCond if it is safe and reads only one column that is
// read through its dictionary (dense[col]), else nil.
func newDictCond(c expr.Expr, dense []bool, fields []arrow.Field) *dictCond {
	cols := expr.Columns(c)
	if dense == nil || len(cols) != 1 || !dense[cols[0]] || !expr.Safe(c) {
		return nil
	}
	col := cols[0]
	e, err := expr.Transform(c, func(x expr.Expr) (expr.Expr, error) {
		if cr, ok := x.(*expr.Column); ok {
			return &expr.Column{Index: 0, Name: cr.Name, T: cr.T}, nil
		}
		return x, nil
	})
	if err != nil || !arrow.TypeEqual(e.Type(), c.Type()) {
		return nil
	}
	return &dictCond{col: col, e: e}
}

// codes returns, per code of the dictionary of d (of type t), whether the condition
// is TRUE of that value, and whether it is TRUE of NULL (IS NULL, COALESCE). It is
// evaluated again only when the dictionary differs from the last one (pqarrow hands
// each batch a copy of the row group's dictionary).
func (dc *dictCond) codes(ectx *expr.Context, mem memory.Allocator, d *array.Dictionary, t arrow.DataType) ([]bool, bool, error) {
	dict := d.Dictionary()
	if dc.dict != nil && sameStrings(dc.dict, dict) {
		return dc.keep, dc.keepNull, nil
	}
	if ectx == nil {
		ectx = &expr.Context{Alloc: mem}
	}
	vd := array.NewData(t, dict.Len(), dict.Data().Buffers(), nil, dict.NullN(), dict.Data().Offset())
	vals := array.MakeFromData(vd)
	vd.Release()
	keep, err := dc.eval(ectx, vals, dc.keep[:0])
	vals.Release()
	if err != nil {
		return nil, false, err
	}
	null := array.MakeArrayOfNull(mem, t, 1)
	kn, err := dc.eval(ectx, null, nil)
	null.Release()
	if err != nil {
		return nil, false, err
	}
	if dc.dict != nil {
		dc.dict.Release()
	}
	dict.Retain()
	dc.dict, dc.keep, dc.keepNull = dict, keep, kn[0]
	return keep, dc.keepNull, nil
}

// eval appends to keep, per value of vals, whether the condition is TRUE of it.
func (dc *dictCond) eval(ectx *expr.Context, vals arrow.Array, keep []bool) ([]bool, error) {
	rec := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "v", Type: vals.DataType(), Nullable: true}}, nil), []arrow.Array{vals}, int64(vals.Len()))
	defer rec.Release()
	res, err := dc.e.Eval(ectx, rec)
	if err != nil {
		return nil, err
	}
	defer res.Release()
	if b, ok := res.(*array.Boolean); ok {
		for i := range b.Len() {
			keep = append(keep, b.IsValid(i) && b.Value(i))
		}
		return keep, nil
	}
	return append(keep, make([]bool, vals.Len())...), nil // untyped NULL: never TRUE
}

// sameStrings reports whether two string or binary arrays hold the same values: a
// comparison of their offsets and bytes where it can (a dictionary of many values is
// compared once per batch).
func sameStrings(a, b arrow.Array) bool {
	if a == b {
		return true
	}
	if a.Len() != b.Len() || a.NullN() != b.NullN() {
		return false
	}
	da, db := a.Data(), b.Data()
	if a.NullN() > 0 || da.Offset() != 0 || db.Offset() != 0 || len(da.Buffers()) != 3 || len(db.Buffers()) != 3 {
		return array.Equal(a, b)
	}
	n := a.Len()
	oa, ob := arrow.GetOffsets[int32](da, 1), arrow.GetOffsets[int32](db, 1)
	if n == 0 || !slices.Equal(oa[:n+1], ob[:n+1]) {
		return n == 0
	}
	return bytes.Equal(bufBytes(da.Buffers()[2])[:oa[n]], bufBytes(db.Buffers()[2])[:ob[n]])
}

func bufBytes(b *memory.Buffer) []byte {
	if b == nil {
		return nil
	}
	return b.Bytes()
}

func (r *parquetReader) release() {
	for _, dc := range r.conds {
		if dc.dict != nil {
			dc.dict.Release()
			dc.dict = nil
		}
	}
}

func (r *parquetReader) Next(ctx context.Context) (arrow.RecordBatch, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		rec, err := r.rr.Read()
		if err == io.EOF || (err == nil && rec == nil) {
			return nil, io.EOF
		}
		if err != nil {
			return nil, fmt.Errorf("plan: read parquet %s: %w", r.path, err)
		}
		if r.dense == nil {
			rec.Retain()
			return rec, nil
		}
		rows, all, err := r.selectRows(rec)
		if err != nil {
			return nil, err
		}
		if !all && len(rows) == 0 {
			continue
		}
		n := rec.NumRows()
		if !all {
			n = int64(len(rows))
		}
		cols := make([]arrow.Array, rec.NumCols())
		for i, c := range rec.Columns() {
			if d, ok := c.(*array.Dictionary); ok && r.dense[i] {
				cols[i] = denseOf(r.mem, d, r.schema.Field(i).Type, rows)
				continue
			}
			if !all {
				cols[i] = shuffle.Take(r.mem, c, rows) // serves every type change.Supported accepts
				continue
			}
			c.Retain()
			cols[i] = c
		}
		out := array.NewRecordBatch(r.schema, cols, n)
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
		return out, nil
	}
}

// selectRows returns the rows of rec that pass every dictionary condition (NULL
// passes none), or all = true (rows nil) when every row does.
func (r *parquetReader) selectRows(rec arrow.RecordBatch) (rows []int32, all bool, err error) {
	n := int(rec.NumRows())
	if len(r.conds) == 0 && len(r.rowConds) == 0 {
		return nil, true, nil
	}
	rows = r.rows[:0]
	first := true
	for _, dc := range r.conds {
		d, ok := rec.Column(dc.col).(*array.Dictionary)
		if !ok {
			return nil, false, fmt.Errorf("plan: read parquet %s: column %d is not dictionary encoded", r.path, dc.col)
		}
		keep, keepNull, err := dc.codes(r.ectx, r.mem, d, r.schema.Field(dc.col).Type)
		if err != nil {
			return nil, false, err
		}
		rows = keepCodes(d, keep, keepNull, rows, first)
		first = false
		if len(rows) == 0 {
			break
		}
	}
	r.rows = rows
	if len(r.rowConds) > 0 && (len(r.conds) == 0 || len(rows) > 0) {
		var in []int32
		if len(r.conds) > 0 {
			in = rows
		}
		cols := make([]arrow.Array, len(r.need))
		for i, c := range r.need {
			cols[i] = rec.Column(c)
		}
		narrow := array.NewRecordBatch(r.narrow, cols, int64(n))
		rows, all, err = expr.Select(r.ectx, narrow, r.rowConds, in, r.rows)
		narrow.Release()
		if err != nil {
			return nil, false, err
		}
		if all {
			return nil, true, nil
		}
		r.rows = rows
	}
	if len(rows) == n {
		return nil, true, nil
	}
	return rows, false, nil
}

// keepCodes narrows rows (every row of d when all) to those whose code keep marks,
// in place; NULLs are kept when keepNull.
func keepCodes(d *array.Dictionary, keep []bool, keepNull bool, rows []int32, all bool) []int32 {
	ids := d.Indices().Data()
	switch ids.DataType().ID() {
	case arrow.INT32:
		return keepFrom(d, arrow.GetValues[int32](ids, 1), keep, keepNull, rows, all)
	case arrow.INT64:
		return keepFrom(d, arrow.GetValues[int64](ids, 1), keep, keepNull, rows, all)
	case arrow.INT16:
		return keepFrom(d, arrow.GetValues[int16](ids, 1), keep, keepNull, rows, all)
	case arrow.INT8:
		return keepFrom(d, arrow.GetValues[int8](ids, 1), keep, keepNull, rows, all)
	case arrow.UINT32:
		return keepFrom(d, arrow.GetValues[uint32](ids, 1), keep, keepNull, rows, all)
	case arrow.UINT16:
		return keepFrom(d, arrow.GetValues[uint16](ids, 1), keep, keepNull, rows, all)
	case arrow.UINT8:
		return keepFrom(d, arrow.GetValues[uint8](ids, 1), keep, keepNull, rows, all)
	}
	return keepFrom(d, arrow.GetValues[uint64](ids, 1), keep, keepNull, rows, all)
}

func keepFrom[T int8 | int16 | int32 | int64 | uint8 | uint16 | uint32 | uint64](d *array.Dictionary, idx []T, keep []bool, keepNull bool, rows []int32, all bool) []int32 {
	var valid []byte
	off := d.Data().Offset()
	if d.NullN() > 0 {
		valid = d.NullBitmapBytes()
	}
	if all {
		rows = rows[:0]
		if valid == nil {
			for i, j := range idx {
				if keep[j] {
					rows = append(rows, int32(i))
				}
			}
			return rows
		}
		for i, j := range idx {
			if bitutil.BitIsSet(valid, off+i) {
				if keep[j] {
					rows = append(rows, int32(i))
				}
			} else if keepNull {
				rows = append(rows, int32(i))
			}
		}
		return rows
	}
	out := rows[:0]
	for _, i := range rows {
		if valid == nil || bitutil.BitIsSet(valid, off+int(i)) {
			if keep[idx[i]] {
				out = append(out, i)
			}
		} else if keepNull {
			out = append(out, i)
		}
	}
	return out
}

// denseOf returns the string or binary column d, dictionary-encoded, as a plain array
// of type t: one pass to size the data, one to copy it. With rows, only those rows.
func denseOf(mem memory.Allocator, d *array.Dictionary, t arrow.DataType, rows []int32) arrow.Array {
	ids := d.Indices().Data()
	switch ids.DataType().ID() {
	case arrow.INT32:
		return denseFrom(mem, d, t, arrow.GetValues[int32](ids, 1), rows)
	case arrow.INT64:
		return denseFrom(mem, d, t, arrow.GetValues[int64](ids, 1), rows)
	case arrow.INT16:
		return denseFrom(mem, d, t, arrow.GetValues[int16](ids, 1), rows)
	case arrow.INT8:
		return denseFrom(mem, d, t, arrow.GetValues[int8](ids, 1), rows)
	case arrow.UINT32:
		return denseFrom(mem, d, t, arrow.GetValues[uint32](ids, 1), rows)
	case arrow.UINT16:
		return denseFrom(mem, d, t, arrow.GetValues[uint16](ids, 1), rows)
	case arrow.UINT8:
		return denseFrom(mem, d, t, arrow.GetValues[uint8](ids, 1), rows)
	}
	return denseFrom(mem, d, t, arrow.GetValues[uint64](ids, 1), rows)
}

func denseFrom[T int8 | int16 | int32 | int64 | uint8 | uint16 | uint32 | uint64](mem memory.Allocator, d *array.Dictionary, t arrow.DataType, idx []T, rows []int32) arrow.Array {
	dict := d.Dictionary().Data()
	doffs := arrow.GetOffsets[int32](dict, 1)
	var dbytes []byte
	if b := dict.Buffers()[2]; b != nil {
		dbytes = b.Bytes()
	}
	n := d.Len()
	if rows != nil {
		n = len(rows)
	}
	var validity *memory.Buffer
	var valid []byte
	nulls := 0
	if d.NullN() > 0 {
		validity = memory.NewResizableBuffer(mem)
		validity.Resize(int(bitutil.BytesForBits(int64(n))))
		valid = validity.Bytes()
		if rows == nil {
			bitutil.CopyBitmap(d.NullBitmapBytes(), d.Data().Offset(), n, valid, 0)
			nulls = d.NullN()
		} else {
			src, off := d.NullBitmapBytes(), d.Data().Offset()
			for k, i := range rows {
				if bitutil.BitIsSet(src, off+int(i)) {
					bitutil.SetBit(valid, k)
				} else {
					bitutil.ClearBit(valid, k)
					nulls++
				}
			}
		}
	}
	offBuf := memory.NewResizableBuffer(mem)
	offBuf.Resize(4 * (n + 1))
	offs := arrow.Int32Traits.CastFromBytes(offBuf.Bytes())
	dataBuf := memory.NewResizableBuffer(mem)
	if w := sameWidth(doffs, dict.Len(), n); w >= 0 && valid == nil {
		// Every value has w bytes (flags, codes): no sizing pass, offsets k*w.
		dataBuf.Resize(w * n)
		data := dataBuf.Bytes()
		for k := range n + 1 {
			offs[k] = int32(k * w)
		}
		switch {
		case w == 1 && rows == nil:
			for k, j := range idx[:n] {
				data[k] = dbytes[doffs[j]]
			}
		case w == 1:
			for k, i := range rows {
				data[k] = dbytes[doffs[idx[i]]]
			}
		case rows == nil:
			for k, j := range idx[:n] {
				copy(data[k*w:(k+1)*w], dbytes[doffs[j]:])
			}
		default:
			for k, i := range rows {
				copy(data[k*w:(k+1)*w], dbytes[doffs[idx[i]]:])
			}
		}
	} else {
		if rows != nil {
			sel := make([]T, n)
			for k, i := range rows {
				sel[k] = idx[i]
			}
			idx = sel
		}
		total := 0
		for i, j := range idx {
			if valid == nil || bitutil.BitIsSet(valid, i) {
				total += int(doffs[j+1] - doffs[j])
			}
		}
		dataBuf.Resize(total)
		data := dataBuf.Bytes()
		pos := int32(0)
		offs[0] = 0
		for i, j := range idx {
			if valid == nil || bitutil.BitIsSet(valid, i) {
				pos += int32(copy(data[pos:], dbytes[doffs[j]:doffs[j+1]]))
			}
			offs[i+1] = pos
		}
	}
	if nulls == 0 && validity != nil {
		validity.Release()
		validity = nil
	}
	ad := array.NewData(t, n, []*memory.Buffer{validity, offBuf, dataBuf}, nil, nulls, 0)
	for _, b := range []*memory.Buffer{validity, offBuf, dataBuf} {
		if b != nil {
			b.Release()
		}
	}
	out := array.MakeFromData(ad)
	ad.Release()
	return out
}

// sameWidth returns the length of every one of a dictionary's dn values (offsets
// doffs) when they all have one, else -1; it looks only at dictionaries of at most
// max(n/4, 16) values, so that checking never costs much beside expanding n rows.
func sameWidth(doffs []int32, dn, n int) int {
	if dn == 0 || dn > max(n/4, 16) {
		return -1
	}
	w := doffs[1] - doffs[0]
	for k := 1; k < dn; k++ {
		if doffs[k+1]-doffs[k] != w {
			return -1
		}
	}
	return int(w)
}

func (r *parquetReader) Close() error {
	r.release()
	r.rr.Release()
	return r.f.Close()
}

// countReader yields batches with no columns, for scans that need only row counts.
type countReader struct {
	rows, batch int64
	closer      io.Closer
}

func (r *countReader) Next(ctx context.Context) (arrow.RecordBatch, error) {
	if r.rows <= 0 {
		return nil, io.EOF
	}
	n := min(r.rows, r.batch)
	r.rows -= n
	return newRecord(arrow.NewSchema(nil, nil), nil, n), nil
}

func (r *countReader) Close() error {
	if r.closer != nil {
		return r.closer.Close()
	}
	return nil
}
