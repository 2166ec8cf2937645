package cdc_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/change"
)

const envelopeHead = `{"schema":{"type":"struct","name":"s.public.t.Envelope","fields":[` +
	`{"type":"struct","optional":true,"field":"before","fields":[{"type":"int32","optional":false,"field":"id"},{"type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","parameters":{"scale":"2"},"field":"amt"}]},` +
	`{"type":"struct","optional":true,"field":"after","fields":[{"type":"int32","optional":false,"field":"id"},{"type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","parameters":{"scale":"2"},"field":"amt"}]},` +
	`{"type":"string","field":"op"}]},"payload":`

func TestBadInputNamesRecordAndField(t *testing.T) {
	for _, c := range []struct {
		name, value string
		sentinel    error
		field, msg  string
	}{
		{"malformed", `{"op":"c","after":{"id":1}`, cdc.ErrMalformed, "value", "invalid JSON"},
		{"not an object", `[1,2]`, cdc.ErrMalformed, "value", "not a JSON object"},
		{"unknown op", `{"op":"x","after":{"id":1},"source":{"table":"t","schema":"public"}}`, cdc.ErrUnknownOp, "op", `"x"`},
		{"int32 overflow", envelopeHead + `{"op":"c","after":{"id":3000000000,"amt":null}}}`, cdc.ErrType, "payload.after.id", "does not fit int32"},
		{"string in int", envelopeHead + `{"op":"c","after":{"id":"abc","amt":null}}}`, cdc.ErrType, "payload.after.id", "does not fit"},
		{"float in int", envelopeHead + `{"op":"c","after":{"id":1.5,"amt":null}}}`, cdc.ErrType, "payload.after.id", "not an integer"},
		{"bad base64", envelopeHead + `{"op":"c","after":{"id":1,"amt":"%%%"}}}`, cdc.ErrType, "payload.after.amt", "invalid base64"},
		{"column not in schema", envelopeHead + `{"op":"c","after":{"id":1,"zzz":1}}}`, cdc.ErrType, "payload.after.zzz", "not in the event's schema"},
		{"create without after", `{"op":"c","before":null,"after":null,"source":{"table":"t","db":"d"}}`, cdc.ErrMalformed, "after", "without an after image"},
		{"bad tx status", `{"status":"MIDDLE","id":"1:2"}`, cdc.ErrUnknownOp, "status", "MIDDLE"},
		{"bad ts", `{"op":"c","after":{"id":1},"ts_ms":"soon"}`, cdc.ErrType, "ts_ms", "not a 64-bit integer"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := cdc.NewDebeziumDecoder(cdc.DebeziumConfig{}).Decode(&cdc.Record{Topic: "orders", Partition: 2, Offset: 41, Value: []byte(c.value)})
			require.Error(t, err)
			assert.ErrorIs(t, err, c.sentinel)
			var de *cdc.DecodeError
			require.True(t, errors.As(err, &de))
			assert.Equal(t, cdc.Origin{Topic: "orders", Partition: 2, Offset: 41}, de.Origin)
			assert.Equal(t, c.field, de.Field)
			assert.Contains(t, err.Error(), "orders/2@41")
			assert.Contains(t, err.Error(), c.msg)
		})
	}
}

func TestEnvelopeDecimalAndSchemaCache(t *testing.T) {
	d := cdc.NewDebeziumDecoder(cdc.DebeziumConfig{})
	// "AYag" = 0x0186a0 = 100000 -> 1000.00 at scale 2; "/w==" = -1 -> -0.01.
	for i, c := range []struct{ amt, want string }{{`"AYag"`, "1000.00"}, {`"/w=="`, "-0.01"}, {`null`, ""}} {
		ev, err := d.Decode(&cdc.Record{Topic: "s.public.t", Offset: int64(i), Value: []byte(envelopeHead + `{"op":"c","after":{"id":7,"amt":` + c.amt + `},"source":{"schema":"public","table":"t","lsn":10}}}`)})
		require.NoError(t, err)
		assert.Equal(t, 1, ev.SchemaVersion)
		v := ev.After[1]
		if c.want == "" {
			assert.True(t, v.IsNull())
		} else {
			assert.Equal(t, c.want, v.Any(ev.Schema.Field(1).Type))
		}
	}
}

func TestPayloadOnlyInferenceEvolves(t *testing.T) {
	d := cdc.NewDebeziumDecoder(cdc.DebeziumConfig{})
	src := `"source":{"schema":"public","table":"t","lsn":1}`
	dec := func(v string) (cdc.Event, error) {
		return d.Decode(&cdc.Record{Topic: "t", Value: []byte(v)})
	}
	ev, err := dec(`{"op":"c","after":{"id":1,"n":2,"note":null,"big":9007199254740993},` + src + `}`)
	require.NoError(t, err)
	assert.Equal(t, 1, ev.SchemaVersion)
	assert.Equal(t, "id int64, n int64, big int64", ev.Schema.String(), "a column seen only as null waits for a type")
	assert.Equal(t, int64(9007199254740993), ev.After[2].AsInt(), "2^53+1 exact")

	ev, err = dec(`{"op":"u","before":{"id":1},"after":{"id":1,"n":2.5,"note":"x","big":1},` + src + `}`)
	require.NoError(t, err)
	assert.Equal(t, 2, ev.SchemaVersion)
	assert.Equal(t, "id int64, n float64, big int64, note utf8", ev.Schema.String(), "int widens to float; a typed column is added")
	assert.True(t, ev.Before[1].IsAbsent(), "partial before-image")
	assert.Equal(t, 2.5, ev.After[1].AsFloat())

	ev, err = dec(`{"op":"c","after":{"id":2,"n":3,"note":"y","big":2},` + src + `}`)
	require.NoError(t, err)
	assert.Equal(t, 2, ev.SchemaVersion, "same layout, same version")
	assert.Equal(t, arrow.FLOAT64, ev.Schema.Field(1).Type.ID())
	assert.Equal(t, 3.0, ev.After[1].AsFloat())

	_, err = dec(`{"op":"c","after":{"id":"three"},` + src + `}`)
	assert.ErrorIs(t, err, cdc.ErrType)
	assert.ErrorContains(t, err, "inferred as int64")
}

func FuzzDebeziumDecode(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(fixtures, "*.json"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err == nil {
			f.Add(b, []byte(nil))
		}
	}
	f.Add([]byte(envelopeHead+`{"op":"c","after":{"id":1,"amt":"AYag"}}}`), []byte(`{"id":1}`))
	f.Fuzz(func(t *testing.T, value, key []byte) {
		d := cdc.NewDebeziumDecoder(cdc.DebeziumConfig{})
		// The second run takes the cached and predicted paths; primed has learned
		// another key order of envelopeHead's rows first (on another topic, so that
		// per-topic inference is not shared). Every way through must decode alike.
		primed := cdc.NewDebeziumDecoder(cdc.DebeziumConfig{})
		_, _ = primed.Decode(&cdc.Record{Topic: "primer", Key: []byte(`{"id":1}`),
			Value: []byte(envelopeHead + `{"op":"c","after":{"amt":"AYag","id":1},"source":{"schema":"primer","table":"primer","txId":5,"lsn":7,"ts_ms":1}}}`)})
		var first cdc.Event
		var firstErr error
		for i := 0; i < 3; i++ {
			dec := d
			if i == 2 {
				dec = primed
			}
			ev, err := dec.Decode(&cdc.Record{Topic: "f", Key: key, Value: value})
			if i == 0 {
				first, firstErr = ev, err
			} else if (err == nil) != (firstErr == nil) {
				t.Fatalf("run %d: error %v, first run: %v", i, err, firstErr)
			} else if err == nil {
				if diff := diffEvents(first, ev); diff != "" {
					t.Fatalf("run %d decoded otherwise: %s", i, diff)
				}
			}
			if err != nil {
				var de *cdc.DecodeError
				if !errors.As(err, &de) {
					t.Fatalf("error is not a *DecodeError: %v", err)
				}
				continue
			}
			if ev.Schema != nil {
				if ev.After != nil && len(ev.After) != ev.Schema.NumFields() {
					t.Fatalf("after has %d values for %d columns", len(ev.After), ev.Schema.NumFields())
				}
				if ev.Before != nil && len(ev.Before) != ev.Schema.NumFields() {
					t.Fatalf("before has %d values for %d columns", len(ev.Before), ev.Schema.NumFields())
				}
				// what the decoder accepts must fit a change batch of its schema
				b := change.NewBuilder(memory.DefaultAllocator, ev.Schema)
				for _, img := range []change.Row{ev.Before, ev.After} {
					if img != nil {
						if err := b.Append(change.Insert, img); err != nil {
							t.Fatalf("decoded row does not fit its schema: %v", err)
						}
					}
				}
				b.NewBatch().Release()
				b.Release()
			}
		}
	})
}

// diffEvents describes how two decodings of one record differ ("" if they do not):
// schemas by content (decoders number versions of their own).
func diffEvents(a, b cdc.Event) string {
	sameSchema := func(x, y *change.Schema) bool { return x == y || x != nil && y != nil && x.Equal(y) }
	switch {
	case !sameSchema(a.Schema, b.Schema):
		return fmt.Sprintf("schema %v vs %v", a.Schema, b.Schema)
	case !sameSchema(a.KeySchema, b.KeySchema):
		return fmt.Sprintf("key schema %v vs %v", a.KeySchema, b.KeySchema)
	}
	a.Schema, b.Schema, a.KeySchema, b.KeySchema, a.SchemaVersion, b.SchemaVersion = nil, nil, nil, nil, 0, 0
	if !reflect.DeepEqual(a, b) {
		return fmt.Sprintf("%+v\nvs %+v", a, b)
	}
	return ""
}
