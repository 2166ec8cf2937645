//go:build !long

package main

import "time"

// The default torture run: small enough for go test ./cmd/strata.
var tortureDefault = tortureConfig{writers: 3, duration: 15 * time.Second, initialRows: 5000, serverKills: 1}
