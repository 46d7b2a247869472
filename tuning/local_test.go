package tuning_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/tuning"
)

// TestWriters: the writers are the cores, at most half the pool; the
// telemetry writer's streams the cores, at most half of it.
func TestWriters(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cores            int
		memory           uint64
		writers, streams int
	}{
		{1, 4 * tuning.GiB, 1, 1},      // pool 6: half is 3, one core
		{2, 4 * tuning.GiB, 2, 2},      // the machine here: pool 8
		{48, 196 * tuning.GiB, 48, 48}, // pool 100: half is 50
		{64, 8 * tuning.GiB, 25, 25},   // small memory caps the pool at 50
	} {
		plan, err := tuning.PlanFor(tuning.Resources{Cores: tc.cores, MemoryBytes: tc.memory})
		require.NoError(t, err)
		require.Equal(t, tc.writers, plan.Writers, "%d cores, %d bytes", tc.cores, tc.memory)
		require.LessOrEqual(t, plan.Writers, int(plan.MaxConns)/2)
		require.Equal(t, tc.streams, plan.TelemetryStreams, "%d cores, %d bytes", tc.cores, tc.memory)
		require.LessOrEqual(t, plan.TelemetryStreams+plan.Writers, int(plan.MaxConns), "streams and writers fit the pool")
	}
}

func TestLocalPlanFallback(t *testing.T) {
	t.Parallel()
	plan, err := tuning.LocalPlan(tuning.WithHost(8, 32*tuning.GiB, nil), tuning.WithCgroupRoot(t.TempDir()))
	require.NoError(t, err)
	require.Equal(t, 2000, plan.BatchSize, "the detected machine's plan")

	plan, err = tuning.LocalPlan(tuning.WithHost(8, 0, errors.New("no /proc/meminfo")), tuning.WithCgroupRoot(t.TempDir()))
	require.Error(t, err, "the caller learns why the machine was not measured")
	small, perr := tuning.PlanFor(tuning.Resources{Cores: 1, MemoryBytes: 4 * tuning.GiB})
	require.NoError(t, perr)
	require.Equal(t, small, plan, "the smallest machine's plan, safe anywhere")
}
