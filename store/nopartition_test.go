package store_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/partman"
	"github.com/ransomeye/intel/store"
)

// TestDroppedDefaultPartitionFailsTheLoadAndLosesNothing: the default
// partition of telemetry_edges is dropped (by hand, or by a tool that
// thinks it empty) while rows it should take are being loaded — rows of a
// day outside the window, which get no partition of their own. The server
// refuses their COPY with "no partition of relation "telemetry_edges"
// found for row" (SQLSTATE 23514, a check violation but of no
// constraint). That is no fault of the rows: the load must stop with an
// error that says so, its checkpoint at what was stored, and once the
// default partition is back (partman.Ensure, which every command runs on
// startup) the rerun stores exactly the rows of a clean load. Before, the
// COPY was bisected down to single rows as for a data error, and every
// such row was dropped as rejected-by-database, one WARN line each; the
// load succeeded and its checkpoint was complete, so no rerun brought them
// back (`intel ingest telemetry` of 150,000 lines, a tenth of them in
// 2025, default dropped 2 s in: 10,771 edges dropped, exit 0).
func TestDroppedDefaultPartitionFailsTheLoadAndLosesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const n = 3_000
	at := time.Now().UTC().AddDate(-1, 0, -40).Truncate(time.Hour) // outside the window: the default partition's
	in := store.TelemetryInput{Name: "file:/tmp/old.ndjson", ContentHash: "abc"}

	clean := setup(t, store.WithCopyChunk(500))
	st, err := clean.store.Checkpointed(in).AppendTelemetry(ctx, numbered(n, at, false))
	require.NoError(t, err)
	require.EqualValues(t, wantEdges(n), st.Edges)
	want := edgeRows(t, clean.pool)

	var logs lockedBuffer
	b := setup(t, store.WithCopyChunk(500), store.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	_, err = b.pool.Exec(ctx, "DROP TABLE telemetry_edges_default")
	require.NoError(t, err)
	first, err := b.store.Checkpointed(in).AppendTelemetry(ctx, numbered(n, at, false))
	require.Error(t, err, "no partition takes the rows: the load fails; dropped %v", first.Dropped)
	require.True(t, store.NoPartition(err), "%v", err)
	require.Contains(t, store.ExplainServerLimit(err).Error(), "default partition")
	require.Zero(t, first.Dropped[store.ReasonRejected], "rows no partition took are not the rows' fault")
	require.Zero(t, first.Edges)
	require.NotContains(t, logs.String(), "the database refused it")

	_, err = partman.Ensure(ctx, b.pool, partman.Options{})
	require.NoError(t, err)
	second, err := b.store.Checkpointed(in).AppendTelemetry(ctx, numbered(n, at, false))
	require.NoError(t, err)
	require.EqualValues(t, wantEdges(n), second.Edges)
	require.Equal(t, want, edgeRows(t, b.pool), "the rows of one clean load")
}
