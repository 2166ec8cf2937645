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
	"runtime"
	"slices"
	"sort"
	"strings"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/apache/arrow-go/v18/parquet/schema"

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
	// meta holds each file's footer, parsed once here rather than once per split.
	meta []*metadata.FileMetaData
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
func OpenParquet(path string) (_ *ParquetTable, err error) {
	defer parquetGuard(path, &err)
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
		t.meta = append(t.meta, md)
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

// OpenWhere implements whereSplit: it takes the conditions that cannot fail
// (expr.Safe). Those that read one column this row group encodes with a dictionary on
// every page (a string or binary column, or a required fixed-width column no other
// condition reads) are evaluated on the dictionary's values (once per dictionary, not
// once per row), selecting rows by their codes; the others are evaluated on the
// columns they read, as read (expr.Select). Only the kept rows are expanded, gathered,
// and, for fixed-width columns no condition reads, decoded at all.
func (s *parquetSplit) OpenWhere(ctx context.Context, mem memory.Allocator, ectx *expr.Context, conds []expr.Expr) (_ BatchReader, _ []expr.Expr, err error) {
	path := s.t.files[s.g.file]
	defer parquetGuard(path, &err)
	// Column chunks are read through a small buffer (not each into a heap slice of its
	// own) and the readers' page buffers come from the job's allocator, which
	// recycles them from split to split.
	rp := parquet.NewReaderProperties(mem)
	rp.BufferedStreamEnabled = true
	pf, err := file.OpenParquetFile(path, false, file.WithReadProps(rp), file.WithMetadata(s.t.meta[s.g.file]))
	if err != nil {
		return nil, nil, fmt.Errorf("plan: open parquet %s: %w", path, err)
	}
	props := pqarrow.ArrowReadProperties{BatchSize: s.t.BatchRows}
	// String and binary columns are read as dictionaries where the file encodes them so
	// (dense again in Next): decoding through a dictionary and one gather is far cheaper
	// than pqarrow's value-by-value builder. Not where the writer fell back to plain
	// pages (high-cardinality columns): pqarrow would hash every value into a
	// dictionary.
	// So are required fixed-width columns that only conditions on them alone read
	// (dateCol >= x, price BETWEEN a AND b): those conditions are then evaluated once
	// per dictionary value, and the rows expand only where kept.
	var dense []bool
	rg := pf.MetaData().RowGroup(s.g.index)
	alone := condsAlone(conds, len(s.cols))
	for i, c := range s.cols {
		leaf := pf.MetaData().Schema.ColumnIndexByName(s.t.schema.Field(c).Name)
		switch t := s.t.schema.Field(c).Type; t.ID() {
		case arrow.STRING, arrow.BINARY:
		default:
			if leaf < 0 || !alone[i] {
				continue
			}
			if desc := pf.MetaData().Schema.Column(leaf); desc.MaxDefinitionLevel() != 0 || !fixedReadable(desc, t) {
				continue
			}
		}
		if cc, err := rg.ColumnChunk(leaf); err != nil || !dictEncoded(cc) {
			continue
		}
		if dense == nil {
			dense = make([]bool, len(s.cols))
		}
		dense[i] = true
		props.SetReadDict(leaf, true)
	}
	fr, err := pqarrow.NewFileReader(pf, props, mem)
	if err != nil {
		pf.Close()
		return nil, nil, fmt.Errorf("plan: parquet %s: %w", path, err)
	}
	if len(s.cols) == 0 {
		// No columns wanted (count(*)): produce empty-schema batches of the right length.
		return &countReader{rows: s.g.rows, batch: s.t.BatchRows, closer: pf}, conds, nil
	}
	out := make([]arrow.Field, len(s.cols))
	for i, c := range s.cols {
		out[i] = s.t.schema.Field(c)
	}
	r := &parquetReader{f: pf, path: path, dense: dense, schema: arrow.NewSchema(out, nil), mem: mem, ectx: ectx, left: s.g.rows, batch: s.t.BatchRows}
	// Dictionary columns (dense) and fixed-width columns are read from their pages
	// (dictCol, pageCol) or parquet's column readers (fixedCol) into buffers of the
	// job's allocator; the rest through pqarrow.
	var leaves []int
	rgr := pf.RowGroup(s.g.index)
	for i, c := range s.cols {
		mf := fr.Manifest.Fields[c]
		if len(mf.Children) == 0 && mf.ColIndex >= 0 {
			desc := pf.MetaData().Schema.Column(mf.ColIndex)
			switch {
			case dense != nil && dense[i] && desc.MaxRepetitionLevel() == 0 && desc.MaxDefinitionLevel() <= 1:
				pr, err := rgr.GetColumnPageReader(mf.ColIndex)
				if err != nil {
					r.Close()
					return nil, nil, fmt.Errorf("plan: parquet %s row group %d: %w", path, s.g.index, err)
				}
				r.direct = append(r.direct, &dictCol{at: i, t: out[i].Type, pr: pr, maxDef: desc.MaxDefinitionLevel(), phys: desc.PhysicalType()})
				continue
			case fixedReadable(desc, out[i].Type) && plainOrDict(rg, mf.ColIndex):
				pr, err := rgr.GetColumnPageReader(mf.ColIndex)
				if err != nil {
					r.Close()
					return nil, nil, fmt.Errorf("plan: parquet %s row group %d: %w", path, s.g.index, err)
				}
				r.direct = append(r.direct, newPageCol(i, out[i].Type, desc, pr))
				continue
			case fixedReadable(desc, out[i].Type):
				cr, err := rgr.Column(mf.ColIndex)
				if err != nil {
					r.Close()
					return nil, nil, fmt.Errorf("plan: parquet %s row group %d: %w", path, s.g.index, err)
				}
				r.direct = append(r.direct, &fixedCol{at: i, t: out[i].Type, cr: cr, maxDef: desc.MaxDefinitionLevel()})
				continue
			}
		}
		r.viaArrow = append(r.viaArrow, i)
		leaves = append(leaves, mf.ColIndex)
	}
	if len(leaves) > 0 {
		rr, err := fr.GetRecordReader(ctx, leaves, []int{s.g.index})
		if err != nil {
			r.Close()
			return nil, nil, fmt.Errorf("plan: parquet %s row group %d: %w", path, s.g.index, err)
		}
		r.rr = rr
	}
	var rest, rows []expr.Expr
	for _, c := range conds {
		if dc := newDictCond(c, dense, out); dc != nil {
			r.conds = append(r.conds, dc)
			continue
		}
		if readsAsIs(c, dense) {
			rows = append(rows, c)
			continue
		}
		rest = append(rest, c)
	}
	if err := r.setRowConds(rows, out); err != nil {
		r.Close()
		return nil, nil, err
	}
	if len(r.conds) > 0 || len(r.rowConds) > 0 {
		read := make([]bool, len(out))
		for _, dc := range r.conds {
			read[dc.col] = true
		}
		for _, c := range r.need {
			read[c] = true
		}
		early := r.direct[:0]
		for _, d := range r.direct {
			if _, ok := d.(*dictCol); !ok && !read[d.column()] {
				r.late = append(r.late, d)
				continue
			}
			early = append(early, d)
		}
		r.direct = early
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
		if dense != nil && dense[col] {
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
	rr       pqarrow.RecordReader // the columns viaArrow; nil if there are none
	viaArrow []int                // the columns (of schema) rr reads, in its order
	direct   []directCol          // the other columns but late
	// late are the fixed-width columns no condition reads, when there are conditions:
	// read after the conditions have selected rows, for those rows only
	late   []directCol
	left   int64 // rows of the row group not yet read
	batch  int64 // rows per batch
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
	if a == b || a.Data() == b.Data() {
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

func (r *parquetReader) Next(ctx context.Context) (_ arrow.RecordBatch, err error) {
	defer parquetGuard(r.path, &err)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		cols, n, err := r.read()
		if err != nil {
			return nil, err
		}
		if r.dense == nil && len(r.conds) == 0 && len(r.rowConds) == 0 {
			return r.record(cols, n), nil
		}
		rows, all, err := r.selectRows(cols, int(n))
		if err == nil && !all && len(rows) == 0 {
			rows = []int32{} // none kept (not nil: all): the late columns still move on
		}
		for _, f := range r.late {
			if err != nil {
				break
			}
			var sel []int32
			if !all {
				sel = rows
			}
			var a arrow.Array
			if a, err = f.read(r.mem, int(n), sel); err != nil {
				err = fmt.Errorf("plan: read parquet %s column %s: %w", r.path, r.schema.Field(f.column()).Name, err)
			}
			cols[f.column()] = a
		}
		if err != nil || (!all && len(rows) == 0) {
			releaseAll(cols)
			if err != nil {
				return nil, err
			}
			continue
		}
		if !all {
			n = int64(len(rows))
		}
		out := make([]arrow.Array, len(cols))
		for i, c := range cols {
			if d, ok := c.(*array.Dictionary); ok && r.dense[i] {
				out[i] = denseOf(r.mem, d, r.schema.Field(i).Type, rows)
				continue
			}
			if !all && !r.isLate(i) {
				out[i] = shuffle.Take(r.mem, c, rows) // serves every type change.Supported accepts
				continue
			}
			c.Retain()
			out[i] = c
		}
		releaseAll(cols)
		return r.record(out, n), nil
	}
}

func (r *parquetReader) isLate(col int) bool {
	for _, f := range r.late {
		if f.column() == col {
			return true
		}
	}
	return false
}

// record makes a batch of schema of cols, which it takes over.
func (r *parquetReader) record(cols []arrow.Array, n int64) arrow.RecordBatch {
	out := array.NewRecordBatch(r.schema, cols, n)
	releaseAll(cols)
	return out
}

func releaseAll(cols []arrow.Array) {
	for _, c := range cols {
		if c != nil {
			c.Release()
		}
	}
}

// read returns the next batch of every column but the late ones (nil), as read, and
// its rows (io.EOF after the last).
func (r *parquetReader) read() ([]arrow.Array, int64, error) {
	n := min(r.batch, r.left)
	cols := make([]arrow.Array, r.schema.NumFields())
	if r.rr != nil {
		rec, err := r.rr.Read()
		if err == io.EOF || (err == nil && rec == nil) {
			return nil, 0, io.EOF
		}
		if err != nil {
			return nil, 0, fmt.Errorf("plan: read parquet %s: %w", r.path, err)
		}
		n = rec.NumRows()
		for k, i := range r.viaArrow {
			cols[i] = rec.Column(k)
			cols[i].Retain()
		}
	}
	if n <= 0 {
		return nil, 0, io.EOF
	}
	r.left -= n
	for _, f := range r.direct {
		a, err := f.read(r.mem, int(n), nil)
		if err != nil {
			releaseAll(cols)
			return nil, 0, fmt.Errorf("plan: read parquet %s column %s: %w", r.path, r.schema.Field(f.column()).Name, err)
		}
		cols[f.column()] = a
	}
	return cols, n, nil
}

// fixedReadable reports whether a fixedCol reads the Parquet column c as Arrow type t:
// a top-level column, not repeated, of a physical type that is t's values as they
// are (INT32 as int32 or date32, INT64 as int64, FLOAT, DOUBLE), or a DECIMAL stored
// as INT32 or INT64, which it widens to decimal128.
func fixedReadable(c *schema.Column, t arrow.DataType) bool {
	if c.MaxRepetitionLevel() != 0 || c.MaxDefinitionLevel() > 1 {
		return false
	}
	switch c.PhysicalType() {
	case parquet.Types.Int32:
		return t.ID() == arrow.INT32 || t.ID() == arrow.DATE32 || t.ID() == arrow.DECIMAL128
	case parquet.Types.Int64:
		return t.ID() == arrow.INT64 || t.ID() == arrow.DECIMAL128
	case parquet.Types.Float:
		return t.ID() == arrow.FLOAT32
	case parquet.Types.Double:
		return t.ID() == arrow.FLOAT64
	}
	return false
}

// directCol reads one column of a row group into batches: a fixedCol or a dictCol.
type directCol interface {
	column() int // of the batch
	// read returns the column's next n values; with rows, only those of them.
	read(mem memory.Allocator, n int, rows []int32) (arrow.Array, error)
	Close() error
}

// fixedCol reads one column of a row group that fixedReadable accepts.
type fixedCol struct {
	at     int // the column of the batch
	t      arrow.DataType
	cr     file.ColumnChunkReader
	maxDef int16
	defs   []int16 // scratch: definition levels (nullable columns)
	// scratch holds unscaled decimals before widening: from the job's allocator, so
	// that the splits one after another reuse one
	scratch *memory.Buffer
}

func (f *fixedCol) column() int { return f.at }
func (f *fixedCol) Close() error {
	if f.scratch != nil {
		f.scratch.Release()
		f.scratch = nil
	}
	return f.cr.Close()
}

// read reads the column's next n values into a new array (with rows, of those rows
// only): values straight into a buffer of mem, or through a scratch buffer when
// widened (decimals) or selected.
func (f *fixedCol) read(mem memory.Allocator, n int, rows []int32) (arrow.Array, error) {
	var defs []int16
	if f.maxDef > 0 {
		f.defs = slices.Grow(f.defs[:0], n)[:n]
		defs = f.defs
	}
	m := n
	if rows != nil {
		m = len(rows)
	}
	dec := f.t.ID() == arrow.DECIMAL128
	buf := memory.NewResizableBuffer(mem)
	buf.Resize(m * f.t.(arrow.FixedWidthDataType).BitWidth() / 8)
	dst := buf.Bytes()
	if dec || rows != nil {
		if f.scratch == nil {
			f.scratch = memory.NewResizableBuffer(mem)
		}
		f.scratch.ResizeNoShrink(8 * n)
		dst = f.scratch.Bytes()
	}
	var (
		total int64
		vals  int
		err   error
	)
	switch cr := f.cr.(type) {
	case *file.Int32ColumnChunkReader:
		v := arrow.Int32Traits.CastFromBytes(dst)[:n]
		if total, vals, err = cr.ReadBatch(int64(n), v, defs, nil); err == nil && total == int64(n) {
			spread(v, defs, f.maxDef, n, vals)
			if dec {
				widen(v, arrow.Decimal128Traits.CastFromBytes(buf.Bytes()), rows)
			} else if rows != nil {
				gather(v, arrow.Int32Traits.CastFromBytes(buf.Bytes()), rows)
			}
		}
	case *file.Int64ColumnChunkReader:
		v := arrow.Int64Traits.CastFromBytes(dst)[:n]
		if total, vals, err = cr.ReadBatch(int64(n), v, defs, nil); err == nil && total == int64(n) {
			spread(v, defs, f.maxDef, n, vals)
			if dec {
				widen(v, arrow.Decimal128Traits.CastFromBytes(buf.Bytes()), rows)
			} else if rows != nil {
				gather(v, arrow.Int64Traits.CastFromBytes(buf.Bytes()), rows)
			}
		}
	case *file.Float32ColumnChunkReader:
		v := arrow.Float32Traits.CastFromBytes(dst)[:n]
		if total, vals, err = cr.ReadBatch(int64(n), v, defs, nil); err == nil && total == int64(n) {
			spread(v, defs, f.maxDef, n, vals)
			if rows != nil {
				gather(v, arrow.Float32Traits.CastFromBytes(buf.Bytes()), rows)
			}
		}
	case *file.Float64ColumnChunkReader:
		v := arrow.Float64Traits.CastFromBytes(dst)[:n]
		if total, vals, err = cr.ReadBatch(int64(n), v, defs, nil); err == nil && total == int64(n) {
			spread(v, defs, f.maxDef, n, vals)
			if rows != nil {
				gather(v, arrow.Float64Traits.CastFromBytes(buf.Bytes()), rows)
			}
		}
	default:
		err = fmt.Errorf("unexpected column reader %T", f.cr)
	}
	if err == nil && total != int64(n) {
		err = fmt.Errorf("read %d rows, want %d", total, n)
	}
	if err != nil {
		buf.Release()
		return nil, err
	}
	var validity *memory.Buffer
	nulls := 0
	if vals < n {
		validity = memory.NewResizableBuffer(mem)
		validity.Resize(int(bitutil.BytesForBits(int64(m))))
		v := validity.Bytes()
		for k := range m {
			i := k
			if rows != nil {
				i = int(rows[k])
			}
			if defs[i] == f.maxDef {
				bitutil.SetBit(v, k)
			} else {
				nulls++
			}
		}
		if nulls == 0 {
			validity.Release()
			validity = nil
		}
	}
	ad := array.NewData(f.t, m, []*memory.Buffer{validity, buf}, nil, nulls, 0)
	buf.Release()
	if validity != nil {
		validity.Release()
	}
	a := array.MakeFromData(ad)
	ad.Release()
	return a, nil
}

// gather copies src's rows to dst.
func gather[T int32 | int64 | float32 | float64](src, dst []T, rows []int32) {
	dst = dst[:len(rows)]
	for k, i := range rows {
		dst[k] = src[i]
	}
}

// spread moves the vals values read (packed at the front of dst) to the rows whose
// definition level is maxDef, zeroing the NULL rows, when any of the total rows is
// NULL.
func spread[T int32 | int64 | float32 | float64, L int16 | int32](dst []T, defs []L, maxDef L, total, vals int) {
	if vals == total {
		return
	}
	j := vals - 1
	for i := total - 1; i >= 0; i-- {
		if defs[i] == maxDef {
			dst[i] = dst[j]
			j--
		} else {
			dst[i] = 0
		}
	}
}

// widen writes the unscaled decimals of src (with rows, those rows') to dst as
// decimal128.
func widen[T int32 | int64](src []T, dst []decimal128.Num, rows []int32) {
	if rows == nil {
		dst = dst[:len(src)]
		for i, v := range src {
			dst[i] = decimal128.FromI64(int64(v))
		}
		return
	}
	dst = dst[:len(rows)]
	for k, i := range rows {
		dst[k] = decimal128.FromI64(int64(src[i]))
	}
}

// selectRows returns the rows of the batch (of n rows) that pass every condition
// (NULL passes none), or all = true (rows nil) when every row does.
func (r *parquetReader) selectRows(batch []arrow.Array, n int) (rows []int32, all bool, err error) {
	if len(r.conds) == 0 && len(r.rowConds) == 0 {
		return nil, true, nil
	}
	rows = r.rows[:0]
	first := true
	for _, dc := range r.conds {
		d, ok := batch[dc.col].(*array.Dictionary)
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
			cols[i] = batch[c]
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
	if id := t.ID(); id != arrow.STRING && id != arrow.BINARY {
		return denseFixed(mem, d, rows)
	}
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

// denseFixed expands a fixed-width dictionary column as a dictCol reads it (int32
// codes, no NULLs): the dictionary's values of the codes of rows (nil: all).
func denseFixed(mem memory.Allocator, d *array.Dictionary, rows []int32) arrow.Array {
	codes := arrow.GetValues[int32](d.Indices().Data(), 1)
	if rows == nil {
		return shuffle.Take(mem, d.Dictionary(), codes)
	}
	sel := memory.NewResizableBuffer(mem)
	sel.Resize(4 * len(rows))
	pick := arrow.Int32Traits.CastFromBytes(sel.Bytes())[:len(rows)]
	for k, i := range rows {
		pick[k] = codes[i]
	}
	out := shuffle.Take(mem, d.Dictionary(), pick)
	sel.Release()
	return out
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
	if r.rr != nil {
		r.rr.Release()
	}
	for _, f := range r.direct {
		f.Close()
	}
	for _, f := range r.late {
		f.Close()
	}
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

// dictCol reads a flat string or binary column that is dictionary encoded on every
// data page (dictEncoded) as dictionary arrays with int32 codes: the row group's
// dictionary is decoded once and shared by every batch, and each batch's codes are
// decoded from the pages into a buffer of the job's allocator.
type dictCol struct {
	at     int
	t      arrow.DataType // of the values
	phys   parquet.Type   // of the values in the file
	pr     file.PageReader
	maxDef int16
	dict   arrow.Array // the row group's dictionary (nil before its page)
	dt     *arrow.DictionaryType
	codes  rleHybrid // the current data page's codes not yet read
	defs   rleHybrid // its definition levels not yet read (maxDef 1)
	left   int       // its values (with NULLs) not yet read
	lvls   []int32   // scratch: definition levels of a batch
}

func (d *dictCol) column() int { return d.at }

func (d *dictCol) Close() error {
	if d.dict != nil {
		d.dict.Release()
		d.dict = nil
	}
	return d.pr.Close()
}

// read reads every one of the n rows (rows is nil: a dictCol is never late).
func (d *dictCol) read(mem memory.Allocator, n int, _ []int32) (arrow.Array, error) {
	idx := memory.NewResizableBuffer(mem)
	idx.Resize(4 * n)
	codes := arrow.Int32Traits.CastFromBytes(idx.Bytes())
	if d.maxDef > 0 {
		d.lvls = slices.Grow(d.lvls[:0], n)[:n]
	}
	var err error
	for got := 0; got < n && err == nil; {
		if d.left == 0 {
			err = d.nextPage()
			continue
		}
		k := min(n-got, d.left)
		if d.maxDef == 0 {
			err = d.codes.read(codes[got : got+k])
		} else if err = d.defs.read(d.lvls[got : got+k]); err == nil {
			vals := 0
			for _, l := range d.lvls[got : got+k] {
				vals += int(l)
			}
			if err = d.codes.read(codes[got : got+vals]); err == nil {
				spread(codes[got:got+k], d.lvls[got:got+k], 1, k, vals)
			}
		}
		got += k
		d.left -= k
	}
	if err == nil {
		err = checkCodes(codes, d.dict.Len())
	}
	if err != nil {
		idx.Release()
		return nil, err
	}
	var validity *memory.Buffer
	nulls := 0
	if d.maxDef > 0 {
		for _, l := range d.lvls[:n] {
			nulls += 1 - int(l)
		}
	}
	if nulls > 0 {
		validity = memory.NewResizableBuffer(mem)
		validity.Resize(int(bitutil.BytesForBits(int64(n))))
		v := validity.Bytes()
		for i, l := range d.lvls[:n] {
			if l == 1 {
				bitutil.SetBit(v, i)
			}
		}
	}
	ad := array.NewData(arrow.PrimitiveTypes.Int32, n, []*memory.Buffer{validity, idx}, nil, nulls, 0)
	idx.Release()
	if validity != nil {
		validity.Release()
	}
	ids := array.MakeFromData(ad)
	ad.Release()
	out := array.NewDictionaryArray(d.dt, ids, d.dict)
	ids.Release()
	return out, nil
}

// checkCodes reports a code out of the dictionary's range (a corrupt file).
func checkCodes(codes []int32, n int) error {
	var hi uint32
	for _, c := range codes {
		hi = max(hi, uint32(c))
	}
	if len(codes) > 0 && int64(hi) >= int64(n) {
		return fmt.Errorf("dictionary code %d out of range (%d values)", hi, n)
	}
	return nil
}

// nextPage moves to the next data page, decoding the dictionary page on the way.
func (d *dictCol) nextPage() error {
	for d.pr.Next() {
		var data []byte
		switch pg := d.pr.Page().(type) {
		case *file.DictionaryPage:
			if d.dict != nil {
				return fmt.Errorf("a second dictionary page")
			}
			if e := parquet.Encoding(pg.Encoding()); e != parquet.Encodings.Plain && e != parquet.Encodings.PlainDict {
				return fmt.Errorf("dictionary page encoded %s", e)
			}
			var dict arrow.Array
			var err error
			if d.t.ID() == arrow.STRING || d.t.ID() == arrow.BINARY {
				dict, err = plainByteArrays(d.t, pg.Data(), int(pg.NumValues()))
			} else {
				dict, err = plainFixed(d.t, d.phys, pg.Data(), int(pg.NumValues()))
			}
			if err != nil {
				return err
			}
			d.dict = dict
			d.dt = &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: d.t}
			continue
		case *file.DataPageV1:
			data = pg.Data()
			if d.maxDef > 0 {
				if pg.DefinitionLevelEncoding() != parquet.Encodings.RLE {
					return fmt.Errorf("definition levels encoded %s", pg.DefinitionLevelEncoding())
				}
				if len(data) < 4 || int(binary.LittleEndian.Uint32(data)) > len(data)-4 {
					return fmt.Errorf("corrupt definition levels")
				}
				l := int(binary.LittleEndian.Uint32(data))
				d.defs = rleHybrid{data: data[4 : 4+l], bw: 1}
				data = data[4+l:]
			}
		case *file.DataPageV2:
			data = pg.Data()
			rl, dl := int(pg.RepetitionLevelByteLen()), int(pg.DefinitionLevelByteLen())
			if rl < 0 || dl < 0 || rl+dl > len(data) {
				return fmt.Errorf("corrupt levels")
			}
			d.defs = rleHybrid{data: data[rl : rl+dl], bw: 1}
			data = data[rl+dl:]
		default:
			continue
		}
		if d.dict == nil {
			return fmt.Errorf("data page before the dictionary page")
		}
		pg := d.pr.Page()
		if e := parquet.Encoding(pg.Encoding()); e != parquet.Encodings.RLEDict && e != parquet.Encodings.PlainDict {
			return fmt.Errorf("data page encoded %s, not through the dictionary", e)
		}
		if len(data) < 1 || data[0] > 32 {
			return fmt.Errorf("corrupt dictionary codes")
		}
		d.codes = rleHybrid{data: data[1:], bw: int(data[0])}
		d.left = int(pg.NumValues())
		return nil
	}
	if err := d.pr.Err(); err != nil {
		return err
	}
	return fmt.Errorf("the column chunk ended before the row group")
}

// plainByteArrays decodes n PLAIN-encoded byte arrays (each a 4-byte little-endian
// length and the bytes) into an array of type t (string or binary).
func plainByteArrays(t arrow.DataType, data []byte, n int) (arrow.Array, error) {
	if n < 0 || 4*n > len(data) {
		return nil, fmt.Errorf("corrupt dictionary page")
	}
	offs := make([]int32, n+1)
	bs := make([]byte, 0, len(data)-4*n)
	for i := range n {
		if len(data) < 4 {
			return nil, fmt.Errorf("corrupt dictionary page")
		}
		l := int(binary.LittleEndian.Uint32(data))
		if l > len(data)-4 {
			return nil, fmt.Errorf("corrupt dictionary page")
		}
		bs = append(bs, data[4:4+l]...)
		data = data[4+l:]
		offs[i+1] = int32(len(bs))
	}
	ad := array.NewData(t, n, []*memory.Buffer{nil, memory.NewBufferBytes(arrow.Int32Traits.CastToBytes(offs)), memory.NewBufferBytes(bs)}, nil, 0, 0)
	defer ad.Release()
	return array.MakeFromData(ad), nil
}

// plainFixed decodes n PLAIN values of physical type phys into an array of type t
// (as fixedReadable pairs them; decimals widened).
func plainFixed(t arrow.DataType, phys parquet.Type, data []byte, n int) (arrow.Array, error) {
	pw := 8
	if phys == parquet.Types.Int32 || phys == parquet.Types.Float {
		pw = 4
	}
	if n < 0 || n*pw > len(data) {
		return nil, fmt.Errorf("corrupt dictionary page")
	}
	b := make([]byte, n*t.(arrow.FixedWidthDataType).BitWidth()/8)
	switch {
	case t.ID() == arrow.DECIMAL128 && pw == 4:
		widen32(castBytes[decimal128.Num](b), data)
	case t.ID() == arrow.DECIMAL128:
		widen64(castBytes[decimal128.Num](b), data)
	default:
		copy(b, data[:n*pw])
	}
	ad := array.NewData(t, n, []*memory.Buffer{nil, memory.NewBufferBytes(b)}, nil, 0, 0)
	defer ad.Release()
	return array.MakeFromData(ad), nil
}

// condsAlone reports, per column of a batch of width columns, whether every one of
// conds that reads it reads no other column and cannot fail (a dictCond could take
// them all), and at least one does.
func condsAlone(conds []expr.Expr, width int) []bool {
	alone := make([]bool, width)
	bad := make([]bool, width)
	for _, c := range conds {
		cols := expr.Columns(c)
		single := len(cols) == 1 && expr.Safe(c)
		for _, col := range cols {
			if col < 0 || col >= width {
				continue
			}
			if single {
				alone[col] = true
			} else {
				bad[col] = true
			}
		}
	}
	for i := range alone {
		alone[i] = alone[i] && !bad[i]
	}
	return alone
}

// rleHybrid decodes Parquet's RLE / bit-packing hybrid encoding of values of bw bits
// (at most 32): runs, each a ULEB128 header h then, if h is even, h/2 copies of one
// value in ceil(bw/8) little-endian bytes, else h/2 groups of 8 values packed in bw
// bytes each, least significant bit first.
type rleHybrid struct {
	data []byte
	bw   int
	pos  int    // of the next run's header in data
	rle  int    // values left in the current RLE run
	val  int32  // its value
	pk   int    // values left in the current bit-packed run
	bit  int    // the next packed value's bit offset in data
	mask uint64 // bw ones
}

// read fills dst with the next len(dst) values.
func (h *rleHybrid) read(dst []int32) error {
	for len(dst) > 0 {
		switch {
		case h.rle > 0:
			k := min(h.rle, len(dst))
			v := h.val
			for i := range dst[:k] {
				dst[i] = v
			}
			dst, h.rle = dst[k:], h.rle-k
		case h.pk > 0:
			k := min(h.pk, len(dst))
			data, bit, bw, mask := h.data, h.bit, h.bw, h.mask
			// fast: the values whose 8 bytes from their first lie within data
			fast := k
			if lim := (len(data)-8)*8 + 7 - bit; lim < 0 {
				fast = 0
			} else if bw > 0 {
				fast = min(k, lim/bw+1)
			}
			out := dst[:fast]
			for i := range out {
				w := binary.LittleEndian.Uint64(data[bit>>3:])
				out[i] = int32(w >> (bit & 7) & mask)
				bit += bw
			}
			for i := fast; i < k; i++ {
				var w uint64
				for j := len(data) - 1; j >= bit>>3; j-- {
					w = w<<8 | uint64(data[j])
				}
				dst[i] = int32(w >> (bit & 7) & mask)
				bit += bw
			}
			h.bit = bit
			dst, h.pk = dst[k:], h.pk-k
		default:
			if err := h.next(); err != nil {
				return err
			}
		}
	}
	return nil
}

// next reads the next run's header.
func (h *rleHybrid) next() error {
	hd, n := binary.Uvarint(h.data[min(h.pos, len(h.data)):])
	if n <= 0 || hd>>1 == 0 || hd>>1 > 1<<31 {
		return fmt.Errorf("corrupt RLE/bit-packed run")
	}
	h.pos += n
	h.mask = 1<<h.bw - 1
	if hd&1 == 0 {
		nb := (h.bw + 7) / 8
		if h.pos+nb > len(h.data) {
			return fmt.Errorf("corrupt RLE run")
		}
		var v uint64
		for j := nb - 1; j >= 0; j-- {
			v = v<<8 | uint64(h.data[h.pos+j])
		}
		h.val, h.rle = int32(v&h.mask), int(hd>>1)
		h.pos += nb
		return nil
	}
	groups := int(hd >> 1)
	h.pk, h.bit = groups*8, h.pos*8
	if h.bw > 0 {
		// A last run may be cut short of its padding: read only what is there.
		h.pk = min(h.pk, (len(h.data)-h.pos)*8/h.bw)
		if h.pk == 0 {
			return fmt.Errorf("corrupt bit-packed run")
		}
	}
	h.pos = min(h.pos+groups*h.bw, len(h.data))
	return nil
}

// plainOrDict reports whether every data page of column leaf of the row group is
// PLAIN or dictionary encoded (from the page encoding statistics; false without
// them).
func plainOrDict(rg *metadata.RowGroupMetaData, leaf int) bool {
	cc, err := rg.ColumnChunk(leaf)
	if err != nil || len(cc.EncodingStats()) == 0 {
		return false
	}
	for _, st := range cc.EncodingStats() {
		if pt := int(st.PageType); pt != 0 && pt != 3 { // see dictEncoded
			continue
		}
		switch st.Encoding {
		case parquet.Encodings.Plain, parquet.Encodings.RLEDict, parquet.Encodings.PlainDict:
		default:
			return false
		}
	}
	return true
}

// newPageCol returns a pageCol reading the column desc (which fixedReadable accepts
// as type t) from its pages.
func newPageCol(at int, t arrow.DataType, desc *schema.Column, pr file.PageReader) directCol {
	dec := t.ID() == arrow.DECIMAL128
	switch desc.PhysicalType() {
	case parquet.Types.Int32:
		if dec {
			return &pageCol[decimal128.Num]{at: at, t: t, pr: pr, maxDef: desc.MaxDefinitionLevel(), pw: 4, conv: widen32, pick: pickWiden32}
		}
		return &pageCol[int32]{at: at, t: t, pr: pr, maxDef: desc.MaxDefinitionLevel(), pw: 4, conv: copyLE[int32], pick: pickLE[int32]}
	case parquet.Types.Int64:
		if dec {
			return &pageCol[decimal128.Num]{at: at, t: t, pr: pr, maxDef: desc.MaxDefinitionLevel(), pw: 8, conv: widen64, pick: pickWiden64}
		}
		return &pageCol[int64]{at: at, t: t, pr: pr, maxDef: desc.MaxDefinitionLevel(), pw: 8, conv: copyLE[int64], pick: pickLE[int64]}
	case parquet.Types.Float:
		return &pageCol[float32]{at: at, t: t, pr: pr, maxDef: desc.MaxDefinitionLevel(), pw: 4, conv: copyLE[float32], pick: pickLE[float32]}
	}
	return &pageCol[float64]{at: at, t: t, pr: pr, maxDef: desc.MaxDefinitionLevel(), pw: 8, conv: copyLE[float64], pick: pickLE[float64]}
}

// castBytes views b as values of T (b from an Arrow buffer: aligned).
func castBytes[T any](b []byte) []T {
	var z T
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*T)(unsafe.Pointer(&b[0])), len(b)/int(unsafe.Sizeof(z)))
}

// copyLE decodes PLAIN little-endian values as they are.
func copyLE[T int32 | int64 | float32 | float64](dst []T, src []byte) {
	var z T
	copy(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(dst))), len(dst)*int(unsafe.Sizeof(z))), src)
}

// pickLE decodes the PLAIN values of rows (each at least base, src holding the
// values from row base on) as they are.
func pickLE[T int32 | int64 | float32 | float64](dst []T, src []byte, rows []int32, base int) {
	var z T
	size := int(unsafe.Sizeof(z))
	dst = dst[:len(rows)]
	for k, r := range rows {
		b := src[(int(r)-base)*size : (int(r)-base+1)*size]
		dst[k] = *(*T)(unsafe.Pointer(&b[0]))
	}
}

// pickWiden32 and pickWiden64 decode the PLAIN INT32 and INT64 unscaled decimals of
// rows (as pickLE) to decimal128.
func pickWiden32(dst []decimal128.Num, src []byte, rows []int32, base int) {
	dst = dst[:len(rows)]
	for k, r := range rows {
		dst[k] = decimal128.FromI64(int64(int32(binary.LittleEndian.Uint32(src[4*(int(r)-base):]))))
	}
}

func pickWiden64(dst []decimal128.Num, src []byte, rows []int32, base int) {
	dst = dst[:len(rows)]
	for k, r := range rows {
		dst[k] = decimal128.FromI64(int64(binary.LittleEndian.Uint64(src[8*(int(r)-base):])))
	}
}

// widen32 and widen64 decode PLAIN INT32 and INT64 unscaled decimals to decimal128.
func widen32(dst []decimal128.Num, src []byte) {
	src = src[:4*len(dst)]
	for i := range dst {
		dst[i] = decimal128.FromI64(int64(int32(binary.LittleEndian.Uint32(src[4*i:]))))
	}
}

func widen64(dst []decimal128.Num, src []byte) {
	src = src[:8*len(dst)]
	for i := range dst {
		dst[i] = decimal128.FromI64(int64(binary.LittleEndian.Uint64(src[8*i:])))
	}
}

// pageCol reads a flat fixed-width column (fixedReadable) whose data pages are all
// PLAIN or dictionary encoded (plainOrDict) from its pages, into values of type T
// (decimals widened): PLAIN values are converted straight into the batch's buffer,
// dictionary codes look their value up in the row group's dictionary, converted
// once. Parquet's column reader decoded into a scratch slice first, and a decimal
// was widened from there.
type pageCol[T any] struct {
	at     int
	t      arrow.DataType
	pr     file.PageReader
	maxDef int16
	pw     int                       // bytes per PLAIN value
	conv   func(dst []T, src []byte) // decodes len(dst) PLAIN values
	// pick decodes the PLAIN values of rows, src holding those from row base on
	pick   func(dst []T, src []byte, rows []int32, base int)
	dict   []T       // the row group's dictionary, converted (nil before its page)
	isDict bool      // the current data page is dictionary encoded
	codes  rleHybrid // its codes not yet read, if so
	plain  []byte    // its PLAIN values not yet read, if not
	defs   rleHybrid // its definition levels not yet read (maxDef 1)
	left   int       // its values (with NULLs) not yet read
	lvls   []int32   // scratch: definition levels of a batch
	idx    []int32   // scratch: codes
	// scratch holds a late read's values before the kept rows are copied out
	scratch *memory.Buffer
}

func (c *pageCol[T]) column() int { return c.at }

func (c *pageCol[T]) Close() error {
	if c.scratch != nil {
		c.scratch.Release()
		c.scratch = nil
	}
	return c.pr.Close()
}

func (c *pageCol[T]) read(mem memory.Allocator, n int, rows []int32) (arrow.Array, error) {
	if rows != nil && c.maxDef == 0 {
		return c.readRows(mem, n, rows)
	}
	var z T
	w := int(unsafe.Sizeof(z))
	m := n
	if rows != nil {
		m = len(rows)
	}
	buf := memory.NewResizableBuffer(mem)
	buf.Resize(m * w)
	dst := castBytes[T](buf.Bytes())[:m]
	if rows != nil {
		if c.scratch == nil {
			c.scratch = memory.NewResizableBuffer(mem)
		}
		c.scratch.ResizeNoShrink(n * w)
		dst = castBytes[T](c.scratch.Bytes())[:n]
	}
	if c.maxDef > 0 {
		c.lvls = slices.Grow(c.lvls[:0], n)[:n]
	}
	var err error
	for got := 0; got < n && err == nil; {
		if c.left == 0 {
			err = c.nextPage()
			continue
		}
		k := min(n-got, c.left)
		if c.maxDef == 0 {
			err = c.values(dst[got : got+k])
		} else if err = c.defs.read(c.lvls[got : got+k]); err == nil {
			vals := 0
			for _, l := range c.lvls[got : got+k] {
				vals += int(l)
			}
			if err = c.values(dst[got : got+vals]); err == nil && vals < k {
				j := vals - 1
				for i := k - 1; i >= 0; i-- {
					if c.lvls[got+i] == 1 {
						dst[got+i] = dst[got+j]
						j--
					} else {
						dst[got+i] = z
					}
				}
			}
		}
		got += k
		c.left -= k
	}
	if err != nil {
		buf.Release()
		return nil, err
	}
	if rows != nil {
		out := castBytes[T](buf.Bytes())[:m]
		for k, i := range rows {
			out[k] = dst[i]
		}
	}
	var validity *memory.Buffer
	nulls := 0
	if c.maxDef > 0 {
		for k := range m {
			i := k
			if rows != nil {
				i = int(rows[k])
			}
			nulls += 1 - int(c.lvls[i])
		}
	}
	if nulls > 0 {
		validity = memory.NewResizableBuffer(mem)
		validity.Resize(int(bitutil.BytesForBits(int64(m))))
		v := validity.Bytes()
		for k := range m {
			i := k
			if rows != nil {
				i = int(rows[k])
			}
			if c.lvls[i] == 1 {
				bitutil.SetBit(v, k)
			}
		}
	}
	ad := array.NewData(c.t, m, []*memory.Buffer{validity, buf}, nil, nulls, 0)
	buf.Release()
	if validity != nil {
		validity.Release()
	}
	a := array.MakeFromData(ad)
	ad.Release()
	return a, nil
}

// readRows reads the next n values of a required column, keeping those of rows
// (ascending): each page's kept values are decoded straight into the batch's buffer.
func (c *pageCol[T]) readRows(mem memory.Allocator, n int, rows []int32) (arrow.Array, error) {
	var z T
	buf := memory.NewResizableBuffer(mem)
	buf.Resize(len(rows) * int(unsafe.Sizeof(z)))
	out := castBytes[T](buf.Bytes())[:len(rows)]
	var err error
	j := 0 // rows[:j] are read
	for got := 0; got < n && err == nil; {
		if c.left == 0 {
			err = c.nextPage()
			continue
		}
		k := min(n-got, c.left)
		e := j
		for e < len(rows) && int(rows[e]) < got+k {
			e++
		}
		err = c.valuesAt(out[j:e], rows[j:e], got, k)
		j = e
		got += k
		c.left -= k
	}
	if err == nil && j != len(rows) {
		err = fmt.Errorf("rows out of order or past the batch")
	}
	if err != nil {
		buf.Release()
		return nil, err
	}
	ad := array.NewData(c.t, len(rows), []*memory.Buffer{nil, buf}, nil, 0, 0)
	buf.Release()
	a := array.MakeFromData(ad)
	ad.Release()
	return a, nil
}

// valuesAt moves past the current page's next k values (of a required column, the
// first of them row base), decoding into dst those of rows.
func (c *pageCol[T]) valuesAt(dst []T, rows []int32, base, k int) error {
	if !c.isDict {
		nb := k * c.pw
		if nb > len(c.plain) {
			return fmt.Errorf("a data page holds fewer values than it says")
		}
		c.pick(dst, c.plain[:nb], rows, base)
		c.plain = c.plain[nb:]
		return nil
	}
	c.idx = slices.Grow(c.idx[:0], k)[:k]
	if err := c.codes.read(c.idx); err != nil {
		return err
	}
	dict, idx := c.dict, c.idx
	dst = dst[:len(rows)]
	for i, r := range rows {
		code := idx[int(r)-base]
		if uint(code) >= uint(len(dict)) {
			return checkCodes([]int32{code}, len(dict))
		}
		dst[i] = dict[code]
	}
	return nil
}

// values decodes the current page's next len(dst) non-NULL values.
func (c *pageCol[T]) values(dst []T) error {
	if !c.isDict {
		nb := len(dst) * c.pw
		if nb > len(c.plain) {
			return fmt.Errorf("a data page holds fewer values than it says")
		}
		c.conv(dst, c.plain[:nb])
		c.plain = c.plain[nb:]
		return nil
	}
	c.idx = slices.Grow(c.idx[:0], len(dst))[:len(dst)]
	if err := c.codes.read(c.idx); err != nil {
		return err
	}
	dict := c.dict
	dst = dst[:len(c.idx)]
	for i, k := range c.idx {
		if uint(k) >= uint(len(dict)) {
			return checkCodes(c.idx, len(dict))
		}
		dst[i] = dict[k]
	}
	return nil
}

// nextPage moves to the next data page, decoding the dictionary page on the way.
func (c *pageCol[T]) nextPage() error {
	for c.pr.Next() {
		var data []byte
		switch pg := c.pr.Page().(type) {
		case *file.DictionaryPage:
			if c.dict != nil {
				return fmt.Errorf("a second dictionary page")
			}
			if e := parquet.Encoding(pg.Encoding()); e != parquet.Encodings.Plain && e != parquet.Encodings.PlainDict {
				return fmt.Errorf("dictionary page encoded %s", e)
			}
			nv := int(pg.NumValues())
			if nv < 0 || nv*c.pw > len(pg.Data()) {
				return fmt.Errorf("corrupt dictionary page")
			}
			c.dict = make([]T, nv)
			c.conv(c.dict, pg.Data())
			continue
		case *file.DataPageV1:
			data = pg.Data()
			if c.maxDef > 0 {
				if pg.DefinitionLevelEncoding() != parquet.Encodings.RLE {
					return fmt.Errorf("definition levels encoded %s", pg.DefinitionLevelEncoding())
				}
				if len(data) < 4 || int(binary.LittleEndian.Uint32(data)) > len(data)-4 {
					return fmt.Errorf("corrupt definition levels")
				}
				l := int(binary.LittleEndian.Uint32(data))
				c.defs = rleHybrid{data: data[4 : 4+l], bw: 1}
				data = data[4+l:]
			}
		case *file.DataPageV2:
			data = pg.Data()
			rl, dl := int(pg.RepetitionLevelByteLen()), int(pg.DefinitionLevelByteLen())
			if rl < 0 || dl < 0 || rl+dl > len(data) {
				return fmt.Errorf("corrupt levels")
			}
			c.defs = rleHybrid{data: data[rl : rl+dl], bw: 1}
			data = data[rl+dl:]
		default:
			continue
		}
		switch e := parquet.Encoding(c.pr.Page().Encoding()); e {
		case parquet.Encodings.Plain:
			c.isDict, c.plain = false, data
		case parquet.Encodings.RLEDict, parquet.Encodings.PlainDict:
			if c.dict == nil {
				return fmt.Errorf("data page before the dictionary page")
			}
			if len(data) < 1 || data[0] > 32 {
				return fmt.Errorf("corrupt dictionary codes")
			}
			c.isDict, c.codes = true, rleHybrid{data: data[1:], bw: int(data[0])}
		default:
			return fmt.Errorf("data page encoded %s", e)
		}
		c.left = int(c.pr.Page().NumValues())
		return nil
	}
	if err := c.pr.Err(); err != nil {
		return err
	}
	return fmt.Errorf("the column chunk ended before the row group")
}

// parquetGuard, deferred, turns a panic raised inside the Parquet library into an
// error naming the file: a corrupt file can make it follow a missing page header
// or index past a buffer. A panic raised in strata's own code goes on (the task
// runner reports it as one): it is a bug, not bad input.
func parquetGuard(name string, err *error) {
	r := recover()
	if r == nil {
		return
	}
	if !panickedIn("github.com/apache/arrow-go/") {
		panic(r)
	}
	*err = fmt.Errorf("plan: %s: corrupt Parquet file: %v", name, r)
}

// panickedIn reports whether the function that panicked (the first frame past
// runtime.gopanic and the runtime's own) is in a package under prefix.
func panickedIn(prefix string) bool {
	pcs := make([]uintptr, 64)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(1, pcs)])
	past := false
	for {
		f, more := frames.Next()
		switch {
		case f.Function == "runtime.gopanic":
			past = true
		case past && !strings.HasPrefix(f.Function, "runtime."):
			return strings.HasPrefix(f.Function, prefix)
		}
		if !more {
			return false
		}
	}
}
