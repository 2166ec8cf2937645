package gold

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// ErrSkipped marks a node that was not run because a node it depends on failed.
var ErrSkipped = errors.New("gold: skipped")

// runDAG runs fn once for each of nodes (a subset of d's nodes, in DAG order), each only
// after the nodes it depends on within the subset have finished, at most workers at a
// time. Nodes outside the subset count as done: their existing outputs are read. A node
// whose dependency failed is not run; its error wraps ErrSkipped. The result maps each
// node to fn's error (nil on success).
func runDAG(ctx context.Context, d *DAG, nodes []string, workers int, fn func(ctx context.Context, node string) error) map[string]error {
	if workers < 1 {
		workers = 1
	}
	in := map[string]bool{}
	for _, n := range nodes {
		in[n] = true
	}
	waiting := map[string]int{} // unfinished dependencies within the subset
	for _, n := range nodes {
		for _, p := range d.Parents(n) {
			if in[p] {
				waiting[n]++
			}
		}
	}
	var (
		mu      sync.Mutex
		results = make(map[string]error, len(nodes))
		failed  = map[string]string{} // node -> the failed ancestor that stops it
		ready   = make(chan string, len(nodes))
		done    = make(chan string, len(nodes))
		wg      sync.WaitGroup
	)
	for _, n := range nodes {
		if waiting[n] == 0 {
			ready <- n
		}
	}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range ready {
				mu.Lock()
				cause, skip := failed[n]
				mu.Unlock()
				var err error
				switch {
				case skip:
					err = fmt.Errorf("%w: %s failed", ErrSkipped, cause)
				case ctx.Err() != nil:
					err = ctx.Err()
				default:
					err = fn(ctx, n)
				}
				mu.Lock()
				results[n] = err
				if err != nil {
					c := n
					if skip {
						c = cause
					}
					for _, ch := range d.Children(n) {
						if _, ok := failed[ch]; !ok {
							failed[ch] = c
						}
					}
				}
				mu.Unlock()
				done <- n
			}
		}()
	}
	for finished := 0; finished < len(nodes); finished++ {
		n := <-done
		for _, ch := range d.Children(n) {
			if !in[ch] {
				continue
			}
			mu.Lock()
			waiting[ch]--
			w := waiting[ch]
			mu.Unlock()
			if w == 0 {
				ready <- ch
			}
		}
	}
	close(ready)
	wg.Wait()
	return results
}
