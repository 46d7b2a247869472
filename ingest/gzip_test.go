package ingest_test

import (
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
		f, err := os.Create(out)
		require.NoError(t, err)
		w := gzip.NewWriter(f)
		_, err = w.Write(in)
		require.NoError(t, err)
		require.NoError(t, w.Close())
		require.NoError(t, f.Close())
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
