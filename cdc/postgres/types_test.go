package postgres_test

import (
	"encoding/base64"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/cdc/postgres"
	"github.com/strata-data/strata/change"
)

// typedCols are the columns of the types table, with the Connect schema Debezium's
// PostgreSQL connector gives each (decimal.handling.mode=precise, adaptive time
// precision) and the Debezium JSON value of the test row.
var typedCols = []struct {
	name, pgType, pgValue string
	connect, dbzValue     string // "" connect: not compared with Debezium (fallback types)
}{
	{"id", "int PRIMARY KEY", "1", `"type":"int32","optional":false`, `1`},
	{"i2", "smallint", "-32768", `"type":"int16"`, `-32768`},
	{"i8", "bigint", "9007199254740993", `"type":"int64"`, `9007199254740993`},
	{"f4", "real", "1.5", `"type":"float"`, `1.5`},
	{"f8", "double precision", "3.141592653589793", `"type":"double"`, `3.141592653589793`},
	{"b", "boolean", "true", `"type":"boolean"`, `true`},
	{"t", "text", "'héllo \"q\"'", `"type":"string"`, `"héllo \"q\""`},
	{"vc", "varchar(10)", "'abc'", `"type":"string"`, `"abc"`},
	{"by", "bytea", `'\xdeadbeef00'`, `"type":"bytes"`, `"` + base64.StdEncoding.EncodeToString([]byte{0xde, 0xad, 0xbe, 0xef, 0}) + `"`},
	{"n", "numeric(12,3)", "-123456789.125", `"type":"bytes","name":"org.apache.kafka.connect.data.Decimal","parameters":{"scale":"3","connect.decimal.precision":"12"}`, decimalJSON("-123456789125")},
	{"nu", "numeric", "12345678901234567890.123456789", `"type":"struct","name":"io.debezium.data.VariableScaleDecimal","fields":[{"type":"int32","field":"scale"},{"type":"bytes","field":"value"}]`,
		`{"scale":9,"value":` + decimalJSON("12345678901234567890123456789") + `}`},
	{"d", "date", "'2024-02-29'", `"type":"int32","name":"io.debezium.time.Date"`, fmt.Sprint(time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC).Unix() / 86400)},
	{"dbc", "date", "'0044-03-15 BC'", `"type":"int32","name":"io.debezium.time.Date"`, fmt.Sprint(time.Date(-43, 3, 15, 0, 0, 0, 0, time.UTC).Unix() / 86400)},
	{"tm", "time", "'13:14:15.123456'", `"type":"int64","name":"io.debezium.time.MicroTime"`, fmt.Sprint((13*3600+14*60+15)*1000000 + 123456)},
	{"ts", "timestamp", "'2024-02-29 13:14:15.123456'", `"type":"int64","name":"io.debezium.time.MicroTimestamp"`, fmt.Sprint(time.Date(2024, 2, 29, 13, 14, 15, 123456000, time.UTC).UnixMicro())},
	{"tsold", "timestamp", "'1900-01-01 00:00:00'", `"type":"int64","name":"io.debezium.time.MicroTimestamp"`, fmt.Sprint(time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro())},
	{"tz", "timestamptz", "'2024-02-29 13:14:15.123456+02'", `"type":"string","name":"io.debezium.time.ZonedTimestamp"`, `"2024-02-29T11:14:15.123456Z"`},
	{"ttz", "timetz", "'13:14:15+02'", `"type":"string","name":"io.debezium.time.ZonedTime"`, `"13:14:15+02"`},
	{"j", "json", `'{"a": [1, 2]}'`, `"type":"string","name":"io.debezium.data.Json"`, `"{\"a\": [1, 2]}"`},
	{"jb", "jsonb", `'{"b": 1}'`, `"type":"string","name":"io.debezium.data.Json"`, `"{\"b\": 1}"`},
	{"u", "uuid", "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'", `"type":"string","name":"io.debezium.data.Uuid"`, `"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"`},
	{"e", "mood", "'happy'", `"type":"string","name":"io.debezium.data.Enum"`, `"happy"`},
	{"ai", "int[]", "'{1,2,NULL}'", `"type":"array","items":{"type":"int32","optional":true}`, `[1,2,null]`},
	{"at", "text[]", `'{"x","y z"}'`, `"type":"array","items":{"type":"string"}`, `["x","y z"]`},
	{"dom", "posint", "5", `"type":"int32"`, `5`},
	{"iv", "interval", "'1 day 02:03:04'", "", ""},
	{"mo", "money", "12.5", "", ""},
}

// decimalJSON renders an unscaled integer as Connect's base64 two's complement.
func decimalJSON(unscaled string) string {
	n, _ := new(big.Int).SetString(unscaled, 10)
	var b []byte
	if n.Sign() >= 0 {
		b = n.Bytes()
		if len(b) == 0 || b[0]&0x80 != 0 {
			b = append([]byte{0}, b...)
		}
	} else {
		// two's complement: 2^(8k) + n with the sign bit set
		k := len(new(big.Int).Neg(n).Bytes()) + 1
		m := new(big.Int).Add(new(big.Int).Lsh(big.NewInt(1), uint(8*k)), n)
		b = m.Bytes()
		for len(b) > 1 && b[0] == 0xff && b[1]&0x80 != 0 {
			b = b[1:]
		}
	}
	return `"` + base64.StdEncoding.EncodeToString(b) + `"`
}

func createTypes(t *testing.T, dsn string) {
	conn := connect(t, dsn)
	exec(t, conn, "CREATE TYPE mood AS ENUM ('sad', 'happy')", "CREATE DOMAIN posint AS int CHECK (VALUE > 0)")
	var defs []string
	for _, c := range typedCols {
		defs = append(defs, c.name+" "+c.pgType)
	}
	exec(t, conn, "CREATE TABLE typed ("+strings.Join(defs, ", ")+")")
}

func insertTyped(t *testing.T, dsn string, id int) {
	conn := connect(t, dsn)
	var vals []string
	for _, c := range typedCols {
		vals = append(vals, c.pgValue)
	}
	vals[0] = fmt.Sprint(id)
	exec(t, conn, "INSERT INTO typed VALUES ("+strings.Join(vals, ", ")+")",
		fmt.Sprintf("INSERT INTO typed (id) VALUES (%d)", id+1))
}

// debeziumEvent decodes the Debezium JSON of the test row with the Debezium decoder.
func debeziumEvent(t *testing.T) cdc.Event {
	var fields, vals []string
	for _, c := range typedCols {
		if c.connect == "" {
			continue
		}
		f := "{" + c.connect + `,"field":"` + c.name + `"`
		if !strings.Contains(c.connect, `"optional"`) {
			f += `,"optional":true`
		}
		fields = append(fields, f+"}")
		vals = append(vals, `"`+c.name+`":`+c.dbzValue)
	}
	js := `{"schema":{"type":"struct","name":"srv.public.typed.Envelope","fields":[{"type":"struct","optional":true,"field":"after","name":"srv.public.typed.Value","fields":[` +
		strings.Join(fields, ",") + `]},{"type":"string","field":"op"}]},"payload":{"op":"c","after":{` + strings.Join(vals, ",") +
		`},"source":{"connector":"postgresql","schema":"public","table":"typed","lsn":1,"txId":1}}}`
	ev, err := cdc.NewDebeziumDecoder(cdc.DebeziumConfig{}).Decode(&cdc.Record{Topic: "srv.public.typed", Value: []byte(js)})
	if err != nil {
		t.Fatalf("debezium decode: %v\n%s", err, js)
	}
	return ev
}

// checkTyped compares a native row of the test row with the Debezium decoder's.
func checkTyped(t *testing.T, ev cdc.Event, dbz cdc.Event) {
	t.Helper()
	for _, c := range typedCols {
		i := ev.Schema.FieldIndex(c.name)
		if i < 0 {
			t.Fatalf("column %s missing from %s", c.name, ev.Schema)
		}
		f, v := ev.Schema.Field(i), ev.After[i]
		if c.connect == "" {
			if f.Type.ID() != arrow.STRING || v.AsString() == "" {
				t.Errorf("%s (%s): fallback %s %v, want text", c.name, c.pgType, f.Type, v)
			}
			continue
		}
		j := dbz.Schema.FieldIndex(c.name)
		df, dv := dbz.Schema.Field(j), dbz.After[j]
		if !arrow.TypeEqual(f.Type, df.Type) {
			t.Errorf("%s (%s): type %s, Debezium decoder %s", c.name, c.pgType, f.Type, df.Type)
		}
		fl, _ := f.Metadata.GetValue(change.MetaLogical)
		dl, _ := df.Metadata.GetValue(change.MetaLogical)
		if fl != dl {
			t.Errorf("%s (%s): logical %q, Debezium decoder %q", c.name, c.pgType, fl, dl)
		}
		if v != dv && c.name != "id" {
			t.Errorf("%s (%s): value %v, Debezium decoder %v", c.name, c.pgType, v, dv)
		}
	}
}

func TestTypesMatchDebezium(t *testing.T) {
	t.Parallel() // a slot name of its own
	dsn := newDB(t)
	createTypes(t, dsn)
	insertTyped(t, dsn, 1) // snapshot
	src := openSource(t, postgres.Config{DSN: dsn, Slot: "types"}, cdc.Position{})
	snap := events(readTxs(t, src, 2, 10*time.Second))
	insertTyped(t, dsn, 10) // stream
	stream := events(readTxs(t, src, 2, 10*time.Second))
	dbz := debeziumEvent(t)
	for _, evs := range [][]cdc.Event{snap, stream} {
		checkTyped(t, evs[0], dbz)
		for i, v := range evs[1].After[1:] {
			if !v.IsNull() {
				t.Errorf("column %s of the NULL row: %v", evs[1].Schema.Field(i+1).Name, v)
			}
		}
	}
	if snap[0].Schema != snap[1].Schema || !snap[0].Schema.Equal(stream[0].Schema) {
		t.Fatalf("snapshot and stream schemas differ:\n%s\n%s", snap[0].Schema, stream[0].Schema)
	}
	if got := stream[0].After[snap[0].Schema.FieldIndex("iv")].AsString(); got != "1 day 02:03:04" {
		t.Fatalf("interval kept as %q", got)
	}
}
