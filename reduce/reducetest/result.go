package reducetest

import (
	"bytes"
	"cmp"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/strata-data/strata/change"
)

// maxShown is how many differing rows a diff lists on each side.
const maxShown = 20

// AssertMultiset checks that the output rows equal want in any order, with
// multiplicities and ops: want rows are written as for Rows (an optional leading op,
// +I by default; plain values converted through the output's column types, so 1 matches
// an int64 column and "1.50" a decimal one).
func (r *Result) AssertMultiset(t T, want ...[]any) bool {
	t.Helper()
	return check(t, r.Diff(want...))
}

// AssertOrdered checks that the output rows equal want in order.
func (r *Result) AssertOrdered(t T, want ...[]any) bool {
	t.Helper()
	return check(t, r.DiffOrdered(want...))
}

// AssertNet checks the net effect of the output, a changelog, against the net effect
// of want: each -U or -D row cancels one equal +I or +U row, and what remains is
// compared as a multiset. Use it for reducers whose output is correct only once
// folded, such as joins of change streams.
func (r *Result) AssertNet(t T, want ...[]any) bool {
	t.Helper()
	return check(t, r.DiffNet(want...))
}

// AssertSame checks that two runs emitted the same multiset of rows, such as a run
// that spilled and one that did not.
func (r *Result) AssertSame(t T, other *Result) bool {
	t.Helper()
	return check(t, multisetDiff(other.Rows, r.Rows))
}

func check(t T, diff string) bool {
	t.Helper()
	if diff != "" {
		t.Errorf("reducetest: output differs:\n%s", diff)
		return false
	}
	return true
}

// Diff returns "" when the output rows equal want as a multiset, and otherwise a
// description of the rows missing and unexpected.
func (r *Result) Diff(want ...[]any) string {
	w, err := r.normalize(want)
	if err != nil {
		return err.Error()
	}
	return multisetDiff(w, r.Rows)
}

// DiffOrdered returns "" when the output rows equal want in order.
func (r *Result) DiffOrdered(want ...[]any) string {
	w, err := r.normalize(want)
	if err != nil {
		return err.Error()
	}
	for i := range max(len(w), len(r.Rows)) {
		switch {
		case i >= len(w):
			return fmt.Sprintf("%d rows emitted, want %d; row %d is unexpected: %s", len(r.Rows), len(w), i, format(r.Rows[i]))
		case i >= len(r.Rows):
			return fmt.Sprintf("%d rows emitted, want %d; row %d is missing: %s", len(r.Rows), len(w), i, format(w[i]))
		case key(w[i]) != key(r.Rows[i]):
			return fmt.Sprintf("row %d: got %s, want %s", i, format(r.Rows[i]), format(w[i]))
		}
	}
	return ""
}

// DiffNet returns "" when the net effect of the output equals that of want (see AssertNet).
func (r *Result) DiffNet(want ...[]any) string {
	w, err := r.normalize(want)
	if err != nil {
		return err.Error()
	}
	return multisetDiff(Net(w), Net(r.Rows))
}

// Net folds a changelog of plain rows (each led by its op) into its net effect: rows
// whose -U/-D retractions cancel their +I/+U insertions vanish; a row inserted n times
// more than retracted appears n times as +I, one retracted more than inserted appears
// as -D.
func Net(rows [][]any) [][]any {
	type entry struct {
		row []any
		w   int
	}
	var order []string
	net := make(map[string]*entry)
	for _, row := range rows {
		k := key(row[1:])
		e := net[k]
		if e == nil {
			e = &entry{row: row[1:]}
			net[k] = e
			order = append(order, k)
		}
		if op, _ := row[0].(change.Op); op.IsRetraction() {
			e.w--
		} else {
			e.w++
		}
	}
	var out [][]any
	for _, k := range order {
		e := net[k]
		op, n := change.Insert, e.w
		if n < 0 {
			op, n = change.Delete, -n
		}
		for range n {
			out = append(out, append([]any{op}, e.row...))
		}
	}
	return out
}

// normalize converts want rows to the output's plain form.
func (r *Result) normalize(want [][]any) ([][]any, error) {
	if r.Schema == nil {
		if len(want) == 0 {
			return nil, nil
		}
		return nil, fmt.Errorf("no batches emitted, want %d rows, the first %v", len(want), want[0])
	}
	fs := r.Schema.Fields()
	out := make([][]any, len(want))
	for i, w := range want {
		row, op, err := literal(r.Schema, w)
		if err != nil {
			return nil, fmt.Errorf("want row %d %v: %v", i, w, err)
		}
		p := make([]any, 1+len(row))
		p[0] = op
		for c, v := range row {
			p[1+c] = v.Any(fs[c].Type)
		}
		out[i] = p
	}
	return out, nil
}

// multisetDiff describes how got differs from want as multisets ("" when equal).
func multisetDiff(want, got [][]any) string {
	count := make(map[string]int, len(want))
	for _, w := range want {
		count[key(w)]++
	}
	var unexpected [][]any
	for _, g := range got {
		k := key(g)
		if count[k] > 0 {
			count[k]--
			continue
		}
		unexpected = append(unexpected, g)
	}
	var missing [][]any
	for _, w := range want {
		k := key(w)
		if count[k] > 0 {
			count[k]--
			missing = append(missing, w)
		}
	}
	if len(missing) == 0 && len(unexpected) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d rows emitted, want %d\n", len(got), len(want))
	list := func(what string, rows [][]any) {
		if len(rows) == 0 {
			return
		}
		fmt.Fprintf(&b, "%s: %d rows\n", what, len(rows))
		for _, row := range rows[:min(len(rows), maxShown)] {
			b.WriteString("  ")
			b.WriteString(format(row))
			b.WriteByte('\n')
		}
		if len(rows) > maxShown {
			fmt.Fprintf(&b, "  ... and %d more\n", len(rows)-maxShown)
		}
	}
	list("missing (wanted, not emitted)", missing)
	list("unexpected (emitted, not wanted)", unexpected)
	return b.String()
}

// key encodes a plain row so that equal rows, and only those, have equal keys.
func key(row []any) string {
	var b []byte
	for _, v := range row {
		switch v := v.(type) {
		case nil:
			b = append(b, 'N')
		case change.Op:
			b = append(b, 'O')
			b = append(b, v.String()...)
		case string:
			b = strconv.AppendQuote(append(b, 'S'), v)
		case []byte:
			b = hex.AppendEncode(append(b, 'B'), v)
		case time.Time:
			b = v.UTC().AppendFormat(append(b, 'T'), time.RFC3339Nano)
		case float64:
			b = strconv.AppendFloat(append(b, 'F'), v, 'g', -1, 64)
		case int64:
			b = strconv.AppendInt(append(b, 'I'), v, 10)
		case bool:
			b = strconv.AppendBool(append(b, 'b'), v)
		default:
			b = fmt.Appendf(b, "%T:%v", v, v)
		}
		b = append(b, 0)
	}
	return string(b)
}

// format renders a plain row as "+I | 1 | "a" | NULL".
func format(row []any) string {
	parts := make([]string, len(row))
	for i, v := range row {
		switch v := v.(type) {
		case nil:
			parts[i] = "NULL"
		case string:
			parts[i] = strconv.Quote(v)
		case time.Time:
			parts[i] = v.Format(time.RFC3339Nano)
		default:
			parts[i] = fmt.Sprint(v)
		}
	}
	return strings.Join(parts, " | ")
}

// String renders the output as a table, one row per line, in emitted order.
func (r *Result) String() string {
	var b strings.Builder
	if r.Schema != nil {
		b.WriteString("op")
		for _, f := range r.Schema.Fields() {
			b.WriteString(" | ")
			b.WriteString(f.Name)
		}
		b.WriteByte('\n')
	}
	for _, row := range r.Rows {
		b.WriteString(format(row))
		b.WriteByte('\n')
	}
	return b.String()
}

// Sorted returns the output rows sorted by their encoding, for printing a result whose
// order is not defined.
func (r *Result) Sorted() *Result {
	out := *r
	out.Rows = slices.Clone(r.Rows)
	slices.SortStableFunc(out.Rows, func(a, b []any) int {
		for i := 1; i < min(len(a), len(b)); i++ {
			if c := compare(a[i], b[i]); c != 0 {
				return c
			}
		}
		return compare(a[0], b[0])
	})
	return &out
}

// compare orders plain values: NULL first, then by value within a type, then by type.
func compare(a, b any) int {
	if a == nil || b == nil {
		switch {
		case a == nil && b == nil:
			return 0
		case a == nil:
			return -1
		}
		return 1
	}
	switch a := a.(type) {
	case int64:
		if b, ok := b.(int64); ok {
			return cmp.Compare(a, b)
		}
	case float64:
		if b, ok := b.(float64); ok {
			return cmp.Compare(a, b)
		}
	case string:
		if b, ok := b.(string); ok {
			return strings.Compare(a, b)
		}
	case []byte:
		if b, ok := b.([]byte); ok {
			return bytes.Compare(a, b)
		}
	case time.Time:
		if b, ok := b.(time.Time); ok {
			return a.Compare(b)
		}
	case time.Duration:
		if b, ok := b.(time.Duration); ok {
			return cmp.Compare(a, b)
		}
	case bool:
		if b, ok := b.(bool); ok {
			return cmp.Compare(btoi(a), btoi(b))
		}
	case change.Op:
		if b, ok := b.(change.Op); ok {
			return cmp.Compare(a, b)
		}
	}
	return strings.Compare(key([]any{a}), key([]any{b}))
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
