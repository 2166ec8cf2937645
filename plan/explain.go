package plan

import (
	"fmt"
	"strings"
	"time"
)

// ExplainLogical renders a logical plan as an indented tree with estimated rows.
func ExplainLogical(n Node) string {
	var b strings.Builder
	var walk func(n Node, depth int)
	walk = func(n Node, depth int) {
		fmt.Fprintf(&b, "%s%s  (rows=%s)\n", strings.Repeat("  ", depth), n.label(), fmtRows(estimate(n)))
		for _, c := range n.Children() {
			walk(c, depth+1)
		}
	}
	walk(n, 0)
	return b.String()
}

func fmtRows(r float64) string {
	switch {
	case r >= 1e6:
		return fmt.Sprintf("%.1fM", r/1e6)
	case r >= 1e4:
		return fmt.Sprintf("%.0fk", r/1e3)
	}
	return fmt.Sprintf("%.0f", r)
}

// Explain renders the logical plan and the stages of the physical plan; with analyze
// (after Run), each stage's actual rows, bytes, attempts, time and spilled bytes.
func (j *Job) Explain(analyze bool) string {
	var b strings.Builder
	b.WriteString("Logical plan:\n")
	for _, line := range strings.Split(strings.TrimRight(ExplainLogical(j.logical), "\n"), "\n") {
		b.WriteString("  " + line + "\n")
	}
	b.WriteString("Physical plan:\n")
	for _, st := range j.stages {
		ins := make([]string, len(st.Inputs))
		for i, in := range st.Inputs {
			ins[i] = fmt.Sprintf("%d", in.ID)
		}
		fmt.Fprintf(&b, "  Stage %d %s tasks=%d", st.ID, st.Kind, st.Tasks)
		if len(ins) > 0 {
			fmt.Fprintf(&b, " inputs=[%s]", strings.Join(ins, ","))
		}
		fmt.Fprintf(&b, " output=%s rows=%s\n", st.Out, fmtRows(st.EstRows))
		if analyze {
			fmt.Fprintf(&b, "    actual rows=%d bytes=%d attempts=%d wall=%s task-time=%s spilled=%d\n",
				st.stats.rows.Load(), st.stats.bytes.Load(), st.stats.attempts.Load(),
				st.stats.wall.Round(time.Microsecond), time.Duration(st.stats.busy.Load()).Round(time.Microsecond), st.stats.spill.Load())
		}
		for _, op := range st.Ops {
			fmt.Fprintf(&b, "    %s\n", op)
		}
	}
	if analyze {
		fmt.Fprintf(&b, "Memory: peak=%d limit=%d\n", j.opts.budget.Peak(), j.opts.budget.Limit())
	}
	return b.String()
}
