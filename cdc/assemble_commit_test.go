package cdc_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/strata-data/strata/cdc"
)

// A transaction's commit time is the latest of its events', wherever that event sorts,
// and its id the first transaction id its events carry in arrival order, whichever event
// carries it: both are worked out when it is emitted, not as events arrive.
func TestAssembleTxCommitTimeAndIDFromAllEvents(t *testing.T) {
	o := offsets{}
	at := func(ev cdc.Event, ms int) cdc.Event {
		ev.CommitTime = epoch.Add(time.Duration(ms) * time.Millisecond)
		return ev
	}
	e1 := at(pgEvent(o.at("a"), "public.orders", cdc.OpCreate, "7", 100, 30), 5)
	e2 := at(pgEvent(o.at("b"), "public.payments", cdc.OpCreate, "7", 100, 10), 9) // sorts first
	e2.Tx.ID = "7:130"                                                             // no total order: no metadata
	e3 := at(pgEvent(o.at("a"), "public.orders", cdc.OpUpdate, "7", 100, 20), 1)
	n1 := pgEvent(o.at("a"), "public.orders", cdc.OpCreate, "8", 130, 140)
	n2 := pgEvent(o.at("b"), "public.orders", cdc.OpCreate, "8", 130, 150)

	a, dls := newAssembler(cdc.AssemblerConfig{})
	got := feed(t, a, e1, e2, e3, n1, n2)
	got = append(got, flush(t, a)...)
	require.Zero(t, dls.Len())
	require.Equal(t, []string{"7:130[public.payments@10 public.orders@20 public.orders@30]", "8[public.orders@140 public.orders@150]"}, shape(got))
	assert.Equal(t, epoch.Add(9*time.Millisecond), got[0].CommitTime)
	assert.Equal(t, epoch.Add(130*time.Millisecond), got[1].CommitTime)
}
