package tuning_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/tuning"
)

func TestReportTable(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		res  tuning.Resources
		want []string
	}{
		{
			name: "simulated large machine",
			res: tuning.Resources{Cores: 48, MemoryBytes: 196 * tuning.GiB,
				Source: tuning.Source{CPU: tuning.SourceManual, Memory: tuning.SourceManual}},
			want: []string{"cores", "48", "196 GiB", "manual", "class", "large",
				"max conns", "100", "400", "min conns", "25", "batch size", "5000", "parser workers", "4"},
		},
		{
			name: "detected container",
			res: tuning.Resources{Cores: 2, MemoryBytes: 4 * tuning.GiB, Source: tuning.Source{
				CPU: tuning.SourceCgroup, Memory: tuning.SourceCgroup, HostCores: 64, HostMemoryBytes: 512 * tuning.GiB,
				CgroupPath: "/kubepods/pod1", CgroupCPULimit: 1.5, CgroupMemoryLimitBytes: 4 * tuning.GiB,
				Notes: []string{"read /x/memory.max: malformed"},
			}},
			want: []string{"cgroup v2", "GOMAXPROCS 64", "cpu.max 1.5", "host 512 GiB", "memory.max 4 GiB",
				"/kubepods/pod1", "malformed", "small", "500"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			rep, err := tuning.NewReport(tt.res)
			require.NoError(t, err)
			var buf bytes.Buffer
			require.NoError(t, tuning.WriteTable(&buf, rep))
			out := buf.String()
			for _, w := range tt.want {
				require.Contains(t, out, w)
			}
			require.True(t, strings.HasPrefix(out, "RESOURCE"), out)
		})
	}
}

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
		         "batch_size": 500, "parser_workers": 1, "writers": 2}
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

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteTableReportsWriteErrors(t *testing.T) {
	t.Parallel()

	rep, err := tuning.NewReport(tuning.Resources{Cores: 2, MemoryBytes: 4 * tuning.GiB})
	require.NoError(t, err)
	require.ErrorContains(t, tuning.WriteTable(failingWriter{}, rep), "disk full")
}
