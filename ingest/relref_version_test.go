package ingest_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/ingest"
	"github.com/ransomeye/intel/internal/pgtest"
)

// TestReportFollowsTheRelationshipsNewestEnds: a report whose object_refs
// name a relationship id links to the ends of that relationship's newest
// version (testdata/adv/adv7-stix-rel-changed-*: relationship …7010 uses
// malware→tool B, then targets malware→identity), in every order of the
// report and the two versions, with the same records. Before, a report
// expanded while relation_ids named v1's ends kept its link to tool B
// after v2 came (v1, report, v2 and report, v1, v2 failed). A newer
// version of the report that no longer names the relationship supersedes
// what it stated through it, as it does its direct links.
func TestReportFollowsTheRelationshipsNewestEnds(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("..", "testdata", "adv")
	feed := func(name string) ingest.Feed {
		return ingest.Feed{Name: name, Path: filepath.Join(dir, name+".json")}
	}
	v1, v2 := feed("adv7-stix-rel-changed-v1"), feed("adv7-stix-rel-changed-v2")
	tmp := t.TempDir()
	report := func(name, modified, refs string) ingest.Feed {
		p := filepath.Join(tmp, name+".json")
		require.NoError(t, os.WriteFile(p, []byte(`{"type": "bundle", "id": "bundle--5e1f0000-0000-4000-8000-0000000a7030", "objects": [
		{"type": "report", "spec_version": "2.1", "id": "report--5e1f0000-0000-4000-8000-0000000a7031",
		 "created": "2024-04-01T00:00:00.000Z", "modified": "`+modified+`", "name": "Adv7 Rel Report",
		 "published": "2024-04-01T00:00:00.000Z", "object_refs": [`+refs+`]}]}`), 0o644))
		return ingest.Feed{Name: name, Path: p}
	}
	r1 := report("report-v1", "2024-04-01T00:00:00.000Z", `"relationship--5e1f0000-0000-4000-8000-0000000a7010"`)
	// the newer report names the victim alone
	r2 := report("report-v2", "2024-05-01T00:00:00.000Z", `"identity--5e1f0000-0000-4000-8000-0000000a7004"`)
	// a report naming the relationship and, directly, both of v1's ends (as
	// ATT&CK's collections name every object): its record of tool B keeps
	// no "<report> via <relationship>" key (migration 00043), and the link
	// stays when v2 moves the relationship's end, stated by the report
	// itself
	d1 := report("report-direct-v1", "2024-04-01T00:00:00.000Z", `"relationship--5e1f0000-0000-4000-8000-0000000a7010",
		"malware--5e1f0000-0000-4000-8000-0000000a7001", "tool--5e1f0000-0000-4000-8000-0000000a7002"`)
	for _, tc := range []struct {
		want   []string
		orders [][]ingest.Feed
	}{
		{[]string{"adv7 rel victim", "adv7relmal"}, [][]ingest.Feed{
			{v1, r1, v2}, {r1, v1, v2}, {v1, v2, r1}, {v2, r1, v1}, {r1, v2, v1}, {v2, v1, r1},
		}},
		{[]string{"adv7 rel victim"}, [][]ingest.Feed{
			{v1, r1, r2, v2}, {r1, v1, v2, r2}, {v2, r2, r1, v1}, {r2, v1, r1, v2},
		}},
		{[]string{"adv7 rel victim", "adv7relmal", "adv7reltoolb"}, [][]ingest.Feed{
			{v1, d1, v2}, {d1, v1, v2}, {v1, v2, d1}, {v2, d1, v1}, {d1, v2, v1}, {v2, v1, d1},
		}},
	} {
		var first string
		for _, order := range tc.orders {
			var names []string
			for _, f := range order {
				names = append(names, f.Name)
			}
			name := strings.Join(names, ", ")
			ctx := context.Background()
			st, pool := newStore(t)
			loadOneByOne(ctx, t, st, order)
			rows, err := pool.Query(ctx, `SELECT lower(d.name) FROM relations r JOIN nodes s ON s.id = r.src_id JOIN nodes d ON d.id = r.dst_id
				WHERE s.kind = 'report' AND r.relation = 'object' ORDER BY 1`)
			require.NoError(t, err)
			var got []string
			for rows.Next() {
				var l string
				require.NoError(t, rows.Scan(&l))
				got = append(got, l)
			}
			require.NoError(t, rows.Err())
			require.Equal(t, tc.want, got, name)
			dump := pgtest.Dump(t, pool, pgtest.GraphQueries[2:5]...) +
				pgtest.Dump(t, pool, "SELECT src_ref, relation, dst_ref, superseded, stated::text FROM relation_records WHERE src_ref LIKE 'report--%' ORDER BY 1, 2, 3")
			if first == "" {
				first = dump
			}
			require.Equal(t, first, dump, "%s: the same relations and records as %s", name, tc.orders[0][0].Name)
		}
	}
}
