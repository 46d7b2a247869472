package ingest_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/ingest"
)

// TestFeedNamedByTheDirectoryItIsIn: an analyst in a CIRCL or Botvrij feed
// directory runs `intel ingest misp .` (or `./`, or `..` from a sub
// directory). Was: the name taken from the path was "" ("." less its
// extension), refused ("name "", taken from the file name"), exit 1; now
// the directory's own name, as `intel ingest misp circl-feed/` gives, so
// both loads are one feed.
func TestFeedNamedByTheDirectoryItIsIn(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "circl-feed")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "sub"), 0o755))
	t.Chdir(dir)
	for path, want := range map[string]string{
		".": "circl-feed", "./": "circl-feed", "sub/..": "circl-feed", dir + "/": "circl-feed",
		"sub": "sub", "manifest.json": "manifest",
	} {
		cfg := ingest.Config{Feeds: []ingest.Feed{{Path: path, Format: ingest.FormatMISP}}}
		require.NoError(t, cfg.Validate(), path)
		require.Equal(t, want, cfg.Feeds[0].Name, path)
	}
	t.Chdir(filepath.Join(dir, "sub"))
	cfg := ingest.Config{Feeds: []ingest.Feed{{Path: "..", Format: ingest.FormatMISP}}}
	require.NoError(t, cfg.Validate())
	require.Equal(t, "circl-feed", cfg.Feeds[0].Name)
}
