package misp

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/engine"
	"github.com/ransomeye/intel/ingest/stix"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// loadInto loads doc as the MISP feed named feed into st, its log into
// logs (nil: none), and requires a balanced report without dropped
// records.
func loadInto(t *testing.T, st *store.Store, feed string, doc []byte, logs *bytes.Buffer) *engine.Report {
	t.Helper()
	opts := quiet(logs)
	opts.Feed = feed
	rep, err := LoadFile(context.Background(), bytes.NewReader(doc), st, opts)
	require.NoError(t, err, feed)
	requireBalanced(t, rep)
	require.Empty(t, rep.Dropped, feed)
	return rep
}

// TestGalaxyElementRowsSayWhichEntityAClusterIs: PyMISP and misp-stix write
// a galaxy cluster's meta as GalaxyElement rows (`{"key": "external_id",
// "value": "T1059"}`, one a value), often without a meta object; MISP's
// galaxy_elements table holds them so and builds meta from them. Loaded
// with ATT&CK (testdata/heldout/stix/attack-heldout.json), a threat-actor
// cluster whose rows ref attack.mitre.org/groups/G0007, one whose rows'
// synonyms are APT28's names, and an ATT&CK technique cluster named
// "Command-Line Interface" (T1059's old name) whose row gives external_id
// T1059 are APT28 and T1059: one actor and one technique for the analyst.
// Before, the rows were not read: each cluster was a node of its own name
// ("threat-actor Fighting Ursa", "attack-pattern Command-Line Interface"),
// beside ATT&CK's. The tool galaxy's "PowerShell" stays a tool of its own:
// no name of another kind's ATT&CK object is taken.
func TestGalaxyElementRowsSayWhichEntityAClusterIs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := store.NewStore(pgtest.Pool(t))
	f, err := os.Open(filepath.Join("..", "..", "testdata", "heldout", "stix", "attack-heldout.json"))
	require.NoError(t, err)
	defer f.Close() //nolint:errcheck // read-only
	_, err = stix.Load(ctx, f, st, stix.Options{Feed: "attack", Logger: quiet(nil).Logger})
	require.NoError(t, err)
	raw, err := os.ReadFile(filepath.Join(testdata, "galaxyelement_clusters.json"))
	require.NoError(t, err)
	loadInto(t, st, "pymisp-event", raw, nil)

	apt28, err := st.ResolveNode(ctx, "mitre-attack:G0007")
	require.NoError(t, err)
	t1059, err := st.ResolveNode(ctx, "mitre-attack:T1059")
	require.NoError(t, err)
	for cluster, want := range map[string]graph.Node{
		"6a7e0b1c-0000-4000-8000-000000000011": apt28, // refs attack.mitre.org/groups/G0007
		"6a7e0b1c-0000-4000-8000-000000000012": apt28, // synonyms APT28, Pawn Storm
		"6a7e0b1c-0000-4000-8000-000000000013": t1059, // external_id T1059
	} {
		res, err := st.Resolve(ctx, "misp--"+cluster)
		require.NoError(t, err, cluster)
		require.Equal(t, want.ID, res.Node.ID, "cluster %s is %s %s", cluster, want.Kind, want.Key)
	}
	ev, err := st.ResolveNode(ctx, "misp--6a7e0b1c-0000-4000-8000-000000000001")
	require.NoError(t, err)
	nb, err := st.FindRelated(ctx, ev.ID, graph.RelatedOptions{Depth: 1})
	require.NoError(t, err)
	byKind := map[graph.Kind][]string{}
	for _, n := range nb.Nodes {
		byKind[n.Kind] = append(byKind[n.Kind], n.Key)
	}
	require.Equal(t, []string{"G0007"}, byKind[graph.KindIntrusionSet], "one actor")
	require.Empty(t, byKind[graph.KindThreatActor], "no actor of its own")
	require.Equal(t, []string{"T1059"}, byKind[graph.KindAttackPattern], "one technique")
	require.Equal(t, []string{"powershell"}, byKind[graph.KindTool], "the tool galaxy's PowerShell stays a tool, not ATT&CK's technique PowerShell (T1059.001)")
}

// TestEmptyMetaWrittenAsAListKeepsTheGalaxy: PHP's json_encode writes an
// empty array as [], so a cluster with no meta can come as "meta": [] (and
// GalaxyElement as []). That is no meta: the galaxy's clusters load and
// the event links them. Before, the galaxy record was dropped
// (invalid-property: "unable to unmarshal JSON array into Go
// map[string]interface {} within /GalaxyCluster/0/meta"), and with it
// every cluster of the galaxy, the one with meta too.
func TestEmptyMetaWrittenAsAListKeepsTheGalaxy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := store.NewStore(pgtest.Pool(t))
	doc := event(u(1), "empty meta", []string{attr(u(2), "domain", "emptymeta.example")},
		`"Galaxy": [{"uuid": "e1bb134c-ae4d-11e7-8aa9-f78a37325439", "name": "Sector", "type": "sector", "namespace": "misp", "GalaxyCluster": [
		  {"uuid": "`+u(31)+`", "type": "sector", "value": "Government", "tag_name": "misp-galaxy:sector=\"Government\"", "meta": [], "GalaxyElement": []},
		  {"uuid": "`+u(32)+`", "type": "sector", "value": "Energy", "tag_name": "misp-galaxy:sector=\"Energy\"", "meta": {"synonyms": ["Oil and gas"]}}]}]`)
	loadInto(t, st, "php", []byte(doc), nil)
	ev, err := st.ResolveNode(ctx, "misp--"+u(1))
	require.NoError(t, err)
	nb, err := st.FindRelated(ctx, ev.ID, graph.RelatedOptions{Depth: 1})
	require.NoError(t, err)
	var clusters []string
	for _, n := range nb.Nodes {
		if n.Kind == KindGalaxyCluster {
			clusters = append(clusters, n.Name)
		}
	}
	require.ElementsMatch(t, []string{"Government", "Energy"}, clusters, "both clusters of the galaxy linked from the event")
}
