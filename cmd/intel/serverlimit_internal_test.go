package main

import (
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/partman"
	"github.com/ransomeye/intel/store"
)

// TestPartmansLockTimeoutIsNotTheServers: a partition the upkeep could not
// make because its own lock_timeout (partman's --lock-timeout) ran out on
// every try is not blamed on a server setting. Before, the last line said
// "a lock was not granted within the server's lock_timeout … (lock_timeout =
// 0, source: default)", a setting nobody had made.
func TestPartmansLockTimeoutIsNotTheServers(t *testing.T) {
	pgErr := &pgconn.PgError{Code: "55P03", Message: "canceling statement due to lock timeout"}
	err := fmt.Errorf("partition upkeep on startup: ensure partition public.telemetry_edges_2026_12_05: %w within lock_timeout 2s (10 attempts): %w",
		partman.ErrLockTimeout, pgErr)
	got := explainServerLimit(nil, err).Error()
	require.NotContains(t, got, "server's lock_timeout")
	require.Contains(t, got, "another session held a lock the partitions need")
	require.Contains(t, got, "within lock_timeout 2s (10 attempts)")
	require.ErrorIs(t, explainServerLimit(nil, err), partman.ErrLockTimeout)

	// The server's own lock_timeout is still named as such.
	require.Contains(t, explainServerLimit(nil, fmt.Errorf("write: %w", pgErr)).Error(), "server's lock_timeout")
}

// TestPooledStatementsAreExplained: pgx's cached statement missing on the
// server connection, or there already, is a transaction pooler's doing and
// is said so, with the URL setting that avoids it.
func TestPooledStatementsAreExplained(t *testing.T) {
	t.Parallel()
	for _, code := range []string{"42P05", "26000"} {
		err := fmt.Errorf("read max_connections: %w", &pgconn.PgError{Code: code,
			Message: `prepared statement "stmtcache_a5f034346b1f6b6858d1d21c46cab4d22653955ce99fa923" already exists`})
		got := explainPooledStatements(err)
		require.ErrorIs(t, got, err)
		require.Contains(t, got.Error(), "add default_query_exec_mode=exec to the URL")
	}
	plain := &pgconn.PgError{Code: "42P05", Message: `prepared statement "mine" already exists`}
	require.Equal(t, error(plain), explainPooledStatements(plain))
}

// TestPooledStatementsAreExplainedInAFeedsText: a feed's error reaches the
// last line as text.
func TestPooledStatementsAreExplainedInAFeedsText(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf(`feed pb3: get feed pb3: ERROR: prepared statement "stmtcache_2dd12e73" does not exist (SQLSTATE 26000)`)
	require.Contains(t, explainPooledStatements(err).Error(), "add default_query_exec_mode=exec to the URL")
}

// TestServerLimitInAnotherLanguage: a server whose lc_messages is German
// (ALTER DATABASE … SET lc_messages = 'de_DE.UTF-8'; the messages below
// are PostgreSQL 15.18's, read from such a server). Before, a lock_timeout
// was not named: `intel search` under a held lock ended with `search
// "kitty": retryable: FEHLER: storniere Anfrage wegen Zeitüberschreitung
// einer Sperre (SQLSTATE 55P03)` where an English server's line said what
// lock_timeout did, its value and where it was set. A cancel on request,
// in German, was blamed on statement_timeout: the CLI now asks the server
// for its words for a timeout (store.ServerLimitOf) and names none when
// they differ.
func TestServerLimitInAnotherLanguage(t *testing.T) {
	t.Parallel()
	lock := fmt.Errorf("search %q: %w", "kitty", &pgconn.PgError{Severity: "FEHLER", Code: "55P03",
		Message: "storniere Anfrage wegen Zeitüberschreitung einer Sperre"})
	require.Equal(t, "lock_timeout", store.ServerLimit(lock))
	require.Contains(t, explainServerLimit(nil, lock).Error(), "a lock was not granted within the server's lock_timeout")
	nowait := &pgconn.PgError{Code: "55P03", Message: `could not obtain lock on relation "feeds"`}
	require.Empty(t, store.ServerLimit(nowait), "NOWAIT, in English, is not a limit")

	// PostgreSQL 15's German catalogue names the setting untranslated.
	spill := &pgconn.PgError{Severity: "FEHLER", Code: "53400", Message: "Größe der temporären Datei überschreitet temp_file_limit (64kB)"}
	require.Equal(t, "temp_file_limit", store.ServerLimit(spill))

	cancel := fmt.Errorf("search: %w", &pgconn.PgError{Severity: "FEHLER", Code: "57014",
		Message: "storniere Anfrage wegen Benutzeraufforderung"})
	pool := pgtest.Pool(t) // an English server: its words for a timeout are not these
	require.Contains(t, explainServerLimit(pool, cancel).Error(), "the server cancelled a statement on request",
		"no statement_timeout to blame")
	require.ErrorIs(t, explainServerLimit(pool, cancel), cancel.(interface{ Unwrap() error }).Unwrap())
}
