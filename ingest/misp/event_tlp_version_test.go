package misp

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// tlpVersionEvent is one MISP event in version ts with the event tags
// tags: a text attribute (a node of its own), a to_ids domain attribute (an
// indicator), a person object and a file object flagged to_ids (an
// indicator for the object), and a sighting of the text attribute. late
// puts the event's uuid and timestamp after its attributes and objects (as
// a document with sorted keys has them).
func tlpVersionEvent(ts, tags string, late bool) string {
	head, tail := fmt.Sprintf(`"uuid": "7a1c0000-0000-4000-8000-000000000001", "timestamp": %q,`, ts), ""
	if late {
		head, tail = "", fmt.Sprintf(`, "timestamp": %q, "uuid": "7a1c0000-0000-4000-8000-000000000001"`, ts)
	}
	return fmt.Sprintf(`{"Event": {
  %s "info": "event losing its TLP tag",
  "date": "2024-01-05",
  "Tag": [%s],
  "Attribute": [
    {"uuid": "7a1c0000-0000-4000-8000-000000000011", "type": "text", "value": "victim list", "to_ids": false,
     "category": "Other", "timestamp": "1704450000",
     "Sighting": [{"uuid": "7a1c0000-0000-4000-8000-000000000091", "date_sighting": "1704450100", "type": "0"}]},
    {"uuid": "7a1c0000-0000-4000-8000-000000000012", "type": "domain", "value": "tlp-version.example", "to_ids": true,
     "category": "Network activity", "timestamp": "1704450000"}
  ],
  "Object": [
    {"uuid": "7a1c0000-0000-4000-8000-000000000021", "name": "person", "meta-category": "misc", "timestamp": "1704450000",
     "Attribute": [
       {"uuid": "7a1c0000-0000-4000-8000-000000000022", "type": "email-src", "object_relation": "email",
        "value": "victim@tlp-version.example", "to_ids": false, "timestamp": "1704450000"}
     ]},
    {"uuid": "7a1c0000-0000-4000-8000-000000000031", "name": "file", "meta-category": "file", "timestamp": "1704450000",
     "Attribute": [
       {"uuid": "7a1c0000-0000-4000-8000-000000000032", "type": "sha256", "object_relation": "sha256",
        "value": "7a1c000000000000000000000000000000000000000000000000000000000031", "to_ids": true, "timestamp": "1704450000"}
     ]}
  ]%s
}}`, head, tags, tail)
}

// TestNewerEventVersionWithoutTLPTagTakesItsTLPAway: a MISP event's TLP
// marks its own content (attributes keyed by uuid, indicators, objects,
// sightings) by records of the TLP alone written at the event's end. Those
// records are the event's, in its version: a newer version of the event
// without the tag replaces them, so its own content loses the TLP, in
// either load order, as the event's node does. Before, the records had no
// version and went to each node's ” record: after the newer version,
// every own node kept TLP:RED. The same with the event's uuid and
// timestamp after its members (its own nodes read before its version).
func TestNewerEventVersionWithoutTLPTagTakesItsTLPAway(t *testing.T) {
	t.Parallel()
	for _, late := range []bool{false, true} {
		t.Run(fmt.Sprint("late=", late), func(t *testing.T) {
			t.Parallel()
			eventLosingTLP(t, late)
		})
	}
}

func eventLosingTLP(t *testing.T, late bool) {
	ctx := context.Background()
	v1 := tlpVersionEvent("1704450000", `{"name": "tlp:red"}`, late)
	v2 := tlpVersionEvent("1704460000", ``, late)
	own := []string{
		"misp--7a1c0000-0000-4000-8000-000000000001", // the event
		"x-misp-attribute--7a1c0000-0000-4000-8000-000000000011",
		"indicator--7a1c0000-0000-4000-8000-000000000012",
		"misp--7a1c0000-0000-4000-8000-000000000021",
		"indicator--7a1c0000-0000-4000-8000-000000000031",
		"misp--7a1c0000-0000-4000-8000-000000000091",
	}
	for _, order := range [][2]string{{v1, v2}, {v2, v1}} {
		pool := pgtest.Pool(t)
		st := store.NewStore(pool)
		for i, doc := range order {
			opts := quiet(nil)
			opts.Feed = "tlp-version"
			rep, err := LoadFile(ctx, strings.NewReader(doc), st, opts)
			require.NoError(t, err)
			requireBalanced(t, rep)
			if i == 0 && doc == v1 {
				for _, key := range own {
					require.Equal(t, "red", keyTLP(t, pool, key), "%s after the first version alone", key)
				}
			}
		}
		for _, key := range own {
			require.Empty(t, keyTLP(t, pool, key), "%s after both versions (v1 first: %v)", key, order[0] == v1)
		}
	}
}
