package gold

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRunDAGOrderAndParallelism(t *testing.T) {
	d, err := loadShop(t).DAG()
	require.NoError(t, err)
	var mu sync.Mutex
	finished := map[string]bool{}
	var running, peak atomic.Int32
	res := runDAG(context.Background(), d, d.Order(), 4, func(_ context.Context, n string) error {
		mu.Lock()
		for _, p := range d.Parents(n) {
			if !finished[p] {
				mu.Unlock()
				return fmt.Errorf("%s ran before its parent %s", n, p)
			}
		}
		mu.Unlock()
		r := running.Add(1)
		for {
			p := peak.Load()
			if r <= p || peak.CompareAndSwap(p, r) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
		running.Add(-1)
		mu.Lock()
		finished[n] = true
		mu.Unlock()
		return nil
	})
	require.Len(t, res, 10)
	for n, err := range res {
		require.NoError(t, err, n)
	}
	// The three seeds have no dependencies: they run at once.
	require.GreaterOrEqual(t, peak.Load(), int32(3))
}

func TestRunDAGSkipsDescendantsOfAFailure(t *testing.T) {
	d, err := loadShop(t).DAG()
	require.NoError(t, err)
	boom := errors.New("boom")
	var ran sync.Map
	res := runDAG(context.Background(), d, d.Order(), 2, func(_ context.Context, n string) error {
		ran.Store(n, true)
		if n == "stg_orders" {
			return boom
		}
		return nil
	})
	require.ErrorIs(t, res["stg_orders"], boom)
	for _, n := range []string{"orders", "int_customer_orders", "customers"} {
		require.ErrorIs(t, res[n], ErrSkipped, n)
		require.ErrorContains(t, res[n], "stg_orders failed")
		_, did := ran.Load(n)
		require.False(t, did, n)
	}
	for _, n := range []string{"stg_customers", "stg_payments", "payments_daily"} {
		require.NoError(t, res[n], n)
	}
}

func TestRunDAGSubset(t *testing.T) {
	d, err := loadShop(t).DAG()
	require.NoError(t, err)
	sel, err := d.Select("orders+")
	require.NoError(t, err)
	var order []string
	var mu sync.Mutex
	res := runDAG(context.Background(), d, sel, 3, func(_ context.Context, n string) error {
		mu.Lock()
		order = append(order, n)
		mu.Unlock()
		return nil
	})
	require.Len(t, res, 3)
	require.Equal(t, []string{"orders", "int_customer_orders", "customers"}, order)
}
