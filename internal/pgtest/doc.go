// Package pgtest starts private PostgreSQL clusters for tests: initdb in a temporary
// directory (as the postgres OS user when the test runs as root), wal_level=logical,
// fsync off, a random loopback port, a private unix socket directory and trust
// authentication for normal and replication connections.
//
// A test binary usually shares one cluster, started on first use by [Shared] and stopped
// by [Main] from TestMain; each test then takes a fresh database with
// [Cluster.CreateDatabase]. Tests that restart or kill the server take their own with
// [Start]; with [Main] in place, new clusters are copied from a template made by one
// initdb, which saves seconds per cluster.
//
// When the server binaries are missing the test is skipped, or fails when the CI
// environment variable is set, naming the package to install.
package pgtest
