package jsonscan

import (
	"encoding/json"
	"testing"
	"unicode/utf8"

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

func TestIntMatchesNumber(t *testing.T) {
	accept := map[string]bool{"0": true, "-0": true, "7": true, "-7": true, "123456789012345678": true,
		"-123456789012345678": true, "12,": true, "12}": true, "9223372036854775807": true, "-9223372036854775808": true}
	for _, doc := range []string{"0", "-0", "7", "-7", "123456789012345678", "-123456789012345678",
		"9223372036854775807", "-9223372036854775808", "9223372036854775808", "-9223372036854775809",
		"12345678901234567890", "01", "1.5", "1e3", "1E3", "-", "x", `"1"`, "null", "12,", "12}", ""} {
		var s Scanner
		s.Reset([]byte(doc))
		n, ok := s.Int()
		assert.Equal(t, accept[doc], ok, doc)
		if !ok {
			assert.Equal(t, 0, s.Pos(), "nothing consumed: %q", doc)
			continue
		}
		var ref Scanner
		ref.Reset([]byte(doc))
		raw, isInt, rok := ref.Number()
		require.True(t, rok && isInt, doc)
		want, err := Int64(raw)
		require.NoError(t, err)
		assert.Equal(t, want, n, doc)
		assert.Equal(t, ref.Pos(), s.Pos(), doc)
	}
}

func TestLitOnlyAtTokenStart(t *testing.T) {
	var s Scanner
	s.Reset([]byte(` "id":1`))
	assert.False(t, s.Lit([]byte(`"ix":`)))
	assert.Equal(t, 0, s.Pos()&^1, "whitespace only")
	require.True(t, s.Lit([]byte(`"id":`)))
	start := s.Pos()
	n, ok := s.Int()
	require.True(t, ok)
	assert.Equal(t, int64(1), n)
	assert.Equal(t, "1", string(s.Span(start)))
	assert.False(t, s.Lit([]byte(`,`)), "past the end")
}

// walkKeys reads the keys of a flat object with Key, or with NextKey when k is set.
func walkKeys(t *testing.T, doc string, k *Keys) (keys []string, ids []int, err error) {
	var s Scanner
	s.Reset([]byte(doc))
	if !s.Object() {
		return nil, nil, s.Fail("not an object")
	}
	for i := 0; ; i++ {
		var key []byte
		var ok bool
		id := -2
		if k != nil {
			id, key, ok = s.NextKey(k, i)
		} else {
			key, ok = s.Key()
		}
		if !ok {
			break
		}
		keys, ids = append(keys, string(key)), append(ids, id)
		s.Skip()
	}
	if s.Err() == nil {
		s.End()
	}
	return keys, ids, s.Err()
}

func TestNextKeyPredictsAndLearns(t *testing.T) {
	k := NewKeys("a", "b", "c")
	for _, doc := range []string{
		`{"a":1,"b":2,"x":3}`, `{"a":1,"b":2,"x":3}`, `{"b":1,"a":2}`, `{"a":1,"b":2,"c":3,"a":4}`,
		`{"\u0061":1, "b" :2,"c":3}`, `{"a":1, "b" :2,"c":3}`, `{}`, `{"a":1 "b":2}`, `{"a":1,}`, `{"a"}`,
	} {
		want, _, werr := walkKeys(t, doc, nil)
		got, ids, err := walkKeys(t, doc, k)
		assert.Equal(t, werr == nil, err == nil, doc)
		if werr == nil {
			assert.Equal(t, want, got, doc)
			for i, key := range got {
				assert.Equal(t, k.ID([]byte(key)), ids[i], "%s: id of %q", doc, key)
			}
		}
	}
}

func FuzzNextKey(f *testing.F) {
	f.Add(`{"a":1,"b":2}`, `{"a":1,"b":2,"c":{"a":1}}`)
	f.Add(`{"a":1,"b":2}`, `{"b" : 1,"a":2}`)
	f.Add(`{"\u0062":1}`, `{"b":1,"b":2}`)
	f.Fuzz(func(t *testing.T, first, second string) {
		k := NewKeys("a", "b", "c")
		for _, doc := range []string{first, second, first, second} {
			want, _, werr := walkKeys(t, doc, nil)
			got, ids, err := walkKeys(t, doc, k)
			if (werr == nil) != (err == nil) {
				t.Fatalf("%q: Key err %v, NextKey err %v", doc, werr, err)
			}
			if werr != nil {
				continue
			}
			if len(want) != len(got) {
				t.Fatalf("%q: keys %q, NextKey %q", doc, want, got)
			}
			for i := range want {
				if want[i] != got[i] || ids[i] != k.ID([]byte(want[i])) {
					t.Fatalf("%q: key %d is %q, NextKey gave %q id %d", doc, i, want[i], got[i], ids[i])
				}
			}
		}
	})
}

func FuzzInt(f *testing.F) {
	for _, seed := range []string{"0", "-12", "123456789012345678", "1.5", "01", "1e2,"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var s, ref Scanner
		s.Reset(data)
		ref.Reset(data)
		n, ok := s.Int()
		if !ok {
			if ref.Peek(); s.Pos() != ref.Pos() {
				t.Fatalf("%q: Int declined but moved to %d", data, s.Pos())
			}
			return
		}
		raw, isInt, rok := ref.Number()
		if !rok || !isInt {
			t.Fatalf("%q: Int read %d, Number ok=%v isInt=%v", data, n, rok, isInt)
		}
		if want, err := Int64(raw); err != nil || want != n || ref.Pos() != s.Pos() {
			t.Fatalf("%q: Int %d at %d, Number %q (%d, %v) at %d", data, n, s.Pos(), raw, want, err, ref.Pos())
		}
	})
}

func FuzzString(f *testing.F) {
	for _, seed := range []string{`"plain"`, `"a\"b\\c\/d\b\f\n\r\t"`, `"\u00e9\ud83d\ude00x"`, `"\ud800"`, `"run\u0041run"`, `"x\"`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var s Scanner
		s.Reset(data)
		got, ok := s.String()
		ok = ok && s.End()
		var want string
		err := json.Unmarshal(data, &want)
		if !utf8.Valid(data) || (err == nil) != ok && len(data) > 0 && data[0] != '"' {
			return // encoding/json replaces invalid UTF-8; other values are not strings
		}
		if (err == nil) != ok {
			t.Fatalf("%q: scanner ok=%v, encoding/json err=%v", data, ok, err)
		}
		if ok && string(got) != want {
			t.Fatalf("%q: scanner %q, encoding/json %q", data, got, want)
		}
	})
}
