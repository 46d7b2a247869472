package graph

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCountryTableNamesOneCountryEach: no code or name of the table names
// two countries, and CountryCode finds each.
func TestCountryTableNamesOneCountryEach(t *testing.T) {
	t.Parallel()
	seen := map[string]string{}
	for _, c := range countries {
		for _, k := range append([]string{c.alpha2, c.alpha3}, c.names...) {
			code, ok := CountryCode(k)
			require.True(t, ok, k)
			require.Equal(t, c.alpha2, code, k)
			if prev, dup := seen[NormalizeName(k)]; dup {
				require.Equal(t, prev, c.alpha2, "%q names %s and %s", k, prev, c.alpha2)
			}
			seen[NormalizeName(k)] = c.alpha2
		}
	}
	require.Len(t, countries, 250)
}
