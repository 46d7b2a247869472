package ingest_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/ingest"
)

// A feed list naming a directory of STIX files was refused ("only MISP
// feeds are directories"; with no format, such a directory was taken for a
// MISP feed and failed without its manifest), though `intel ingest stix
// DIR` loads one: the review of the nineteenth session tried
// `path: corpus/stix/unit42`. Such an entry is now a feed per file, named
// below the entry's name, as intel ingest stix DIR names them; a directory
// with a manifest.json stays one MISP feed.
func TestLoadConfigTakesADirectoryOfFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) {
		p := filepath.Join(dir, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
	}
	write("stix/a.json", `{"type":"bundle","objects":[]}`)
	write("stix/sub/b.stix2", `{"type":"bundle","objects":[]}`)
	write("stix/notes.txt", `not a feed`)
	write("plain/c.json", `{"type":"bundle","objects":[]}`)
	write("misp/manifest.json", `{}`)
	write("misp/0b9f3c37-8e6b-4a2a-9a3b-1c1d2e3f4a5b.json", `{"Event":{}}`)
	write("feeds.yaml", `feeds:
  - name: vendor
    path: stix
    format: stix
  - path: plain
  - name: circl
    path: misp
  - name: one
    path: stix/a.json
`)
	cfg, err := ingest.LoadConfig(filepath.Join(dir, "feeds.yaml"))
	require.NoError(t, err)
	require.Equal(t, []ingest.Feed{
		{Name: "vendor/a", Path: filepath.Join(dir, "stix", "a.json"), Format: ingest.FormatSTIX},
		{Name: "vendor/sub/b", Path: filepath.Join(dir, "stix", "sub", "b.stix2"), Format: ingest.FormatSTIX},
		{Name: "plain/c", Path: filepath.Join(dir, "plain", "c.json")},
		{Name: "circl", Path: filepath.Join(dir, "misp")},
		{Name: "one", Path: filepath.Join(dir, "stix", "a.json")},
	}, cfg.Feeds)

	// A directory with no file a feed could be is an error that names it.
	write("empty/readme.txt", "nothing")
	write("bad.yaml", "feeds:\n  - name: e\n    path: empty\n    format: stix\n")
	_, err = ingest.LoadConfig(filepath.Join(dir, "bad.yaml"))
	require.ErrorContains(t, err, "holds no STIX file")
}
