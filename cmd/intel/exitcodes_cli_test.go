package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
)

// TestLookupExitCodes: show and related tell a script why they failed by
// their exit code: a node nothing names (4), a name several nodes share (5),
// a usage error (2), and a database that cannot answer (1). Before, not
// found, ambiguous and an unreachable server all exited 1, so `intel show
// "$x" || …` could not tell an unknown indicator from a database outage.
func TestLookupExitCodes(t *testing.T) {
	t.Parallel()
	db := "--database-url=" + pgtest.DSN(t)
	runOK(t, db, "ingest", "misp", testdata("order/misp/pymisp/reportlab_sighting_1.json"))
	// A malware and a tool of one name: the name alone is ambiguous.
	twins := filepath.Join(t.TempDir(), "twins.json")
	require.NoError(t, os.WriteFile(twins, []byte(`{"type": "bundle", "id": "bundle--0c4e0000-0000-4000-8000-000000000000", "objects": [
  {"type": "malware", "spec_version": "2.1", "id": "malware--0c4e0000-0000-4000-8000-000000000001", "created": "2024-01-01T00:00:00Z", "modified": "2024-01-01T00:00:00Z", "name": "Gorgon", "is_family": true},
  {"type": "tool", "spec_version": "2.1", "id": "tool--0c4e0000-0000-4000-8000-000000000002", "created": "2024-01-01T00:00:00Z", "modified": "2024-01-01T00:00:00Z", "name": "Gorgon"}]}`), 0o600))
	runOK(t, db, "ingest", "stix", twins)
	for _, cmd := range []string{"show", "related"} {
		_, stderr, code := runCLI(t, db, cmd, "domain-name:nothing.example")
		require.Equal(t, exitNotFound, code, stderr)
		require.Contains(t, stderr, "not found")
		_, stderr, code = runCLI(t, db, cmd, "relationship--7e57a1d0-0000-4000-8000-000000000002")
		require.Equal(t, exitNotFound, code, stderr)
		_, stderr, code = runCLI(t, db, cmd, "Gorgon")
		require.Equal(t, exitAmbiguous, code, stderr)
		require.Contains(t, stderr, "ambiguous: 2 candidates")
		_, stderr, code = runCLI(t, db, cmd, "tool:Gorgon")
		require.Equal(t, exitOK, code, stderr)
		_, stderr, code = runCLI(t, db, cmd, "--format", "xml", "x")
		require.Equal(t, exitUsage, code, stderr)
		_, stderr, code = runCLI(t, cmd, "--database-url=postgres://x@127.0.0.1:1/db?sslmode=disable&connect_timeout=2", "x")
		require.Equal(t, exitFailure, code, stderr)
	}
}
