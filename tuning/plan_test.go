package tuning_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/tuning"
)

func TestPlanFor(t *testing.T) {
	t.Parallel()

	const gib = tuning.GiB
	tests := []struct {
		name    string
		res     tuning.Resources
		class   tuning.Class
		maxLo   int32 // MaxConns must be in [maxLo, maxHi]
		maxHi   int32
		batch   int
		workers int
	}{
		{name: "48 cores 196 GiB is large", res: tuning.Resources{Cores: 48, MemoryBytes: 196 * gib},
			class: tuning.Large, maxLo: 100, maxHi: 400, batch: 5000, workers: 4},
		{name: "2 cores 4 GiB is small", res: tuning.Resources{Cores: 2, MemoryBytes: 4 * gib},
			class: tuning.Small, maxLo: 1, maxHi: 49, batch: 500, workers: 1},
		{name: "1 core 512 MiB is small", res: tuning.Resources{Cores: 1, MemoryBytes: 512 * tuning.MiB},
			class: tuning.Small, maxLo: 1, maxHi: 49, batch: 500, workers: 1},
		{name: "16 cores 64 GiB is medium", res: tuning.Resources{Cores: 16, MemoryBytes: 64 * gib},
			class: tuning.Medium, maxLo: 36, maxHi: 36, batch: 2000, workers: 2},
		{name: "128 cores 1 TiB is large and capped at 400", res: tuning.Resources{Cores: 128, MemoryBytes: tuning.TiB},
			class: tuning.Large, maxLo: 260, maxHi: 260, batch: 5000, workers: 4},
		{name: "1024 cores 4 TiB stops at 400", res: tuning.Resources{Cores: 1024, MemoryBytes: 4 * tuning.TiB},
			class: tuning.Large, maxLo: 400, maxHi: 400, batch: 5000, workers: 4},

		// The 16 GiB boundary: below is small (cap 50), 16 GiB itself is medium.
		{name: "64 cores just below 16 GiB is small and capped at 50", res: tuning.Resources{Cores: 64, MemoryBytes: 16*gib - 1},
			class: tuning.Small, maxLo: 50, maxHi: 50, batch: 500, workers: 4},
		{name: "64 cores at exactly 16 GiB is medium", res: tuning.Resources{Cores: 64, MemoryBytes: 16 * gib},
			class: tuning.Medium, maxLo: 132, maxHi: 132, batch: 2000, workers: 4},
		{name: "64 cores just above 16 GiB is medium", res: tuning.Resources{Cores: 64, MemoryBytes: 16*gib + 1},
			class: tuning.Medium, maxLo: 132, maxHi: 132, batch: 2000, workers: 4},

		// The 100 GiB boundary: 100 GiB itself is still medium (cap 200), above is large.
		{name: "200 cores just below 100 GiB is medium and capped at 200", res: tuning.Resources{Cores: 200, MemoryBytes: 100*gib - 1},
			class: tuning.Medium, maxLo: 200, maxHi: 200, batch: 2000, workers: 4},
		{name: "200 cores at exactly 100 GiB is medium and capped at 200", res: tuning.Resources{Cores: 200, MemoryBytes: 100 * gib},
			class: tuning.Medium, maxLo: 200, maxHi: 200, batch: 2000, workers: 4},
		{name: "200 cores just above 100 GiB is large and capped at 400", res: tuning.Resources{Cores: 200, MemoryBytes: 100*gib + 1},
			class: tuning.Large, maxLo: 400, maxHi: 400, batch: 5000, workers: 4},

		// The core boundaries: 4 cores is small, 5 medium; 16 cores medium, 17 large.
		{name: "4 cores 64 GiB is small", res: tuning.Resources{Cores: 4, MemoryBytes: 64 * gib},
			class: tuning.Small, maxLo: 12, maxHi: 12, batch: 500, workers: 1},
		{name: "5 cores 64 GiB is medium", res: tuning.Resources{Cores: 5, MemoryBytes: 64 * gib},
			class: tuning.Medium, maxLo: 14, maxHi: 14, batch: 2000, workers: 2},
		{name: "16 cores 196 GiB is medium", res: tuning.Resources{Cores: 16, MemoryBytes: 196 * gib},
			class: tuning.Medium, maxLo: 36, maxHi: 36, batch: 2000, workers: 2},
		{name: "17 cores 196 GiB is large", res: tuning.Resources{Cores: 17, MemoryBytes: 196 * gib},
			class: tuning.Large, maxLo: 38, maxHi: 38, batch: 5000, workers: 4},

		{name: "spindle factor is configurable", res: tuning.Resources{Cores: 48, MemoryBytes: 196 * gib, SpindleFactor: 10},
			class: tuning.Large, maxLo: 106, maxHi: 106, batch: 5000, workers: 4},
		{name: "huge spindle factor stops at the cap", res: tuning.Resources{Cores: 2, MemoryBytes: 4 * gib, SpindleFactor: 1 << 40},
			class: tuning.Small, maxLo: 50, maxHi: 50, batch: 500, workers: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			plan, err := tuning.PlanFor(tt.res)
			require.NoError(t, err)
			require.Equal(t, tt.class, plan.Class)
			require.GreaterOrEqual(t, plan.MaxConns, tt.maxLo)
			require.LessOrEqual(t, plan.MaxConns, tt.maxHi)
			require.LessOrEqual(t, plan.MaxConns, plan.PoolCap)
			require.Equal(t, tt.batch, plan.BatchSize)
			require.Equal(t, tt.workers, plan.ParserWorkers)
			require.GreaterOrEqual(t, plan.MinConns, int32(1))
			require.LessOrEqual(t, plan.MinConns, plan.MaxConns)
			require.Equal(t, max(1, plan.MaxConns/4), plan.MinConns)
		})
	}
}

func TestPlanForFormula(t *testing.T) {
	t.Parallel()

	plan, err := tuning.PlanFor(tuning.Resources{Cores: 48, MemoryBytes: 196 * tuning.GiB})
	require.NoError(t, err)
	require.Equal(t, tuning.DefaultSpindleFactor, plan.SpindleFactor)
	require.Equal(t, int32(48*2+tuning.DefaultSpindleFactor), plan.MaxConns)
	require.Equal(t, int32(25), plan.MinConns)
	require.Equal(t, int32(400), plan.PoolCap)
}

func TestPlanForRejectsUnknownValues(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		res  tuning.Resources
		want error
	}{
		{name: "zero cores", res: tuning.Resources{Cores: 0, MemoryBytes: 4 * tuning.GiB}, want: tuning.ErrUnknownCores},
		{name: "negative cores", res: tuning.Resources{Cores: -1, MemoryBytes: 4 * tuning.GiB}, want: tuning.ErrUnknownCores},
		{name: "zero memory", res: tuning.Resources{Cores: 2}, want: tuning.ErrUnknownMemory},
		{name: "nothing known", res: tuning.Resources{}, want: tuning.ErrUnknownCores},
		{name: "negative spindle factor", res: tuning.Resources{Cores: 2, MemoryBytes: tuning.GiB, SpindleFactor: -1},
			want: tuning.ErrInvalidSpindleFactor},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			plan, err := tuning.PlanFor(tt.res)
			require.ErrorIs(t, err, tt.want)
			require.Zero(t, plan)
		})
	}
}

func TestPlanForIsPure(t *testing.T) {
	t.Parallel()

	res := tuning.Resources{Cores: 12, MemoryBytes: 32 * tuning.GiB, Source: tuning.Source{CPU: tuning.SourceManual}}
	first, err := tuning.PlanFor(res)
	require.NoError(t, err)
	res.Source = tuning.Source{}
	second, err := tuning.PlanFor(res)
	require.NoError(t, err)
	require.Equal(t, first, second)
}

func TestClassText(t *testing.T) {
	t.Parallel()

	for _, c := range []tuning.Class{tuning.Small, tuning.Medium, tuning.Large} {
		b, err := json.Marshal(c)
		require.NoError(t, err)
		var back tuning.Class
		require.NoError(t, json.Unmarshal(b, &back))
		require.Equal(t, c, back)
	}
	b, err := json.Marshal(tuning.Large)
	require.NoError(t, err)
	require.JSONEq(t, `"large"`, string(b))

	var c tuning.Class
	require.Error(t, c.UnmarshalText([]byte("huge")))
	_, err = tuning.Class(0).MarshalText()
	require.Error(t, err)
	require.Equal(t, "Class(0)", tuning.Class(0).String())
}
