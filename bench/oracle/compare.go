package oracle

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
)

// Compare returns nil when got matches want: the same number of columns and rows,
// and rows equal (see Equal) in order when ordered, else as multisets. Column names
// are not compared (engines name unnamed expressions differently).
func Compare(got, want Result, ordered bool) error {
	if len(got.Columns) != len(want.Columns) {
		return fmt.Errorf("oracle: %d columns %v, want %d %v", len(got.Columns), got.Columns, len(want.Columns), want.Columns)
	}
	if len(got.Rows) != len(want.Rows) {
		return fmt.Errorf("oracle: %d rows, want %d\ngot:\n%s\nwant:\n%s", len(got.Rows), len(want.Rows), clip(got), clip(want))
	}
	if ordered {
		for i := range got.Rows {
			if !rowEqual(got.Rows[i], want.Rows[i]) {
				return fmt.Errorf("oracle: row %d is %v, want %v (ordered)\ngot:\n%s\nwant:\n%s", i, got.Rows[i], want.Rows[i], clip(got), clip(want))
			}
		}
		return nil
	}
	g, w := sortedRows(got.Rows), sortedRows(want.Rows)
	same := true
	for i := range g {
		if !rowEqual(g[i], w[i]) {
			same = false
			break
		}
	}
	if same {
		return nil
	}
	// Floats within tolerance may sort apart from their match: match greedily.
	used := make([]bool, len(w))
	for _, r := range g {
		found := false
		for j, s := range w {
			if !used[j] && rowEqual(r, s) {
				used[j], found = true, true
				break
			}
		}
		if !found {
			return fmt.Errorf("oracle: row %v has no match (multiset)\ngot:\n%s\nwant:\n%s", r, clip(got), clip(want))
		}
	}
	return nil
}

func rowEqual(a, b []Value) bool {
	for i := range a {
		if !Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func sortedRows(rows [][]Value) [][]Value {
	s := slices.Clone(rows)
	slices.SortStableFunc(s, func(a, b []Value) int {
		for i := range a {
			if c := cmpValue(a[i], b[i]); c != 0 {
				return c
			}
		}
		return 0
	})
	return s
}

// clip renders at most 30 rows of a result.
func clip(r Result) string {
	if len(r.Rows) > 30 {
		r.Rows = append(r.Rows[:30:30], []Value{{Kind: String, S: fmt.Sprintf("... %d more rows", len(r.Rows)-30)}})
	}
	return r.String()
}

// Ordered reports whether a query's result order is defined: whether it has an ORDER
// BY outside any parentheses (window specifications and subqueries do not count).
// String literals, quoted identifiers and comments are skipped.
func Ordered(query string) bool {
	depth := 0
	var words []string
	var word strings.Builder
	flush := func() {
		if word.Len() > 0 {
			words = append(words, strings.ToLower(word.String()))
			word.Reset()
		}
	}
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '\'' || c == '"':
			flush()
			for i++; i < len(query) && query[i] != c; i++ {
			}
		case c == '-' && i+1 < len(query) && query[i+1] == '-':
			flush()
			for i < len(query) && query[i] != '\n' {
				i++
			}
		case c == '(':
			flush()
			depth++
		case c == ')':
			flush()
			depth--
		case depth == 0 && (unicode.IsLetter(rune(c)) || c == '_'):
			word.WriteByte(c)
		default:
			flush()
		}
		if depth == 0 && c != '(' && c != ')' && !(unicode.IsLetter(rune(c)) || c == '_') {
			flush()
		}
	}
	flush()
	for i := 0; i+1 < len(words); i++ {
		if words[i] == "order" && words[i+1] == "by" {
			return true
		}
	}
	return false
}
