package tuning_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/tuning"
)

func largePlan(t *testing.T) tuning.Plan {
	t.Helper()
	plan, err := tuning.PlanFor(tuning.Resources{Cores: 48, MemoryBytes: 196 * tuning.GiB})
	require.NoError(t, err)
	require.Equal(t, int32(100), plan.MaxConns)
	return plan
}

func TestConfigurePoolOffline(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		dsn     string
		wantMax int32
		wantMin int32
	}{
		{name: "URL pool_max_conns wins over the plan",
			dsn:     "postgres://intel@db.example:5432/intel?sslmode=disable&pool_max_conns=7",
			wantMax: 7, wantMin: 1},
		{name: "keyword/value pool_max_conns wins over the plan",
			dsn:     "host=db.example user=intel dbname=intel pool_max_conns=7 sslmode=disable",
			wantMax: 7, wantMin: 1},
		{name: "pool_min_conns is kept",
			dsn:     "postgres://intel@db.example/intel?pool_max_conns=7&pool_min_conns=3",
			wantMax: 7, wantMin: 3},
		{name: "pool_min_conns above the plan's max is lowered",
			dsn:     "postgres://intel@db.example/intel?pool_min_conns=300",
			wantMax: 100, wantMin: 100},
		{name: "no pool_max_conns uses the plan",
			dsn:     "postgres://intel@db.example/intel",
			wantMax: 100, wantMin: 25},
		{name: "pool_max_conns inside a quoted password is not the operator's",
			dsn:     "host=db.example user=intel password='pool_max_conns=9' dbname=intel",
			wantMax: 100, wantMin: 25},
		{name: "pool_max_conns inside a URL password is not the operator's",
			dsn:     "postgres://intel:pool_max_conns%3D9@db.example/intel",
			wantMax: 100, wantMin: 25},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			cfg, err := tuning.ConfigurePool(context.Background(), tt.dsn,
				tuning.WithPlan(largePlan(t)), tuning.WithoutServerCheck())
			require.NoError(t, err)
			require.Equal(t, tt.wantMax, cfg.MaxConns)
			require.Equal(t, tt.wantMin, cfg.MinConns)
			require.Equal(t, "db.example", cfg.ConnConfig.Host)
			require.NotContains(t, cfg.ConnConfig.RuntimeParams, "pool_max_conns")
		})
	}
}

func TestConfigurePoolDetectsWithoutPlan(t *testing.T) {
	t.Parallel()

	res, err := tuning.Detect()
	require.NoError(t, err)
	plan, err := tuning.PlanFor(res)
	require.NoError(t, err)

	cfg, err := tuning.ConfigurePool(context.Background(), "postgres://intel@db.example/intel",
		tuning.WithoutServerCheck())
	require.NoError(t, err)
	require.Equal(t, plan.MaxConns, cfg.MaxConns)
	require.Equal(t, plan.MinConns, cfg.MinConns)
}

func TestConfigurePoolInvalidDSN(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		dsn     string
		mention string
	}{
		{name: "bad URL", dsn: "postgres://intel:secret@db.example:notaport/intel", mention: "invalid port"},
		{name: "bad keyword/value", dsn: "host=db.example user", mention: "parse database url"},
		{name: "unterminated quote", dsn: "host=db.example password='oops", mention: "parse database url"},
		{name: "pool_max_conns not a number", dsn: "postgres://db.example/intel?pool_max_conns=lots", mention: "pool_max_conns"},
		{name: "pool_max_conns zero", dsn: "postgres://db.example/intel?pool_max_conns=0", mention: "pool_max_conns"},
		{name: "unknown sslmode", dsn: "postgres://db.example/intel?sslmode=sometimes", mention: "sslmode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			var cfgErr error
			require.NotPanics(t, func() {
				_, cfgErr = tuning.ConfigurePool(context.Background(), tt.dsn, tuning.WithoutServerCheck())
			})
			require.ErrorContains(t, cfgErr, "parse database url: ")
			require.ErrorContains(t, cfgErr, tt.mention)
			require.NotContains(t, cfgErr.Error(), "secret", "the password must not leak into the error")
		})
	}
}

func TestConfigurePoolUnreachableServer(t *testing.T) {
	t.Parallel()

	start := time.Now()
	_, err := tuning.ConfigurePool(context.Background(),
		"postgres://intel@127.0.0.1:1/intel?sslmode=disable&pool_max_conns=7",
		tuning.WithServerCheckTimeout(2*time.Second))
	require.ErrorContains(t, err, "read the server's connection limits: ")
	require.Less(t, time.Since(start), 10*time.Second)
}

func TestConfigurePoolRejectsEmptyPlan(t *testing.T) {
	t.Parallel()

	_, err := tuning.ConfigurePool(context.Background(), "postgres://intel@db.example/intel",
		tuning.WithPlan(tuning.Plan{}), tuning.WithoutServerCheck())
	require.ErrorContains(t, err, "size pool: plan has MaxConns 0")
}

func TestConfigurePoolTurnsJITOffUnlessTheDSNSetsIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg, err := tuning.ConfigurePool(ctx, "postgres://intel@db.example/intel", tuning.WithoutServerCheck(),
		tuning.WithPlan(tuning.Plan{Class: tuning.Small, MaxConns: 4, MinConns: 1, BatchSize: 500, ParserWorkers: 1}))
	require.NoError(t, err)
	require.Equal(t, "off", cfg.ConnConfig.RuntimeParams["jit"])

	cfg, err = tuning.ConfigurePool(ctx, "postgres://intel@db.example/intel?jit=on", tuning.WithoutServerCheck(),
		tuning.WithPlan(tuning.Plan{Class: tuning.Small, MaxConns: 4, MinConns: 1, BatchSize: 500, ParserWorkers: 1}))
	require.NoError(t, err)
	require.Equal(t, "on", cfg.ConnConfig.RuntimeParams["jit"], "the operator's choice wins")
}
