//go:build long

package main

import "time"

// The long torture run: more writers, a bigger snapshot, minutes of kills.
var tortureDefault = tortureConfig{writers: 8, duration: 3 * time.Minute, initialRows: 30_000, serverKills: 3}
