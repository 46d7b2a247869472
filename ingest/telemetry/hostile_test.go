package telemetry_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/ingest/engine"
	"github.com/ransomeye/intel/ingest/telemetry"
)

// hostileLine is a valid telemetry line whose dst names i.
func hostileLine(i string) string {
	return `{"src":"ipv4-addr:10.0.0.5","relation":"connects-to","dst":"url:http://` + i + `.example/","agent_id":"a","observed_at":"2026-01-01T00:00:00Z"}` + "\n"
}

// TestHostileLines: with the line limit at 1 MiB, 8 MiB of white space
// (blank lines, and a 3 MiB line of spaces) is skipped, a 3 MiB line is
// dropped as too large and a line nested 100,000 deep as too deep, each in
// constant memory, and every line around them loads, in order.
func TestHostileLines(t *testing.T) {
	t.Parallel()
	blank := strings.Repeat(strings.Repeat(" ", 99)+"\n", 50_000)
	long := `{"src":"ipv4-addr:10.0.0.5","relation":"x","dst":"url:http://a/` + strings.Repeat("x", 3<<20) + `","agent_id":"a","observed_at":"2026-01-01T00:00:00Z"}` + "\n"
	deep := `{"src":"ipv4-addr:10.0.0.5","relation":"x","dst":"url:http://a/","agent_id":"a","observed_at":"2026-01-01T00:00:00Z","props":{"p":` +
		strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000) + "}}\n"
	in := blank + hostileLine("a") + strings.Repeat(" ", 3<<20) + "\n" + hostileLine("b") + long + hostileLine("c") + deep + hostileLine("d") + blank
	w := &captureWriter{}
	rep, err := telemetry.Load(context.Background(), strings.NewReader(in), w, engine.Options{Logger: quiet, MaxRecordBytes: 1 << 20, Workers: 2})
	require.NoError(t, err)
	require.Equal(t, map[engine.Reason]int64{engine.ReasonTooLarge: 1, engine.ReasonTooDeep: 1}, rep.Dropped)
	var got []string
	for _, e := range w.edges {
		got = append(got, e.Dst.Key)
	}
	require.Equal(t, []string{"http://a.example/", "http://b.example/", "http://c.example/", "http://d.example/"}, got)
	require.EqualValues(t, len(in), rep.Bytes)
}

// TestGzippedTelemetryIsRefused: a gzip-compressed input (an agent's
// rotated log, read as it is) fails at once with ErrCompressed, which says
// how to decompress it; before, each of its "lines" was an invalid-json
// drop and the load ended without a word about compression.
func TestGzippedTelemetryIsRefused(t *testing.T) {
	t.Parallel()
	w := &countWriter{}
	_, err := telemetry.Load(context.Background(), strings.NewReader("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03"+hostileLine("a")), w, engine.Options{Feed: "gz"})
	require.ErrorIs(t, err, telemetry.ErrCompressed)
	require.Zero(t, w.edges)
	rep, err := telemetry.Load(context.Background(), strings.NewReader(hostileLine("a")), &countWriter{}, engine.Options{Feed: "plain"})
	require.NoError(t, err)
	require.EqualValues(t, 1, rep.RecordsMapped, "the control: a plain line loads")
}
