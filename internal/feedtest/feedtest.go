// Package feedtest gives load tests what they share: a generated feed of
// known size, a lock that holds a load at its first batch, and the feeds of
// a directory tree (the corpus, testdata).
package feedtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/ingest"
)

// MalwareFeed writes n STIX malware objects as NDJSON (one node each) in a
// temporary directory of t and returns the file.
func MalwareFeed(t testing.TB, n int) string {
	t.Helper()
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `{"type":"malware","spec_version":"2.1","id":"malware--00000000-0000-4000-8000-%012d",`+
			`"created":"2026-01-01T00:00:00Z","modified":"2026-01-01T00:00:00Z","name":"m%d","is_family":true}`+"\n", i, i)
	}
	path := filepath.Join(t.TempDir(), "malware.ndjson")
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
	return path
}

// LockNodes holds a lock on nodes that blocks every write to it until the
// returned release is called (at the latest when t ends).
func LockNodes(t testing.TB, pool *pgxpool.Pool) (release func()) {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "LOCK TABLE nodes IN EXCLUSIVE MODE")
	require.NoError(t, err)
	released := false
	release = func() {
		if !released {
			released = true
			require.NoError(t, tx.Rollback(ctx))
		}
	}
	t.Cleanup(release)
	return release
}

// FeedsUnder returns the feeds under root in path order, named by their
// path relative to dir: each .json file (format detected), and each
// directory below root holding a manifest.json as one MISP feed.
func FeedsUnder(t testing.TB, dir, root string) []ingest.Feed {
	t.Helper()
	var feeds []ingest.Feed
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name, _ := filepath.Rel(dir, path)
		if d.IsDir() {
			if _, err := os.Stat(filepath.Join(path, "manifest.json")); err == nil && path != root {
				feeds = append(feeds, ingest.Feed{Name: filepath.ToSlash(name), Path: path, Format: ingest.FormatMISP})
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(path, ".json") {
			feeds = append(feeds, ingest.Feed{Name: filepath.ToSlash(name), Path: path})
		}
		return nil
	})
	require.NoError(t, err)
	return feeds
}
