package store_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// TestExplainNamesTheRelationshipNamingARelationship: a relationship whose
// target is another relationship (OpenCTI's indicator "indicates" a
// malware-uses-technique relationship; testdata/adv/adv6-stix-rel-to-rel.json)
// links the indicator to both ends of that relationship. --explain listed
// those two edges with neither ids nor objects: relation_ids keeps the
// relationship's own refs (indicator, relationship--…), not the ends it was
// expanded to, so nothing named what stated them. Found by
// scripts/feed-answers.py on stix/opencti/client-python_DATA-TEST-STIX2_v2.json.
func TestExplainNamesTheRelationshipNamingARelationship(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	st := store.NewStore(pool)
	res, err := ingest.Run(ctx, st, []ingest.Feed{
		{Name: "adv6-rel-to-rel", Path: filepath.Join("..", "testdata", "adv", "adv6-stix-rel-to-rel.json")},
	}, ingest.Options{Concurrency: 1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	require.Equal(t, ingest.StatusOK, res[0].Status, res[0].Error)
	ind, err := st.ResolveNode(ctx, "indicator--6a1f0000-0000-4000-8000-0e0000000001")
	require.NoError(t, err)
	mal, err := st.ResolveNode(ctx, "malware--6a1f0000-0000-4000-8000-0e0000000004")
	require.NoError(t, err)
	ap, err := st.ResolveNode(ctx, "attack-pattern--6a1f0000-0000-4000-8000-0e0000000005")
	require.NoError(t, err)
	nb, err := walkOn(ctx, st, ind.ID, graph.RelatedOptions{Depth: 1})
	require.NoError(t, err)
	require.NoError(t, st.ExplainEdges(ctx, nb))
	for _, dst := range []graph.Node{mal, ap} {
		e := findEdge(t, nb, ind.ID, "indicates", dst.ID)
		require.Equal(t, []string{"relationship--6a1f0000-0000-4000-8000-0e0000000002"}, statedIDs(e),
			"the relationship naming the relationship states %s", dst.Name)
	}
	nb, err = walkOn(ctx, st, mal.ID, graph.RelatedOptions{Depth: 1})
	require.NoError(t, err)
	require.NoError(t, st.ExplainEdges(ctx, nb))
	require.Equal(t, []string{"relationship--6a1f0000-0000-4000-8000-0e0000000003"}, statedIDs(findEdge(t, nb, mal.ID, "uses", ap.ID)),
		"the named relationship states its own link, and only it")
}
