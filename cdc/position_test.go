package cdc_test

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/cdc"
)

func TestPositionOrderAndForms(t *testing.T) {
	a := cdc.Position{Major: 1, Minor: 2, Seq: 3}
	assert.Equal(t, 0, a.Compare(a), "equal positions compare equal")
	assert.False(t, a.Less(a))
	for _, b := range []cdc.Position{{Major: 2}, {Major: 1, Minor: 3}, {Major: 1, Minor: 2, Seq: 4}} {
		assert.Equal(t, -1, a.Compare(b))
		assert.Equal(t, 1, b.Compare(a))
		assert.Equal(t, b, cdc.Max(a, b))
	}
	assert.Equal(t, cdc.Position{Major: 1, Minor: 2, Seq: 4}, a.Next())

	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 1000; i++ {
		p := cdc.Position{Major: r.Uint64() % 4, Minor: r.Uint64(), Seq: r.Uint64() % 3}
		q := cdc.Position{Major: r.Uint64() % 4, Minor: r.Uint64(), Seq: r.Uint64() % 3}
		back, err := cdc.ParsePosition(p.String())
		require.NoError(t, err)
		assert.Equal(t, p, back)
		pb, _ := p.MarshalBinary()
		qb, _ := q.MarshalBinary()
		assert.Equal(t, p.Compare(q), bytes.Compare(pb, qb), "binary form sorts in position order")
		var u cdc.Position
		require.NoError(t, u.UnmarshalBinary(pb))
		assert.Equal(t, p, u)
	}
	max := cdc.Position{Major: math.MaxUint64, Minor: math.MaxUint64, Seq: math.MaxUint64}
	back, err := cdc.ParsePosition(max.String())
	require.NoError(t, err)
	assert.Equal(t, max, back)
	for _, bad := range []string{"", "1/2", "x/1/2", "1/2/3/4"} {
		_, err := cdc.ParsePosition(bad)
		assert.ErrorIs(t, err, cdc.ErrPosition, bad)
	}
}

func TestTxKey(t *testing.T) {
	pg := cdc.Event{Source: cdc.SourceInfo{Connector: "postgresql", TxID: "571"}, Tx: cdc.TxInfo{ID: "571:53195832"}}
	assert.Equal(t, "571", pg.TxKey())
	assert.Equal(t, "571", cdc.TxKeyOf("571:53195829"), "BEGIN and END ids pair on the txId")
	gtid := "0e4d5dcd-a33b-11ea-80f1-02010a22a99e:10"
	my := cdc.Event{Source: cdc.SourceInfo{Connector: "mysql", GTID: gtid}}
	assert.Equal(t, gtid, my.TxKey(), "MySQL without metadata pairs on the GTID")
	my.Tx.ID = gtid
	assert.Equal(t, gtid, my.TxKey())
	assert.Equal(t, "", (&cdc.Event{}).TxKey(), "outside any transaction")
}
