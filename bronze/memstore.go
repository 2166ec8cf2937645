package bronze

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// MemStore is a Store in memory: for tests, examples and pipelines that need no
// durability. It keeps its own copies of the bytes it is given and returns.
type MemStore struct {
	mu   sync.RWMutex
	objs map[string][]byte
}

// NewMemStore returns an empty in-memory store.
func NewMemStore() *MemStore { return &MemStore{objs: map[string][]byte{}} }

// Put stores a copy of data.
func (m *MemStore) Put(ctx context.Context, name string, data []byte) error {
	if err := ValidName(name); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	m.objs[name] = append([]byte{}, data...)
	m.mu.Unlock()
	return nil
}

// PutIfAbsent stores a copy of data if the name is free.
func (m *MemStore) PutIfAbsent(ctx context.Context, name string, data []byte) error {
	if err := ValidName(name); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.objs[name]; ok {
		return fmt.Errorf("bronze: put %s: %w", name, ErrExists)
	}
	m.objs[name] = append([]byte{}, data...)
	return nil
}

// Get returns a copy of the object.
func (m *MemStore) Get(ctx context.Context, name string) ([]byte, error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	m.mu.RLock()
	b, ok := m.objs[name]
	m.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("bronze: get %s: %w", name, ErrNotFound)
	}
	return append([]byte{}, b...), nil
}

// List returns the names that start with prefix, sorted.
func (m *MemStore) List(ctx context.Context, prefix string) ([]string, error) {
	if err := validPrefix(prefix); err != nil {
		return nil, err
	}
	m.mu.RLock()
	var out []string
	for name := range m.objs {
		if strings.HasPrefix(name, prefix) {
			out = append(out, name)
		}
	}
	m.mu.RUnlock()
	sort.Strings(out)
	return out, nil
}

// Delete removes the object.
func (m *MemStore) Delete(ctx context.Context, name string) error {
	if err := ValidName(name); err != nil {
		return err
	}
	m.mu.Lock()
	delete(m.objs, name)
	m.mu.Unlock()
	return nil
}
