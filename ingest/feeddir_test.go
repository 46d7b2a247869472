package ingest_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest"
	"github.com/ransomeye/intel/ingest/engine"
	"github.com/ransomeye/intel/ingest/misp"
	"github.com/ransomeye/intel/store"
)

// panicStore is a store whose writes of the nodes of one feed panic, as a
// bug in the store or a loader would.
type panicStore struct {
	*store.Store
	feed string
}

func (p panicStore) Write(ctx context.Context, b graph.Batch) (graph.WriteStats, error) {
	for _, n := range b.Nodes {
		if slices.Contains(n.Sources, p.feed) {
			panic("store bug writing " + p.feed)
		}
	}
	return p.Store.Write(ctx, b)
}

// requireState checks a feed's bookkeeping: its status, and that no
// content hash was recorded for a failure.
func requireState(t *testing.T, st *store.Store, feed, status string) store.FeedState {
	t.Helper()
	state, ok, err := st.Feed(context.Background(), feed)
	require.NoError(t, err)
	require.True(t, ok, feed)
	require.Equal(t, status, state.LastStatus, feed)
	if status == ingest.StatusFailed {
		require.Empty(t, state.ContentHash, "a failed load is not recorded as loaded")
		require.NotEmpty(t, state.LastError)
	}
	return state
}

// Row 2 of issue 13: a MISP feed directory whose manifest lists only
// missing files, and a feed that panics, fail alone: the other feeds load
// and no feed stays running.
func TestFeedsFailAlone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, _ := newStore(t)
	root := t.TempDir()
	missing := filepath.Join(root, "missing")
	require.NoError(t, os.Mkdir(missing, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(missing, "manifest.json"), []byte(`{
		"5f0e1a2b-0000-4000-8000-000000000001": {"info": "a", "timestamp": "1760000000"},
		"5f0e1a2b-0000-4000-8000-000000000002": {"info": "b", "timestamp": "1760000000"}}`), 0o644))
	good := filepath.Join(root, "good.json")
	require.NoError(t, os.WriteFile(good, stixBundle(1), 0o644))
	boom := filepath.Join(root, "boom.json")
	require.NoError(t, os.WriteFile(boom, mispEvent("5f0e1a2b-0000-4000-8000-0000000000b0", "boom", 1760000000,
		[][2]string{{"ip-dst", "198.51.100.99"}}), 0o644))

	feeds := []ingest.Feed{{Name: "missing", Path: missing}, {Name: "boom", Path: boom}, {Name: "good", Path: good}}
	results, err := ingest.Run(ctx, panicStore{Store: st, feed: "boom"}, feeds, ingest.Options{Concurrency: 3, Logger: quietLog})
	require.Error(t, err)
	require.Len(t, results, 3)

	require.Equal(t, ingest.StatusFailed, results[0].Status)
	require.ErrorContains(t, err, "feed missing: load event 5f0e1a2b-0000-4000-8000-000000000001.json")
	require.Equal(t, int64(2), results[0].Report.Dropped[misp.ReasonMissingEventFile])
	requireState(t, st, "missing", ingest.StatusFailed)

	require.Equal(t, ingest.StatusFailed, results[1].Status)
	require.Contains(t, results[1].Error, engine.ErrPanic.Error())
	require.Contains(t, results[1].Error, "store bug writing boom")
	require.Contains(t, requireState(t, st, "boom", ingest.StatusFailed).LastError, "panic")

	require.Equal(t, ingest.StatusOK, results[2].Status, results[2].Error)
	require.Positive(t, results[2].Report.Written.NodesInserted)
	requireState(t, st, "good", ingest.StatusOK)
}

// Row 5 of issue 13: MISP files that the first-key regexp sent to the STIX
// loader (which loaded nothing, said ok and recorded the hash) load as MISP.
func TestLoadFeedDetectsMISPByContent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, _ := newStore(t)
	dir := t.TempDir()
	const id = "5f0e1a2b-0000-4000-8000-00000000000%d"
	bare := func(n int) string {
		return fmt.Sprintf(`{"info": "bare %d", "date": "2026-10-01", "timestamp": "1760000000", "uuid": %q,
			"Attribute": [{"uuid": "5f0e1a2b-0000-4000-8000-0000000001%02d", "type": "ip-dst", "value": "198.51.100.%d", "timestamp": "1760000000"}]}`,
			n, fmt.Sprintf(id, n), n, n)
	}
	cases := map[string]string{
		"bom":          "\ufeff" + string(mispEvent(fmt.Sprintf(id, 1), "bom", 1760000000, [][2]string{{"ip-dst", "198.51.100.1"}})),
		"whitespace":   strings.Repeat(" \n", 3000) + string(mispEvent(fmt.Sprintf(id, 2), "ws", 1760000000, [][2]string{{"ip-dst", "198.51.100.2"}})),
		"bare":         bare(3),
		"response":     `{"version": "2.4", "response": [{"Event": ` + bare(4) + `}]}`,
		"bare-wrapped": `{"Event": ` + bare(5) + `}`,
	}
	for name, doc := range cases {
		path := filepath.Join(dir, name+".json")
		require.NoError(t, os.WriteFile(path, []byte(doc), 0o644))
		res := ingest.LoadFeed(ctx, st, ingest.Feed{Path: path}, ingest.Options{Logger: quietLog})
		require.Equal(t, ingest.StatusOK, res.Status, "%s: %s", name, res.Error)
		require.Equal(t, ingest.FormatMISP, res.Format, name)
		require.GreaterOrEqual(t, res.Report.Written.NodesInserted, int64(2), name)
	}
}

// Row 6 of issue 13: a load of the wrong format, an empty file or a bundle
// without objects said ok with 0 records and recorded the content hash, so
// the right load later was skipped as unchanged.
func TestLoadFeedWithoutRecordsFails(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, _ := newStore(t)
	dir := t.TempDir()
	write := func(name string, body []byte) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, body, 0o644))
		return path
	}
	stixFile := write("stix.json", stixBundle(7))
	cases := []struct {
		name, path, format, want string
	}{
		{"misp-on-stix", stixFile, ingest.FormatMISP, "found no MISP records"},
		{"empty", write("empty.json", nil), ingest.FormatSTIX, "found no STIX records in 0 bytes"},
		{"objects-x", write("objects-x.json", []byte(`{"type": "bundle", "objects": "x"}`)), ingest.FormatSTIX, "found no STIX records"},
		{"empty-bundle", write("empty-bundle.json", []byte(`{"type": "bundle", "id": "bundle--1", "objects": []}`)), "", "found no STIX records"},
		{"stix-on-misp", write("misp.json", mispEvent("5f0e1a2b-0000-4000-8000-0000000000c1", "m", 1760000000,
			[][2]string{{"ip-dst", "198.51.100.7"}})), ingest.FormatSTIX, "valid STIX record"},
	}
	for _, c := range cases {
		res := ingest.LoadFeed(ctx, st, ingest.Feed{Name: c.name, Path: c.path, Format: c.format}, ingest.Options{Logger: quietLog})
		require.Equal(t, ingest.StatusFailed, res.Status, c.name)
		require.Contains(t, res.Error, c.want, c.name)
		require.Contains(t, res.Error, "nothing was loaded", c.name)
		requireState(t, st, c.name, ingest.StatusFailed)
	}
	// The right load of the same file is not skipped.
	res := ingest.LoadFeed(ctx, st, ingest.Feed{Name: "misp-on-stix", Path: stixFile}, ingest.Options{Logger: quietLog})
	require.Equal(t, ingest.StatusOK, res.Status, res.Error)
	require.Equal(t, ingest.FormatSTIX, res.Format)
	require.Positive(t, res.Report.Written.NodesInserted)
	requireState(t, st, "misp-on-stix", ingest.StatusOK)

	t.Run("dry run", func(t *testing.T) {
		t.Parallel()
		res := ingest.LoadFeed(ctx, nil, ingest.Feed{Path: filepath.Join(dir, "empty.json"), Format: ingest.FormatSTIX},
			ingest.Options{DryRun: true, Logger: quietLog})
		require.Equal(t, ingest.StatusFailed, res.Status)
		require.Contains(t, res.Error, ingest.ErrNoRecords.Error())
	})
}

// Rows 11 and 12 of issue 13 through the feed manager: symbolic links out
// of a feed directory, FIFOs, and a manifest of many missing files.
func TestFeedDirectoryHostileFiles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, _ := newStore(t)

	t.Run("links and FIFOs", func(t *testing.T) {
		t.Parallel()
		outside := t.TempDir()
		secret := "5f0e1a2b-0000-4000-8000-0000000000d1"
		require.NoError(t, os.WriteFile(filepath.Join(outside, secret+".json"),
			mispEvent(secret, "outside", 1760000000, [][2]string{{"ip-dst", "198.51.100.201"}}), 0o644))
		dir := t.TempDir()
		inside := "5f0e1a2b-0000-4000-8000-0000000000d2"
		fifo := "5f0e1a2b-0000-4000-8000-0000000000d3"
		zero := "5f0e1a2b-0000-4000-8000-0000000000d4"
		writeFeedDir(t, dir, map[string][]byte{inside: mispEvent(inside, "inside", 1760000000, [][2]string{{"ip-dst", "198.51.100.202"}})},
			map[string]int64{inside: 1760000000})
		manifest := fmt.Sprintf(`{%q: {"timestamp": "1"}, %q: {"timestamp": "1"}, %q: {"timestamp": "1"}, %q: {"timestamp": "1"}}`, secret, inside, fifo, zero)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(manifest), 0o644))
		require.NoError(t, os.Symlink(filepath.Join(outside, secret+".json"), filepath.Join(dir, secret+".json")))
		require.NoError(t, syscall.Mkfifo(filepath.Join(dir, fifo+".json"), 0o644))
		require.NoError(t, os.Symlink("/dev/zero", filepath.Join(dir, zero+".json")))
		require.NoError(t, syscall.Mkfifo(filepath.Join(dir, "extra.json"), 0o644)) // hashed by name only

		done := make(chan ingest.Result, 1)
		go func() {
			done <- ingest.LoadFeed(ctx, st, ingest.Feed{Name: "links", Path: dir}, ingest.Options{Logger: quietLog})
		}()
		var res ingest.Result
		select {
		case res = <-done:
		case <-time.After(60 * time.Second):
			t.Fatal("the feed directory load hangs")
		}
		require.Equal(t, ingest.StatusFailed, res.Status)
		require.Equal(t, int64(3), res.Report.Dropped[misp.ReasonUnsafeEventFile])
		require.Equal(t, 1, res.EventsLoaded)
		_, err := st.ResolveNode(ctx, "ipv4-addr:198.51.100.202")
		require.NoError(t, err, "the event inside the directory loads")
		_, err = st.ResolveNode(ctx, "ipv4-addr:198.51.100.201")
		require.Error(t, err, "the event linked from outside is not read")
		requireState(t, st, "links", ingest.StatusFailed)

		// The manifest itself linked outside: refused.
		dir2 := t.TempDir()
		require.NoError(t, os.Symlink(filepath.Join(dir, "manifest.json"), filepath.Join(dir2, "manifest.json")))
		res = ingest.LoadFeed(ctx, st, ingest.Feed{Name: "manifest-link", Path: dir2}, ingest.Options{Logger: quietLog})
		require.Equal(t, ingest.StatusFailed, res.Status)
		require.Contains(t, res.Error, misp.ErrUnsafeFile.Error())

		// A feed file that is a FIFO: refused, not waited on.
		ff := filepath.Join(t.TempDir(), "feed.json")
		require.NoError(t, syscall.Mkfifo(ff, 0o644))
		res = ingest.LoadFeed(ctx, st, ingest.Feed{Path: ff}, ingest.Options{Logger: quietLog})
		require.Equal(t, ingest.StatusFailed, res.Status)
		require.Contains(t, res.Error, "not a regular file")
	})

	t.Run("many missing files", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		present := "5f0e1a2b-0000-4000-8000-0000000000e0"
		var b strings.Builder
		fmt.Fprintf(&b, `{%q: {"timestamp": "1760000000"}`, present)
		for i := range 3000 {
			fmt.Fprintf(&b, `, "5f0e1a2b-0000-4000-9000-%012d": {"timestamp": "1760000000"}`, i)
		}
		b.WriteString("}")
		require.NoError(t, os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(b.String()), 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(dir, present+".json"),
			mispEvent(present, "present", 1760000000, [][2]string{{"ip-dst", "198.51.100.203"}}), 0o644))
		res := ingest.LoadFeed(ctx, st, ingest.Feed{Name: "many-missing", Path: dir}, ingest.Options{Logger: quietLog})
		require.Equal(t, ingest.StatusFailed, res.Status)
		require.Equal(t, 1, res.EventsLoaded)
		require.Equal(t, int64(3000), res.Report.Dropped[misp.ReasonMissingEventFile])
		state := requireState(t, st, "many-missing", ingest.StatusFailed)
		require.LessOrEqual(t, len(state.LastError), ingest.MaxErrorText)
		require.Contains(t, state.LastError, "… and 2990 more event files failed")
		require.LessOrEqual(t, len(res.Error), ingest.MaxErrorText)
	})
}

var quietLog = slog.New(slog.DiscardHandler)
