package main_test

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
)

// TestConnectionRefusalsSayWhy: a wrong password, a database that does
// not exist and sslmode=require against a server without TLS each end
// every command with exit 1 and a first clause that says which it is and
// what to do. Before, the wrong password and the TLS refusal began with
// "read the server's connection limits: failed to connect to …", the
// cause only at the end of pgx's text.
func TestConnectionRefusalsSayWhy(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	with := func(edit func(*url.URL)) string {
		c := *u
		edit(&c)
		return c.String()
	}
	for _, tc := range []struct {
		name, url, want string
	}{
		{"wrong password", with(func(c *url.URL) { c.User = url.UserPassword(u.User.Username(), "not-the-password") }),
			`intel: the server refused the login of role "` + u.User.Username() + `": a wrong password, or no such role`},
		{"no such database", with(func(c *url.URL) { c.Path = "/no_such_database" }),
			"intel: database does not exist: "},
		{"sslmode=require without TLS", with(func(c *url.URL) {
			q := c.Query()
			q.Set("sslmode", "require")
			c.RawQuery = q.Encode()
		}), "intel: the server does not accept TLS, and the URL's sslmode (require, verify-ca or verify-full) takes nothing else"},
	} {
		for _, args := range [][]string{{"search", "x"}, {"migrate", "up"}, {"ingest", "telemetry", "-"}} {
			r := intel(t, []string{"DATABASE_URL=" + tc.url}, "", args...)
			require.Equal(t, 1, r.code, "%s: intel %v: %s", tc.name, args, r.stderr)
			require.Contains(t, r.stderr, tc.want, "%s: intel %v", tc.name, args)
			require.NotContains(t, r.stderr, "not-the-password", "the password is masked")
		}
	}
}
