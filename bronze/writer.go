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
	// DeadLetters receives every event of a transaction the lake refuses (a schema that
	// is not a compatible evolution of its table's latest version). Without it, Append
	// returns the error instead and the caller must decide.
	DeadLetters cdc.DeadLetters
	// Metrics counts refused and dead-lettered events (nil: not counted).
	Metrics *cdc.Metrics
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
//
// The lake, not the decoder, numbers schema versions (a decoder's SchemaVersion
// restarts at 1 with its process): Append gives every event the lake's version of its
// table's schema, registering a new version (see [Schemas]) when the schema is a
// compatible evolution of the latest, and refusing the transaction when it is not.
type Writer struct {
	cfg      WriterConfig
	manifest *Manifest

	mu      sync.Mutex
	groups  map[groupKey]*group
	order   []groupKey
	txs     int64 // transactions appended since the last commit, refused ones included
	refused int64 // of which dead-lettered
	lastPos cdc.Position
	seq     uint64 // file sequence number, unique across the writer's commits

	tables  map[string]*tableSchema // latest version per table, registered or pending
	known   map[schemaRef]knownSchema
	pending []SchemaEntry // versions registered since the last commit, published with it
	// scratch of Append, kept to avoid allocating per transaction
	vers  []int        // lake version of each event
	fresh []newVersion // versions the transaction would register
	learn []schemaRef  // schemas to remember in known once the transaction is taken
}

type groupKey struct {
	table   string
	version int // every event of a group with a schema has one Equal to this version's
	key     *change.Schema
}

// tableSchema is the writer's view of one table's schema versions.
type tableSchema struct {
	latest SchemaVersion
}

// schemaRef is a table's schema by pointer: decoders share one *change.Schema per table
// and version, so a pointer seen before costs one map hit.
type schemaRef struct {
	table  string
	schema *change.Schema
}

// knownSchema records that a schema pointer is identical to version of ts; it holds
// while that version is still the table's latest.
type knownSchema struct {
	ts      *tableSchema
	version int
}

// maxKnown bounds the pointer cache: schemas are few, but a producer that builds a new
// *change.Schema per event must not grow it without end.
const maxKnown = 4096

type newVersion struct {
	table string
	sv    SchemaVersion
	entry SchemaEntry
}

type group struct {
	events []eventRef // into the appended transactions' events, which Commit encodes
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
	reg, err := m.Schemas()
	if err != nil {
		return nil, err
	}
	w := &Writer{cfg: cfg, manifest: m, groups: map[groupKey]*group{},
		tables: map[string]*tableSchema{}, known: map[schemaRef]knownSchema{}}
	for _, t := range reg.Tables() {
		sv, _ := reg.Latest(t)
		w.tables[t] = &tableSchema{latest: sv}
	}
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
//
// Each event is stored with the lake's version of its table's schema (events without a
// schema, such as truncates, messages and tombstones, with version 0). A schema
// identical to the table's latest version takes that version; a compatible evolution
// of it becomes the next version, registered in the commit that publishes its first
// event. A transaction with any other schema is refused whole: with DeadLetters, every
// one of its events is dead-lettered with the reason (table, position, column and rule),
// its position still advances the writer so the source is acked past it, and Append
// returns nil; without, Append returns an error wrapping change.ErrIncompatible and
// nothing changes. Dead letters are put with a background context; if a put fails,
// Append returns the error, nothing changes, and a retry may put some events twice.
//
// The writer keeps a reference to tx.Events, not a copy, until the Commit that writes
// them returns: leave them unchanged until then (transactions from a cdc.Assembler are
// the caller's to give away). Each stored event carries tx.Commit as its
// transaction's commit position.
func (w *Writer) Append(tx cdc.Tx) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.lastPos.IsZero() && !w.lastPos.Less(tx.Commit) {
		return fmt.Errorf("bronze: transaction %q at %s is not after %s", tx.ID, tx.Commit, w.lastPos)
	}
	if err := w.resolve(&tx); err != nil {
		if !errors.Is(err, change.ErrIncompatible) {
			return err
		}
		return w.reject(&tx, err)
	}
	for _, nv := range w.fresh {
		ts := w.tables[nv.table]
		if ts == nil {
			ts = &tableSchema{}
			w.tables[nv.table] = ts
		}
		ts.latest = nv.sv
		w.pending = append(w.pending, nv.entry)
	}
	if len(w.known)+len(w.learn) > maxKnown {
		clear(w.known)
	}
	for _, ref := range w.learn {
		if ts := w.tables[ref.table]; ts != nil && ts.latest.Schema.Equal(ref.schema) {
			w.known[ref] = knownSchema{ts: ts, version: ts.latest.Version}
		}
	}
	var g *group
	var gk groupKey
	for i := range tx.Events {
		// The event is referenced, not copied, and left as it was: the file gets the
		// lake's version and the transaction's commit position from the reference.
		ev := &tx.Events[i]
		k := groupKey{table: ev.Table, version: w.vers[i], key: ev.KeySchema}
		if g == nil || k != gk {
			g, gk = w.groups[k], k
			if g == nil {
				g = &group{}
				w.groups[k] = g
				w.order = append(w.order, k)
			}
		}
		g.events = append(g.events, eventRef{ev: ev, version: w.vers[i], commit: tx.Commit})
	}
	w.txs++
	w.lastPos = tx.Commit
	return nil
}

// resolve finds the lake version of every event's schema into w.vers, and the versions
// the transaction would register into w.fresh, without changing the writer's state.
func (w *Writer) resolve(tx *cdc.Tx) error {
	w.vers, w.fresh, w.learn = w.vers[:0], w.fresh[:0], w.learn[:0]
	var last schemaRef
	lastVer := 0
	for i := range tx.Events {
		ev := &tx.Events[i]
		if ev.Schema == nil {
			w.vers = append(w.vers, 0)
			continue
		}
		ref := schemaRef{ev.Table, ev.Schema}
		if ref != last {
			v, err := w.versionOf(ref, ev)
			if err != nil {
				return fmt.Errorf("bronze: transaction %q refused: table %q at %s: %w", tx.ID, ev.Table, ev.Pos, err)
			}
			last, lastVer = ref, v
		}
		w.vers = append(w.vers, lastVer)
	}
	return nil
}

// versionOf returns the lake version of an event's schema, adding to w.fresh when the
// schema makes a new version.
func (w *Writer) versionOf(ref schemaRef, ev *cdc.Event) (int, error) {
	// A version this transaction registers is the table's latest.
	for j := len(w.fresh) - 1; j >= 0; j-- {
		if w.fresh[j].table == ref.table {
			return w.follow(ref, w.fresh[j].sv, ev)
		}
	}
	if k, ok := w.known[ref]; ok && k.ts.latest.Version == k.version {
		return k.version, nil
	}
	var latest SchemaVersion
	if ts := w.tables[ref.table]; ts != nil {
		latest = ts.latest
	}
	w.learn = append(w.learn, ref)
	return w.follow(ref, latest, ev)
}

// follow returns latest's version when the schema is identical to it, or registers the
// schema as the next version when it is a compatible evolution of it.
func (w *Writer) follow(ref schemaRef, latest SchemaVersion, ev *cdc.Event) (int, error) {
	if latest.Version > 0 {
		if latest.Schema.Equal(ref.schema) {
			return latest.Version, nil
		}
		if err := change.CheckEvolution(latest.Schema, ref.schema); err != nil {
			return 0, fmt.Errorf("schema cannot follow version %d: %w", latest.Version, err)
		}
	}
	sv := SchemaVersion{Version: latest.Version + 1, Schema: ref.schema, KeySchema: ev.KeySchema}
	e, err := newSchemaEntry(ref.table, sv)
	if err != nil {
		return 0, err
	}
	w.fresh = append(w.fresh, newVersion{table: ref.table, sv: sv, entry: e})
	return sv.Version, nil
}

// reject dead-letters every event of a refused transaction and moves the writer past it.
func (w *Writer) reject(tx *cdc.Tx, cause error) error {
	ctx := context.Background()
	now := w.cfg.Now()
	for i := range tx.Events {
		ev := &tx.Events[i]
		dl := cdc.DeadLetter{
			Record: cdc.Record{Topic: ev.Origin.Topic, Partition: ev.Origin.Partition, Offset: ev.Origin.Offset,
				Value: cdc.AppendEventJSON(nil, ev)},
			Pos:   ev.Pos,
			Table: ev.Table,
			Time:  now,
		}
		if err := cdc.Reject(ctx, w.cfg.DeadLetters, w.cfg.Metrics, dl, cause); err != nil {
			return err
		}
	}
	w.txs++ // the next commit's position covers it, so the source is acked past it
	w.refused++
	w.lastPos = tx.Commit
	return nil
}

// Pending returns the number of transactions appended since the last commit, including
// dead-lettered ones: a commit is still needed to move the lake's position past them.
func (w *Writer) Pending() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.txs
}

// Commit writes the buffered transactions and publishes them in one manifest commit,
// with the schema versions they register. With nothing buffered it does nothing and
// returns the last commit. On error nothing of the buffer is visible to readers; the
// buffer is kept, so Commit can be retried. The commit's Position covers dead-lettered
// transactions, but its Txs counts only the transactions it stores.
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
	c, err := w.manifest.Append(ctx, Commit{Time: now, Position: w.lastPos, Txs: w.txs - w.refused, Files: files, Schemas: w.pending})
	if err != nil {
		return Commit{}, err
	}
	w.pending = nil // the manifest keeps the slice
	clear(w.groups)
	w.order, w.txs, w.refused = w.order[:0], 0, 0
	return c, nil
}

// writeFile encodes one group's events and puts them under
// bronze/{table}/{yyyy}/{mm}/{dd}/part-{shard}-{seq}.avro.
func (w *Writer) writeFile(ctx context.Context, k groupKey, evs []eventRef, now time.Time) (FileEntry, error) {
	var buf bytes.Buffer
	if err := encodeRefs(&buf, evs, w.cfg.Avro); err != nil {
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
	f.MinPos, f.MaxPos = evs[0].ev.Pos, evs[0].ev.Pos
	for i := range evs {
		if p := evs[i].ev.Pos; p.Less(f.MinPos) {
			f.MinPos = p
		} else if f.MaxPos.Less(p) {
			f.MaxPos = p
		}
	}
	return f, nil
}
