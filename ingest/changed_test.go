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
// does, when the first batch is written.
type truncatingStore struct {
	*store.Store
	path string
	once *sync.Once
}

func (s truncatingStore) Write(ctx context.Context, b graph.Batch) (graph.WriteStats, error) {
	s.once.Do(func() {
		if err := os.Truncate(s.path, 1000); err != nil {
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
	path := filepath.Join(t.TempDir(), "bundle.json")
	var objs []string
	for i := range 20000 {
		objs = append(objs, fmt.Sprintf(`{"type":"indicator","spec_version":"2.1","id":"indicator--00000000-0000-4000-8000-%012d",`+
			`"created":"2025-01-01T00:00:00Z","modified":"2025-01-01T00:00:00Z","name":"ind %d","pattern_type":"stix",`+
			`"pattern":"[ipv4-addr:value = '10.%d.%d.%d']","valid_from":"2025-01-01T00:00:00Z"}`, i, i, i/65536, i/256%256, i%256))
	}
	bundle := `{"type":"bundle","id":"bundle--00000000-0000-4000-8000-000000000001","objects":[` + strings.Join(objs, ",") + `]}`
	require.NoError(t, os.WriteFile(path, []byte(bundle), 0o600))

	st, _ := newStore(t)
	res := ingest.LoadFeed(ctx, truncatingStore{st, path, &sync.Once{}}, ingest.Feed{Name: "f", Path: path}, ingest.Options{BatchSize: 50})
	require.Equal(t, ingest.StatusFailed, res.Status)
	require.Contains(t, res.Error, fmt.Sprintf("(the file changed while it was read: %d bytes when opened, 1000 now;", len(bundle)))
	state := requireState(t, st, "f", ingest.StatusFailed)
	require.Nil(t, state.LastLoadedAt)
}
