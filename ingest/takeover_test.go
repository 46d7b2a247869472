package ingest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// TestStaleLoadThatResumesDoesNotOverwriteTheLoadThatTookOver: a load
// whose process stalls past StaleAfter (SIGSTOP, a frozen VM, a long IO
// stall) is taken over as stale by another process, which loads the feed
// and records its outcome; then the first resumes and ends. Before, its
// outcome (and its heartbeat) were written by feed name alone: the stored
// status, report and content hash became the displaced load's, over the
// load that took the feed over (a failed or interrupted one even turned
// the other's ok into failed). Now they are written only while the
// bookkeeping still names the load (compare-and-set on its process and
// start time): the displaced load records nothing, says so at WARN, and
// its Result is Superseded.
func TestStaleLoadThatResumesDoesNotOverwriteTheLoadThatTookOver(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, pool := newStore(t)
	feed := ingest.Feed{Name: "hellokitty", Path: "../testdata/demo/hellokitty-ransomware.json"}

	// A process on another host started a load of the feed, then froze:
	// its heartbeat is older than StaleAfter.
	stale := time.Now().Add(-ingest.StaleAfter - time.Minute)
	_, err := pool.Exec(ctx, `INSERT INTO feeds (name, format, location, last_status, running_host, running_pid, started_at, heartbeat_at, updated_at)
		VALUES ($1, 'stix', $2, 'running', 'frozen-host', 4242, $3, $3, $3)`, feed.Name, feed.Path, stale)
	require.NoError(t, err)
	state, _, err := st.Feed(ctx, feed.Name)
	require.NoError(t, err)
	require.Equal(t, ingest.StatusStale, ingest.FeedStatus(state, time.Now()))
	frozen := state.Load()
	require.NotNil(t, frozen)

	// This process takes it over as stale and loads the feed.
	second := ingest.LoadFeed(ctx, st, feed, ingest.Options{})
	require.Equal(t, ingest.StatusOK, second.Status, second.Error)
	require.False(t, second.Superseded)
	want, _, err := st.Feed(ctx, feed.Name)
	require.NoError(t, err)
	require.Equal(t, ingest.StatusOK, want.LastStatus)
	require.NotEqual(t, "frozen-host", want.RunningHost)

	// The frozen process resumes: its heartbeat renews nothing, and
	// neither a failure nor a success of its load is recorded.
	renewed, err := st.FeedHeartbeat(ctx, feed.Name, *frozen)
	require.NoError(t, err)
	require.False(t, renewed, "the displaced load's heartbeat renews the load that took over")
	for _, status := range []string{ingest.StatusInterrupted, ingest.StatusFailed, ingest.StatusOK} {
		ferr := st.FeedFinished(ctx, frozen, feed.Name, status, "stalled "+status, "frozen-hash", "frozen-mapping", map[string]int{"frozen": 1})
		got, _, err := st.Feed(ctx, feed.Name)
		require.NoError(t, err)
		require.Equal(t, want.LastStatus, got.LastStatus, "the displaced load's %s overwrote the status", status)
		require.Equal(t, want.LastError, got.LastError, status)
		require.JSONEq(t, string(want.LastReport), string(got.LastReport), "the displaced load's %s overwrote the report", status)
		require.Equal(t, want.ContentHash, got.ContentHash, status)
		require.Equal(t, want.Mapping, got.Mapping, status)
		require.Equal(t, want.LastLoadedAt, got.LastLoadedAt, status)
		require.ErrorIs(t, ferr, store.ErrFeedSuperseded, status)
		require.ErrorContains(t, ferr, "pid 4242 on frozen-host", status)
	}

	// While the other load still runs, the displaced one's outcome does
	// not end it either.
	_, err = pool.Exec(ctx, `UPDATE feeds SET last_status = 'running', started_at = now(), heartbeat_at = now() WHERE name = $1`, feed.Name)
	require.NoError(t, err)
	require.ErrorIs(t, st.FeedFinished(ctx, frozen, feed.Name, ingest.StatusOK, "", "h", "m", nil), store.ErrFeedSuperseded)
	var status string
	require.NoError(t, pool.QueryRow(ctx, `SELECT last_status FROM feeds WHERE name = $1`, feed.Name).Scan(&status))
	require.Equal(t, ingest.StatusRunning, status)
	// The running load is this process's (host, pid and start time) but a
	// later one than the second: the second's heartbeat does not renew it.
	renewed, err = st.FeedHeartbeat(ctx, feed.Name, *want.Load())
	require.NoError(t, err)
	require.False(t, renewed, "an ended load's heartbeat renews a later load of the same process")
	// Nor does a skip judged before that load started.
	require.ErrorIs(t, st.FeedFinished(ctx, nil, feed.Name, ingest.StatusSkipped, "", "h", "m", nil), store.ErrFeedSuperseded)
	require.NoError(t, pool.QueryRow(ctx, `SELECT last_status FROM feeds WHERE name = $1`, feed.Name).Scan(&status))
	require.Equal(t, ingest.StatusRunning, status)
}

// takenOver is the real store, except that before the load's write
// number at (1: the first) another process takes the feed over as stale
// and finishes its own load (what a load frozen mid-write, then resumed,
// finds).
type takenOver struct {
	*store.Store
	pool   *pgxpool.Pool
	feed   string
	at     int
	mu     sync.Mutex
	writes int
	err    error
}

func (s *takenOver) Write(ctx context.Context, b graph.Batch) (graph.WriteStats, error) {
	s.mu.Lock()
	s.writes++
	if s.writes == max(s.at, 1) {
		_, s.err = s.pool.Exec(ctx, `UPDATE feeds SET last_status = 'ok', last_error = '', last_report = '{"other": true}',
			content_hash = 'other-hash', running_host = 'other-host', running_pid = 4242, running_pid_start = NULL,
			started_at = now(), heartbeat_at = now(), updated_at = now() WHERE name = $1`, s.feed)
	}
	s.mu.Unlock()
	return s.Store.Write(ctx, b)
}

// TestLoadTakenOverSaysItsOutcomeIsNotRecorded: the displaced load itself
// (LoadFeed), taken over before its first batch, writes nothing: the
// batch's transaction finds that the feed's bookkeeping no longer names
// the load and rolls back (store.ErrLoadDisplaced). It ends failed,
// Superseded, with an error saying it was taken over, its outcome logged
// at WARN and not recorded; the feed's bookkeeping stays the other load's.
// Before, its batches committed (28 nodes of the playbook) and it ended
// ok, exit 0.
func TestLoadTakenOverSaysItsOutcomeIsNotRecorded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, pool := newStore(t)
	feed := ingest.Feed{Name: "hellokitty", Path: "../testdata/demo/hellokitty-ransomware.json"}
	ts := &takenOver{Store: st, pool: pool, feed: feed.Name}
	var logs syncBuffer
	r := ingest.LoadFeed(ctx, ts, feed, ingest.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, ts.err)

	got, _, err := st.Feed(ctx, feed.Name)
	require.NoError(t, err)
	require.Equal(t, ingest.StatusOK, got.LastStatus)
	require.Equal(t, "other-hash", got.ContentHash, "the displaced load's outcome overwrote the other's")
	require.Equal(t, "other-host", got.RunningHost)
	var rep map[string]any
	require.NoError(t, json.Unmarshal(got.LastReport, &rep))
	require.Equal(t, map[string]any{"other": true}, rep)

	var nodes, rels int
	require.NoError(t, pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM nodes), (SELECT count(*) FROM relations)`).Scan(&nodes, &rels))
	require.Zero(t, nodes, "the displaced load committed its batch")
	require.Zero(t, rels)

	require.Equal(t, ingest.StatusFailed, r.Status, "a displaced load is no success")
	require.Contains(t, r.Error, "taken over by another process as stale")
	require.True(t, r.Superseded, "record error %q; logs:\n%s", r.RecordError, logs.String())
	require.Contains(t, r.RecordError, "taken over by another as stale")
	require.Contains(t, r.RecordError, "pid 4242 on other-host")
	require.Contains(t, logs.String(), `level=WARN msg="feed load superseded: its outcome is not recorded"`)
}

// TestDisplacedLoadStopsWriting: a load taken over mid-way (before its
// third batch) commits the batches it wrote while it held the feed and
// nothing after; a MISP feed directory's load records none of its events as
// loaded (feed_items), so the load that took over, or the next run, loads
// them. Before, the displaced load went on writing every batch, recorded
// each event it wrote in feed_items (the next run skipped them as
// unchanged), and ended ok. A load taken over after its last write (its
// outcome alone refused) fails too.
func TestDisplacedLoadStopsWriting(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("stix", func(t *testing.T) {
		t.Parallel()
		st, pool := newStore(t)
		feed := ingest.Feed{Name: "ics", Path: "../testdata/demo/hellokitty-ransomware.json"}
		ts := &takenOver{Store: st, pool: pool, feed: feed.Name, at: 3}
		r := ingest.LoadFeed(ctx, ts, feed, ingest.Options{BatchSize: 10, Writers: 1})
		require.NoError(t, ts.err)
		require.Equal(t, ingest.StatusFailed, r.Status)
		require.Contains(t, r.Error, "taken over by another process as stale")
		require.True(t, r.Superseded)
		require.GreaterOrEqual(t, ts.writes, 3)
		var nodes int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM nodes`).Scan(&nodes))
		require.Equal(t, r.Report.Written.NodesInserted, int64(nodes), "the report counts what committed")
		require.LessOrEqual(t, nodes, 20, "batches after the take-over committed")
	})

	t.Run("misp directory", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		events := map[string][]byte{}
		stamps := map[string]int64{}
		var ids []string
		for i := range 4 {
			id := fmt.Sprintf("6b0e1a2b-0000-4000-8000-00000000000%d", i+1)
			ids = append(ids, id)
			stamps[id] = 1760000000 + int64(i)
			var attrs [][2]string
			for j := range 20 {
				attrs = append(attrs, [2]string{"ip-dst", fmt.Sprintf("198.51.%d.%d", 100+i, j+1)})
			}
			events[id] = mispEvent(id, "event "+id, stamps[id], attrs)
		}
		writeFeedDir(t, dir, events, stamps)
		feed := ingest.Feed{Name: "dir-displaced", Path: dir}
		st, pool := newStore(t)
		ts := &takenOver{Store: st, pool: pool, feed: feed.Name, at: 3}
		r := ingest.LoadFeed(ctx, ts, feed, ingest.Options{BatchSize: 8, Writers: 1})
		require.NoError(t, ts.err)
		require.Equal(t, ingest.StatusFailed, r.Status)
		require.Contains(t, r.Error, "taken over by another process as stale")
		var items int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM feed_items WHERE feed = $1`, feed.Name).Scan(&items))
		require.Zero(t, items, "a displaced load recorded events as loaded")

		// The feed is free again (the other load ended): the next run
		// loads every event, and the graph is one clean load's.
		clean, cleanPool := newStore(t)
		want := ingest.LoadFeed(ctx, clean, feed, ingest.Options{BatchSize: 8})
		require.Equal(t, ingest.StatusOK, want.Status, want.Error)
		r = ingest.LoadFeed(ctx, st, feed, ingest.Options{BatchSize: 8})
		require.Equal(t, ingest.StatusOK, r.Status, r.Error)
		require.Equal(t, len(ids), r.EventsLoaded)
		require.Equal(t, pgtest.Dump(t, cleanPool, pgtest.GraphQueries...), pgtest.Dump(t, pool, pgtest.GraphQueries...))
	})

	t.Run("after its last write", func(t *testing.T) {
		t.Parallel()
		st, pool := newStore(t)
		feed := ingest.Feed{Name: "late", Path: "../testdata/demo/hellokitty-ransomware.json"}
		lt := &lateTakeOver{Store: st, pool: pool, feed: feed.Name}
		r := ingest.LoadFeed(ctx, lt, feed, ingest.Options{})
		require.NoError(t, lt.err)
		require.Equal(t, ingest.StatusFailed, r.Status, "its outcome refused, a load is no success")
		require.True(t, r.Superseded)
		require.Contains(t, r.Error, "displaced")
		got, _, err := st.Feed(ctx, feed.Name)
		require.NoError(t, err)
		require.Equal(t, "other-hash", got.ContentHash)
	})
}

// lateTakeOver is the real store, except that another process takes the
// feed over right before the load records its outcome.
type lateTakeOver struct {
	*store.Store
	pool *pgxpool.Pool
	feed string
	err  error
}

func (s *lateTakeOver) FeedFinished(ctx context.Context, load *store.FeedLoad, name, status, errText, hash, mapping string, report any) error {
	_, s.err = s.pool.Exec(ctx, `UPDATE feeds SET last_status = 'ok', content_hash = 'other-hash', running_host = 'other-host',
		running_pid = 4242, running_pid_start = NULL, started_at = now(), heartbeat_at = now() WHERE name = $1`, s.feed)
	return s.Store.FeedFinished(ctx, load, name, status, errText, hash, mapping, report)
}
