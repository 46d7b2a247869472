package stix

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// loc is a STIX 2.1 location object of id location--10c00000-…-<n> with
// the given properties.
func loc(n, props string) string {
	return `{"type": "location", "spec_version": "2.1", "id": "location--10c00000-0000-4000-8000-0000000000` + n + `",
	  "created": "2024-01-01T00:00:00Z", "modified": "2024-01-01T00:00:00Z", ` + props + `}`
}

// TestOneCountryFromEveryFeedIsOneLocation: France given by its name (as
// OpenCTI's test data), by its code alone (as stix-elevator's Mandiant
// APT1), by name, alpha-3 code and coordinates (OpenCTI's geography
// dataset) is one location node, keyed FR, which each object's id and
// each name finds, and which a relationship to any of them reaches. Two
// cities of France, a region, the US state of Georgia and the country
// Georgia stay places of their own. Before, every location was keyed by
// its id: three nodes for France.
func TestOneCountryFromEveryFeedIsOneLocation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	st := store.NewStore(pool, store.WithLogger(quietLogger))
	feeds := []string{
		`[` + loc("01", `"name": "France", "x_opencti_location_type": "Country"`) + `,
		  {"type": "intrusion-set", "spec_version": "2.1", "id": "intrusion-set--10c00000-0000-4000-8000-000000000020",
		   "created": "2024-01-01T00:00:00Z", "modified": "2024-01-01T00:00:00Z", "name": "Some Set"},
		  {"type": "relationship", "spec_version": "2.1", "id": "relationship--10c00000-0000-4000-8000-000000000021",
		   "created": "2024-01-01T00:00:00Z", "modified": "2024-01-01T00:00:00Z", "relationship_type": "targets",
		   "source_ref": "intrusion-set--10c00000-0000-4000-8000-000000000020", "target_ref": "location--10c00000-0000-4000-8000-000000000002"}]`,
		loc("02", `"country": "fr"`),
		loc("03", `"name": "France", "latitude": 46.227638, "longitude": 2.213749, "country": "FRA", "x_opencti_aliases": ["FRA", "FR"], "x_opencti_location_type": "Country"`),
		`[` + loc("04", `"name": "Paris", "city": "Paris", "country": "FR"`) + `, ` + loc("05", `"name": "Lyon", "city": "Lyon", "country": "FR"`) + `,
		  ` + loc("06", `"name": "Lyon", "country": "FR"`) + `,
		  ` + loc("07", `"name": "Western Europe", "region": "western-europe", "x_opencti_location_type": "Region"`) + `,
		  ` + loc("08", `"name": "Georgia", "administrative_area": "US-GA", "country": "US"`) + `,
		  ` + loc("09", `"name": "Georgia"`) + `, ` + loc("10", `"name": "Luxembourg", "latitude": 49.61, "longitude": 6.13`) + `]`,
	}
	for i, doc := range feeds {
		loadFeed(t, st, "f"+string(rune('a'+i)), doc)
	}
	_, err := st.ReleasePending(ctx)
	require.NoError(t, err)
	rows, err := pool.Query(ctx, `SELECT key || ' ' || name FROM nodes WHERE kind = 'location' ORDER BY name, key`)
	require.NoError(t, err)
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, []string{
		"FR France",
		"GE Georgia",
		"location--10c00000-0000-4000-8000-000000000008 Georgia",
		"location--10c00000-0000-4000-8000-000000000010 Luxembourg",
		"location--10c00000-0000-4000-8000-000000000005 Lyon",
		"location--10c00000-0000-4000-8000-000000000006 Lyon",
		"location--10c00000-0000-4000-8000-000000000004 Paris",
		"location--10c00000-0000-4000-8000-000000000007 Western Europe",
	}, got)
	france, err := st.ResolveNode(ctx, "location:FR")
	require.NoError(t, err)
	for _, ref := range []string{"location--10c00000-0000-4000-8000-000000000001", "location--10c00000-0000-4000-8000-000000000002",
		"location--10c00000-0000-4000-8000-000000000003", "location:france", "location:FRA"} {
		n, err := st.ResolveNode(ctx, ref)
		require.NoError(t, err, ref)
		require.Equal(t, france.ID, n.ID, ref)
	}
	rels, _ := graphRelations(t, pool)
	require.Equal(t, []string{"intrusion-set targets location France"}, rels)
}

// TestCorpusCountriesMeet: the corpus's stix-elevator Mandiant APT1 report
// names sixteen countries by code ({"country": "FR"}; "UAE" and "Taiwan"
// by name) and OpenCTI's geography dataset lists 250 countries by name and
// alpha-3 code: loaded together, each of the report's countries is the
// dataset's node of it; its Pudong New Area (an administrative area of
// China) stays a place of its own.
func TestCorpusCountriesMeet(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := corpusDir(t)
	pool := pgtest.Pool(t)
	st := store.NewStore(pool, store.WithLogger(quietLogger))
	count := func() int {
		var n int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM nodes WHERE kind = 'location'`).Scan(&n))
		return n
	}
	var counts []int
	for _, name := range []string{"opencti/datasets_geography.json", "elevator/2.1-extensions_Mandiant_APT1_Report.json"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		_, err = Load(ctx, strings.NewReader(string(data)), st, Options{Feed: name, Logger: quietLogger})
		require.NoError(t, err)
		counts = append(counts, count())
	}
	rows, err := pool.Query(ctx, `SELECT key || ' ' || coalesce(name, '') FROM nodes WHERE kind = 'location' AND NOT 'opencti/datasets_geography.json' = ANY(sources) ORDER BY 1`)
	require.NoError(t, err)
	added, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, counts[0]+1, counts[1], "the report adds Pudong New Area alone: %v", added)
	var countries int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM nodes WHERE kind = 'location' AND key ~ '^[A-Z]{2}$'`).Scan(&countries))
	require.Equal(t, 250, countries)
	for _, code := range []string{"CN", "US", "FR", "AE", "TW", "SG"} {
		var sources []string
		require.NoError(t, pool.QueryRow(ctx, `SELECT sources FROM nodes WHERE id = $1`, graph.CountryNode(code).ID).Scan(&sources))
		require.ElementsMatch(t, []string{"opencti/datasets_geography.json", "elevator/2.1-extensions_Mandiant_APT1_Report.json"}, sources, code)
	}
}
