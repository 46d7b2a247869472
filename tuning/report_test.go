package tuning_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/tuning"
)

func TestReportJSON(t *testing.T) {
	t.Parallel()

	rep, err := tuning.NewReport(tuning.Resources{Cores: 2, MemoryBytes: 4 * tuning.GiB,
		Source: tuning.Source{CPU: tuning.SourceManual, Memory: tuning.SourceManual}})
	require.NoError(t, err)
	b, err := json.Marshal(rep)
	require.NoError(t, err)
	require.JSONEq(t, `{
		"resources": {"cores": 2, "memory_bytes": 4294967296, "source": {"cpu": "manual", "memory": "manual"}},
		"plan": {"class": "small", "max_conns": 8, "min_conns": 2, "pool_cap": 50, "spindle_factor": 4,
		         "batch_size": 500, "parser_workers": 1, "writers": 2,
		         "telemetry_streams": 2, "endpoint_cache_keys": 65536}
	}`, string(b))

	var back tuning.Report
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, rep, back)
}

func TestNewReportRejectsUnknown(t *testing.T) {
	t.Parallel()

	_, err := tuning.NewReport(tuning.Resources{MemoryBytes: tuning.GiB})
	require.ErrorIs(t, err, tuning.ErrUnknownCores)
}
