package misp

import (
	"context"
	stdjson "encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
)

// mergedRecords loads doc into a capture sink and returns every node and
// relation written, each merged over its writes, as sorted JSON lines
// (aliases sorted: their order is no part of the graph).
func mergedRecords(t *testing.T, doc string) []string {
	t.Helper()
	sink := &captureSink{}
	opts := quiet(nil)
	opts.Feed = "sorted-keys"
	rep, err := LoadFile(context.Background(), strings.NewReader(doc), sink, opts)
	require.NoError(t, err)
	requireBalanced(t, rep)
	var out []string
	for _, n := range graph.MergeNodes(sink.nodes) {
		slices.Sort(n.Aliases)
		b, err := stdjson.Marshal(n)
		require.NoError(t, err)
		out = append(out, "node "+string(b))
	}
	for _, r := range graph.MergeRelations(sink.relations) {
		b, err := stdjson.Marshal(r)
		require.NoError(t, err)
		out = append(out, "relation "+string(b))
	}
	slices.Sort(out)
	return out
}

// TestSortedKeysEventsMapAsWritten: real events of the corpus (MISP
// core's test event, CIRCL's Sednit event as PyMISP's tests keep it, a
// PyMISP event of objects, the feed test event), written again with every
// key sorted (encoding/json sorts a map's keys, as PyMISP's
// to_json(sort_keys=True) and jq -S do) wrapped in {"Event": …} and bare,
// give the records the event gives as published. Before, the sorted ones
// gave others: bare, its records were mapped as records of no event (81
// of the Sednit event's 413 merged records differed: its objects' links
// stated by no version); wrapped, the nodes of its objects had no
// versioned record (3 of the objects event's file nodes).
func TestSortedKeysEventsMapAsWritten(t *testing.T) {
	t.Parallel()
	root := sharedCorpus(t)
	for _, f := range []string{"misp-core/event.json", "pymisp/mispevent_existing_event.json",
		"pymisp/reportlab_mainly_objects_1.json", "feed-misp-core-tests/56bf399d-c46c-4fdb-a9cf-d9bb02de0b81.json"} {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(filepath.Join(root, "misp", f))
			require.NoError(t, err)
			var v map[string]any
			require.NoError(t, stdjson.Unmarshal(data, &v))
			ev := v
			if e, ok := v["Event"].(map[string]any); ok {
				ev = e
			}
			bare, err := stdjson.Marshal(ev)
			require.NoError(t, err)
			wrapped, err := stdjson.Marshal(map[string]any{"Event": ev})
			require.NoError(t, err)
			require.True(t, strings.HasPrefix(string(bare), `{"Attribute":`) || strings.HasPrefix(string(bare), `{"EventReport":`) ||
				strings.HasPrefix(string(bare), `{"Galaxy":`) || strings.HasPrefix(string(bare), `{"Object":`), "sorted")
			written := mergedRecords(t, string(data))
			require.Equal(t, written, mergedRecords(t, string(wrapped)), "wrapped, sorted keys")
			require.Equal(t, written, mergedRecords(t, string(bare)), "bare, sorted keys")
		})
	}
}
