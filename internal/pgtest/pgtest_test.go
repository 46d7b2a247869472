package pgtest

import (
	"context"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/peterldowns/pgtestdb"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { Main(m) }

// TestTestRoleHasARunPassword: the role that owns the test databases does
// not have pgtestdb's well-known password, which would let any user of the
// machine into them.
func TestTestRoleHasARunPassword(t *testing.T) {
	t.Parallel()
	if os.Getenv("DATABASE_URL") != "" {
		t.Skip("DATABASE_URL is set: its server and roles are the caller's")
	}
	dsn := DSN(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	conn.Close(ctx)

	u, err := url.Parse(dsn)
	require.NoError(t, err)
	require.Equal(t, pgtestdb.DefaultRoleUsername, u.User.Username())
	u.User = url.UserPassword(pgtestdb.DefaultRoleUsername, pgtestdb.DefaultRolePassword)
	_, err = pgx.Connect(ctx, u.String())
	require.ErrorContains(t, err, "password authentication failed")
}
