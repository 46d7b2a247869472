package tuning_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgcluster"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/tuning"
)

// serverBundle is a dedicated server started with max_connections = 20, and
// what it leaves an ordinary role.
type serverBundle struct {
	superDSN string // the bootstrap superuser
	dsn      string // role "intel", LOGIN, not a superuser
	free     int32  // max_connections - reservations - DefaultServerHeadroom
}

func startLimitedServer(t *testing.T) serverBundle {
	t.Helper()

	// Fails the test (never skips) when PostgreSQL cannot start.
	superDSN := pgtest.StartServer(t, map[string]string{"max_connections": "20"})

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, superDSN)
	require.NoError(t, err)
	defer conn.Close(ctx)

	var maxConns, superuserReserved, reserved int
	require.NoError(t, conn.QueryRow(ctx, `SELECT
		current_setting('max_connections')::int,
		current_setting('superuser_reserved_connections')::int,
		coalesce(current_setting('reserved_connections', true), '0')::int`,
	).Scan(&maxConns, &superuserReserved, &reserved))
	require.Equal(t, 20, maxConns)
	// Test servers take passwords only (internal/pgcluster).
	password, err := pgcluster.GeneratePassword()
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `CREATE ROLE intel LOGIN NOSUPERUSER PASSWORD '`+password+`'`)
	require.NoError(t, err)

	u, err := url.Parse(superDSN)
	require.NoError(t, err)
	u.User = url.UserPassword("intel", password)
	return serverBundle{
		superDSN: superDSN,
		dsn:      u.String(),
		free:     int32(maxConns - superuserReserved - reserved - tuning.DefaultServerHeadroom),
	}
}

// withParam returns the URL dsn with one more query parameter.
func withParam(t *testing.T, dsn, key, value string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

// keywordValue returns dsn in keyword/value form, plus extra settings.
func keywordValue(t *testing.T, dsn, extra string) string {
	t.Helper()
	cc, err := pgx.ParseConfig(dsn)
	require.NoError(t, err)
	return fmt.Sprintf("host=%s port=%d user=%s password=%s dbname=%s sslmode=disable %s",
		cc.Host, cc.Port, cc.User, cc.Password, cc.Database, extra)
}

// clampLogs returns the "pool size clamped" records logged to buf.
func clampLogs(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var recs []map[string]any
	dec := json.NewDecoder(buf)
	for dec.More() {
		var rec map[string]any
		require.NoError(t, dec.Decode(&rec))
		if rec["msg"] == "pool size clamped to the server's free connections" {
			recs = append(recs, rec)
		}
	}
	return recs
}

func TestConfigurePoolAgainstServer(t *testing.T) {
	t.Parallel()

	srv := startLimitedServer(t)
	require.Positive(t, srv.free)
	require.Less(t, srv.free, int32(20))

	smallPlan, err := tuning.PlanFor(tuning.Resources{Cores: 2, MemoryBytes: 4 * tuning.GiB})
	require.NoError(t, err)
	require.Less(t, smallPlan.MaxConns, srv.free, "the small plan must fit, or its case proves nothing")

	tests := []struct {
		name      string
		dsn       string
		opts      []tuning.PoolOption
		wantMax   int32
		wantMin   int32
		wantClamp string // "" when no clamp may be logged, else its wanted_by
	}{
		{name: "a plan larger than the server is clamped below max_connections",
			dsn: srv.dsn, opts: []tuning.PoolOption{tuning.WithPlan(largePlan(t))},
			wantMax: srv.free, wantMin: max(1, srv.free/4), wantClamp: "plan"},
		{name: "URL pool_max_conns=7 yields 7",
			dsn: withParam(t, srv.dsn, "pool_max_conns", "7"), opts: []tuning.PoolOption{tuning.WithPlan(largePlan(t))},
			wantMax: 7, wantMin: 1},
		{name: "keyword/value pool_max_conns=7 yields 7",
			dsn: keywordValue(t, srv.dsn, "pool_max_conns=7"), opts: []tuning.PoolOption{tuning.WithPlan(largePlan(t))},
			wantMax: 7, wantMin: 1},
		{name: "an operator's pool_max_conns beyond the server is clamped too",
			dsn: withParam(t, srv.dsn, "pool_max_conns", "50"), opts: nil,
			wantMax: srv.free, wantMin: max(1, srv.free/4), wantClamp: "operator"},
		{name: "an operator's pool_min_conns is lowered to the clamped max",
			dsn:     withParam(t, withParam(t, srv.dsn, "pool_max_conns", "50"), "pool_min_conns", "40"),
			wantMax: srv.free, wantMin: srv.free, wantClamp: "operator"},
		{name: "a plan that fits is left alone",
			dsn: srv.dsn, opts: []tuning.PoolOption{tuning.WithPlan(smallPlan)},
			wantMax: smallPlan.MaxConns, wantMin: smallPlan.MinConns},
		{name: "headroom is configurable",
			dsn: srv.dsn, opts: []tuning.PoolOption{tuning.WithPlan(largePlan(t)), tuning.WithServerHeadroom(0)},
			wantMax: srv.free + tuning.DefaultServerHeadroom, wantMin: max(1, (srv.free+tuning.DefaultServerHeadroom)/4),
			wantClamp: "plan"},
	}
	// Each case holds one connection for a moment; together they stay well
	// within the 20 the server allows.
	t.Run("configure", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()

				var logs bytes.Buffer
				logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
				opts := append([]tuning.PoolOption{tuning.WithLogger(logger)}, tt.opts...)

				cfg, err := tuning.ConfigurePool(context.Background(), tt.dsn, opts...)
				require.NoError(t, err)
				require.Equal(t, tt.wantMax, cfg.MaxConns)
				require.Equal(t, tt.wantMin, cfg.MinConns)
				require.Less(t, cfg.MaxConns, int32(20))

				recs := clampLogs(t, &logs)
				if tt.wantClamp == "" {
					require.Empty(t, recs)
					return
				}
				require.Len(t, recs, 1)
				require.Equal(t, "INFO", recs[0]["level"])
				require.Equal(t, tt.wantClamp, recs[0]["wanted_by"])
				require.EqualValues(t, 20, recs[0]["max_connections"])
				require.EqualValues(t, tt.wantMax, recs[0]["max_conns"])
			})
		}
	})

	// Alone on the server now: a pool clamped for the large plan can open
	// every connection it is allowed at once, as an ordinary role, and the
	// headroom still lets one more client in.
	t.Run("the clamped pool fits on the server", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()

		logger := slog.New(slog.NewTextHandler(t.Output(), nil))
		cfg, err := tuning.ConfigurePool(ctx, srv.dsn, tuning.WithPlan(largePlan(t)), tuning.WithLogger(logger))
		require.NoError(t, err)
		require.Equal(t, srv.free, cfg.MaxConns)
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		require.NoError(t, err)
		defer pool.Close()

		conns := make([]*pgxpool.Conn, 0, cfg.MaxConns)
		defer func() {
			for _, c := range conns {
				c.Release()
			}
		}()
		for range cfg.MaxConns {
			c, err := pool.Acquire(ctx)
			require.NoError(t, err)
			require.NoError(t, c.Ping(ctx))
			conns = append(conns, c)
		}
		require.Equal(t, cfg.MaxConns, pool.Stat().AcquiredConns())

		extra, err := pgx.Connect(ctx, srv.dsn)
		require.NoError(t, err, "the headroom must leave room for one more client")
		require.NoError(t, extra.Close(ctx))
	})
}
