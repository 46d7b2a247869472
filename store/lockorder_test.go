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

// TestWritersTakeLocksInOneOrder: two writers writing the same nodes and
// relations, each timed in one writer's batches and without times in the
// other's, at once, again and again, never deadlock. A batch's nodes (and
// its relations) used to be written in two statements, those with times and
// those without, each in key order: one writer locked the odd rows first,
// the other the even ones, and each then waited for the other (deadlock
// detected, the write retried). They are written in one key order now.
func TestWritersTakeLocksInOneOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	retries := &retryCounter{}
	b := setup(t, store.WithLogger(slog.New(retries)))
	const nodes, rounds = 40, 30
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	// batch is the nodes, or the relations between them, as one writer
	// sends them in a round: every round changes every row (a new source),
	// and the rows of timedParity carry times.
	batch := func(rels bool, timedParity, round int) graph.Batch {
		var out graph.Batch
		source := []string{fmt.Sprintf("feed-%d-%d", timedParity, round)}
		at := base.Add(time.Duration(round) * time.Hour)
		for i := range nodes {
			n := graph.NamedNode(graph.KindMalware, fmt.Sprintf("lock order %02d", i))
			n.Sources = source
			if i%2 == timedParity {
				n.FirstSeen, n.LastSeen = at, at
			}
			if !rels {
				out.Nodes = append(out.Nodes, n)
				continue
			}
			if i > 0 {
				r := graph.Relation{Src: out.Nodes[i-1].Ref(), Type: "uses", Dst: n.Ref(), Sources: source}
				if i%2 == timedParity {
					r.FirstSeen, r.LastSeen = at, at
				}
				out.Relations = append(out.Relations, r)
			}
			out.Nodes = append(out.Nodes, n) // for the refs; dropped below
		}
		if rels {
			out.Nodes = nil
		}
		return out
	}
	// The rows exist before the writers race: two writers inserting the
	// same new node at once is retried by design (nodes_kind_key_key), not
	// what this test is about.
	first := batch(false, 0, -1)
	first.Relations = batch(true, 0, -1).Relations
	_, err := b.store.Write(ctx, first)
	require.NoError(t, err)
	for _, rels := range []bool{false, true} {
		for round := range rounds {
			var wg sync.WaitGroup
			var errs [2]error
			start := make(chan struct{})
			for parity := range 2 {
				wg.Go(func() {
					<-start
					_, errs[parity] = b.store.Write(ctx, batch(rels, parity, round))
				})
			}
			close(start)
			wg.Wait()
			require.NoError(t, errs[0])
			require.NoError(t, errs[1])
		}
		require.Zero(t, retries.n.Load(), "relations %v: writes retried after a transient failure; the first: %s", rels, retries.first)
	}
	var n int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM nodes WHERE cardinality(sources) = $1`, 2*rounds+1).Scan(&n))
	require.Equal(t, nodes, n, "every node has every round's sources")
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM relations WHERE cardinality(sources) = $1`, 2*rounds+1).Scan(&n))
	require.Equal(t, nodes-1, n, "every relation has every round's sources")
}
