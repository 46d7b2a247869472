package store_test

import (
	"context"
	"database/sql"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver for goose
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/db/migrations"
	"github.com/ransomeye/intel/db/pguuid"
	"github.com/ransomeye/intel/internal/pgcluster"
	"github.com/ransomeye/intel/store"
)

// TestLongTelemetryServerRestart is row 9's server restart, for real: a
// dedicated cluster is stopped (fast shutdown: 57P01 to every session) and
// started again while a checkpointed telemetry load runs. The load rides
// the restart out on its retries and ends with exactly the rows of a clean
// load. It needs INTEL_LONG=1 (it makes a cluster of its own).
func TestLongTelemetryServerRestart(t *testing.T) {
	if os.Getenv("INTEL_LONG") == "" {
		t.Skip("INTEL_LONG=1 runs it")
	}
	ctx := context.Background()
	c, pool := migratedCluster(t, 0)
	var logs lockedBuffer
	st := store.NewStore(pool, store.WithCopyChunk(2000), store.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))

	const n = 100_000
	at := time.Now().UTC().Add(-time.Hour)
	in := store.TelemetryInput{Name: "feed:edr", ContentHash: "restart"}
	done := make(chan error, 1)
	var stats store.TelemetryStats
	go func() {
		var err error
		stats, err = st.Checkpointed(in).AppendTelemetry(ctx, numbered(n, at, true))
		done <- err
	}()
	for {
		var edges int64
		_ = pool.QueryRow(ctx, "SELECT coalesce(max(edges), 0) FROM telemetry_checkpoints").Scan(&edges)
		if edges >= n/4 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.NoError(t, c.StopChild())
	time.Sleep(time.Second)
	require.NoError(t, c.StartChild(ctx))
	require.NoError(t, <-done, "logs:\n%s", logs.String())
	require.Contains(t, logs.String(), "SQLSTATE 57P01")
	require.EqualValues(t, wantEdges(n), stats.Edges)
	var rows, distinct int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*), count(DISTINCT dst_id) FROM telemetry_edges").Scan(&rows, &distinct))
	require.Equal(t, wantEdges(n), rows, "no edge lost, none doubled")
	require.Equal(t, rows, distinct)
}

// migratedCluster starts a cluster of the test's own (fsync off), which
// the test may stop and start, migrates its postgres database and returns
// the cluster and a pool on it of at most maxConns connections (0: pgx's
// default).
func migratedCluster(t *testing.T, maxConns int32) (*pgcluster.Cluster, *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "pgrestart-") // not t.TempDir: the server's user must reach it
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	port, err := pgcluster.FreePort()
	require.NoError(t, err)
	c, err := pgcluster.New(pgcluster.Options{DataDir: filepath.Join(dir, "data"), LogFile: filepath.Join(dir, "server.log"), Port: port,
		Settings: map[string]string{"fsync": "off"}})
	require.NoError(t, err)
	require.NoError(t, c.GiveTo(dir))
	require.NoError(t, c.Init(ctx))
	require.NoError(t, c.StartChild(ctx))
	t.Cleanup(func() { _ = c.StopChild() })
	dsn := c.DSN("postgres")
	db, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	p, err := migrations.NewProvider(db)
	require.NoError(t, err)
	_, err = p.Up(ctx)
	require.NoError(t, err)
	require.NoError(t, db.Close())

	cfg, err := pgxpool.ParseConfig(dsn)
	require.NoError(t, err)
	cfg.AfterConnect = pguuid.AfterConnect(nil)
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return c, pool
}
