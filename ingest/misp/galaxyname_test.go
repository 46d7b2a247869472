package misp

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/stix"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// TestThreatActorClusterDoesNotRenameTheATTACKGroup: an event of 2024-06
// tagging the threat-actor galaxy's "Sofacy" (keyed G0007 by its ref
// attack.mitre.org/groups/G0007: testdata/misp/threat_actor_sofacy_event.json)
// and ATT&CK's G0007 "APT28" (modified 2024-01-01), in both orders. The
// name of a merged node is its highest-ranked record's, and with no
// confidence on either side the newer one ranked higher: G0007 was named
// "Sofacy", and by whichever producer wrote last, though the node is
// ATT&CK's by its key and an analyst looks G0007 up as APT28. A cluster
// keyed by the ATT&CK id its refs or synonyms name is the galaxy's label
// for that ATT&CK entity, as a mitre galaxy's "APT28 - G0007" is: its
// record is now so named ("Sofacy - G0007"), and the README's rank rule
// for a name spelling its ATT&CK key (graph.NamesItsKey) puts it below
// ATT&CK's own. "Sofacy" still finds the group, and the event links it.
func TestThreatActorClusterDoesNotRenameTheATTACKGroup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	load := func(st *store.Store, which string) {
		if which == "attack" {
			f, err := os.Open(filepath.Join("..", "..", "testdata", "heldout", "stix", "attack-heldout.json"))
			require.NoError(t, err)
			defer f.Close() //nolint:errcheck // read-only
			opts := stix.Options{}
			opts.Feed = "attack"
			_, err = stix.Load(ctx, f, st, opts)
			require.NoError(t, err)
			return
		}
		require.Empty(t, loadTestdata(t, st, "threat_actor_sofacy_event.json", "eset").Dropped)
	}
	for _, order := range [][]string{{"attack", "misp"}, {"misp", "attack"}} {
		st := store.NewStore(pgtest.Pool(t))
		for _, which := range order {
			load(st, which)
		}
		g, err := st.ResolveNode(ctx, "intrusion-set:G0007")
		require.NoError(t, err)
		require.Equal(t, "APT28", g.Name, "%v", order)
		byName, err := st.ResolveNode(ctx, "intrusion-set:sofacy")
		require.NoError(t, err)
		require.Equal(t, g.ID, byName.ID, "the galaxy's name finds the group")
		ev, err := st.ResolveNode(ctx, "misp--a1b2c3d4-0032-4000-8000-000000000005")
		require.NoError(t, err)
		nb, err := st.FindRelated(ctx, ev.ID, graph.RelatedOptions{Depth: 1, Kinds: []graph.Kind{graph.KindIntrusionSet}})
		require.NoError(t, err)
		require.Len(t, nb.Nodes, 2, "the event links the group")
		require.Equal(t, g.ID, nb.Nodes[1].ID)
	}
}
