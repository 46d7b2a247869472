package pgtest

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

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

// TestSweepKeepsTheDirectoryOfALiveRun: another test binary's sweep of
// stale directories removes the directory of a server whose run is over,
// but not that of a server a live run stopped or killed on purpose (a Citus
// worker killed, to be started again on the same data): its owner lock is
// held. Before, any stopped server's directory older than a minute went,
// data and all, whoever still needed it.
func TestSweepKeepsTheDirectoryOfALiveRun(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	dir := func(name string, lock bool) string {
		d := filepath.Join(tmp, name)
		require.NoError(t, os.MkdirAll(filepath.Join(d, "data"), 0o700))
		// The postmaster it names is gone (a pid no process has).
		require.NoError(t, os.WriteFile(filepath.Join(d, "data", "postmaster.pid"), []byte("2147483646\n"), 0o600))
		if lock {
			f, err := lockOwner(d)
			require.NoError(t, err)
			t.Cleanup(func() { _ = f.Close() })
		} else {
			require.NoError(t, os.WriteFile(filepath.Join(d, ownerLock), nil, 0o600))
		}
		old := time.Now().Add(-time.Hour)
		require.NoError(t, os.Chtimes(d, old, old))
		return d
	}
	live, over, older := dir("pgtest-live", true), dir("pgtest-over", false), dir("pgtest-older", false)
	require.NoError(t, os.Remove(filepath.Join(older, ownerLock))) // made before owner locks
	require.NoError(t, os.Chtimes(older, time.Now().Add(-time.Hour), time.Now().Add(-time.Hour)))
	sweepStale(tmp)
	require.DirExists(t, live, "a live run's stopped server keeps its data")
	require.NoDirExists(t, over)
	require.NoDirExists(t, older)
}
