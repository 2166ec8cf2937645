package postgres

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"
)

// Any bytes as pgoutput tuple data decode to a row or an error, never a panic, and a
// decoded row has one value per column.
func FuzzTuple(f *testing.F) {
	dec := newDecoder()
	cols := []uint32{oidInt4, oidText, oidNumeric, oidTimestampTZ, oidDate, oidBytea, 1007 /* int4[] */, oidBool}
	rel := &relation{table: "public.t"}
	for _, oid := range cols {
		typmod := int32(-1)
		if oid == oidNumeric {
			typmod = (10<<16 | 2) + 4
		}
		ct, err := dec.mapType(oid, typmod, nil)
		if err != nil {
			f.Fatal(err)
		}
		rel.cols = append(rel.cols, ct)
		rel.names = append(rel.names, "c")
		rel.identity = append(rel.identity, oid == oidInt4)
	}
	tuple := func(vals ...string) []byte {
		b := binary.BigEndian.AppendUint16(nil, uint16(len(vals)))
		for _, v := range vals {
			switch v {
			case "<n>":
				b = append(b, 'n')
			case "<u>":
				b = append(b, 'u')
			default:
				b = append(b, 't')
				b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
				b = append(b, v...)
			}
		}
		return b
	}
	f.Add(tuple("1", "x", "12.50", "2024-01-02 03:04:05.5+00", "2024-01-02", `\xff00`, "{1,NULL}", "t"), false)
	f.Add(tuple("1", "<n>", "<u>", "<n>", "<n>", "<n>", "<n>", "<n>"), true)
	f.Add(tuple("-2147483648", "", "-0.01", "0044-03-15 01:02:03+05:30 BC", "0001-01-01 BC", `\x`, `{{1,2},{3,4}}`, "f"), false)
	r := &reader{dec: dec}
	f.Fuzz(func(t *testing.T, data []byte, keyOnly bool) {
		row, _, err := r.tuple(rel, data, keyOnly, 1)
		if err == nil && len(row) != len(rel.cols) {
			t.Fatalf("%d values for %d columns", len(row), len(rel.cols))
		}
	})
}

// Timestamps, dates and times PostgreSQL prints (ISO DateStyle) parse back to the
// instant Go computes for them.
func FuzzTemporal(f *testing.F) {
	f.Add(int64(0), int32(0))
	f.Add(int64(1709212455123456), int32(7200))
	f.Add(int64(-62135596800000000), int32(-34200)) // 0001-01-01
	f.Add(int64(-64000000000000000), int32(0))      // BC
	f.Fuzz(func(t *testing.T, us int64, off int32) {
		if us < -210000000000000000 || us > 9000000000000000 { // PostgreSQL's range, roughly
			return
		}
		off %= 16 * 3600
		tm := time.UnixMicro(us).UTC()
		zone := time.FixedZone("", int(off))
		local := tm.In(zone)
		if local.Year() <= 0 || local.Year() > 9999 || tm.Year() <= 0 || tm.Year() > 9999 {
			return // BC and 5-digit years are covered by the seeds of FuzzTuple
		}
		// PostgreSQL prints "+HH", "+HH:MM" or "+HH:MM:SS", as short as the offset allows.
		sign, a := '+', off
		if a < 0 {
			sign, a = '-', -a
		}
		zs := fmt.Sprintf("%c%02d", sign, a/3600)
		if a%3600 != 0 {
			zs += fmt.Sprintf(":%02d", a%3600/60)
			if a%60 != 0 {
				zs += fmt.Sprintf(":%02d", a%60)
			}
		}
		tz := local.Format("2006-01-02 15:04:05.999999") + zs
		got, err := parseTimestamp([]byte(tz), true)
		if err != nil || got != us {
			t.Fatalf("timestamptz %q: %d, %v; want %d", tz, got, err, us)
		}
		ts := tm.Format("2006-01-02 15:04:05.999999")
		got, err = parseTimestamp([]byte(ts), false)
		if err != nil || got != us {
			t.Fatalf("timestamp %q: %d, %v; want %d", ts, got, err, us)
		}
		d := tm.Format("2006-01-02")
		days, err := parseDate([]byte(d))
		if want := time.Date(tm.Year(), tm.Month(), tm.Day(), 0, 0, 0, 0, time.UTC).Unix() / 86400; err != nil || days != want {
			t.Fatalf("date %q: %d, %v; want %d", d, days, err, want)
		}
	})
}

// Arrays become JSON arrays, nested as their dimensions, numerics exact.
func TestArraysAsJSON(t *testing.T) {
	d := newDecoder()
	for _, tc := range []struct {
		oid     uint32
		in, out string
	}{
		{1007, `{{1,2},{3,4}}`, `[[1,2],[3,4]]`},
		{1007, `{}`, `[]`},
		{1007, `{1,NULL}`, `[1,null]`},
		{1009, `{"a b",NULL,"c\"d"}`, `["a b",null,"c\"d"]`},
		{1231, `{12.50,-0.001,100,NULL}`, `[12.50,-0.001,100,null]`},
		{1231, `{{{1},{2}}}`, `[[[1],[2]]]`},
		{1016, `[0:1]={7,8}`, `[7,8]`},
	} {
		ct, err := d.mapType(tc.oid, -1, nil)
		if err != nil {
			t.Fatal(err)
		}
		v, err := d.value(&ct, []byte(tc.in))
		if err != nil || v.AsString() != tc.out {
			t.Errorf("%d %s: %v, %v; want %s", tc.oid, tc.in, v, err, tc.out)
		}
	}
}
