// Package state holds keyed operator state for the streaming layer: the Backend
// interface (the StateBackend), an ordered in-memory implementation (Memory) and a
// persistent one on Pebble (Pebble).
//
// State is organised in namespaces (a non-empty name such as "join-3/left", usually
// an operator id and a state name); keys and values are byte strings, keys ordered
// bytewise within a namespace, namespaces isolated from one another. Entries may
// carry a time to live: an expired entry is invisible to Get and scans at once, and
// its space is reclaimed by Sweep, which both backends also run periodically.
// Expiry is decided by the backend's clock (Config.Now), which tests replace.
//
// Checkpoint writes a consistent snapshot of the whole backend into a new
// directory, and Restore replaces a backend's contents with one: every Apply'd batch
// is in a checkpoint entirely or not at all. Single writes are not made durable
// one by one: durability is what a checkpoint captures, which is how the stream
// layer recovers (restore the last checkpoint, replay the source from its
// position).
//
// statetest.Run is the conformance suite both backends pass; run it on your own
// Backend too.
package state
