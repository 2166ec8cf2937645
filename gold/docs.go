package gold

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/strata-data/strata/plan"
)

// Catalog documents a project: every model, seed and source with its columns, and the
// lineage edges between them. Column types and row counts are known once a build has run.
type Catalog struct {
	Project string        `json:"project"`
	Nodes   []CatalogNode `json:"nodes"`
	Edges   []Edge        `json:"edges"`
}

// CatalogNode is one model, seed or source in a [Catalog].
type CatalogNode struct {
	Name         string          `json:"name"` // sources: source:name.table
	Kind         string          `json:"kind"` // model, seed or source
	Materialized string          `json:"materialized,omitempty"`
	Path         string          `json:"path,omitempty"`
	Relation     string          `json:"relation"`
	Description  string          `json:"description,omitempty"`
	Tags         []string        `json:"tags,omitempty"`
	Columns      []CatalogColumn `json:"columns"`
	Rows         *int64          `json:"rows,omitempty"`
	DependsOn    []string        `json:"depends_on,omitempty"`
}

// CatalogColumn is one column of a [CatalogNode].
type CatalogColumn struct {
	Name        string `json:"name"`
	Type        string `json:"type,omitempty"`
	Description string `json:"description,omitempty"`
}

// Edge is one lineage edge: To reads From.
type Edge struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// NodeStats is what a build learned about a node's output.
type NodeStats struct {
	Columns []CatalogColumn // name and type, in output order
	Rows    int64           // -1: not known (views and ephemerals are not run on their own)
}

// TargetStats reads the column types and row counts of the outputs already built into
// target (Parquet footers only), for a catalog written without a build.
func (p *Project) TargetStats(ctx context.Context, target string) (map[string]NodeStats, error) {
	out := map[string]NodeStats{}
	for _, m := range p.SortedModels() {
		if m.Materialized != Table && m.Materialized != Incremental {
			continue
		}
		path := filepath.Join(target, m.Relation()+".parquet")
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		t, err := plan.OpenParquet(path)
		if err != nil {
			return nil, fmt.Errorf("gold: %s: %w", m.Name, err)
		}
		st, err := t.Stats(ctx)
		if err != nil {
			return nil, fmt.Errorf("gold: %s: %w", m.Name, err)
		}
		out[m.Name] = NodeStats{Columns: schemaColumns(t.Schema()), Rows: st.Rows}
	}
	return out, nil
}

// Catalog documents the project. stats, keyed by node name, fills in column types and row
// counts from a build; it may be nil.
func (p *Project) Catalog(stats map[string]NodeStats) (*Catalog, error) {
	d, err := p.DAG()
	if err != nil {
		return nil, err
	}
	c := &Catalog{Project: p.Name}
	for _, key := range sortedKeys(p.Sources) {
		s := p.Sources[key]
		name := "source:" + key
		c.Nodes = append(c.Nodes, CatalogNode{
			Name: name, Kind: "source", Relation: s.Relation(), Description: s.Description,
			Columns: mergeColumns(s.Columns, stats, name),
			Rows:    rows(stats, name),
		})
	}
	for _, n := range d.Order() {
		if s := p.Seeds[n]; s != nil {
			c.Nodes = append(c.Nodes, CatalogNode{
				Name: n, Kind: "seed", Materialized: "seed", Path: s.Path, Relation: n,
				Description: s.Description, Tags: s.Tags,
				Columns: mergeColumns(s.Columns, stats, n), Rows: rows(stats, n),
			})
			continue
		}
		m := p.Models[n]
		node := CatalogNode{
			Name: n, Kind: "model", Materialized: m.Materialized, Path: m.Path, Relation: m.Relation(),
			Description: m.Description, Tags: m.Tags,
			Columns: mergeColumns(m.Columns, stats, n), Rows: rows(stats, n),
		}
		for _, s := range m.Sources {
			node.DependsOn = append(node.DependsOn, "source:"+s.String())
			c.Edges = append(c.Edges, Edge{From: "source:" + s.String(), To: n})
		}
		for _, r := range m.Refs {
			node.DependsOn = append(node.DependsOn, r)
			c.Edges = append(c.Edges, Edge{From: r, To: n})
		}
		c.Nodes = append(c.Nodes, node)
	}
	return c, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func rows(stats map[string]NodeStats, n string) *int64 {
	if s, ok := stats[n]; ok && s.Rows >= 0 {
		r := s.Rows
		return &r
	}
	return nil
}

// mergeColumns lists the built columns (with their types) in output order, with the
// documented descriptions; documented columns the build did not produce follow.
func mergeColumns(doc []Column, stats map[string]NodeStats, n string) []CatalogColumn {
	out := []CatalogColumn{}
	used := map[string]bool{}
	descr := map[string]Column{}
	for _, c := range doc {
		descr[strings.ToLower(c.Name)] = c
	}
	if s, ok := stats[n]; ok {
		for _, c := range s.Columns {
			d := descr[strings.ToLower(c.Name)]
			used[strings.ToLower(c.Name)] = true
			out = append(out, CatalogColumn{Name: c.Name, Type: c.Type, Description: d.Description})
		}
	}
	for _, c := range doc {
		if !used[strings.ToLower(c.Name)] {
			out = append(out, CatalogColumn{Name: c.Name, Type: c.DataType, Description: c.Description})
		}
	}
	return out
}

// WriteJSON writes the catalog as indented JSON.
func (c *Catalog) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(c)
}

func (n *CatalogNode) label() string {
	kind := n.Materialized
	if n.Kind == "source" {
		kind = "source"
	}
	l := n.Name + " (" + kind
	if n.Rows != nil {
		l += fmt.Sprintf(", %d rows", *n.Rows)
	}
	return l + ")"
}

// WriteMermaid writes the lineage graph as a Mermaid flowchart.
func (c *Catalog) WriteMermaid(w io.Writer) error {
	var b strings.Builder
	b.WriteString("flowchart LR\n")
	ids := map[string]string{}
	for i, n := range c.Nodes {
		id := fmt.Sprintf("n%d", i)
		ids[n.Name] = id
		open, close := "[", "]"
		switch n.Kind {
		case "source":
			open, close = "[(", ")]"
		case "seed":
			open, close = "[/", "/]"
		default:
			if n.Materialized == View || n.Materialized == Ephemeral {
				open, close = "(", ")"
			}
		}
		fmt.Fprintf(&b, "  %s%s\"%s\"%s\n", id, open, strings.ReplaceAll(n.label(), `"`, "#quot;"), close)
	}
	for _, e := range c.Edges {
		fmt.Fprintf(&b, "  %s --> %s\n", ids[e.From], ids[e.To])
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteDOT writes the lineage graph in Graphviz's DOT language.
func (c *Catalog) WriteDOT(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "digraph %s {\n  rankdir=LR;\n  node [fontname=\"Helvetica\"];\n", dotQuote(c.Project))
	for _, n := range c.Nodes {
		shape := "box"
		switch {
		case n.Kind == "source":
			shape = "cylinder"
		case n.Kind == "seed":
			shape = "folder"
		case n.Materialized == View || n.Materialized == Ephemeral:
			shape = "ellipse"
		}
		fmt.Fprintf(&b, "  %s [label=%s, shape=%s];\n", dotQuote(n.Name), dotQuote(n.label()), shape)
	}
	for _, e := range c.Edges {
		fmt.Fprintf(&b, "  %s -> %s;\n", dotQuote(e.From), dotQuote(e.To))
	}
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func dotQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
