package pgcluster

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"
)

// TestOnlyThePasswordGetsIn starts a throw-away cluster as the test harness
// does and shows that a connection needs the superuser's password: none or
// a wrong one is refused by the server (invalid_password), there is no unix
// socket and no trust line.
func TestOnlyThePasswordGetsIn(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	root, err := os.MkdirTemp("", "pgcluster-test-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(root) })
	c, err := New(Options{DataDir: filepath.Join(root, "data"), Settings: map[string]string{"fsync": "off"}})
	require.NoError(t, err)
	require.NoError(t, c.GiveTo(root))
	require.NoError(t, c.Init(ctx))
	require.NoError(t, c.StartChild(ctx))
	t.Cleanup(func() { _ = c.StopChild() })

	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	require.NoError(t, err)
	var sockets string
	require.NoError(t, conn.QueryRow(ctx, "SHOW unix_socket_directories").Scan(&sockets))
	require.Empty(t, sockets)
	var trustRules int
	require.NoError(t, conn.QueryRow(ctx, "SELECT count(*) FROM pg_hba_file_rules WHERE auth_method <> 'scram-sha-256'").Scan(&trustRules))
	require.Zero(t, trustRules, "every rule asks for the password")
	// The password is stored as our cheap verifier, and it works: this
	// connection and the next one logged in with it.
	var verifier string
	require.NoError(t, conn.QueryRow(ctx, "SELECT rolpassword FROM pg_authid WHERE rolname = 'postgres'").Scan(&verifier))
	require.Regexp(t, `^SCRAM-SHA-256\$16:[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}:[A-Za-z0-9+/=]{44}$`, verifier)
	again, err := pgx.Connect(ctx, c.DSN("postgres"))
	require.NoError(t, err)
	again.Close(ctx)
	conn.Close(ctx)
	trusts, err := c.TrustsConnections()
	require.NoError(t, err)
	require.False(t, trusts)

	u, err := url.Parse(c.DSN("postgres"))
	require.NoError(t, err)
	for _, user := range []*url.Userinfo{url.User("postgres"), url.UserPassword("postgres", "wrong"), url.User("nobody")} {
		u.User = user
		_, err := pgx.Connect(ctx, u.String())
		var pgErr *pgconn.PgError
		require.True(t, errors.As(err, &pgErr), "%s: %v", user, err)
		require.Equal(t, "28P01", pgErr.Code, "%s: %v", user, err)
	}
}

func TestGeneratePassword(t *testing.T) {
	t.Parallel()
	a, err := GeneratePassword()
	require.NoError(t, err)
	b, err := GeneratePassword()
	require.NoError(t, err)
	require.Len(t, a, 32)
	require.NotEqual(t, a, b)
}

// TestStartOfAFullServerSaysSo: a running cluster whose max_connections
// other clients have all taken. Starting it again (intel reuses the
// server running on its data directory) waited the whole start timeout
// (the CLI's 15 s connect timeout) for a server that was up, then said
// "postgres did not accept connections on port N within 1m0s". It now
// fails at once with ErrServerFull.
func TestStartOfAFullServerSaysSo(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	root, err := os.MkdirTemp("", "pgcluster-test-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(root) })
	c, err := New(Options{DataDir: filepath.Join(root, "data"), StartTimeout: 4 * time.Second,
		Settings: map[string]string{"fsync": "off", "max_connections": "5", "superuser_reserved_connections": "1"}})
	require.NoError(t, err)
	require.NoError(t, c.GiveTo(root))
	require.NoError(t, c.Init(ctx))
	require.NoError(t, c.StartChild(ctx))
	t.Cleanup(func() { _ = c.StopChild() })
	for {
		conn, err := pgx.Connect(ctx, c.DSN("postgres"))
		if err != nil {
			var pgErr *pgconn.PgError
			require.True(t, errors.As(err, &pgErr), "%v", err)
			require.Equal(t, "53300", pgErr.Code, "%v", err)
			break
		}
		t.Cleanup(func() { conn.Close(context.Background()) })
	}
	start := time.Now()
	err = c.StartDaemon(ctx) // the server running on the data directory
	require.ErrorIs(t, err, ErrServerFull)
	// Waiting would take StartTimeout (60 s); one refused connection takes
	// well under a second, seconds on a loaded machine.
	require.Less(t, time.Since(start), 20*time.Second, "no wait for a server that is up")
}
