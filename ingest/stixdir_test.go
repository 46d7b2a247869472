package ingest_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/ingest"
)

// TestFileFeedsListsTheSTIXFilesOfATree: every regular .json, .ndjson or
// .jsonl file below the directory is a feed named after its path; links,
// hidden entries and other files are not.
func TestFileFeedsListsTheSTIXFilesOfATree(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "playbooks")
	outside := filepath.Join(t.TempDir(), "outside.json")
	for _, name := range []string{"b.json", "a.NDJSON", "sub/c.jsonl", "notes.txt", ".hidden.json", ".git/x.json", "outside-target.json"} {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte("[]"), 0o644))
	}
	require.NoError(t, os.WriteFile(outside, []byte("[]"), 0o644))
	require.NoError(t, os.Symlink(outside, filepath.Join(dir, "link.json")))
	require.NoError(t, os.Symlink(filepath.Dir(outside), filepath.Join(dir, "linked-dir")))

	feeds, err := ingest.FileFeeds(dir, "")
	require.NoError(t, err)
	want := []ingest.Feed{
		{Name: "playbooks/a", Path: filepath.Join(dir, "a.NDJSON"), Format: ingest.FormatSTIX},
		{Name: "playbooks/b", Path: filepath.Join(dir, "b.json"), Format: ingest.FormatSTIX},
		{Name: "playbooks/outside-target", Path: filepath.Join(dir, "outside-target.json"), Format: ingest.FormatSTIX},
		{Name: "playbooks/sub/c", Path: filepath.Join(dir, "sub", "c.jsonl"), Format: ingest.FormatSTIX},
	}
	require.Equal(t, want, feeds)

	feeds, err = ingest.FileFeeds(dir, "vendor")
	require.NoError(t, err)
	require.Equal(t, "vendor/a", feeds[0].Name)

	empty := t.TempDir()
	_, err = ingest.FileFeeds(empty, "")
	require.ErrorContains(t, err, "holds no STIX file (.json, .ndjson, .jsonl)")
}
