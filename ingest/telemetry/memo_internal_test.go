package telemetry

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestEndpointMemoGivesEachLineItsOwnRecords: a line whose endpoints the
// memo knows parses to the same edge as a line parsed afresh, and its
// implied records are its own (the times and sources of one line do not
// leak into another's).
func TestEndpointMemoGivesEachLineItsOwnRecords(t *testing.T) {
	t.Parallel()
	line := func(at string) []byte {
		return []byte(`{"src":{"kind":"process","key":"h:1"},"relation":"wrote","dst":{"kind":"file","name":"a.exe","hashes":{"SHA-256":"` +
			"ab0000000000000000000000000000000000000000000000000000000000000b" + `"}},"agent_id":"h","observed_at":"` + at + `"}`)
	}
	t1, t2 := "2026-11-27T10:00:00Z", "2026-11-28T10:00:00Z"
	memo := newEndpointMemo()
	first, reason, err := parseLine(line(t1), "edr", memo)
	require.NoError(t, err)
	require.Empty(t, reason)
	require.Len(t, memo.m, 2)
	second, _, err := parseLine(line(t2), "edr", memo) // from the memo
	require.NoError(t, err)
	fresh, _, err := parseLine(line(t2), "edr", newEndpointMemo())
	require.NoError(t, err)
	require.Equal(t, fresh, second)
	require.Len(t, first.Implied.Nodes, 1)
	at1, _ := time.Parse(time.RFC3339, t1)
	require.Equal(t, at1, first.Implied.Nodes[0].FirstSeen, "the second line did not move the first's implied records")
	require.Equal(t, at1, first.Implied.Relations[0].LastSeen)
}

// TestEndpointMemoIsBounded: a memo full to endpointMemoMax starts again
// empty, and invalid endpoints are never remembered.
func TestEndpointMemoIsBounded(t *testing.T) {
	t.Parallel()
	memo := newEndpointMemo()
	for i := range endpointMemoMax {
		memo.m[strconv.Itoa(i)] = &parsedEndpoint{}
	}
	_, _, err := parseLine([]byte(`{"src":"ipv4-addr:10.0.0.1","relation":"x","dst":"ipv4-addr:10.0.0.2","agent_id":"a","observed_at":"2026-11-27T10:00:00Z"}`), "", memo)
	require.NoError(t, err)
	require.Len(t, memo.m, 2)
	_, reason, _ := parseLine([]byte(`{"src":"ipv4-addr:10.0.0.1","relation":"x","dst":"ipv4-addr:300.0.0.2","agent_id":"a","observed_at":"2026-11-27T10:00:00Z"}`), "", memo)
	require.Equal(t, ReasonBadDst, reason)
	require.Len(t, memo.m, 2)
}
