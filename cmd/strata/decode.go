package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/strata-data/strata/cdc"
)

const decodeHelp = `
Decode Debezium change events and print one normalized JSON object per event on stdout:
{"table","op","key","before","after","position","tx","ts_ms","ts_ns",...}, with decimals as
exact decimal strings, dates YYYY-MM-DD, timestamps RFC 3339, bytes base64, integers exact.

Each FILE ("-" for stdin) holds JSON values: one per line (JSONL), or spread over several
lines each (pretty-printed JSON; a file holding one value is one record). A value is either
a Kafka-style record {"topic","partition","offset","key","value",...} or a bare Debezium
value: a {"schema","payload"} envelope, a payload, a transaction BEGIN/END, or
{"schema":null,"payload":null} (a tombstone).

A record that cannot be decoded is reported on stderr as FILE:LINE: error, and the command
exits with status 1 after decoding the rest. An event key given where an event is expected
(such as a *-key.json file) is noted on stderr and is not an error.`

func runDecode(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("decode", "FILE...", decodeHelp)
	if status, done := fs.parse(args, stdout, stderr); done {
		return status
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "strata decode: no FILE given (\"-\" reads stdin)")
		return 1
	}
	out := bufio.NewWriterSize(stdout, 64<<10)
	status := 0
	for _, name := range fs.Args() {
		failed, err := decodeFile(name, out, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "strata decode: %v\n", err)
		}
		if failed || err != nil {
			status = 1
		}
		if errors.Is(err, errOutput) {
			return 1
		}
	}
	if err := out.Flush(); err != nil {
		fmt.Fprintf(stderr, "strata decode: write: %v\n", err)
		return 1
	}
	return status
}

// stdin is what the FILE "-" reads; tests replace it.
var stdin io.Reader = os.Stdin

// errOutput marks a failure to write stdout, which ends the command.
var errOutput = errors.New("write")

// decodeFile decodes one file to out. failed reports records it could not decode (each
// already reported on stderr); err is a failure to read the file or to write out.
func decodeFile(name string, out *bufio.Writer, stderr io.Writer) (failed bool, err error) {
	cfg := cdc.RecordReaderConfig{Name: name}
	var in io.Reader
	if name == "-" {
		in, cfg.Topic = stdin, "stdin"
	} else {
		f, err := os.Open(name)
		if err != nil {
			return false, err
		}
		defer f.Close()
		in = f
	}
	rr := cdc.NewRecordReader(in, cfg)
	// One decoder and position filler per file: each file is its own stream, so schema
	// versions and filled-in positions do not depend on the other files given.
	dec := cdc.NewDebeziumDecoder(cdc.DebeziumConfig{})
	var filler cdc.PositionFiller
	var buf []byte
	for {
		rec, line, err := rr.Next()
		switch {
		case err == io.EOF:
			return failed, nil
		case errors.Is(err, cdc.ErrMalformed):
			fmt.Fprintln(stderr, err) // it starts with FILE:LINE
			failed = true
			continue
		case err != nil:
			return failed, err
		}
		ev, err := dec.Decode(&rec)
		switch {
		case errors.Is(err, cdc.ErrNotEvent):
			fmt.Fprintf(stderr, "%s:%d: note: skipped: %v\n", name, line, err)
			continue
		case err != nil:
			fmt.Fprintf(stderr, "%s:%d: %v\n", name, line, err)
			failed = true
			continue
		}
		filler.Fill(&ev)
		buf = cdc.AppendEventJSON(buf[:0], &ev)
		buf = append(buf, '\n')
		if _, err := out.Write(buf); err != nil {
			return failed, fmt.Errorf("%w: %v", errOutput, err)
		}
	}
}
