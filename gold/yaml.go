package gold

import (
	"fmt"
	"sort"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// projectFile is dbt_project.yml. Only the keys strata acts on are read; the rest (profile,
// clean-targets, ...) are accepted and ignored, so a dbt project loads unedited.
type projectFile struct {
	Name        string         `yaml:"name"`
	Version     any            `yaml:"version"`
	ModelPaths  []string       `yaml:"model-paths"`
	SourcePaths []string       `yaml:"source-paths"` // dbt < 1.0 name of model-paths
	SeedPaths   []string       `yaml:"seed-paths"`
	DataPaths   []string       `yaml:"data-paths"` // dbt < 1.0 name of seed-paths
	TestPaths   []string       `yaml:"test-paths"`
	MacroPaths  []string       `yaml:"macro-paths"`
	TargetPath  string         `yaml:"target-path"`
	Vars        map[string]any `yaml:"vars"`
	Models      map[string]any `yaml:"models"`
	Seeds       map[string]any `yaml:"seeds"`
}

// schemaFile is one schema.yml (any .yml/.yaml file under the model or seed paths).
type schemaFile struct {
	Models  []nodeSpec   `yaml:"models"`
	Seeds   []nodeSpec   `yaml:"seeds"`
	Sources []sourceSpec `yaml:"sources"`
}

type nodeSpec struct {
	Name        string         `yaml:"name"`
	Description string         `yaml:"description"`
	Config      map[string]any `yaml:"config"`
	Tests       []any          `yaml:"tests"`
	DataTests   []any          `yaml:"data_tests"` // dbt >= 1.8 name of tests
	Columns     []columnSpec   `yaml:"columns"`
}

type columnSpec struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	DataType    string `yaml:"data_type"`
	Tests       []any  `yaml:"tests"`
	DataTests   []any  `yaml:"data_tests"`
}

type sourceSpec struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	Schema      string `yaml:"schema"`
	Database    string `yaml:"database"`
	Tables      []struct {
		Name        string       `yaml:"name"`
		Identifier  string       `yaml:"identifier"`
		Description string       `yaml:"description"`
		Tests       []any        `yaml:"tests"`
		DataTests   []any        `yaml:"data_tests"`
		Columns     []columnSpec `yaml:"columns"`
	} `yaml:"tables"`
}

// nodeConfig is the configuration that dbt_project.yml, schema.yml and config() set on a
// model or seed. Later layers override earlier ones; tags accumulate, as in dbt.
type nodeConfig struct {
	Materialized        string
	UniqueKey           []string
	IncrementalStrategy string
	Tags                []string
	Alias               string
	Enabled             *bool
	ColumnTypes         map[string]string // seeds
	Severity            string            // tests
	Where               string            // tests
}

// configKeys are the keys that are config, not sub-folders, when written without '+'.
var configKeys = map[string]bool{
	"materialized": true, "unique_key": true, "incremental_strategy": true, "tags": true,
	"alias": true, "enabled": true, "column_types": true, "schema": true, "database": true,
	"docs": true, "meta": true, "persist_docs": true, "full_refresh": true, "on_schema_change": true,
	"quote_columns": true, "delimiter": true, "severity": true, "where": true, "grants": true,
	"pre-hook": true, "post-hook": true, "contract": true, "sql_header": true, "group": true,
	"access": true, "cluster_by": true, "partition_by": true, "sort": true, "dist": true,
	"unlogged": true, "indexes": true, "store_failures": true, "limit": true, "error_if": true,
	"warn_if": true, "fail_calc": true,
}

// apply sets the config keys found in m (keys may carry dbt's '+' prefix). where names
// the file for errors.
func (c *nodeConfig) apply(m map[string]any, where string) error {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := m[k]
		key := strings.TrimPrefix(k, "+")
		var err error
		switch key {
		case "materialized":
			c.Materialized, err = asString(v)
		case "unique_key":
			c.UniqueKey, err = asStrings(v)
		case "incremental_strategy":
			c.IncrementalStrategy, err = asString(v)
		case "tags":
			var tags []string
			tags, err = asStrings(v)
			c.Tags = appendUnique(c.Tags, tags...)
		case "alias":
			c.Alias, err = asString(v)
		case "enabled":
			b, ok := v.(bool)
			if !ok {
				err = fmt.Errorf("want a boolean, got %v", v)
			}
			c.Enabled = &b
		case "column_types":
			mm, ok := v.(map[string]any)
			if !ok {
				err = fmt.Errorf("want a mapping, got %v", v)
				break
			}
			if c.ColumnTypes == nil {
				c.ColumnTypes = map[string]string{}
			}
			for col, t := range mm {
				c.ColumnTypes[col], err = asString(t)
				if err != nil {
					break
				}
			}
		case "severity":
			c.Severity, err = asString(v)
			c.Severity = strings.ToLower(c.Severity)
		case "where":
			c.Where, err = asString(v)
		}
		if err != nil {
			return fmt.Errorf("%w: %s: config %s: %v", ErrConfig, where, key, err)
		}
	}
	return nil
}

func appendUnique(dst []string, src ...string) []string {
	for _, s := range src {
		found := false
		for _, d := range dst {
			if d == s {
				found = true
				break
			}
		}
		if !found {
			dst = append(dst, s)
		}
	}
	return dst
}

func asString(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case nil:
		return "", nil
	case int, int64, float64, bool:
		return fmt.Sprint(v), nil
	}
	return "", fmt.Errorf("want a string, got %v", v)
}

// asStrings accepts a string or a list of strings (unique_key and tags take both).
func asStrings(v any) ([]string, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []string{v}, nil
	case []string:
		return v, nil
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, err := asString(e)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("want a string or a list of strings, got %v", v)
}

// folderConfigs walks the models: (or seeds:) block of dbt_project.yml. The block's first
// level names the project (configs under another project's name are for packages and are
// ignored); below it, '+key' or a known config key is config, any other mapping is a
// sub-folder. It returns one config layer per folder path ("" for the project itself).
func folderConfigs(block map[string]any, project string) (map[string]map[string]any, error) {
	out := map[string]map[string]any{}
	top := map[string]any{}
	for k, v := range block {
		if isConfigKey(k, v) {
			top[k] = v
		}
	}
	if len(top) > 0 {
		out[""] = top
	}
	sub, ok := block[project].(map[string]any)
	if !ok {
		return out, nil
	}
	var walk func(path string, m map[string]any)
	walk = func(path string, m map[string]any) {
		layer := out[path]
		if layer == nil {
			layer = map[string]any{}
		}
		for k, v := range m {
			if isConfigKey(k, v) {
				layer[k] = v
				continue
			}
			if mm, ok := v.(map[string]any); ok {
				walk(strings.TrimPrefix(path+"/"+k, "/"), mm)
			}
		}
		if len(layer) > 0 {
			out[path] = layer
		}
	}
	walk("", sub)
	return out, nil
}

func isConfigKey(k string, v any) bool {
	if strings.HasPrefix(k, "+") {
		return true
	}
	if !configKeys[k] {
		return false
	}
	_, isMap := v.(map[string]any)
	return !isMap || k == "column_types" || k == "meta" || k == "docs" || k == "persist_docs"
}

func unmarshalYAML(data []byte, v any, where string) error {
	if err := yaml.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrConfig, where, err)
	}
	return nil
}
