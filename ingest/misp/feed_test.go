package misp

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/engine"
	"github.com/stretchr/testify/require"
)

const (
	testdata  = "../../testdata/misp"
	feedEvent = "56bf399d-c46c-4fdb-a9cf-d9bb02de0b81"
	xorist    = "57c4445b-c548-4654-af0b-4be3950d210f"
)

func TestReadManifest(t *testing.T) {
	t.Parallel()
	m, err := ReadManifest(filepath.Join(testdata, "feed"))
	require.NoError(t, err)
	require.Equal(t, Manifest{feedEvent: {
		Info: "OSINT - Hunting for Malware with Machine Learning", Date: "2015-12-18",
		Timestamp: time.Unix(1455373240, 0).UTC(), Orgc: "CIRCL", Tags: []string{"type:OSINT", "tlp:white"},
		ThreatLevel: "low", Analysis: "completed",
	}}, m)
	require.Equal(t, []string{feedEvent}, m.UUIDs())

	t.Run("missing", func(t *testing.T) {
		t.Parallel()
		_, err := ReadManifest(t.TempDir())
		require.ErrorIs(t, err, ErrNoManifest)
	})
	t.Run("not a manifest", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, ManifestFile), []byte(`{"Event": {}}`), 0o644))
		_, err := ReadManifest(dir)
		require.ErrorIs(t, err, ErrBadManifest)
	})
	t.Run("truncated", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, ManifestFile), []byte(`{"`+feedEvent+`": {"timestamp": 1`), 0o644))
		_, err := ReadManifest(dir)
		require.ErrorIs(t, err, ErrBadManifest)
		require.ErrorIs(t, err, engine.ErrSyntax)
	})
}

func TestManifestChanged(t *testing.T) {
	t.Parallel()
	t1, t2 := time.Unix(1000, 0).UTC(), time.Unix(2000, 0).UTC()
	m := Manifest{"a": {Timestamp: t1}, "b": {Timestamp: t2}, "c": {Timestamp: t1}}
	require.Equal(t, []string{"a", "b", "c"}, m.Changed(nil))
	require.Equal(t, []string{"b", "c"}, m.Changed(map[string]time.Time{"a": t1, "b": t1}))
	require.Empty(t, m.Changed(map[string]time.Time{"a": t1, "b": t2, "c": t1}))
}

// buildFeed writes a feed directory with the two feed-form events of
// testdata, a manifest naming both plus one whose file is missing, and
// returns it.
func buildFeed(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for src, dst := range map[string]string{
		filepath.Join(testdata, "feed", feedEvent+".json"): feedEvent + ".json",
		filepath.Join(testdata, xorist+".json"):            xorist + ".json",
	} {
		data, err := os.ReadFile(src)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, dst), data, 0o644))
	}
	manifest := `{
 "` + feedEvent + `": {"info": "OSINT - Hunting for Malware with Machine Learning", "timestamp": 1455373240},
 "` + xorist + `": {"info": "OSINT - Ransomware - Xorist", "timestamp": "1472541011"},
 "00000000-0000-4000-8000-000000000001": {"info": "listed, not published", "timestamp": 1}
}`
	require.NoError(t, os.WriteFile(filepath.Join(dir, ManifestFile), []byte(manifest), 0o644))
	return dir
}

func TestLoadDirTestdataFeed(t *testing.T) {
	t.Parallel()
	sink := &captureSink{}
	tally := &Tally{}
	opts := quiet(nil)
	opts.Tally = tally
	var events []EventResult
	opts.OnEvent = func(r EventResult) { events = append(events, r) }
	rep, err := LoadDir(context.Background(), filepath.Join(testdata, "feed"), sink, opts)
	require.NoError(t, err)
	requireBalanced(t, rep)
	require.Equal(t, "feed", rep.Feed)
	require.Equal(t, int64(1), tally.Events)
	require.Equal(t, int64(1), tally.Attributes)
	require.Equal(t, map[string]int64{"link": 1}, tally.AttributeTypes)
	require.Equal(t, int64(1346), rep.Bytes)
	require.Len(t, events, 1)
	require.Equal(t, feedEvent, events[0].UUID)
	require.Equal(t, time.Unix(1455373240, 0).UTC(), events[0].Timestamp)
	require.NoError(t, events[0].Err)
	ev, ok := sink.byAlias(alias(feedEvent))
	require.True(t, ok)
	require.Equal(t, graph.TLP("clear"), ev.TLP)
	require.Equal(t, []string{"tlp:white", "type:OSINT"}, ev.Labels)
}

func TestLoadDir(t *testing.T) {
	t.Parallel()
	dir := buildFeed(t)

	t.Run("all", func(t *testing.T) {
		t.Parallel()
		var logs bytes.Buffer
		opts := quiet(&logs)
		var mu sync.Mutex
		results := map[string]EventResult{}
		opts.OnEvent = func(r EventResult) {
			mu.Lock()
			results[r.UUID] = r
			mu.Unlock()
		}
		tally := &Tally{}
		opts.Tally = tally
		rep, err := LoadDir(context.Background(), dir, &captureSink{}, opts)
		require.Error(t, err, "the missing event file is reported")
		require.ErrorIs(t, err, os.ErrNotExist)
		require.Contains(t, err.Error(), "00000000-0000-4000-8000-000000000001.json")
		require.Equal(t, map[engine.Reason]int64{ReasonMissingEventFile: 1}, rep.Dropped)
		require.Equal(t, int64(2), tally.Events, "the other events load")
		require.Equal(t, int64(10), tally.Attributes)
		require.Len(t, results, 3)
		require.NoError(t, results[feedEvent].Err)
		require.NoError(t, results[xorist].Err)
		require.Error(t, results["00000000-0000-4000-8000-000000000001"].Err)
		require.Equal(t, time.Unix(1472541011, 0).UTC(), results[xorist].Timestamp)
		require.Equal(t, "WARN", findLog(t, &logs, "MISP event file missing")["level"])
	})

	t.Run("only changed events", func(t *testing.T) {
		t.Parallel()
		m, err := ReadManifest(dir)
		require.NoError(t, err)
		known := map[string]time.Time{
			feedEvent:                              time.Unix(1455373240, 0).UTC(),
			"00000000-0000-4000-8000-000000000001": time.Unix(1, 0).UTC(),
		}
		changed := m.Changed(known)
		require.Equal(t, []string{xorist}, changed)
		opts := quiet(nil)
		opts.Only = changed
		tally := &Tally{}
		opts.Tally = tally
		sink := &captureSink{}
		rep, err := LoadDir(context.Background(), dir, sink, opts)
		require.NoError(t, err)
		require.Equal(t, int64(2), rep.Skipped)
		require.Equal(t, int64(1), tally.Events)
		require.Equal(t, int64(9), tally.Attributes)
		_, ok := sink.byAlias(alias(feedEvent))
		require.False(t, ok, "the unchanged event is not loaded")
		_, ok = sink.byAlias(alias(xorist))
		require.True(t, ok)
	})

	t.Run("broken event file", func(t *testing.T) {
		t.Parallel()
		broken := t.TempDir()
		for _, name := range []string{ManifestFile, feedEvent + ".json", xorist + ".json"} {
			data, err := os.ReadFile(filepath.Join(dir, name))
			require.NoError(t, err)
			if name == xorist+".json" {
				data = data[:len(data)/2]
			}
			require.NoError(t, os.WriteFile(filepath.Join(broken, name), data, 0o644))
		}
		opts := quiet(nil)
		opts.Only = []string{feedEvent, xorist}
		tally := &Tally{}
		opts.Tally = tally
		rep, err := LoadDir(context.Background(), broken, &captureSink{}, opts)
		require.ErrorIs(t, err, engine.ErrSyntax)
		require.Contains(t, err.Error(), xorist+".json")
		require.Equal(t, int64(2), tally.Events, "the whole event and the broken one's beginning")
		requireBalanced(t, rep)
	})

	t.Run("no manifest", func(t *testing.T) {
		t.Parallel()
		bare := t.TempDir()
		data, err := os.ReadFile(filepath.Join(dir, xorist+".json"))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(bare, xorist+".json"), data, 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(bare, "hashes.csv"), []byte("abc,"+xorist+"\n"), 0o644))
		tally := &Tally{}
		opts := quiet(nil)
		opts.Tally = tally
		_, err = LoadDir(context.Background(), bare, &captureSink{}, opts)
		require.NoError(t, err)
		require.Equal(t, int64(1), tally.Events)
	})
}

// TestCorpusFeedDirectory loads the corpus feed directory.
func TestCorpusFeedDirectory(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(sharedCorpus(t), "misp", "feed-misp-core-tests")
	m, err := ReadManifest(dir)
	require.NoError(t, err)
	require.Len(t, m, 1) // SOURCES.md: manifest entries 1
	tally := &Tally{}
	opts := quiet(nil)
	opts.Tally = tally
	rep, err := LoadDir(context.Background(), dir, &captureSink{}, opts)
	require.NoError(t, err)
	requireBalanced(t, rep)
	require.Empty(t, rep.Dropped)
	// SOURCES.md: Event 1, Attribute 1, Tag(event) 2; attribute types: link 1
	require.Equal(t, int64(1), tally.Events)
	require.Equal(t, int64(1), tally.Attributes)
	require.Equal(t, int64(2), tally.EventTags)
	require.Equal(t, map[string]int64{"link": 1}, tally.AttributeTypes)
}
