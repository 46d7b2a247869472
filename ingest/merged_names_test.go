package ingest_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest"
	"github.com/ransomeye/intel/store"
)

// TestNameOneSourceListsFindsTheMergedNode: MISP's threat-actor galaxy
// (APT10, synonym G0045) and mitre-intrusion-set galaxy ("menuPass -
// G0045") describe one group, one node keyed G0045. The node's props keep
// one source's synonyms, so "menuPass", which only mitre-intrusion-set
// lists, was "not found" when given alone, though "intrusion-set:menuPass"
// found APT10 (the name is claimed). Given alone it finds the node too, in
// either load order. Extracts: testdata/misp galaxy-*.json.
func TestNameOneSourceListsFindsTheMergedNode(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ta := ingest.Feed{Name: "threat-actor", Path: filepath.Join("..", "testdata", "misp", "galaxy-threat-actor-apt10.json"), Format: ingest.FormatMISP}
	mis := ingest.Feed{Name: "mitre-intrusion-set", Path: filepath.Join("..", "testdata", "misp", "galaxy-mitre-intrusion-set-menupass.json"), Format: ingest.FormatMISP}
	for _, order := range [][]ingest.Feed{{ta, mis}, {mis, ta}} {
		st, _ := newStore(t)
		loadOneByOne(ctx, t, st, order)
		for _, ref := range []string{"menuPass", "MENUPASS", "intrusion-set:menuPass", "APT10", "Menupass Team", "Stone Panda", "G0045"} {
			r, err := st.Resolve(ctx, ref)
			require.NoError(t, err, "%s first: %s", order[0].Name, ref)
			require.Equal(t, "G0045", r.Node.Key, "%s first: %s", order[0].Name, ref)
		}
	}
}

// TestATTACKIDFindsTheNodeKeyedByIt: MISP's threat-actor galaxy's "Lazarus
// Group" lists G0032 and G0082 among its synonyms, so it is keyed by its
// name and stays a node of its own (ambiguous_attack_ids); the
// mitre-intrusion-set galaxy's "Lazarus Group - G0032" is G0032. `intel
// show G0032` was refused as ambiguous between the two, since both list
// the id; the id names the node keyed by it. "Lazarus Group" alone stays
// ambiguous: both nodes have that name. Extracts: testdata/misp
// galaxy-*-lazarus.json.
func TestATTACKIDFindsTheNodeKeyedByIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ta := ingest.Feed{Name: "threat-actor", Path: filepath.Join("..", "testdata", "misp", "galaxy-threat-actor-lazarus.json"), Format: ingest.FormatMISP}
	mis := ingest.Feed{Name: "mitre-intrusion-set", Path: filepath.Join("..", "testdata", "misp", "galaxy-mitre-intrusion-set-lazarus.json"), Format: ingest.FormatMISP}
	st, _ := newStore(t)
	loadOneByOne(ctx, t, st, []ingest.Feed{ta, mis})
	for _, ref := range []string{"G0032", "g0032", "intrusion-set:G0032"} {
		r, err := st.Resolve(ctx, ref)
		require.NoError(t, err, ref)
		require.Equal(t, "G0032", r.Node.Key, ref)
	}
	_, err := st.Resolve(ctx, "Lazarus Group")
	require.ErrorIs(t, err, store.ErrAmbiguous)
}

// TestSearchFindsTheNamesShowFinds: search and show agree on which names a
// node has. `intel search menuPass --exact` found nothing, though `intel
// show menuPass` finds G0045: the threat-actor galaxy's APT10 and the
// mitre-intrusion-set galaxy's "menuPass - G0045" are one node whose props
// keep one source's synonyms, and search read only those, while a name
// alone resolves through every source's claimed names. Every name that
// resolves must be an exact search hit of the node it resolves to, in
// either load order, with --kinds too.
func TestSearchFindsTheNamesShowFinds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ta := ingest.Feed{Name: "threat-actor", Path: filepath.Join("..", "testdata", "misp", "galaxy-threat-actor-apt10.json"), Format: ingest.FormatMISP}
	mis := ingest.Feed{Name: "mitre-intrusion-set", Path: filepath.Join("..", "testdata", "misp", "galaxy-mitre-intrusion-set-menupass.json"), Format: ingest.FormatMISP}
	for _, order := range [][]ingest.Feed{{ta, mis}, {mis, ta}} {
		st, _ := newStore(t)
		loadOneByOne(ctx, t, st, order)
		for _, ref := range []string{"menuPass", "MENUPASS", "APT10", "Menupass Team", "Stone Panda"} {
			r, err := st.Resolve(ctx, ref)
			require.NoError(t, err, ref)
			for _, opts := range []graph.SearchOptions{{Exact: true}, {}, {Exact: true, Kinds: []graph.Kind{r.Node.Kind}}} {
				hits, err := st.Search(ctx, ref, opts)
				require.NoError(t, err, ref)
				found := slices.ContainsFunc(hits, func(h graph.SearchHit) bool { return h.ID == r.Node.ID && h.Match == "exact" })
				require.True(t, found, "%s first: search %q %+v finds %s exactly: %+v", order[0].Name, ref, opts, r.Node.Key, hits)
				n := 0
				for _, h := range hits {
					if h.ID == r.Node.ID {
						n++
					}
				}
				require.Equal(t, 1, n, "the node once")
			}
			hits, err := st.Search(ctx, ref, graph.SearchOptions{Exact: true, Kinds: []graph.Kind{graph.KindMalware}})
			require.NoError(t, err)
			require.Empty(t, hits, "--kinds still bounds it")
		}
	}
}
