package ingest_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/ingest"
)

// TestMISPTextFeedsAreRefusedByName: MISP's CSV export (the header MISP's
// /events/csv/download writes: uuid,event_id,category,type,value,comment,
// to_ids,date,object_relation,attribute_tag,object_uuid,object_name,
// object_meta_category, then a row per attribute), a freetext feed (one
// value a line, MISP's "freetext" feed format) and an HTML page saved for a
// feed are no MISP JSON, and a feed's manifest.json (testdata/misp/feed)
// lists events without their attributes: each fails naming what it is,
// with nothing loaded, the feed recorded failed; the CSV export is told for
// MISP also without a format. Before, each failed as `read feed "…" at
// byte 0: JSON syntax error: invalid character 'u' at start of value` (the
// freetext list of addresses: `the document is a JSON number`), the CSV
// export without a format was read as STIX, and the manifest failed as
// `found no MISP records in 730 bytes (…, or a STIX file?)`.
func TestMISPTextFeedsAreRefusedByName(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, _ := newStore(t)
	dir := t.TempDir()
	write := func(name, body string) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(body), 0o644))
		return path
	}
	csv := write("export.csv", "uuid,event_id,category,type,value,comment,to_ids,date,object_relation,attribute_tag,object_uuid,object_name,object_meta_category\r\n"+
		`"5a0b0c0d-0000-4000-8000-0000000000c1",1,"Network activity","ip-dst","198.51.100.7","",1,1706745600,"","","","",""`+"\r\n")
	cases := []struct {
		name, path, format, want string
	}{
		{"csv-export", csv, ingest.FormatMISP, "a MISP CSV export"},
		{"csv-export-detected", csv, "", "a MISP CSV export"},
		{"freetext", write("freetext.txt", "198.51.100.8\n203.0.113.5\n"), ingest.FormatMISP, "a text file (first line \"198.51.100.8\")"},
		{"freetext-domains", write("domains.txt", "evil.example.org\nbad.example.net\n"), ingest.FormatMISP, "a freetext feed"},
		{"csv", write("iocs.csv", "value,first_seen\nevil.example.org,2024-01-01\n"), ingest.FormatMISP, "a CSV file"},
		{"html", write("login.json", "<!DOCTYPE html>\n<html><body>Login</body></html>\n"), ingest.FormatMISP, "an HTML page"},
		{"manifest", filepath.Join("..", "testdata", "misp", "feed", "manifest.json"), ingest.FormatMISP, "a MISP feed's manifest.json"},
		{"manifest-detected", filepath.Join("..", "testdata", "misp", "feed", "manifest.json"), "", "load the feed directory it is in"},
	}
	for _, c := range cases {
		res := ingest.LoadFeed(ctx, st, ingest.Feed{Name: c.name, Path: c.path, Format: c.format}, ingest.Options{Logger: quietLog})
		require.Equal(t, ingest.StatusFailed, res.Status, c.name)
		require.Contains(t, res.Error, c.want, c.name)
		if !strings.HasPrefix(c.name, "manifest") {
			// Read and refused by the MISP reader; a manifest is refused
			// when opened, as a galaxy definition is.
			require.Equal(t, ingest.FormatMISP, res.Format, c.name)
			require.Contains(t, res.Error, "nothing was loaded", c.name)
			require.Zero(t, res.Report.RecordsRead, c.name)
			requireState(t, st, c.name, ingest.StatusFailed)
		}
	}
}
