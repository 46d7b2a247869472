package ingest_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest"
	"github.com/ransomeye/intel/store"
)

// leakyStore is a real store whose graph writes fail with the error text a
// driver gives when it quotes its connection string.
type leakyStore struct{ *store.Store }

func (leakyStore) Write(context.Context, graph.Batch) (graph.WriteStats, error) {
	return graph.WriteStats{}, fmt.Errorf("failed to connect to `postgres://intel:hunter2-s3cret@db:5432/intel` (host=db password=hunter2-s3cret): server closed the connection")
}

// TestFeedErrorIsRedacted: a load error stored in feeds.last_error, and the
// result, have the password masked.
func TestFeedErrorIsRedacted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, pool := newStore(t)
	f := ingest.Feed{Name: "leaky", Path: filepath.Join("..", "testdata", "demo", "hellokitty-ransomware.json"), Format: "stix"}
	res := ingest.LoadFeed(ctx, leakyStore{st}, f, ingest.Options{})
	require.Equal(t, ingest.StatusFailed, res.Status)
	require.NotContains(t, res.Error, "hunter2")
	require.Contains(t, res.Error, "postgres://intel:xxxxx@db:5432/intel")

	var lastStatus, lastError string
	require.NoError(t, pool.QueryRow(ctx, "SELECT last_status, last_error FROM feeds WHERE name = $1", f.Name).Scan(&lastStatus, &lastError))
	require.Equal(t, ingest.StatusFailed, lastStatus)
	require.NotContains(t, lastError, "hunter2")
	require.Contains(t, lastError, "password=xxxxx")
}
