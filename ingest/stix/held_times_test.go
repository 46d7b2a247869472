package stix

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// TestRelationshipSeenIsWhenItHeld: a relationship's first and last seen
// are its start_time and stop_time (STIX 2.1 3.2: when the relationship is
// believed to hold; created and modified are about the object). Before,
// last seen was the latest of every timestamp, modified included, so a
// relationship that stopped holding in 2023-09 and was modified in 2024-01
// showed as last seen 2024-01 (intel related, JSON last_seen). Without
// start_time/stop_time the object's times still give them.
func TestRelationshipSeenIsWhenItHeld(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const (
		created, modified = "2022-01-01T00:00:00Z", "2024-01-15T00:00:00Z"
		start, stop       = "2022-06-01T00:00:00Z", "2023-09-30T00:00:00Z"
	)
	feed := bundle(
		`{"type":"malware","spec_version":"2.1","id":"malware--b0000000-0000-4000-8000-000000000001","created":"`+created+`","modified":"`+created+`","name":"HeldA","is_family":true}`,
		`{"type":"tool","spec_version":"2.1","id":"tool--b0000000-0000-4000-8000-000000000002","created":"`+created+`","modified":"`+created+`","name":"HeldB"}`,
		`{"type":"tool","spec_version":"2.1","id":"tool--b0000000-0000-4000-8000-000000000003","created":"`+created+`","modified":"`+created+`","name":"HeldC"}`,
		`{"type":"relationship","spec_version":"2.1","id":"relationship--b0000000-0000-4000-8000-000000000004","created":"`+created+`","modified":"`+modified+`","relationship_type":"uses","source_ref":"malware--b0000000-0000-4000-8000-000000000001","target_ref":"tool--b0000000-0000-4000-8000-000000000002","start_time":"`+start+`","stop_time":"`+stop+`"}`,
		`{"type":"relationship","spec_version":"2.1","id":"relationship--b0000000-0000-4000-8000-000000000005","created":"`+created+`","modified":"`+modified+`","relationship_type":"uses","source_ref":"malware--b0000000-0000-4000-8000-000000000001","target_ref":"tool--b0000000-0000-4000-8000-000000000003"}`,
	)
	pool := pgtest.Pool(t)
	st := store.NewStore(pool, store.WithLogger(quietLogger))
	_, err := Load(ctx, strings.NewReader(feed), st, Options{Feed: "held", Logger: quietLogger})
	require.NoError(t, err)
	seen := func(id string) (first, last time.Time) {
		rec, err := st.RelationByID(ctx, id)
		require.NoError(t, err)
		require.NotNil(t, rec.SrcNode)
		require.NotNil(t, rec.DstNode)
		require.NoError(t, pool.QueryRow(ctx, `SELECT first_seen, last_seen FROM relations WHERE src_id = $1 AND relation = 'uses' AND dst_id = $2`,
			rec.SrcNode.ID, rec.DstNode.ID).Scan(&first, &last))
		return first, last
	}
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		require.NoError(t, err)
		return v
	}
	first, last := seen("relationship--b0000000-0000-4000-8000-000000000004")
	require.True(t, at(start).Equal(first), "first seen is start_time: %s", first)
	require.True(t, at(stop).Equal(last), "last seen is stop_time, not modified: %s", last)
	first, last = seen("relationship--b0000000-0000-4000-8000-000000000005")
	require.True(t, at(created).Equal(first), "no start_time: created: %s", first)
	require.True(t, at(modified).Equal(last), "no stop_time: modified: %s", last)
}
