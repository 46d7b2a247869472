package graph_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
)

func TestCountryCode(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"fr": "FR", "FRA": "FR", " France ": "FR", "FRANCE": "FR", "UAE": "AE", "Taiwan": "TW", "TWA": "TW",
		"Russian Federation": "RU", "Russia": "RU", "Korea, Republic of": "KR", "UK": "GB", "United States": "US",
		"Côte d’Ivoire": "CI", "Cote d'Ivoire": "CI", "Réunion": "RE",
	} {
		got, ok := graph.CountryCode(in)
		require.True(t, ok, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "Western Europe", "Europe", "Paris", "XX", "XYZ", "Micronesia"} {
		_, ok := graph.CountryCode(in)
		require.False(t, ok, in)
	}
}

func TestLocationCountry(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		obj  map[string]any
		want string
	}{
		{map[string]any{"name": "France"}, "FR"},
		{map[string]any{"country": "fr"}, "FR"},
		{map[string]any{"name": "France", "country": "FRA", "latitude": 46.2, "longitude": 2.2, "x_opencti_location_type": "Country"}, "FR"},
		{map[string]any{"name": "France", "region": "western-europe"}, "FR"},
		{map[string]any{"country": "FR", "latitude": 46.2, "longitude": 2.2}, "FR"},
		{map[string]any{"name": "Paris", "country": "FR"}, ""},
		{map[string]any{"city": "Paris", "country": "FR"}, ""},
		{map[string]any{"administrative_area": "US-GA", "name": "Georgia", "country": "US"}, ""},
		{map[string]any{"name": "Georgia", "country": "US"}, ""},
		{map[string]any{"name": "Western Europe", "region": "western-europe"}, ""},
		{map[string]any{"region": "western-europe"}, ""},
		{map[string]any{"name": "Luxembourg", "latitude": 49.6, "longitude": 6.1}, ""},
		{map[string]any{"name": "Luxembourg", "x_opencti_location_type": "City"}, ""},
		{map[string]any{"country": "FR", "latitude": 48.85, "longitude": 2.35, "precision": 1000.0}, ""},
		{map[string]any{"latitude": 48.85, "longitude": 2.35}, ""},
		{map[string]any{"country": "Atlantis"}, ""},
	} {
		got, ok := graph.LocationCountry(c.obj)
		require.Equal(t, c.want != "", ok, "%v", c.obj)
		require.Equal(t, c.want, got, "%v", c.obj)
	}
}
