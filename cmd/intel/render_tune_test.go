package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/tuning"
)

func TestWriteTuneTable(t *testing.T) {
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
			require.NoError(t, writeTuneTable(&buf, rep))
			out := buf.String()
			for _, w := range tt.want {
				require.Contains(t, out, w)
			}
			require.True(t, strings.HasPrefix(out, "RESOURCE"), out)
			requireNoTrailingBlanks(t, out)
		})
	}
}

func TestWriteTuneTableExactly(t *testing.T) {
	t.Parallel()

	rep, err := tuning.NewReport(tuning.Resources{Cores: 48, MemoryBytes: 196 * tuning.GiB,
		Source: tuning.Source{CPU: tuning.SourceManual, Memory: tuning.SourceManual}})
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, writeTuneTable(&buf, rep))
	require.Equal(t, `RESOURCE  VALUE    FROM
cores     48       manual
memory    196 GiB  manual

PLAN               VALUE   WHY
class              large   memory > 100 GiB and cores > 16
max conns          100     min(cores × 2 + spindle factor 4, large cap 400)
min conns          25      max conns / 4, at least 1
batch size         5000    rows per insert batch
parser workers     4       goroutines parsing feed records
writers            48      write transactions at once: cores, at most max conns / 2
telemetry streams  48      COPY streams of a shared telemetry writer: cores, at most max conns / 2
endpoint cache     524288  telemetry endpoints remembered per generation: memory / 64 KiB, 32,768-524,288
`, buf.String())
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteTuneTableReportsWriteErrors(t *testing.T) {
	t.Parallel()

	rep, err := tuning.NewReport(tuning.Resources{Cores: 2, MemoryBytes: 4 * tuning.GiB})
	require.NoError(t, err)
	require.ErrorContains(t, writeTuneTable(failingWriter{}, rep), "disk full")
}

func TestFormatBytes(t *testing.T) {
	t.Parallel()

	tests := []struct {
		in   uint64
		want string
	}{
		{196 * tuning.GiB, "196 GiB"},
		{512 * tuning.MiB, "512 MiB"},
		{tuning.TiB, "1 TiB"},
		{3 * tuning.GiB / 2, "1.5 GiB"},
		{100, "100 B"},
		{0, "0 B"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			t.Parallel()

			require.Equal(t, tt.want, formatBytes(tt.in))
			back, err := tuning.ParseBytes(tt.want)
			require.NoError(t, err)
			require.Equal(t, tt.in, back, "tuning.ParseBytes reads it back")
		})
	}
}

// requireNoTrailingBlanks checks that no line of out ends in a blank.
func requireNoTrailingBlanks(t *testing.T, out string) {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		require.False(t, strings.HasSuffix(line, " "), "no trailing blanks: %q", line)
	}
}
