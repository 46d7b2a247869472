package engine_test

import (
	"context"
	"fmt"
	"iter"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/engine"
	"github.com/ransomeye/intel/ingest/misp"
	"github.com/ransomeye/intel/ingest/stix"
	"github.com/ransomeye/intel/ingest/telemetry"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// The tests of row 3 and 8 of issue 13 for each loader: a NUL (\u0000)
// in one record of a feed drops that record alone, with a WARN and a
// counted reason; the rest of its batch or COPY chunk is written; and
// --dry-run (engine.DrySink, a counting telemetry writer) reports the same
// drops and the same records.

func counts(t *testing.T, pool *pgxpool.Pool) (nodes, relations, pending, edges int) {
	t.Helper()
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM nodes), (SELECT count(*) FROM relations),
		(SELECT count(*) FROM pending_relations), (SELECT count(*) FROM telemetry_edges)`).Scan(&nodes, &relations, &pending, &edges))
	return
}

// mispEvent is one MISP event of n ip-dst attributes, but bad is a mutex
// whose value has a \u0000 escape.
func mispEvent(n, bad int) string {
	var attrs []string
	for i := range n {
		typ, value := "ip-dst", fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255)
		if i == bad {
			typ, value = "mutex", `Global\\mtx\u0000`
		}
		attrs = append(attrs, fmt.Sprintf(`{"uuid":"00000000-0000-4000-8000-%012d","type":%q,"category":"Network activity","value":"%s","to_ids":true,"timestamp":"1600000000"}`, i+10, typ, value))
	}
	return fmt.Sprintf(`{"Event":{"uuid":"00000000-0000-4000-8000-000000000001","info":"nul","date":"2020-09-13","timestamp":"1600000000","Attribute":[%s]}}`,
		strings.Join(attrs, ",\n"))
}

func TestMISPNulDropsOneRecord(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const n = 1501
	load := func(doc string, sink graph.Sink) *engine.Report {
		rep, err := misp.LoadFile(ctx, strings.NewReader(doc), sink, misp.Options{Options: engine.Options{Feed: "misp", BatchSize: 100, Logger: quiet}})
		require.NoError(t, err)
		return rep
	}
	cleanPool := pgtest.Pool(t)
	clean := load(mispEvent(n-1, -1), store.NewStore(cleanPool, store.WithLogger(quiet)))
	wantNodes, wantRels, _, _ := counts(t, cleanPool)

	pool := pgtest.Pool(t)
	rep := load(mispEvent(n, 750), store.NewStore(pool, store.WithLogger(quiet)))
	require.Equal(t, map[engine.Reason]int64{store.ReasonInvalidText: 1}, rep.Dropped)
	nodes, rels, _, _ := counts(t, pool)
	require.Equal(t, wantNodes, nodes, "every node but the refused one")
	require.Equal(t, wantRels, rels)
	require.Equal(t, clean.Nodes, rep.Nodes)
	require.Equal(t, clean.RecordsMapped, rep.RecordsMapped)
	require.Equal(t, rep.RecordsRead, rep.RecordsMapped+rep.DroppedTotal())

	dry := load(mispEvent(n, 750), engine.DrySink{})
	require.Equal(t, rep.Dropped, dry.Dropped, "--dry-run reports the same drops")
	require.Equal(t, rep.Nodes, dry.Nodes)
	require.Equal(t, rep.Relations, dry.Relations)
}

// stixBundle is a STIX bundle of n ipv4-addr objects and n malware
// objects; the ipv4-addr bad has a NUL in its value and the malware bad a
// NUL in its description.
func stixBundle(n, bad int) string {
	var objs []string
	for i := range n {
		value := fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255)
		desc := "family"
		if i == bad {
			value += `\u0000`
			desc += `\u0000`
		}
		objs = append(objs,
			fmt.Sprintf(`{"type":"ipv4-addr","spec_version":"2.1","id":"ipv4-addr--00000000-0000-4000-8000-%012d","value":"%s"}`, i, value),
			fmt.Sprintf(`{"type":"malware","spec_version":"2.1","id":"malware--00000000-0000-4000-8000-%012d","created":"2020-01-01T00:00:00Z","modified":"2020-01-01T00:00:00Z","name":"fam-%d","is_family":true,"description":"%s"}`, i, i, desc))
	}
	return `{"type":"bundle","id":"bundle--00000000-0000-4000-8000-000000000001","objects":[` + strings.Join(objs, ",\n") + `]}`
}

// TestSTIXNulIsReplaced: the STIX decoder turns a NUL escape into U+FFFD
// (PostgreSQL text cannot hold NUL), so the records load whole, in a load
// and in a dry run alike; nothing of the batch is lost.
func TestSTIXNulIsReplaced(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const n = 600
	load := func(doc string, sink graph.Sink) *engine.Report {
		rep, err := stix.Load(ctx, strings.NewReader(doc), sink, engine.Options{Feed: "stix", BatchSize: 100, Logger: quiet})
		require.NoError(t, err)
		return rep
	}
	pool := pgtest.Pool(t)
	rep := load(stixBundle(n, 300), store.NewStore(pool, store.WithLogger(quiet)))
	require.Empty(t, rep.Dropped)
	nodes, _, _, _ := counts(t, pool)
	require.Equal(t, 2*n, nodes)
	require.EqualValues(t, 2*n, rep.Nodes)
	var replaced int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM nodes WHERE key LIKE '%'||U&'\FFFD' OR props->>'description' LIKE '%'||U&'\FFFD'`).Scan(&replaced))
	require.Equal(t, 2, replaced)

	dry := load(stixBundle(n, 300), engine.DrySink{})
	require.Equal(t, rep.Dropped, dry.Dropped)
	require.Equal(t, rep.Nodes, dry.Nodes)
}

// dryTelemetry counts the edges it is given, as the feed manager's dry
// run does.
type dryTelemetry struct{}

func (dryTelemetry) AppendTelemetry(_ context.Context, edges iter.Seq2[graph.TelemetryEdge, error]) (store.TelemetryStats, error) {
	var st store.TelemetryStats
	for _, err := range edges {
		if err != nil {
			return st, err
		}
		st.Edges++
	}
	return st, nil
}

// TestTelemetryNulDropsOneLine is rows 3 and 8 for telemetry: of 2,400
// lines, 200 name an endpoint whose key holds a NUL (row 8), 100 have a NUL
// in the agent id and 100 in their props: those are dropped, each counted,
// the other 2,000 are written with their endpoint nodes, in COPY chunks
// that also held the bad lines.
func TestTelemetryNulDropsOneLine(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Now().UTC().Add(-time.Minute).Format(time.RFC3339)
	var in strings.Builder
	for i := range 2400 {
		dst, agent, props := fmt.Sprintf(`"url:http://x.example/%d"`, i), "a", `{"pid":1}`
		switch i % 12 {
		case 1, 7:
			dst = fmt.Sprintf(`{"kind":"process","key":"host-%d\u0000"}`, i)
		case 3:
			agent = `a\u0000`
		case 5:
			props = `{"cmd":"x\u0000"}`
		}
		fmt.Fprintf(&in, `{"src":"ipv4-addr:10.0.0.%d","relation":"r","dst":%s,"agent_id":"%s","observed_at":%q,"props":%s}`+"\n",
			i%200, dst, agent, now, props)
	}
	pool := pgtest.Pool(t)
	st := store.NewStore(pool, store.WithLogger(quiet), store.WithCopyChunk(500))
	rep, err := telemetry.Load(ctx, strings.NewReader(in.String()), st, engine.Options{Feed: "edr", Logger: quiet})
	require.NoError(t, err)
	require.Equal(t, map[engine.Reason]int64{graph.ReasonInvalidDst: 400, store.ReasonInvalidText: 200, store.ReasonInvalidProps: 200}, rep.Dropped)
	require.EqualValues(t, 1600, rep.Telemetry.Edges)
	nodes, _, pending, edges := counts(t, pool)
	require.Equal(t, 1600, edges)
	require.Equal(t, 200+1600, nodes, "the 200 sources and a url per written line")
	require.Zero(t, pending)
	var orphans int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM telemetry_edges e
		WHERE NOT EXISTS (SELECT 1 FROM nodes WHERE id = e.src_id) OR NOT EXISTS (SELECT 1 FROM nodes WHERE id = e.dst_id)`).Scan(&orphans))
	require.Zero(t, orphans, "no edge without its endpoint nodes")

	dry, err := telemetry.Load(ctx, strings.NewReader(in.String()), dryTelemetry{}, engine.Options{Feed: "edr", Logger: quiet})
	require.NoError(t, err)
	require.Equal(t, rep.Dropped, dry.Dropped, "--dry-run reports the same drops")
	require.Equal(t, rep.Telemetry.Edges, dry.Telemetry.Edges)
}
