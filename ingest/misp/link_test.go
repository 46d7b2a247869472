package misp

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/engine"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// TestLinkIsAReferenceNotAnIoC: a MISP link attribute is "Link to an
// external information" (MISP's describeTypes; category External
// analysis, to_ids off by default), the report or sandbox page an analyst
// read, and MISP's own STIX export makes it an external reference of the
// report, no observable. Citizen Lab's KeyBoy event and ESET's Operation
// Ghost event citing the same Citizen Lab report
// (testdata/misp/link_references.json) were each linked to the url node of
// that page, the node every feed's indicator of the address is based on:
// the page was an IoC of both, and the two events related at depth 2
// through a reference alone. Now a link not flagged to_ids is the
// attribute's own node (x-misp-attribute--<uuid>, named by the page, its
// value and details in props), as a text is; a to_ids link, which an
// analyst asks to detect, stays misp-stix's indicator [url:value = '…']
// based on the url.
func TestLinkIsAReferenceNotAnIoC(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	st := store.NewStore(pool)
	require.Empty(t, loadTestdata(t, st, "link_references.json", "links").Dropped)

	const report = "https://citizenlab.org/2016/11/parliament-keyboy/"
	var urls int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM nodes WHERE kind = 'url' AND key = $1`, report).Scan(&urls))
	require.Zero(t, urls, "the report cited is no url node")

	keyboy, err := st.ResolveNode(ctx, "misp--a1b2c3d4-0032-4000-8000-000000000001")
	require.NoError(t, err)
	ghost, err := st.ResolveNode(ctx, "misp--a1b2c3d4-0032-4000-8000-000000000002")
	require.NoError(t, err)
	nb, err := st.FindRelated(ctx, keyboy.ID, graph.RelatedOptions{Depth: 3})
	require.NoError(t, err)
	for _, n := range nb.Nodes {
		require.NotEqual(t, ghost.ID, n.ID, "the two events are related through %s %s", n.Via, n.Key)
		require.NotEqual(t, graph.KindURL, n.Kind, "a reference of KeyBoy's is a url: %s", n.Key)
	}

	for _, c := range []struct{ uuid, value, comment string }{
		{"a1b2c3d4-0032-4000-8000-000000000011", report, ""},
		{"a1b2c3d4-0032-4000-8000-000000000012", "https://www.virustotal.com/file/542c85fda8df8510c1b66a122e459aac8c0919f1fe9fa2c43fd87899cffa05bf/analysis/1479643747/", "dropper of 'agewkassif' sample - Xchecked via VT"},
		{"a1b2c3d4-0032-4000-8000-000000000021", report, "Research White Paper"},
	} {
		n, err := st.ResolveNode(ctx, alias(c.uuid))
		require.NoError(t, err, c.uuid)
		require.Equal(t, KindAttribute, n.Kind, c.uuid)
		require.Equal(t, "x-misp-attribute--"+c.uuid, n.Key)
		require.Equal(t, c.value, n.Name)
		require.Equal(t, c.value, n.Props["value"])
		require.Equal(t, "link", n.Props["misp_type"])
		if c.comment != "" {
			require.Equal(t, c.comment, n.Props["comment"])
		}
	}

	// Flagged to_ids: misp-stix's indicator of the url, as before.
	ind, err := st.ResolveNode(ctx, alias("a1b2c3d4-0032-4000-8000-000000000022"))
	require.NoError(t, err)
	require.Equal(t, "indicator--a1b2c3d4-0032-4000-8000-000000000022", ind.Key)
	require.Equal(t, "[url:value = 'https://www.circl.lu']", ind.Props["pattern"])
	nb, err = st.FindRelated(ctx, ind.ID, graph.RelatedOptions{Depth: 1, Relations: []string{graph.RelBasedOn}})
	require.NoError(t, err)
	var based []string
	for _, n := range nb.Nodes[1:] {
		based = append(based, string(n.Kind)+" "+n.Key)
	}
	require.Equal(t, []string{"url https://www.circl.lu/"}, based)
}

// loadTestdata loads testdata/misp/<name> into st as the feed, its report
// balanced.
func loadTestdata(t *testing.T, st *store.Store, name, feed string) *engine.Report {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "testdata", "misp", name))
	require.NoError(t, err)
	defer f.Close() //nolint:errcheck // read-only
	return loadReader(t, st, f, feed)
}

// loadReader loads r into st as the feed, its report balanced.
func loadReader(t *testing.T, st *store.Store, r io.Reader, feed string) *engine.Report {
	t.Helper()
	opts := quiet(nil)
	opts.Feed = feed
	rep, err := LoadFile(context.Background(), r, st, opts)
	require.NoError(t, err)
	requireBalanced(t, rep)
	return rep
}
