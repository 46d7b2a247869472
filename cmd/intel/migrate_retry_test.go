package main

import (
	"context"
	"fmt"
	"io/fs"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/db/migrations"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// TestMigrateUpSurvivesKilledConnections: the server ends intel migrate
// up's connections (pg_terminate_backend, SQLSTATE 57P01, as a restart or
// a failover does) three times while it migrates an empty database. Each
// goose migration is one transaction, so the one cut rolls back whole and
// migrate up tries again (the store's retry policy, as graph writes) from
// where it stopped: exit 0, the schema at the latest version. Before, the
// first kill failed the command (exit 1, "terminating connection due to
// administrator command").
func TestMigrateUpSurvivesKilledConnections(t *testing.T) {
	t.Parallel()
	dsn := pgtest.EmptyDSN(t)
	admin := pgtest.PoolFor(t, pgtest.AdminDSN(t, dsn))
	ctx, stop := context.WithCancel(context.Background())
	defer stop()

	var kills atomic.Int32
	killed := make(chan struct{})
	go func() { // the terminator
		defer close(killed)
		next := int64(3) // kill when the schema passes versions 3, 13 and 23
		for kills.Load() < 3 && ctx.Err() == nil {
			var v int64
			err := admin.QueryRow(ctx, `SELECT coalesce((SELECT max(version_id) FROM goose_db_version), 0)`).Scan(&v)
			if err != nil || v < next {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			var n int32
			if admin.QueryRow(ctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
				WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'`).Scan(&n) == nil && n > 0 {
				kills.Add(1)
				t.Logf("terminated %d backends at version %d", n, v)
				next = v + 10
			}
		}
	}()

	stdout, stderr, code := runCLI(t, "--database-url="+dsn, "migrate", "up")
	stop()
	<-killed
	require.Equal(t, exitOK, code, "stdout: %s\nstderr: %s", stdout, stderr)
	require.Positive(t, kills.Load(), "the terminator ended the migration's connection")
	require.Contains(t, stderr, "retrying migrate up after a transient failure")
	require.Contains(t, stderr, "SQLSTATE 57P01")
	version := runOK(t, "--database-url="+dsn, "migrate", "version")
	require.Regexp(t, `^\d+\n$`, version, "no migration pending")
	v, err := strconv.Atoi(version[:len(version)-1])
	require.NoError(t, err)
	require.GreaterOrEqual(t, v, 38)
}

// TestMigrationFailuresRetriedOnlyInATransaction: migrate up retries the
// failure of a migration that runs in a transaction (every one so far) and
// not of one under -- +goose NO TRANSACTION, which may have done part of
// its work: store.Permanent keeps its cause visible but not transient.
func TestMigrationFailuresRetriedOnlyInATransaction(t *testing.T) {
	t.Parallel()
	entries, err := fs.ReadDir(migrations.FS, ".")
	require.NoError(t, err)
	require.NotEmpty(t, entries)
	for _, e := range entries {
		require.True(t, inTransaction(e.Name()), "%s runs in a transaction", e.Name())
	}
	require.False(t, inTransaction("99999_missing.sql"))

	killed := &pgconn.PgError{Code: pgerrcode.AdminShutdown}
	require.True(t, store.Transient(killed))
	require.False(t, store.Transient(store.Permanent(fmt.Errorf("migrate: %w", killed))))
	require.ErrorAs(t, store.Permanent(killed), new(*pgconn.PgError))
}
