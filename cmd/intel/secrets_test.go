package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/localdb"
	"github.com/ransomeye/intel/internal/pgtest"
)

const secret = "hunter2-s3cret"

// TestHelpHidesThePassword: with DATABASE_URL carrying a password, the help
// shows the flag's default with the password masked.
func TestHelpHidesThePassword(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://intel:"+secret+"@db.example:5432/intel?sslmode=disable")
	for _, args := range [][]string{{"--help"}, {"migrate", "up", "--help"}, {"ingest", "stix", "--help"}} {
		stdout, stderr, code := runCLI(t, args...)
		require.Equal(t, exitOK, code, stderr)
		require.NotContains(t, stdout+stderr, secret, "intel %v", args)
		require.Contains(t, stdout, "postgres://intel:xxxxx@db.example:5432/intel", "intel %v", args)
	}

	// A password in DATABASE_URL (not on the command line) draws no
	// warning, and the failed login does not print it.
	t.Setenv("DATABASE_URL", withPassword(t, pgtest.DSN(t), secret))
	stdout, stderr, code := runCLI(t, "migrate", "status")
	require.Equal(t, exitFailure, code, stderr)
	require.NotContains(t, stdout+stderr, secret)
	require.Contains(t, stderr, "password authentication failed")
	require.NotContains(t, stderr, "--database-url holds a password")
}

// withPassword returns dsn with its password replaced by password.
func withPassword(t *testing.T, dsn, password string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	u.User = url.UserPassword(u.User.Username(), password)
	return u.String()
}

// TestPasswordInFlag: a password in --database-url draws one warning, and no
// error of a failed connection (wrong password, unreachable server, a URL
// that does not parse) prints the password.
func TestPasswordInFlag(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	for _, tc := range []struct {
		name string
		url  string
		code int
		want string
	}{
		{"wrong password", withPassword(t, dsn, secret), exitFailure, "password authentication failed"},
		{"unreachable", "postgres://u:" + secret + "@127.0.0.1:1/x?connect_timeout=2", exitFailure, "unreachable"},
		{"bad port", "postgres://u:" + secret + "@127.0.0.1:notaport/x", exitFailure, "invalid port"},
		{"keyword/value", "host=127.0.0.1 port=notaport user=u password=" + secret, exitFailure, "invalid port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			stdout, stderr, code := runCLI(t, "--database-url="+tc.url, "--connect-timeout=5s", "migrate", "status")
			require.Equal(t, tc.code, code, "stdout: %s\nstderr: %s", stdout, stderr)
			require.NotContains(t, stdout+stderr, secret)
			require.Contains(t, stderr, tc.want)
			require.Equal(t, 1, strings.Count(stderr, "--database-url holds a password"), stderr)
			require.Contains(t, stderr, "PGPASSWORD, ~/.pgpass or a PGSERVICE entry")
		})
	}

	// The right password works, still with the warning.
	_, stderr, code := runCLI(t, "--database-url="+dsn, "migrate", "status")
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stderr, "--database-url holds a password")
}

// TestConnectErrorsAreRedacted: whatever a driver error quotes, the error
// the CLI prints has the password masked and keeps its cause.
func TestConnectErrorsAreRedacted(t *testing.T) {
	t.Parallel()
	for _, cause := range []error{syscall.ECONNREFUSED, context.DeadlineExceeded, fmt.Errorf("server said no")} {
		err := explainConnectError(fmt.Errorf("connect to postgres://u:%s@db/x (host=db password=%s): %w", secret, secret, cause), time.Second)
		require.NotContains(t, err.Error(), secret)
		require.ErrorIs(t, err, cause)
	}
}

// TestLocalHelpStatesTheStateDirRule: `intel local --help` says where the
// state directory is in the words localdb.StateDir follows (and the README
// uses, see localdb's TestReadmeStatesTheStateDirRule), for root and others.
func TestLocalHelpStatesTheStateDirRule(t *testing.T) {
	t.Parallel()
	stdout := runOK(t, "local", "--help")
	require.Contains(t, strings.Join(strings.Fields(stdout), " "), localdb.StateDirRule)
}

// TestOpenPassfileIsWarnedOf: a PGPASSFILE (or the URL's passfile) that
// others may read. psql ignores it with `WARNING: password file … has group
// or world access; permissions should be u=rw (0600) or less`; intel (pgx)
// read it and connected without a word. It now says so at WARN, naming the
// file and its mode; a file of mode 0600 draws nothing.
func TestOpenPassfileIsWarnedOf(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pass := filepath.Join(dir, "pgpass")
	require.NoError(t, os.WriteFile(pass, []byte("127.0.0.1:1:*:u:secret\n"), 0o644))
	require.NoError(t, os.Chmod(pass, 0o644))
	for _, dsn := range []string{"postgres://u@127.0.0.1:1/x?passfile=" + pass, "host=127.0.0.1 port=1 user=u passfile=" + pass} {
		_, stderr, _ := runCLI(t, "--database-url="+dsn, "--connect-timeout=1s", "version")
		require.Contains(t, stderr, "the password file has group or world access", dsn)
		require.Contains(t, stderr, "passfile="+pass)
		require.Contains(t, stderr, "mode=0644")
	}
	require.NoError(t, os.Chmod(pass, 0o600))
	_, stderr, _ := runCLI(t, "--database-url=postgres://u@127.0.0.1:1/x?passfile="+pass, "--connect-timeout=1s", "version")
	require.NotContains(t, stderr, "password file")
}

// TestOpenPassfileOfAServiceIsWarnedOf: a pg_service.conf entry naming a
// password file (passfile=) is read by pgx as libpq reads it, and that
// file, not PGPASSFILE or ~/.pgpass, gives the password. Before, the
// permission check looked only at the URL's passfile, PGPASSFILE and
// ~/.pgpass, so a service's passfile of mode 0644 drew no warning.
func TestOpenPassfileOfAServiceIsWarnedOf(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pass := filepath.Join(dir, "svc-pgpass")
	require.NoError(t, os.WriteFile(pass, []byte("127.0.0.1:1:*:u:secret\n"), 0o600))
	require.NoError(t, os.Chmod(pass, 0o644))
	services := filepath.Join(dir, "pg_service.conf")
	require.NoError(t, os.WriteFile(services, []byte("[intel]\nhost=127.0.0.1\nport=1\nuser=u\ndbname=x\npassfile="+pass+"\n"), 0o600))
	for _, dsn := range []string{"postgres:///?service=intel&servicefile=" + services, "service=intel servicefile=" + services} {
		_, stderr, _ := runCLI(t, "--database-url="+dsn, "--connect-timeout=1s", "version")
		require.Contains(t, stderr, "the password file has group or world access", dsn)
		require.Contains(t, stderr, "passfile="+pass)
	}
	// The URL's own passfile wins over the service's, as in pgx and libpq.
	own := filepath.Join(dir, "own-pgpass")
	require.NoError(t, os.WriteFile(own, []byte("127.0.0.1:1:*:u:secret\n"), 0o600))
	_, stderr, _ := runCLI(t, "--database-url=postgres:///?service=intel&servicefile="+services+"&passfile="+own, "--connect-timeout=1s", "version")
	require.NotContains(t, stderr, "password file")
	require.NoError(t, os.Chmod(pass, 0o600))
	_, stderr, _ = runCLI(t, "--database-url=service=intel servicefile="+services, "--connect-timeout=1s", "version")
	require.NotContains(t, stderr, "password file")
}
