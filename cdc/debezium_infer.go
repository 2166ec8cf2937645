package cdc

import (
	"github.com/apache/arrow-go/v18/arrow"

	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/internal/jsonscan"
)

// inferred is one value of a payload-only image with the type its JSON suggests (nil
// for null, which says nothing about the type).
type inferred struct {
	name    string
	v       change.Value
	t       arrow.DataType
	logical string
	col     int // the column's index in the table's layout, set by merge (-1: none)
}

// inferObject reads an image object without a schema: integers become int64 (exactly),
// other numbers float64, strings and booleans themselves, nested objects and arrays
// their JSON text.
func inferObject(sc *jsonscan.Scanner, path string, d *DebeziumDecoder, buf []inferred) ([]inferred, error) {
	if !sc.Object() {
		return nil, errAt(path, ErrMalformed, "not an object")
	}
	out := buf[:0]
	prev := buf[:cap(buf)] // the previous event's image: its names usually repeat in order
	for {
		k, ok := sc.Key()
		if !ok {
			break
		}
		var in inferred
		if j := len(out); j < len(prev) && prev[j].name == string(k) {
			in.name = prev[j].name
		} else {
			in.name = d.intern(k)
		}
		switch c := sc.Peek(); c {
		case '"':
			s, _ := sc.String()
			in.v, in.t = change.Str(d.arena.str(s)), arrow.BinaryTypes.String
		case 't', 'f':
			b, ok := sc.Bool()
			if !ok {
				return nil, errAt(path+"."+in.name, ErrMalformed, "invalid literal")
			}
			in.v, in.t = change.Bool(b), arrow.FixedWidthTypes.Boolean
		case 'n':
			if !sc.Null() {
				return nil, errAt(path+"."+in.name, ErrMalformed, "invalid literal")
			}
		case '{', '[':
			raw := sc.Skip()
			in.v, in.t, in.logical = change.Str(d.arena.str(raw)), arrow.BinaryTypes.String, "json"
		default:
			raw, isInt, ok := sc.Number()
			if !ok {
				return nil, errAt(path+"."+in.name, ErrMalformed, "unexpected %q", c)
			}
			if isInt {
				n, err := jsonscan.Int64(raw)
				if err != nil {
					return nil, errAt(path+"."+in.name, ErrType, "integer %s does not fit int64", raw)
				}
				in.v, in.t = change.Int(n), arrow.PrimitiveTypes.Int64
			} else {
				f, err := parseFloat(raw)
				if err != nil {
					return nil, errAt(path+"."+in.name, ErrType, "%s is not a number", raw)
				}
				in.v, in.t = change.Float(f), arrow.PrimitiveTypes.Float64
			}
		}
		if sc.Err() != nil {
			return nil, errAt(path+"."+in.name, ErrMalformed, "%v", sc.Err())
		}
		// duplicate keys: the last wins
		replaced := false
		for i := range out {
			if out[i].name == in.name {
				out[i], replaced = in, true
			}
		}
		if !replaced {
			out = append(out, in)
		}
	}
	if sc.Err() != nil {
		return nil, errAt(path, ErrMalformed, "%v", sc.Err())
	}
	return out, nil
}

// inferState is the inferred layout of one table: the union of columns seen so far, in
// first-seen order, each typed by its first non-null value; int64 widens to float64.
// A column seen only as null is left out until a value gives it a type, so evolution
// only ever adds nullable columns or widens.
type inferState struct {
	cols   []arrow.Field
	index  map[string]int
	keys   []string // key columns of the layout
	keysIn []string // the key names last asked for, to skip recomputing keys
	schema *change.Schema
	rows   [2]change.Row // merge's result, reused
}

func (d *DebeziumDecoder) inferStateFor(table string) *inferState {
	st := d.infer[table]
	if st == nil {
		st = &inferState{index: map[string]int{}}
		d.infer[table] = st
	}
	return st
}

// merge folds the images' values into the table's layout and returns the (possibly new)
// schema and the images as rows of it (valid until the next merge). The key is the
// columns named in keys, or every column when allKey is set (a record key).
func (st *inferState) merge(imgs [][]inferred, keys []string, allKey bool, path string, a *arena) (*change.Schema, []change.Row, error) {
	changed := st.schema == nil
	for _, img := range imgs {
		for j := range img {
			in := &img[j]
			in.col = -1
			if in.t == nil {
				if i, ok := st.index[in.name]; ok {
					in.col = i
				}
				continue
			}
			i, ok := st.index[in.name]
			if !ok {
				f := change.Col(in.name, in.t)
				if in.logical != "" {
					f = change.Logical(f, in.logical)
				}
				i = len(st.cols)
				st.index[in.name] = i
				st.cols = append(st.cols, f)
				changed = true
			}
			in.col = i
			have := st.cols[i].Type.ID()
			switch {
			case have == in.t.ID():
			case have == arrow.INT64 && in.t.ID() == arrow.FLOAT64:
				st.cols[i].Type = arrow.PrimitiveTypes.Float64
				changed = true
			case have == arrow.FLOAT64 && in.t.ID() == arrow.INT64:
			default:
				return nil, nil, errAt(path+in.name, ErrType, "inferred as %s from earlier events, now %s", st.cols[i].Type, in.t)
			}
		}
	}
	if allKey {
		if len(st.keys) != len(st.cols) {
			st.keys = st.keys[:0]
			for _, f := range st.cols {
				st.keys = append(st.keys, f.Name)
			}
			changed = true
		}
	} else if changed || !equalStrings(keys, st.keysIn) {
		st.keysIn = append(st.keysIn[:0], keys...)
		var present []string
		for _, k := range keys {
			if _, ok := st.index[k]; ok {
				present = append(present, k)
			}
		}
		if !equalStrings(present, st.keys) {
			st.keys = present
			changed = true
		}
	}
	if changed {
		cols := append([]arrow.Field(nil), st.cols...)
		s, err := change.NewSchema(cols, st.keys...)
		if err != nil {
			return nil, nil, errAt(path, ErrMalformed, "%v", err)
		}
		st.schema = s
	}
	rows := st.rows[:len(imgs)]
	for r, img := range imgs {
		row := a.row(len(st.cols))
		for i := range row {
			row[i] = change.Absent()
		}
		for j := range img {
			i := img[j].col
			if i < 0 {
				continue // null in a column never typed: nothing to carry
			}
			v := img[j].v
			if st.cols[i].Type.ID() == arrow.FLOAT64 && v.Kind() == change.KindInt {
				v = change.Float(float64(v.AsInt()))
			}
			row[i] = v
		}
		rows[r] = row
	}
	return st.schema, rows, nil
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// inferKeyState returns the inferred layout of a topic's record keys.
func (d *DebeziumDecoder) inferKeyState(topic string) *inferState {
	st := d.keyStates[topic]
	if st == nil {
		if d.keyStates == nil {
			d.keyStates = map[string]*inferState{}
		}
		st = &inferState{index: map[string]int{}}
		d.keyStates[topic] = st
	}
	return st
}
