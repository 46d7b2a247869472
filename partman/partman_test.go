package partman_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
)

func TestMain(m *testing.M) {
	// Tests that pass no Logger log through the default one: only warnings.
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	pgtest.Main(m)
}

// day returns midnight UTC of a fixed calendar day.
func day(y int, m time.Month, d int) time.Time {
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// fixedNow is an Options.Now that always returns t.
func fixedNow(t time.Time) func() time.Time {
	return func() time.Time { return t }
}

// poolWith opens a pool on dsn with up to maxConns connections whose
// sessions run with the given TimeZone ("" leaves the server's), closed when
// the test ends.
func poolWith(t *testing.T, dsn string, maxConns int32, timeZone string) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(dsn)
	require.NoError(t, err)
	cfg.MaxConns = maxConns
	if timeZone != "" {
		cfg.ConnConfig.RuntimeParams["timezone"] = timeZone
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

const insertEdge = `INSERT INTO telemetry_edges (src_id, dst_id, relation, agent_id, observed_at)
VALUES (gen_random_uuid(), gen_random_uuid(), 'connects-to', 'agent-1', $1)`

// partitionOf returns the table (tableoid::regclass) holding the rows of
// telemetry_edges observed at exactly at; it fails unless there is exactly one.
func partitionOf(t *testing.T, pool *pgxpool.Pool, at any) string {
	t.Helper()
	var names []string
	rows, err := pool.Query(context.Background(),
		`SELECT tableoid::regclass::text FROM telemetry_edges WHERE observed_at = $1`, at)
	require.NoError(t, err)
	for rows.Next() {
		var n string
		require.NoError(t, rows.Scan(&n))
		names = append(names, n)
	}
	require.NoError(t, rows.Err())
	require.Len(t, names, 1, "rows observed at %v", at)
	return names[0]
}

// children returns the names of parent's partitions from the catalog, the
// default one included, sorted.
func children(t *testing.T, pool *pgxpool.Pool, parent string) []string {
	t.Helper()
	var names []string
	err := pool.QueryRow(context.Background(), `
		SELECT coalesce(array_agg(c.relname::text ORDER BY c.relname), '{}')
		FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = $1::text::regclass`, parent).Scan(&names)
	require.NoError(t, err)
	return names
}

// count runs a count(*) query.
func count(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	require.NoError(t, pool.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}

// logBuffer is a concurrency-safe sink for a text slog.Logger.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testLogger returns a logger writing to a buffer the test can read.
func testLogger() (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}
