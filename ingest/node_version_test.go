package ingest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/ingest"
)

// nodeVersionCase is one STIX object (malware--…7101) in two versions,
// the second the newer (a later modified).
type nodeVersionCase struct {
	name   string
	v1, v2 map[string]any
	// older is what the older version alone says that the node still
	// shows (README, "Merging": a node record ranks by confidence, then
	// its latest own time; labels are a union, and props keys the winner
	// lacks come from the others): "" when nothing of it shows.
	older string
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
// either). The newer version wins at equal confidence; an older version
// with a higher confidence (or one where the newer gives none), or with a
// later last_seen than the newer's times, still gives the props, and the
// keys and labels only an older version has stay (the merge contract
// ranks records, not versions of one object: a known limit).
func TestNewestVersionNameAndProps(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cases := []nodeVersionCase{
		{"same confidence", malwareVersion("2024-01-01T00:00:00Z", "Adv7 Mal", map[string]any{"confidence": 50, "description": "old"}),
			malwareVersion("2024-03-01T00:00:00Z", "Adv7 Mal", map[string]any{"confidence": 50, "description": "new"}), ""},
		{"confidence lowered", malwareVersion("2024-01-01T00:00:00Z", "Adv7 Mal", map[string]any{"confidence": 80, "description": "old"}),
			malwareVersion("2024-03-01T00:00:00Z", "Adv7 Mal", map[string]any{"confidence": 20, "description": "new"}), `"description": "old"`},
		{"confidence dropped", malwareVersion("2024-01-01T00:00:00Z", "Adv7 Mal", map[string]any{"confidence": 80, "description": "old"}),
			malwareVersion("2024-03-01T00:00:00Z", "Adv7 Mal", map[string]any{"description": "new"}), `"description": "old"`},
		{"later last_seen in the older", malwareVersion("2024-01-01T00:00:00Z", "Adv7 Mal", map[string]any{"last_seen": "2025-01-01T00:00:00Z", "first_seen": "2023-01-01T00:00:00Z", "description": "old"}),
			malwareVersion("2024-03-01T00:00:00Z", "Adv7 Mal", map[string]any{"first_seen": "2023-01-01T00:00:00Z", "last_seen": "2023-06-01T00:00:00Z", "description": "new"}), `"description": "old"`},
		{"key removed", malwareVersion("2024-01-01T00:00:00Z", "Adv7 Mal", map[string]any{"description": "old", "aliases": []string{"Adv7 Alias"}}),
			malwareVersion("2024-03-01T00:00:00Z", "Adv7 Mal", map[string]any{"description": "new"}), `"aliases": ["Adv7 Alias"]`},
		{"label removed", malwareVersion("2024-01-01T00:00:00Z", "Adv7 Mal", map[string]any{"labels": []string{"old-label", "kept"}}),
			malwareVersion("2024-03-01T00:00:00Z", "Adv7 Mal", map[string]any{"labels": []string{"kept"}}), "old-label"},
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
		var got []string
		for _, order := range [][]ingest.Feed{{v1, v2}, {v2, v1}} {
			ctx := context.Background()
			st, pool := newStore(t)
			loadOneByOne(ctx, t, st, order)
			var name, props string
			var labels []string
			require.NoError(t, pool.QueryRow(ctx, `SELECT n.name, n.props::text, n.labels FROM nodes n JOIN node_aliases a ON a.node_id = n.id
				WHERE a.source_id = 'malware--5e1f0000-0000-4000-8000-0000000a7101'`).Scan(&name, &props, &labels))
			got = append(got, fmt.Sprintf("%s %v %s", name, labels, props))
		}
		require.Equal(t, got[0], got[1], "%s: either order", tc.name)
		if tc.older == "" {
			require.Contains(t, got[0], `"description": "new"`, tc.name)
		} else {
			require.Contains(t, got[0], tc.older, "%s: the older version's content no longer shows; update this test and the README", tc.name)
		}
	}
}
