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

// TestStaleAgreesWithStatedSuperseded ties the one rule written twice: a
// relation record is superseded when every object that stated it has a
// newer version. The store decides it in Go for the records a batch
// writes (stale, from the batch's newest versions) and SQL decides it for
// records merged or released later (stated_superseded over
// source_versions). On random stated maps (one to four objects, the
// StandsAlone entry among them at times, versions with nanoseconds, which
// the store keeps to the microsecond) against random newest versions (none,
// older, equal to the microsecond, newer), the two must give the same
// answer for every map as the store writes it (statedJSON).
func TestStaleAgreesWithStatedSuperseded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0x57a1e))
	const cases = 2000
	base := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	var (
		ids, versions []string
		stated        []string
		want          []bool
		kinds         = map[string]int{}
	)
	for c := range cases {
		statedBy := map[string]time.Time{}
		newest := map[string]time.Time{}
		for o := range 1 + rng.IntN(4) {
			id := fmt.Sprintf("report--case-%d-%d", c, o)
			if rng.IntN(8) == 0 {
				id = graph.StandsAlone
			}
			v := base.Add(time.Duration(rng.IntN(3))*time.Second + time.Duration(rng.IntN(3000)))
			statedBy[id] = v
			if id == graph.StandsAlone {
				continue
			}
			var n time.Time
			switch k := rng.IntN(4); k {
			case 0: // no version stored
				kinds["none"]++
				continue
			case 1:
				n = v.Add(-time.Duration(1+rng.IntN(2)) * time.Second)
				kinds["older"]++
			case 2:
				n = v
				kinds["equal"]++
			default:
				n = v.Add(time.Duration(1+rng.IntN(2000)) * time.Microsecond)
				kinds["newer"]++
			}
			n = n.Truncate(time.Microsecond) // as source_versions keeps it
			newest[id] = n
			ids = append(ids, id)
			versions = append(versions, n.Format(time.RFC3339Nano))
		}
		stated = append(stated, string(statedJSON(statedBy)))
		w := stale(statedBy, newest)
		want = append(want, w)
		if w {
			kinds["stale"]++
		}
	}
	for _, k := range []string{"none", "older", "equal", "newer", "stale"} {
		require.Positive(t, kinds[k], "no case of kind %s: the test would not show a disagreement there", k)
	}
	_, err := pool.Exec(ctx, `INSERT INTO source_versions (source_id, version)
		SELECT * FROM unnest($1::text[], $2::timestamptz[])`, ids, versions)
	require.NoError(t, err)
	rows, err := pool.Query(ctx, `SELECT ord, stated_superseded(s)
		FROM unnest($1::jsonb[]) WITH ORDINALITY AS u(s, ord) ORDER BY ord`, stated)
	require.NoError(t, err)
	got := make([]bool, 0, cases)
	for rows.Next() {
		var ord int
		var sup bool
		require.NoError(t, rows.Scan(&ord, &sup))
		got = append(got, sup)
	}
	require.NoError(t, rows.Err())
	require.Len(t, got, cases)
	for i := range want {
		if got[i] != want[i] {
			var m map[string]string
			_ = json.Unmarshal([]byte(stated[i]), &m)
			t.Errorf("case %d: stated %v: Go stale %v, SQL stated_superseded %v", i, m, want[i], got[i])
		}
	}
}
