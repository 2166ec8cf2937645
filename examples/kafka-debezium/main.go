// Command kafka-debezium reads Debezium topics from a Kafka broker into a bronze lake
// and keeps silver tables of them up to date: the path of a team that already runs
// Debezium and Kafka Connect.
//
//	go run ./examples/kafka-debezium -brokers kafka:9092 \
//	    -topics dbserver1.public.customers,dbserver1.public.orders -tx-topic dbserver1.transaction
//
// With no -brokers it starts an in-process Kafka-protocol broker (kfake) and fills it
// with the generator's Debezium records first, so it runs anywhere.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-data/strata/bronze"
	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/cdc/kafka"
	"github.com/strata-data/strata/silver"
)

type config struct {
	brokers, topics, txTopic, group, lake string
	demoEvents                            int
	idle                                  bool
}

func main() {
	var c config
	flag.StringVar(&c.brokers, "brokers", "", "Kafka bootstrap brokers, host:port[,host:port] (empty: an in-process demo broker)")
	flag.StringVar(&c.topics, "topics", "", "Debezium data topics, comma separated (demo: the generator's three tables)")
	flag.StringVar(&c.txTopic, "tx-topic", "", "Debezium transaction-metadata topic (optional; assembles whole transactions)")
	flag.StringVar(&c.group, "group", "strata-lake", "consumer group; a restart resumes after what the lake committed")
	flag.StringVar(&c.lake, "lake", "strata-kafka-data", "lake directory (bronze and silver)")
	flag.IntVar(&c.demoEvents, "demo-events", 20000, "events the demo broker is filled with")
	flag.BoolVar(&c.idle, "exit-when-idle", true, "stop once the topics are drained")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, c); err != nil {
		fmt.Fprintln(os.Stderr, "kafka-debezium:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer, c config) error {
	if c.brokers == "" {
		addr, topics, txTopic, closeBroker, err := demoBroker(ctx, c.demoEvents)
		if err != nil {
			return err
		}
		defer closeBroker()
		c.brokers, c.topics, c.txTopic = addr, topics, txTopic
		fmt.Fprintf(out, "demo broker on %s with %d generator events\n", addr, c.demoEvents)
	}
	if c.topics == "" {
		return errors.New("-topics is required with -brokers")
	}
	store, err := bronze.OpenDir(c.lake)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	// Records that cannot be decoded go to dead letters beside the lake, with their
	// bytes, position and reason, instead of stopping the stream.
	dlq, err := cdc.NewFileDeadLetters(c.lake + "-dead-letters")
	if err != nil {
		return err
	}
	src, err := kafka.NewSource(kafka.Config{
		Brokers:     strings.Split(c.brokers, ","),
		Topics:      strings.Split(c.topics, ","),
		TxTopic:     c.txTopic,
		Group:       c.group,
		Logger:      logger,
		DeadLetters: dlq,
	})
	if err != nil {
		return err
	}
	defer src.Close() // before the demo broker closes (defers run last-in first-out)
	applier, err := silver.NewApplier(silver.ApplierConfig{Store: store, Compact: true, Logger: logger})
	if err != nil {
		return err
	}

	// Kafka → bronze: acks (offset commits) only after each bronze commit is durable.
	start := time.Now()
	st, err := bronze.Ingest(ctx, bronze.IngestConfig{
		Source:       src,
		Writer:       bronze.WriterConfig{Store: store},
		ExitWhenIdle: c.idle,
		Logger:       logger,
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("ingest: %w", err)
	}
	fmt.Fprintf(out, "bronze: %d events in %d transactions, %d commits (%.1fs)\n", st.Events, st.Txs, st.Commits, time.Since(start).Seconds())

	// bronze → silver: every keyed table, resuming from what silver already applied.
	ast, err := applier.CatchUp(context.WithoutCancel(ctx))
	if err != nil {
		return fmt.Errorf("silver: %w", err)
	}
	fmt.Fprintf(out, "silver: applied %d transactions, %d row changes\n", ast.Txs, ast.Changes)
	for _, name := range applier.Names() {
		t, _ := applier.Table(name)
		snap, _ := t.Latest()
		fmt.Fprintf(out, "  %-22s %7d rows  snapshot %d  through %s\n", name, snap.Rows, snap.ID, snap.Position)
	}
	return nil
}

// demoBroker starts an in-process Kafka-protocol broker on loopback holding the
// generator's Debezium records (one topic per table plus the transaction topic).
func demoBroker(ctx context.Context, events int) (addr, topics, txTopic string, closeFn func(), err error) {
	data := []string{"gen.public.customers", "gen.public.orders", "gen.public.payments"}
	txTopic = "gen.transaction"
	cl, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, append(data, txTopic)...))
	if err != nil {
		return "", "", "", nil, err
	}
	addr = cl.ListenAddrs()[0]
	g := cdc.NewGenerator(cdc.GeneratorConfig{Seed: 1, Events: events, TxMetadata: true})
	var recs []*kgo.Record
	for {
		rec, err := g.NextRecord()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			cl.Close()
			return "", "", "", nil, err
		}
		rec = rec.Clone()
		recs = append(recs, &kgo.Record{Topic: rec.Topic, Key: rec.Key, Value: rec.Value, Timestamp: rec.Time})
	}
	prod, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		cl.Close()
		return "", "", "", nil, err
	}
	defer prod.Close()
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		cl.Close()
		return "", "", "", nil, err
	}
	return addr, strings.Join(data, ","), txTopic, cl.Close, nil
}
