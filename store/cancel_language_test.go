package store_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// germanServer starts a server whose sessions speak German (lc_messages
// de_DE.UTF-8, a locale built with localedef and given to the server on
// LOCPATH), or skips when this machine cannot build one.
func germanServer(t *testing.T) string {
	t.Helper()
	localedef, err := exec.LookPath("localedef")
	if err != nil {
		t.Skip("no localedef to build a German locale")
	}
	if _, err := os.Stat("/usr/share/i18n/locales/de_DE"); err != nil {
		t.Skip("no de_DE locale source")
	}
	dir, err := os.MkdirTemp("", "intel-locale-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755)) // the server's user reads it
	if out, err := exec.Command(localedef, "-i", "de_DE", "-f", "UTF-8", filepath.Join(dir, "de_DE.UTF-8")).CombinedOutput(); err != nil {
		t.Skipf("localedef: %v: %s", err, out)
	}
	t.Setenv("LOCPATH", dir) // the server started next inherits it
	dsn := pgtest.StartServer(t, map[string]string{"lc_messages": "de_DE.UTF-8"})
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "SELECT 1/0")
	require.Error(t, err)
	if !strings.Contains(err.Error(), "Division durch Null") {
		t.Skipf("the server does not speak German: %v", err)
	}
	return dsn
}

// TestCancelOnRequestIsNoTimeoutInGerman: with lc_messages German and
// statement_timeout set, a statement cancelled on request
// (pg_cancel_backend, as a DBA does) and one stopped by statement_timeout
// are both SQLSTATE 57014, told apart by the server's words alone, which
// ServerLimit knows only in English: `intel search` cancelled by
// pg_cancel_backend ended `a statement ran longer than the server's
// statement_timeout (statement_timeout = 30s, …): … FEHLER: storniere
// Anfrage wegen Benutzeraufforderung (SQLSTATE 57014)`. ServerLimitOf
// asks the server for its own words for a statement timeout and names
// statement_timeout only for those; a cancel by the client itself (its
// context ended) is none either.
func TestCancelOnRequestIsNoTimeoutInGerman(t *testing.T) {
	dsn := germanServer(t)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer admin.Close(ctx)
	_, err = admin.Exec(ctx, `CREATE TABLE held (x int); ALTER DATABASE postgres SET statement_timeout = '1500ms'`)
	require.NoError(t, err)
	pool := pgtest.PoolFor(t, dsn)

	// blocked runs a statement that waits for a lock another session
	// holds, until something ends it, and returns its error.
	blocked := func(ctx context.Context, during func(pid uint32)) error {
		lock, err := pgx.Connect(context.Background(), dsn)
		require.NoError(t, err)
		defer lock.Close(context.Background())
		tx, err := lock.Begin(context.Background())
		require.NoError(t, err)
		defer tx.Rollback(context.Background()) //nolint:errcheck // released either way
		_, err = tx.Exec(context.Background(), "SET LOCAL statement_timeout = 0; LOCK TABLE held IN ACCESS EXCLUSIVE MODE")
		require.NoError(t, err)
		conn, err := pool.Acquire(ctx)
		require.NoError(t, err)
		defer conn.Release()
		pid := conn.Conn().PgConn().PID()
		done := make(chan error, 1)
		go func() {
			_, err := conn.Exec(ctx, "SELECT count(*) FROM held")
			done <- err
		}()
		if during != nil {
			require.Eventually(t, func() bool {
				var waiting bool
				_ = admin.QueryRow(context.Background(), "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1", pid).Scan(&waiting)
				return waiting
			}, 10*time.Second, 20*time.Millisecond)
			during(pid)
		}
		return <-done
	}

	timedOut := blocked(ctx, nil)
	require.Equal(t, "57014", store.Code(timedOut), "%v", timedOut)
	require.Equal(t, "statement_timeout", store.ServerLimitOf(ctx, pool, timedOut), "%v", timedOut)

	cancelled := blocked(ctx, func(pid uint32) {
		_, err := admin.Exec(ctx, "SELECT pg_cancel_backend($1)", int32(pid))
		require.NoError(t, err)
	})
	require.Equal(t, "57014", store.Code(cancelled), "%v", cancelled)
	require.NotContains(t, cancelled.Error(), "user request", "the server speaks German")
	require.Equal(t, "statement_timeout", store.ServerLimit(cancelled), "ServerLimit cannot tell them apart by its words")
	require.Empty(t, store.ServerLimitOf(ctx, pool, cancelled), "a cancel on request blamed on statement_timeout: %v", cancelled)
	require.Contains(t, store.ExplainServerLimitAs("", cancelled).Error(), "the server cancelled a statement on request")

	cctx, cancel := context.WithCancel(ctx)
	byClient := blocked(cctx, func(uint32) { cancel() })
	require.Error(t, byClient)
	require.Empty(t, store.ServerLimitOf(ctx, pool, byClient), "the client's own cancel: %v", byClient)
}
