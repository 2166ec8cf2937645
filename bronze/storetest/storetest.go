// Package storetest is a conformance suite for bronze.Store implementations, in the
// spirit of net/http/httptest: run it from a test of your own store with
// storetest.Run(t, func(t *testing.T) bronze.Store { return newMyStore(t) }).
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/strata-data/strata/bronze"
)

// Run checks the Store contract against fresh stores made by newStore.
func Run(t *testing.T, newStore func(t *testing.T) bronze.Store) {
	ctx := context.Background()
	t.Run("PutGetReplace", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.Get(ctx, "a/b"); !errors.Is(err, bronze.ErrNotFound) {
			t.Fatalf("Get of a missing object: %v, want ErrNotFound", err)
		}
		must(t, s.Put(ctx, "a/b", []byte("one")))
		data := []byte("two")
		must(t, s.Put(ctx, "a/b", data))
		data[0] = 'X' // the store must have kept its own copy
		got, err := s.Get(ctx, "a/b")
		must(t, err)
		if string(got) != "two" {
			t.Fatalf("Get = %q, want %q", got, "two")
		}
		got[0] = 'Y'
		again, _ := s.Get(ctx, "a/b")
		if string(again) != "two" {
			t.Fatalf("a caller's change to Get's result reached the store: %q", again)
		}
		must(t, s.Put(ctx, "empty", nil))
		if got, err := s.Get(ctx, "empty"); err != nil || len(got) != 0 {
			t.Fatalf("empty object: %q, %v", got, err)
		}
	})
	t.Run("ListByPrefix", func(t *testing.T) {
		s := newStore(t)
		for _, n := range []string{"bronze/orders/2026/11/part-1", "bronze/orders/2026/11/part-0", "bronze/order_items/x", "bronze/orders2/y", "manifest/000001"} {
			must(t, s.Put(ctx, n, []byte(n)))
		}
		for prefix, want := range map[string][]string{
			"bronze/orders/":  {"bronze/orders/2026/11/part-0", "bronze/orders/2026/11/part-1"},
			"bronze/orders":   {"bronze/orders/2026/11/part-0", "bronze/orders/2026/11/part-1", "bronze/orders2/y"},
			"bronze/order":    {"bronze/order_items/x", "bronze/orders/2026/11/part-0", "bronze/orders/2026/11/part-1", "bronze/orders2/y"},
			"manifest/":       {"manifest/000001"},
			"nothing/here/":   nil,
			"bronze/orders/2": {"bronze/orders/2026/11/part-0", "bronze/orders/2026/11/part-1"},
		} {
			got, err := s.List(ctx, prefix)
			must(t, err)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("List(%q) = %v, want %v", prefix, got, want)
			}
		}
		all, err := s.List(ctx, "")
		must(t, err)
		if len(all) != 5 {
			t.Errorf("List(\"\") = %v, want 5 names", all)
		}
	})
	t.Run("Delete", func(t *testing.T) {
		s := newStore(t)
		must(t, s.Put(ctx, "x/y", []byte("1")))
		must(t, s.Delete(ctx, "x/y"))
		must(t, s.Delete(ctx, "x/y"))
		if _, err := s.Get(ctx, "x/y"); !errors.Is(err, bronze.ErrNotFound) {
			t.Fatalf("Get after Delete: %v", err)
		}
		if got, _ := s.List(ctx, "x/"); len(got) != 0 {
			t.Fatalf("List after Delete: %v", got)
		}
	})
	t.Run("RejectsUnsafeNames", func(t *testing.T) {
		s := newStore(t)
		for _, n := range []string{"", "/abs", "../up", "a/../../b", "a//b", "a/", "./a", "a\\b", "a\x00b", "a/./b"} {
			if err := s.Put(ctx, n, []byte("x")); !errors.Is(err, bronze.ErrName) {
				t.Errorf("Put(%q) = %v, want ErrName", n, err)
			}
			if _, err := s.Get(ctx, n); !errors.Is(err, bronze.ErrName) {
				t.Errorf("Get(%q) = %v, want ErrName", n, err)
			}
		}
	})
	t.Run("ConditionalPut", func(t *testing.T) {
		s := newStore(t)
		cp, ok := s.(bronze.ConditionalPutter)
		if !ok {
			t.Skip("the store has no conditional put")
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				err := cp.PutIfAbsent(ctx, "manifest/000007", []byte{byte(i)})
				if err == nil {
					mu.Lock()
					wins++
					mu.Unlock()
				} else if !errors.Is(err, bronze.ErrExists) {
					t.Errorf("PutIfAbsent: %v", err)
				}
			}(i)
		}
		wg.Wait()
		if wins != 1 {
			t.Fatalf("%d conditional puts of one name succeeded, want exactly 1", wins)
		}
	})
	t.Run("ConcurrentPuts", func(t *testing.T) {
		s := newStore(t)
		var wg sync.WaitGroup
		for i := 0; i < 16; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				data := bytes.Repeat([]byte{byte(i)}, 1000+i)
				if err := s.Put(ctx, fmt.Sprintf("c/%02d", i), data); err != nil {
					t.Error(err)
				}
			}(i)
		}
		wg.Wait()
		names, err := s.List(ctx, "c/")
		must(t, err)
		if len(names) != 16 {
			t.Fatalf("List = %d names, want 16", len(names))
		}
		for i, n := range names {
			got, err := s.Get(ctx, n)
			must(t, err)
			if !bytes.Equal(got, bytes.Repeat([]byte{byte(i)}, 1000+i)) {
				t.Fatalf("%s has the wrong bytes", n)
			}
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
