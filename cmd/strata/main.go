package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// verb is one subcommand. run gets the arguments after the verb's name and returns the
// exit status; it writes results to stdout and diagnostics to stderr.
type verb struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

// verbs lists the subcommands, in the order help shows them. A new verb is one entry
// here and one function.
var verbs = []verb{
	{"decode", "Debezium JSON/JSONL -> one normalized JSON object per event", runDecode},
	{"ingest", "read a source (gen://, file://, kafka://, lake://) into a bronze lake", runIngest},
	{"bronze", "ls|verify|replay|compact|retain a bronze lake", runBronze},
	{"silver", "ls|dump|apply|compact the silver tables of a lake", runSilver},
	{"sql", "run a SQL query (PostgreSQL dialect) over Parquet and CSV files", runSQL},
	{"build", "build a dbt-style project: seeds, models in DAG order, data tests", runBuild},
	{"test", "run a dbt-style project's data tests on what is built", runTest},
	{"docs", "write a dbt-style project's catalog and lineage graph", runDocs},
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line args (without the program name) and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 1
	}
	switch name := args[0]; name {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			if v := lookup(args[1]); v != nil {
				return v.run([]string{"--help"}, stdout, stderr)
			}
		}
		usage(stdout)
		return 0
	default:
		v := lookup(name)
		if v == nil {
			fmt.Fprintf(stderr, "strata: unknown verb %q\n\n", name)
			usage(stderr)
			return 1
		}
		return v.run(args[1:], stdout, stderr)
	}
}

func lookup(name string) *verb {
	for i := range verbs {
		if verbs[i].name == name {
			return &verbs[i]
		}
	}
	return nil
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: strata <verb> [flags] [args]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "verbs:")
	for _, v := range verbs {
		fmt.Fprintf(w, "  %-8s %s\n", v.name, v.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, `Run "strata <verb> --help" for a verb's flags.`)
}

// flagSet is a verb's flags with the text its --help prints.
type flagSet struct {
	*flag.FlagSet
	name, synopsis, description string
}

// newFlags returns a verb's flag set. Parse errors are returned rather than fatal.
func newFlags(name, synopsis, description string) *flagSet {
	fs := flag.NewFlagSet("strata "+name, flag.ContinueOnError)
	fs.Usage = func() {} // parse prints the usage itself, to stdout for --help
	return &flagSet{fs, name, synopsis, strings.TrimSpace(description)}
}

// usage prints the synopsis, the description and the flags.
func (f *flagSet) usage(w io.Writer) {
	fmt.Fprintf(w, "usage: strata %s %s\n\n%s\n", f.name, f.synopsis, f.description)
	n := 0
	f.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprintln(w, "\nflags:")
		f.SetOutput(w)
		f.PrintDefaults()
	}
}

// parse parses the verb's arguments. It returns done=true with the exit status when the
// verb must stop: 0 after --help (usage on stdout), 1 after a flag error (on stderr).
//
// An argument that starts with a dash but holds whitespace is no flag: it is a
// query that opens with a SQL comment ("-- TPC-H Q6 ...") or a negative number,
// and it and what follows are positional.
func (f *flagSet) parse(args []string, stdout, stderr io.Writer) (status int, done bool) {
	f.SetOutput(stderr)
	for i, a := range args {
		if a == "--" {
			break
		}
		if strings.HasPrefix(a, "-") && strings.ContainsAny(a, " \t\r\n") {
			args = append(slices.Clone(args[:i]), append([]string{"--"}, args[i:]...)...)
			break
		}
	}
	err := f.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		f.usage(stdout)
		return 0, true
	case err != nil: // the flag package has printed the error
		f.usage(stderr)
		return 1, true
	}
	return 0, false
}
