//go:build long

package main

// The long suite: the 200 000-event stream, killed again and again.
const (
	crashRounds = 8 // each with up to 3 kills: 20+ SIGKILLs in all
	crashEvents = 200_000
)
