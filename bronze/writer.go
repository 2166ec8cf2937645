package bronze

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/change"
)

// WriterConfig configures a Writer; the zero value works but for Store.
type WriterConfig struct {
	// Store is where files and the manifest go (required).
	Store Store
	// Avro sets the file codec (snappy by default).
	Avro AvroOptions
	// Shard names this writer in file names, so writers of different shards never collide.
	Shard int
	// MaxFileEvents splits a table's events of one commit into files of at most this many
	// events (default 100 000).
	MaxFileEvents int
	// Now is the clock for file dates and commit times (default time.Now).
	Now func() time.Time
}

func (c *WriterConfig) ensureDefaults() error {
	if c.Store == nil {
		return errors.New("bronze: WriterConfig.Store is required")
	}
	if c.MaxFileEvents <= 0 {
		c.MaxFileEvents = 100_000
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Shard < 0 {
		return fmt.Errorf("bronze: WriterConfig.Shard %d is negative", c.Shard)
	}
	return c.Avro.Validate()
}

// Writer appends whole transactions to the lake. Append buffers them; Commit writes one
// Avro file per table and schema version (split at MaxFileEvents), makes each durable,
// then publishes one manifest commit that lists them: the group commit, where one
// manifest put covers many transactions. Only after Commit returns may the source be
// acked with the commit's Position. A Writer is safe for concurrent use, but is meant
// to be the lake's only writer (see Manifest.CleanOrphans).
type Writer struct {
	cfg      WriterConfig
	manifest *Manifest

	mu      sync.Mutex
	groups  map[groupKey]*group
	order   []groupKey
	txs     int64
	lastPos cdc.Position
	seq     uint64 // file sequence number, unique across the writer's commits
}

type groupKey struct {
	table   string
	version int
	schema  *change.Schema
	key     *change.Schema
}

type group struct {
	events []cdc.Event
}

// OpenWriter opens the lake's manifest, removes files a crashed writer left without a
// commit, and returns a writer that resumes after the last committed position
// (Writer.Position): open the source there.
func OpenWriter(ctx context.Context, cfg WriterConfig) (*Writer, error) {
	if err := cfg.ensureDefaults(); err != nil {
		return nil, err
	}
	m, err := OpenManifest(ctx, cfg.Store)
	if err != nil {
		return nil, err
	}
	if _, err := m.CleanOrphans(ctx); err != nil {
		return nil, err
	}
	w := &Writer{cfg: cfg, manifest: m, groups: map[groupKey]*group{}}
	last, _ := m.Last()
	w.lastPos = last.Position
	w.seq = last.ID << 20 // file names of later commits never repeat earlier ones
	return w, nil
}

// Manifest returns the lake's manifest.
func (w *Writer) Manifest() *Manifest { return w.manifest }

// Position returns the commit position of the last committed transaction: where the
// source resumes.
func (w *Writer) Position() cdc.Position { return w.manifest.Position() }

// Append buffers a whole transaction. Transactions must come in commit order, after the
// last committed one; an earlier one (a redelivery) is an error the caller can skip.
func (w *Writer) Append(tx cdc.Tx) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.lastPos.IsZero() && !w.lastPos.Less(tx.Commit) {
		return fmt.Errorf("bronze: transaction %q at %s is not after %s", tx.ID, tx.Commit, w.lastPos)
	}
	for i := range tx.Events {
		ev := &tx.Events[i]
		k := groupKey{table: ev.Table, version: ev.SchemaVersion, schema: ev.Schema, key: ev.KeySchema}
		g := w.groups[k]
		if g == nil {
			g = &group{}
			w.groups[k] = g
			w.order = append(w.order, k)
		}
		g.events = append(g.events, *ev)
	}
	w.txs++
	w.lastPos = tx.Commit
	return nil
}

// Pending returns the number of transactions appended since the last commit.
func (w *Writer) Pending() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.txs
}

// Commit writes the buffered transactions and publishes them in one manifest commit.
// With nothing buffered it does nothing and returns the last commit. On error nothing
// of the buffer is visible to readers; the buffer is kept, so Commit can be retried.
func (w *Writer) Commit(ctx context.Context) (Commit, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.txs == 0 {
		c, _ := w.manifest.Last()
		return c, nil
	}
	now := w.cfg.Now().UTC()
	var files []FileEntry
	for _, k := range w.order {
		evs := w.groups[k].events
		for start := 0; start < len(evs); start += w.cfg.MaxFileEvents {
			part := evs[start:min(start+w.cfg.MaxFileEvents, len(evs))]
			f, err := w.writeFile(ctx, k, part, now)
			if err != nil {
				return Commit{}, err
			}
			files = append(files, f)
		}
	}
	c, err := w.manifest.Append(ctx, Commit{Time: now, Position: w.lastPos, Txs: w.txs, Files: files})
	if err != nil {
		return Commit{}, err
	}
	clear(w.groups)
	w.order, w.txs = w.order[:0], 0
	return c, nil
}

// writeFile encodes one group's events and puts them under
// bronze/{table}/{yyyy}/{mm}/{dd}/part-{shard}-{seq}.avro.
func (w *Writer) writeFile(ctx context.Context, k groupKey, evs []cdc.Event, now time.Time) (FileEntry, error) {
	var buf bytes.Buffer
	if err := EncodeEvents(&buf, evs, w.cfg.Avro); err != nil {
		return FileEntry{}, fmt.Errorf("bronze: commit %s: %w", k.table, err)
	}
	w.seq++
	table := k.table
	if table == "" {
		table = "_notable" // events without a table (messages, enriched examples)
	}
	name := fmt.Sprintf("%s%s/%04d/%02d/%02d/part-%d-%012d.avro", DataPrefix, Escape(table), now.Year(), now.Month(), now.Day(), w.cfg.Shard, w.seq)
	if err := w.cfg.Store.Put(ctx, name, buf.Bytes()); err != nil {
		return FileEntry{}, fmt.Errorf("bronze: commit %s: %w", k.table, err)
	}
	f := Entry(name, k.table, buf.Bytes())
	f.Rows = int64(len(evs))
	f.SchemaVersion = k.version
	f.MinPos, f.MaxPos = evs[0].Pos, evs[0].Pos
	for i := range evs {
		if evs[i].Pos.Less(f.MinPos) {
			f.MinPos = evs[i].Pos
		}
		if f.MaxPos.Less(evs[i].Pos) {
			f.MaxPos = evs[i].Pos
		}
	}
	return f, nil
}
