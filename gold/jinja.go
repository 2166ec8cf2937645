package gold

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/nikolalohinski/gonja/v2"
	"github.com/nikolalohinski/gonja/v2/config"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/loaders"
	"github.com/nikolalohinski/gonja/v2/parser"
	"github.com/nikolalohinski/gonja/v2/tokens"
)

// SourceRef is one source('source', 'table') call.
type SourceRef struct {
	Source string
	Table  string
}

// String is the dotted name, source.table.
func (s SourceRef) String() string { return s.Source + "." + s.Table }

// Resolver answers the Jinja calls that name relations during the second rendering, the
// one whose SQL is planned. The zero value renders ref('x') as x and source('s', 't') as
// s.t, with is_incremental() false.
type Resolver struct {
	Ref           func(name string) (string, error)
	Source        func(source, table string) (string, error)
	This          string // what {{ this }} renders as: the model's own relation
	IsIncremental bool   // what is_incremental() returns
}

// template is a parsed model or test file. prelude is the number of lines of project
// macros placed before the file's own text, subtracted from line numbers in errors.
type template struct {
	path    string
	tmpl    *exec.Template
	prelude int
}

// firstPass is what rendering a model without resolution learns about it.
type firstPass struct {
	refs    []string
	sources []SourceRef
	config  map[string]any
}

var jinjaConfig = func() *config.Config {
	c := config.New()
	c.KeepTrailingNewline = true
	return c
}()

func init() {
	// gonja logs through logrus at error level for values it cannot convert; the error it
	// returns says the same, so its log is noise in a CLI.
	gonja.SetLoggerOutput(discard{})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// parseTemplate parses src (a file at path, relative to the project) with the project's
// macros before it.
func parseTemplate(path, macros, src string) (*template, error) {
	prelude := 0
	if macros != "" {
		prelude = strings.Count(macros, "\n")
		src = macros + src
	}
	loader, err := loaders.NewMemoryLoader(map[string]string{"/" + path: src})
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrTemplate, path, err)
	}
	t, err := exec.NewTemplate("/"+path, jinjaConfig, loader, gonja.DefaultEnvironment)
	if err != nil {
		return nil, templateError(path, src, prelude, err)
	}
	return &template{path: path, tmpl: t, prelude: prelude}, nil
}

var (
	atLine      = regexp.MustCompile(`at line (\d+)`)
	invalidCall = regexp.MustCompile(`call\(.*?\): invalid call to function '(\w+)': `)
)

// badTagLine returns the line of the first {% tag %} in src that fails to parse alone
// (closed by its end tag) with the message msg, or 0.
func badTagLine(src, msg string) int {
	s := tokens.LexAll(src, jinjaConfig)
	var toks []*tokens.Token
	for !s.End() {
		toks = append(toks, s.Next())
	}
	for i := 0; i < len(toks); i++ {
		if toks[i].Type != tokens.BlockBegin || i+1 >= len(toks) {
			continue
		}
		j := i + 1
		for j < len(toks) && toks[j].Type != tokens.BlockEnd {
			j++
		}
		if j >= len(toks) {
			break
		}
		name := toks[i+1].Val
		var b strings.Builder
		b.WriteString("{% ")
		for _, t := range toks[i+1 : j] {
			b.WriteString(t.Val)
			b.WriteString(" ")
		}
		b.WriteString("%}")
		switch name {
		case "if", "for", "macro", "call", "filter", "with", "block":
			b.WriteString("{% end" + name + " %}")
		case "set":
			if !strings.Contains(b.String(), "=") {
				b.WriteString("{% endset %}")
			}
		default:
			continue
		}
		loader, err := loaders.NewMemoryLoader(map[string]string{"/t": b.String()})
		if err != nil {
			return 0
		}
		_, err = exec.NewTemplate("/t", jinjaConfig, loader, gonja.DefaultEnvironment)
		var se *parser.SyntaxError
		if errors.As(err, &se) && se.Message == msg {
			return toks[i].Line
		}
	}
	return 0
}

// templateError rewrites a gonja error as "gold: template error: FILE:LINE: message",
// with the line in the model's own file.
func templateError(path, src string, prelude int, err error) error {
	var se *parser.SyntaxError
	if errors.As(err, &se) {
		line := se.Line
		if line == 0 {
			// gonja parses a tag's arguments as a stream of their own, whose end has no
			// position: find the tag by parsing each one alone.
			line = badTagLine(src, se.Message)
		}
		if line == 0 {
			return fmt.Errorf("%w: %s: %s", ErrTemplate, path, se.Message)
		}
		return fmt.Errorf("%w: %s:%d: %s near %q", ErrTemplate, path, line-prelude, se.Message, se.Raw)
	}
	msg := strings.TrimPrefix(err.Error(), "unable to execute template: ")
	msg = invalidCall.ReplaceAllString(msg, "$1(): ")
	if m := atLine.FindStringSubmatchIndex(msg); m != nil {
		line, _ := strconv.Atoi(msg[m[2]:m[3]])
		rest := strings.TrimLeft(msg[m[1]:], ": ")
		return fmt.Errorf("%w: %s:%d: %s", ErrTemplate, path, line-prelude, rest)
	}
	return fmt.Errorf("%w: %s: %s", ErrTemplate, path, msg)
}

// render executes the template. first, when not nil, collects refs, sources and config()
// calls (the first pass); r resolves relation names (the second pass).
func (p *Project) render(t *template, first *firstPass, r Resolver) (string, error) {
	vars := p.Vars
	ctx := exec.NewContext(map[string]any{
		"ref": func(va *exec.VarArgs) (string, error) {
			if len(va.Args) == 0 || len(va.Args) > 2 {
				return "", fmt.Errorf("ref() takes a model name (and optionally a package first), got %d arguments", len(va.Args))
			}
			name := va.Args[len(va.Args)-1].String()
			if first != nil {
				first.refs = appendUnique(first.refs, name)
			}
			if r.Ref != nil {
				return r.Ref(name)
			}
			return name, nil
		},
		"source": func(va *exec.VarArgs) (string, error) {
			if len(va.Args) != 2 {
				return "", fmt.Errorf("source() takes a source name and a table name, got %d arguments", len(va.Args))
			}
			s := SourceRef{Source: va.Args[0].String(), Table: va.Args[1].String()}
			if first != nil {
				found := false
				for _, x := range first.sources {
					found = found || x == s
				}
				if !found {
					first.sources = append(first.sources, s)
				}
			}
			if r.Source != nil {
				return r.Source(s.Source, s.Table)
			}
			return s.String(), nil
		},
		"config": func(va *exec.VarArgs) (string, error) {
			if len(va.Args) > 0 {
				return "", fmt.Errorf("config() takes keyword arguments only")
			}
			if first != nil {
				if first.config == nil {
					first.config = map[string]any{}
				}
				for k, v := range va.KwArgs {
					first.config[k] = v.ToGoSimpleType(false)
				}
			}
			return "", nil
		},
		"var": func(va *exec.VarArgs) (any, error) {
			if len(va.Args) == 0 || len(va.Args) > 2 {
				return nil, fmt.Errorf("var() takes a name and an optional default, got %d arguments", len(va.Args))
			}
			name := va.Args[0].String()
			if v, ok := vars[name]; ok {
				return v, nil
			}
			if len(va.Args) == 2 {
				return va.Args[1].Interface(), nil
			}
			return nil, fmt.Errorf("required var %q is not set in dbt_project.yml or --vars and has no default", name)
		},
		"env_var": func(va *exec.VarArgs) (string, error) {
			if len(va.Args) == 0 || len(va.Args) > 2 {
				return "", fmt.Errorf("env_var() takes a name and an optional default")
			}
			name := va.Args[0].String()
			if v, ok := os.LookupEnv(name); ok {
				return v, nil
			}
			if len(va.Args) == 2 {
				return va.Args[1].String(), nil
			}
			return "", fmt.Errorf("env var %q is not set and has no default", name)
		},
		"is_incremental": func() bool { return r.IsIncremental },
		"this":           r.This,
		"target":         map[string]any{"name": "strata", "type": "strata", "schema": p.Name, "database": p.Name, "threads": 1},
		"project_name":   p.Name,
	})
	out, err := t.tmpl.ExecuteToString(ctx)
	if err != nil {
		return "", templateError(t.path, "", t.prelude, err)
	}
	return out, nil
}

// Render renders model m for planning: the second pass, with relation names from r.
func (p *Project) Render(m *Model, r Resolver) (string, error) {
	return p.render(m.tmpl, nil, r)
}

// RenderTest renders a singular test's query.
func (p *Project) RenderTest(t *Test, r Resolver) (string, error) {
	if t.tmpl == nil {
		return "", fmt.Errorf("%w: test %s is not a singular test", ErrConfig, t.Name)
	}
	return p.render(t.tmpl, nil, r)
}
