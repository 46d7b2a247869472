package stix

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/engine"
)

// TestTestdataFeeds loads the small feeds of testdata/stix, which every
// checkout has (see testdata/stix/SOURCES.md).
func TestTestdataFeeds(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(repoRoot(t), "testdata", "stix")
	open := func(name string) *os.File {
		f, err := os.Open(filepath.Join(dir, name))
		require.NoError(t, err)
		t.Cleanup(func() { _ = f.Close() }) // read-only
		return f
	}

	t.Run("indicators with course of action", func(t *testing.T) {
		t.Parallel()
		sink := &recordingSink{}
		rep, err := Load(context.Background(), open("indicators-for-C2-with-COA.json"), sink, Options{Feed: "coa", Logger: quietLogger})
		require.NoError(t, err)
		require.EqualValues(t, 8, rep.RecordsRead)
		require.EqualValues(t, 8, rep.RecordsMapped)
		var basedOn int
		for _, r := range sink.relations {
			if r.Type == graph.RelBasedOn {
				basedOn++
			}
		}
		require.Equal(t, 2, basedOn)
	})
	t.Run("sighting of observed data", func(t *testing.T) {
		t.Parallel()
		sink := &recordingSink{}
		rep, err := Load(context.Background(), open("sighting-of-observed-data.json"), sink, Options{Logger: quietLogger})
		require.NoError(t, err)
		require.EqualValues(t, 1, rep.Sightings)
		kinds := map[graph.Kind]int{}
		for _, n := range graph.MergeNodes(sink.nodes) { // the nodes, not their records
			kinds[n.Kind]++
		}
		require.Equal(t, 1, kinds[graph.KindFile])
		require.Equal(t, 1, kinds[graph.KindWindowsRegistryKey])
	})
	t.Run("STIX 2.0 embedded objects", func(t *testing.T) {
		t.Parallel()
		sink := &recordingSink{}
		rep, err := Load(context.Background(), open("test_objects_collection_stix20.json"), sink, Options{Logger: quietLogger})
		require.NoError(t, err)
		require.EqualValues(t, 10, rep.RecordsMapped)
		kinds := map[graph.Kind]int{}
		for _, n := range sink.nodes {
			kinds[n.Kind]++
		}
		require.Equal(t, 1, kinds[graph.KindEmailMessage])
		require.Equal(t, 1, kinds[graph.KindDirectory])
		require.Equal(t, 1, kinds[graph.KindUserAccount])
	})
	t.Run("malformed", func(t *testing.T) {
		t.Parallel()
		rep, err := Load(context.Background(), open("v21_invalid_comma.json"), &recordingSink{}, Options{Feed: "comma", Logger: quietLogger})
		var oe *engine.OffsetError
		require.ErrorAs(t, err, &oe)
		require.ErrorIs(t, err, engine.ErrSyntax)
		require.EqualValues(t, 260, oe.Offset)
		require.Zero(t, rep.RecordsRead)
	})
}
