//go:build long

package main

// The long suite: the 300 000-event stream, and more SIGKILLs of silver apply.
const (
	acceptanceEvents  = 300_000
	silverCrashRounds = 5
	silverCrashEvents = 100_000
)
