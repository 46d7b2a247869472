package misp

import (
	"context"
	stdjson "encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// objectAttributeMessages are the to_ids uri attribute of the
// http-request object of MISP's documented ZeroMQ event
// (zmq_misp_json_event.json, 59c0016c-fac0-…, object 59c0016c-0984-…) as
// MISP gives it outside its event:
//
//   - zmq: a misp_json_attribute message, in the shape of the documented
//     one (zmq_misp_json_attribute.json: its Event copy, SharingGroup,
//     AttributeTag and Sighting) with the object row
//     Attribute::fetchAttribute contains beside an object's attribute
//     ("Object": the object without its Attribute list);
//   - search: an /attributes/restSearch result, in the shape of
//     search_attribute_by_type.json (demisto/content's MISP V3 test data:
//     each attribute with its "Event" summary), with the "Object" summary
//     MISP's Attribute::fetchAttributes contains (id, distribution,
//     sharing_group_id: no uuid).
//
// The attribute's own fields are the event's, verbatim.
func objectAttributeMessages(t *testing.T) (event, zmq, search string) {
	t.Helper()
	rawEvent, err := os.ReadFile(filepath.Join(testdata, "zmq_misp_json_event.json"))
	require.NoError(t, err)
	var ev struct{ Event map[string]any }
	require.NoError(t, jsonUnmarshal(rawEvent, &ev))
	obj := ev.Event["Object"].([]any)[0].(map[string]any)
	zmq, search = outsideItsEvent(t, ev.Event, obj, "59c0016c-fac0-4055-9f3d-05b8c0a83832")
	return string(rawEvent), zmq, search
}

// outsideItsEvent is the attribute attrUUID of the object obj of event ev
// as a ZMQ misp_json_attribute message and as an attribute search result
// (objectAttributeMessages), its own fields verbatim.
func outsideItsEvent(t *testing.T, ev, obj map[string]any, attrUUID string) (zmq, search string) {
	t.Helper()
	rawMsg, err := os.ReadFile(filepath.Join(testdata, "zmq_misp_json_attribute.json"))
	require.NoError(t, err)
	var msg map[string]any
	require.NoError(t, jsonUnmarshal(rawMsg, &msg))
	var attr map[string]any
	for _, a := range obj["Attribute"].([]any) {
		if a := a.(map[string]any); a["uuid"] == attrUUID {
			attr = a
		}
	}
	require.NotNil(t, attr, attrUUID)
	delete(attr, "ShadowAttribute")
	row := map[string]any{}
	for k, v := range obj {
		if k != "Attribute" && k != "ObjectReference" {
			row[k] = v
		}
	}
	marshal := func(v any) string {
		b, err := stdjson.Marshal(v)
		require.NoError(t, err)
		return string(b)
	}
	evCopy := map[string]any{}
	for k, v := range msg["Event"].(map[string]any) {
		evCopy[k] = v
	}
	evCopy["uuid"], evCopy["info"] = ev["uuid"], ev["info"]
	zmq = marshal(map[string]any{"Attribute": attr, "Event": evCopy, "Object": row,
		"SharingGroup": msg["SharingGroup"], "AttributeTag": []any{}, "Sighting": []any{}})
	found := map[string]any{"Event": map[string]any{"org_id": "1", "distribution": "3", "id": "625",
		"info": ev["info"], "orgc_id": "2", "uuid": ev["uuid"]},
		"Object": map[string]any{"id": obj["id"], "distribution": obj["distribution"], "sharing_group_id": obj["sharing_group_id"]}}
	for k, v := range attr {
		found[k] = v
	}
	search = marshal(map[string]any{"response": map[string]any{"Attribute": []any{found}}})
	return zmq, search
}

// TestObjectAttributeOutsideItsEventIsNoIndicator: a to_ids attribute of
// an object, read outside its event (a ZMQ misp_json_attribute message, an
// attribute search result), gives the nodes it gives in its event: its
// value's node (url /test.php), aliased misp--<attribute uuid>, and no
// indicator of its own (its object is the indicator, of the object's uuid,
// which the event gives). Loaded with the event, in either order, the
// tables are the same. Before, it was also indicator--<attribute uuid>
// ([url:value = '/test.php']), a second node claiming the attribute's
// uuid beside the url the event's object gives it.
func TestObjectAttributeOutsideItsEventIsNoIndicator(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	event, zmq, search := objectAttributeMessages(t)
	const attrAlias, ownIndicator = "misp--59c0016c-fac0-4055-9f3d-05b8c0a83832", "indicator--59c0016c-fac0-4055-9f3d-05b8c0a83832"
	load := func(inputs ...feedDoc) *pgxpool.Pool {
		return loadDocs(ctx, t, inputs...)
	}
	claims := func(pool *pgxpool.Pool) []string {
		rows, err := pool.Query(ctx, `SELECT n.kind || ' ' || n.key FROM node_aliases a JOIN nodes n ON n.id = a.node_id
			WHERE a.source_id = $1 ORDER BY 1`, attrAlias)
		require.NoError(t, err)
		var got []string
		for rows.Next() {
			var s string
			require.NoError(t, rows.Scan(&s))
			got = append(got, s)
		}
		require.NoError(t, rows.Err())
		var own int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM nodes WHERE key = $1`, ownIndicator).Scan(&own))
		if own > 0 {
			got = append(got, "node "+ownIndicator)
		}
		return got
	}
	want := []string{"url /test.php"}
	ev, z, s := feedDoc{"event", event}, feedDoc{"zmq", zmq}, feedDoc{"search", search}
	require.Equal(t, want, claims(load(ev)), "the event")
	require.Equal(t, want, claims(load(z)), "the ZMQ message alone")
	require.Equal(t, want, claims(load(s)), "the search result alone")
	for _, other := range []feedDoc{z, s} {
		p1, p2 := load(ev, other), load(other, ev)
		require.Equal(t, want, claims(p1), other.feed+" after the event")
		require.Equal(t, pgtest.Dump(t, p1, pgtest.GraphQueries...), pgtest.Dump(t, p2, pgtest.GraphQueries...),
			other.feed+": the same tables in either order")
	}
}

// TestFileNameOutsideItsEventIsTheObjectsFile: the filename attribute of a
// file object with hashes (ESET's CloudMensis event, testdata/order:
// object eb4fcd68-…, mdworker3 with its MD5, SHA-1 and SHA-256), read
// outside its event (a ZMQ message, a search result), is no file of that
// name alone: in its event it names the file keyed by its hashes (the
// name of a file is the file's, not a node every file of the name
// shares), which only the whole object says; so it maps to nothing, and
// its uuid stays the hashed file's. Before, it was the file "mdworker3"
// alone, claiming the attribute's uuid beside the object's file.
func TestFileNameOutsideItsEventIsTheObjectsFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	raw, err := os.ReadFile("../../testdata/order/misp/eset/cloudmensis_cloudmensis.misp.json")
	require.NoError(t, err)
	var doc struct {
		Response []struct{ Event map[string]any }
	}
	require.NoError(t, jsonUnmarshal(raw, &doc))
	ev := doc.Response[0].Event
	var obj map[string]any
	for _, o := range ev["Object"].([]any) {
		if o := o.(map[string]any); o["uuid"] == "eb4fcd68-6d14-4d6c-bb26-5cf60436e25e" {
			obj = o
		}
	}
	const nameUUID = "8cbde632-3df8-44c3-9951-e85f677fd7b0"
	zmq, search := outsideItsEvent(t, ev, obj, nameUUID)
	files := func(inputs ...feedDoc) []string {
		pool := loadDocs(ctx, t, inputs...)
		rows, err := pool.Query(ctx, `SELECT n.key || CASE WHEN a.node_id IS NULL THEN '' ELSE ' (misp--`+nameUUID+`)' END
			FROM nodes n LEFT JOIN node_aliases a ON a.node_id = n.id AND a.source_id = 'misp--`+nameUUID+`'
			WHERE n.kind = 'file' AND n.name = 'mdworker3' ORDER BY 1`)
		require.NoError(t, err)
		var got []string
		for rows.Next() {
			var s string
			require.NoError(t, rows.Scan(&s))
			got = append(got, s)
		}
		require.NoError(t, rows.Err())
		return got
	}
	inEvent := files(feedDoc{"eset", string(raw)})
	require.Len(t, inEvent, 1, "the event's file")
	require.Contains(t, inEvent[0], `"hashes"`, "keyed by its hashes")
	require.Empty(t, files(feedDoc{"zmq", zmq}), "the ZMQ message alone")
	require.Empty(t, files(feedDoc{"search", search}), "the search result alone")
	require.Equal(t, inEvent, files(feedDoc{"search", search}, feedDoc{"eset", string(raw)}), "a search result, then the event")
	require.Equal(t, inEvent, files(feedDoc{"eset", string(raw)}, feedDoc{"zmq", zmq}), "the event, then a ZMQ message")
}

// TestSightingsOfAnObjectsPropertyAndFileName: testdata/misp/
// object_attribute_sightings.json is a file object (setup-sighted.exe and
// its SHA-256, to_ids: the object's indicator) whose filename attribute
// and text attribute each have a sighting in their own Sighting list.
// The file name's sighting sights the file (the attribute's node, the
// file of the name alone, is not written: the name is the hashed file's),
// the text's sights the object's node (the text is a property of it).
// Before, the first waited pending for ever for the file of the name alone
// and the second was not read at all (records read 6, no drop). Read
// outside its event (a ZMQ message of the filename attribute with its
// sighting), the sighting names the attribute's uuid, which the file
// takes once the event is loaded.
func TestSightingsOfAnObjectsPropertyAndFileName(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	raw, err := os.ReadFile(filepath.Join(testdata, "object_attribute_sightings.json"))
	require.NoError(t, err)
	pool := pgtest.Pool(t)
	st := store.NewStore(pool)
	opts := quiet(nil)
	opts.Feed = "event"
	rep, err := LoadFile(ctx, strings.NewReader(string(raw)), st, opts)
	require.NoError(t, err)
	requireBalanced(t, rep)
	require.Equal(t, int64(7), rep.RecordsRead, "event, object, 3 attributes, 2 sightings")
	require.Equal(t, int64(2), rep.Sightings)
	var pending int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pending_relations`).Scan(&pending))
	require.Zero(t, pending, "nothing waits for a node never written")
	sightedOf := func(ref string) int64 {
		n, err := st.ResolveNode(ctx, ref)
		require.NoError(t, err, ref)
		d, err := st.NodeDetails(ctx, n.ID)
		require.NoError(t, err)
		if d.Sighted == nil {
			return 0
		}
		return d.Sighted.Sightings
	}
	const file, object = "misp--5f3e0000-0000-4000-8000-000000000011", "misp--5f3e0000-0000-4000-8000-000000000010"
	require.Equal(t, int64(1), sightedOf(file), "the file, by its name's sighting")
	require.Equal(t, int64(1), sightedOf(object), "the object, by its text's sighting")

	var ev struct{ Event map[string]any }
	require.NoError(t, jsonUnmarshal(raw, &ev))
	obj := ev.Event["Object"].([]any)[0].(map[string]any)
	for _, a := range obj["Attribute"].([]any) {
		if a := a.(map[string]any); a["uuid"] == "5f3e0000-0000-4000-8000-000000000011" {
			s := a["Sighting"].([]any)[0].(map[string]any)
			s["uuid"], s["date_sighting"] = "5f3e0000-0000-4000-8000-000000000016", "1620000000"
		}
	}
	zmq, _ := outsideItsEvent(t, ev.Event, obj, "5f3e0000-0000-4000-8000-000000000011")
	opts.Feed = "zmq"
	rep, err = LoadFile(ctx, strings.NewReader(zmq), st, opts)
	require.NoError(t, err)
	requireBalanced(t, rep)
	require.Equal(t, int64(1), rep.Sightings)
	require.Equal(t, int64(2), sightedOf(file), "the ZMQ message's sighting of the name sights the file")
}

// feedDoc is one document loaded as the feed named feed.
type feedDoc struct{ feed, doc string }

// loadDocs loads docs in order into a fresh database, each a feed of its
// own, and returns the database.
func loadDocs(ctx context.Context, t *testing.T, docs ...feedDoc) *pgxpool.Pool {
	t.Helper()
	pool := pgtest.Pool(t)
	st := store.NewStore(pool)
	for _, in := range docs {
		opts := quiet(nil)
		opts.Feed = in.feed
		rep, err := LoadFile(ctx, strings.NewReader(in.doc), st, opts)
		require.NoError(t, err, in.feed)
		requireBalanced(t, rep)
	}
	return pool
}
