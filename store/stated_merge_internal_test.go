package store

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/internal/pgtest"
)

// TestStatedMergeIsLatestVersions holds the SQL merge of stated maps to
// graph.LatestVersions, which the store's batches use: stated_merge of two
// maps, and stated_merge_agg over a group of rows (NULL rows among them, as
// RelationUpsertMany makes an empty map NULL; groups of one row, which the
// aggregate's strict step takes without a call), must each give the maps
// as the store writes them (statedJSON) of what LatestVersions folds them
// into. Maps draw their ids from a small pool so that they overlap, hold
// or equal each other, with versions a few seconds apart, and the
// StandsAlone entry at times; keys "<object> via <relationship id>" among
// them, which statedJSON and stated_union leave out when the map states
// the object directly at a time at least theirs (migration 00043), so that
// the merge of two maps without such entries has none either.
func TestStatedMergeIsLatestVersions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0x5747ed))
	base := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	randomMap := func() map[string]time.Time {
		m := map[string]time.Time{}
		for range rng.IntN(4) {
			id := fmt.Sprintf("report--%d", rng.IntN(5))
			if rng.IntN(10) == 0 {
				id = graph.StandsAlone
			}
			// a link expanded through a relationship id (stated_via),
			// through two at times: the same objects' via keys, which the
			// direct entry of the same or a newer version leaves out
			switch rng.IntN(4) {
			case 0:
				id += fmt.Sprintf(" via relationship--%d", rng.IntN(3))
			case 1:
				if rng.IntN(4) == 0 {
					id += fmt.Sprintf(" via relationship--%d via relationship--%d", rng.IntN(3), rng.IntN(3))
				}
			}
			m[id] = base.Add(time.Duration(rng.IntN(4)) * time.Second)
		}
		return m
	}
	// sqlMap is a map as RelationUpsertMany merges it: NULL when empty.
	sqlMap := func(m map[string]time.Time) *string {
		if len(m) == 0 {
			return nil
		}
		s := string(statedJSON(m))
		return &s
	}
	decode := func(t *testing.T, s *string) map[string]string {
		if s == nil {
			return nil
		}
		var out map[string]string
		require.NoError(t, json.Unmarshal([]byte(*s), &out))
		return out
	}

	const cases = 1000
	var (
		as, bs     []*string
		wantPairs  []map[string]string
		groups     []int32
		rows       []*string
		wantGroups []map[string]string
		singletons int
	)
	for c := range cases {
		a, b := randomMap(), randomMap()
		as, bs = append(as, sqlMap(a)), append(bs, sqlMap(b))
		wantPairs = append(wantPairs, decode(t, sqlMap(graph.LatestVersions(a, b))))

		n := 1 + rng.IntN(4)
		if n == 1 {
			singletons++
		}
		var folded map[string]time.Time
		for range n {
			m := randomMap()
			groups, rows = append(groups, int32(c)), append(rows, sqlMap(m))
			folded = graph.LatestVersions(folded, m)
		}
		wantGroups = append(wantGroups, decode(t, sqlMap(folded)))
	}
	require.Greater(t, singletons, cases/10)

	pairRows, err := pool.Query(ctx, `SELECT stated_merge(a, b)::text
		FROM unnest($1::jsonb[], $2::jsonb[]) WITH ORDINALITY AS x(a, b, i) ORDER BY i`, as, bs)
	require.NoError(t, err)
	defer pairRows.Close() // a failed require must not leave the connection busy
	var i int
	for pairRows.Next() {
		var got *string
		require.NoError(t, pairRows.Scan(&got))
		require.Equal(t, wantPairs[i], decode(t, got), "stated_merge of pair %d: %v and %v", i, deref(as[i]), deref(bs[i]))
		i++
	}
	require.NoError(t, pairRows.Err())
	require.Equal(t, cases, i)

	aggRows, err := pool.Query(ctx, `SELECT g, stated_merge_agg(m)::text
		FROM unnest($1::int4[], $2::jsonb[]) AS x(g, m) GROUP BY g ORDER BY g`, groups, rows)
	require.NoError(t, err)
	defer aggRows.Close()
	i = 0
	for aggRows.Next() {
		var g int32
		var got *string
		require.NoError(t, aggRows.Scan(&g, &got))
		require.Equal(t, int32(i), g)
		require.Equal(t, wantGroups[i], decode(t, got), "stated_merge_agg of group %d", i)
		i++
	}
	require.NoError(t, aggRows.Err())
	require.Equal(t, cases, i)
}

func deref(s *string) string {
	if s == nil {
		return "NULL"
	}
	return *s
}
