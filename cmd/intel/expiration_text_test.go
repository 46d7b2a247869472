package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
)

// TestExpirationText: an indicator whose earliest expiration sighting has
// passed is expired, one still to come is not yet; a value's node (shared
// by every record naming the value) is not said to be expired, an
// attribute naming it is.
func TestExpirationText(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	past := graph.Sighted{Sightings: 1, Times: 1, FirstSeen: time.Date(2021, 1, 7, 6, 13, 20, 0, time.UTC)}
	future := graph.Sighted{Sightings: 2, Times: 2, FirstSeen: time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)}
	require.Equal(t, "2021-01-07 (expired), by 1 expiration sighting", expirationText(graph.KindIndicator, past, now))
	require.Equal(t, "2027-03-01, by 2 expiration sightings", expirationText(graph.KindIndicator, future, now))
	require.Equal(t, "an attribute naming it expired on 2021-01-07, by 1 expiration sighting (the value may be named elsewhere)",
		expirationText(graph.KindIPv4Addr, past, now))
}
