package ingest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/ingest"
	"github.com/ransomeye/intel/internal/pgtest"
)

// nodeVersionCase is one STIX object (malware--…7101) in two versions,
// the second the newer (a later modified).
type nodeVersionCase struct {
	name   string
	v1, v2 map[string]any
	// want shows on the node, gone (the older version's alone) does not:
	// for one STIX id only its newest version counts (README, "Newer
	// versions": node_records).
	want, gone string
}

func malwareVersion(modified, name string, extra map[string]any) map[string]any {
	m := map[string]any{"type": "malware", "spec_version": "2.1", "id": "malware--5e1f0000-0000-4000-8000-0000000a7101",
		"created": "2024-01-01T00:00:00.000Z", "modified": modified, "name": name, "is_family": true}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// TestNewestVersionNameAndProps: which version of one STIX object gives
// its node's props and labels, in both load orders (the same node in
// either). The newer version does, whatever the confidence or times of
// the older, and the props keys and labels only the older version had are
// gone: the older version's record is replaced, not merged. (Before
// node_records every case but the first kept the older version's content.)
func TestNewestVersionNameAndProps(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cases := []nodeVersionCase{
		{"same confidence", malwareVersion("2024-01-01T00:00:00Z", "Adv7 Mal", map[string]any{"confidence": 50, "description": "old"}),
			malwareVersion("2024-03-01T00:00:00Z", "Adv7 Mal", map[string]any{"confidence": 50, "description": "new"}), `"description": "new"`, `"description": "old"`},
		{"confidence lowered", malwareVersion("2024-01-01T00:00:00Z", "Adv7 Mal", map[string]any{"confidence": 80, "description": "old"}),
			malwareVersion("2024-03-01T00:00:00Z", "Adv7 Mal", map[string]any{"confidence": 20, "description": "new"}), `"description": "new"`, `"description": "old"`},
		{"confidence dropped", malwareVersion("2024-01-01T00:00:00Z", "Adv7 Mal", map[string]any{"confidence": 80, "description": "old"}),
			malwareVersion("2024-03-01T00:00:00Z", "Adv7 Mal", map[string]any{"description": "new"}), `"description": "new"`, `"description": "old"`},
		{"later last_seen in the older", malwareVersion("2024-01-01T00:00:00Z", "Adv7 Mal", map[string]any{"last_seen": "2025-01-01T00:00:00Z", "first_seen": "2023-01-01T00:00:00Z", "description": "old"}),
			malwareVersion("2024-03-01T00:00:00Z", "Adv7 Mal", map[string]any{"first_seen": "2023-01-01T00:00:00Z", "last_seen": "2023-06-01T00:00:00Z", "description": "new"}), `"description": "new"`, `"description": "old"`},
		{"key removed", malwareVersion("2024-01-01T00:00:00Z", "Adv7 Mal", map[string]any{"description": "old", "x_adv7_removed": "only in v1"}),
			malwareVersion("2024-03-01T00:00:00Z", "Adv7 Mal", map[string]any{"description": "new"}), `"description": "new"`, `x_adv7_removed`},
		{"label removed", malwareVersion("2024-01-01T00:00:00Z", "Adv7 Mal", map[string]any{"labels": []string{"old-label", "kept"}}),
			malwareVersion("2024-03-01T00:00:00Z", "Adv7 Mal", map[string]any{"labels": []string{"kept"}}), "[kept]", "old-label"},
	}
	write := func(name string, objs ...map[string]any) ingest.Feed {
		b, err := json.Marshal(map[string]any{"type": "bundle", "id": "bundle--5e1f0000-0000-4000-8000-0000000a7199", "objects": objs})
		require.NoError(t, err)
		p := filepath.Join(dir, name+".json")
		require.NoError(t, os.WriteFile(p, b, 0o600))
		return ingest.Feed{Name: name, Path: p}
	}
	for i, tc := range cases {
		v1 := write("v1-"+string(rune('a'+i)), tc.v1)
		v2 := write("v2-"+string(rune('a'+i)), tc.v2)
		// Both versions in one bundle, as a TAXII collection's objects
		// answer holds every version (medallion's indicator--d81f86b9…).
		both := write("both-"+string(rune('a'+i)), tc.v1, tc.v2)
		bothReversed := write("both-reversed-"+string(rune('a'+i)), tc.v2, tc.v1)
		var got []string
		for _, order := range [][]ingest.Feed{{v1, v2}, {v2, v1}, {both}, {bothReversed}} {
			ctx := context.Background()
			st, pool := newStore(t)
			loadOneByOne(ctx, t, st, order)
			var name, props string
			var labels []string
			require.NoError(t, pool.QueryRow(ctx, `SELECT n.name, n.props::text, n.labels FROM nodes n JOIN node_aliases a ON a.node_id = n.id
				WHERE a.source_id = 'malware--5e1f0000-0000-4000-8000-0000000a7101'`).Scan(&name, &props, &labels))
			got = append(got, fmt.Sprintf("%s %v %s", name, labels, props))
		}
		for _, g := range got[1:] {
			require.Equal(t, got[0], g, "%s: any order, one file or two", tc.name)
		}
		require.Contains(t, got[0], tc.want, tc.name)
		require.NotContains(t, got[0], tc.gone, "%s: the older version's content still shows", tc.name)
	}
}

// TestATTACKReleaseReplacesTheTechniquesProps: T1485 Data Destruction as
// two ATT&CK releases wrote it (testdata/excerpts: x_mitre_version 1.1 of
// 2021 and 1.4 of 2025) and a vendor's copy of the technique (another STIX
// id, the same ATT&CK id: the same node), loaded in every order. The node
// shows the 1.4 release's props: x_mitre_permissions_required, which only
// 1.1 has, is gone (before node_records it stayed, in every order); the
// vendor's own key stays, merged by the contract across source objects,
// and every order gives the same graph.
func TestATTACKReleaseReplacesTheTechniquesProps(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	vendor := filepath.Join(dir, "vendor.json")
	require.NoError(t, os.WriteFile(vendor, []byte(`{"type": "bundle", "id": "bundle--5e1f0000-0000-4000-8000-0000000a7201", "objects": [
		{"type": "attack-pattern", "spec_version": "2.1", "id": "attack-pattern--5e1f0000-0000-4000-8000-0000000a7202",
		 "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z", "name": "Data Destruction",
		 "external_references": [{"source_name": "mitre-attack", "external_id": "T1485"}],
		 "x_vendor_note": "seen wiping backups"}]}`), 0o600))
	feeds := []ingest.Feed{
		{Name: "attack-1.1", Path: filepath.Join("..", "testdata", "excerpts", "attack-T1485-v1.1.json")},
		{Name: "attack-1.4", Path: filepath.Join("..", "testdata", "excerpts", "attack-T1485-v1.4.json")},
		{Name: "vendor", Path: vendor},
	}
	var dumps []string
	for _, order := range [][]int{{0, 1, 2}, {1, 0, 2}, {2, 0, 1}, {1, 2, 0}, {0, 2, 1}, {2, 1, 0}} {
		ctx := context.Background()
		st, pool := newStore(t)
		loadOneByOne(ctx, t, st, []ingest.Feed{feeds[order[0]], feeds[order[1]], feeds[order[2]]})
		var props map[string]any
		require.NoError(t, pool.QueryRow(ctx, `SELECT n.props FROM nodes n JOIN node_aliases a ON a.node_id = n.id
			WHERE a.source_id = 'attack-pattern--d45a3d09-b3cf-48f4-9f0f-f521ee5cb05c'`).Scan(&props))
		require.Equal(t, "1.4", props["x_mitre_version"], "order %v", order)
		require.NotContains(t, props, "x_mitre_permissions_required", "order %v: a key only the older release has", order)
		require.Equal(t, []any{"Windows", "IaaS", "Linux", "macOS", "Containers", "ESXi"}, props["x_mitre_platforms"], "order %v", order)
		require.Equal(t, "seen wiping backups", props["x_vendor_note"], "order %v: another source object's key", order)
		dumps = append(dumps, pgtest.Dump(t, pool, pgtest.GraphQueries...))
	}
	for i := 1; i < len(dumps); i++ {
		require.True(t, dumps[0] == dumps[i], "order %d gives another graph: %s", i, diff(dumps[0], dumps[i]))
	}
}

// TestOlderVersionsTLPGoesAway: a TLP:RED marking only the older version
// of one STIX object carries (object_marking_refs naming TLP 1.0's red
// definition, a granular marking of its description, a feed's own TLP
// definition that comes after the object: a record of the TLP alone) is
// gone from the node once the newer version without it is loaded, in
// either order and in one bundle; the newer version's own TLP:GREEN
// shows. (Before node_records the strictest TLP of every version stayed.)
func TestOlderVersionsTLPGoesAway(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const red = "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed"
	const green = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"
	const feedRed = "marking-definition--5e1f0000-0000-4000-8000-0000000a7601"
	newer := malwareVersion("2024-03-01T00:00:00Z", "Adv7 Mal", map[string]any{"object_marking_refs": []string{green}, "description": "new"})
	cases := []struct {
		name  string
		older []map[string]any
	}{
		{"object marking", []map[string]any{malwareVersion("2024-01-01T00:00:00Z", "Adv7 Mal", map[string]any{"object_marking_refs": []string{red}})}},
		{"granular marking", []map[string]any{malwareVersion("2024-01-01T00:00:00Z", "Adv7 Mal", map[string]any{"description": "old",
			"granular_markings": []map[string]any{{"marking_ref": red, "selectors": []string{"description"}}}})}},
		{"feed's marking defined after", []map[string]any{
			malwareVersion("2024-01-01T00:00:00Z", "Adv7 Mal", map[string]any{"object_marking_refs": []string{feedRed}}),
			{"type": "marking-definition", "spec_version": "2.1", "id": feedRed, "created": "2024-01-01T00:00:00.000Z",
				"definition_type": "tlp", "definition": map[string]any{"tlp": "red"}}}},
	}
	write := func(name string, objs ...map[string]any) ingest.Feed {
		b, err := json.Marshal(map[string]any{"type": "bundle", "id": "bundle--5e1f0000-0000-4000-8000-0000000a7199", "objects": objs})
		require.NoError(t, err)
		p := filepath.Join(dir, name+".json")
		require.NoError(t, os.WriteFile(p, b, 0o600))
		return ingest.Feed{Name: name, Path: p}
	}
	for i, tc := range cases {
		v1 := write(fmt.Sprintf("tlp-v1-%d", i), tc.older...)
		v2 := write(fmt.Sprintf("tlp-v2-%d", i), newer)
		both := write(fmt.Sprintf("tlp-both-%d", i), append(slices.Clone(tc.older), newer)...)
		for _, order := range [][]ingest.Feed{{v1}, {v1, v2}, {v2, v1}, {both}} {
			ctx := context.Background()
			st, pool := newStore(t)
			loadOneByOne(ctx, t, st, order)
			var tlp string
			require.NoError(t, pool.QueryRow(ctx, `SELECT coalesce(n.tlp, '') FROM nodes n JOIN node_aliases a ON a.node_id = n.id
				WHERE a.source_id = 'malware--5e1f0000-0000-4000-8000-0000000a7101'`).Scan(&tlp))
			if len(order) == 1 && order[0] == v1 {
				require.Equal(t, "red", tlp, "%s: the older version alone", tc.name)
				continue
			}
			require.Equal(t, "green", tlp, "%s: %s", tc.name, order[0].Name)
		}
	}
}
