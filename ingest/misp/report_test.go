package misp

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// TestEventReportIsANote: a MISP EventReport (testdata/adv/
// adv5-misp-eventreport.json; listed before the attributes and objects its
// Markdown mentions, as MISP's export orders an event's members) was
// skipped without a word: not read, not counted, not dropped. It is now a
// note (the note--<uuid> misp-stix exports it as), named by the report,
// its Markdown in props, linked object from its event and to what its
// content mentions (@[attribute](uuid), @[object](uuid), in any case, once
// each), marked by its event's TLP; a deleted report is a counted drop.
func TestEventReportIsANote(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	st := store.NewStore(pool)
	f, err := os.Open(filepath.Join("..", "..", "testdata", "adv", "adv5-misp-eventreport.json"))
	require.NoError(t, err)
	defer f.Close() //nolint:errcheck // read-only
	opts := quiet(nil)
	opts.Feed = "adv5-eventreport"
	tally := &Tally{}
	opts.Tally = tally
	rep, err := LoadFile(ctx, f, st, opts)
	require.NoError(t, err)
	requireBalanced(t, rep)
	require.Equal(t, int64(2), tally.EventReports, "both reports read")
	require.Equal(t, int64(1), rep.Dropped[ReasonDeleted], "the deleted report (and nothing else) is dropped: %v", rep.Dropped)

	note, err := st.ResolveNode(ctx, "note--6a1f0000-0000-4000-8000-0d0000000051")
	require.NoError(t, err)
	require.Equal(t, graph.KindNote, note.Kind)
	require.Equal(t, "Adv5 intrusion write-up", note.Name)
	require.Equal(t, graph.TLPAmber, note.TLP, "the event's TLP marks its report")
	byMISP, err := st.ResolveNode(ctx, alias("6a1f0000-0000-4000-8000-0d0000000051"))
	require.NoError(t, err)
	require.Equal(t, note.ID, byMISP.ID)

	hood, err := st.FindRelated(ctx, note.ID, graph.RelatedOptions{Depth: 1})
	require.NoError(t, err)
	var reached []string
	for _, n := range hood.Nodes {
		if n.ID != note.ID {
			reached = append(reached, string(n.Kind)+" "+n.Name)
		}
	}
	slices.Sort(reached)
	require.Equal(t, []string{"file adv5-loader.exe", "ipv4-addr 198.51.100.205", "report adv5 event reports"}, reached)

	_, err = st.ResolveNode(ctx, "note--6a1f0000-0000-4000-8000-0d0000000052")
	require.Error(t, err, "a deleted report makes no note")
	var pending int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pending_relations`).Scan(&pending))
	require.Zero(t, pending, "every mention is linked")
}
