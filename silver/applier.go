package silver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/strata-data/strata/bronze"
	"github.com/strata-data/strata/cdc"
)

// ApplierConfig configures an Applier; the zero value works but for Store.
type ApplierConfig struct {
	// Store is the lake: bronze is read from it and silver tables are written to it
	// (required).
	Store bronze.Store
	// Tables limits the applier to these tables (default: every table of the lake
	// whose schema has a primary key).
	Tables []string
	// Table configures every table (partitioning, compaction policy, ...); TableConfig,
	// when set, configures each table by name instead.
	Table       Config
	TableConfig func(table string) Config
	// BatchChanges publishes the pending transactions once they hold this many row
	// events (default 200 000): one snapshot per table per batch, fewer and larger
	// files than one per transaction.
	BatchChanges int
	// PollInterval is how often Run looks for new bronze commits when caught up
	// (default 200 ms).
	PollInterval time.Duration
	// Compact compacts each table whose policy asks for it after every catch-up.
	Compact bool
	// Logger gets a line per table skipped and per catch-up (default slog.Default()).
	Logger *slog.Logger
	// Metrics counts applies and compactions (optional; see NewMetrics).
	Metrics *Metrics
}

// Validate reports a setting an Applier cannot use.
func (c ApplierConfig) Validate() error {
	switch {
	case c.Store == nil:
		return errors.New("silver: ApplierConfig.Store is required")
	case c.BatchChanges < 0:
		return fmt.Errorf("silver: ApplierConfig.BatchChanges %d is negative", c.BatchChanges)
	case c.PollInterval < 0:
		return fmt.Errorf("silver: ApplierConfig.PollInterval %s is negative", c.PollInterval)
	}
	return c.Table.Validate()
}

func (c ApplierConfig) withDefaults() ApplierConfig {
	if c.BatchChanges == 0 {
		c.BatchChanges = 200_000
	}
	if c.PollInterval == 0 {
		c.PollInterval = 200 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Applier keeps the silver tables of a lake up to date with its bronze tier: it
// replays the bronze commits after the position each silver table has applied
// through, and applies each table's share of every transaction, in commit order. A
// restart resumes from the positions the silver manifests record, and a table skips
// what it applied already, so a crash (even SIGKILL mid-apply) loses and doubles
// nothing. One applier at a time may write a lake's silver tables.
type Applier struct {
	cfg ApplierConfig

	mu     sync.Mutex
	tables map[string]*Table
	// skipped records tables left out, with the reason.
	skipped map[string]string
	// through is the commit position of the last transaction this applier read with
	// every table open: all tables have applied through it, those without events
	// in the transactions read as much as the others.
	through cdc.Position
}

// ApplyStats counts what a CatchUp did.
type ApplyStats struct {
	Txs       int64 // transactions read from bronze
	Changes   int64 // row events of silver tables among them
	Snapshots int64 // snapshots published (applies and compactions)
	// Position is the bronze commit position every silver table has applied through.
	Position cdc.Position
}

// NewApplier returns an applier over cfg.Store.
func NewApplier(cfg ApplierConfig) (*Applier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Applier{cfg: cfg.withDefaults(), tables: map[string]*Table{}, skipped: map[string]string{}}, nil
}

// Table returns the applier's table of that name, once a CatchUp has opened it.
func (a *Applier) Table(name string) (*Table, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	t, ok := a.tables[name]
	return t, ok
}

// Skipped returns the lake's tables the applier leaves out, with the reason.
func (a *Applier) Skipped() map[string]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]string, len(a.skipped))
	for k, v := range a.skipped {
		out[k] = v
	}
	return out
}

// open opens the silver table of every keyed bronze table not yet open.
func (a *Applier) open(ctx context.Context) error {
	m, err := bronze.OpenManifest(ctx, a.cfg.Store)
	if err != nil {
		return fmt.Errorf("silver: applier: %w", err)
	}
	schemas, err := m.Schemas()
	if err != nil {
		return fmt.Errorf("silver: applier: %w", err)
	}
	names := schemas.Tables()
	if len(a.cfg.Tables) > 0 {
		names = a.cfg.Tables
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, name := range names {
		if _, ok := a.tables[name]; ok {
			continue
		}
		sv, ok := schemas.Latest(name)
		if !ok {
			a.skip(name, "no schema registered in bronze yet")
			continue
		}
		if len(sv.Schema.Key()) == 0 {
			a.skip(name, "no primary key")
			continue
		}
		cfg := a.cfg.Table
		if a.cfg.TableConfig != nil {
			cfg = a.cfg.TableConfig(name)
		}
		if cfg.Metrics == nil {
			cfg.Metrics = a.cfg.Metrics
		}
		if cfg.Logger == nil {
			cfg.Logger = a.cfg.Logger
		}
		t, err := Open(ctx, a.cfg.Store, name, cfg)
		if err != nil {
			return err
		}
		a.tables[name] = t
		delete(a.skipped, name)
		a.through = cdc.Position{} // a new table starts from its own position
	}
	return nil
}

func (a *Applier) skip(name, why string) {
	if a.skipped[name] != why {
		a.cfg.Logger.Info("silver: table left out", "table", name, "reason", why)
	}
	a.skipped[name] = why
}

// CatchUp applies everything bronze has committed, then returns (after compacting
// tables whose policy asks for it, with Config.Compact).
func (a *Applier) CatchUp(ctx context.Context) (ApplyStats, error) {
	var st ApplyStats
	if err := a.open(ctx); err != nil {
		return st, err
	}
	a.mu.Lock()
	tables := make(map[string]*Table, len(a.tables))
	var names []string
	for n, t := range a.tables {
		tables[n] = t
		names = append(names, n)
	}
	a.mu.Unlock()
	if len(tables) == 0 {
		return st, nil
	}
	slices.Sort(names)
	from := tables[names[0]].Position()
	for _, n := range names[1:] {
		if p := tables[n].Position(); p.Less(from) {
			from = p
		}
	}
	a.mu.Lock()
	from = cdc.Max(from, a.through)
	a.mu.Unlock()
	last := from
	src := bronze.NewSource(bronze.SourceConfig{Store: a.cfg.Store, Tables: names})
	if err := src.Open(ctx, from); err != nil {
		return st, err
	}
	defer src.Close()
	pending := map[string][]cdc.Tx{}
	n := 0
	flush := func() error {
		for _, name := range names {
			txs := pending[name]
			if len(txs) == 0 {
				continue
			}
			before, _ := tables[name].Latest()
			s, err := tables[name].Apply(ctx, txs)
			if err != nil {
				return err
			}
			if s.ID != before.ID {
				st.Snapshots++
			}
			pending[name] = txs[:0]
		}
		n = 0
		return nil
	}
	for {
		tx, err := src.ReadTx(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return st, err
		}
		st.Txs++
		last = tx.Commit
		// Each table gets its own share of the transaction, whole.
		for i := 0; i < len(tx.Events); {
			name := tx.Events[i].Table
			j := i + 1
			for j < len(tx.Events) && tx.Events[j].Table == name {
				j++
			}
			if t, ok := tables[name]; ok && tx.Commit.Compare(t.Position()) > 0 {
				txs := pending[name]
				if k := len(txs) - 1; k >= 0 && txs[k].Commit == tx.Commit {
					txs[k].Events = append(txs[k].Events, tx.Events[i:j]...)
				} else {
					part := tx
					part.Events = slices.Clip(tx.Events[i:j])
					txs = append(txs, part)
				}
				pending[name] = txs
				n += j - i
				st.Changes += int64(j - i)
			}
			i = j
		}
		if n >= a.cfg.BatchChanges {
			if err := flush(); err != nil {
				return st, err
			}
		}
	}
	if err := flush(); err != nil {
		return st, err
	}
	// Tables the transactions read did not touch record that they are current too,
	// once enough was read that a restart would otherwise read it again.
	if st.Changes >= int64(a.cfg.BatchChanges) || st.Txs >= int64(a.cfg.BatchChanges) {
		for _, name := range names {
			if _, ok, err := tables[name].Advance(ctx, last); err != nil {
				return st, err
			} else if ok {
				st.Snapshots++
			}
		}
	}
	a.mu.Lock()
	if len(a.tables) == len(tables) {
		a.through = last
	}
	a.mu.Unlock()
	if a.cfg.Compact {
		for _, name := range names {
			if _, ok, err := tables[name].CompactIfNeeded(ctx); err != nil {
				return st, err
			} else if ok {
				st.Snapshots++
			}
		}
	}
	st.Position = last
	return st, nil
}

// Run catches up again and again, waiting PollInterval whenever nothing was new, until
// ctx ends (it returns nil then) or applying fails.
func (a *Applier) Run(ctx context.Context) error {
	for {
		st, err := a.CatchUp(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		if st.Txs > 0 {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(a.cfg.PollInterval):
		}
	}
}

// Names returns the names of the tables the applier has open, sorted.
func (a *Applier) Names() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]string, 0, len(a.tables))
	for n := range a.tables {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}
