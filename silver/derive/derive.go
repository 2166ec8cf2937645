// Package derive maintains denormalised silver tables: a silver table defined as a
// streaming query (joins, aggregates, ...) over other silver tables, kept up to
// date incrementally from their change feeds.
//
// A [Config] names the input tables and builds the query as stream stages; [Open]
// returns a [Table], whose CatchUp applies everything the inputs have committed
// and returns, and whose Follow keeps applying as the inputs change. The pipeline
// is a stream.Dataflow: a stream.SilverSource reads the inputs' change feeds in the
// lake's commit order, the stages compute the changes of the result, and a
// sink.Silver applies them to the derived table, one feed step per transaction.
//
// Exactly-once: the operators' state is checkpointed with the feed step it reflects
// (CheckpointDir); the derived table records in each snapshot the step it applied
// through, and skips what it holds. A run stopped at any point, even by a crash,
// resumes from its last checkpoint, replays the feed steps after it (the feed log
// makes the replay emit what the stopped run emitted), and ends with the table it
// would have had without the stop.
//
// The derived table is an ordinary silver table of the lake (silver.Open, strata sql
// --lake, strata silver dump); only its Table writes it. Its snapshots' positions
// are feed steps (cdc.Position{Major: step}), not bronze commit positions. The feed
// log lives under derived/{escaped name}/feed in the store.
package derive

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/strata-data/strata/bronze"
	"github.com/strata-data/strata/change"
	"github.com/strata-data/strata/silver"
	"github.com/strata-data/strata/sink"
	"github.com/strata-data/strata/state"
	"github.com/strata-data/strata/stream"
)

// ErrConfig is returned (wrapped) for a configuration that cannot work.
var ErrConfig = errors.New("derive: invalid config")

// Inputs is what Build gets to construct the query's operators.
type Inputs struct {
	// Schemas holds each input table's schema, by name.
	Schemas map[string]*change.Schema
	// State is the backend every stateful operator must keep its state in (it is
	// what checkpoints snapshot).
	State state.Backend
}

// Config configures a derived table. Store, Name, Inputs, Build and CheckpointDir
// are required.
type Config struct {
	// Store is the lake holding the input tables and the derived one.
	Store bronze.Store
	// Name is the derived silver table's name (e.g. "derived.customer_360").
	Name string
	// Inputs are the silver tables the query reads; each must have a snapshot.
	Inputs []string
	// Build returns the query as dataflow stages, in topological order: stage inputs
	// name tables of Inputs or earlier stages, and the last stage's output is the
	// derived table. It is called once by Open and once per run.
	Build func(in Inputs) ([]stream.Stage, error)
	// Key is the derived table's primary key, columns of the last stage's output
	// (default: that output's key). Each key must hold one row of the result.
	Key []string
	// CheckpointDir holds the operators' checkpoints (a local directory).
	CheckpointDir string
	// State is the operators' state backend (default: an in-memory one, which
	// Close closes).
	State state.Backend
	// Partitions is the number of copies of each stage (default 1). A checkpoint
	// restores only into as many partitions, so keep it fixed for a derived table.
	Partitions int
	// Table configures the derived table (partitioning, compaction, ...).
	Table silver.Config
	// PollInterval is how often Follow looks for new input snapshots (default 200 ms).
	PollInterval time.Duration
	// CheckpointInterval is the time between Follow's checkpoints, which is also how
	// long a change takes at most to reach the table (default 1 s).
	CheckpointInterval time.Duration
	// MaxPendingChanges bounds the changes the sink holds before it applies them
	// to the table, at a feed step boundary (see sink.SilverConfig; default 200 000).
	MaxPendingChanges int
	// Metrics counts what the sink applies (nil: nothing).
	Metrics *sink.Metrics
	// Logger gets checkpoint messages (default slog.Default()).
	Logger *slog.Logger
}

// Validate reports whether the configuration can work.
func (c Config) Validate() error {
	switch {
	case c.Store == nil || c.Name == "" || c.Build == nil || c.CheckpointDir == "":
		return fmt.Errorf("%w: %s: Store, Name, Build and CheckpointDir are required", ErrConfig, c.Name)
	case len(c.Inputs) == 0:
		return fmt.Errorf("%w: %s: no Inputs", ErrConfig, c.Name)
	case c.Partitions < 0 || c.PollInterval < 0 || c.CheckpointInterval < 0 || c.MaxPendingChanges < 0:
		return fmt.Errorf("%w: %s: negative Partitions, PollInterval, CheckpointInterval or MaxPendingChanges", ErrConfig, c.Name)
	}
	for _, in := range c.Inputs {
		if in == c.Name {
			return fmt.Errorf("%w: %s reads itself", ErrConfig, c.Name)
		}
	}
	return c.Table.Validate()
}

// Table is a derived silver table and the streaming job that maintains it. Its
// methods must not be called concurrently.
type Table struct {
	cfg     Config
	schemas map[string]*change.Schema
	stages  []stream.Stage
	out     *change.Schema
	sink    *sink.Silver
	ownsBE  bool
}

// Open checks cfg, builds the query over the inputs' current schemas and opens (or
// starts) the derived table.
func Open(ctx context.Context, cfg Config) (*Table, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Partitions == 0 {
		cfg.Partitions = 1
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 200 * time.Millisecond
	}
	if cfg.CheckpointInterval == 0 {
		cfg.CheckpointInterval = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	t := &Table{cfg: cfg, schemas: map[string]*change.Schema{}}
	src, err := t.source(ctx, false)
	if err != nil {
		return nil, err
	}
	for _, in := range cfg.Inputs {
		t.schemas[in] = src.Schema(in)
	}
	if t.cfg.State == nil {
		be, err := state.NewMemory(state.MemoryConfig{})
		if err != nil {
			return nil, err
		}
		t.cfg.State, t.ownsBE = be, true
	}
	if err := t.build(); err != nil {
		t.Close()
		return nil, err
	}
	t.sink, err = sink.OpenSilver(ctx, sink.SilverConfig{Store: cfg.Store, Table: cfg.Name, Schema: t.out,
		Config: cfg.Table, MaxPendingChanges: cfg.MaxPendingChanges, Metrics: cfg.Metrics})
	if err != nil {
		t.Close()
		return nil, fmt.Errorf("derive: %s: %w", cfg.Name, err)
	}
	return t, nil
}

// build makes the stages: the user's, then a projection onto the table's key.
func (t *Table) build() error {
	name := t.cfg.Name
	stages, err := t.cfg.Build(Inputs{Schemas: t.schemas, State: t.cfg.State})
	if err != nil {
		return fmt.Errorf("derive: %s: build: %w", name, err)
	}
	if len(stages) == 0 {
		return fmt.Errorf("%w: %s: Build returned no stages", ErrConfig, name)
	}
	last := stages[len(stages)-1]
	node, err := last.Build(0)
	if err != nil {
		return fmt.Errorf("derive: %s: stage %s: %w", name, last.Name, err)
	}
	sc := node.Schema()
	key := t.cfg.Key
	if key == nil {
		key = sc.KeyNames()
	}
	if len(key) == 0 {
		return fmt.Errorf("%w: %s: the last stage's output %s has no key; set Key", ErrConfig, name, sc)
	}
	fields := make([]string, sc.NumFields())
	for i := range fields {
		fields[i] = sc.Field(i).Name
	}
	proj, err := stream.NewProject(sc, fields, key...)
	if err != nil {
		return fmt.Errorf("%w: %s: Key: %w", ErrConfig, name, err)
	}
	t.out = proj.Schema()
	t.stages = append(stages, stream.Stage{Name: "derive/key", Inputs: []stream.StageInput{{Stage: last.Name, Key: key}},
		Build: func(int) (stream.Node, error) { return stream.Single(sc, proj), nil }})
	return nil
}

// FeedLog is the store folder of the feed log of derived table name.
func FeedLog(name string) string { return "derived/" + bronze.Escape(name) + "/feed" }

func (t *Table) source(ctx context.Context, follow bool) (*stream.SilverSource, error) {
	src, err := stream.NewSilverSource(ctx, stream.SilverSourceConfig{Store: t.cfg.Store, Tables: t.cfg.Inputs,
		Log: FeedLog(t.cfg.Name), Follow: follow, PollInterval: t.cfg.PollInterval, Mem: t.cfg.Table.Mem})
	if err != nil {
		return nil, fmt.Errorf("derive: %s: %w", t.cfg.Name, err)
	}
	for in, sc := range t.schemas {
		if got := src.Schema(in); !got.Equal(sc) {
			return nil, fmt.Errorf("derive: %s: input %s changed schema from %s to %s since Open: %w",
				t.cfg.Name, in, sc, got, stream.ErrInput)
		}
	}
	return src, nil
}

func (t *Table) run(ctx context.Context, follow bool) error {
	src, err := t.source(ctx, follow)
	if err != nil {
		return err
	}
	cfg := stream.DataflowConfig{Source: src, Stages: t.stages, Sink: t.sink, State: t.cfg.State,
		Partitions: t.cfg.Partitions, EpochTxs: 1, CheckpointDir: t.cfg.CheckpointDir,
		Mem: t.cfg.Table.Mem, Logger: t.cfg.Logger}
	if follow {
		cfg.CheckpointInterval = t.cfg.CheckpointInterval
	}
	df, err := stream.NewDataflow(cfg)
	if err != nil {
		return fmt.Errorf("derive: %s: %w", t.cfg.Name, err)
	}
	t.sink.Reset() // a failed run may have left positions it did not apply
	if err := df.Run(ctx); err != nil {
		return fmt.Errorf("derive: %s: %w", t.cfg.Name, err)
	}
	return nil
}

// CatchUp applies every change the inputs have committed, then returns: the derived
// table then equals the query over the inputs' latest snapshots.
func (t *Table) CatchUp(ctx context.Context) error { return t.run(ctx, false) }

// Follow applies the inputs' changes as they are committed, until ctx is done (it
// returns nil then) or an error. What it applied after its last checkpoint is
// replayed by the next run.
func (t *Table) Follow(ctx context.Context) error {
	err := t.run(ctx, true)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// Table returns the derived silver table, for reading.
func (t *Table) Table() *silver.Table { return t.sink.Table() }

// Schema returns the derived table's schema.
func (t *Table) Schema() *change.Schema { return t.out }

// Close releases the sink and, when Open made it, the state backend.
func (t *Table) Close() error {
	var err error
	if t.sink != nil {
		err = t.sink.Close()
	}
	if t.ownsBE {
		err = errors.Join(err, t.cfg.State.Close())
	}
	return err
}
