package gold

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Test kinds strata runs. Any other generic test (a package's, say dbt_utils.*) loads
// with its name as Kind and is reported as not supported when tests run.
const (
	TestUnique         = "unique"
	TestNotNull        = "not_null"
	TestAcceptedValues = "accepted_values"
	TestRelationships  = "relationships"
	TestSingular       = "singular"
)

// Test is one data test: a generic test from a schema.yml file or a singular test
// (tests/*.sql, a query returning the failing rows).
type Test struct {
	Name   string         // unique within the project, dbt style: not_null_orders_order_id
	Kind   string         // unique, not_null, accepted_values, relationships, singular, or an unsupported generic
	Node   string         // the model or seed tested; "source:src.table" for a source
	Column string         // the column tested, "" for model-level and singular tests
	Args   map[string]any // the test's arguments with dbt's names: values, quote, to, field
	// Severity is "error" (the default: a failure fails the build) or "warn".
	Severity string
	Where    string // a filter applied to the tested relation before testing
	Path     string // file that declared the test, relative to the project
	SQL      string // singular tests: the raw template
	Refs     []string
	Sources  []SourceRef

	tmpl *template // singular tests
}

var (
	refArg    = regexp.MustCompile(`^\s*ref\(\s*['"]([^'"]+)['"]\s*\)\s*$`)
	sourceArg = regexp.MustCompile(`^\s*source\(\s*['"]([^'"]+)['"]\s*,\s*['"]([^'"]+)['"]\s*\)\s*$`)
)

// parseTests turns the entries of a tests: (or data_tests:) list into tests. dbt writes a
// test as a bare name ("unique"), as {name: {args}} where args may nest the arguments under
// arguments: and the options under config:, or as {test_name: name, args...}.
func parseTests(entries []any, node, column, path string) ([]*Test, error) {
	var out []*Test
	for i, e := range entries {
		t := &Test{Node: node, Column: column, Path: path, Args: map[string]any{}, Severity: "error"}
		var raw map[string]any
		switch e := e.(type) {
		case string:
			t.Kind = e
		case map[string]any:
			if tn, ok := e["test_name"]; ok {
				s, err := asString(tn)
				if err != nil {
					return nil, fmt.Errorf("%w: %s: %s: test %d: test_name: %v", ErrConfig, path, node, i, err)
				}
				t.Kind = s
				raw = e
				break
			}
			if len(e) != 1 {
				return nil, fmt.Errorf("%w: %s: %s: test %d: want one test name as the key, got %d keys", ErrConfig, path, node, i, len(e))
			}
			for k, v := range e {
				t.Kind = k
				switch v := v.(type) {
				case map[string]any:
					raw = v
				case nil:
				default:
					return nil, fmt.Errorf("%w: %s: %s: test %s: arguments must be a mapping, got %v", ErrConfig, path, node, k, v)
				}
			}
		default:
			return nil, fmt.Errorf("%w: %s: %s: test %d: want a name or a mapping, got %v", ErrConfig, path, node, i, e)
		}
		var cfg nodeConfig
		for k, v := range raw {
			switch k {
			case "test_name":
			case "name":
				s, _ := asString(v)
				t.Name = s
			case "config":
				m, ok := v.(map[string]any)
				if !ok {
					return nil, fmt.Errorf("%w: %s: %s: test %s: config must be a mapping", ErrConfig, path, node, t.Kind)
				}
				if err := cfg.apply(m, path); err != nil {
					return nil, err
				}
			case "arguments": // dbt >= 1.10 nests the arguments
				m, ok := v.(map[string]any)
				if !ok {
					return nil, fmt.Errorf("%w: %s: %s: test %s: arguments must be a mapping", ErrConfig, path, node, t.Kind)
				}
				for ak, av := range m {
					t.Args[ak] = av
				}
			case "severity", "where", "tags", "enabled":
				if err := cfg.apply(map[string]any{k: v}, path); err != nil {
					return nil, err
				}
			default:
				t.Args[k] = v
			}
		}
		if cfg.Enabled != nil && !*cfg.Enabled {
			continue
		}
		if cfg.Severity != "" {
			t.Severity = cfg.Severity
		}
		t.Where = cfg.Where
		if c, ok := t.Args["column_name"]; ok && t.Column == "" {
			t.Column, _ = asString(c)
			delete(t.Args, "column_name")
		}
		if err := t.check(); err != nil {
			return nil, fmt.Errorf("%w: %s: %s: %v", ErrConfig, path, node, err)
		}
		if t.Name == "" {
			t.Name = t.defaultName()
		}
		out = append(out, t)
	}
	return out, nil
}

// check validates a generic test's arguments and records what relationships points to.
func (t *Test) check() error {
	switch t.Kind {
	case TestUnique, TestNotNull:
		if t.Column == "" {
			return fmt.Errorf("test %s needs a column (column_name)", t.Kind)
		}
	case TestAcceptedValues:
		if t.Column == "" {
			return fmt.Errorf("test accepted_values needs a column (column_name)")
		}
		if _, ok := t.Args["values"].([]any); !ok {
			return fmt.Errorf("test accepted_values on %s needs a values: list", t.Column)
		}
	case TestRelationships:
		if t.Column == "" {
			return fmt.Errorf("test relationships needs a column (column_name)")
		}
		to, _ := asString(t.Args["to"])
		field, _ := asString(t.Args["field"])
		if to == "" || field == "" {
			return fmt.Errorf("test relationships on %s needs to: and field:", t.Column)
		}
		if m := refArg.FindStringSubmatch(to); m != nil {
			t.Refs = append(t.Refs, m[1])
		} else if m := sourceArg.FindStringSubmatch(to); m != nil {
			t.Sources = append(t.Sources, SourceRef{Source: m[1], Table: m[2]})
		} else {
			return fmt.Errorf("test relationships on %s: to: want ref('model') or source('src', 'table'), got %q", t.Column, to)
		}
	}
	return nil
}

func (t *Test) defaultName() string {
	node := strings.NewReplacer("source:", "source_", ".", "_").Replace(t.Node)
	parts := []string{strings.ReplaceAll(t.Kind, ".", "_"), node}
	if t.Column != "" {
		parts = append(parts, t.Column)
	}
	switch t.Kind {
	case TestAcceptedValues:
		vals, _ := t.Args["values"].([]any)
		for _, v := range vals {
			parts = append(parts, fmt.Sprint(v))
		}
	case TestRelationships:
		to, _ := asString(t.Args["to"])
		field, _ := asString(t.Args["field"])
		parts = append(parts, field, nonWord.ReplaceAllString(to, "_"))
	}
	return strings.Trim(nonWord.ReplaceAllString(strings.Join(parts, "_"), "_"), "_")
}

var nonWord = regexp.MustCompile(`[^A-Za-z0-9_]+`)

// uniqueTestNames makes test names unique by suffixing repeats with _2, _3, ...
func uniqueTestNames(tests []*Test) {
	seen := map[string]int{}
	sort.SliceStable(tests, func(i, j int) bool { return tests[i].Name < tests[j].Name })
	for _, t := range tests {
		seen[t.Name]++
		if n := seen[t.Name]; n > 1 {
			t.Name = fmt.Sprintf("%s_%d", t.Name, n)
		}
	}
}
