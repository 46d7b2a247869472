package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// TestWithdrawnClaimsGiveWay: a name claimed by one live entity and only
// by withdrawn others (an ATT&CK object whose newer version is deprecated
// keeps the claims of its live version: alias_claims is only added to) is
// the live one's, by kind:alias and by the name alone (the withdrawn
// claimants are no candidates), also when the
// withdrawn claimant has the smaller node id (node_aliases keeps the alias
// on it), and a node keyed by that name stands for the live one. Two live
// claimants stay ambiguous, and so do two withdrawn ones, claimed alone.
// The deprecation may come before or after the claims: the same tables.
func TestWithdrawnClaimsGiveWay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// Each lists its names in props too, as ATT&CK does, for the lookup
	// by a name alone.
	attack := func(name, id string, names ...string) graph.Node {
		n := attackNode(graph.KindMalware, name, id, names...)
		n.Props = map[string]any{"x_mitre_aliases": append([]any{name}, func() (l []any) {
			for _, s := range names {
				l = append(l, s)
			}
			return l
		}()...)}
		return n
	}
	live := attack("LiveOne", "S9811", "Shared", "Solo", "Twice")
	live2 := attack("LiveTwo", "S9812", "Twice")
	// The withdrawn claimants sort before the live one by node id.
	var withdrawn []graph.Node
	for i := 9820; len(withdrawn) < 2; i++ {
		n := attack(fmt.Sprintf("Old%d", i), fmt.Sprintf("S%d", i), "Shared", "Solo", "Twice", "Gone")
		if n.ID.String() < live.ID.String() {
			withdrawn = append(withdrawn, n)
		}
	}
	vendor := graph.NamedNode(graph.KindMalware, "Shared", "")
	claims := graph.Batch{Nodes: []graph.Node{live, live2, withdrawn[0], withdrawn[1], vendor}}
	var deprecate graph.Batch
	for _, n := range withdrawn {
		d := graph.NamedNode(graph.KindMalware, n.Name, graph.ATTACKIDFor(n.Kind, n.Key))
		d.Props = map[string]any{"x_mitre_deprecated": true}
		deprecate.Nodes = append(deprecate.Nodes, d)
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var dumps []string
	for _, order := range [][]graph.Batch{{claims, deprecate}, {deprecate, claims}} {
		b := setup(t, store.WithClock(func() time.Time { return now }))
		for _, batch := range order {
			_, err := b.store.Write(ctx, batch)
			require.NoError(t, err)
		}
		for _, ref := range []string{"malware:Shared", "malware:shared", "malware:Solo", "Solo"} {
			n, err := b.store.ResolveNode(ctx, ref)
			require.NoError(t, err, ref)
			require.Equal(t, live.ID, n.ID, "%s: the live claimant", ref)
		}
		r, err := b.store.Resolve(ctx, vendor.ID.String())
		require.NoError(t, err)
		require.Equal(t, live.ID, r.Node.ID, "the node keyed by the name stands for the live claimant")
		for _, ref := range []string{"malware:Twice", "Twice", "malware:Gone", "Gone"} {
			_, err := b.store.ResolveNode(ctx, ref)
			require.ErrorIs(t, err, store.ErrAmbiguous, ref)
		}
		d, err := b.store.NodeDetails(ctx, live.ID)
		require.NoError(t, err)
		require.Equal(t, []string{"malware:shared", "malware:solo"}, func() (l []string) {
			for _, a := range d.WithdrawnClaims {
				l = append(l, a.Alias)
				require.ElementsMatch(t, []uuid.UUID{withdrawn[0].ID, withdrawn[1].ID}, briefIDs(a.Others), a.Alias)
			}
			return l
		}(), "show names the withdrawn claimants of the names that are the live one's")
		require.Len(t, d.Ambiguous, 1, "twice stays ambiguous")
		dumps = append(dumps, pgtest.Dump(t, b.pool, pgtest.GraphQueries...))
	}
	require.Equal(t, dumps[0], dumps[1], "the same tables in either order")
}
