package main

import (
	"context"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest"
	"github.com/ransomeye/intel/ingest/engine"
	"github.com/ransomeye/intel/store"
)

// TestInterruptedFeedsLineCountsTelemetry: `intel ingest feeds` of a feed
// list with a telemetry feed, stopped by SIGTERM while that feed loads. The
// one line says what was stored, and the telemetry feed's edges and
// endpoint nodes were stored too. Before, it counted only the STIX and MISP
// feeds' graph writes: "interrupted by SIGTERM after reading 64431 records
// (stored: 2705 nodes, 7642 relations); feed tel marked interrupted", with
// tens of thousands of edges and 36,000 endpoint nodes of the telemetry
// feed committed and not a word of them, though the records read counted
// its lines.
func TestInterruptedFeedsLineCountsTelemetry(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(interruptCause{sig: syscall.SIGTERM})

	stix := engine.NewReport("ics", ingest.FormatSTIX)
	stix.RecordsRead = 1826
	stix.Written = graph.WriteStats{NodesInserted: 400, NodesMerged: 53, RelationsInserted: 4500, RelationsPending: 37}
	tel := engine.NewReport("tel", ingest.FormatTelemetry)
	tel.RecordsRead = 30000
	tel.Telemetry = &store.TelemetryStats{Edges: 24576,
		Nodes: graph.WriteStats{NodesInserted: 18000, NodesMerged: 2000, NodesUnchanged: 5, RelationsInserted: 6000, RelationsMerged: 10}}
	results := []ingest.Result{
		{Feed: ingest.Feed{Name: "ics"}, Status: ingest.StatusOK, Report: stix},
		{Feed: ingest.Feed{Name: "tel"}, Status: ingest.StatusInterrupted, Report: tel},
	}
	ie := interrupted(ctx, results, false)
	require.NotNil(t, ie)
	require.Equal(t, "interrupted by SIGTERM after reading 31826 records (stored: 20458 nodes, 10547 relations, 24576 edges); feed tel marked interrupted",
		ie.Error())

	// Without telemetry, no edges are named.
	ie = interrupted(ctx, results[:1], false)
	require.Equal(t, "interrupted by SIGTERM after reading 1826 records (stored: 453 nodes, 4537 relations)", ie.Error())
}

// TestInterruptedLineSaysAFeedWasTakenOver: a load interrupted after
// another process took its feed over as stale records nothing (the
// feed's bookkeeping is the other load's); the one line says so, not
// "marked interrupted", nor "could not be marked … shows it stale".
func TestInterruptedLineSaysAFeedWasTakenOver(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(interruptCause{sig: syscall.SIGINT})
	results := []ingest.Result{
		{Feed: ingest.Feed{Name: "a"}, Status: ingest.StatusInterrupted, Report: engine.NewReport("a", ingest.FormatSTIX)},
		{Feed: ingest.Feed{Name: "b"}, Status: ingest.StatusInterrupted, Superseded: true,
			RecordError: "interrupted of feed b not recorded: …", Report: engine.NewReport("b", ingest.FormatSTIX)},
	}
	require.Equal(t, "interrupted by SIGINT after reading 0 records (stored: 0 nodes, 0 relations); feed a marked interrupted; "+
		"feed b not marked interrupted: another load took it over as stale (see the log; 'intel feeds' shows that load)",
		interrupted(ctx, results, false).Error())
}
