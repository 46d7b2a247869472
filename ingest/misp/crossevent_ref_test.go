package misp

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/store"
)

// crossEventObject is an event in version ts holding one domain-ip object
// (uuid prefix + "21", its domain attribute prefix + "22"), which, when
// refTo is given, references refTo ("downloads") by an ObjectReference of
// uuid prefix + "31".
func crossEventObject(prefix, ts, value, refTo string) string {
	ref := ""
	if refTo != "" {
		ref = fmt.Sprintf(`, "ObjectReference": [{"uuid": "%[1]s31", "object_uuid": "%[1]s21", "referenced_uuid": %[2]q,
       "referenced_type": "1", "relationship_type": "downloads", "timestamp": %[3]q}]`, prefix, refTo, ts)
	}
	return fmt.Sprintf(`{"Event": {"uuid": "%[1]s01", "info": "event %[1]s", "date": "2024-05-01", "timestamp": %[2]q,
  "Object": [{"uuid": "%[1]s21", "name": "domain-ip", "meta-category": "network", "timestamp": %[2]q,
     "Attribute": [{"uuid": "%[1]s22", "type": "domain", "object_relation": "domain", "value": %[3]q, "timestamp": %[2]q}]%[4]s}]}}`,
		prefix, ts, value, ref)
}

// TestObjectReferenceToAnotherEvent: MISP lets an object reference an
// attribute or object of another event (referenced_uuid outside the
// event). The reference is kept pending until that event is loaded and
// then links the two objects' nodes, in either load order; a newer version
// of the referencing event without the reference takes it away, pending
// or not. (Already so; tried for the thirtieth session's review.)
func TestObjectReferenceToAnotherEvent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const a, b = "a0300000-0000-4000-8000-0000000000", "b0300000-0000-4000-8000-0000000000"
	a1 := crossEventObject(a, "1714560000", "a.example", b+"21")
	a2 := crossEventObject(a, "1714569999", "a.example", "")
	b1 := crossEventObject(b, "1714560000", "b.example", "")
	for _, c := range []struct {
		order         []string
		live, pending int
	}{
		{[]string{a1}, 0, 1},
		{[]string{a1, b1}, 1, 0},
		{[]string{b1, a1}, 1, 0},
		{[]string{a1, a2}, 0, 0},
		{[]string{a1, b1, a2}, 0, 0},
		{[]string{b1, a2, a1}, 0, 0},
	} {
		loadInOrder(t, [][]string{c.order}, func(st *store.Store, _ string) {
			var live, pending int
			require.NoError(t, st.Pool().QueryRow(ctx, `SELECT count(*) FROM relations r JOIN nodes s ON s.id = r.src_id JOIN nodes d ON d.id = r.dst_id
				WHERE r.relation = 'downloads' AND s.key = 'a.example' AND d.key = 'b.example'`).Scan(&live))
			// Pending as the store counts them (RelationCount): not those
			// only older versions of their objects state.
			require.NoError(t, st.Pool().QueryRow(ctx, `SELECT count(*) FROM pending_relations p
				WHERE p.stated IS NULL OR NOT stated_superseded(p.stated)`).Scan(&pending))
			require.Equal(t, [2]int{c.live, c.pending}, [2]int{live, pending}, "loads: %d", len(c.order))
		})
	}
}
