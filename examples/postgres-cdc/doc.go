// Command postgres-cdc captures a PostgreSQL database's changes straight from its
// write-ahead log (logical replication, pgoutput) into a bronze lake: no Debezium and no
// Kafka. The first run creates the publication and the replication slot, reads the
// tables' existing rows in the slot's snapshot, then streams every committed change;
// a later run resumes where the lake ends, losing and doubling nothing.
//
// It needs a database to read: -dsn is required. The server must run with
// wal_level=logical, and the user needs the REPLICATION attribute (and the right to
// create the publication the first time):
//
//	go run ./examples/postgres-cdc -dsn 'postgres://postgres@localhost:5432/shop' -tables public.orders,public.customers
//	go run ./examples/postgres-cdc -dsn '...' -exit-when-idle   # stop once caught up
//
// Ctrl-C commits what is whole and stops. The slot keeps WAL on the server until the
// lake has it: drop the slot (SELECT pg_drop_replication_slot('strata')) when done.
package main
