package misp

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// sortedEvent is one MISP event in version ts with every key sorted (as
// PyMISP's to_json(sort_keys=True) and jq -S write it: "Attribute" and
// "Object" before "timestamp" and "uuid"): a text attribute (a node of
// its own) with comment, and a person object with a comment and a text
// attribute kept as its property note.
func sortedEvent(ts, comment, note string) string {
	return fmt.Sprintf(`{"Event": {
  "Attribute": [
    {"category": "Other", "comment": %[2]q, "timestamp": %[1]q, "to_ids": false, "type": "text",
     "uuid": "5a1c0000-0000-4000-8000-000000000011", "value": "victim list"}
  ],
  "Object": [
    {"Attribute": [
       {"category": "Other", "object_relation": "text", "timestamp": %[1]q, "to_ids": false, "type": "text",
        "uuid": "5a1c0000-0000-4000-8000-000000000022", "value": %[3]q}
     ],
     "comment": %[2]q, "meta-category": "misc", "name": "person", "timestamp": %[1]q,
     "uuid": "5a1c0000-0000-4000-8000-000000000021"}
  ],
  "analysis": "2", "date": "2024-01-05", "distribution": "3", "info": "event with sorted keys",
  "threat_level_id": "2", "timestamp": %[1]q, "uuid": "5a1c0000-0000-4000-8000-000000000001"
}}`, ts, comment, note)
}

// TestSortedKeysEventNewerVersionReplacesItsRecords: an event whose keys
// are sorted gives its attributes and objects before its own timestamp
// and uuid. Their node records are the event's in its version all the
// same, so a newer version of the event replaces what the older one gave
// them (a comment removed, a property changed), in either load order.
// Before, those records were written without a version: the object kept
// comment "first" and both notes after the newer version.
func TestSortedKeysEventNewerVersionReplacesItsRecords(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	v1 := sortedEvent("1704450000", "first", "old note")
	v2 := sortedEvent("1704460000", "", "new note")
	for _, order := range [][2]string{{v1, v2}, {v2, v1}} {
		pool := pgtest.Pool(t)
		st := store.NewStore(pool)
		for _, doc := range order {
			opts := quiet(nil)
			opts.Feed = "sorted"
			rep, err := LoadFile(ctx, strings.NewReader(doc), st, opts)
			require.NoError(t, err)
			requireBalanced(t, rep)
			require.Empty(t, rep.Dropped)
		}
		when := fmt.Sprint("v1 first: ", order[0] == v1)
		obj := keyProps(t, pool, "misp--5a1c0000-0000-4000-8000-000000000021")
		require.NotContains(t, obj, "comment", when)
		require.Equal(t, "new note", obj["text"], when)
		attr := keyProps(t, pool, "x-misp-attribute--5a1c0000-0000-4000-8000-000000000011")
		require.NotContains(t, attr, "comment", when)
	}
}

// keyProps are the props of the node keyed key.
func keyProps(t *testing.T, pool *pgxpool.Pool, key string) map[string]any {
	t.Helper()
	var props map[string]any
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT props FROM nodes WHERE key = $1`, key).Scan(&props), key)
	return props
}
