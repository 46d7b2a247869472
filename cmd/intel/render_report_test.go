package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/engine"
)

func TestWriteLoadReport(t *testing.T) {
	t.Parallel()
	rep := &engine.Report{Feed: "vendor-x", Format: "stix", RecordsRead: 12, RecordsMapped: 10,
		Nodes: 11, Relations: 4, Bytes: 2_000_000, Duration: 2 * time.Second,
		Written: graph.WriteStats{NodesInserted: 7, NodesMerged: 2, RelationsInserted: 3, RelationsPending: 1},
		Dropped: map[engine.Reason]int64{engine.ReasonTooLarge: 1, engine.ReasonInvalidJSON: 1}}
	var buf bytes.Buffer
	require.NoError(t, writeLoadReport(&buf, rep, false))
	out := buf.String()
	require.Contains(t, out, "feed vendor-x (stix)\n")
	require.Contains(t, out, "  nodes            11 (inserted 7, merged 2, unchanged 0, repeated 2)\n")
	require.Contains(t, out, "  relations        4 (inserted 3, merged 0, pending 1, unchanged or repeated 0; released from pending 0)\n")

	// Relations released from pending are inserted in this load without
	// being sent by it (the mobile ATT&CK load: 723 sent, 315 parked, 221
	// of them released and inserted later); a reload changes nothing.
	for _, tc := range []struct {
		ws   graph.WriteStats
		want string
	}{
		{graph.WriteStats{RelationsInserted: 629, RelationsPending: 315, RelationsReleased: 221},
			"723 (inserted 629, merged 0, pending 315, unchanged or repeated 0; released from pending 221)"},
		{graph.WriteStats{}, "723 (inserted 0, merged 0, pending 0, unchanged or repeated 723; released from pending 0)"},
		// an older version loaded after a newer one: its links are stale
		{graph.WriteStats{RelationsStale: 23}, "723 (inserted 0, merged 0, pending 0, stated by an older version than one loaded 23, unchanged or repeated 700; released from pending 0)"},
	} {
		r := &engine.Report{Feed: "mobile", Format: "stix", Relations: 723, Written: tc.ws}
		buf.Reset()
		require.NoError(t, writeLoadReport(&buf, r, false))
		require.Contains(t, buf.String(), "  relations        "+tc.want+"\n")
	}
	require.NotContains(t, out, "superseded", "no line when nothing was superseded")
	sup := *rep
	sup.Written.RelationsSuperseded = 5
	buf.Reset()
	require.NoError(t, writeLoadReport(&buf, &sup, false))
	require.Contains(t, buf.String(), "  superseded       5 relations (an older version of their object stated them, the newer one loaded does not; kept, no longer walked)\n")
	require.Contains(t, out, "  dropped          2\n")
	require.Regexp(t, `(?s)invalid-json\s+1\n.*too-large\s+1\n`, out, "reasons sorted")
	require.Contains(t, out, "(1.0 MB/s)")
	require.NotContains(t, out, "ambiguous", "no line when no alias became ambiguous")
	require.Error(t, writeLoadReport(failingWriter{}, rep, false))

	amb := *rep
	amb.Written.AliasesAmbiguous = 3
	buf.Reset()
	require.NoError(t, writeLoadReport(&buf, &amb, false))
	require.Contains(t, buf.String(), "  ambiguous names  3 (aliases now claimed by two or more entities")

	// A dry run writes nothing: it says what it would write.
	buf.Reset()
	require.NoError(t, writeLoadReport(&buf, rep, true))
	out = buf.String()
	require.Contains(t, out, "  nodes            11 (would insert or merge 7)\n")
	require.Contains(t, out, "  relations        4 (would insert or merge 3)\n")
	require.NotContains(t, out, "inserted")
}
