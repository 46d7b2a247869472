package ingest_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest"
	"github.com/ransomeye/intel/store"
)

// truncatingStore truncates a file, as a writer rewriting it in place
// does, when the first batch is written (or, with rewrite, rewrites it in
// place to content of the same size).
type truncatingStore struct {
	*store.Store
	path    string
	once    *sync.Once
	rewrite func([]byte) []byte
}

func (s truncatingStore) Write(ctx context.Context, b graph.Batch) (graph.WriteStats, error) {
	s.once.Do(func() {
		if s.rewrite == nil {
			if err := os.Truncate(s.path, 1000); err != nil {
				panic(err)
			}
			return
		}
		f, err := os.OpenFile(s.path, os.O_RDWR, 0)
		if err != nil {
			panic(err)
		}
		defer f.Close() //nolint:errcheck // checked by WriteAt
		data, err := os.ReadFile(s.path)
		if err != nil {
			panic(err)
		}
		if _, err := f.WriteAt(s.rewrite(data), 0); err != nil {
			panic(err)
		}
	})
	return s.Store.Write(ctx, b)
}

// TestFeedFileTruncatedWhileRead: a STIX feed file truncated while it is
// read (by a writer rewriting it in place) failed with `read feed "f" at
// byte 1048576: JSON syntax error: … unexpected EOF` — an offset past the
// end of the file as it now is, read as a fault of the content. The error
// now also says that the file changed while it was read, with its sizes
// then and now; the feed is failed and nothing is recorded as loaded.
func TestFeedFileTruncatedWhileRead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path, bundle := writeBigBundle(t)
	st, _ := newStore(t)
	res := ingest.LoadFeed(ctx, truncatingStore{Store: st, path: path, once: &sync.Once{}}, ingest.Feed{Name: "f", Path: path}, ingest.Options{BatchSize: 50})
	require.Equal(t, ingest.StatusFailed, res.Status)
	require.Contains(t, res.Error, fmt.Sprintf("(the file changed while it was read: %d bytes when opened, 1000 now;", len(bundle)))
	state := requireState(t, st, "f", ingest.StatusFailed)
	require.Nil(t, state.LastLoadedAt)
}

// TestFeedFileRewrittenInPlaceWhileRead: a STIX feed file rewritten in
// place while it is read, to content of the same size (every indicator
// renamed). Before, the load succeeded (status ok, exit 0) and was
// recorded under the hash of the content it held when opened, while what
// it stored was a mix of both: the indicators read before the rewrite kept
// their old names, the rest took the new ones, and a rerun of the same
// file was skipped as unchanged whenever it was rewritten back. Now the
// bytes read are hashed as they are read and compared with the content
// hashed when the file was opened: the feed fails, saying so, and nothing
// is recorded as loaded, so the next run loads it whole.
func TestFeedFileRewrittenInPlaceWhileRead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path, bundle := writeBigBundle(t)
	st, _ := newStore(t)
	rename := func(b []byte) []byte { return []byte(strings.ReplaceAll(string(b), `"name":"ind `, `"name":"IND `)) }
	res := ingest.LoadFeed(ctx, truncatingStore{Store: st, path: path, once: &sync.Once{}, rewrite: rename},
		ingest.Feed{Name: "f", Path: path}, ingest.Options{BatchSize: 50})
	require.Equal(t, ingest.StatusFailed, res.Status, res.Error)
	require.Contains(t, res.Error, "the file changed while it was read: its content is not what it held when opened")
	state := requireState(t, st, "f", ingest.StatusFailed)
	require.Nil(t, state.LastLoadedAt)
	now, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Len(t, now, len(bundle), "the same size")

	// The next run loads the file as it now is.
	res = ingest.LoadFeed(ctx, st, ingest.Feed{Name: "f", Path: path}, ingest.Options{BatchSize: 50})
	require.Equal(t, ingest.StatusOK, res.Status, res.Error)
}

// writeBigBundle writes a STIX bundle of 20,000 indicators (about 5 MB:
// read over many batches) and returns its path and content.
func writeBigBundle(t *testing.T) (string, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bundle.json")
	var objs []string
	for i := range 20000 {
		objs = append(objs, fmt.Sprintf(`{"type":"indicator","spec_version":"2.1","id":"indicator--00000000-0000-4000-8000-%012d",`+
			`"created":"2025-01-01T00:00:00Z","modified":"2025-01-01T00:00:00Z","name":"ind %d","pattern_type":"stix",`+
			`"pattern":"[ipv4-addr:value = '10.%d.%d.%d']","valid_from":"2025-01-01T00:00:00Z"}`, i, i, i/65536, i/256%256, i%256))
	}
	bundle := `{"type":"bundle","id":"bundle--00000000-0000-4000-8000-000000000001","objects":[` + strings.Join(objs, ",") + `]}`
	require.NoError(t, os.WriteFile(path, []byte(bundle), 0o600))
	return path, bundle
}
