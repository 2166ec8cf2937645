package main

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"time"

	"github.com/duckdb/duckdb-go/v2"
)

// duckDB holds the same data in an in-memory DuckDB database.
type duckDB struct {
	db *sql.DB
}

// loadDuckDB creates the fact and dimension tables through DuckDB's appender.
func loadDuckDB(d *data) (*duckDB, error) {
	connector, err := duckdb.NewConnector("", nil)
	if err != nil {
		return nil, err
	}
	conn, err := connector.Connect(context.Background())
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(connector)
	for _, q := range []string{
		"CREATE TABLE fact (id BIGINT, customer_id BIGINT, amount DOUBLE, status VARCHAR)",
		"CREATE TABLE dim (id BIGINT, region VARCHAR)",
	} {
		if _, err := db.Exec(q); err != nil {
			return nil, err
		}
	}
	app, err := duckdb.NewAppenderFromConn(conn, "", "fact")
	if err != nil {
		return nil, err
	}
	for i := range d.factID {
		if err := app.AppendRow(d.factID[i], d.factCustomer[i], d.factAmount[i], statuses[d.factStatus[i]]); err != nil {
			return nil, err
		}
	}
	if err := app.Close(); err != nil {
		return nil, err
	}
	app, err = duckdb.NewAppenderFromConn(conn, "", "dim")
	if err != nil {
		return nil, err
	}
	for i := range d.dimID {
		if err := app.AppendRow(d.dimID[i], regions[d.dimRegion[i]]); err != nil {
			return nil, err
		}
	}
	if err := app.Close(); err != nil {
		return nil, err
	}
	if c, ok := conn.(driver.Conn); ok {
		_ = c.Close()
	}
	return &duckDB{db: db}, nil
}

const duckQuery = `SELECT d.region, sum(f.amount)
FROM fact f JOIN dim d ON f.customer_id = d.id
WHERE f.status = 'paid'
GROUP BY d.region`

// run times the query with the given number of threads and returns the result.
func (x *duckDB) run(threads int) (time.Duration, map[string]float64, error) {
	if _, err := x.db.Exec(fmt.Sprintf("SET threads = %d", threads)); err != nil {
		return 0, nil, err
	}
	start := time.Now()
	rows, err := x.db.Query(duckQuery)
	if err != nil {
		return 0, nil, err
	}
	defer rows.Close()
	out := map[string]float64{}
	for rows.Next() {
		var r string
		var s float64
		if err := rows.Scan(&r, &s); err != nil {
			return 0, nil, err
		}
		out[r] = s
	}
	return time.Since(start), out, rows.Err()
}
