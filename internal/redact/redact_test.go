package redact

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"
)

func TestString(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{"postgres://intel:hunter2@db:5432/intel?sslmode=disable", "postgres://intel:xxxxx@db:5432/intel?sslmode=disable"},
		{"postgresql://u:p%40ss@h/db", "postgresql://u:xxxxx@h/db"},
		{"postgres://u:s3cr/et@h/db", "postgres://u:xxxxx@h/db"},
		{"postgres://u@h/db", "postgres://u@h/db"},
		{"postgres://u:p@ss@h/db", "postgres://u:xxxxx@h/db"},
		{"cannot parse `postgres://u:p@ss@h/db`: bad", "cannot parse `postgres://u:xxxxx@h/db`: bad"},
		{"postgres://h/db?user=u&password=hunter2&sslmode=require", "postgres://h/db?user=u&password=xxxxx&sslmode=require"},
		{"host=db user=u password=hunter2 dbname=x", "host=db user=u password=xxxxx dbname=x"},
		{"host=db password='two words' dbname=x", "host=db password=xxxxx dbname=x"},
		{"host=db password = 'it\\'s' dbname=x", "host=db password = xxxxx dbname=x"},
		{"sslpassword=k3y host=h", "sslpassword=xxxxx host=h"},
		{"PASSWORD=abc", "PASSWORD=xxxxx"},
		{"connect postgres://a:b@h1/x then postgres://c:d@h2/y", "connect postgres://a:xxxxx@h1/x then postgres://c:xxxxx@h2/y"},
		{"no secrets here: user@example.com, a:b", "no secrets here: user@example.com, a:b"},
	}
	for _, c := range cases {
		require.Equal(t, c.want, String(c.in), c.in)
		require.Equal(t, c.want != c.in, HasPassword(c.in), c.in)
	}
}

func TestErrorKeepsTheChain(t *testing.T) {
	t.Parallel()
	base := errors.New("boom")
	err := Error(fmt.Errorf("dial postgres://u:hunter2@h/db: %w", base))
	require.NotContains(t, err.Error(), "hunter2")
	require.Contains(t, err.Error(), "postgres://u:xxxxx@h/db")
	require.ErrorIs(t, err, base)
	require.Same(t, base, Error(base))
	require.NoError(t, Error(nil))
}

// A connection string pgconn cannot parse comes back in its error; the
// redacted text must not hold the password whatever pgconn does.
func TestPgconnErrors(t *testing.T) {
	t.Parallel()
	for _, dsn := range []string{
		"postgres://u:hunter2@h:notaport/db",
		"host=h password=hunter2 port=notaport",
		"postgres://u:hunter2@h/db?sslmode=bogus",
	} {
		_, err := pgconn.ParseConfig(dsn)
		require.Error(t, err, dsn)
		require.NotContains(t, Error(err).Error(), "hunter2", dsn)
	}
}

func TestHandler(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(Handler(slog.NewTextHandler(&buf, nil))).With("dsn", "postgres://u:hunter1@h/db")
	log.Info("connect postgres://u:hunter2@h/db",
		"err", errors.New("password=hunter3 rejected"),
		slog.Group("g", "url", "postgres://u:hunter4@h/db"),
		"n", 3)
	out := buf.String()
	for _, secret := range []string{"hunter1", "hunter2", "hunter3", "hunter4"} {
		require.NotContains(t, out, secret)
	}
	require.Equal(t, 4, strings.Count(out, Mask), out)
	require.Contains(t, out, "n=3")
}
