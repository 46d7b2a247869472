package ingest_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/ingest"
	"github.com/ransomeye/intel/internal/feedtest"
	"github.com/ransomeye/intel/internal/procid"
	"github.com/ransomeye/intel/store"
)

// waitForLockWait waits until a session waits for a lock: the load's first
// batch is being written.
func waitForLockWait(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	require.Eventually(t, func() bool {
		var n int
		err := pool.QueryRow(context.Background(),
			"SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'").Scan(&n)
		return err == nil && n > 0
	}, 30*time.Second, 10*time.Millisecond, "a batch waits for the lock on nodes")
}

func countNodes(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	require.NoError(t, pool.QueryRow(context.Background(), "SELECT count(*) FROM nodes").Scan(&n))
	return n
}

var errSIGINT = errors.New("interrupted by SIGINT")

// TestInterruptedLoad: a load whose context ends (the CLI's SIGINT or
// SIGTERM) lets the batch being written commit, starts no other, and is
// recorded as interrupted with the cause; the next run loads the feed again
// (its content hash was not recorded).
func TestInterruptedLoad(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	feed := ingest.Feed{Name: "big", Path: feedtest.MalwareFeed(t, 2000), Format: ingest.FormatSTIX}
	release := feedtest.LockNodes(t, pool)

	ctx, cancel := context.WithCancelCause(context.Background())
	done := make(chan ingest.Result)
	go func() { done <- ingest.LoadFeed(ctx, st, feed, ingest.Options{BatchSize: 100, Workers: 1}) }()
	waitForLockWait(t, pool)
	state, ok, err := st.Feed(context.Background(), "big")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, ingest.StatusRunning, state.LastStatus)
	require.Equal(t, os.Getpid(), state.RunningPID, "the running process is recorded")
	require.Equal(t, ingest.StatusRunning, ingest.FeedStatus(state, time.Now()))

	cancel(errSIGINT)
	time.Sleep(100 * time.Millisecond)
	release() // the batch in flight commits within its grace
	res := <-done
	require.Equal(t, ingest.StatusInterrupted, res.Status)
	require.Equal(t, "interrupted by SIGINT", res.Error)
	require.Equal(t, 100, countNodes(t, pool), "the batch in flight committed whole, and no later one started")

	state, _, err = st.Feed(context.Background(), "big")
	require.NoError(t, err)
	require.Equal(t, ingest.StatusInterrupted, state.LastStatus)
	require.Equal(t, "interrupted by SIGINT", state.LastError)
	require.Empty(t, state.ContentHash)

	again := ingest.LoadFeed(context.Background(), st, feed, ingest.Options{BatchSize: 100})
	require.Equal(t, ingest.StatusOK, again.Status, "an interrupted feed is loaded again, not skipped as unchanged")
	require.Equal(t, 2000, countNodes(t, pool))
}

// TestInterruptedLoadGraceRunsOut: a batch that cannot commit within the
// grace (the database is stuck) is cancelled, rolls back whole, and the
// load still ends as interrupted without waiting for the database.
func TestInterruptedLoadGraceRunsOut(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	feed := ingest.Feed{Name: "stuck", Path: feedtest.MalwareFeed(t, 500), Format: ingest.FormatSTIX}
	release := feedtest.LockNodes(t, pool)

	ctx, cancel := context.WithCancelCause(context.Background())
	done := make(chan ingest.Result)
	go func() {
		// The batch gets 1.5 s of the grace, the record of the
		// interruption the last 0.5 s (ingest.BatchGrace).
		done <- ingest.LoadFeed(ctx, st, feed, ingest.Options{BatchSize: 100, Workers: 1, InterruptGrace: 2 * time.Second})
	}()
	waitForLockWait(t, pool)
	cancel(errSIGINT)
	var res ingest.Result
	select {
	case res = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the load waits for the stuck batch beyond its grace")
	}
	release()
	require.Equal(t, ingest.StatusInterrupted, res.Status)
	require.Zero(t, countNodes(t, pool), "the cancelled batch rolled back whole")
	state, _, err := st.Feed(context.Background(), "stuck")
	require.NoError(t, err)
	require.Equal(t, ingest.StatusInterrupted, state.LastStatus)
}

// TestRunInterruptedBeforeAFeedStarts: feeds whose turn had not come are
// cancelled and leave no bookkeeping.
func TestRunInterruptedBeforeAFeedStarts(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t)
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(errSIGINT)
	results, err := ingest.Run(ctx, st, []ingest.Feed{{Name: "a", Path: feedtest.MalwareFeed(t, 3), Format: ingest.FormatSTIX}}, ingest.Options{})
	require.NoError(t, err, "a feed never started is not a failure")
	require.Equal(t, ingest.StatusCancelled, results[0].Status)
	require.Equal(t, "not started: interrupted by SIGINT", results[0].Error)
	_, known, err := st.Feed(context.Background(), "a")
	require.NoError(t, err)
	require.False(t, known)
}

// TestFeedStatusShowsStaleLoads: a running load is stale when its process
// is gone from this host (or its id was reused), or when it ran on another
// host and its heartbeat is old; the heartbeat renews only the caller's own
// running load.
func TestFeedStatusShowsStaleLoads(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, pool := newStore(t)
	feed := ingest.Feed{Name: "f", Path: feedtest.MalwareFeed(t, 1), Format: ingest.FormatSTIX}
	require.Equal(t, ingest.StatusOK, ingest.LoadFeed(ctx, st, feed, ingest.Options{}).Status)
	load, err := st.FeedStarted(ctx, "f", ingest.FormatSTIX, feed.Path)
	require.NoError(t, err)

	self := procid.Self()
	ended := exec.Command("true")
	require.NoError(t, ended.Run())
	now := time.Now()
	old := now.Add(-ingest.StaleAfter - time.Minute)
	recent := now.Add(-time.Minute)

	state, _, err := st.Feed(ctx, "f")
	require.NoError(t, err)
	require.Equal(t, self.Host, state.RunningHost)
	require.Equal(t, self.PID, state.RunningPID)
	require.Equal(t, self.Start, state.RunningPIDStart)
	require.NotNil(t, state.StartedAt)

	for _, tc := range []struct {
		name   string
		edit   func(*store.FeedState)
		status string
	}{
		{"this process", func(*store.FeedState) {}, ingest.StatusRunning},
		{"this process, old heartbeat", func(s *store.FeedState) { s.HeartbeatAt, s.UpdatedAt = &old, old }, ingest.StatusRunning},
		{"process gone", func(s *store.FeedState) { s.RunningPID = ended.Process.Pid }, ingest.StatusStale},
		{"process id reused", func(s *store.FeedState) { s.RunningPIDStart++ }, ingest.StatusStale},
		{"other host, recent heartbeat", func(s *store.FeedState) { s.RunningHost += "-b"; s.HeartbeatAt, s.UpdatedAt = &recent, old }, ingest.StatusRunning},
		{"other host, old heartbeat", func(s *store.FeedState) { s.RunningHost += "-b"; s.HeartbeatAt, s.UpdatedAt = &old, old }, ingest.StatusStale},
		{"no process recorded, old", func(s *store.FeedState) { *s = store.FeedState{LastStatus: "running", UpdatedAt: old} }, ingest.StatusStale},
		{"no process recorded, recent", func(s *store.FeedState) { *s = store.FeedState{LastStatus: "running", UpdatedAt: recent} }, ingest.StatusRunning},
		{"not running", func(s *store.FeedState) { s.LastStatus, s.RunningPID = ingest.StatusInterrupted, ended.Process.Pid }, ingest.StatusInterrupted},
	} {
		s := state
		tc.edit(&s)
		require.Equal(t, tc.status, ingest.FeedStatus(s, now), tc.name)
	}

	// The heartbeat renews this process's running load, and nothing once
	// another process has taken the feed over.
	_, err = pool.Exec(ctx, "UPDATE feeds SET heartbeat_at = now() - interval '1 hour' WHERE name = 'f'")
	require.NoError(t, err)
	renewed, err := st.FeedHeartbeat(ctx, "f", load)
	require.NoError(t, err)
	require.True(t, renewed)
	state, _, err = st.Feed(ctx, "f")
	require.NoError(t, err)
	require.WithinDuration(t, time.Now(), *state.HeartbeatAt, time.Minute)
	_, err = pool.Exec(ctx, "UPDATE feeds SET running_pid = running_pid + 1 WHERE name = 'f'")
	require.NoError(t, err)
	renewed, err = st.FeedHeartbeat(ctx, "f", load)
	require.NoError(t, err)
	require.False(t, renewed)
	// Nor does its outcome overwrite the other process's load.
	require.ErrorIs(t, st.FeedFinished(ctx, &load, "f", ingest.StatusOK, "", "", "", nil), store.ErrFeedSuperseded)
	var status string
	require.NoError(t, pool.QueryRow(ctx, "SELECT last_status FROM feeds WHERE name = 'f'").Scan(&status))
	require.Equal(t, ingest.StatusRunning, status)
}
