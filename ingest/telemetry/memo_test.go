package telemetry_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/engine"
	"github.com/ransomeye/intel/ingest/telemetry"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// TestLoadRepeatedEndpoints loads many lines that name few endpoints over
// and over (the endpoint memo of the parser and the Store's endpoint cache
// both answer most of them), across many small COPY chunks and with
// several workers, with bad lines in between: every stored edge has both
// endpoint nodes, every file its has-hash link, the report counts every
// line, and the bad lines are dropped under their reasons each time they
// come, however often the same bad endpoint repeats.
func TestLoadRepeatedEndpoints(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	st := store.NewStore(pool, store.WithBatchSize(50), store.WithCopyChunk(97), store.WithLogger(quiet))
	now := time.Now().UTC().Truncate(time.Second)
	var in strings.Builder
	const lines = 2000
	var wantDropped = map[engine.Reason]int64{}
	for i := range lines {
		at := now.Add(-time.Duration(i) * time.Second).Format(time.RFC3339)
		switch i % 100 {
		case 7: // a NUL in the process key: PostgreSQL would refuse it
			fmt.Fprintf(&in, `{"src":{"kind":"process","key":"host-1:\u0000"},"relation":"x","dst":"ipv4-addr:10.0.0.1","agent_id":"host-1","observed_at":%q}`+"\n", at)
			wantDropped[graph.ReasonInvalidSrc]++
		case 8: // the same invalid endpoint text each time
			fmt.Fprintf(&in, `{"src":"ipv4-addr:10.0.0.1","relation":"x","dst":"ipv4-addr:300.1.1.1","agent_id":"host-1","observed_at":%q}`+"\n", at)
			wantDropped[telemetry.ReasonBadDst]++
		case 9:
			in.WriteString(`{"src": "ipv4-addr:10.0.0.1", broken` + "\n")
			wantDropped[engine.ReasonInvalidJSON]++
		default:
			fmt.Fprintf(&in, `{"src":{"kind":"process","key":"host-%d:%d","name":"p.exe"},"relation":"wrote","dst":{"kind":"file","name":"f%d.exe","hashes":{"SHA-256":"%064x"}},"agent_id":"host-%d","observed_at":%q,"props":{"pid":%d}}`+"\n",
				i%7, 1000+i%13, i%11, i%11, i%7, at, 1000+i%13)
		}
	}
	rep, err := telemetry.Load(ctx, strings.NewReader(in.String()), st, engine.Options{Feed: "edr", Workers: 4, Logger: quiet})
	require.NoError(t, err)
	var dropped int64
	for _, n := range wantDropped {
		dropped += n
	}
	require.EqualValues(t, lines, rep.RecordsRead)
	require.EqualValues(t, lines-dropped, rep.Telemetry.Edges)
	require.Equal(t, wantDropped, rep.Dropped)

	var edges, orphans, files, linked int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*),
	       count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = e.src_id)
	                           OR NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = e.dst_id))
	FROM telemetry_edges e`).Scan(&edges, &orphans))
	require.EqualValues(t, lines-dropped, edges)
	require.Zero(t, orphans, "every edge has both endpoint nodes")
	require.NoError(t, pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM nodes WHERE kind = 'file'),
	       (SELECT count(*) FROM relations WHERE relation = 'has-hash')`).Scan(&files, &linked))
	require.EqualValues(t, 11, files)
	require.EqualValues(t, 11, linked, "each file is linked to its hash")
	var processes int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM nodes WHERE kind = 'process'`).Scan(&processes))
	require.EqualValues(t, 7*13, processes, "host i%%7 and pid i%%13 meet in every pair")
	var pending int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pending_relations`).Scan(&pending))
	require.Zero(t, pending)
}

// TestLoadKeepsEncodingJSONLeniency: lines are decoded once with
// json v2, which keeps what encoding/json accepted: member names in any
// case, a duplicate name (the last wins) and invalid UTF-8 in a string
// (replaced by U+FFFD).
func TestLoadKeepsEncodingJSONLeniency(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC().Format(time.RFC3339)
	in := `{"SRC":"ipv4-addr:10.0.0.1","Relation":"X","dst":"ipv4-addr:10.0.0.2","Agent_ID":"a","observed_at":"` + now + `"}` + "\n" +
		`{"src":"ipv4-addr:10.0.0.1","relation":"x","relation":"y","dst":"ipv4-addr:10.0.0.2","agent_id":"a","observed_at":"` + now + `"}` + "\n" +
		`{"src":"ipv4-addr:10.0.0.1","relation":"x","dst":"ipv4-addr:10.0.0.2","agent_id":"a` + "\xff" + `","observed_at":"` + now + `"}` + "\n"
	w := &captureWriter{}
	rep, err := telemetry.Load(context.Background(), strings.NewReader(in), w, engine.Options{Logger: quiet})
	require.NoError(t, err)
	require.Empty(t, rep.Dropped)
	require.Len(t, w.edges, 3)
	require.Equal(t, "x", w.edges[0].Relation)
	require.Equal(t, "a", w.edges[0].AgentID)
	require.Equal(t, "y", w.edges[1].Relation)
	require.Equal(t, "a\ufffd", w.edges[2].AgentID)
}
