package store_test

import (
	"context"
	"fmt"
	"iter"
	"testing"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/store"
)

// TestDayPartitionDroppedMidLoadIsMadeAgain: the partition of the day a
// load is writing is dropped while it runs (by hand, or a tool that thought
// it done), after the Store had made it. The day's later rows went to the
// default partition unseen: the load said "day without partition 0", and
// only `intel partitions check` found them (300,000 lines, the 12-05
// partition dropped 20,000 rows into its day: 41,703 rows in the default
// partition). At its end a load asks the DayEnsurer again for the days it
// wrote: the partition is made again and those rows moved into it, and the
// report counts it.
func TestDayPartitionDroppedMidLoadIsMadeAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, store.WithCopyChunk(500))
	at := b.now.Add(-time.Hour)
	day := graph.UTCDay(at)
	part := pgx.Identifier{"telemetry_edges_" + day.Format("2006_01_02")}.Sanitize()
	const n = 6000
	dropped := make(chan error, 1)
	edges := func(yield func(graph.TelemetryEdge, error) bool) {
		for e, err := range numbered(n, at, false) {
			if e.Props["i"] == float64(1000) {
				go func() { // once the load has made it; waits for the COPY transactions holding the table
					for range 1000 {
						var made bool
						if err := b.pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", part).Scan(&made); err != nil || made {
							break
						}
						time.Sleep(10 * time.Millisecond)
					}
					// On Citus the DROP may be chosen as the victim of a
					// distributed deadlock with the load's COPY: the fault is
					// that it happens, so it is tried again. Each try is
					// bounded (statement_timeout), so a deadlock the cluster
					// does not detect delays the drop instead of hanging the
					// test and the load with it.
					var err error
					for range 20 {
						err = pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
							if _, err := tx.Exec(ctx, "SET LOCAL statement_timeout = '10s'"); err != nil {
								return err
							}
							_, err := tx.Exec(ctx, "DROP TABLE "+part)
							return err
						})
						if c := store.Code(err); c != pgerrcode.DeadlockDetected && c != pgerrcode.QueryCanceled {
							break
						}
						time.Sleep(50 * time.Millisecond)
					}
					dropped <- err
				}()
			}
			if e.Props["i"] == float64(3000) {
				select {
				case err := <-dropped:
					require.NoError(t, err)
				case <-time.After(20 * time.Second):
					t.Log("the partition was not dropped by edge 3000")
				}
			}
			if !yield(e, err) {
				return
			}
		}
	}
	var seq iter.Seq2[graph.TelemetryEdge, error] = edges
	st, err := b.store.Checkpointed(store.TelemetryInput{Name: "file:/tmp/day.ndjson", ContentHash: "abc"}).AppendTelemetry(ctx, seq)
	require.NoError(t, err)
	require.EqualValues(t, wantEdges(n), st.Edges)
	var inDefault, inDay int
	require.NoError(t, b.pool.QueryRow(ctx, "SELECT count(*) FROM telemetry_edges_default").Scan(&inDefault))
	require.Zero(t, inDefault, "no row of the day waits in the default partition")
	require.EqualValues(t, 2, st.PartitionsCreated, "the day's partition made, then made again")
	require.NoError(t, b.pool.QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM %s", part)).Scan(&inDay))
	require.Positive(t, inDay)
}
