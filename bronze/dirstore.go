package bronze

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// tmpMarker marks files of a Put in progress; List never shows them, and OpenDir removes
// those a crash left behind.
const tmpMarker = ".tmp-"

// StaleTemp is how long a temporary file must have gone unmodified before OpenDir takes
// it for the remains of an interrupted Put: a younger one may be another process's Put
// in progress on the same lake (an ingest while a query opens the lake).
const StaleTemp = 15 * time.Minute

// DirStore is a Store in a local directory. Put writes a temporary file beside the
// target, fsyncs it, renames it over the target and fsyncs the directory, so a crash at
// any instant leaves either the old object or the new one.
type DirStore struct {
	root string
}

// OpenDir opens (creating it if needed) a directory store and removes temporary files
// of Puts that a crash interrupted (those unmodified for StaleTemp).
func OpenDir(root string) (*DirStore, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("bronze: open %s: %w", root, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("bronze: open %s: %w", root, err)
	}
	err = filepath.WalkDir(abs, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.Contains(d.Name(), tmpMarker) {
			return nil
		}
		fi, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // its Put completed meanwhile
		}
		if err != nil {
			return err
		}
		if time.Since(fi.ModTime()) < StaleTemp {
			return nil
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("bronze: open %s: cleaning interrupted writes: %w", root, err)
	}
	return &DirStore{root: abs}, nil
}

// Root returns the directory.
func (s *DirStore) Root() string { return s.root }

func (s *DirStore) path(name string) (string, error) {
	if err := ValidName(name); err != nil {
		return "", err
	}
	if strings.Contains(name, tmpMarker) {
		return "", fmt.Errorf("%w: %q contains the reserved %q", ErrName, name, tmpMarker)
	}
	return filepath.Join(s.root, filepath.FromSlash(name)), nil
}

// Put publishes data under name atomically and durably.
func (s *DirStore) Put(ctx context.Context, name string, data []byte) error {
	p, err := s.path(name)
	if err != nil {
		return err
	}
	tmp, err := s.writeTemp(ctx, p, data)
	if err != nil {
		return fmt.Errorf("bronze: put %s: %w", name, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("bronze: put %s: %w", name, err)
	}
	if err := syncDir(filepath.Dir(p)); err != nil {
		return fmt.Errorf("bronze: put %s: %w", name, err)
	}
	return nil
}

// PutIfAbsent publishes data under name only if the name is free. It links the durable
// temporary file to the target, which fails atomically if the target exists.
func (s *DirStore) PutIfAbsent(ctx context.Context, name string, data []byte) error {
	p, err := s.path(name)
	if err != nil {
		return err
	}
	tmp, err := s.writeTemp(ctx, p, data)
	if err != nil {
		return fmt.Errorf("bronze: put %s: %w", name, err)
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, p); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("bronze: put %s: %w", name, ErrExists)
		}
		return fmt.Errorf("bronze: put %s: %w", name, err)
	}
	if err := syncDir(filepath.Dir(p)); err != nil {
		return fmt.Errorf("bronze: put %s: %w", name, err)
	}
	return nil
}

// writeTemp writes data to a fresh temporary file beside p and fsyncs it.
func (s *DirStore) writeTemp(ctx context.Context, p string, data []byte) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	dir := filepath.Dir(p)
	if err := s.mkdirs(dir); err != nil {
		return "", err
	}
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return "", err
	}
	tmp := p + tmpMarker + hex.EncodeToString(rnd[:])
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", err
	}
	_, werr := f.Write(data)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(tmp)
		return "", err
	}
	return tmp, nil
}

// mkdirs creates dir and its missing parents, fsyncing each parent that gained an entry,
// so a new object's directory survives a crash along with the object.
func (s *DirStore) mkdirs(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if dir == s.root || !strings.HasPrefix(dir, s.root) {
		return os.MkdirAll(dir, 0o755)
	}
	if err := s.mkdirs(filepath.Dir(dir)); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return syncDir(filepath.Dir(dir))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	serr := d.Sync()
	return errors.Join(serr, d.Close())
}

// Get returns the object's bytes.
func (s *DirStore) Get(ctx context.Context, name string) ([]byte, error) {
	p, err := s.path(name)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("bronze: get %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("bronze: get %s: %w", name, err)
	}
	return b, nil
}

// List returns the published names that start with prefix, sorted.
func (s *DirStore) List(ctx context.Context, prefix string) ([]string, error) {
	if err := validPrefix(prefix); err != nil {
		return nil, err
	}
	// walk the deepest directory that contains every match
	start := s.root
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		start = filepath.Join(s.root, filepath.FromSlash(prefix[:i]))
	}
	var out []string
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			return err
		}
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if d.IsDir() || strings.Contains(d.Name(), tmpMarker) {
			return nil
		}
		rel, err := filepath.Rel(s.root, p)
		if err != nil {
			return err
		}
		if name := filepath.ToSlash(rel); strings.HasPrefix(name, prefix) {
			out = append(out, name)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("bronze: list %q: %w", prefix, err)
	}
	sort.Strings(out)
	return out, nil
}

// Delete removes the object.
func (s *DirStore) Delete(ctx context.Context, name string) error {
	p, err := s.path(name)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("bronze: delete %s: %w", name, err)
	}
	return syncDir(filepath.Dir(p))
}
