package ingest_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/ingest"
	"github.com/ransomeye/intel/internal/pgtest"
)

// TestNewerRelationshipVersionReplacesItsEdge: a STIX relationship whose
// newer version (a later modified, the same id) changes its
// relationship_type, its source_ref or its target_ref leaves only the
// newest version's edge walkable, whatever the order of the versions, in
// two loads or in one file (testdata/adv/adv7-stix-rel-changed-*:
// relationship …7010 uses malware→tool B, then targets malware→identity;
// …7011 uses malware→tool C, then tool B→tool C; …7012 related-to tool
// B→identity, then targets). Both versions' edges were walked: a
// relationship object stood on its own, never superseded.
func TestNewerRelationshipVersionReplacesItsEdge(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("..", "testdata", "adv")
	feed := func(name string) ingest.Feed {
		return ingest.Feed{Name: name, Path: filepath.Join(dir, name+".json")}
	}
	v1, v2, both := feed("adv7-stix-rel-changed-v1"), feed("adv7-stix-rel-changed-v2"), feed("adv7-stix-rel-changed-both")
	want := []string{
		"adv7relmal -targets-> adv7 rel victim",
		"adv7reltoolb -targets-> adv7 rel victim",
		"adv7reltoolb -uses-> adv7reltoolc",
	}
	var dumps []string
	for _, tc := range []struct {
		name  string
		feeds []ingest.Feed
	}{
		{"v1 then v2", []ingest.Feed{v1, v2}},
		{"v2 then v1", []ingest.Feed{v2, v1}},
		{"one file", []ingest.Feed{both}},
		{"one file then v1", []ingest.Feed{both, v1}},
		// v1's relationships before their ends (pending), the ends
		// (released, live), then v2
		{"v1 pending, ends, v2", []ingest.Feed{feed("adv7-stix-rel-changed-v1-rels"), feed("adv7-stix-rel-changed-objects"), v2}},
	} {
		ctx := context.Background()
		st, pool := newStore(t)
		loadOneByOne(ctx, t, st, tc.feeds)
		rows, err := pool.Query(ctx, `SELECT lower(s.name) || ' -' || r.relation || '-> ' || lower(d.name)
			FROM relations r JOIN nodes s ON s.id = r.src_id JOIN nodes d ON d.id = r.dst_id
			WHERE s.kind IN ('malware', 'tool') ORDER BY 1`)
		require.NoError(t, err)
		var got []string
		for rows.Next() {
			var l string
			require.NoError(t, rows.Scan(&l))
			got = append(got, l)
		}
		require.NoError(t, rows.Err())
		require.Equal(t, want, got, tc.name)
		// relation_ids names the newest version's references (the smallest
		// of any version was kept: …7011 named v1's malware→tool C, …7012
		// v1's related-to), which RelationByID and the expansion of a
		// reference to the relationship read
		var ids []string
		rows, err = pool.Query(ctx, `SELECT source_id || ' ' || src_ref || ' ' || relation || ' ' || dst_ref FROM relation_ids ORDER BY 1`)
		require.NoError(t, err)
		for rows.Next() {
			var l string
			require.NoError(t, rows.Scan(&l))
			ids = append(ids, strings.ReplaceAll(l, "5e1f0000-0000-4000-8000-0000000a", ""))
		}
		require.NoError(t, rows.Err())
		require.Equal(t, []string{
			"relationship--7010 malware--7001 targets identity--7004",
			"relationship--7011 tool--7002 uses tool--7003",
			"relationship--7012 tool--7002 targets identity--7004",
		}, ids, tc.name)
		if tc.name == "v1 then v2" || tc.name == "v2 then v1" || tc.name == "one file" {
			dumps = append(dumps, pgtest.Dump(t, pool, "SELECT src_ref, relation, dst_ref, superseded, stated::text FROM relation_records ORDER BY 1, 2, 3"))
		}
	}
	require.Equal(t, dumps[0], dumps[1], "the same records in either order")
}
