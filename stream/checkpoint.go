package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/sink"
)

// A checkpoint N in CheckpointDir is two entries: "ckpt-N.state", the backend's
// snapshot (state.Backend.Checkpoint), and "ckpt-N.json", its metadata (id and
// source position), published by an atomic rename after the snapshot is complete.
// The metadata's presence is what makes N complete; a snapshot without it (a
// crash in between) is removed at the next Run. The previous complete checkpoint
// is kept as well, the older ones removed.

// CheckpointMeta is what a completed checkpoint records besides the state.
type CheckpointMeta struct {
	ID       uint64       `json:"id"`
	Position cdc.Position `json:"position"`
	// Partitions is the dataflow's partition count: partitioned state (a join's
	// primary-key entries) restores only into as many partitions.
	Partitions int `json:"partitions,omitempty"`
}

const ckptPrefix = "ckpt-"

func ckptName(dir string, id uint64, ext string) string {
	return filepath.Join(dir, fmt.Sprintf("%s%020d%s", ckptPrefix, id, ext))
}

// LatestCheckpoint returns the latest completed checkpoint in dir (found false if none).
func LatestCheckpoint(dir string) (meta CheckpointMeta, found bool, err error) {
	ids, err := listCheckpoints(dir, ".json")
	if err != nil || len(ids) == 0 {
		return meta, false, err
	}
	id := ids[len(ids)-1]
	raw, err := os.ReadFile(ckptName(dir, id, ".json"))
	if err != nil {
		return meta, false, fmt.Errorf("stream: checkpoint %d: %w", id, err)
	}
	if err := json.Unmarshal(raw, &meta); err != nil || meta.ID != id {
		return meta, false, fmt.Errorf("stream: checkpoint %d: malformed metadata %q: %v", id, raw, err)
	}
	return meta, true, nil
}

// listCheckpoints returns the ids of the entries with extension ext, ascending.
func listCheckpoints(dir, ext string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("stream: checkpoints in %s: %w", dir, err)
	}
	var ids []uint64
	for _, e := range ents { // ReadDir sorts by name; ids are zero-padded
		name := e.Name()
		if !strings.HasPrefix(name, ckptPrefix) || !strings.HasSuffix(name, ext) {
			continue
		}
		id, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(name, ckptPrefix), ext), 10, 64)
		if err == nil {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// restore loads the latest checkpoint into the backend and removes what a crashed
// run left of later ones; it returns the checkpoint's id and position (0 and zero
// without checkpoints).
func (d *Dataflow) restore(ctx context.Context) (uint64, cdc.Position, error) {
	dir := d.cfg.CheckpointDir
	if dir == "" {
		return 0, cdc.Position{}, nil
	}
	meta, found, err := LatestCheckpoint(dir)
	if err != nil {
		return 0, cdc.Position{}, err
	}
	states, err := listCheckpoints(dir, ".state")
	if err != nil {
		return 0, cdc.Position{}, err
	}
	for _, id := range states {
		if id > meta.ID {
			if err := os.RemoveAll(ckptName(dir, id, ".state")); err != nil {
				return 0, cdc.Position{}, fmt.Errorf("stream: remove incomplete checkpoint %d: %w", id, err)
			}
		}
	}
	if !found {
		return 0, cdc.Position{}, nil
	}
	if meta.Partitions != 0 && meta.Partitions != d.cfg.Partitions {
		return 0, cdc.Position{}, fmt.Errorf("%w: dataflow: checkpoint %d in %s was taken with %d partitions, the dataflow has %d: set DataflowConfig.Partitions to %d",
			ErrConfig, meta.ID, dir, meta.Partitions, d.cfg.Partitions, meta.Partitions)
	}
	if err := d.cfg.State.Restore(ctx, ckptName(dir, meta.ID, ".state")); err != nil {
		return 0, cdc.Position{}, fmt.Errorf("stream: restore checkpoint %d: %w", meta.ID, err)
	}
	d.cfg.Logger.Info("stream: restored checkpoint", "id", meta.ID, "position", meta.Position.String())
	return meta.ID, meta.Position, nil
}

// checkpoint sends a checkpoint barrier at position last (a transaction boundary:
// the source is between two transactions and stays there) and waits until the
// sink has completed it; then it acks the source.
func (f *flow) checkpoint(ctx context.Context, last cdc.Position, bar func(*barrier) error) (err error) {
	d := f.d
	b := &barrier{pos: last, checkpoint: d.lastCheckpoint() + 1, done: make(chan error, 1)}
	t0 := time.Now()
	defer func() { f.m.checkpointed(b.checkpoint, time.Since(t0), err) }()
	if err := bar(b); err != nil {
		return err
	}
	select {
	case err := <-b.done:
		if err != nil {
			return err
		}
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	if err := d.cfg.Source.Ack(ctx, last); err != nil {
		return fmt.Errorf("stream: dataflow: ack source at %s: %w", last, err)
	}
	return nil
}

// complete runs checkpoint b once its barrier has reached the sink: every operator
// has processed everything before it, and the source waits, so the backend is
// still. Pre-commit the sink, snapshot the state, publish the metadata (the
// checkpoint is complete), commit the sink.
func (d *Dataflow) complete(ctx context.Context, b *barrier) error {
	dir, id := d.cfg.CheckpointDir, b.checkpoint
	if err := sink.PreCommitAt(ctx, d.cfg.Sink, id); err != nil {
		return fmt.Errorf("stream: checkpoint %d: sink pre-commit: %w", id, err)
	}
	if err := d.cfg.State.Checkpoint(ctx, ckptName(dir, id, ".state")); err != nil {
		return fmt.Errorf("stream: checkpoint %d: %w", id, err)
	}
	raw, err := json.Marshal(CheckpointMeta{ID: id, Position: b.pos, Partitions: d.cfg.Partitions})
	if err != nil {
		return err
	}
	if err := writeAtomic(ckptName(dir, id, ".json"), raw); err != nil {
		return fmt.Errorf("stream: checkpoint %d: %w", id, err)
	}
	d.mu.Lock()
	d.lastID, d.lastPos = id, b.pos
	d.mu.Unlock()
	if err := sink.CommitAt(ctx, d.cfg.Sink, id); err != nil {
		return fmt.Errorf("stream: checkpoint %d: sink commit: %w", id, err)
	}
	d.cfg.Logger.Debug("stream: checkpoint complete", "id", id, "position", b.pos.String())
	// Keep this one and the one before.
	for _, ext := range []string{".json", ".state"} {
		ids, err := listCheckpoints(dir, ext)
		if err != nil {
			return err
		}
		for _, old := range ids {
			if old+1 < id {
				if err := os.RemoveAll(ckptName(dir, old, ext)); err != nil {
					d.cfg.Logger.Warn("stream: remove old checkpoint", "id", old, "err", err)
				}
			}
		}
	}
	return nil
}

// writeAtomic writes data to path through a synced temporary file and a rename.
func writeAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	dirf, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	err = dirf.Sync()
	if cerr := dirf.Close(); err == nil {
		err = cerr
	}
	return err
}
