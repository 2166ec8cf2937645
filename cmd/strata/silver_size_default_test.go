//go:build !long

package main

// The default run checks a small stream; -tags long runs the full size.
const (
	acceptanceEvents  = 30_000
	silverCrashRounds = 2
	silverCrashEvents = 20_000
)
