package telemetry_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/ingest/engine"
	"github.com/ransomeye/intel/ingest/telemetry"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// TestLoadLineAfterACrashsNULBytes: a file its writer had extended when
// the machine crashed holds NUL bytes where the lines not yet written were
// to go, and the writer's first line after the restart follows them on
// one line. That line loads, the NUL bytes counted as a part dropped
// (nul-padding) with a WARN; a line of NUL bytes alone (the end of such a
// file) is dropped invalid-json saying what it is. Before, the line after
// the NUL bytes was dropped with them (invalid-json, "invalid character
// '\x00' at start of value").
func TestLoadLineAfterACrashsNULBytes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	st := store.NewStore(pool)
	at := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)
	line := func(i int) string {
		return fmt.Sprintf(`{"src":"url:http://a.example/%d","relation":"x","dst":"url:http://b.example","agent_id":"a","observed_at":%q}`+"\n", i, at)
	}
	var in bytes.Buffer
	in.WriteString(line(1) + line(2))
	in.Write(make([]byte, 4096))
	in.WriteString(line(3) + line(4))
	in.Write(make([]byte, 300))

	var logs bytes.Buffer
	rep, err := telemetry.Load(ctx, &in, st, engine.Options{Feed: "edr", Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, err)
	require.EqualValues(t, 4, rep.Telemetry.Edges, logs.String())
	require.Equal(t, map[engine.Reason]int64{telemetry.ReasonNULPadding: 1}, rep.PartsDropped)
	require.Equal(t, map[engine.Reason]int64{engine.ReasonInvalidJSON: 1}, rep.Dropped)
	require.Contains(t, logs.String(), "4096 NUL bytes before the line's record skipped")
	require.Contains(t, logs.String(), "a line of 300 NUL bytes and no record")
	got := observedAtBySource(t, pool)
	for i := 1; i <= 4; i++ {
		require.Contains(t, got, fmt.Sprintf("http://a.example/%d", i))
	}
	require.Len(t, got, 4, strings.Join(strings.Fields(logs.String()), " "))
}
