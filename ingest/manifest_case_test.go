package ingest_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/ingest"
	"github.com/ransomeye/intel/ingest/misp"
)

// TestManifestNamingUpperCaseUUIDsReadsTheirFiles: a MISP feed directory
// written with upper-case event uuids (a feed generator keeping the uuids
// as a tool gave them: manifest.json's keys and the files <UUID>.json
// alike). Each event was reported missing (missing-event-file, the feed
// failed, its events not loaded), because the manifest's uuid was
// lower-cased and <uuid>.json opened, a file a case-sensitive file system
// does not have. Now the event files are found as the directory spells
// them, by the load and by the manager's per-event hashes, so the next
// run skips the unchanged events.
func TestManifestNamingUpperCaseUUIDsReadsTheirFiles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, _ := newStore(t)
	dir := t.TempDir()
	upper, lower := "5F0E1A2B-0032-4000-8000-0000000000AA", "5f0e1a2b-0032-4000-8000-0000000000bb"
	writeFeedDir(t, dir, map[string][]byte{
		upper: mispEvent(upper, "upper", 1760000000, [][2]string{{"ip-dst", "198.51.100.61"}}),
		lower: mispEvent(lower, "lower", 1760000000, [][2]string{{"ip-dst", "198.51.100.62"}}),
	}, map[string]int64{upper: 1760000000, lower: 1760000000})

	res := ingest.LoadFeed(ctx, st, ingest.Feed{Name: "upper", Path: dir, Format: ingest.FormatMISP}, ingest.Options{Logger: quietLog})
	require.Equal(t, ingest.StatusOK, res.Status, res.Error)
	require.Zero(t, res.Report.Dropped[misp.ReasonMissingEventFile])
	require.Equal(t, 2, res.EventsLoaded)
	for _, key := range []string{"misp--" + strings.ToLower(upper), "ipv4-addr:198.51.100.61", "ipv4-addr:198.51.100.62"} {
		_, err := st.ResolveNode(ctx, key)
		require.NoError(t, err, key)
	}

	// The lower-case event changes: only it is loaded again, the
	// upper-case one, hashed as before, is skipped.
	writeFeedDir(t, dir, map[string][]byte{
		upper: mispEvent(upper, "upper", 1760000000, [][2]string{{"ip-dst", "198.51.100.61"}}),
		lower: mispEvent(lower, "lower", 1760000001, [][2]string{{"ip-dst", "198.51.100.63"}}),
	}, map[string]int64{upper: 1760000000, lower: 1760000001})
	res = ingest.LoadFeed(ctx, st, ingest.Feed{Name: "upper", Path: dir, Format: ingest.FormatMISP}, ingest.Options{Logger: quietLog})
	require.Equal(t, ingest.StatusOK, res.Status, res.Error)
	require.Equal(t, [2]int{1, 1}, [2]int{res.EventsLoaded, res.EventsSkipped}, "events loaded, skipped")
}
