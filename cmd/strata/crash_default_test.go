//go:build !long

package main

// The default run kills a few short ingests; -tags long runs the full suite.
const (
	crashRounds = 3
	crashEvents = 30_000
)
