package stix

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// TestRelationshipTypeSpelledAsWordsIsOneRelation: STIX 2.1 relationship
// types are lower-case words joined by hyphens (3.7: a-z, 0-9 and "-").
// Cortex XSOAR's TAXII 2 server writes XSOAR's own spelling, "related to"
// (testdata/excerpts/xsoar-objects21-ip-with-relationships.json), and other
// tools write "Related_To"; each is related-to, the relation another feed's
// relationship of the same ends is. Before, the three were three relation
// types between the same two addresses, the walk gave three edges for one
// link, and a walk limited to related-to missed two of them.
func TestRelationshipTypeSpelledAsWordsIsOneRelation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	st := store.NewStore(pool, store.WithLogger(quietLogger))
	ips := `{"type": "ipv4-addr", "spec_version": "2.1", "id": "ipv4-addr--cbd67181-b9f8-595b-8bc3-3971e34fa1cc", "value": "1.1.1.1"},
		{"type": "ipv4-addr", "spec_version": "2.1", "id": "ipv4-addr--c2214d54-b5d9-5725-937f-75750897b452", "value": "4.4.4.4"}`
	rel := func(n int, typ string) string {
		return `{"type": "relationship", "spec_version": "2.1", "id": "relationship--00000000-0000-4000-8000-00000000000` + string(rune('0'+n)) + `",
			"created": "2021-05-02T11:03:19.694968Z", "modified": "2021-05-02T11:03:19.694969Z", "relationship_type": "` + typ + `",
			"source_ref": "ipv4-addr--cbd67181-b9f8-595b-8bc3-3971e34fa1cc", "target_ref": "ipv4-addr--c2214d54-b5d9-5725-937f-75750897b452"}`
	}
	for i, typ := range []string{"related to", " Related_To ", "related-to", "related \\t to"} {
		rep, err := Load(ctx, strings.NewReader(bundle(ips, rel(i+1, typ))), st, Options{Feed: "feed" + typ, Logger: quietLogger})
		require.NoError(t, err)
		require.Empty(t, rep.Dropped)
	}
	got, pending := graphRelations(t, pool)
	require.Zero(t, pending)
	require.Equal(t, []string{"ipv4-addr related-to ipv4-addr 4.4.4.4"}, got)
	var ids int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM relation_ids`).Scan(&ids))
	require.Equal(t, 4, ids, "each relationship id names the one relation")
}
