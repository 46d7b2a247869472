package ingest_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/ingest"
)

// TestDeterministicSTIXIDReachesTheObservable: a relationship naming an
// observable by its STIX 2.1 deterministic id (ipv4-addr--bb2d8454-…, as
// python-stix2 and OpenCTI write it) without the object in its feed
// reaches the node another feed gave: a STIX SCO with a random id
// (testdata/adv detid-sco.json, detid-ref.json) or a MISP ip-dst. Both
// load orders; nothing stays pending.
func TestDeterministicSTIXIDReachesTheObservable(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("..", "testdata", "adv")
	misp := filepath.Join(t.TempDir(), "ip.json")
	require.NoError(t, os.WriteFile(misp, []byte(`{"Event": {"uuid": "00000000-0000-4000-8000-0000000000f1", "info": "x", "date": "2024-01-01", "timestamp": "1700000000",
	  "Attribute": [{"uuid": "00000000-0000-4000-8000-0000000000f2", "type": "ip-dst", "category": "Network activity", "value": "198.51.100.88", "timestamp": "1700000000"}]}}`), 0o644))
	ref := ingest.Feed{Name: "detid-ref", Path: filepath.Join(dir, "detid-ref.json")}
	for _, giver := range []ingest.Feed{
		{Name: "detid-sco", Path: filepath.Join(dir, "detid-sco.json")},
		{Name: "misp-ip", Path: misp},
	} {
		for _, order := range [][]ingest.Feed{{giver, ref}, {ref, giver}} {
			t.Run(giver.Name+" "+order[0].Name+" first", func(t *testing.T) {
				ctx := context.Background()
				st, pool := newStore(t)
				loadOneByOne(ctx, t, st, order)
				var pending, linked int
				require.NoError(t, pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM pending_relations),
					(SELECT count(*) FROM relations r JOIN nodes s ON s.id = r.src_id JOIN nodes d ON d.id = r.dst_id
					 WHERE s.name = 'DetRef RAT' AND r.relation = 'communicates-with' AND d.kind = 'ipv4-addr' AND d.key = '198.51.100.88')`).Scan(&pending, &linked))
				require.Zero(t, pending, "nothing waits")
				require.Equal(t, 1, linked, "the relationship reaches the address")
			})
		}
	}
}
