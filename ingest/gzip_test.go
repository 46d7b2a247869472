package ingest_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/ingest"
	"github.com/ransomeye/intel/ingest/telemetry"
	"github.com/ransomeye/intel/internal/pgtest"
)

// TestGzippedFeeds: a gzip-compressed STIX or MISP file (feeds are often
// published so) loads as the same file uncompressed does, its format
// detected from what it holds: before, it failed at byte 0 with
// "invalid character '\x1f'". Gzipped telemetry is refused with a line
// that says so and how to decompress it: before, each line was an
// invalid-json drop (testdata/adv/nonl.ndjson.gz).
func TestGzippedFeeds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	gz := func(src string) string {
		in, err := os.ReadFile(src)
		require.NoError(t, err)
		out := filepath.Join(dir, filepath.Base(src)+".gz")
		writeGzip(t, out, in)
		return out
	}
	quiet := ingest.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, src := range []string{
		filepath.Join("..", "testdata", "demo", "hellokitty-ransomware.json"),
		filepath.Join("..", "testdata", "demo", "sednit_2018-11-20_Zebrocy.json"),
	} {
		var dumps []string
		for _, path := range []string{src, gz(src)} {
			st, pool := newStore(t)
			res, err := ingest.Run(ctx, st, []ingest.Feed{{Name: "f", Path: path}}, quiet)
			require.NoError(t, err)
			require.Equal(t, ingest.StatusOK, res[0].Status, "%s: %s", path, res[0].Error)
			require.Positive(t, res[0].Report.RecordsMapped, path)
			dumps = append(dumps, pgtest.Dump(t, pool, pgtest.GraphQueries...))
		}
		require.Equal(t, dumps[0], dumps[1], "%s: the same graph from the gzipped file", src)
	}

	st, _ := newStore(t)
	tel := filepath.Join("..", "testdata", "adv", "nonl.ndjson.gz")
	for _, f := range []ingest.Feed{{Name: "t", Path: tel, Format: ingest.FormatTelemetry}, {Name: "t2", Path: tel}} {
		res, err := ingest.Run(ctx, st, []ingest.Feed{f}, quiet)
		require.Error(t, err, f.Name)
		require.Equal(t, ingest.StatusFailed, res[0].Status, f.Name)
		if f.Format == ingest.FormatTelemetry {
			require.Contains(t, res[0].Error, telemetry.ErrCompressed.Error())
		}
	}
}

// TestMISPFeedDirectoryOfGzippedEvents: a MISP feed directory whose events
// are stored compressed (manifest.json beside <uuid>.json.gz, as a feed
// mirrored by a tool that compresses what it fetches; testdata/misp/feed
// with its event gzipped) loads as the plain directory does, the same
// graph; run again unchanged, its event is skipped; its .json.gz rewritten
// (an attribute added, the manifest as it was), it is loaded again. A
// directory of <uuid>.json.gz files without a manifest loads too. Before,
// every event was a missing-event-file drop and the feed failed
// ("openat <uuid>.json: no such file or directory").
func TestMISPFeedDirectoryOfGzippedEvents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	quiet := ingest.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	const id = "56bf399d-c46c-4fdb-a9cf-d9bb02de0b81"
	src := filepath.Join("..", "testdata", "misp", "feed")
	event, err := os.ReadFile(filepath.Join(src, id+".json"))
	require.NoError(t, err)
	manifest, err := os.ReadFile(filepath.Join(src, "manifest.json"))
	require.NoError(t, err)
	gzDir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(gzDir, "manifest.json"), manifest, 0o644))
	writeGzip(t, filepath.Join(gzDir, id+".json.gz"), event)
	bare := t.TempDir()
	writeGzip(t, filepath.Join(bare, id+".json.gz"), event)

	var dumps []string
	for _, dir := range []string{src, gzDir, bare} {
		st, pool := newStore(t)
		res, err := ingest.Run(ctx, st, []ingest.Feed{{Name: "circl", Path: dir}}, quiet)
		require.NoError(t, err, dir)
		require.Equal(t, ingest.StatusOK, res[0].Status, "%s: %s", dir, res[0].Error)
		require.Equal(t, 1, res[0].EventsLoaded, dir)
		require.Positive(t, res[0].Report.RecordsMapped, dir)
		dumps = append(dumps, pgtest.Dump(t, pool, pgtest.GraphQueries...))
		if dir != gzDir {
			continue
		}
		res, err = ingest.Run(ctx, st, []ingest.Feed{{Name: "circl", Path: dir}}, quiet)
		require.NoError(t, err)
		require.Equal(t, ingest.StatusSkipped, res[0].Status, "unchanged: %s", res[0].Error)
		changed := bytes.Replace(event, []byte(`"Attribute": [`),
			[]byte(`"Attribute": [{"uuid": "5a0b0c0d-0000-4000-8000-0000000000f1", "type": "ip-dst", "category": "Network activity", "value": "198.51.100.99", "timestamp": "1455373240", "to_ids": false},`), 1)
		require.NotEqual(t, event, changed, "the event file has an Attribute list")
		writeGzip(t, filepath.Join(dir, id+".json.gz"), changed)
		res, err = ingest.Run(ctx, st, []ingest.Feed{{Name: "circl", Path: dir}}, quiet)
		require.NoError(t, err)
		require.Equal(t, ingest.StatusOK, res[0].Status, res[0].Error)
		require.Equal(t, 1, res[0].EventsLoaded, "the changed event is loaded again")
	}
	require.Equal(t, dumps[0], dumps[1], "the same graph from the gzipped feed directory")
	require.Equal(t, dumps[0], dumps[2], "and from its events without a manifest")
}

// writeGzip writes body gzip-compressed to path.
func writeGzip(t *testing.T, path string, body []byte) {
	t.Helper()
	f, err := os.Create(path)
	require.NoError(t, err)
	w := gzip.NewWriter(f)
	_, err = w.Write(body)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	require.NoError(t, f.Close())
}
