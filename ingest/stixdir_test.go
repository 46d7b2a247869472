package ingest_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

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
	require.ErrorContains(t, err, "holds no STIX file (.json, .ndjson, .jsonl, .stix2, .stix, each also .gz)")
}

// deniedFS is a tree one of whose directories cannot be read, as a
// directory without read permission is for a user other than root (the
// tests run as root, whom permissions do not stop).
type deniedFS struct {
	fstest.MapFS
	denied string
}

func (f deniedFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if name == f.denied {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrPermission}
	}
	return f.MapFS.ReadDir(name)
}

// TestFileFeedsListsAnUnreadableDirectoryAsAFeed: a subdirectory it may
// not read does not stop the listing (before, the whole load failed
// before reading any file): it is listed as a feed of its own, which fails
// with the reason when loaded, so the rest loads and the load does not end
// ok. A tree with only unreadable directories holds no STIX file.
func TestFileFeedsListsAnUnreadableDirectoryAsAFeed(t *testing.T) {
	t.Parallel()
	tree := deniedFS{MapFS: fstest.MapFS{
		"a.json": {Data: []byte("[]")}, "locked/b.json": {Data: []byte("[]")}, "z/c.json": {Data: []byte("[]")},
	}, denied: "locked"}
	feeds, err := ingest.FileFeedsFS(tree, "/srv/feeds", "")
	require.NoError(t, err)
	require.Equal(t, []ingest.Feed{
		{Name: "feeds/a", Path: "/srv/feeds/a.json", Format: ingest.FormatSTIX},
		{Name: "feeds/locked", Path: "/srv/feeds/locked", Format: ingest.FormatSTIX},
		{Name: "feeds/z/c", Path: "/srv/feeds/z/c.json", Format: ingest.FormatSTIX},
	}, feeds)

	_, err = ingest.FileFeedsFS(deniedFS{MapFS: fstest.MapFS{"locked/b.json": {Data: []byte("[]")}}, denied: "locked"}, "/srv/feeds", "")
	require.ErrorContains(t, err, "holds no STIX file")
	_, err = ingest.FileFeedsFS(deniedFS{MapFS: fstest.MapFS{"a.json": {Data: []byte("[]")}}, denied: "."}, "/srv/feeds", "")
	require.ErrorIs(t, err, fs.ErrPermission, "the tree itself unreadable is an error")
}

// TestFileFeedsTakesCompressedAndSTIX2Files: STIX feeds are published
// gzip-compressed (daily dumps as .json.gz) and as .stix2 (Amnesty's MVT
// indicators, pegasus.stix2): before, a directory of them listed none of
// these files, so `intel ingest stix DIR` loaded the rest and said nothing
// of them (or, with no other file, that the tree held no STIX file). A
// compressed file is named as the file alone is named, without its last
// extension only ("b.json.gz" → "b.json"), so it never takes the name of a
// "b.json" beside it.
func TestFileFeedsTakesCompressedAndSTIX2Files(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "dumps")
	for _, name := range []string{"b.json", "b.json.gz", "daily/2024-01-01.NDJSON.GZ", "pegasus.stix2", "old.stix", "notes.txt.gz", "blob.gz"} {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte("[]"), 0o644))
	}
	feeds, err := ingest.FileFeeds(dir, "")
	require.NoError(t, err)
	require.Equal(t, []ingest.Feed{
		{Name: "dumps/b", Path: filepath.Join(dir, "b.json"), Format: ingest.FormatSTIX},
		{Name: "dumps/b.json", Path: filepath.Join(dir, "b.json.gz"), Format: ingest.FormatSTIX},
		{Name: "dumps/daily/2024-01-01.NDJSON", Path: filepath.Join(dir, "daily", "2024-01-01.NDJSON.GZ"), Format: ingest.FormatSTIX},
		{Name: "dumps/old", Path: filepath.Join(dir, "old.stix"), Format: ingest.FormatSTIX},
		{Name: "dumps/pegasus", Path: filepath.Join(dir, "pegasus.stix2"), Format: ingest.FormatSTIX},
	}, feeds)
}
