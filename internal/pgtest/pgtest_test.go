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

// TestCitusDatabase: on Citus (INTEL_TEST_CITUS=1), a test database is
// distributed over both workers, and writes reach the shards.
func TestCitusDatabase(t *testing.T) {
	if !CitusMode() {
		t.Skip("not on Citus (" + CitusEnv + "=1)")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, DSN(t))
	require.NoError(t, err)
	defer conn.Close(ctx)
	var workers, shards int
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(DISTINCT nodeport), count(*) FROM citus_shards WHERE table_name = 'telemetry_edges'::regclass`).Scan(&workers, &shards))
	require.Equal(t, 2, workers)
	require.Positive(t, shards)
	_, err = conn.Exec(ctx, `INSERT INTO telemetry_edges (src_id, dst_id, relation, agent_id, observed_at) VALUES (gen_random_uuid(), gen_random_uuid(), 'wrote', 'a1', now())`)
	require.NoError(t, err)
}
