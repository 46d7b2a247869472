package misp

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/store"
)

// fileObjectEvent is one MISP event in version ts holding a file object
// whose name and md5, and sha1 when withSHA1, are flagged to_ids: the object is an
// indicator whose pattern compares them.
func fileObjectEvent(ts string, withSHA1 bool) string {
	sha1 := ""
	if withSHA1 {
		sha1 = `,
       {"uuid": "6a1c0000-0000-4000-8000-000000000024", "type": "sha1", "object_relation": "sha1", "category": "Payload delivery",
        "value": "6a1c00000000000000000000000000000000beef", "to_ids": true, "timestamp": "` + ts + `"}`
	}
	return fmt.Sprintf(`{"Event": {"uuid": "6a1c0000-0000-4000-8000-000000000001", "timestamp": %[1]q,
  "info": "file object losing a hash", "date": "2024-01-05",
  "Object": [
    {"uuid": "6a1c0000-0000-4000-8000-000000000021", "name": "file", "meta-category": "file", "timestamp": %[1]q,
     "Attribute": [
       {"uuid": "6a1c0000-0000-4000-8000-000000000022", "type": "filename", "object_relation": "filename", "category": "Payload delivery",
        "value": "dropper.exe", "to_ids": true, "timestamp": %[1]q},
       {"uuid": "6a1c0000-0000-4000-8000-000000000023", "type": "md5", "object_relation": "md5", "category": "Payload delivery",
        "value": "6a1c0000000000000000000000000bee", "to_ids": true, "timestamp": %[1]q}%[2]s
     ]}
  ]}}`, ts, sha1)
}

// TestNewerEventWithoutAHashTakesTheHasHashLinkAway: a file object flagged
// to_ids is an indicator whose pattern describes the file by its hashes;
// the file's has-hash links the pattern gives are stated as the object's
// own has-hash links are: by the event, in its version. A newer version
// of the event whose file object lost its sha1 (MISP: the attribute
// deleted) takes the file's has-hash link to that sha1 away, in either
// load order. Before, the pattern's copy of the link was stated by no
// version and stood for ever: has-hash to md5 and sha1 after the newer
// version.
func TestNewerEventWithoutAHashTakesTheHasHashLinkAway(t *testing.T) {
	t.Parallel()
	v1 := fileObjectEvent("1704450000", true)
	v2 := fileObjectEvent("1704460000", false)
	loadInOrder(t, [][]string{{v1}}, func(st *store.Store, _ string) {
		require.Len(t, liveTargets(t, st.Pool(), "has-hash"), 2, "the first version alone: md5 and sha1")
	})
	loadInOrder(t, [][]string{{v1, v2}, {v2, v1}}, func(st *store.Store, when string) {
		require.Equal(t, []string{"MD5:6a1c0000000000000000000000000bee"}, liveTargets(t, st.Pool(), "has-hash"), when)
	})
}
