package store

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/db/gen"
	"github.com/ransomeye/intel/internal/pgtest"
)

// TestNoTakeOverBetweenTheCheckAndTheCommit: a load's write asks whether
// its load still holds the feed (checkLoadHeld) as the last statement
// before its COMMIT. Between that answer and the COMMIT another process
// may take the feed over (FeedStarted, or FeedStartedUnlessRunning of a
// stale load): before, the check was a plain read, so the takeover
// committed in that window and the write committed after it, both stored
// (the displaced load's batch beside the load that took over). Now the
// check locks the feed's row (FOR SHARE) until the write ends: a takeover
// that comes after the check waits for the write's COMMIT, and a check
// that comes while a takeover is in flight waits for it and finds the
// load displaced.
func TestNoTakeOverBetweenTheCheckAndTheCommit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := NewStore(pgtest.Pool(t), WithLogger(quietLog))
	load, err := s.FeedStarted(ctx, "f", "stix", "f.json")
	require.NoError(t, err)
	held := WithFeedLoad(ctx, "f", load)
	item := func(tx pgx.Tx, name string) error {
		return s.q.WithTx(tx).FeedItemUpsert(ctx, gen.FeedItemUpsertParams{Feed: "f", Item: name, ContentHash: "h", Mapping: "m"})
	}

	// 1. The check answers "held", then a takeover comes before the COMMIT.
	var tookOver chan error
	var tookOverFirst bool
	err = WithTx(ctx, s.pool, TxOptions{}, func(tx pgx.Tx) error {
		if err := item(tx, "e1"); err != nil {
			return err
		}
		if err := s.checkLoadHeld(held, tx); err != nil {
			return err
		}
		tookOver = make(chan error, 1)
		go func() {
			_, err := s.FeedStarted(ctx, "f", "stix", "f.json") // another load of the feed
			tookOver <- err
		}()
		select {
		case err := <-tookOver:
			tookOver <- err
			tookOverFirst = true
		case <-waitingOnALock(t, s):
		}
		return nil
	})
	require.NoError(t, err, "the write that passed its check commits")
	require.NoError(t, <-tookOver, "the takeover goes on once the write has committed")
	require.False(t, tookOverFirst, "the takeover committed between the write's check and its COMMIT: both are stored")
	require.ErrorIs(t, WithTx(ctx, s.pool, TxOptions{}, func(tx pgx.Tx) error { return s.checkLoadHeld(held, tx) }),
		ErrLoadDisplaced, "after the takeover the first load is displaced")

	// 2. A takeover is in flight (not committed) when the check asks.
	cur, ok, err := s.Feed(ctx, "f")
	require.NoError(t, err)
	require.True(t, ok)
	held2 := WithFeedLoad(ctx, "f", *cur.Load())
	require.NoError(t, WithTx(ctx, s.pool, TxOptions{}, func(tx pgx.Tx) error { return s.checkLoadHeld(held2, tx) }),
		"the second load holds the feed")
	taker, err := s.pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = taker.Rollback(ctx) }()
	_, err = taker.Exec(ctx, `UPDATE feeds SET running_host = 'other-host', running_pid = 4242, running_pid_start = NULL,
		started_at = now() + interval '1 second', heartbeat_at = now() WHERE name = 'f'`)
	require.NoError(t, err)
	checked := make(chan error, 1)
	go func() {
		checked <- WithTx(ctx, s.pool, TxOptions{}, func(tx pgx.Tx) error {
			if err := item(tx, "e2"); err != nil {
				return err
			}
			return s.checkLoadHeld(held2, tx)
		})
	}()
	select {
	case err := <-checked:
		require.NoError(t, taker.Commit(ctx))
		require.ErrorIs(t, err, ErrLoadDisplaced, "the check read the row as it was before the takeover in flight, "+
			"and the write committed beside it")
	case <-waitingOnALock(t, s):
		require.NoError(t, taker.Commit(ctx))
		require.ErrorIs(t, <-checked, ErrLoadDisplaced)
	}
	var items []string
	rows, err := s.pool.Query(ctx, `SELECT item FROM feed_items WHERE feed = 'f' ORDER BY item`)
	require.NoError(t, err)
	items, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, []string{"e1"}, items, "only the write that held the feed when it committed is stored")
}

// waitingOnALock is closed once a session of s's database waits for a
// lock (pg_stat_activity), polled every 10 ms until the test ends.
func waitingOnALock(t *testing.T, s *Store) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			var n int
			err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
				WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`).Scan(&n)
			if err != nil || n > 0 {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	return done
}
