package partman_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/partman"
)

func TestMaintain(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	now := day(2024, 4, 20).Add(8 * time.Hour)
	old := day(2024, 1, 1)
	_, err := partman.EnsureDays(context.Background(), pool, []time.Time{old}, partman.Options{})
	require.NoError(t, err)

	logger, logs := testLogger()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("children %v; log (%d bytes):\n%s", children(t, pool, "telemetry_edges"), len(logs.String()), logs.String())
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- partman.Maintain(ctx, pool, 50*time.Millisecond, partman.MaintainOptions{
			Options: partman.Options{Now: fixedNow(now), Logger: logger},
			Keep:    30 * 24 * time.Hour,
			Mode:    partman.Drop,
		})
	}()

	// The first round creates the window and drops the old child.
	var want []string
	for i := -1; i <= 6; i++ {
		want = append(want, "telemetry_edges_"+now.AddDate(0, 0, i).Format("2006_01_02"))
	}
	want = append(want, "telemetry_edges_default") // children sorts by name
	require.Eventually(t, func() bool {
		return strings.Join(children(t, pool, "telemetry_edges"), ",") == strings.Join(want, ",")
	}, time.Minute, 10*time.Millisecond) // a Citus day takes ~1 s, more on a loaded machine

	// Later rounds keep at it: a child dropped by hand comes back, an old one
	// added by hand goes.
	_, err = pool.Exec(context.Background(), "DROP TABLE telemetry_edges_"+now.Format("2006_01_02"))
	require.NoError(t, err)
	_, err = partman.EnsureDays(context.Background(), pool, []time.Time{old}, partman.Options{})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return strings.Join(children(t, pool, "telemetry_edges"), ",") == strings.Join(want, ",")
	}, time.Minute, 10*time.Millisecond) // a Citus day takes ~1 s, more on a loaded machine

	cancel()
	select {
	case err := <-done:
		// Cancelled between rounds: nil; inside one (a 50 ms interval):
		// a StoppedError saying so.
		if err != nil {
			var stopped *partman.StoppedError
			require.ErrorAs(t, err, &stopped)
			require.True(t, stopped.InRound, "%v", err)
			require.ErrorIs(t, err, context.Canceled)
		}
	case <-time.After(time.Minute):
		t.Fatal("Maintain did not return after its context was cancelled")
	}
	require.Contains(t, logs.String(), "partman: ensure round done")
	require.Contains(t, logs.String(), "partman: prune round done")
	require.NotContains(t, logs.String(), "failed")
}

func TestMaintainArguments(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	err := partman.Maintain(ctx, nil, 0, partman.MaintainOptions{})
	require.ErrorIs(t, err, partman.ErrInvalidArgument)
	err = partman.Maintain(ctx, nil, time.Hour, partman.MaintainOptions{Keep: time.Hour})
	require.ErrorIs(t, err, partman.ErrInvalidMode)
	err = partman.Maintain(ctx, nil, time.Hour, partman.MaintainOptions{Keep: -time.Hour})
	require.ErrorIs(t, err, partman.ErrInvalidArgument)
}

// TestMaintainCutInsideARoundIsNoSuccess: a context ended while a round
// waits (a long reader holds the table a missing day's partition needs)
// returns a StoppedError that says what the round had done; before, nil,
// as a stop between rounds, so `intel partitions maintain` cut by --timeout
// or SIGTERM inside a round exited 0.
func TestMaintainCutInsideARoundIsNoSuccess(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	ctx := context.Background()
	holder, err := pool.Begin(ctx) // the test database has no day partition yet
	require.NoError(t, err)
	defer holder.Rollback(ctx) //nolint:errcheck // released when the test ends
	_, err = holder.Exec(ctx, "LOCK TABLE telemetry_edges IN ACCESS SHARE MODE")
	require.NoError(t, err)

	logger, _ := testLogger()
	cctx, cancel := context.WithTimeout(ctx, 700*time.Millisecond)
	defer cancel()
	rounds, err := partman.MaintainRounds(cctx, pool, time.Hour, partman.MaintainOptions{
		Options: partman.Options{LockTimeout: 50 * time.Millisecond, Logger: logger},
	})
	require.Equal(t, partman.Rounds{}, rounds)
	var stopped *partman.StoppedError
	require.ErrorAs(t, err, &stopped, "%v", err)
	require.True(t, stopped.InRound)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Contains(t, stopped.Done, "ensure made 0 of 8 day partitions")
}

// TestMaintainStoppedBeforeItsFirstRound: a maintainer whose context
// ended before its first round did nothing and says so, without claiming
// an ensure it never began. Before, the round ran on the ended context
// and was reported as "round 1 cut: ensure made 0 of 0 day partitions";
// the same path, a stop landing during a later round's read-only check,
// turned "stopped after a skipped round" into "round 5 cut" (seen in
// Citus CI).
func TestMaintainStoppedBeforeItsFirstRound(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	logger, logs := testLogger()
	cctx, cancel := context.WithCancel(context.Background())
	cancel()
	rounds, err := partman.MaintainRounds(cctx, pool, time.Hour, partman.MaintainOptions{Options: partman.Options{Logger: logger}})
	require.Equal(t, partman.Rounds{}, rounds)
	var stopped *partman.StoppedError
	require.ErrorAs(t, err, &stopped, "%v", err)
	require.True(t, stopped.InRound)
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, "maintain partitions: 0 rounds done; round 1 cut: stopped before it began: context canceled", err.Error())
	require.Empty(t, logs.String())
}

// TestMaintainOnAReadOnlyServerWarnsOnceAndWaits: a maintainer whose
// server is read-only (default_transaction_read_only here; a hot standby
// the same, see ErrStandby) skips its rounds with one WARN that names the
// cause, logs the later skipped rounds at DEBUG, and once the server takes
// writes again says so and does the round's work. Stopped after a skipped
// round on a server that is not a standby, it returns a StoppedError
// holding ErrReadOnly: nothing kept the partitions. Before, every round
// logged an ERROR (`partman: ensure round failed … read-only
// transaction`) for as long as the maintainer ran.
func TestMaintainOnAReadOnlyServerWarnsOnceAndWaits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	admin := pgtest.Pool(t)
	var db string
	require.NoError(t, admin.QueryRow(ctx, "SELECT current_database()").Scan(&db))
	setReadOnly := func(on bool) {
		tx, err := admin.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadWrite})
		require.NoError(t, err)
		stmt := "ALTER DATABASE " + pgx.Identifier{db}.Sanitize() + " RESET default_transaction_read_only"
		if on {
			stmt = "ALTER DATABASE " + pgx.Identifier{db}.Sanitize() + " SET default_transaction_read_only = on"
		}
		_, err = tx.Exec(ctx, stmt)
		require.NoError(t, err)
		require.NoError(t, tx.Commit(ctx))
	}
	setReadOnly(true)
	t.Cleanup(func() { setReadOnly(false) })
	pool, err := pgxpool.NewWithConfig(ctx, admin.Config())
	require.NoError(t, err)
	t.Cleanup(pool.Close)

	run := func(rounds int, then func()) error {
		logger, logs := testLogger()
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		done := make(chan error, 1)
		go func() {
			done <- partman.Maintain(cctx, pool, 20*time.Millisecond, partman.MaintainOptions{Options: partman.Options{Logger: logger, Retries: -1}})
		}()
		require.Eventually(t, func() bool {
			return strings.Count(logs.String(), "round skipped: the server is still read-only") >= rounds
		}, time.Minute, 10*time.Millisecond, "%s", logs)
		require.Equal(t, 1, strings.Count(logs.String(), "level=WARN"), "%s", logs)
		require.Contains(t, logs.String(), "default_transaction_read_only = on")
		require.NotContains(t, logs.String(), "level=ERROR")
		require.NotContains(t, logs.String(), "failed")
		if then != nil {
			then()
			require.Eventually(t, func() bool { return strings.Contains(logs.String(), "partman: ensure round done") },
				time.Minute, 10*time.Millisecond, "%s", logs)
			require.Contains(t, logs.String(), "partman: the server takes writes again: rounds resume")
			require.Equal(t, 1, strings.Count(logs.String(), "level=WARN"), "%s", logs)
		}
		cancel()
		return <-done
	}

	// Stopped while read-only: no success.
	err = run(3, nil)
	var stopped *partman.StoppedError
	require.ErrorAs(t, err, &stopped, "%v", err)
	require.ErrorIs(t, stopped.LastErr, partman.ErrReadOnly)
	require.Contains(t, err.Error(), "the last one skipped")
	// A skipped round did nothing: not counted done (it was, as "3
	// rounds done").
	require.Zero(t, stopped.Rounds, "%v", err)
	require.GreaterOrEqual(t, stopped.Skipped, 3, "%v", err)
	require.Contains(t, err.Error(), "0 rounds done, ")

	// Writable again: the next round makes the days.
	err = run(2, func() {
		setReadOnly(false)
		pool.Reset() // sessions take the database's settings when they start
	})
	if err != nil { // cancelled inside a round: a StoppedError saying so
		require.ErrorAs(t, err, &stopped, "%v", err)
		require.True(t, stopped.InRound, "%v", err)
	}
	require.NotEmpty(t, children(t, admin, "telemetry_edges"))
}

// TestMaintainStoppedAfterAFailedRoundSaysSo: a maintainer whose rounds
// fail (here the role may not take the lock a day's partition needs
// within the lock timeout: a reader holds the table) and that is then
// stopped between rounds did not keep the partitions: Maintain returns a
// StoppedError holding the last round's failure. Before, nil: `intel
// partitions maintain` against a read-only server (then a failed round;
// now a skipped one, see above) logged an ERROR each round and exited 0 on
// SIGTERM.
func TestMaintainStoppedAfterAFailedRoundSaysSo(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	holder, err := pool.Begin(ctx) // the test database has no day partition yet
	require.NoError(t, err)
	defer holder.Rollback(ctx) //nolint:errcheck // released when the test ends
	_, err = holder.Exec(ctx, "LOCK TABLE telemetry_edges IN ACCESS SHARE MODE")
	require.NoError(t, err)
	logger, logs := testLogger()
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- partman.Maintain(cctx, pool, time.Hour, partman.MaintainOptions{Options: partman.Options{
			Logger: logger, Retries: -1, LockTimeout: 20 * time.Millisecond}})
	}()
	// The first round fails at once (seconds on a loaded machine); then it
	// waits an hour. The round ends just after its failure is logged.
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "partman: ensure round failed") },
		time.Minute, 10*time.Millisecond, "%s", logs)
	time.Sleep(200 * time.Millisecond)
	cancel()
	err = <-done
	var stopped *partman.StoppedError
	require.ErrorAs(t, err, &stopped, "%v", err)
	require.False(t, stopped.InRound)
	require.Equal(t, 1, stopped.Rounds)
	require.ErrorIs(t, stopped.LastErr, partman.ErrLockTimeout)
}
