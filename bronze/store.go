package bronze

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Errors of stores, matched with errors.Is.
var (
	// ErrNotFound: no object has the name.
	ErrNotFound = errors.New("bronze: object not found")
	// ErrExists: a conditional put found the name taken.
	ErrExists = errors.New("bronze: object exists")
	// ErrName: a name is not a valid object name.
	ErrName = errors.New("bronze: invalid object name")
)

// Store is an object store with atomic publication: a reader sees an object whole or
// not at all, never a prefix of it, even after a crash in the middle of Put.
// Implementations are safe for concurrent use.
type Store interface {
	// Put publishes data under name, replacing what was there. When Put returns nil the
	// object is durable.
	Put(ctx context.Context, name string, data []byte) error
	// Get returns the object's bytes, or ErrNotFound.
	Get(ctx context.Context, name string) ([]byte, error)
	// List returns the names that start with prefix, sorted.
	List(ctx context.Context, prefix string) ([]string, error)
	// Delete removes the object; deleting a missing object is not an error.
	Delete(ctx context.Context, name string) error
}

// ConditionalPutter is the optional capability of a store that can publish an object
// only if its name is free (a manifest entry that two writers race for).
type ConditionalPutter interface {
	// PutIfAbsent publishes data under name, or returns ErrExists if the name is taken.
	PutIfAbsent(ctx context.Context, name string, data []byte) error
}

// ValidName reports, as an error wrapping ErrName, whether name can be used as an object
// name: slash-separated, relative, with non-empty segments that are not "." or "..", and
// no backslash, NUL or other control character. Names that pass never escape the store's
// root when mapped to paths.
func ValidName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty", ErrName)
	}
	if len(name) > 1024 {
		return fmt.Errorf("%w: %d bytes (at most 1024)", ErrName, len(name))
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return fmt.Errorf("%w: %q has a control character or backslash at byte %d", ErrName, name, i)
		}
	}
	for _, seg := range strings.Split(name, "/") {
		if len(seg) > maxSegment {
			return fmt.Errorf("%w: a segment of %q has %d bytes (at most %d)", ErrName, name, len(seg), maxSegment)
		}
		switch seg {
		case "":
			return fmt.Errorf("%w: %q has an empty segment (leading, trailing or double slash)", ErrName, name)
		case ".", "..":
			return fmt.Errorf("%w: %q has a %q segment", ErrName, name, seg)
		}
	}
	return nil
}

// validPrefix checks a List prefix: empty, or a name, or a name followed by "/".
func validPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if err := ValidName(strings.TrimSuffix(prefix, "/")); err != nil {
		return fmt.Errorf("prefix: %w", err)
	}
	return nil
}

// maxSegment bounds one name segment: file systems refuse segments over 255 bytes.
const maxSegment = 255

// escapedMax is the longest escaped segment kept whole; longer ones are shortened.
const escapedMax = 200

// Escape turns a string from data (a table or topic name) into one safe name segment:
// bytes outside [A-Za-z0-9_.-] become %XX, and a leading dot is escaped, so "." and ".."
// and hidden names cannot arise. It is injective. A result longer than 200 bytes is cut
// and suffixed with "~" and 16 hex digits of the input's sha256 (no other result has a
// "~"); Unescape reverses every result but those, whose originals the manifest keeps.
func Escape(s string) string {
	if s == "" {
		return "%"
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || (c == '.' && i > 0) {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	out := b.String()
	if len(out) <= escapedMax {
		return out
	}
	cut := escapedMax - 17
	for cut > 0 && strings.LastIndexByte(out[:cut], '%') >= cut-2 {
		cut-- // do not split a %XX
	}
	sum := sha256.Sum256([]byte(s))
	return out[:cut] + "~" + hex.EncodeToString(sum[:8])
}

// Unescape reverses Escape.
func Unescape(seg string) (string, error) {
	if seg == "%" {
		return "", nil
	}
	if strings.Contains(seg, "~") {
		return "", fmt.Errorf("%w: %q is a shortened escape of a long name; the manifest holds the original", ErrName, seg)
	}
	var b strings.Builder
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(seg) {
			return "", fmt.Errorf("%w: bad escape in %q", ErrName, seg)
		}
		var v byte
		if _, err := fmt.Sscanf(seg[i+1:i+3], "%02X", &v); err != nil {
			return "", fmt.Errorf("%w: bad escape in %q", ErrName, seg)
		}
		b.WriteByte(v)
		i += 2
	}
	return b.String(), nil
}
