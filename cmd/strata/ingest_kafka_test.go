package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-data/strata/cdc"
)

// strata ingest --from kafka:// reads Debezium topics on a real Kafka-protocol broker
// (in process, on loopback) into the lake; a second run with the same group adds
// only what was produced since.
func TestIngestKafka(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1,
		"gen.public.customers", "gen.public.orders", "gen.public.payments", "gen.transaction"))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	addr := c.ListenAddrs()[0]

	// The generator's records, in two halves at a transaction boundary.
	g := cdc.NewGenerator(cdc.GeneratorConfig{Seed: 9, Events: 1200, TxMetadata: true})
	var recs []*kgo.Record
	for {
		rec, err := g.NextRecord()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		rec = rec.Clone()
		recs = append(recs, &kgo.Record{Topic: rec.Topic, Key: rec.Key, Value: rec.Value, Timestamp: rec.Time})
	}
	half := len(recs) / 2
	for recs[half-1].Topic != "gen.transaction" || !strings.Contains(string(recs[half-1].Value), `"END"`) {
		half++
	}
	produce := func(rs []*kgo.Record) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
		require.NoError(t, err)
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, cl.ProduceSync(ctx, rs...).FirstErr())
	}
	countData := func(rs []*kgo.Record) (n int) {
		for _, r := range rs {
			if r.Topic != "gen.transaction" {
				n++
			}
		}
		return n
	}

	lake := t.TempDir()
	from := fmt.Sprintf("kafka://%s/gen.public.customers,gen.public.orders,gen.public.payments?group=lake&tx=gen.transaction", addr)
	produce(recs[:half])
	st, out, errOut := strata(t, "ingest", "--from", from, "--lake", lake, "--exit-when-idle")
	require.Equal(t, 0, st, errOut)
	assert.Contains(t, out, fmt.Sprintf("ingested %d events", countData(recs[:half])))

	produce(recs[half:])
	st, out, errOut = strata(t, "ingest", "--from", from, "--lake", lake, "--exit-when-idle")
	require.Equal(t, 0, st, errOut)
	assert.Contains(t, out, fmt.Sprintf("ingested %d events", countData(recs[half:])))

	st, out, errOut = strata(t, "bronze", "verify", "--lake", lake)
	require.Equal(t, 0, st, errOut)
	assert.Contains(t, out, "events 1200\n")
	assert.Contains(t, out, "duplicate positions 0\n")
}
