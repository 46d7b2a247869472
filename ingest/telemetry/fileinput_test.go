package telemetry_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/ingest/telemetry"
)

// TestFileInputIsTheFileNotTheName: a telemetry file reached through a
// symbolic link (a spool's current.ndjson) and by its own path is one
// input with one checkpoint. The link's path was an input of its own, so
// loading the file both ways stored every edge twice.
func TestFileInputIsTheFileNotTheName(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "edr.ndjson")
	require.NoError(t, os.WriteFile(file, []byte(`{"src":"ipv4-addr:10.0.0.1","relation":"connected-to","dst":"ipv4-addr:10.0.0.2","agent_id":"a","observed_at":"2026-11-27T10:15:00Z"}`+"\n"), 0o600))
	require.NoError(t, os.Symlink("edr.ndjson", filepath.Join(dir, "current.ndjson")))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "sub"), 0o700))

	direct, err := telemetry.FileInput(file)
	require.NoError(t, err)
	for _, p := range []string{filepath.Join(dir, "current.ndjson"), filepath.Join(dir, "sub", "..", "current.ndjson")} {
		linked, err := telemetry.FileInput(p)
		require.NoError(t, err)
		require.Equal(t, direct, linked, p)
	}
}
