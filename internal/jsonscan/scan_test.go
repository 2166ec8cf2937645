package jsonscan

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSkipReturnsRawValue(t *testing.T) {
	for _, doc := range []string{
		`{}`, `[]`, `{"a":[1,2,{"b":"x\"y"}],"c":null,"d":true,"e":-1.5e3}`,
		`[[],{},[{}],"s",0]`, `"\u00e9\ud83d\ude00"`, `12345678901234567890`, `{"k":{"k":{"k":[]}}}`,
	} {
		var s Scanner
		s.Reset([]byte(" " + doc + " "))
		raw := s.Skip()
		require.NoError(t, s.Err(), doc)
		assert.Equal(t, doc, string(raw))
		assert.True(t, s.End())
	}
}

func TestSkipRejectsWhatEncodingJSONRejects(t *testing.T) {
	for _, doc := range []string{
		`{`, `[1,]`, `{"a"}`, `{"a":}`, `{,}`, `[1 2]`, `{"a":1,}`, `"abc`, `tru`, `01`, `1.`, `-`, `1e`,
		`"\x"`, "\"a\x01\"", `}`, `{"a":1]`, `[1}`, `nul`,
	} {
		var s Scanner
		s.Reset([]byte(doc))
		s.Skip()
		ok := s.Err() == nil && s.End()
		assert.Equal(t, json.Valid([]byte(doc)), ok, doc)
	}
}

func TestObjectWalkAndDuplicates(t *testing.T) {
	var s Scanner
	s.Reset([]byte(`{"name":"a","n":1,"name":"b","s":"x\ny"}`))
	require.True(t, s.Object())
	got := map[string]string{}
	for {
		k, ok := s.Key()
		if !ok {
			break
		}
		key := string(k)
		switch key {
		case "n":
			raw, isInt, ok := s.Number()
			require.True(t, ok)
			assert.True(t, isInt)
			got[key] = string(raw)
		default:
			v, ok := s.String()
			require.True(t, ok)
			got[key] = string(v)
		}
	}
	require.NoError(t, s.Err())
	assert.Equal(t, map[string]string{"name": "b", "n": "1", "s": "x\ny"}, got)
}

func TestInt64Exact(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
	}{{"0", 0}, {"-7", -7}, {"1559033904863841257", 1559033904863841257}, {"9223372036854775807", 9223372036854775807}, {"-9223372036854775808", -9223372036854775808}} {
		n, err := Int64([]byte(c.in))
		require.NoError(t, err)
		assert.Equal(t, c.want, n)
	}
	_, err := Int64([]byte("9223372036854775808"))
	assert.Error(t, err)
}

func TestDeepNestingIsAnErrorNotACrash(t *testing.T) {
	doc := make([]byte, 0, 2*MaxDepth+10)
	for i := 0; i < MaxDepth+5; i++ {
		doc = append(doc, '[')
	}
	var s Scanner
	s.Reset(doc)
	s.Skip()
	assert.ErrorContains(t, s.Err(), "nesting deeper")
}

func FuzzSkip(f *testing.F) {
	for _, seed := range []string{`{"a":[1,"x",{"b":null}]}`, `[1e5,-0.5,true,false]`, `"\ud800"`, `{"a":"\u0041"}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var s Scanner
		s.Reset(data)
		raw := s.Skip()
		ok := s.Err() == nil && s.End()
		if ok != json.Valid(data) {
			t.Fatalf("scanner ok=%v, encoding/json valid=%v for %q", ok, json.Valid(data), data)
		}
		if ok && !json.Valid(raw) {
			t.Fatalf("raw %q not valid", raw)
		}
	})
}
