package misp

import (
	"context"
	stdjson "encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// TestSightingNamingAPropertyAttributeSightsItsObject: a sighting that
// names by attribute_uuid an attribute the object keeps as a property
// (testdata/misp/object_attribute_sightings.json's text attribute
// 5f3e…14, which has no node of its own) sights the object's node, as
// the sighting inside that attribute's own Sighting list does and as
// MISP's UI shows it (on the attribute, inside its object): one in the
// event's Sighting list, and one of a ZMQ misp_json_sighting message
// (testdata/misp/zmq_misp_json_sighting.json naming that attribute),
// loaded after the event or before it. Before, both waited in
// pending_relations for ever for "misp--<attribute uuid>", which no node
// claimed (the object's node sighted 1 time, 2 relations pending).
func TestSightingNamingAPropertyAttributeSightsItsObject(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join(testdata, "object_attribute_sightings.json"))
	require.NoError(t, err)
	const text, object = "5f3e0000-0000-4000-8000-000000000014", "misp--5f3e0000-0000-4000-8000-000000000010"
	var ev map[string]map[string]any
	require.NoError(t, jsonUnmarshal(raw, &ev))
	ev["Event"]["Sighting"] = []any{map[string]any{"uuid": "5f3e0000-0000-4000-8000-000000000021", "attribute_uuid": text,
		"type": "0", "date_sighting": "1620000000", "source": ""}}
	doc, err := stdjson.Marshal(ev)
	require.NoError(t, err)
	zraw, err := os.ReadFile(filepath.Join(testdata, "zmq_misp_json_sighting.json"))
	require.NoError(t, err)
	var msg map[string]any
	require.NoError(t, jsonUnmarshal(zraw, &msg))
	s := msg["Sighting"].(map[string]any)
	s["uuid"] = "5f3e0000-0000-4000-8000-000000000022"
	s["Attribute"].(map[string]any)["uuid"] = text
	s["Event"].(map[string]any)["uuid"] = "5f3e0000-0000-4000-8000-000000000001"
	zmq, err := stdjson.Marshal(msg)
	require.NoError(t, err)

	for _, order := range []string{"event first", "message first"} {
		t.Run(order, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			pool := pgtest.Pool(t)
			st := store.NewStore(pool)
			load := func(feed string, doc []byte) {
				opts := quiet(nil)
				opts.Feed = feed
				rep, err := LoadFile(ctx, strings.NewReader(string(doc)), st, opts)
				require.NoError(t, err)
				requireBalanced(t, rep)
				require.Empty(t, rep.Dropped, feed)
			}
			if order == "event first" {
				load("event", doc)
				load("zmq", zmq)
			} else {
				load("zmq", zmq)
				load("event", doc)
			}
			var pending int
			require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pending_relations`).Scan(&pending))
			require.Zero(t, pending, "no sighting waits for the property attribute")
			n, err := st.ResolveNode(ctx, object)
			require.NoError(t, err)
			got, err := st.ResolveNode(ctx, "misp--"+text)
			require.NoError(t, err, "the property attribute's uuid names its object")
			require.Equal(t, n.ID, got.ID)
			d, err := st.NodeDetails(ctx, n.ID)
			require.NoError(t, err)
			require.NotNil(t, d.Sighted)
			require.Equal(t, int64(3), d.Sighted.Sightings, "the text's own sighting, the event's and the message's")
		})
	}
}
