package cdc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// DeadLetterFile is the name of the file FileDeadLetters appends to inside its directory.
const DeadLetterFile = "deadletters.jsonl"

// FileDeadLetters keeps dead letters durably in DIR/deadletters.jsonl, one JSON object
// per line:
//
//	{"time":"RFC 3339","reason":"...","table":"...","position":"MAJOR/MINOR/SEQ",
//	 "topic":"...","partition":0,"offset":5,"timestamp":"RFC 3339",
//	 "key_b64":"...","value_b64":"...","headers":[{"key":"...","value_b64":"..."}]}
//
// Raw bytes (key, value, header values) are base64, so they are kept exactly even when
// they are not UTF-8; null means nil and "" means empty. Put returns only once the line
// is on disk (fsync). It is safe for concurrent use within one process; two processes
// must not share a directory.
type FileDeadLetters struct {
	mu   sync.Mutex
	path string
	f    *os.File
	buf  []byte
}

// NewFileDeadLetters opens (creating it if needed) the dead-letter directory dir. A
// final line left incomplete by a crash during Put, which was never acknowledged, is
// cut off so that the file stays readable.
func NewFileDeadLetters(dir string) (*FileDeadLetters, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cdc: dead letters: %w", err)
	}
	path := filepath.Join(dir, DeadLetterFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cdc: dead letters: %w", err)
	}
	if err := cutTornTail(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cdc: dead letters %s: %w", path, err)
	}
	if err := syncDir(dir); err != nil {
		f.Close()
		return nil, fmt.Errorf("cdc: dead letters: %w", err)
	}
	return &FileDeadLetters{path: path, f: f}, nil
}

// cutTornTail truncates f after its last line break.
func cutTornTail(f *os.File) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	end := st.Size()
	buf := make([]byte, 4096)
	for off := end; off > 0; {
		n := int64(len(buf))
		if off < n {
			n = off
		}
		off -= n
		if _, err := f.ReadAt(buf[:n], off); err != nil {
			return err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			if keep := off + int64(i) + 1; keep != end {
				return truncateSync(f, keep)
			}
			return nil
		}
	}
	if end > 0 {
		return truncateSync(f, 0)
	}
	return nil
}

func truncateSync(f *os.File, size int64) error {
	if err := f.Truncate(size); err != nil {
		return err
	}
	return f.Sync()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}

// deadLetterJSON is the line format. []byte fields marshal as base64 (nil as null).
type deadLetterJSON struct {
	Time      time.Time          `json:"time"`
	Reason    string             `json:"reason"`
	Table     string             `json:"table"`
	Position  Position           `json:"position"`
	Topic     string             `json:"topic"`
	Partition int32              `json:"partition"`
	Offset    int64              `json:"offset"`
	Timestamp *time.Time         `json:"timestamp,omitempty"`
	Key       []byte             `json:"key_b64"`
	Value     []byte             `json:"value_b64"`
	Headers   []deadLetterHeader `json:"headers"`
}

type deadLetterHeader struct {
	Key   string `json:"key"`
	Value []byte `json:"value_b64"`
}

// Put appends dl and syncs the file before returning.
func (d *FileDeadLetters) Put(_ context.Context, dl DeadLetter) error {
	if dl.Time.IsZero() {
		dl.Time = time.Now()
	}
	rec := &dl.Record
	line := deadLetterJSON{
		Time: dl.Time.UTC(), Reason: dl.Reason, Table: dl.Table, Position: dl.Pos,
		Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset,
		Key: rec.Key, Value: rec.Value,
	}
	if !rec.Time.IsZero() {
		t := rec.Time.UTC()
		line.Timestamp = &t
	}
	if rec.Headers != nil {
		line.Headers = make([]deadLetterHeader, len(rec.Headers))
		for i, h := range rec.Headers {
			line.Headers[i] = deadLetterHeader{h.Key, h.Value}
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f == nil {
		return fmt.Errorf("cdc: dead letters %s: put after close: %w", d.path, os.ErrClosed)
	}
	var err error
	d.buf, err = appendJSONLine(d.buf[:0], &line)
	if err != nil {
		return fmt.Errorf("cdc: dead letter for %s: %w", rec.Origin(), err)
	}
	if _, err := d.f.Write(d.buf); err != nil {
		return fmt.Errorf("cdc: dead letters %s: %w", d.path, err)
	}
	if err := d.f.Sync(); err != nil {
		return fmt.Errorf("cdc: dead letters %s: %w", d.path, err)
	}
	return nil
}

func appendJSONLine(dst []byte, v any) ([]byte, error) {
	w := bytes.NewBuffer(dst)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil { // Encode ends the line with '\n'
		return dst, err
	}
	return w.Bytes(), nil
}

// Close closes the file; later Puts fail. It is safe to call more than once.
func (d *FileDeadLetters) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f == nil {
		return nil
	}
	err := d.f.Close()
	d.f = nil
	if err != nil {
		return fmt.Errorf("cdc: dead letters %s: %w", d.path, err)
	}
	return nil
}

// ReadDeadLetters reads back the dead letters stored in dir, oldest first: raw bytes
// identical to those put. A directory without dead letters gives none. A final line cut
// off by a crash (never acknowledged by Put) is ignored; any other unreadable line is an
// error naming FILE:LINE.
func ReadDeadLetters(dir string) ([]DeadLetter, error) {
	path := filepath.Join(dir, DeadLetterFile)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cdc: dead letters: %w", err)
	}
	defer f.Close()
	var out []DeadLetter
	br := bufio.NewReader(f)
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if err == io.EOF {
			return out, nil // an unterminated last line is a torn write
		}
		if err != nil {
			return out, fmt.Errorf("cdc: dead letters %s:%d: %w", path, n, err)
		}
		var j deadLetterJSON
		if err := json.Unmarshal(line, &j); err != nil {
			return out, fmt.Errorf("cdc: dead letters %s:%d: %w", path, n, err)
		}
		dl := DeadLetter{
			Pos: j.Position, Table: j.Table, Reason: j.Reason, Time: j.Time,
			Record: Record{Topic: j.Topic, Partition: j.Partition, Offset: j.Offset, Key: j.Key, Value: j.Value},
		}
		if j.Timestamp != nil {
			dl.Record.Time = *j.Timestamp
		}
		if j.Headers != nil {
			dl.Record.Headers = make([]Header, len(j.Headers))
			for i, h := range j.Headers {
				dl.Record.Headers[i] = Header{h.Key, h.Value}
			}
		}
		out = append(out, dl)
	}
}
