package tuning_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/tuning"
)

func TestParseBytes(t *testing.T) {
	t.Parallel()

	tests := []struct {
		in   string
		want uint64
	}{
		{"196GiB", 196 * tuning.GiB},
		{"4GiB", 4 * tuning.GiB},
		{"512MiB", 512 * tuning.MiB},
		{"1TiB", tuning.TiB},
		{"64GB", 64_000_000_000},
		{"64gb", 64_000_000_000},
		{"16gib", 16 * tuning.GiB},
		{"16Gi", 16 * tuning.GiB},
		{"1.5GiB", 3 * tuning.GiB / 2},
		{" 2 GiB ", 2 * tuning.GiB},
		{"100kB", 100_000},
		{"8KiB", 8 * tuning.KiB},
		{"1PiB", tuning.PiB},
		{"4096", 4096},
		{"4096B", 4096},
		{"0", 0},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()

			got, err := tuning.ParseBytes(tt.in)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestParseBytesRejects(t *testing.T) {
	t.Parallel()

	tests := []struct {
		in      string
		mention string
	}{
		{"", "no number"},
		{"GiB", "no number"},
		{"-4GiB", "no number"},
		{"4G", "ambiguous"},
		{"4 m", "ambiguous"},
		{"4 furlongs", "unknown unit"},
		{"1.2.3GiB", "bad number"},
		{"0.3B", "whole number"},
		{"16EiB", "unknown unit"},
		{"99999999PiB", "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()

			_, err := tuning.ParseBytes(tt.in)
			require.ErrorIs(t, err, tuning.ErrInvalidSize)
			require.ErrorContains(t, err, tt.mention)
		})
	}
}
