// Package bronze is the append-only lake: the single source of truth that every later
// tier can be rebuilt from.
//
// This first stage holds the object store the lake is written to: a small [Store]
// interface (atomic put, get, list by prefix, delete, and a conditional put where the
// backend has one), a local-directory implementation that publishes by temp file, fsync,
// rename and directory fsync, an in-memory one, and a fault-injecting wrapper for tests.
// Names that come from data (tables, topics) go through [Escape] before they become
// part of a name, and every name is checked by [ValidName] before it touches a path.
package bronze
