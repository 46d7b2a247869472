package ingest_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest"
)

// TestRenamedObjectIsOneEntity: a vendor renames a malware family (the
// same STIX id in a newer version, another name; testdata/adv
// rename-v1.json and rename-v2.json). The two versions are two nodes,
// keyed by their names, but one entity: the stale name stands for the
// renamed node (node_entities, reason alias), a lookup of the old name
// reaches the new one, and the new version's relationship is seen on the
// renamed node by a walk, in either load order and with the same identity
// tables.
func TestRenamedObjectIsOneEntity(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("..", "testdata", "adv")
	v1 := ingest.Feed{Name: "rename-v1", Path: filepath.Join(dir, "rename-v1.json")}
	v2 := ingest.Feed{Name: "rename-v2", Path: filepath.Join(dir, "rename-v2.json")}
	for _, order := range [][]ingest.Feed{{v1, v2}, {v2, v1}} {
		t.Run(order[0].Name+" first", func(t *testing.T) {
			ctx := context.Background()
			st, pool := newStore(t)
			loadOneByOne(ctx, t, st, order)
			r, err := st.Resolve(ctx, "malware:delta")
			require.NoError(t, err)
			require.Equal(t, "Alpha", r.Node.Name, "the old name reaches the renamed object")
			require.NotNil(t, r.SameAs)
			require.Equal(t, "Delta", r.SameAs.Name)
			require.Equal(t, "malware--00000000-0000-4000-8000-0000000000b9", r.VersionOf)
			require.Contains(t, r.Note(), "its newer version")
			d, err := st.NodeDetails(ctx, r.Node.ID)
			require.NoError(t, err)
			require.Len(t, d.OlderVersions, 1)
			require.Equal(t, "Delta", d.OlderVersions[0].Name)
			require.Empty(t, d.SameEntity)
			old, err := st.NodeDetails(ctx, r.SameAs.ID)
			require.NoError(t, err)
			require.NotNil(t, old.Entity)
			require.Equal(t, "Alpha", old.Entity.Name)
			require.Equal(t, r.VersionOf, old.EntityVersionOf)
			byID, err := st.ResolveNode(ctx, "malware--00000000-0000-4000-8000-0000000000b9")
			require.NoError(t, err)
			require.Equal(t, "Alpha", byID.Name, "the STIX id names the newest version")

			set, err := st.ResolveNode(ctx, "intrusion-set:rename set")
			require.NoError(t, err)
			hood, err := st.FindRelated(ctx, set.ID, graph.RelatedOptions{Depth: 1})
			require.NoError(t, err)
			var names []string
			for _, n := range hood.Nodes[1:] {
				names = append(names, n.Name)
			}
			require.Equal(t, []string{"Alpha"}, names, "the uses relationship reaches the renamed malware, not its stale name")

			var state string
			require.NoError(t, pool.QueryRow(ctx, `SELECT string_agg(n.key || ' -> ' || coalesce(e.key, '?') || ' ' || x.reason, '; ' ORDER BY n.key)
				FROM node_entities x JOIN nodes n ON n.id = x.node_id LEFT JOIN nodes e ON e.id = x.entity_id`).Scan(&state))
			require.Equal(t, "delta -> alpha alias", state)
		})
	}
}

// loadOneByOne loads feeds one at a time, in order, each of which must
// load ok.
func loadOneByOne(ctx context.Context, t *testing.T, st ingest.Store, feeds []ingest.Feed) {
	t.Helper()
	for _, f := range feeds {
		res, err := ingest.Run(ctx, st, []ingest.Feed{f}, ingest.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		require.NoError(t, err)
		require.Equal(t, ingest.StatusOK, res[0].Status, "%s: %s", f.Name, res[0].Error)
	}
}

// TestRenumberedTechniqueIsOneEntity: an ATT&CK technique whose ATT&CK id
// changed between versions (mobile-attack-1.0's MOB-T1036, no ATT&CK id of
// today's form, so keyed by its name; a later copy of the same STIX id
// keyed by T1433; testdata/adv renumber-v1.json and renumber-v2.json).
// The older node was an empty node: every link went to the T1433 node,
// and nothing said the two were one (the corpus's mobile-attack-1.0.json
// and unit42/statelytaurus.json: `intel show MOB-T1036`, degree 0). It now
// stands for the T1433 node, in either load order; the T1433 node, which
// claims names of its own, never stands for another.
func TestRenumberedTechniqueIsOneEntity(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("..", "testdata", "adv")
	v1 := ingest.Feed{Name: "renumber-v1", Path: filepath.Join(dir, "renumber-v1.json")}
	v2 := ingest.Feed{Name: "renumber-v2", Path: filepath.Join(dir, "renumber-v2.json")}
	for _, order := range [][]ingest.Feed{{v1, v2}, {v2, v1}} {
		t.Run(order[0].Name+" first", func(t *testing.T) {
			ctx := context.Background()
			st, pool := newStore(t)
			loadOneByOne(ctx, t, st, order)
			r, err := st.Resolve(ctx, "MOB-T1036")
			require.NoError(t, err)
			require.Equal(t, "T1433", r.Node.Key, "the old ATT&CK id reaches the renumbered technique")
			require.NotNil(t, r.SameAs)
			require.Equal(t, "access call log", r.SameAs.Key)
			var state string
			require.NoError(t, pool.QueryRow(ctx, `SELECT string_agg(n.key || ' -> ' || coalesce(e.key, '?') || ' ' || x.reason, '; ' ORDER BY n.key)
				FROM node_entities x JOIN nodes n ON n.id = x.node_id LEFT JOIN nodes e ON e.id = x.entity_id`).Scan(&state))
			require.Equal(t, "access call log -> T1433 alias", state)
		})
	}
}
