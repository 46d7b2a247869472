package store_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/store"
)

// retryCounter counts the store's "retrying … after a transient failure"
// log records and keeps the first error one names.
type retryCounter struct {
	n     atomic.Int64
	mu    sync.Mutex
	first string
}

func (c *retryCounter) Enabled(context.Context, slog.Level) bool { return true }
func (c *retryCounter) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *retryCounter) WithGroup(string) slog.Handler            { return c }
func (c *retryCounter) Handle(_ context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, "retrying ") {
		c.n.Add(1)
		c.mu.Lock()
		if c.first == "" {
			r.Attrs(func(a slog.Attr) bool {
				if a.Key == "err" {
					c.first = a.Value.String()
				}
				return true
			})
		}
		c.mu.Unlock()
	}
	return nil
}

// TestWritersTakeNodeLocksInOneOrder: two writers writing the same nodes,
// each timed in one writer's batches and without times in the other's, at
// once, again and again, never deadlock. A batch's nodes used to be written
// in two statements, those with times and those without, each in id order:
// one writer locked the odd nodes first, the other the even ones, and each
// then waited for the other (deadlock detected, the write retried). They
// are written in one id order now.
func TestWritersTakeNodeLocksInOneOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	retries := &retryCounter{}
	b := setup(t, store.WithLogger(slog.New(retries)))
	const nodes, rounds = 40, 30
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	batch := func(timedParity, round int) graph.Batch {
		var out graph.Batch
		for i := range nodes {
			n := graph.NamedNode(graph.KindMalware, fmt.Sprintf("lock order %02d", i))
			n.Sources = []string{fmt.Sprintf("feed-%d-%d", timedParity, round)} // every round changes every row
			if i%2 == timedParity {
				n.FirstSeen = base.Add(time.Duration(round) * time.Hour)
				n.LastSeen = n.FirstSeen
			}
			out.Nodes = append(out.Nodes, n)
		}
		return out
	}
	for round := range rounds {
		var wg sync.WaitGroup
		var errs [2]error
		start := make(chan struct{})
		for parity := range 2 {
			wg.Go(func() {
				<-start
				_, errs[parity] = b.store.Write(ctx, batch(parity, round))
			})
		}
		close(start)
		wg.Wait()
		require.NoError(t, errs[0])
		require.NoError(t, errs[1])
	}
	require.Zero(t, retries.n.Load(), "writes retried after a transient failure; the first: %s", retries.first)
	var n int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM nodes WHERE cardinality(sources) = $1`, 2*rounds).Scan(&n))
	require.Equal(t, nodes, n, "every node has every round's sources")
}
