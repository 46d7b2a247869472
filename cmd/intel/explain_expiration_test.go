package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/internal/pgtest"
)

// TestRelatedExplainSaysAnExpiration: a MISP event whose to_ids ip-dst
// has an expiration sighting (type 2, 2021-01-07) loads an indicator that
// intel show says expired; related --explain, which says why a node is
// related, says it too: in the table on the indicator's line
// ("expiration: 2021-01-07 (expired), by 1 expiration sighting") and in
// json ("expiration" on the node). Without --explain the answer is as
// before. Before, --explain said nothing of it: the walk showed the
// indicator as any live one.
func TestRelatedExplainSaysAnExpiration(t *testing.T) {
	t.Parallel()
	db := "--database-url=" + pgtest.DSN(t)
	const event, attr = "7e000000-0000-4000-8000-000000000001", "7e000000-0000-4000-8000-000000000002"
	doc := `{"Event": {"uuid": "` + event + `", "info": "expiring", "date": "2020-09-13", "timestamp": "1600000000",
	 "Attribute": [{"uuid": "` + attr + `", "type": "ip-dst", "category": "Network activity", "value": "198.51.100.98", "to_ids": true, "timestamp": "1600000000",
	  "Sighting": [{"uuid": "7e000000-0000-4000-8000-000000000003", "type": "2", "date_sighting": "1610000000", "source": "",
	   "Organisation": {"name": "ACME CERT", "uuid": "11111111-2222-4333-8444-555555555555"}}]}]}}`
	path := filepath.Join(t.TempDir(), "expiring.json")
	require.NoError(t, os.WriteFile(path, []byte(doc), 0o600))
	runOK(t, db, "ingest", "misp", path, "--feed", "expiring")

	table := runOK(t, db, "related", "misp--"+attr, "--depth", "1", "--explain")
	line, _, _ := strings.Cut(table, "\n") // the start: the indicator
	require.True(t, strings.HasPrefix(line, "indicator "), table)
	require.Contains(t, line, "expiration: 2021-01-07 (expired), by 1 expiration sighting", table)
	require.Equal(t, 1, strings.Count(table, "expiration:"), "only the indicator expired:\n%s", table)

	var nb graph.Neighbourhood
	require.NoError(t, json.Unmarshal([]byte(runOK(t, db, "related", "misp--"+attr, "--depth", "1", "--format", "json", "--explain")), &nb))
	start, ok := nb.Node(nb.Start)
	require.True(t, ok)
	require.NotNil(t, start.Expiration, "the indicator's expiration")
	require.Equal(t, "2021-01-07T06:13:20Z", start.Expiration.FirstSeen.UTC().Format("2006-01-02T15:04:05Z"))
	for _, n := range nb.Nodes {
		if n.ID != nb.Start {
			require.Nil(t, n.Expiration, "%s %s: only the indicator expired", n.Kind, n.Key)
		}
	}

	plain := runOK(t, db, "related", "misp--"+attr, "--depth", "1", "--format", "json")
	require.NotContains(t, plain, `"expiration"`, "no explanation unless asked")
}
