package misp

import (
	stdjson "encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/store"
)

// bareSortedEvent is one MISP event in version ts without the "Event"
// wrapper and with every key sorted, as PyMISP's
// MISPEvent.to_json(sort_keys=True) writes it (the corpus's
// pymisp/mispevent_existing_event.json: "Attribute" and "Object" first,
// then "Org", "Orgc", ..., "info", "timestamp", "uuid"): a text attribute
// (a node of its own) with a comment, and a file object with a name, an
// md5 and, in the older version, a sha1 and a reference to the text
// attribute. encoding/json sorts the keys of maps.
func bareSortedEvent(t *testing.T, ts string, older bool) string {
	t.Helper()
	attr := func(uuid, typ, relation, value string) map[string]any {
		a := map[string]any{"uuid": uuid, "type": typ, "category": "Payload delivery", "value": value,
			"to_ids": false, "timestamp": ts, "distribution": "5"}
		if relation != "" {
			a["object_relation"] = relation
		}
		return a
	}
	text := map[string]any{"uuid": "7b1c0000-0000-4000-8000-000000000011", "type": "text", "category": "Other",
		"value": "dropped by the loader", "to_ids": false, "timestamp": ts}
	fileAttrs := []any{
		attr("7b1c0000-0000-4000-8000-000000000022", "filename", "filename", "loader.dll"),
		attr("7b1c0000-0000-4000-8000-000000000023", "md5", "md5", "7b1c0000000000000000000000000bee"),
	}
	var refs []any
	if older {
		text["comment"] = "first"
		fileAttrs = append(fileAttrs, attr("7b1c0000-0000-4000-8000-000000000024", "sha1", "sha1", "7b1c00000000000000000000000000000000beef"))
		refs = append(refs, map[string]any{"uuid": "7b1c0000-0000-4000-8000-000000000031", "relationship_type": "drops",
			"referenced_uuid": "7b1c0000-0000-4000-8000-000000000011", "timestamp": ts})
	}
	event := map[string]any{
		"Attribute": []any{text},
		"Object": []any{map[string]any{"uuid": "7b1c0000-0000-4000-8000-000000000021", "name": "file", "meta-category": "file",
			"timestamp": ts, "distribution": "5", "Attribute": fileAttrs, "ObjectReference": refs}},
		"Orgc":     map[string]any{"name": "CIRCL", "uuid": "55f6ea5e-2c60-40e5-964f-47a8950d210f"},
		"analysis": "2", "date": "2024-02-01", "distribution": "3", "info": "bare event, sorted keys",
		"threat_level_id": "2", "timestamp": ts, "uuid": "7b1c0000-0000-4000-8000-000000000001",
	}
	out, err := stdjson.Marshal(event)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(out), `{"Attribute":`), "sorted keys")
	return string(out)
}

// TestBareSortedEventNewerVersionSupersedes: a bare event whose keys are
// sorted gives its attributes and objects before anything says it is an
// event ("Orgc", "info", "uuid" come after "Object"). Its records are
// held to its end and mapped as its own, so what they state is the
// event's, in its version, as in an event written in any other key
// order: a newer version whose file object lost its sha1 and its
// reference, and whose text attribute lost its comment, takes them away,
// in either load order. Before, its records were mapped as records of no
// event: the object's links were stated by no version and stayed (has-hash
// to md5 and sha1, the "drops" reference, after the newer version), and
// the older comment stayed on the text attribute when it came last.
func TestBareSortedEventNewerVersionSupersedes(t *testing.T) {
	t.Parallel()
	v1 := bareSortedEvent(t, "1706780000", true)
	v2 := bareSortedEvent(t, "1706790000", false)
	loadInOrder(t, [][]string{{v1}}, func(st *store.Store, _ string) {
		require.Len(t, liveTargets(t, st.Pool(), "has-hash"), 2, "the first version alone: md5 and sha1")
		require.Len(t, liveTargets(t, st.Pool(), "drops"), 1, "the first version alone: its reference")
	})
	loadInOrder(t, [][]string{{v1, v2}, {v2, v1}}, func(st *store.Store, when string) {
		require.Equal(t, []string{"MD5:7b1c0000000000000000000000000bee"}, liveTargets(t, st.Pool(), "has-hash"), when)
		require.Empty(t, liveTargets(t, st.Pool(), "drops"), when)
		require.NotContains(t, keyProps(t, st.Pool(), "x-misp-attribute--7b1c0000-0000-4000-8000-000000000011"), "comment", when)
	})
}
