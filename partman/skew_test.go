package partman_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/partman"
	"github.com/ransomeye/intel/store"
)

// TestSkewedClocksAtMidnight: the machine running intel (its upkeep and
// its writer's window) and the agents whose telemetry it loads disagree by
// minutes around a UTC midnight, either way. Checked, already right: the
// window reaches a day back and six ahead, so the upkeep of either clock
// has made both days, and each row lands in the partition of its own
// observed_at's day (none in the default partition), whatever the loader's
// clock says.
func TestSkewedClocksAtMidnight(t *testing.T) {
	t.Parallel()
	if pgtest.CitusMode() {
		t.Skip("reads tableoid, a shard's name on Citus")
	}
	ctx := context.Background()
	midnight := day(2026, 3, 10)
	proc := graph.Node{ID: uuid.NewSHA1(uuid.NameSpaceOID, []byte("proc")), Kind: graph.KindProcess, Key: "h:1"}
	for _, skew := range []time.Duration{-7 * time.Minute, 7 * time.Minute} {
		t.Run(fmt.Sprint(skew), func(t *testing.T) {
			t.Parallel()
			pool := pgtest.Pool(t)
			loader := fixedNow(midnight.Add(skew)) // the loader's clock
			opts := partman.Options{Now: loader}
			_, err := partman.Ensure(ctx, pool, opts)
			require.NoError(t, err)
			st := store.NewStore(pool, store.WithClock(loader), store.WithDayEnsurer(partman.NewDayEnsurer(pool, opts)))
			var edges []graph.TelemetryEdge
			for _, at := range []time.Duration{-3 * time.Minute, -time.Microsecond, 0, 3 * time.Minute} {
				edges = append(edges, graph.TelemetryEdge{Src: proc, Relation: "connected-to",
					Dst: graph.ValueNode(graph.KindIPv4Addr, "10.0.0.1"), AgentID: "h", ObservedAt: midnight.Add(at)})
			}
			got, err := st.AppendTelemetry(ctx, func(yield func(graph.TelemetryEdge, error) bool) {
				for _, e := range edges {
					if !yield(e, nil) {
						return
					}
				}
			})
			require.NoError(t, err)
			require.EqualValues(t, 4, got.Edges)
			rows, err := pool.Query(ctx, `SELECT tableoid::regclass::text, count(*) FROM telemetry_edges GROUP BY 1 ORDER BY 1`)
			require.NoError(t, err)
			byPart := map[string]int{}
			for rows.Next() {
				var p string
				var n int
				require.NoError(t, rows.Scan(&p, &n))
				byPart[p] = n
			}
			require.NoError(t, rows.Err())
			require.Equal(t, map[string]int{"telemetry_edges_2026_03_09": 2, "telemetry_edges_2026_03_10": 2}, byPart)
		})
	}
}
