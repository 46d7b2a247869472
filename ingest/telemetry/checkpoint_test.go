package telemetry_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/ingest/telemetry"
	"github.com/ransomeye/intel/store"
)

// lastCheckpoint is a Checkpoints with one checkpoint (or none).
type lastCheckpoint struct {
	cp store.TelemetryCheckpoint
	ok bool
}

func (l lastCheckpoint) TelemetryCheckpointLatest(context.Context, string) (store.TelemetryCheckpoint, bool, error) {
	return l.cp, l.ok, nil
}

func planLines(from, to int) []byte {
	var b bytes.Buffer
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, `{"src":"process:h:%d","relation":"connected-to","dst":"ipv4-addr:10.0.0.1","agent_id":"h","observed_at":"2026-11-27T10:15:00Z"}`+"\n", i)
	}
	return b.Bytes()
}

// checkpointOf is the checkpoint of a load of content that stored edges
// edges from base (complete when it got to the end); a load cut short has
// the times of half of them written (TelemetryCheckpoint.SeenEdges).
func checkpointOf(t *testing.T, content []byte, base, edges int64, complete bool) store.TelemetryCheckpoint {
	t.Helper()
	path := filepath.Join(t.TempDir(), "old.ndjson")
	require.NoError(t, os.WriteFile(path, content, 0o600))
	p, err := telemetry.PlanFile(context.Background(), lastCheckpoint{}, path, false)
	require.NoError(t, err)
	return store.TelemetryCheckpoint{ContentHash: p.Input.ContentHash, BaseOffset: base, Bytes: p.Size,
		LineHashes: p.Input.LineHashes, Edges: edges, Complete: complete, SeenEdges: map[bool]int64{true: edges, false: edges / 2}[complete]}
}

// TestPlanFile: what of a file a rerun loads, by how the file relates to
// what its input's last checkpoint stored.
func TestPlanFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ten := planLines(0, 10)
	line := int64(len(planLines(0, 1)))
	for _, tc := range []struct {
		name    string
		file    []byte
		last    store.TelemetryCheckpoint
		none    bool
		force   bool
		kind    string
		offset  int64
		skip    int64
		seen    int64 // of skip, those with their records' times written
		done    bool
		planned bool
	}{
		{name: "no checkpoint", file: ten, none: true, kind: telemetry.PlanNew},
		{name: "same content, complete", file: ten, last: checkpointOf(t, ten, 0, 10, true), kind: telemetry.PlanResume},
		{name: "same content, cut short", file: ten, last: checkpointOf(t, ten, 3*line, 4, false), kind: telemetry.PlanResume, offset: 3 * line},
		{name: "appended", file: planLines(0, 15), last: checkpointOf(t, ten, 0, 10, true), kind: telemetry.PlanAppended, offset: 10 * line, planned: true},
		{name: "truncated", file: planLines(0, 5), last: checkpointOf(t, ten, 0, 10, true), kind: telemetry.PlanShrunk, offset: 5 * line, done: true, planned: true},
		{name: "emptied", file: nil, last: checkpointOf(t, ten, 0, 10, true), kind: telemetry.PlanShrunk, done: true, planned: true},
		{name: "rewritten", file: planLines(100, 110), last: checkpointOf(t, ten, 0, 10, true), kind: telemetry.PlanChanged, planned: true},
		{name: "rewritten from line 4", file: append(planLines(0, 3), planLines(100, 110)...), last: checkpointOf(t, ten, 0, 10, true),
			kind: telemetry.PlanChanged, offset: 3 * line, planned: true},
		{name: "appended to while cut short", file: planLines(0, 15), last: checkpointOf(t, ten, 2*line, 4, false),
			kind: telemetry.PlanResume, offset: 2 * line, skip: 4, seen: 2, planned: true},
		{name: "rewritten before what a cut load stored", file: append(planLines(0, 1), planLines(100, 110)...), last: checkpointOf(t, ten, 2*line, 4, false),
			kind: telemetry.PlanChanged, offset: line, planned: true},
		{name: "rewritten after what a cut load stored", file: append(planLines(0, 8), planLines(100, 110)...), last: checkpointOf(t, ten, 2*line, 4, false),
			kind: telemetry.PlanChanged, offset: 2 * line, skip: 4, seen: 2, planned: true},
		{name: "rewritten inside what a cut load stored", file: append(planLines(0, 4), planLines(100, 110)...), last: checkpointOf(t, ten, 2*line, 4, false),
			kind: telemetry.PlanChanged, offset: 2 * line, skip: 2, seen: 2, planned: true},
		{name: "truncated inside what a cut load stored", file: planLines(0, 4), last: checkpointOf(t, ten, 2*line, 6, false),
			kind: telemetry.PlanShrunk, offset: 2 * line, skip: 2, seen: 2, planned: true},
		// The last line loaded before its writer wrote its "\n": the
		// same line, loaded already (before, it was loaded again).
		{name: "last line ended since, and appended", file: planLines(0, 15), last: checkpointOf(t, ten[:len(ten)-1], 0, 10, true),
			kind: telemetry.PlanAppended, offset: 10 * line, planned: true},
		{name: "last line ended since", file: ten, last: checkpointOf(t, ten[:len(ten)-1], 0, 10, true),
			kind: telemetry.PlanAppended, offset: 10 * line, planned: true},
		// A last line cut inside (not valid JSON then) is another line.
		{name: "last line cut inside, completed since", file: planLines(0, 15), last: checkpointOf(t, ten[:len(ten)-5], 0, 9, true),
			kind: telemetry.PlanChanged, offset: 9 * line, planned: true},
		{name: "forced", file: ten, force: true, last: checkpointOf(t, ten, 0, 10, true), kind: telemetry.PlanForced, planned: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "edr.ndjson")
			require.NoError(t, os.WriteFile(path, tc.file, 0o600))
			p, err := telemetry.PlanFile(ctx, lastCheckpoint{tc.last, !tc.none}, path, tc.force)
			require.NoError(t, err)
			require.Equal(t, tc.kind, p.Kind, p.Message)
			require.Equal(t, tc.offset, p.Offset, "offset")
			require.Equal(t, tc.skip, p.Input.Skip, "edges skipped")
			require.Equal(t, tc.seen, p.Input.SeenSkip, "edges skipped with their times written")
			require.Equal(t, tc.done, p.Input.Done, "done")
			require.Equal(t, tc.planned, p.Input.Planned, "planned")
			require.Equal(t, tc.force, p.Input.Restart)
			require.EqualValues(t, len(tc.file), p.Size)
			if p.Input.Planned && !tc.force {
				require.Equal(t, p.Offset, p.Input.BaseOffset)
			}
		})
	}
}

// TestPlanFileReadsWhatItHashed: lines appended to a file while it loads
// are not read by this load (they were, and checkpointed under the hash
// of the content without them): the next load finds them appended.
func TestPlanFileReadsWhatItHashed(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "edr.ndjson")
	require.NoError(t, os.WriteFile(path, planLines(0, 10), 0o600))
	p, err := telemetry.PlanFile(context.Background(), lastCheckpoint{}, path, false)
	require.NoError(t, err)
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.Write(planLines(10, 20))
	require.NoError(t, f.Close())
	require.NoError(t, err)
	r, closeFile, err := p.Open(path)
	require.NoError(t, err)
	defer closeFile() //nolint:errcheck // read-only
	got, err := io.ReadAll(r)
	require.NoError(t, err)
	require.Equal(t, planLines(0, 10), got)
}

// TestPlanFileTruncatedWhileRead: a telemetry file truncated after its
// plan was made (a writer rewriting it while it is read) read as a clean
// end of input, short of the planned size: the load ended well (exit 0)
// and its checkpoint, made from the plan, took every planned line for
// stored (complete, 31,333 line hashes for 15,636 edges stored, in a
// probe of the CLI). The read now fails with io.ErrUnexpectedEOF at the
// byte where the file ended, so the load fails and the checkpoint stays
// at what was stored.
func TestPlanFileTruncatedWhileRead(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "edr.ndjson")
	require.NoError(t, os.WriteFile(path, planLines(0, 10), 0o600))
	p, err := telemetry.PlanFile(context.Background(), lastCheckpoint{}, path, false)
	require.NoError(t, err)
	r, closeFile, err := p.Open(path)
	require.NoError(t, err)
	defer closeFile() //nolint:errcheck // read-only
	cut := len(planLines(0, 4))
	require.NoError(t, os.Truncate(path, int64(cut)))
	got, err := io.ReadAll(r)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	require.ErrorContains(t, err, fmt.Sprintf("telemetry file ended at byte %d, before the %d bytes", cut, len(planLines(0, 10))))
	require.Equal(t, planLines(0, 4), got)
}

// TestPlanFileCheckpointHashesCutShort: a checkpoint whose line hashes are
// not whole (a line_hashes value whose length is no multiple of 8) is read
// for the whole hashes it holds, as before hashLines compared them while
// reading; the comparison took 8 bytes past its end (index out of range)
// and the rerun panicked.
func TestPlanFileCheckpointHashesCutShort(t *testing.T) {
	t.Parallel()
	ten := planLines(0, 10)
	line := int64(len(planLines(0, 1)))
	last := checkpointOf(t, ten, 0, 10, true)
	cut := make([]byte, len(last.LineHashes)-4) // its capacity its length, as read from the database
	copy(cut, last.LineHashes)
	last.LineHashes = cut
	path := filepath.Join(t.TempDir(), "edr.ndjson")
	require.NoError(t, os.WriteFile(path, planLines(0, 15), 0o600))
	var p telemetry.FilePlan
	require.NotPanics(t, func() {
		var err error
		p, err = telemetry.PlanFile(context.Background(), lastCheckpoint{last, true}, path, false)
		require.NoError(t, err)
	})
	require.Equal(t, telemetry.PlanAppended, p.Kind, p.Message)
	require.Equal(t, 9*line, p.Offset, "after the 9 whole hashes it shares")
}
