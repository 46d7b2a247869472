package main_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
)

// TestIngestMISPDirectoryOfEventFiles: `intel ingest misp DIR` on a
// directory of MISP event files named as their publisher names them (ESET's
// misp-badiis.json; no manifest.json, no <uuid>.json) loads each file as a
// feed of its own, named below the directory, as `intel ingest stix DIR`
// does. Before, it was refused: "no manifest.json and no <uuid>.json
// files", exit 1, and a folder of exported events needed a feed list.
func TestIngestMISPDirectoryOfEventFiles(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "eset")
	require.NoError(t, os.Mkdir(dir, 0o755))
	for src, dst := range map[string]string{
		filepath.Join("..", "..", "testdata", "misp", "57c4445b-c548-4654-af0b-4be3950d210f.json"): "misp-one-event.json",
		filepath.Join("..", "..", "testdata", "mispstix", "events-misp.json"):                      "misp-two-events.json",
	} {
		b, err := os.ReadFile(src)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, dst), b, 0o644))
	}
	dsn := pgtest.DSN(t)
	cmd, stdout, stderr := startIntel(t, dsn, "ingest", "misp", dir)
	require.Zero(t, exitCode(t, cmd), "stdout: %s\nstderr: %s", stdout, stderr)
	require.Contains(t, stdout.String(), "eset/misp-one-event")
	require.Contains(t, stdout.String(), "eset/misp-two-events")

	pool := pgtest.PoolFor(t, dsn)
	var events, feeds int
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT
		(SELECT count(*) FROM nodes WHERE kind = 'report' AND key LIKE 'misp--%'),
		(SELECT count(*) FROM feeds WHERE name LIKE 'eset/%' AND last_status = 'ok')`).Scan(&events, &feeds))
	require.Equal(t, 3, events, "every event of both files")
	require.Equal(t, 2, feeds, "a feed per file")
}
