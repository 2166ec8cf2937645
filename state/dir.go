package state

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// publishDir makes dir appear only once fill has written it completely: fill
// writes into a fresh sibling directory, which is then synced and renamed to dir.
// fill is given a path that does not exist yet.
func publishDir(dir string, fill func(tmp string) error) error {
	if _, err := os.Stat(dir); err == nil {
		return fmt.Errorf("%w: %s", ErrCheckpointExists, dir)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("state: checkpoint %s: %w", dir, err)
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("state: checkpoint %s: %w", dir, err)
	}
	var r [6]byte
	_, _ = rand.Read(r[:])
	tmp := dir + ".tmp-" + hex.EncodeToString(r[:])
	if err := fill(tmp); err != nil {
		_ = os.RemoveAll(tmp)
		return err
	}
	if err := syncDir(tmp); err != nil {
		_ = os.RemoveAll(tmp)
		return fmt.Errorf("state: checkpoint %s: %w", dir, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		_ = os.RemoveAll(tmp)
		return fmt.Errorf("state: checkpoint %s: %w", dir, err)
	}
	if err := syncDir(parent); err != nil {
		return fmt.Errorf("state: checkpoint %s: %w", dir, err)
	}
	return nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// sweeper runs fn every interval until stopped.
type sweeper struct {
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

func startSweeper(interval time.Duration, fn func(context.Context)) *sweeper {
	s := &sweeper{stop: make(chan struct{}), done: make(chan struct{})}
	if interval <= 0 {
		close(s.done)
		return s
	}
	go func() {
		defer close(s.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				fn(ctx)
			}
		}
	}()
	return s
}

func (s *sweeper) close() {
	s.once.Do(func() { close(s.stop) })
	<-s.done
}
