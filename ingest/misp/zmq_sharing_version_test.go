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

// TestZMQEventRestrictionIsPartOfTheAttributesVersion: the restriction the
// Event of a ZMQ misp_json_attribute message gives the attribute's own
// node (testdata/misp/zmq_misp_json_attribute.json: a to_ids domain, an
// indicator) is part of the attribute's record in its version (its
// timestamp), as a search result's event summary's is (boundOutside): a
// newer message of the attribute whose event is now of all communities
// takes the old event's sharing group away, and the older message loaded
// after it changes nothing. Before, the restriction was a record of no
// version: "sharing group" stayed on the indicator for ever.
func TestZMQEventRestrictionIsPartOfTheAttributesVersion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	raw, err := os.ReadFile(filepath.Join(testdata, "zmq_misp_json_attribute.json"))
	require.NoError(t, err)
	message := func(attrTS, evTS int, evDistribution string) string {
		var msg map[string]any
		require.NoError(t, jsonUnmarshal(raw, &msg))
		msg["Attribute"].(map[string]any)["distribution"] = "3"
		msg["Attribute"].(map[string]any)["timestamp"] = attrTS
		ev := msg["Event"].(map[string]any)
		ev["timestamp"] = evTS
		ev["distribution"] = evDistribution
		if evDistribution == "4" {
			ev["sharing_group_id"] = "2"
			ev["SharingGroup"] = map[string]any{"name": "CERT partners", "uuid": "5c0e0000-0000-4000-8000-0000000000aa"}
		}
		out, err := stdjson.Marshal(msg)
		require.NoError(t, err)
		return string(out)
	}
	older := message(1505235283, 1505235283, "4")
	newer := message(1505239999, 1505239999, "3")
	for _, order := range [][2]string{{older, newer}, {newer, older}} {
		pool := pgtest.Pool(t)
		st := store.NewStore(pool)
		for i, doc := range order {
			opts := quiet(nil)
			opts.Feed = "zmq"
			rep, err := LoadFile(ctx, strings.NewReader(doc), st, opts)
			require.NoError(t, err)
			requireBalanced(t, rep)
			if i == 0 && doc == older {
				require.Equal(t, "sharing group", keyProps(t, pool, "indicator--59b8114b-1c80-4149-be3a-03e9c0a83832")["event_distribution"])
			}
		}
		props := keyProps(t, pool, "indicator--59b8114b-1c80-4149-be3a-03e9c0a83832")
		require.NotContains(t, props, "event_distribution", "older first: %v", order[0] == older)
		require.NotContains(t, props, "event_sharing_group", "older first: %v", order[0] == older)
	}
}
