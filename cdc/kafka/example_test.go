package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-data/strata/cdc"
	"github.com/strata-data/strata/cdc/kafka"
)

// A pipeline reads Debezium topics through a consumer group, assembles whole
// transactions, applies them, and acks each one's commit position: only then are the
// group's offsets committed, so a restart with the same Group resumes after the last
// applied transaction. An in-process broker stands in for Kafka here, filled with the
// generator's records.
func ExampleSource() {
	ctx := context.Background()
	topics := []string{"gen.public.customers", "gen.public.orders", "gen.public.payments"}
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, append(topics, "gen.transaction")...))
	if err != nil {
		panic(err)
	}
	defer cluster.Close()
	if err := produceGenerated(ctx, cluster.ListenAddrs(), cdc.GeneratorConfig{Seed: 1, Events: 4, TxMetadata: true}); err != nil {
		panic(err)
	}

	src, err := kafka.NewSource(kafka.Config{
		Brokers:     cluster.ListenAddrs(),
		Topics:      topics,
		TxTopic:     "gen.transaction",
		Group:       "orders-lake",
		DeadLetters: cdc.NewMemoryDeadLetters(),
		Logger:      slog.New(slog.DiscardHandler),
	})
	if err != nil {
		panic(err)
	}
	if err := src.Open(ctx, cdc.Position{}); err != nil { // or the last position applied
		panic(err)
	}
	defer src.Close()

	asm := cdc.NewAssembler(cdc.AssemblerConfig{})
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for applied := 0; applied < 4; {
		ev, err := src.Read(ctx)
		switch {
		case errors.Is(err, cdc.ErrIdle):
			err = asm.Idle(ctx)
		case err == nil:
			err = asm.Add(ctx, &ev)
		}
		if err != nil {
			panic(err)
		}
		for tx := range asm.Ready() {
			fmt.Printf("tx %s: %d events, commit %s\n", tx.ID, len(tx.Events), tx.Commit)
			applied += len(tx.Events)
			// ... apply tx durably, then release it at the source:
			if err := src.Ack(ctx, tx.Commit); err != nil {
				panic(err)
			}
		}
	}
	fmt.Println("records not committed:", src.Pending())
	// Output:
	// tx 770:6093754248: 1 events, commit 16b374d48/16b374e50/0
	// tx 771:6093754784: 1 events, commit 16b374f88/16b375178/0
	// tx 772:6093755616: 2 events, commit 16b3751a0/16b375448/0
	// records not committed: 0
}

// produceGenerated writes the generator's records to their topics.
func produceGenerated(ctx context.Context, brokers []string, cfg cdc.GeneratorConfig) error {
	gen := cdc.NewGenerator(cfg)
	var recs []*kgo.Record
	for {
		rec, err := gen.NextRecord()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		rec = rec.Clone() // the generator reuses its buffers
		recs = append(recs, &kgo.Record{Topic: rec.Topic, Partition: rec.Partition, Key: rec.Key, Value: rec.Value})
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		return err
	}
	defer cl.Close()
	return cl.ProduceSync(ctx, recs...).FirstErr()
}
