package main

import (
	"context"
	"strings"
	"testing"
)

// The example terminates by itself and prints the final result per segment, the
// same with Pebble state and checkpoints as in memory.
func TestRun(t *testing.T) {
	var mem, peb strings.Builder
	if err := run(context.Background(), &mem, 2000, 1, 0, 200, 2, ""); err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), &peb, 2000, 1, 0, 200, 1, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	final := func(s string) string { _, f, _ := strings.Cut(s, "final:\n"); return f }
	if final(mem.String()) == "" || !strings.Contains(mem.String(), "after 200 transactions") {
		t.Fatalf("output:\n%s", mem.String())
	}
	if final(mem.String()) != final(peb.String()) {
		t.Fatalf("memory:\n%s\npebble:\n%s", final(mem.String()), final(peb.String()))
	}
}
