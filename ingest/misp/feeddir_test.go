package misp

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/ingest/engine"
)

// writeDir writes files (name → content) into a new directory and returns
// it.
func writeDir(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, files)
	return dir
}

// writeFiles writes files (name → content) into dir.
func writeFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
	}
}

const manifestFile = ManifestFile

// manifestOf lists ids in a manifest.
func manifestOf(ids ...string) string {
	var parts []string
	for _, id := range ids {
		parts = append(parts, fmt.Sprintf("%q: {\"info\": \"e\", \"timestamp\": \"1600000000\"}", id))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// loadDirWithin runs LoadDir and fails the test if it does not return
// within 20 seconds (a FIFO or /dev/zero read would block or never end).
func loadDirWithin(t *testing.T, dir string, opts Options) (*engine.Report, *captureSink, error) {
	t.Helper()
	sink := &captureSink{}
	type out struct {
		rep *engine.Report
		err error
	}
	done := make(chan out, 1)
	go func() {
		rep, err := LoadDir(context.Background(), dir, sink, opts)
		done <- out{rep, err}
	}()
	select {
	case o := <-done:
		return o.rep, sink, o.err
	case <-time.After(20 * time.Second):
		t.Fatal("LoadDir hangs")
		return nil, nil, nil
	}
}

// Row 11 of issue 13: an event file or manifest.json linked outside the
// feed directory was read and loaded; a link to /dev/zero or a FIFO hung.
func TestLoadDirReadsNothingOutside(t *testing.T) {
	t.Parallel()
	outside := writeDir(t, map[string]string{
		u(2) + ".json":  event(u(2), "outside", []string{attr(u(12), "ip-dst", "203.0.113.2")}),
		"manifest.json": manifestOf(u(1)),
	})
	dir := writeDir(t, map[string]string{
		u(1) + ".json":  event(u(1), "inside", []string{attr(u(11), "ip-dst", "203.0.113.1")}),
		"manifest.json": manifestOf(u(1), u(2), u(3), u(4), u(5), u(6), u(7)),
		"real-5.json":   event(u(5), "linked inside", []string{attr(u(15), "ip-dst", "203.0.113.5")}),
	})
	require.NoError(t, os.Symlink(filepath.Join(outside, u(2)+".json"), filepath.Join(dir, u(2)+".json")))
	require.NoError(t, os.Symlink("/dev/zero", filepath.Join(dir, u(3)+".json")))
	require.NoError(t, syscall.Mkfifo(filepath.Join(dir, u(4)+".json"), 0o644))
	require.NoError(t, os.Symlink("real-5.json", filepath.Join(dir, u(5)+".json"))) // inside: fine
	require.NoError(t, os.Symlink("../"+filepath.Base(outside)+"/"+u(2)+".json", filepath.Join(dir, u(6)+".json")))
	require.NoError(t, os.Mkdir(filepath.Join(dir, u(7)+".json"), 0o755))

	var logs bytes.Buffer
	rep, sink, err := loadDirWithin(t, dir, quiet(&logs))
	require.ErrorIs(t, err, ErrUnsafeFile)
	require.Equal(t, map[engine.Reason]int64{ReasonUnsafeEventFile: 5}, rep.Dropped)
	_, ok := sink.byAlias(alias(u(1)))
	require.True(t, ok, "the event inside loads")
	_, ok = sink.byAlias(alias(u(5)))
	require.True(t, ok, "a link that stays inside the directory loads")
	_, ok = sink.byAlias(alias(u(2)))
	require.False(t, ok, "the event linked from outside the directory is not read")
	_, ok = sink.byAlias(alias(u(12)))
	require.False(t, ok)
	for _, what := range []string{u(2), u(3), u(4), u(6), u(7)} {
		require.Contains(t, err.Error(), what+".json", "each refused file is named")
	}
	require.Contains(t, err.Error(), "FIFO")
	require.Equal(t, "WARN", findLog(t, &logs, "MISP event file refused unread")["level"])

	t.Run("manifest linked outside", func(t *testing.T) {
		t.Parallel()
		d := writeDir(t, map[string]string{u(2) + ".json": event(u(2), "x", nil)})
		require.NoError(t, os.Symlink(filepath.Join(outside, "manifest.json"), filepath.Join(d, "manifest.json")))
		_, err := ReadManifest(d)
		require.ErrorIs(t, err, ErrUnsafeFile)
		rep, sink, err := loadDirWithin(t, d, quiet(nil))
		require.ErrorIs(t, err, ErrUnsafeFile)
		require.Zero(t, rep.RecordsRead)
		require.Empty(t, sink.nodes)
	})
	t.Run("manifest is a FIFO", func(t *testing.T) {
		t.Parallel()
		d := t.TempDir()
		require.NoError(t, syscall.Mkfifo(filepath.Join(d, "manifest.json"), 0o644))
		_, _, err := loadDirWithin(t, d, quiet(nil))
		require.ErrorIs(t, err, ErrUnsafeFile)
		require.Contains(t, err.Error(), "FIFO")
	})
	t.Run("manifest links to /dev/zero", func(t *testing.T) {
		t.Parallel()
		d := t.TempDir()
		require.NoError(t, os.Symlink("/dev/zero", filepath.Join(d, "manifest.json")))
		_, _, err := loadDirWithin(t, d, quiet(nil))
		require.ErrorIs(t, err, ErrUnsafeFile)
	})
	t.Run("no manifest, a FIFO event file", func(t *testing.T) {
		t.Parallel()
		d := writeDir(t, map[string]string{u(1) + ".json": event(u(1), "inside", []string{attr(u(11), "ip-dst", "203.0.113.1")})})
		require.NoError(t, syscall.Mkfifo(filepath.Join(d, u(4)+".json"), 0o644))
		rep, sink, err := loadDirWithin(t, d, quiet(nil))
		require.ErrorIs(t, err, ErrUnsafeFile)
		require.Equal(t, int64(1), rep.Dropped[ReasonUnsafeEventFile])
		_, ok := sink.byAlias(alias(u(1)))
		require.True(t, ok)
	})
}

// Row 2 of issue 13: a manifest whose files are all missing.
func TestLoadDirAllFilesMissing(t *testing.T) {
	t.Parallel()
	dir := writeDir(t, map[string]string{"manifest.json": manifestOf(u(1), u(2), u(3))})
	rep, sink, err := loadDirWithin(t, dir, quiet(nil))
	require.ErrorIs(t, err, os.ErrNotExist)
	require.Equal(t, map[engine.Reason]int64{ReasonMissingEventFile: 3}, rep.Dropped)
	require.Zero(t, rep.RecordsRead)
	require.Empty(t, sink.nodes)
	require.Equal(t, err.Error(), rep.Error)
}

// Row 12 of issue 13: a manifest of many entries with one file present gave
// one WARN line and one error line per missing file.
func TestLoadDirAggregatesMissingFiles(t *testing.T) {
	t.Parallel()
	ids := make([]string, 1000)
	for i := range ids {
		ids[i] = u(i + 1)
	}
	dir := writeDir(t, map[string]string{manifestFile: manifestOf(ids...)})
	writeFiles(t, dir, map[string]string{
		u(500) + ".json": event(u(500), "present", []string{attr(u(5000), "ip-dst", "203.0.113.5")}),
	})
	var logs bytes.Buffer
	rep, sink, err := loadDirWithin(t, dir, quiet(&logs))
	require.Error(t, err)
	require.Equal(t, int64(999), rep.Dropped[ReasonMissingEventFile], "every missing file is counted")
	_, ok := sink.byAlias(alias(u(500)))
	require.True(t, ok, "the present event loads")
	require.Equal(t, maxFileWarnings, strings.Count(logs.String(), `"msg":"MISP event file missing"`), "only the first are logged one by one")
	more := findLog(t, &logs, "more MISP event files not loaded, not logged one by one")
	require.Equal(t, float64(999-maxFileWarnings), more["more"])
	require.Equal(t, float64(999), more["total"])
	require.Contains(t, err.Error(), fmt.Sprintf("… and %d more event files failed", 999-maxFileWarnings))
	require.Less(t, len(err.Error()), 4<<10, "the error names the first files and counts the rest")
}

func TestReadManifestLimits(t *testing.T) {
	t.Parallel()
	t.Run("bytes", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		path := filepath.Join(dir, ManifestFile)
		require.NoError(t, os.WriteFile(path, []byte("{"), 0o644))
		require.NoError(t, os.Truncate(path, MaxManifestBytes+1)) // sparse
		_, err := ReadManifest(dir)
		require.ErrorIs(t, err, ErrManifestTooLarge)
		require.Contains(t, err.Error(), fmt.Sprint(MaxManifestBytes))
	})
	t.Run("entries", func(t *testing.T) {
		t.Parallel()
		const limit = 1000 // MaxManifestEntries, scaled down
		var b strings.Builder
		b.WriteString("{")
		for i := range limit + 1 {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, "%q:{}", u(i))
		}
		b.WriteString("}")
		dir := writeDir(t, map[string]string{ManifestFile: b.String()})
		root, err := OpenDir(dir)
		require.NoError(t, err)
		defer root.Close() //nolint:errcheck // read-only
		n := 0
		err = scanManifest(root, dir, limit, func(string, ManifestEntry) { n++ })
		require.ErrorIs(t, err, ErrManifestTooLarge)
		require.Contains(t, err.Error(), "more than 1000 events")
		require.Equal(t, limit+1, n)
		require.NoError(t, scanManifest(root, dir, limit+1, func(string, ManifestEntry) {}))
	})
	t.Run("at the limit", func(t *testing.T) {
		t.Parallel()
		dir := writeDir(t, map[string]string{ManifestFile: "\ufeff" + manifestOf(u(1))})
		m, err := ReadManifest(dir)
		require.NoError(t, err, "a byte order mark is skipped")
		require.Equal(t, []string{u(1)}, m.UUIDs())
	})
}

// Row 17 of issue 13: a MISP file with a UTF-8 byte order mark was
// rejected; it loads like the same file without one.
func TestLoadFileWithBOM(t *testing.T) {
	t.Parallel()
	doc := event(u(1), "bom", []string{attr(u(2), "ip-dst", "198.51.100.7"), attr(u(3), "domain", "c2.example")})
	plainRep, plain, err := loadString(t, doc, quiet(nil))
	require.NoError(t, err)
	bomRep, bom, err := loadString(t, "\ufeff"+doc, quiet(nil))
	require.NoError(t, err)
	require.Equal(t, plain.nodes, bom.nodes)
	require.Equal(t, plain.relations, bom.relations)
	require.Equal(t, plainRep.RecordsRead, bomRep.RecordsRead)
	require.Equal(t, plainRep.Bytes+3, bomRep.Bytes)

	_, _, err = loadString(t, "\ufeff"+doc[:40], quiet(nil))
	require.ErrorIs(t, err, engine.ErrSyntax)
	require.Equal(t, int64(43), engine.ErrorOffset(err), "offsets count the byte order mark")
}

// FuzzLoadDir writes a manifest and one event file into a feed directory
// and loads it. Whatever the manifest and the file hold, the load returns
// (no panic, no hang), every record read is mapped or dropped, a missing
// or refused file is counted, and the error text names at most a few
// files (issue 13, rows 2 and 12).
func FuzzLoadDir(f *testing.F) {
	ev := event(u(1), "seed", []string{attr(u(2), "ip-dst", "198.51.100.7"), attr(u(3), "domain", "c2.example", `"first_seen": "1e999999"`)})
	seeds := [][2]string{
		{manifestOf(u(1)), ev},
		{manifestOf(u(1), u(2), u(3)), ev},
		{manifestOf(u(2), u(3)), ""},
		{"\ufeff" + manifestOf(u(1)), "\ufeff" + ev},
		{`{}`, ev},
		{`[]`, ev},
		{`null`, ""},
		{`{"` + u(1) + `": {"timestamp": 1e999999, "Tag": 5, "Orgc": "x"}}`, ev},
		{`{"` + u(1) + `": null}`, `{"response": []}`},
		{`{"` + strings.ToUpper(u(1)) + `": {}, "` + u(1) + `": {}}`, `[`},
		{`{"../../etc/passwd": {}}`, ev},
	}
	for _, s := range seeds {
		f.Add([]byte(s[0]), []byte(s[1]))
	}
	f.Fuzz(func(t *testing.T, manifest, eventFile []byte) {
		dir := t.TempDir()
		if len(manifest) > 0 {
			require.NoError(t, os.WriteFile(filepath.Join(dir, ManifestFile), manifest, 0o644))
		}
		require.NoError(t, os.WriteFile(filepath.Join(dir, u(1)+".json"), eventFile, 0o644))
		if _, err := ReadManifest(dir); err == nil && len(manifest) == 0 {
			t.Fatal("a missing manifest reads without error")
		}
		rep, _, err := loadDirWithin(t, dir, quiet(nil))
		require.NotNil(t, rep)
		files := rep.Dropped[ReasonMissingEventFile] + rep.Dropped[ReasonUnsafeEventFile]
		require.Equal(t, rep.RecordsRead, rep.RecordsMapped+rep.DroppedTotal()-files,
			"records read = mapped + dropped (dropped %v)", rep.Dropped)
		if err != nil {
			require.Equal(t, err.Error(), rep.Error)
			require.LessOrEqual(t, strings.Count(err.Error(), "\n"), maxFileWarnings+2)
		}
	})
}

// TestLoadDirWithoutManifestReadsFilesAsNamed: a directory without a
// manifest is read from the <uuid>.json files it lists; one named in upper
// case was reported missing (missing-event-file, the feed failed) because
// its name was lower-cased before it was opened.
func TestLoadDirWithoutManifestReadsFilesAsNamed(t *testing.T) {
	t.Parallel()
	const upper, lower = "ABCDEF01-0000-4000-8000-0000000000AA", "abcdef01-0000-4000-8000-0000000000bb"
	event := func(id, value string) string {
		return `{"Event":{"uuid":"` + strings.ToLower(id) + `","info":"e","date":"2022-01-01","timestamp":"1640995200",
			"Attribute":[{"uuid":"` + strings.ToLower(id[:len(id)-2]) + `cc","type":"domain","value":"` + value + `","timestamp":"1640995200"}]}}`
	}
	dir := writeDir(t, map[string]string{upper + ".json": event(upper, "upper.example"), lower + ".json": event(lower, "lower.example")})
	rep, sink, err := loadDirWithin(t, dir, quiet(nil))
	require.NoError(t, err)
	require.Empty(t, rep.Dropped)
	var domains []string
	for _, n := range sink.nodes {
		if n.Kind == "domain-name" {
			domains = append(domains, n.Key)
		}
	}
	require.ElementsMatch(t, []string{"upper.example", "lower.example"}, domains)
}

// TestLoadDirEventFileWithoutEvent: an event file of a feed directory that
// is valid JSON but holds no event (a STIX bundle, {}, a list) fails the
// load, naming the file, as an empty file does, and the other events load;
// it was skipped without a word and the load was "ok".
func TestLoadDirEventFileWithoutEvent(t *testing.T) {
	t.Parallel()
	const good, bad = "abcdef02-0000-4000-8000-0000000000aa", "abcdef02-0000-4000-8000-0000000000bb"
	event := `{"Event":{"uuid":"` + good + `","info":"e","date":"2022-01-01","timestamp":"1640995200",
		"Attribute":[{"uuid":"abcdef02-0000-4000-8000-0000000000cc","type":"domain","value":"good.example","timestamp":"1640995200"}]}}`
	for _, body := range []string{
		`{"type":"bundle","id":"bundle--00000000-0000-4000-8000-000000000000","objects":[]}`, `{}`, `[1, 2]`,
	} {
		dir := writeDir(t, map[string]string{manifestFile: manifestOf(good, bad), good + ".json": event, bad + ".json": body})
		var mu sync.Mutex
		var events []EventResult
		opts := quiet(nil)
		opts.OnEvent = func(e EventResult) {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, e)
		}
		_, sink, err := loadDirWithin(t, dir, opts)
		require.ErrorIs(t, err, ErrNotMISP, body)
		require.ErrorContains(t, err, bad+".json", body)
		require.NotEmpty(t, sink.nodes, "the other event loads")
		var ok []string
		for _, e := range events {
			if e.Err == nil {
				ok = append(ok, e.UUID)
			}
		}
		require.Equal(t, []string{good}, ok, "only the event read is reported loaded")
	}
}

// TestLoadDirEventFileNamedByAnotherUUID: an event file whose event names
// another uuid than the file does is loaded (the event under its own uuid),
// reported under the file's uuid, by which the feed's bookkeeping records
// and skips files, and said in a warning. It was reported under the
// event's uuid without a word: the file was never recorded, so it was
// loaded again on every run.
func TestLoadDirEventFileNamedByAnotherUUID(t *testing.T) {
	t.Parallel()
	const file, inside = "0b1c2d3e-0000-4000-8000-000000000003", "0b1c2d3e-0000-4000-8000-000000000001"
	body := `{"Event":{"uuid":"` + inside + `","info":"e","date":"2022-01-01","timestamp":"1640995200",
		"Attribute":[{"uuid":"0b1c2d3e-0000-4000-8000-0000000000cc","type":"domain","value":"named.example","timestamp":"1640995200"}]}}`
	dir := writeDir(t, map[string]string{file + ".json": body})
	var logs bytes.Buffer
	opts := quiet(&logs)
	var mu sync.Mutex
	var reported []string
	opts.OnEvent = func(e EventResult) {
		mu.Lock()
		defer mu.Unlock()
		require.NoError(t, e.Err)
		reported = append(reported, e.UUID)
	}
	rep, sink, err := loadDirWithin(t, dir, opts)
	require.NoError(t, err)
	require.Empty(t, rep.Dropped)
	require.Equal(t, []string{file}, reported, "reported under the file's uuid")
	var events []string
	for _, n := range sink.nodes {
		if n.Kind == "report" || strings.Contains(strings.Join(n.Aliases, " "), inside) {
			events = append(events, strings.Join(n.Aliases, " "))
		}
	}
	require.NotEmpty(t, events)
	require.Contains(t, strings.Join(events, " "), inside, "the event node is the event's own uuid")
	require.Contains(t, logs.String(), "not the one its file is named by")
	require.Contains(t, logs.String(), inside)
}
