package gold

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Errors returned by gold, matched with errors.Is.
var (
	ErrConfig    = errors.New("gold: bad project configuration")
	ErrTemplate  = errors.New("gold: template error")
	ErrUnknown   = errors.New("gold: unknown reference")
	ErrCycle     = errors.New("gold: dependency cycle")
	ErrSelection = errors.New("gold: bad selector")
)

// Materializations a model can have.
const (
	View        = "view"        // not stored: inlined into the models that ref it
	Table       = "table"       // rebuilt in full on every build
	Incremental = "incremental" // built once, then only new rows are added or merged
	Ephemeral   = "ephemeral"   // not stored: inlined into its dependants as a CTE
)

// Incremental strategies.
const (
	StrategyAppend       = "append"
	StrategyMerge        = "merge"
	StrategyDeleteInsert = "delete+insert"
)

// Project is a loaded dbt-style project.
type Project struct {
	Dir     string // the project directory
	Name    string
	Vars    map[string]any
	Models  map[string]*Model
	Seeds   map[string]*Seed
	Sources map[string]*Source // by "source.table"
	Tests   []*Test            // sorted by name
	// TargetPath is where outputs go unless a build says otherwise: target-path of
	// dbt_project.yml, relative to Dir (default "target").
	TargetPath string

	macros string // the text of every macro file, placed before each template
}

// Model is one SQL model file.
type Model struct {
	Name        string
	Path        string // relative to the project directory, slash-separated
	RawSQL      string // the file's text
	Description string
	Columns     []Column

	Materialized        string   // view, table, incremental or ephemeral
	UniqueKey           []string // incremental merge and delete+insert
	IncrementalStrategy string   // append, merge or delete+insert
	Tags                []string
	Alias               string // the relation name when it differs from Name

	Refs    []string    // the models and seeds it refs, in first-use order
	Sources []SourceRef // the sources it reads

	tmpl *template
}

// Relation is the name a model's output is known by: its alias or its name.
func (m *Model) Relation() string {
	if m.Alias != "" {
		return m.Alias
	}
	return m.Name
}

// Column is a documented column of a model, seed or source.
type Column struct {
	Name        string
	Description string
	DataType    string // data_type from schema.yml, "" when not given
}

// Seed is a CSV file loaded as a table.
type Seed struct {
	Name        string
	Path        string
	Description string
	Columns     []Column
	ColumnTypes map[string]string // column_types config: a type name for some columns
	Tags        []string
}

// Source is one table of a schema.yml sources: entry.
type Source struct {
	SourceName  string // the source's name, first argument of source()
	Name        string // the table's name, second argument of source()
	Schema      string // defaults to SourceName
	Identifier  string // the table's name in the lake, defaults to Name
	Description string
	Columns     []Column
}

// Relation is the dotted name the source is read by: schema.identifier.
func (s *Source) Relation() string { return s.Schema + "." + s.Identifier }

// Load reads the project in dir. It renders every model once (refs resolved to their own
// names) to collect refs, sources and config() calls, and checks that every ref and source
// exists. It does not check the DAG for cycles: [Project.DAG] does.
func Load(dir string) (*Project, error) { return LoadConfig{}.Load(dir) }

// LoadConfig adjusts how a project loads; the zero value loads it as written.
type LoadConfig struct {
	// Vars override the project's vars, as dbt's --vars does.
	Vars map[string]any
}

// Load reads the project in dir (see the function [Load]).
func (c LoadConfig) Load(dir string) (*Project, error) {
	var pf projectFile
	data, err := os.ReadFile(filepath.Join(dir, "dbt_project.yml"))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	if err := unmarshalYAML(data, &pf, "dbt_project.yml"); err != nil {
		return nil, err
	}
	if pf.Name == "" {
		return nil, fmt.Errorf("%w: dbt_project.yml: name is missing", ErrConfig)
	}
	p := &Project{
		Dir: dir, Name: pf.Name, Vars: map[string]any{},
		Models: map[string]*Model{}, Seeds: map[string]*Seed{}, Sources: map[string]*Source{},
	}
	for k, v := range pf.Vars {
		if scoped, ok := v.(map[string]any); ok && k == pf.Name {
			for sk, sv := range scoped {
				p.Vars[sk] = sv
			}
			continue
		}
		p.Vars[k] = v
	}
	p.TargetPath = pf.TargetPath
	if p.TargetPath == "" {
		p.TargetPath = "target"
	}
	for k, v := range c.Vars {
		p.Vars[k] = v
	}
	modelPaths := firstNonEmpty(pf.ModelPaths, pf.SourcePaths, []string{"models"})
	seedPaths := firstNonEmpty(pf.SeedPaths, pf.DataPaths, []string{"seeds"})
	testPaths := firstNonEmpty(pf.TestPaths, []string{"tests"})
	macroPaths := firstNonEmpty(pf.MacroPaths, []string{"macros"})

	if err := p.loadMacros(macroPaths); err != nil {
		return nil, err
	}
	modelFolders, err := folderConfigs(pf.Models, pf.Name)
	if err != nil {
		return nil, err
	}
	seedFolders, err := folderConfigs(pf.Seeds, pf.Name)
	if err != nil {
		return nil, err
	}

	// Files first, then schema.yml, then rendering: schema.yml config sits between the
	// folder config and the in-file config().
	var schemas []string
	for _, mp := range modelPaths {
		err := p.walk(mp, func(rel string) error {
			switch strings.ToLower(filepath.Ext(rel)) {
			case ".sql":
				return p.addModel(rel)
			case ".yml", ".yaml":
				schemas = append(schemas, rel)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	for _, sp := range seedPaths {
		err := p.walk(sp, func(rel string) error {
			switch strings.ToLower(filepath.Ext(rel)) {
			case ".csv":
				return p.addSeed(rel)
			case ".yml", ".yaml":
				schemas = append(schemas, rel)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	specs := map[string]*nodeSpec{}
	seedSpecs := map[string]*nodeSpec{}
	sort.Strings(schemas)
	for _, rel := range schemas {
		if err := p.loadSchema(rel, specs, seedSpecs); err != nil {
			return nil, err
		}
	}
	for _, s := range p.sortedSeeds() {
		var cfg nodeConfig
		if err := applyFolders(&cfg, seedFolders, s.Path, seedPaths); err != nil {
			return nil, err
		}
		if spec := seedSpecs[s.Name]; spec != nil {
			if err := cfg.apply(spec.Config, "schema.yml seed "+s.Name); err != nil {
				return nil, err
			}
		}
		if cfg.Enabled != nil && !*cfg.Enabled {
			delete(p.Seeds, s.Name)
			continue
		}
		s.ColumnTypes, s.Tags = cfg.ColumnTypes, cfg.Tags
	}

	for _, m := range p.SortedModels() {
		var cfg nodeConfig
		if err := applyFolders(&cfg, modelFolders, m.Path, modelPaths); err != nil {
			return nil, err
		}
		spec := specs[m.Name]
		if spec != nil {
			if err := cfg.apply(spec.Config, "schema.yml model "+m.Name); err != nil {
				return nil, err
			}
		}
		var fp firstPass
		if _, err := p.render(m.tmpl, &fp, Resolver{This: m.Name}); err != nil {
			return nil, err
		}
		if err := cfg.apply(fp.config, m.Path); err != nil {
			return nil, err
		}
		if cfg.Enabled != nil && !*cfg.Enabled {
			delete(p.Models, m.Name)
			continue
		}
		m.Refs, m.Sources = fp.refs, fp.sources
		m.Materialized = cfg.Materialized
		if m.Materialized == "" {
			m.Materialized = View // dbt's default
		}
		m.UniqueKey, m.IncrementalStrategy, m.Tags, m.Alias = cfg.UniqueKey, cfg.IncrementalStrategy, cfg.Tags, cfg.Alias
		if err := m.validate(); err != nil {
			return nil, err
		}
	}

	for _, m := range p.Models {
		for _, r := range m.Refs {
			if !p.hasNode(r) {
				return nil, fmt.Errorf("%w: %s: ref(%q): no model or seed has that name", ErrUnknown, m.Path, r)
			}
		}
		for _, s := range m.Sources {
			if p.Sources[s.String()] == nil {
				return nil, fmt.Errorf("%w: %s: source(%q, %q): not declared in any schema.yml sources:", ErrUnknown, m.Path, s.Source, s.Table)
			}
		}
	}
	for _, tp := range testPaths {
		err := p.walk(tp, func(rel string) error {
			if strings.ToLower(filepath.Ext(rel)) == ".sql" {
				return p.addSingularTest(rel)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	for _, t := range p.Tests {
		if t.Node != "" && !strings.HasPrefix(t.Node, "source:") && !p.hasNode(t.Node) {
			return nil, fmt.Errorf("%w: %s: test %s is on %q, which is no model or seed", ErrUnknown, t.Path, t.Name, t.Node)
		}
		for _, r := range t.Refs {
			if !p.hasNode(r) {
				return nil, fmt.Errorf("%w: %s: test %s: ref(%q): no model or seed has that name", ErrUnknown, t.Path, t.Name, r)
			}
		}
		for _, s := range t.Sources {
			if p.Sources[s.String()] == nil {
				return nil, fmt.Errorf("%w: %s: test %s: source(%q, %q) is not declared", ErrUnknown, t.Path, t.Name, s.Source, s.Table)
			}
		}
	}
	uniqueTestNames(p.Tests)
	return p, nil
}

func (m *Model) validate() error {
	switch m.Materialized {
	case View, Table, Ephemeral:
	case Incremental:
		switch m.IncrementalStrategy {
		case "":
			m.IncrementalStrategy = StrategyAppend
			if len(m.UniqueKey) > 0 {
				m.IncrementalStrategy = StrategyMerge // dbt's default once unique_key is set
			}
		case StrategyAppend:
		case StrategyMerge, StrategyDeleteInsert:
			if len(m.UniqueKey) == 0 {
				return fmt.Errorf("%w: %s: incremental_strategy %q needs a unique_key", ErrConfig, m.Path, m.IncrementalStrategy)
			}
		default:
			return fmt.Errorf("%w: %s: incremental_strategy %q: want append, merge or delete+insert", ErrConfig, m.Path, m.IncrementalStrategy)
		}
	default:
		return fmt.Errorf("%w: %s: materialized %q: want view, table, incremental or ephemeral", ErrConfig, m.Path, m.Materialized)
	}
	return nil
}

func (p *Project) hasNode(name string) bool {
	return p.Models[name] != nil || p.Seeds[name] != nil
}

// SortedModels returns the models sorted by name.
func (p *Project) SortedModels() []*Model {
	out := make([]*Model, 0, len(p.Models))
	for _, m := range p.Models {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (p *Project) sortedSeeds() []*Seed {
	out := make([]*Seed, 0, len(p.Seeds))
	for _, s := range p.Seeds {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// walk calls fn with the slash-separated project-relative path of every file under the
// project-relative directory sub (a missing directory is empty).
func (p *Project) walk(sub string, fn func(rel string) error) error {
	root := filepath.Join(p.Dir, filepath.FromSlash(sub))
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && path == root {
				return fs.SkipDir
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(p.Dir, path)
		if err != nil {
			return err
		}
		if err := fn(filepath.ToSlash(rel)); err != nil {
			return &fnError{err}
		}
		return nil
	})
	var fe *fnError
	if errors.As(err, &fe) {
		return fe.err
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrConfig, err)
	}
	return nil
}

// fnError carries a walk callback's error through filepath.WalkDir unwrapped.
type fnError struct{ err error }

func (e *fnError) Error() string { return e.err.Error() }

func (p *Project) read(rel string) (string, error) {
	b, err := os.ReadFile(filepath.Join(p.Dir, filepath.FromSlash(rel)))
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrConfig, err)
	}
	return string(b), nil
}

func (p *Project) loadMacros(paths []string) error {
	var files []string
	for _, mp := range paths {
		if err := p.walk(mp, func(rel string) error {
			if strings.ToLower(filepath.Ext(rel)) == ".sql" {
				files = append(files, rel)
			}
			return nil
		}); err != nil {
			return err
		}
	}
	sort.Strings(files)
	var b strings.Builder
	for _, f := range files {
		src, err := p.read(f)
		if err != nil {
			return err
		}
		// Parse each macro file alone first, so an error names its own file and line.
		if _, err := parseTemplate(f, "", src); err != nil {
			return err
		}
		b.WriteString(src)
		if !strings.HasSuffix(src, "\n") {
			b.WriteString("\n")
		}
	}
	p.macros = b.String()
	return nil
}

func (p *Project) addModel(rel string) error {
	name := strings.TrimSuffix(pathBase(rel), filepath.Ext(rel))
	if old := p.Models[name]; old != nil {
		return fmt.Errorf("%w: two models are named %q: %s and %s", ErrConfig, name, old.Path, rel)
	}
	src, err := p.read(rel)
	if err != nil {
		return err
	}
	t, err := parseTemplate(rel, p.macros, src)
	if err != nil {
		return err
	}
	p.Models[name] = &Model{Name: name, Path: rel, RawSQL: src, tmpl: t}
	return nil
}

func (p *Project) addSeed(rel string) error {
	name := strings.TrimSuffix(pathBase(rel), filepath.Ext(rel))
	if old := p.Seeds[name]; old != nil {
		return fmt.Errorf("%w: two seeds are named %q: %s and %s", ErrConfig, name, old.Path, rel)
	}
	if p.Models[name] != nil {
		return fmt.Errorf("%w: seed %s and model %s share the name %q", ErrConfig, rel, p.Models[name].Path, name)
	}
	p.Seeds[name] = &Seed{Name: name, Path: rel}
	return nil
}

func (p *Project) addSingularTest(rel string) error {
	src, err := p.read(rel)
	if err != nil {
		return err
	}
	t, err := parseTemplate(rel, p.macros, src)
	if err != nil {
		return err
	}
	var fp firstPass
	if _, err := p.render(t, &fp, Resolver{}); err != nil {
		return err
	}
	test := &Test{
		Name: strings.TrimSuffix(pathBase(rel), filepath.Ext(rel)), Kind: TestSingular,
		Path: rel, SQL: src, Refs: fp.refs, Sources: fp.sources, Severity: "error",
	}
	var cfg nodeConfig
	if err := cfg.apply(fp.config, rel); err != nil {
		return err
	}
	if cfg.Severity != "" {
		test.Severity = cfg.Severity
	}
	if len(fp.refs) > 0 {
		test.Node = fp.refs[0]
	}
	test.tmpl = t
	p.Tests = append(p.Tests, test)
	return nil
}

func (p *Project) loadSchema(rel string, models, seeds map[string]*nodeSpec) error {
	src, err := p.read(rel)
	if err != nil {
		return err
	}
	var sf schemaFile
	if err := unmarshalYAML([]byte(src), &sf, rel); err != nil {
		return err
	}
	for i := range sf.Models {
		spec := &sf.Models[i]
		if models[spec.Name] != nil {
			return fmt.Errorf("%w: %s: model %q is described twice", ErrConfig, rel, spec.Name)
		}
		models[spec.Name] = spec
		m := p.Models[spec.Name]
		if m == nil {
			return fmt.Errorf("%w: %s: describes model %q, which has no .sql file", ErrUnknown, rel, spec.Name)
		}
		m.Description = spec.Description
		cols, tests, err := columnsAndTests(spec, spec.Name, rel)
		if err != nil {
			return err
		}
		m.Columns = cols
		p.Tests = append(p.Tests, tests...)
	}
	for i := range sf.Seeds {
		spec := &sf.Seeds[i]
		seeds[spec.Name] = spec
		s := p.Seeds[spec.Name]
		if s == nil {
			return fmt.Errorf("%w: %s: describes seed %q, which has no .csv file", ErrUnknown, rel, spec.Name)
		}
		s.Description = spec.Description
		cols, tests, err := columnsAndTests(spec, spec.Name, rel)
		if err != nil {
			return err
		}
		s.Columns = cols
		p.Tests = append(p.Tests, tests...)
	}
	for _, src := range sf.Sources {
		if src.Name == "" {
			return fmt.Errorf("%w: %s: a source has no name", ErrConfig, rel)
		}
		for _, tb := range src.Tables {
			s := &Source{
				SourceName: src.Name, Name: tb.Name, Schema: src.Schema, Identifier: tb.Identifier,
				Description: tb.Description,
			}
			if s.Schema == "" {
				s.Schema = src.Name
			}
			if s.Identifier == "" {
				s.Identifier = tb.Name
			}
			key := src.Name + "." + tb.Name
			if p.Sources[key] != nil {
				return fmt.Errorf("%w: %s: source %s is declared twice", ErrConfig, rel, key)
			}
			node := "source:" + key
			tests, err := parseTests(append(tb.Tests, tb.DataTests...), node, "", rel)
			if err != nil {
				return err
			}
			p.Tests = append(p.Tests, tests...)
			for _, c := range tb.Columns {
				s.Columns = append(s.Columns, Column{Name: c.Name, Description: c.Description, DataType: c.DataType})
				tests, err := parseTests(append(c.Tests, c.DataTests...), node, c.Name, rel)
				if err != nil {
					return err
				}
				p.Tests = append(p.Tests, tests...)
			}
			p.Sources[key] = s
		}
	}
	return nil
}

func columnsAndTests(spec *nodeSpec, node, rel string) ([]Column, []*Test, error) {
	tests, err := parseTests(append(spec.Tests, spec.DataTests...), node, "", rel)
	if err != nil {
		return nil, nil, err
	}
	var cols []Column
	for _, c := range spec.Columns {
		if c.Name == "" {
			return nil, nil, fmt.Errorf("%w: %s: %s: a column has no name", ErrConfig, rel, node)
		}
		cols = append(cols, Column{Name: c.Name, Description: c.Description, DataType: c.DataType})
		ct, err := parseTests(append(c.Tests, c.DataTests...), node, c.Name, rel)
		if err != nil {
			return nil, nil, err
		}
		tests = append(tests, ct...)
	}
	return cols, tests, nil
}

// applyFolders applies the dbt_project.yml config layers for a file, from the project
// level down to its deepest folder. Folder paths are relative to the model (or seed)
// path the file is under.
func applyFolders(cfg *nodeConfig, layers map[string]map[string]any, rel string, roots []string) error {
	dir := pathDir(rel)
	for _, root := range roots {
		root = strings.Trim(filepath.ToSlash(root), "/")
		if dir == root || strings.HasPrefix(dir, root+"/") {
			dir = strings.TrimPrefix(strings.TrimPrefix(dir, root), "/")
			break
		}
	}
	if l := layers[""]; l != nil {
		if err := cfg.apply(l, "dbt_project.yml"); err != nil {
			return err
		}
	}
	var parts []string
	if dir != "" {
		parts = strings.Split(dir, "/")
	}
	for i := range parts {
		if l := layers[strings.Join(parts[:i+1], "/")]; l != nil {
			if err := cfg.apply(l, "dbt_project.yml"); err != nil {
				return err
			}
		}
	}
	// A file's own name may carry config too (models: shop: staging: stg_orders: ...).
	name := strings.TrimSuffix(pathBase(rel), filepath.Ext(rel))
	key := name
	if dir != "" {
		key = dir + "/" + name
	}
	if l := layers[key]; l != nil {
		return cfg.apply(l, "dbt_project.yml")
	}
	return nil
}

func firstNonEmpty(lists ...[]string) []string {
	for _, l := range lists {
		if len(l) > 0 {
			return l
		}
	}
	return nil
}

func pathBase(rel string) string {
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		return rel[i+1:]
	}
	return rel
}

func pathDir(rel string) string {
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		return rel[:i]
	}
	return ""
}
