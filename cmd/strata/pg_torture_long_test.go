//go:build long

package main

import "time"

// The long torture run: more writers, a bigger snapshot, minutes of kills (children
// live longer, so that runs get past the bigger snapshot into the stream).
var tortureDefault = tortureConfig{writers: 8, duration: 3 * time.Minute, initialRows: 10_000, serverKills: 3, maxWait: 4 * time.Second}
