package ingest_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf16"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/ingest"
	"github.com/ransomeye/intel/ingest/telemetry"
	"github.com/ransomeye/intel/internal/pgtest"
)

// TestUTF16Feeds: a STIX or MISP file saved as UTF-16 (Windows
// PowerShell 5's > and Out-File write UTF-16LE with a byte order mark)
// loads as the same file in UTF-8 does, in either byte order, with or
// without the mark, its format detected: before, it failed at byte 0 with
// "invalid character '\xff'". UTF-16 telemetry is refused with a line that
// says how to convert it: before, every line was an invalid-json drop.
func TestUTF16Feeds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	write16 := func(src string, big, bom bool) string {
		in, err := os.ReadFile(src)
		require.NoError(t, err)
		units := utf16.Encode([]rune(string(in)))
		if bom {
			units = append([]uint16{0xFEFF}, units...)
		}
		out := make([]byte, 0, 2*len(units))
		for _, u := range units {
			if big {
				out = append(out, byte(u>>8), byte(u))
			} else {
				out = append(out, byte(u), byte(u>>8))
			}
		}
		path := filepath.Join(dir, filepath.Base(src)+map[bool]string{true: ".be", false: ".le"}[big]+map[bool]string{true: ".bom", false: ""}[bom])
		require.NoError(t, os.WriteFile(path, out, 0o600))
		return path
	}
	quiet := ingest.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	load := func(path string) string {
		st, pool := newStore(t)
		res, err := ingest.Run(ctx, st, []ingest.Feed{{Name: "f", Path: path}}, quiet)
		require.NoError(t, err, path)
		require.Equal(t, ingest.StatusOK, res[0].Status, "%s: %s", path, res[0].Error)
		require.Positive(t, res[0].Report.RecordsMapped, path)
		return pgtest.Dump(t, pool, pgtest.GraphQueries...)
	}
	for _, c := range []struct {
		src     string
		big     bool
		withBOM bool
	}{
		{filepath.Join("..", "testdata", "demo", "hellokitty-ransomware.json"), false, true},
		{filepath.Join("..", "testdata", "demo", "sednit_2018-11-20_Zebrocy.json"), true, false},
	} {
		require.Equal(t, load(c.src), load(write16(c.src, c.big, c.withBOM)), "%s: the same graph from UTF-16", c.src)
	}

	st, _ := newStore(t)
	tel := filepath.Join(dir, "edr.ndjson")
	require.NoError(t, os.WriteFile(tel, []byte(`{"src": "ipv4-addr:10.0.0.5", "relation": "connected-to", "dst": "ipv4-addr:10.0.0.6", "agent_id": "h", "observed_at": "2026-12-04T10:16:00Z"}`+"\n"), 0o600))
	tel16 := write16(tel, false, true)
	for _, f := range []ingest.Feed{{Name: "t", Path: tel16, Format: ingest.FormatTelemetry}, {Name: "t2", Path: write16(tel, false, false), Format: ingest.FormatTelemetry}} {
		res, err := ingest.Run(ctx, st, []ingest.Feed{f}, quiet)
		require.Error(t, err, f.Path)
		require.Equal(t, ingest.StatusFailed, res[0].Status, f.Path)
		require.Contains(t, res[0].Error, telemetry.ErrUTF16.Error(), f.Path)
	}
}
