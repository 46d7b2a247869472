package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest"
	"github.com/ransomeye/intel/ingest/engine"
	"github.com/ransomeye/intel/store"
)

// TestFeedsCountsATelemetryFeedsWrites: `intel feeds` after a feed list
// with a telemetry feed of 60,000 lines. Its row showed NODES 0 and
// RELATIONS 0, though the load had written 36,084 endpoint nodes and
// 11,893 links and stored 60,000 edges: the columns read the report's
// graph records, which a telemetry load has none of. They now count what
// it wrote, and the edges are said too.
func TestFeedsCountsATelemetryFeedsWrites(t *testing.T) {
	t.Parallel()
	rep := engine.NewReport("tel", ingest.FormatTelemetry)
	rep.RecordsRead, rep.RecordsMapped = 60000, 60000
	rep.Telemetry = &store.TelemetryStats{Edges: 60000,
		Nodes: graph.WriteStats{NodesInserted: 36084, NodesMerged: 4677, RelationsInserted: 11893, RelationsMerged: 15}}
	raw, err := json.Marshal(rep)
	require.NoError(t, err)
	now := time.Now()
	r := newFeedRow(store.FeedState{Name: "tel", Format: "telemetry", LastStatus: ingest.StatusOK, LastReport: raw,
		LastLoadedAt: &now, UpdatedAt: now}, now)
	require.EqualValues(t, 60000, r.Records)
	require.EqualValues(t, 36084+4677, r.Nodes)
	require.EqualValues(t, 11893+15, r.Relations)
	require.EqualValues(t, 60000, r.Edges)
	var out strings.Builder
	require.NoError(t, writeFeedsTable(&out, []feedRow{r}))
	require.Contains(t, out.String(), "60000 telemetry edges")
	require.Regexp(t, `tel +telemetry +ok .* 60000 +40761 +11908 +0 +60000 telemetry edges`, out.String())
}

// TestFeedsSaysAFeedWillBeLoadedAgain: a feed whose records another
// mapping made (an older intel, or one from before mapping versions) is
// said to be loaded again on its next run; one this intel's mapping made
// is not, and neither is a telemetry feed (which has no mapping).
func TestFeedsSaysAFeedWillBeLoadedAgain(t *testing.T) {
	t.Parallel()
	now := time.Now()
	rows := []feedRow{
		newFeedRow(store.FeedState{Name: "old", Format: ingest.FormatSTIX, LastStatus: ingest.StatusOK, LastLoadedAt: &now, UpdatedAt: now}, now),
		newFeedRow(store.FeedState{Name: "older", Format: ingest.FormatMISP, Mapping: "2026-01-01", LastStatus: ingest.StatusSkipped,
			LastLoadedAt: &now, UpdatedAt: now}, now),
		newFeedRow(store.FeedState{Name: "current", Format: ingest.FormatSTIX, Mapping: ingest.MappingVersion(ingest.FormatSTIX),
			LastStatus: ingest.StatusOK, LastLoadedAt: &now, UpdatedAt: now}, now),
		newFeedRow(store.FeedState{Name: "tel", Format: ingest.FormatTelemetry, LastStatus: ingest.StatusOK, LastLoadedAt: &now, UpdatedAt: now}, now),
	}
	var out strings.Builder
	require.NoError(t, writeFeedsTable(&out, rows))
	lines := strings.Split(out.String(), "\n")
	require.Contains(t, lines[1], "loaded by an intel that recorded no mapping (this intel maps stix "+ingest.MappingVersion(ingest.FormatSTIX)+"): the next run loads it again")
	require.Contains(t, lines[2], "loaded by mapping 2026-01-01 (this intel maps misp "+ingest.MappingVersion(ingest.FormatMISP)+"): the next run loads it again")
	require.NotContains(t, lines[3], "loads it again")
	require.NotContains(t, lines[4], "loads it again")
}
