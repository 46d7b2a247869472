package ingest_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest"
	"github.com/ransomeye/intel/store"
)

// TestStaleLoadThatResumesDoesNotOverwriteTheLoadThatTookOver: a load
// whose process stalls past StaleAfter (SIGSTOP, a frozen VM, a long IO
// stall) is taken over as stale by another process, which loads the feed
// and records its outcome; then the first resumes and ends. Before, its
// outcome (and its heartbeat) were written by feed name alone: the stored
// status, report and content hash became the displaced load's, over the
// load that took the feed over (a failed or interrupted one even turned
// the other's ok into failed). Now they are written only while the
// bookkeeping still names the load (compare-and-set on its process and
// start time): the displaced load records nothing, says so at WARN, and
// its Result is Superseded.
func TestStaleLoadThatResumesDoesNotOverwriteTheLoadThatTookOver(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, pool := newStore(t)
	feed := ingest.Feed{Name: "hellokitty", Path: "../testdata/demo/hellokitty-ransomware.json"}

	// A process on another host started a load of the feed, then froze:
	// its heartbeat is older than StaleAfter.
	stale := time.Now().Add(-ingest.StaleAfter - time.Minute)
	_, err := pool.Exec(ctx, `INSERT INTO feeds (name, format, location, last_status, running_host, running_pid, started_at, heartbeat_at, updated_at)
		VALUES ($1, 'stix', $2, 'running', 'frozen-host', 4242, $3, $3, $3)`, feed.Name, feed.Path, stale)
	require.NoError(t, err)
	state, _, err := st.Feed(ctx, feed.Name)
	require.NoError(t, err)
	require.Equal(t, ingest.StatusStale, ingest.FeedStatus(state, time.Now()))
	frozen := state.Load()
	require.NotNil(t, frozen)

	// This process takes it over as stale and loads the feed.
	second := ingest.LoadFeed(ctx, st, feed, ingest.Options{})
	require.Equal(t, ingest.StatusOK, second.Status, second.Error)
	require.False(t, second.Superseded)
	want, _, err := st.Feed(ctx, feed.Name)
	require.NoError(t, err)
	require.Equal(t, ingest.StatusOK, want.LastStatus)
	require.NotEqual(t, "frozen-host", want.RunningHost)

	// The frozen process resumes: its heartbeat renews nothing, and
	// neither a failure nor a success of its load is recorded.
	renewed, err := st.FeedHeartbeat(ctx, feed.Name, *frozen)
	require.NoError(t, err)
	require.False(t, renewed, "the displaced load's heartbeat renews the load that took over")
	for _, status := range []string{ingest.StatusInterrupted, ingest.StatusFailed, ingest.StatusOK} {
		ferr := st.FeedFinished(ctx, frozen, feed.Name, status, "stalled "+status, "frozen-hash", "frozen-mapping", map[string]int{"frozen": 1})
		got, _, err := st.Feed(ctx, feed.Name)
		require.NoError(t, err)
		require.Equal(t, want.LastStatus, got.LastStatus, "the displaced load's %s overwrote the status", status)
		require.Equal(t, want.LastError, got.LastError, status)
		require.JSONEq(t, string(want.LastReport), string(got.LastReport), "the displaced load's %s overwrote the report", status)
		require.Equal(t, want.ContentHash, got.ContentHash, status)
		require.Equal(t, want.Mapping, got.Mapping, status)
		require.Equal(t, want.LastLoadedAt, got.LastLoadedAt, status)
		require.ErrorIs(t, ferr, store.ErrFeedSuperseded, status)
		require.ErrorContains(t, ferr, "pid 4242 on frozen-host", status)
	}

	// While the other load still runs, the displaced one's outcome does
	// not end it either.
	_, err = pool.Exec(ctx, `UPDATE feeds SET last_status = 'running', started_at = now(), heartbeat_at = now() WHERE name = $1`, feed.Name)
	require.NoError(t, err)
	require.ErrorIs(t, st.FeedFinished(ctx, frozen, feed.Name, ingest.StatusOK, "", "h", "m", nil), store.ErrFeedSuperseded)
	var status string
	require.NoError(t, pool.QueryRow(ctx, `SELECT last_status FROM feeds WHERE name = $1`, feed.Name).Scan(&status))
	require.Equal(t, ingest.StatusRunning, status)
	// The running load is this process's (host, pid and start time) but a
	// later one than the second: the second's heartbeat does not renew it.
	renewed, err = st.FeedHeartbeat(ctx, feed.Name, *want.Load())
	require.NoError(t, err)
	require.False(t, renewed, "an ended load's heartbeat renews a later load of the same process")
	// Nor does a skip judged before that load started.
	require.ErrorIs(t, st.FeedFinished(ctx, nil, feed.Name, ingest.StatusSkipped, "", "h", "m", nil), store.ErrFeedSuperseded)
	require.NoError(t, pool.QueryRow(ctx, `SELECT last_status FROM feeds WHERE name = $1`, feed.Name).Scan(&status))
	require.Equal(t, ingest.StatusRunning, status)
}

// takenOver is the real store, except that at the load's first batch
// another process takes the feed over as stale and finishes its own load
// (what a load frozen mid-write, then resumed, finds).
type takenOver struct {
	*store.Store
	pool *pgxpool.Pool
	feed string
	once sync.Once
	err  error
}

func (s *takenOver) Write(ctx context.Context, b graph.Batch) (graph.WriteStats, error) {
	s.once.Do(func() {
		_, s.err = s.pool.Exec(ctx, `UPDATE feeds SET last_status = 'ok', last_error = '', last_report = '{"other": true}',
			content_hash = 'other-hash', running_host = 'other-host', running_pid = 4242, running_pid_start = NULL,
			started_at = now(), heartbeat_at = now(), updated_at = now() WHERE name = $1`, s.feed)
	})
	return s.Store.Write(ctx, b)
}

// TestLoadTakenOverSaysItsOutcomeIsNotRecorded: the displaced load itself
// (LoadFeed) ends with what it did (ok: its batches committed), Superseded
// and a RecordError naming the load that took over, logged at WARN; the
// feed's bookkeeping stays the other load's.
func TestLoadTakenOverSaysItsOutcomeIsNotRecorded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, pool := newStore(t)
	feed := ingest.Feed{Name: "hellokitty", Path: "../testdata/demo/hellokitty-ransomware.json"}
	ts := &takenOver{Store: st, pool: pool, feed: feed.Name}
	var logs syncBuffer
	r := ingest.LoadFeed(ctx, ts, feed, ingest.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, ts.err)

	got, _, err := st.Feed(ctx, feed.Name)
	require.NoError(t, err)
	require.Equal(t, ingest.StatusOK, got.LastStatus)
	require.Equal(t, "other-hash", got.ContentHash, "the displaced load's outcome overwrote the other's")
	require.Equal(t, "other-host", got.RunningHost)
	var rep map[string]any
	require.NoError(t, json.Unmarshal(got.LastReport, &rep))
	require.Equal(t, map[string]any{"other": true}, rep)

	require.Equal(t, ingest.StatusOK, r.Status, r.Error)
	require.True(t, r.Superseded, "record error %q; logs:\n%s", r.RecordError, logs.String())
	require.Contains(t, r.RecordError, "taken over by another as stale")
	require.Contains(t, r.RecordError, "pid 4242 on other-host")
	require.Contains(t, logs.String(), `level=WARN msg="feed load superseded: its outcome is not recorded"`)
}
