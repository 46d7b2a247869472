package ingest_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/ingest"
	"github.com/ransomeye/intel/internal/pgtest"
)

// A write that fails in the middle of a MISP feed directory (here a trigger
// refusing one attribute's node, as a full disk or a statement_timeout
// would) stops the load. The events whose records were not all written must
// not be recorded as loaded: they were (feed_items held the event whose
// batch failed), so the rerun skipped it as unchanged and its attributes
// never reached the graph. After the fault is gone, the rerun must give the
// graph of one clean load.
func TestFeedDirectoryWriteFailureRecordsOnlyWrittenEvents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	ids := []string{
		"6a0e1a2b-0000-4000-8000-000000000001", "6a0e1a2b-0000-4000-8000-000000000002",
		"6a0e1a2b-0000-4000-8000-000000000003", "6a0e1a2b-0000-4000-8000-000000000004",
	}
	events := map[string][]byte{}
	stamps := map[string]int64{}
	for i, id := range ids {
		stamps[id] = 1760000000 + int64(i)
		var attrs [][2]string
		for j := range 40 {
			attrs = append(attrs, [2]string{"ip-dst", fmt.Sprintf("198.51.%d.%d", 100+i, j+1)})
		}
		events[id] = mispEvent(id, "event "+id, stamps[id], attrs)
	}
	writeFeedDir(t, dir, events, stamps)
	feed := ingest.Feed{Name: "dir-fault", Path: dir}
	opts := ingest.Options{BatchSize: 16}

	clean, cleanPool := newStore(t)
	res := ingest.LoadFeed(ctx, clean, feed, opts)
	require.Equal(t, ingest.StatusOK, res.Status, res.Error)
	want := pgtest.Dump(t, cleanPool, pgtest.GraphQueries...)

	st, pool := newStore(t)
	// The last attribute of the second event cannot be written.
	_, err := pool.Exec(ctx, `
		CREATE FUNCTION fault_inject() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.key LIKE '%198.51.101.40%' THEN RAISE EXCEPTION 'injected fault'; END IF;
			RETURN NEW;
		END $$;
		CREATE TRIGGER fault_inject BEFORE INSERT ON nodes FOR EACH ROW EXECUTE FUNCTION fault_inject();`)
	require.NoError(t, err)
	res = ingest.LoadFeed(ctx, st, feed, opts)
	require.Equal(t, ingest.StatusFailed, res.Status)
	require.Contains(t, res.Error, "injected fault")
	var recorded []string
	rows, err := pool.Query(ctx, `SELECT item FROM feed_items WHERE feed = 'dir-fault' ORDER BY item`)
	require.NoError(t, err)
	for rows.Next() {
		var item string
		require.NoError(t, rows.Scan(&item))
		recorded = append(recorded, item)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, ids[:1], recorded, "only the event written whole is recorded as loaded")
	require.Equal(t, 1, res.EventsLoaded)

	_, err = pool.Exec(ctx, `DROP TRIGGER fault_inject ON nodes`)
	require.NoError(t, err)
	res = ingest.LoadFeed(ctx, st, feed, opts)
	require.Equal(t, ingest.StatusOK, res.Status, res.Error)
	require.Equal(t, 3, res.EventsLoaded, "the rerun loads the events not written whole")
	require.Equal(t, 1, res.EventsSkipped)
	require.Equal(t, want, pgtest.Dump(t, pool, pgtest.GraphQueries...), "the rerun gives the graph of one clean load")
}
