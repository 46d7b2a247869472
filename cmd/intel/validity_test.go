package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
)

// TestShowSaysAnIndicatorExpired: an indicator whose valid_until has passed
// (OpenCTI's export in testdata/producers: valid 2023-01-10 .. 2023-04-10)
// stays in the graph and in walks, what it indicated was so, but show says
// it expired; one without valid_until says nothing of the kind. Before,
// show gave no hint of validity at all.
func TestShowSaysAnIndicatorExpired(t *testing.T) {
	t.Parallel()
	db := "--database-url=" + pgtest.DSN(t)
	runOK(t, db, "ingest", "stix", testdata("producers/opencti-export.json"))
	out := runOK(t, db, "show", "indicator--3e01a7d8-997b-5e7b-a1a3-32f8956ca752")
	require.Regexp(t, `(?m)^valid: +2023-01-10 \.\. 2023-04-10 \(expired\)$`, out)
	out = runOK(t, db, "related", "ipv4-addr:203.0.113.77", "--depth", "1")
	require.Contains(t, out, "<-based-on- indicator 203.0.113.77", "an expired indicator is still walked")

	require.Empty(t, validity(map[string]any{"name": "x"}, timeOf(t, "2024-01-01T00:00:00Z")))
	require.Equal(t, "2023-01-10 .. ", validity(map[string]any{"valid_from": "2023-01-10T10:00:00Z"}, timeOf(t, "2024-01-01T00:00:00Z")))
	require.Equal(t, "2023-01-10 .. 2030-01-01", validity(map[string]any{"valid_from": "2023-01-10T10:00:00Z", "valid_until": "2030-01-01T00:00:00Z"}, timeOf(t, "2024-01-01T00:00:00Z")))
}

func timeOf(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	require.NoError(t, err)
	return v
}
