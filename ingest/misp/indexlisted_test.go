package misp

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// TestEventListedWithoutItsAttributesIsSaid: an /events/index answer
// (eventsIndexAnswer: CIRCL's OSINT event listed with "attribute_count":
// "1067" and no Attribute list) loads the event's node, tags and creator
// as before, and says that its attributes are not in the input: a part
// dropped, attributes-not-included, with a WARN naming the event and the
// count. A full event (testdata/misp/feed's) and a ZMQ misp_json_attribute
// message (an event copy beside the attribute, "attribute_count": "5")
// say nothing so. Before, the index loaded as if whole: no drop, no
// warning, 1067 attributes missing unsaid.
func TestEventListedWithoutItsAttributesIsSaid(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := store.NewStore(pgtest.Pool(t))
	load := func(feed string, doc []byte) (map[string]int64, string) {
		var buf bytes.Buffer
		rep := loadInto(t, st, feed, doc, &buf)
		parts := map[string]int64{}
		for r, n := range rep.PartsDropped {
			parts[string(r)] = n
		}
		return parts, buf.String()
	}
	parts, log := load("index", []byte(eventsIndexAnswer))
	require.Equal(t, map[string]int64{string(ReasonAttributesNotIncluded): 1}, parts)
	require.Contains(t, log, "is listed with 1067 attributes and none of them")
	ev, err := st.ResolveNode(ctx, "misp--542e4c9c-cadc-4f8f-bb11-6d13950d210b")
	require.NoError(t, err)
	require.Subset(t, ev.Labels, []string{"tlp:amber", "type:OSINT"}, "the event itself loads")

	for _, f := range []string{filepath.Join("feed", "56bf399d-c46c-4fdb-a9cf-d9bb02de0b81.json"), "zmq_misp_json_attribute.json"} {
		raw, err := os.ReadFile(filepath.Join(testdata, f))
		require.NoError(t, err)
		parts, log := load(strings.TrimSuffix(filepath.Base(f), ".json"), raw)
		require.Empty(t, parts, f)
		require.NotContains(t, log, string(ReasonAttributesNotIncluded), f)
	}
}
