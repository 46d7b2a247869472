package telemetry_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/ingest/engine"
	"github.com/ransomeye/intel/ingest/telemetry"
)

// Row 17 of issue 13: observed_at 0001-01-01T00:00:00Z was dropped as
// missing; it is dropped as bad-observed-at (the graph reads the zero time
// as no time), and the line after it loads.
func TestZeroObservedAtIsNotMissing(t *testing.T) {
	t.Parallel()
	in := `{"src":"ipv4-addr:10.0.0.1","relation":"connected-to","dst":"ipv4-addr:10.0.0.2","agent_id":"a","observed_at":"0001-01-01T00:00:00Z"}
{"src":"ipv4-addr:10.0.0.1","relation":"connected-to","dst":"ipv4-addr:10.0.0.3","agent_id":"a","observed_at":"2026-11-27T10:15:00Z"}
`
	w := &captureWriter{}
	rep, err := telemetry.Load(context.Background(), strings.NewReader(in), w, engine.Options{Feed: "edr", Logger: quiet})
	require.NoError(t, err)
	require.Equal(t, map[engine.Reason]int64{telemetry.ReasonBadObservedAt: 1}, rep.Dropped)
	require.Len(t, w.edges, 1)
	require.Equal(t, "10.0.0.3", w.edges[0].Dst.Key)
}
