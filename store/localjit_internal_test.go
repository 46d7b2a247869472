package store

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
)

// TestLocalJITOffIsByTransaction: with WithLocalJITOff, db/gen's
// statements run with jit off although the session's jit is on (as behind
// a transaction pooler that refused the startup parameter), and the
// session's own setting is untouched after them (a session SET would reach
// the pooler's other clients); reads keep pgx's answers (rows, no rows, a
// statement's error), writes commit, a failed transaction's writes do not.
func TestLocalJITOffIsByTransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(pgtest.DSN(t))
	require.NoError(t, err)
	cfg.ConnConfig.RuntimeParams["jit"] = "on"
	cfg.MaxConns = 1 // one session: what a statement set there, the next sees
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	db := jitOffDB{pool}

	var jit string
	require.NoError(t, db.QueryRow(ctx, "SELECT current_setting('jit')").Scan(&jit))
	require.Equal(t, "off", jit, "the statement's transaction")
	require.NoError(t, pool.QueryRow(ctx, "SELECT current_setting('jit')").Scan(&jit))
	require.Equal(t, "on", jit, "the session's, after it")

	rows, err := db.Query(ctx, "SELECT current_setting('jit') FROM generate_series(1, 3)")
	require.NoError(t, err)
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, []string{"off", "off", "off"}, got)

	require.ErrorIs(t, db.QueryRow(ctx, "SELECT 1 WHERE false").Scan(new(int)), pgx.ErrNoRows)
	require.Error(t, db.QueryRow(ctx, "SELECT 1/0").Scan(new(int)))

	_, err = db.Exec(ctx, "CREATE TEMP TABLE jit_probe (v text)")
	require.NoError(t, err)
	_, err = db.Exec(ctx, "INSERT INTO jit_probe SELECT current_setting('jit')")
	require.NoError(t, err)
	_, err = db.Exec(ctx, "INSERT INTO jit_probe SELECT 1/0")
	require.Error(t, err)
	require.NoError(t, pool.QueryRow(ctx, "SELECT string_agg(v, ',') FROM jit_probe").Scan(&jit))
	require.Equal(t, "off", jit, "the insert committed, with jit off; the failed one did not")
	require.NoError(t, pool.QueryRow(ctx, "SELECT current_setting('jit')").Scan(&jit))
	require.Equal(t, "on", jit)
}
