package ingest_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest"
	"github.com/ransomeye/intel/store"
)

// TestNameOfAWithdrawnObjectFindsTheLiveEntity: ATT&CK for ICS 18.1 keeps
// revoked groups (APT34, G0057, revoked by OilRig, G0049, which lists
// "APT34" as an alias; Dragonfly 2.0, G0074, revoked by Dragonfly, G0035,
// the two sharing "Berserk Bear") and deprecated copies of software (EKANS,
// S0017, beside the live EKANS, S0605). Withdrawn objects claim no name
// alias, but their names are still searchable, so a name given alone
// matched the withdrawn node and the live one and was refused as ambiguous
// (`intel show APT34`, `intel show EKANS`, `intel show "Berserk Bear"`),
// while `intrusion-set:APT34` found OilRig. A name alone now finds the live
// entity, as kind:name does. Extract: testdata/stix
// ics-attack-18.1-withdrawn-names.json.
func TestNameOfAWithdrawnObjectFindsTheLiveEntity(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, _ := newStore(t)
	loadOneByOne(ctx, t, st, []ingest.Feed{{Name: "ics-names", Path: filepath.Join("..", "testdata", "stix", "ics-attack-18.1-withdrawn-names.json")}})

	for ref, want := range map[string]string{
		"APT34": "G0049", "apt34": "G0049", "intrusion-set:APT34": "G0049", "G0057": "G0049", "OilRig": "G0049",
		"Berserk Bear": "G0035", "DYMALLOY": "G0035", "IRON LIBERTY": "G0035", "Dragonfly 2.0": "G0035", "Dragonfly": "G0035",
		"EKANS": "S0605", "SNAKEHOSE": "S0605", "malware:EKANS": "S0605", "S0605": "S0605",
		// A withdrawn object named by its own id is itself (deprecated, no replacement).
		"S0017": "S0017",
	} {
		r, err := st.Resolve(ctx, ref)
		require.NoError(t, err, ref)
		require.Equal(t, want, r.Node.Key, "%s", ref)
	}
	dep, err := st.ResolveNode(ctx, "S0017")
	require.NoError(t, err)
	require.Equal(t, graph.LifecycleDeprecated, graph.Lifecycle(dep.Props))

	// Two live nodes of one name stay ambiguous: S0017 is live here.
	st2, _ := newStore(t)
	_, err = st2.Write(ctx, graph.Batch{Nodes: []graph.Node{
		graph.NamedNode(graph.KindMalware, "EKANS", "S0017"), graph.NamedNode(graph.KindMalware, "EKANS", "S0605"),
	}})
	require.NoError(t, err)
	_, err = st2.Resolve(ctx, "EKANS")
	require.ErrorIs(t, err, store.ErrAmbiguous)
}
