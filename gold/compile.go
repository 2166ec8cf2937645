package gold

import (
	"fmt"
	"regexp"
	"strings"
)

// cteName is the name a view or ephemeral model is inlined under, as dbt names
// ephemeral models; the prefix keeps it apart from the model's own CTE names.
func cteName(model string) string { return "__dbt__cte__" + model }

type cte struct{ name, sql string }

// injectCTEs returns sql with ctes placed in front of it: merged into its own top-level
// WITH when it has one (the model's CTEs may then use them), else as a new WITH. A WITH
// RECURSIVE query is wrapped as a subquery instead. Trailing semicolons are dropped.
func injectCTEs(sql string, ctes []cte) string {
	sql = strings.TrimRight(strings.TrimSpace(sql), ";")
	sql = strings.TrimRight(sql, " \t\r\n")
	if len(ctes) == 0 {
		return sql
	}
	var b strings.Builder
	b.WriteString("with ")
	for i, c := range ctes {
		if i > 0 {
			b.WriteString(",\n")
		}
		b.WriteString(c.name)
		b.WriteString(" as (\n")
		b.WriteString(strings.TrimRight(strings.TrimSpace(c.sql), ";"))
		b.WriteString("\n)")
	}
	start := skipSpaceAndComments(sql, 0)
	if kw, end := keywordAt(sql, start); kw == "with" {
		next := skipSpaceAndComments(sql, end)
		if kw2, _ := keywordAt(sql, next); kw2 != "recursive" {
			b.WriteString(",\n")
			b.WriteString(sql[:start]) // leading comments stay, harmlessly, in place
			b.WriteString(sql[next:])
			return b.String()
		}
		b.WriteString("\nselect * from (\n")
		b.WriteString(sql)
		b.WriteString("\n) as __dbt_recursive")
		return b.String()
	}
	b.WriteString("\n")
	b.WriteString(sql)
	return b.String()
}

// skipSpaceAndComments returns the index of the first byte at or after i that is
// neither white space nor inside a -- or /* */ comment.
func skipSpaceAndComments(s string, i int) int {
	for i < len(s) {
		switch {
		case s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r' || s[i] == '\f':
			i++
		case strings.HasPrefix(s[i:], "--"):
			j := strings.IndexByte(s[i:], '\n')
			if j < 0 {
				return len(s)
			}
			i += j + 1
		case strings.HasPrefix(s[i:], "/*"):
			j := strings.Index(s[i+2:], "*/")
			if j < 0 {
				return len(s)
			}
			i += j + 4
		default:
			return i
		}
	}
	return i
}

// keywordAt returns the lower-cased identifier starting at i and the index after it.
func keywordAt(s string, i int) (string, int) {
	j := i
	for j < len(s) && (s[j] == '_' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= '0' && s[j] <= '9') {
		j++
	}
	return strings.ToLower(s[i:j]), j
}

var plainIdent = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// ident quotes a column name for SQL unless it is a plain lower-case identifier.
func ident(name string) string {
	if plainIdent.MatchString(name) {
		return name
	}
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// genericTestSQL returns the query of a generic test: it returns the failing rows, as
// dbt's own test macros do. rel is the tested relation (already resolved); to resolves
// a relationships test's to: argument.
func genericTestSQL(t *Test, rel string, to func(*Test) (string, error)) (string, error) {
	if t.Where != "" {
		rel = "(select * from " + rel + " where " + t.Where + ") as dbt_subquery"
	}
	col := ident(t.Column)
	switch t.Kind {
	case TestUnique:
		return fmt.Sprintf("select %s as unique_field, count(*) as n_records\nfrom %s\nwhere %s is not null\ngroup by %s\nhaving count(*) > 1", col, rel, col, col), nil
	case TestNotNull:
		return fmt.Sprintf("select %s\nfrom %s\nwhere %s is null", col, rel, col), nil
	case TestAcceptedValues:
		vals, _ := t.Args["values"].([]any)
		quote := true
		if q, ok := t.Args["quote"].(bool); ok {
			quote = q
		}
		lits := make([]string, len(vals))
		for i, v := range vals {
			s := fmt.Sprint(v)
			if quote {
				s = sqlString(s)
			}
			lits[i] = s
		}
		return fmt.Sprintf("with all_values as (\n    select %s as value_field, count(*) as n_records\n    from %s\n    group by %s\n)\nselect * from all_values\nwhere value_field not in (%s)",
			col, rel, col, strings.Join(lits, ", ")), nil
	case TestRelationships:
		parent, err := to(t)
		if err != nil {
			return "", err
		}
		field, _ := asString(t.Args["field"])
		return fmt.Sprintf("with child as (\n    select %s as from_field\n    from %s\n    where %s is not null\n),\nparent as (\n    select %s as to_field\n    from %s\n)\nselect from_field\nfrom child\nleft join parent on child.from_field = parent.to_field\nwhere parent.to_field is null",
			col, rel, col, ident(field), parent), nil
	}
	return "", fmt.Errorf("%w: test %s: generic test %q is not supported (strata runs unique, not_null, accepted_values, relationships and singular tests)", ErrConfig, t.Name, t.Kind)
}
