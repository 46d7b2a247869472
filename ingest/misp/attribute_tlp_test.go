package misp

import (
	"bytes"
	"context"
	stdjson "encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/engine"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// attrTLPEvent is a tlp:green event holding an ip-dst tagged tlp:red (a
// value other events may share) with a sighting, a text attribute tagged
// tlp:red (a node of its own), an untagged domain, and an object whose one
// attribute is tagged tlp:amber.
const attrTLPEvent = `{"Event": {
  "uuid": "7a1b0000-0000-4000-8000-000000000001", "info": "green event, red attribute",
  "date": "2024-01-05", "timestamp": "1704450000",
  "Tag": [{"name": "tlp:green"}],
  "Attribute": [
    {"uuid": "7a1b0000-0000-4000-8000-000000000011", "type": "ip-dst", "value": "198.51.100.77", "to_ids": false,
     "category": "Network activity", "timestamp": "1704450000", "Tag": [{"name": "tlp:red"}],
     "Sighting": [{"uuid": "7a1b0000-0000-4000-8000-000000000091", "date_sighting": "1704450100", "type": "0"}]},
    {"uuid": "7a1b0000-0000-4000-8000-000000000012", "type": "text", "value": "victim list", "to_ids": false,
     "category": "Other", "timestamp": "1704450000", "Tag": [{"name": "tlp:red"}]},
    {"uuid": "7a1b0000-0000-4000-8000-000000000013", "type": "domain", "value": "plain.example", "to_ids": false,
     "category": "Network activity", "timestamp": "1704450000"}
  ],
  "Object": [
    {"uuid": "7a1b0000-0000-4000-8000-000000000021", "name": "person", "meta-category": "misc", "timestamp": "1704450000",
     "Attribute": [
       {"uuid": "7a1b0000-0000-4000-8000-000000000022", "type": "email-src", "object_relation": "email",
        "value": "victim@corp.example", "to_ids": false, "timestamp": "1704450000", "Tag": [{"name": "tlp:amber"}]}
     ]}
  ]
}}`

// TestAttributeTLPMarksItsLinks: an attribute's own TLP tag stricter than
// its event's marks what states it: the event's link to it (props "tlp",
// as the STIX loader writes a marked object's links), an object's
// has-attribute link and its event's link to the object, and the
// attribute's sightings; so intel related --explain says TLP:RED (not the
// event's TLP:GREEN) for the link to the red address. Its node is marked
// too (checked: it was), the shared address as a STIX SCO with that
// marking would be. Before, the links were marked as the event only: the
// red attribute's link was explained TLP:GREEN, shareable.
func TestAttributeTLPMarksItsLinks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, st := loadTLPEvent(t, "attr-tlp", attrTLPEvent)
	nodeTLP := func(key string) string { return keyTLP(t, pool, key) }
	linkTLP := func(src, rel, dst string) string {
		var tlp *string
		require.NoError(t, pool.QueryRow(ctx, `SELECT r.props->>'tlp' FROM relations r
			JOIN nodes s ON s.id = r.src_id JOIN nodes d ON d.id = r.dst_id
			WHERE s.key = $1 AND r.relation = $2 AND d.key = $3`, src, rel, dst).Scan(&tlp), "%s %s %s", src, rel, dst)
		if tlp == nil {
			return ""
		}
		return *tlp
	}
	const ev = "misp--7a1b0000-0000-4000-8000-000000000001"
	ip := graph.ValueNode(graph.KindIPv4Addr, "198.51.100.77").Key
	require.Equal(t, "red", linkTLP(ev, RelObject, ip), "the event's link to the red address")
	require.Equal(t, "red", linkTLP(ev, RelObject, "x-misp-attribute--7a1b0000-0000-4000-8000-000000000012"))
	require.Empty(t, linkTLP(ev, RelObject, "plain.example"), "an untagged attribute's link: the event's TLP, read from the event")
	obj := "misp--7a1b0000-0000-4000-8000-000000000021"
	require.Equal(t, "amber", linkTLP(ev, RelObject, obj), "the event's link to an object holding an amber attribute")
	require.Equal(t, "amber", linkTLP(obj, RelHasAttribute, "victim@corp.example"))

	require.Equal(t, "green", nodeTLP(ev))
	require.Equal(t, "red", nodeTLP(ip), "the attribute's node")
	require.Equal(t, "red", nodeTLP("x-misp-attribute--7a1b0000-0000-4000-8000-000000000012"))
	require.Equal(t, "amber", nodeTLP(obj))
	require.Equal(t, "red", nodeTLP("misp--7a1b0000-0000-4000-8000-000000000091"), "a sighting of the red attribute")

	// What intel related --explain reads: the event's link and the
	// sighting's.
	require.Equal(t, []graph.TLP{graph.TLPRed, graph.TLPRed}, explainedTLPs(t, st, ip, ""))
}

// loadTLPEvent loads the MISP document doc as the feed into a database of
// its own and checks that its report adds up.
func loadTLPEvent(t *testing.T, feed, doc string) (*pgxpool.Pool, *store.Store) {
	t.Helper()
	pool := pgtest.Pool(t)
	st := store.NewStore(pool)
	opts := quiet(nil)
	opts.Feed = feed
	rep, err := LoadFile(context.Background(), strings.NewReader(doc), st, opts)
	require.NoError(t, err)
	requireBalanced(t, rep)
	require.Empty(t, rep.Dropped)
	return pool, st
}

// keyTLP is the TLP of the node keyed key, "" for none.
func keyTLP(t *testing.T, pool *pgxpool.Pool, key string) string {
	t.Helper()
	var tlp *string
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT tlp FROM nodes WHERE key = $1`, key).Scan(&tlp), key)
	if tlp == nil {
		return ""
	}
	return *tlp
}

// explainedTLPs are the TLPs intel related --explain gives the statements
// of the links at the node keyed key (of the relation rel, or any for "").
func explainedTLPs(t *testing.T, st *store.Store, key, rel string) []graph.TLP {
	t.Helper()
	ctx := context.Background()
	start, err := st.ResolveNode(ctx, key)
	require.NoError(t, err)
	nb, err := st.FindRelated(ctx, start.ID, graph.RelatedOptions{Depth: 1})
	require.NoError(t, err)
	require.NoError(t, st.ExplainEdges(ctx, nb))
	var out []graph.TLP
	for _, e := range nb.Edges {
		if rel != "" && e.Relation != rel {
			continue
		}
		for _, s := range e.StatedBy {
			out = append(out, s.TLP)
		}
	}
	return out
}

// eventSightingTLPEvent is a tlp:green event whose event-level Sighting
// list (MISP's Event.Sighting, each naming its attribute by
// attribute_uuid) sights a tlp:red attribute, a tlp:amber attribute of an
// object and an untagged attribute; %s places the list before or after
// the attributes and objects (MISP writes it after them, sorted keys put
// "Sighting" after "Attribute" and "Object" too, other writers before).
const eventSightingTLPEvent = `{"Event": {
  "uuid": "7a1b0000-0000-4000-8000-000000000101", "info": "green event, event-level sightings",
  "date": "2024-01-05", "timestamp": "1704450000",
  "Tag": [{"name": "tlp:green"}],
  %s
  "Attribute": [
    {"uuid": "7a1b0000-0000-4000-8000-000000000111", "type": "ip-dst", "value": "198.51.100.78", "to_ids": false,
     "category": "Network activity", "timestamp": "1704450000", "Tag": [{"name": "tlp:red"}]},
    {"uuid": "7a1b0000-0000-4000-8000-000000000113", "type": "domain", "value": "plain2.example", "to_ids": false,
     "category": "Network activity", "timestamp": "1704450000"}
  ],
  "Object": [
    {"uuid": "7a1b0000-0000-4000-8000-000000000121", "name": "person", "meta-category": "misc", "timestamp": "1704450000",
     "Attribute": [
       {"uuid": "7a1b0000-0000-4000-8000-000000000122", "type": "email-src", "object_relation": "email",
        "value": "victim2@corp.example", "to_ids": false, "timestamp": "1704450000", "Tag": [{"name": "tlp:amber"}]}
     ]}
  ]
  %s
}}`

const eventSightings = `"Sighting": [
    {"uuid": "7a1b0000-0000-4000-8000-000000000191", "attribute_uuid": "7a1b0000-0000-4000-8000-000000000111", "date_sighting": "1704450100", "type": "0"},
    {"uuid": "7a1b0000-0000-4000-8000-000000000192", "attribute_uuid": "7a1b0000-0000-4000-8000-000000000122", "date_sighting": "1704450100", "type": "0"},
    {"uuid": "7a1b0000-0000-4000-8000-000000000193", "attribute_uuid": "7a1b0000-0000-4000-8000-000000000113", "date_sighting": "1704450100", "type": "1"}
  ]`

// TestEventSightingTakesItsAttributesTLP: a sighting in the event's own
// Sighting list, which names its attribute by attribute_uuid, is marked
// as a sighting inside the attribute is (TestAttributeTLPMarksItsLinks):
// by the attribute's own TLP tag when stricter than the event's, so the
// sighting of a tlp:red attribute of a tlp:green event is TLP:RED, and
// intel related --explain says so for its sighting-of link; whether the
// list comes before or after the attributes. Before, such a sighting took
// only its event's TLP (green).
func TestEventSightingTakesItsAttributesTLP(t *testing.T) {
	t.Parallel()
	for _, order := range []struct{ name, before, after string }{
		{"sightings last", "", ",\n" + eventSightings},
		{"sightings first", eventSightings + ",", ""},
	} {
		t.Run(order.name, func(t *testing.T) {
			t.Parallel()
			pool, st := loadTLPEvent(t, "event-sighting-tlp", fmt.Sprintf(eventSightingTLPEvent, order.before, order.after))
			require.Equal(t, "red", keyTLP(t, pool, "misp--7a1b0000-0000-4000-8000-000000000191"), "the sighting of the red attribute")
			require.Equal(t, "amber", keyTLP(t, pool, "misp--7a1b0000-0000-4000-8000-000000000192"), "the sighting of the amber object attribute")
			require.Equal(t, "green", keyTLP(t, pool, "misp--7a1b0000-0000-4000-8000-000000000193"), "the sighting of an untagged attribute: the event's")
			ip := graph.ValueNode(graph.KindIPv4Addr, "198.51.100.78").Key
			require.Equal(t, []graph.TLP{graph.TLPRed}, explainedTLPs(t, st, ip, graph.RelSightingOf), "the sighting's link, explained TLP:RED")
		})
	}
}

// TestSightingBesideItsAttributeTakesItsTLP: a sighting read beside its
// attribute outside any event (the Sighting list of a ZMQ
// misp_json_attribute message, testdata/misp/zmq_misp_json_attribute.json,
// here with a tlp:red tag on its attribute and one sighting naming it by
// attribute_uuid) is marked red, as in an event
// (TestEventSightingTakesItsAttributesTLP); before, the sightings of a
// frame that is no event were never marked.
func TestSightingBesideItsAttributeTakesItsTLP(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join(testdata, "zmq_misp_json_attribute.json"))
	require.NoError(t, err)
	var msg map[string]any
	require.NoError(t, jsonUnmarshal(raw, &msg))
	msg["Attribute"].(map[string]any)["Tag"] = []any{map[string]any{"name": "tlp:red"}}
	msg["Sighting"] = []any{map[string]any{"uuid": "59c03071-f480-4311-a710-03edc0a83832", "attribute_uuid": "59b8114b-1c80-4149-be3a-03e9c0a83832",
		"date_sighting": "1505767537", "type": "0", "source": ""}}
	doc, err := stdjson.Marshal(msg)
	require.NoError(t, err)
	pool, _ := loadTLPEvent(t, "zmq-sighting-tlp", string(doc))
	require.Equal(t, "red", keyTLP(t, pool, "misp--59c03071-f480-4311-a710-03edc0a83832"))
}

// TestAttributeTagListBesideAnAttributeIsApplied: the AttributeTag list
// of a ZMQ misp_json_attribute message holds the attribute's tags beside
// it, after it, as MISP's CakePHP find gives a hasMany contain (rows
// {"tag_id": …, "Tag": {"name": …}}; current MISP's fetchAttribute moves
// them into the attribute's Tag list, older releases published them so;
// empty in the documented example). They are the attribute's: a tlp:red
// row marks its indicator red and a label row labels it. Before, a list
// holding tags was said at WARN and not applied: the red attribute was
// unmarked. A list beside no attribute the message holds alone is still
// said at WARN.
func TestAttributeTagListBesideAnAttributeIsApplied(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join(testdata, "zmq_misp_json_attribute.json"))
	require.NoError(t, err)
	var msg map[string]any
	require.NoError(t, jsonUnmarshal(raw, &msg))
	load := func(doc string) (*captureSink, string) {
		var logs bytes.Buffer
		sink := &captureSink{}
		_, err = LoadFile(context.Background(), strings.NewReader(doc), sink, quiet(&logs))
		require.NoError(t, err)
		return sink, logs.String()
	}
	marshal := func(v any) string {
		b, err := stdjson.Marshal(v)
		require.NoError(t, err)
		return string(b)
	}
	_, logs := load(marshal(msg))
	require.NotContains(t, logs, "AttributeTag", "the documented empty list")
	msg["AttributeTag"] = []any{
		map[string]any{"id": "1", "attribute_id": "164363", "tag_id": "3", "Tag": map[string]any{"id": "3", "name": "tlp:red", "colour": "#CC0033", "exportable": true}},
		map[string]any{"id": "2", "attribute_id": "164363", "tag_id": "9", "Tag": map[string]any{"id": "9", "name": "osint:source-type=\"blog-post\"", "colour": "#00223b", "exportable": true}},
	}
	sink, logs := load(marshal(msg))
	require.NotContains(t, logs, "AttributeTag list")
	ind, ok := sink.byAlias(alias("59b8114b-1c80-4149-be3a-03e9c0a83832"))
	require.True(t, ok)
	require.Equal(t, graph.TLPRed, ind.TLP)
	require.Contains(t, ind.Labels, `osint:source-type="blog-post"`)

	// The list before the attribute.
	sink, _ = load(`{"AttributeTag": ` + marshal(msg["AttributeTag"]) + `, "Attribute": ` + marshal(msg["Attribute"]) + `, "Event": ` + marshal(msg["Event"]) + `}`)
	ind, _ = sink.byAlias(alias("59b8114b-1c80-4149-be3a-03e9c0a83832"))
	require.Equal(t, graph.TLPRed, ind.TLP)

	// Beside a list of attributes: whose tags they are is not said.
	_, logs = load(`{"Attribute": [` + marshal(msg["Attribute"]) + `], "AttributeTag": ` + marshal(msg["AttributeTag"]) + `}`)
	require.Contains(t, logs, "AttributeTag list beside an attribute not read")
}

// TestZMQSightingTakesItsAttributesTLP: a ZMQ misp_json_sighting message
// (testdata/misp/zmq_misp_json_sighting.json, the shape MISP's
// Sighting::getSighting gives it: the sighting with its Attribute and
// Event, uuid and a few fields each) names an attribute its document does
// not hold. Here it names the tlp:red ip-dst and the untagged domain of the
// tlp:green attrTLPEvent, loaded before or after it. The sighting-of link
// is explained TLP:RED for the red attribute and TLP:GREEN (its event's)
// for the untagged one, as if the sighting were in its event
// (TestEventSightingTakesItsAttributesTLP), in either order. Before, the
// message was dropped (missing-id: it gives no attribute_uuid, only
// Attribute.uuid), and a sighting naming its attribute by attribute_uuid
// outside the attribute's document got no TLP from it.
func TestZMQSightingTakesItsAttributesTLP(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join(testdata, "zmq_misp_json_sighting.json"))
	require.NoError(t, err)
	message := func(sighting, attr string) string {
		var msg map[string]any
		require.NoError(t, jsonUnmarshal(raw, &msg))
		s := msg["Sighting"].(map[string]any)
		s["uuid"] = sighting
		s["Attribute"].(map[string]any)["uuid"] = attr
		s["Event"].(map[string]any)["uuid"] = "7a1b0000-0000-4000-8000-000000000001"
		doc, err := stdjson.Marshal(msg)
		require.NoError(t, err)
		return string(doc)
	}
	const redSighting, plainSighting = "7a1b0000-0000-4000-8000-000000000291", "7a1b0000-0000-4000-8000-000000000293"
	docs := []string{
		message(redSighting, "7a1b0000-0000-4000-8000-000000000011"),
		message(plainSighting, "7a1b0000-0000-4000-8000-000000000013"),
	}
	for _, order := range []string{"event first", "sightings first"} {
		t.Run(order, func(t *testing.T) {
			t.Parallel()
			pool := pgtest.Pool(t)
			st := store.NewStore(pool)
			load := func(feed, doc string) {
				opts := quiet(nil)
				opts.Feed = feed
				rep, err := LoadFile(context.Background(), strings.NewReader(doc), st, opts)
				require.NoError(t, err)
				requireBalanced(t, rep)
				require.Empty(t, rep.Dropped, feed)
				if feed != "event" {
					require.EqualValues(t, 1, rep.RecordsMapped, feed)
				}
			}
			if order == "event first" {
				load("event", attrTLPEvent)
			}
			load("zmq-1", docs[0])
			load("zmq-2", docs[1])
			if order != "event first" {
				load("event", attrTLPEvent)
			}
			ip := graph.ValueNode(graph.KindIPv4Addr, "198.51.100.77").Key
			// The red address has two sightings: the event's own and
			// the message's; both are explained red.
			require.Equal(t, []graph.TLP{graph.TLPRed, graph.TLPRed}, explainedTLPs(t, st, ip, graph.RelSightingOf))
			require.Equal(t, []graph.TLP{graph.TLPRed}, explainedTLPs(t, st, "misp--"+redSighting, graph.RelSightingOf))
			require.Equal(t, []graph.TLP{graph.TLPGreen}, explainedTLPs(t, st, "misp--"+plainSighting, graph.RelSightingOf))
		})
	}
}

// TestZMQSightingDeleteIsNotASighting: MISP publishes a sighting it
// deletes as it published it, with "action": "delete" after the sighting
// (Sighting::beforeDelete; testdata/misp/zmq_misp_json_sighting.json with
// that action). It is counted under deleted, not loaded as a sighting,
// with the action after or before the sighting; the "add" message is a
// sighting. Before, once such messages loaded, a deleted sighting would
// have been counted as seen.
func TestZMQSightingDeleteIsNotASighting(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join(testdata, "zmq_misp_json_sighting.json"))
	require.NoError(t, err)
	del := strings.Replace(string(raw), `"action": "add"`, `"action": "delete"`, 1)
	require.NotEqual(t, string(raw), del)
	first := `{"action": "delete", ` + strings.TrimPrefix(strings.Replace(string(raw), `,
    "action": "add"`, "", 1), "{")
	require.NotContains(t, first, `"add"`)
	for name, doc := range map[string]string{"action last": del, "action first": first} {
		rep, sink, err := loadString(t, doc, quiet(nil))
		require.NoError(t, err, name)
		require.Equal(t, map[engine.Reason]int64{ReasonDeleted: 1}, rep.Dropped, name)
		require.Zero(t, rep.Sightings, name)
		_, ok := sink.byAlias("misp--59c03071-f480-4311-a710-03edc0a83832")
		require.False(t, ok, name)
	}
	rep, sink, err := loadString(t, string(raw), quiet(nil))
	require.NoError(t, err)
	require.EqualValues(t, 1, rep.Sightings)
	_, ok := sink.byAlias("misp--59c03071-f480-4311-a710-03edc0a83832")
	require.True(t, ok)
}
