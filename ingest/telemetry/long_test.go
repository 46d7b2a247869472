package telemetry_test

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/ingest/engine"
	"github.com/ransomeye/intel/ingest/telemetry"
	"github.com/ransomeye/intel/internal/rsstest"
)

// TestRSSChild is the child process of TestLongHostileInputRSS: it loads
// its standard input and prints the report as JSON.
func TestRSSChild(t *testing.T) {
	if os.Getenv("INTEL_RSS_CHILD") == "" {
		t.Skip("child process of TestLongHostileInputRSS")
	}
	rep, err := telemetry.Load(context.Background(), os.Stdin, &captureWriter{}, engine.Options{Logger: quiet})
	require.NoError(t, err)
	require.NoError(t, json.NewEncoder(os.Stdout).Encode(rep))
}

// TestLongHostileInputRSS: telemetry with 2 GiB of white space (blank lines,
// and a line of 1 GiB of spaces) and with a 400 MiB line loads in a child
// process within the memory bound (the line limit and 64 MiB more): the
// long blank line is skipped, the 400 MiB line dropped as too large, and
// the lines around them load.
func TestLongHostileInputRSS(t *testing.T) {
	rsstest.Long(t)
	const bound = telemetry.DefaultMaxLineBytes + 64<<20
	line := `{"src":"ipv4-addr:10.0.0.5","relation":"connects-to","dst":"url:http://a.example/","agent_id":"a","observed_at":"2026-01-01T00:00:00Z"}` + "\n"
	run := func(input func(w io.Writer) error) (engine.Report, int64) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestRSSChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "INTEL_RSS_CHILD=1")
		out, rss := rsstest.Run(t, cmd, input)
		var rep engine.Report
		i := strings.IndexByte(string(out), '{')
		require.GreaterOrEqual(t, i, 0, "%s", out)
		require.NoError(t, json.NewDecoder(strings.NewReader(string(out[i:]))).Decode(&rep), "%s", out)
		t.Logf("peak RSS %.1f MiB, %d bytes, %d lines read, %d edges, dropped %v", float64(rss)/(1<<20), rep.Bytes, rep.RecordsRead, rep.Telemetry.Edges, rep.Dropped)
		return rep, rss
	}

	rep, rss := run(func(w io.Writer) error {
		for _, step := range []func() error{
			func() error { return rsstest.Spaces(w, 1<<30, true) },
			func() error { return rsstest.Write(w, "\n", line) },
			func() error { return rsstest.Spaces(w, 1<<30, false) },
			func() error { return rsstest.Write(w, "\n", line) },
		} {
			if err := step(); err != nil {
				return err
			}
		}
		return nil
	})
	require.Empty(t, rep.Dropped)
	require.EqualValues(t, 2, rep.Telemetry.Edges)
	require.LessOrEqual(t, rss, int64(bound), "2 GiB of white space")

	rep, rss = run(func(w io.Writer) error {
		if err := rsstest.Write(w, line, `{"src":"ipv4-addr:10.0.0.5","relation":"x","dst":"url:http://a/`); err != nil {
			return err
		}
		if err := rsstest.Repeat(w, []byte(strings.Repeat("x", 1<<20)), 400<<20); err != nil {
			return err
		}
		return rsstest.Write(w, `","agent_id":"a","observed_at":"2026-01-01T00:00:00Z"}`+"\n", line)
	})
	require.Equal(t, map[engine.Reason]int64{engine.ReasonTooLarge: 1}, rep.Dropped)
	require.EqualValues(t, 2, rep.Telemetry.Edges)
	require.LessOrEqual(t, rss, int64(bound), "a 400 MiB line")
}
