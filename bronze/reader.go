package bronze

import (
	"bytes"
	"cmp"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"iter"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/change"
)

// ErrRemoved: a replay needs a file that retention removed; start it from a snapshot.
var ErrRemoved = errors.New("bronze: file removed by retention")

// CommittedFile is a data file as a reader sees it: its entry and the commit that
// published it.
type CommittedFile struct {
	FileEntry
	CommitID   uint64
	CommitTime time.Time
	// Removed is the id of the commit that dropped the file (retention), 0 while live.
	Removed uint64
}

// FileFilter selects committed files; its zero value selects every live file.
type FileFilter struct {
	// Tables keeps files of these tables only (all tables when empty).
	Tables []string
	// After and Through keep files holding events with positions in (After, Through];
	// a zero bound is open.
	After, Through cdc.Position
	// Since and Until keep files committed in [Since, Until); a zero bound is open.
	Since, Until time.Time
	// WithRemoved also returns files that retention removed (marked by Removed).
	WithRemoved bool
}

func (f *FileFilter) keep(cf *CommittedFile) bool {
	switch {
	case len(f.Tables) > 0 && !slices.Contains(f.Tables, cf.Table):
	case !f.After.IsZero() && !f.After.Less(cf.MaxPos):
	case !f.Through.IsZero() && f.Through.Less(cf.MinPos):
	case !f.Since.IsZero() && cf.CommitTime.Before(f.Since):
	case !f.Until.IsZero() && !cf.CommitTime.Before(f.Until):
	case cf.Removed != 0 && !f.WithRemoved:
	default:
		return true
	}
	return false
}

// Reader reads what a lake has committed: its files, their checksums, and its events in
// global commit order. It sees the manifest as it was when opened (see Refresh).
type Reader struct {
	store    Store
	manifest *Manifest
}

// OpenReader reads the lake's manifest.
func OpenReader(ctx context.Context, store Store) (*Reader, error) {
	m, err := OpenManifest(ctx, store)
	if err != nil {
		return nil, err
	}
	return &Reader{store: store, manifest: m}, nil
}

// Manifest returns the manifest the reader sees.
func (r *Reader) Manifest() *Manifest { return r.manifest }

// Refresh rereads the manifest, so commits published since are seen.
func (r *Reader) Refresh(ctx context.Context) error {
	m, err := OpenManifest(ctx, r.store)
	if err != nil {
		return err
	}
	r.manifest = m
	return nil
}

// Files returns the committed files f selects, in commit order.
func (r *Reader) Files(f FileFilter) []CommittedFile {
	commits := r.manifest.Commits()
	live := liveNames(commits) // the manifest's one rule for what is live
	removedBy := map[string]uint64{}
	for _, c := range commits {
		for _, n := range c.Removed {
			removedBy[n] = c.ID
		}
	}
	var out []CommittedFile
	for _, c := range commits {
		for _, fe := range c.Files {
			cf := CommittedFile{FileEntry: fe, CommitID: c.ID, CommitTime: c.Time}
			if id := live[fe.Name]; id != c.ID {
				cf.Removed = cmp.Or(removedBy[fe.Name], id)
			}
			if f.keep(&cf) {
				out = append(out, cf)
			}
		}
	}
	return out
}

// VerifyReport is what Verify found.
type VerifyReport struct {
	Commits   int
	Files     int
	Snapshots int
	Events    int64
	Tables    int
	// DuplicatePositions counts events stored more than once: for each position held by
	// k events, k-1. It must be 0.
	DuplicatePositions int64
	// OutOfOrder counts events (not duplicates) that replay would return after an event
	// ordered after them. It must be 0.
	OutOfOrder int64
}

// Verify reads every live file and snapshot, checks its checksum, that its event count
// and position range match its entry and that its table is the entry's, and counts
// events, duplicate positions and events out of commit order. Every problem is
// returned (joined), each naming its commit and file; the report counts what was read.
// Memory stays bounded by the largest commit: positions are kept for one commit at a
// time, plus the suspicious ones of a second pass when the first finds any.
func (r *Reader) Verify(ctx context.Context) (VerifyReport, error) {
	var rep VerifyReport
	var errs []error
	commits := r.manifest.Commits()
	rep.Commits = len(commits)
	tables := map[string]bool{}
	files := r.Files(FileFilter{})
	var (
		positions []cdc.Position // of the current commit
		max       cdc.Position   // the greatest position so far
		seen      bool
		suspects  = map[cdc.Position]int{}
	)
	scan := func(cf *CommittedFile, each func(cdc.Position)) (int64, error) {
		b, err := r.manifest.ReadFile(ctx, cf.FileEntry)
		if err != nil {
			return 0, err
		}
		return scanEvents(b, cf, each)
	}
	for start := 0; start < len(files); {
		end := start + 1
		for end < len(files) && files[end].CommitID == files[start].CommitID {
			end++
		}
		positions = positions[:0]
		for i := start; i < end; i++ {
			if err := ctx.Err(); err != nil {
				return rep, err
			}
			cf := &files[i]
			rep.Files++
			tables[cf.Table] = true
			n, err := scan(cf, func(p cdc.Position) { positions = append(positions, p) })
			rep.Events += n
			if err != nil {
				errs = append(errs, fmt.Errorf("commit %d: %s: %w", cf.CommitID, cf.Name, err))
			} else if n != cf.Rows {
				errs = append(errs, fmt.Errorf("commit %d: %s holds %d events, its entry says %d", cf.CommitID, cf.Name, n, cf.Rows))
			}
		}
		slices.SortFunc(positions, cdc.Position.Compare)
		for _, p := range positions {
			if seen && !max.Less(p) {
				suspects[p] = 0
			} else {
				max, seen = p, true
			}
		}
		start = end
	}
	if len(suspects) > 0 {
		for i := range files {
			_, _ = scan(&files[i], func(p cdc.Position) {
				if n, ok := suspects[p]; ok {
					suspects[p] = n + 1
				}
			})
		}
		for _, n := range suspects {
			if n > 1 {
				rep.DuplicatePositions += int64(n - 1)
			} else {
				rep.OutOfOrder++
			}
		}
	}
	live := liveNames(commits)
	for _, c := range commits {
		for _, s := range c.Snapshots {
			if live[s.Name] != c.ID {
				continue // removed by retention (superseded by a later snapshot)
			}
			rep.Snapshots++
			if _, err := r.manifest.ReadFile(ctx, FileEntry{Name: s.Name, Bytes: s.Bytes, SHA256: s.SHA256}); err != nil {
				errs = append(errs, fmt.Errorf("commit %d: snapshot of %s: %w", c.ID, s.Table, err))
			}
		}
	}
	rep.Tables = len(tables)
	return rep, errors.Join(errs...)
}

// scanEvents decodes an event file, checks each event against the file's entry, and
// hands each data event's position to each (transaction metadata has no position).
func scanEvents(b []byte, cf *CommittedFile, each func(cdc.Position)) (int64, error) {
	er, err := NewEventReader(bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	defer er.Close()
	var n int64
	for er.Next() {
		ev := er.Event()
		n++
		if ev.Table != cf.Table {
			return n, fmt.Errorf("event %d belongs to table %q", n, ev.Table)
		}
		if ev.Pos.Less(cf.MinPos) || cf.MaxPos.Less(ev.Pos) {
			return n, fmt.Errorf("event %d at %s is outside the entry's range [%s, %s]", n, ev.Pos, cf.MinPos, cf.MaxPos)
		}
		if ev.Op != cdc.OpTxBegin && ev.Op != cdc.OpTxEnd {
			each(ev.Pos)
		}
	}
	return n, er.Err()
}

// ReplayOptions selects what Replay returns.
type ReplayOptions struct {
	// Tables replays these tables only (all when empty).
	Tables []string
	// After and Through bound the transactions replayed by commit position:
	// (After, Through]; a zero bound is open. Transactions are never split.
	After, Through cdc.Position
	// FromSnapshots starts each table that has a snapshot from its latest one: its rows
	// come first, as read events (OpRead) at the snapshot's position, then the table's
	// events committed after it. Folding that replay gives the same state as folding
	// the full one, and it still works once retention has removed the files a snapshot
	// covers. It needs After to be zero and Through to be open.
	FromSnapshots bool
}

// Replay returns the lake's events in global commit order: by commit, then a k-way
// merge by position across the commit's files (each file is in commit order already).
// Every file is checked against its checksum before its events are returned; a
// mismatch ends the replay with an ErrChecksum naming the file. A file that retention
// removed ends it with ErrRemoved: replay after the snapshot that covers it.
func (r *Reader) Replay(ctx context.Context, opts ReplayOptions) iter.Seq2[cdc.Event, error] {
	return func(yield func(cdc.Event, error) bool) {
		p := newReplayer(r.manifest, opts)
		defer p.close()
		for {
			ev, ok, err := p.next(ctx)
			if err != nil {
				yield(cdc.Event{}, err)
				return
			}
			if !ok || !yield(ev, nil) {
				return
			}
		}
	}
}

// replayer is Replay's state: the files left, and the merge of the current commit's.
// Files are decoded ahead, each by a goroutine of its own (see fileStream): those of
// the commit being merged and up to prefetchFiles more, so decoding uses every core
// while the caller consumes events.
type replayer struct {
	man     *Manifest
	opts    ReplayOptions
	files   []CommittedFile
	started []*fileStream // streams of files[i:], started in order
	i       int           // first file not yet merged
	m       merger
	last    uint64 // id of the last commit whose files were taken
	done    chan struct{}
	closed  bool

	snaps    []SnapshotEntry   // snapshots still to replay, in position order
	snapFrom map[string]uint64 // table -> commit id its snapshot covers
	snapEvs  []cdc.Event       // rows of the snapshot being replayed
	snapErr  error
}

// prefetchFiles bounds how many files past the current commit are decoded ahead.
var prefetchFiles = max(2, runtime.GOMAXPROCS(0))

func newReplayer(man *Manifest, opts ReplayOptions) *replayer {
	p := &replayer{man: man, opts: opts, done: make(chan struct{})}
	if opts.FromSnapshots {
		if !opts.After.IsZero() || !opts.Through.IsZero() {
			p.snapErr = errors.New("bronze: a replay from snapshots starts at the beginning: After and Through must be zero")
		}
		p.snapFrom = map[string]uint64{}
		commits := man.Commits()
		for _, c := range commits {
			for _, e := range c.Snapshots {
				if _, ok := p.snapFrom[e.Table]; ok || len(opts.Tables) > 0 && !slices.Contains(opts.Tables, e.Table) {
					continue
				}
				if latest, ok := man.LatestSnapshot(e.Table, 0); ok {
					p.snaps = append(p.snaps, latest)
					p.snapFrom[e.Table] = latest.CommitID
				}
			}
		}
		slices.SortFunc(p.snaps, func(a, b SnapshotEntry) int {
			if c := a.Position.Compare(b.Position); c != 0 {
				return c
			}
			return strings.Compare(a.Table, b.Table)
		})
	}
	p.refresh(man)
	return p
}

// snapshotEvents reads a snapshot as read events at its position.
func (p *replayer) snapshotEvents(ctx context.Context, e SnapshotEntry) ([]cdc.Event, error) {
	b, err := ReadSnapshot(ctx, p.man.store, e, nil)
	if err != nil {
		return nil, err
	}
	defer b.Release()
	s := b.Schema()
	var keySchema *change.Schema
	if key := s.Key(); len(key) > 0 {
		fields := make([]arrow.Field, len(key))
		for i, k := range key {
			fields[i] = s.Field(k)
		}
		if keySchema, err = change.NewSchema(fields); err != nil {
			return nil, fmt.Errorf("bronze: snapshot %s: key schema: %w", e.Name, err)
		}
	}
	evs := make([]cdc.Event, b.Len())
	for i := range evs {
		row := b.Row(i)
		evs[i] = cdc.Event{Table: e.Table, Op: cdc.OpRead, Schema: s, SchemaVersion: e.SchemaVersion,
			KeySchema: keySchema, Key: s.KeyOf(row), After: row, Pos: e.Position,
			Origin: cdc.Origin{Topic: e.Name, Offset: int64(i)}, Source: cdc.SourceInfo{Snapshot: "true"},
			Tx: cdc.TxInfo{Commit: e.Position}}
	}
	return evs, nil
}

// refresh takes the files of commits after the last one taken from man.
func (p *replayer) refresh(man *Manifest) {
	p.man = man
	for _, f := range (&Reader{manifest: man}).Files(FileFilter{Tables: p.opts.Tables, After: p.opts.After, Through: p.opts.Through, WithRemoved: true}) {
		if from, ok := p.snapFrom[f.Table]; ok && f.CommitID <= from {
			continue // the table's snapshot covers it
		}
		if f.CommitID > p.last {
			p.files = append(p.files, f)
		}
	}
	if c, ok := man.Last(); ok {
		p.last = c.ID
	}
}

// startThrough starts decoding files up to index end (exclusive), plus prefetchFiles.
func (p *replayer) startThrough(ctx context.Context, end int) {
	for want := min(len(p.files), end+prefetchFiles); p.i+len(p.started) < want; {
		p.started = append(p.started, p.stream(ctx, p.files[p.i+len(p.started)]))
	}
}

func (p *replayer) next(ctx context.Context) (cdc.Event, bool, error) {
	if p.snapErr != nil {
		return cdc.Event{}, false, p.snapErr
	}
	for len(p.snapEvs) > 0 || len(p.snaps) > 0 {
		if len(p.snapEvs) > 0 {
			ev := p.snapEvs[0]
			p.snapEvs = p.snapEvs[1:]
			return ev, true, nil
		}
		evs, err := p.snapshotEvents(ctx, p.snaps[0])
		if err != nil {
			return cdc.Event{}, false, err
		}
		p.snaps, p.snapEvs = p.snaps[1:], evs
	}
	for {
		ev, ok, err := p.m.next()
		if err != nil {
			return ev, false, err
		}
		if !ok {
			if p.i == len(p.files) {
				p.files, p.i = p.files[:0], 0
				return cdc.Event{}, false, nil
			}
			end := p.i + 1
			for end < len(p.files) && p.files[end].CommitID == p.files[p.i].CommitID {
				end++
			}
			p.startThrough(ctx, end)
			n := end - p.i
			if err := p.m.open(p.started[:n]); err != nil {
				return cdc.Event{}, false, err
			}
			p.started = append(p.started[:0], p.started[n:]...)
			p.i = end
			p.startThrough(ctx, end)
			continue
		}
		c := commitOf(&ev)
		if !p.opts.After.IsZero() && !p.opts.After.Less(c) || !p.opts.Through.IsZero() && p.opts.Through.Less(c) {
			continue
		}
		return ev, true, nil
	}
}

// close stops the decoders; safe to call more than once.
func (p *replayer) close() {
	if !p.closed {
		p.closed = true
		close(p.done)
	}
	p.m.h = p.m.h[:0]
	p.started = nil
}

// fileStream hands over one file's events, decoded by a goroutine, in chunks.
type fileStream struct {
	f   CommittedFile
	ch  chan chunk
	cur []cdc.Event
	i   int
	err error
	ev  cdc.Event // the current event, while the stream is in the merge heap
}

type chunk struct {
	evs []cdc.Event
	err error
}

// streamChunk is the number of events handed over at once: a channel operation per
// event would cost more than decoding it.
const streamChunk = 256

var chunkPool = sync.Pool{New: func() any { return make([]cdc.Event, 0, streamChunk) }}

// stream starts decoding f: read, checksum, decode.
func (p *replayer) stream(ctx context.Context, f CommittedFile) *fileStream {
	s := &fileStream{f: f, ch: make(chan chunk, 4)}
	done := p.done
	man := p.man
	go func() {
		defer close(s.ch)
		send := func(c chunk) bool {
			select {
			case s.ch <- c:
				return true
			case <-done:
				return false
			case <-ctx.Done():
				return false
			}
		}
		fail := func(err error) { send(chunk{err: err}) }
		if f.Removed != 0 {
			fail(fmt.Errorf("%w: %s (commit %d) was removed in commit %d; replay from snapshots", ErrRemoved, f.Name, f.CommitID, f.Removed))
			return
		}
		b, err := man.ReadFile(ctx, f.FileEntry)
		if err != nil {
			fail(fmt.Errorf("bronze: replay commit %d: %w", f.CommitID, err))
			return
		}
		er, err := NewEventReader(bytes.NewReader(b))
		if err != nil {
			fail(fmt.Errorf("bronze: replay commit %d: %s: %w", f.CommitID, f.Name, err))
			return
		}
		defer er.Close()
		evs := chunkPool.Get().([]cdc.Event)[:0]
		for er.Next() {
			evs = append(evs, er.Event())
			if len(evs) == streamChunk {
				if !send(chunk{evs: evs}) {
					return
				}
				evs = chunkPool.Get().([]cdc.Event)[:0]
			}
		}
		c := chunk{evs: evs}
		if err := er.Err(); err != nil {
			c.err = fmt.Errorf("bronze: replay commit %d: %s: %w", f.CommitID, f.Name, err)
		}
		if len(c.evs) > 0 || c.err != nil {
			send(c)
		}
	}()
	return s
}

// next moves to the stream's next event (s.ev); false at its end.
func (s *fileStream) next() (bool, error) {
	for s.i == len(s.cur) {
		if s.err != nil {
			return false, s.err
		}
		if s.cur != nil {
			chunkPool.Put(s.cur[:0]) //nolint:staticcheck // a slice header is small enough
			s.cur = nil
		}
		c, ok := <-s.ch
		if !ok {
			return false, nil
		}
		s.cur, s.i, s.err = c.evs, 0, c.err
	}
	s.ev = s.cur[s.i]
	s.i++
	return true, nil
}

// commitOf returns the commit position of an event's transaction; events written before
// transactions were stamped stand alone at their own position.
func commitOf(ev *cdc.Event) cdc.Position {
	if ev.Tx.Commit.IsZero() {
		return ev.Pos
	}
	return ev.Tx.Commit
}

// Transactions returns the lake's transactions in commit order, each whole: the events
// Replay returns, cut where the commit position changes.
func (r *Reader) Transactions(ctx context.Context, opts ReplayOptions) iter.Seq2[cdc.Tx, error] {
	return func(yield func(cdc.Tx, error) bool) {
		var tx cdc.Tx
		for ev, err := range r.Replay(ctx, opts) {
			if err != nil {
				yield(cdc.Tx{}, err)
				return
			}
			if c := commitOf(&ev); len(tx.Events) > 0 && c != tx.Commit {
				if !yield(tx, nil) {
					return
				}
				tx = cdc.Tx{}
			}
			if len(tx.Events) == 0 {
				tx.ID, tx.Commit = ev.Tx.ID, commitOf(&ev)
			}
			tx.CommitTime = ev.CommitTime
			tx.Events = append(tx.Events, ev)
		}
		if len(tx.Events) > 0 {
			yield(tx, nil)
		}
	}
}

// merger merges the events of one commit's files by position.
type merger struct {
	h streamHeap
}

type streamHeap []*fileStream

func (h streamHeap) Len() int           { return len(h) }
func (h streamHeap) Less(i, j int) bool { return h[i].ev.Pos.Less(h[j].ev.Pos) }
func (h streamHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *streamHeap) Push(x any)        { *h = append(*h, x.(*fileStream)) }
func (h *streamHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}

func (m *merger) open(streams []*fileStream) error {
	m.h = m.h[:0]
	for _, s := range streams {
		ok, err := s.next()
		if err != nil {
			return err
		}
		if ok {
			heap.Push(&m.h, s)
		}
	}
	return nil
}

func (m *merger) next() (cdc.Event, bool, error) {
	if len(m.h) == 0 {
		return cdc.Event{}, false, nil
	}
	s := m.h[0]
	ev := s.ev
	ok, err := s.next()
	switch {
	case err != nil:
		return ev, false, err
	case ok:
		if len(m.h) > 1 {
			heap.Fix(&m.h, 0)
		}
	default:
		heap.Pop(&m.h)
	}
	return ev, true, nil
}
