package bronze

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// RetentionOptions configures Retain. Set exactly one of OlderThan and Before.
type RetentionOptions struct {
	// OlderThan makes the cutoff Now() - OlderThan.
	OlderThan time.Duration
	// Before is the cutoff itself.
	Before time.Time
	// Now is the clock OlderThan counts back from, and the time of the retention commit
	// (default time.Now).
	Now func() time.Time
	// Logger receives the summary line (default slog.Default()).
	Logger *slog.Logger
}

// Validate reports a missing, doubled or negative cutoff.
func (o RetentionOptions) Validate() error {
	switch {
	case o.OlderThan < 0:
		return fmt.Errorf("bronze: RetentionOptions.OlderThan %s is negative", o.OlderThan)
	case o.OlderThan == 0 && o.Before.IsZero():
		return errors.New("bronze: RetentionOptions needs OlderThan or Before")
	case o.OlderThan != 0 && !o.Before.IsZero():
		return errors.New("bronze: RetentionOptions sets both OlderThan and Before")
	}
	return nil
}

// RetentionReport is what Retain did.
type RetentionReport struct {
	// Cutoff is the time before which commits counted as old.
	Cutoff time.Time
	// Commit is the manifest commit listing the removed files (ID 0 when none were).
	Commit Commit
	// Removed names the data files and snapshots dropped, Bytes their total size.
	Removed []string
	Bytes   int64
	// Kept lists the files of old commits that were kept, and why.
	Kept []KeptFile
}

// KeptFile is a file older than the cutoff that retention kept.
type KeptFile struct {
	Name     string
	Table    string
	CommitID uint64 // the commit that added it
	Reason   string
}

// Retain drops the raw data files of commits older than the cutoff whose table has a
// snapshot that covers them (a snapshot as of the file's commit or a later one), and
// snapshots older than the cutoff that a later snapshot of their table supersedes. A
// file no snapshot covers is never dropped: files of tables without a primary key or
// without a table, and files newer than their table's latest snapshot, are kept and
// reported. Retain first publishes one manifest commit listing the dropped files in
// Removed, then deletes them; a crash in between leaves orphans that
// Manifest.CleanOrphans removes. Like Compact, it is a writer of the lake.
func Retain(ctx context.Context, m *Manifest, opts RetentionOptions) (RetentionReport, error) {
	if err := opts.Validate(); err != nil {
		return RetentionReport{}, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	start := time.Now()
	now := opts.Now()
	rep := RetentionReport{Cutoff: opts.Before}
	if opts.OlderThan > 0 {
		rep.Cutoff = now.Add(-opts.OlderThan)
	}
	commits := m.Commits()
	live := liveNames(commits)
	latest := map[string]SnapshotEntry{}
	for _, c := range commits {
		for _, s := range c.Snapshots {
			if l, ok := latest[s.Table]; live[s.Name] == c.ID && (!ok || s.CommitID >= l.CommitID) {
				latest[s.Table] = s
			}
		}
	}
	for _, c := range commits {
		if !c.Time.Before(rep.Cutoff) {
			continue
		}
		for _, f := range c.Files {
			if live[f.Name] != c.ID {
				continue
			}
			s, ok := latest[f.Table]
			switch {
			case f.Table == "":
				rep.Kept = append(rep.Kept, KeptFile{f.Name, f.Table, c.ID, "events without a table are never compacted"})
			case !ok:
				rep.Kept = append(rep.Kept, KeptFile{f.Name, f.Table, c.ID, "no snapshot of its table (none yet, or the table has no primary key)"})
			case s.CommitID < c.ID:
				rep.Kept = append(rep.Kept, KeptFile{f.Name, f.Table, c.ID,
					fmt.Sprintf("the latest snapshot of its table, as of commit %d, does not cover commit %d", s.CommitID, c.ID)})
			default:
				rep.Removed = append(rep.Removed, f.Name)
				rep.Bytes += f.Bytes
			}
		}
		for _, s := range c.Snapshots {
			if live[s.Name] != c.ID {
				continue
			}
			if l := latest[s.Table]; l.Name == s.Name {
				rep.Kept = append(rep.Kept, KeptFile{s.Name, s.Table, c.ID, "the latest snapshot of its table"})
				continue
			}
			rep.Removed = append(rep.Removed, s.Name)
			rep.Bytes += s.Bytes
		}
	}
	if len(rep.Removed) == 0 {
		opts.Logger.Info("bronze: retention", "cutoff", rep.Cutoff, "removed", 0, "kept", len(rep.Kept), "duration", time.Since(start))
		return rep, nil
	}
	c, err := m.appendAtLast(ctx, Commit{Time: now.UTC(), Removed: rep.Removed})
	if err != nil {
		return RetentionReport{}, fmt.Errorf("bronze: retention: publishing the removal of %d files: %w", len(rep.Removed), err)
	}
	rep.Commit = c
	var errs []error
	for _, n := range rep.Removed {
		if err := m.store.Delete(ctx, n); err != nil {
			errs = append(errs, fmt.Errorf("bronze: retention: commit %d removed %s but deleting it failed (Manifest.CleanOrphans deletes it later): %w", c.ID, n, err))
		}
	}
	opts.Logger.Info("bronze: retention", "cutoff", rep.Cutoff, "removed", len(rep.Removed), "bytes", rep.Bytes,
		"kept", len(rep.Kept), "commit", c.ID, "duration", time.Since(start))
	return rep, errors.Join(errs...)
}
