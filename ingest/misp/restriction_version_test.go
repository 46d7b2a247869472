package misp

import (
	"context"
	stdjson "encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// sharingGroupEvent is testdata/misp/sharing_group_event.json (an event
// of the sharing group "CERT partners" holding three attributes, one a
// to_ids domain: an indicator of its own), in MISP's key order, in
// version ts: with its Attribute list when full, else the copy of it
// without members that a ZMQ misp_json_event message gives (MISP's
// quickFetchEvent: the event's row); of all communities when open.
func sharingGroupEvent(t *testing.T, ts string, full, open bool) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(testdata, "sharing_group_event.json"))
	require.NoError(t, err)
	doc := string(raw)
	const head = `"timestamp": "1709251200", "distribution": "4", "sharing_group_id": "2"`
	require.Contains(t, doc, head)
	dist, group := "4", "2"
	if open {
		dist, group = "3", "0"
	}
	doc = strings.Replace(doc, head, fmt.Sprintf(`"timestamp": %q, "distribution": %q, "sharing_group_id": %q`, ts, dist, group), 1)
	if !full {
		cut := strings.Index(doc, `,
  "Attribute": [`)
		require.Positive(t, cut)
		doc = doc[:cut] + "}}"
	}
	var v any
	require.NoError(t, stdjson.Unmarshal([]byte(doc), &v), doc)
	return doc
}

const (
	sharingEventKey     = "misp--5c0e0000-0000-4000-8000-000000000001"
	sharingIndicatorKey = "indicator--5c0e0000-0000-4000-8000-000000000003"
)

// loadInOrder loads docs, in each order given, into a database of its own
// and calls check with it after each order's last document; every record
// read is mapped.
func loadInOrder(t *testing.T, orders [][]string, check func(st *store.Store, when string)) {
	t.Helper()
	ctx := context.Background()
	for n, order := range orders {
		st := store.NewStore(pgtest.Pool(t))
		for _, doc := range order {
			opts := quiet(nil)
			opts.Feed = "zmq"
			rep, err := LoadFile(ctx, strings.NewReader(doc), st, opts)
			require.NoError(t, err)
			requireBalanced(t, rep)
			require.Empty(t, rep.Dropped)
		}
		check(st, fmt.Sprint("order ", n))
	}
}

// liveTargets are the keys of the nodes the live relations of type
// relation reach, in order.
func liveTargets(t *testing.T, pool *pgxpool.Pool, relation string) []string {
	t.Helper()
	var out []string
	rows, err := pool.Query(context.Background(), `SELECT d.key FROM relations r JOIN nodes d ON d.id = r.dst_id
		WHERE r.relation = $1 ORDER BY 1`, relation)
	require.NoError(t, err)
	for rows.Next() {
		var k string
		require.NoError(t, rows.Scan(&k))
		out = append(out, k)
	}
	require.NoError(t, rows.Err())
	return out
}

// TestNewerEventVersionTakesItsRestrictionFromItsRecords: an event of a
// sharing group restricts its own records (the to_ids domain's indicator
// gets event_distribution "sharing group", event_sharing_group "CERT
// partners"); MISP's next version of the event (a misp_json message
// publishing it whole) is of all communities. That version no longer
// restricts them: the indicator loses the event's restriction, in either
// load order. Before, the restriction was a record of no version, which
// no newer version replaced: "event_sharing_group": "CERT partners" for
// ever.
func TestNewerEventVersionTakesItsRestrictionFromItsRecords(t *testing.T) {
	t.Parallel()
	older := sharingGroupEvent(t, "1709251200", true, false)
	newer := sharingGroupEvent(t, "1709259999", true, true)
	loadInOrder(t, [][]string{{older}}, func(st *store.Store, _ string) {
		require.Equal(t, "CERT partners", keyProps(t, st.Pool(), sharingIndicatorKey)["event_sharing_group"])
	})
	loadInOrder(t, [][]string{{older, newer}, {newer, older}}, func(st *store.Store, when string) {
		props := keyProps(t, st.Pool(), sharingIndicatorKey)
		require.NotContains(t, props, "event_distribution", when)
		require.NotContains(t, props, "event_sharing_group", when)
		require.Equal(t, "sharing group", props["distribution"], "its own distribution stays: "+when)
	})
}

// TestZMQEventMessageReplacesTheEventsRestriction: the event of a sharing
// group, then a ZMQ misp_json_event message (the event's row without its
// members, MISP's quickFetchEvent, sent when the event is edited) saying
// it is now of all communities, with its newer timestamp. The event's
// node is of all communities, without the group, in either load order.
// Before, the copy without members was no version of the event, so its
// record was merged into the full event's: "distribution": "all
// communities" beside "sharing_group": "CERT partners".
func TestZMQEventMessageReplacesTheEventsRestriction(t *testing.T) {
	t.Parallel()
	full := sharingGroupEvent(t, "1709251200", true, false)
	edit := sharingGroupEvent(t, "1709259999", false, true)
	loadInOrder(t, [][]string{{full, edit}, {edit, full}}, func(st *store.Store, when string) {
		props := keyProps(t, st.Pool(), sharingEventKey)
		require.Equal(t, "all communities", props["distribution"], when)
		require.NotContains(t, props, "sharing_group", when)
		require.NotContains(t, props, "sharing_group_uuid", when)
		require.Equal(t, "partners only", props["info"], when)
	})
	// A copy that says nothing of the restriction (no distribution)
	// leaves it as it is.
	silent := sharingGroupEvent(t, "1709259999", false, false)
	silent = strings.Replace(silent, `"distribution": "4",`, "", 1)
	require.NotContains(t, silent, `"distribution"`)
	loadInOrder(t, [][]string{{full, silent}}, func(st *store.Store, when string) {
		require.Equal(t, "CERT partners", keyProps(t, st.Pool(), sharingEventKey)["sharing_group"], when)
	})
}

// zmqAttributeWithSighting is MISP's documented misp_json_attribute
// message (testdata/misp/zmq_misp_json_attribute.json) with its attribute
// at timestamp attrTS, its Event of the sharing group "CERT partners"
// unless open, and one sighting of the attribute in the Sighting list
// beside it.
func zmqAttributeWithSighting(t *testing.T, attrTS int, open bool) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(testdata, "zmq_misp_json_attribute.json"))
	require.NoError(t, err)
	var msg map[string]any
	require.NoError(t, stdjson.Unmarshal(raw, &msg))
	attr := msg["Attribute"].(map[string]any)
	attr["distribution"], attr["timestamp"] = "3", attrTS
	ev := msg["Event"].(map[string]any)
	ev["timestamp"] = attrTS
	if !open {
		ev["distribution"], ev["sharing_group_id"] = "4", "2"
		ev["SharingGroup"] = map[string]any{"name": "CERT partners", "uuid": "5c0e0000-0000-4000-8000-0000000000aa"}
	}
	msg["Sighting"] = []any{map[string]any{"uuid": "5c0e0000-0000-4000-8000-0000000000c1", "attribute_uuid": attr["uuid"],
		"date_sighting": "1505235300", "type": "0", "source": "sensor-7",
		"Organisation": map[string]any{"name": "CIRCL", "uuid": "55f6ea5e-2c60-40e5-964f-47a8950d210f"}}}
	out, err := stdjson.Marshal(msg)
	require.NoError(t, err)
	return string(out)
}

// TestZMQSightingRestrictionIsPartOfTheAttributesVersion: the sightings
// beside a ZMQ misp_json_attribute message are bounded by the restriction
// of the Event copy beside them, as the message's attribute is, in the
// attribute's version: a newer message of the attribute whose event is
// now of all communities takes the restriction away from the sighting too,
// and the older message loaded after it changes nothing. Before, the
// sighting's restriction was a record of no version: "event_sharing_group":
// "CERT partners" stayed on it for ever.
func TestZMQSightingRestrictionIsPartOfTheAttributesVersion(t *testing.T) {
	t.Parallel()
	const sighting = "misp--5c0e0000-0000-4000-8000-0000000000c1"
	older := zmqAttributeWithSighting(t, 1505235283, false)
	newer := zmqAttributeWithSighting(t, 1505239999, true)
	loadInOrder(t, [][]string{{older}}, func(st *store.Store, _ string) {
		require.Equal(t, "CERT partners", keyProps(t, st.Pool(), sighting)["event_sharing_group"])
	})
	loadInOrder(t, [][]string{{older, newer}, {newer, older}}, func(st *store.Store, when string) {
		props := keyProps(t, st.Pool(), sighting)
		require.NotContains(t, props, "event_distribution", when)
		require.NotContains(t, props, "event_sharing_group", when)
		require.Equal(t, "sensor-7", props["source"], when)
	})
}
