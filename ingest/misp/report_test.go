package misp

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/engine"
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
// adv5IPIndicator names the indicator of adv5's to_ids ip-dst attribute.
const adv5IPIndicator = "[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value = '198.51.100.205']"

// adv5FileIndicator is the pattern of the indicator the file object of the
// adv5 events is, its SHA-256 flagged to_ids (objectIndicator).
const adv5FileIndicator = "[file:hashes.'SHA-256' = '5555555555555555555555555555555555555555555555555555555555555551']"

func TestEventReportIsANote(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, pool, rep, tally := loadEventReportFile(t, "adv5-eventreport")
	require.Equal(t, int64(2), tally.EventReports, "both reports read")
	require.Equal(t, int64(1), rep.Dropped[ReasonDeleted], "the deleted report is dropped: %v", rep.Dropped)

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
	// The to_ids address attribute it mentions is the attribute's
	// indicator, the file object with a to_ids hash the object's.
	require.Equal(t, []string{"indicator " + adv5FileIndicator, "indicator " + adv5IPIndicator, "report adv5 event reports and analyst data"}, reached)

	_, err = st.ResolveNode(ctx, "note--6a1f0000-0000-4000-8000-0d0000000052")
	require.Error(t, err, "a deleted report makes no note")
	var pending int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pending_relations`).Scan(&pending))
	require.Zero(t, pending, "every mention is linked")
}

// TestAnalystDataAreNotesAndOpinions: MISP analyst data (MISP 2.4.184+:
// "Note" and "Opinion" lists of an event, an object or an attribute) were
// skipped without a word. They are now a note or an opinion (note--<uuid>,
// opinion--<uuid>, as misp-stix exports them) linked object to what they
// are about: the event, the attribute's node, or, for an object's
// attribute, the object's node (misp-stix attaches them to the object). An
// opinion that is no score from 0 to 100 is an invalid-value drop.
// Analyst relationships (a "Relationship" list) relate the record that
// keeps them to the record related_object_uuid names.
func TestAnalystDataAreNotesAndOpinions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, pool, rep, tally := loadEventReportFile(t, "adv5-analyst")
	require.Equal(t, int64(7), tally.AnalystData, "four of the event, two of an attribute, one of an object's attribute")
	require.Equal(t, int64(1), rep.Dropped[ReasonInvalidValue], "the opinion \"great\": %v", rep.Dropped)

	about := func(id string) []string {
		t.Helper()
		n, err := st.ResolveNode(ctx, id)
		require.NoError(t, err, id)
		hood, err := st.FindRelated(ctx, n.ID, graph.RelatedOptions{Depth: 1})
		require.NoError(t, err)
		var reached []string
		for _, r := range hood.Nodes {
			if r.ID != n.ID {
				reached = append(reached, string(r.Kind)+" "+r.Name)
			}
		}
		return reached
	}
	note, err := st.ResolveNode(ctx, "note--6a1f0000-0000-4000-8000-0e0000000051")
	require.NoError(t, err)
	require.Equal(t, graph.KindNote, note.Kind)
	require.Equal(t, graph.TLPAmber, note.TLP, "the event's TLP marks its analyst data")
	reached := about("note--6a1f0000-0000-4000-8000-0e0000000051")
	require.Equal(t, []string{"report adv5 event reports and analyst data"}, reached)
	op, err := st.ResolveNode(ctx, alias("6a1f0000-0000-4000-8000-0e0000000052"))
	require.NoError(t, err)
	require.Equal(t, graph.KindOpinion, op.Kind)
	reached = about("opinion--6a1f0000-0000-4000-8000-0e0000000054")
	require.Equal(t, []string{"indicator " + adv5IPIndicator}, reached, "an attribute's opinion is about its node: a to_ids attribute's indicator")
	reached = about("note--6a1f0000-0000-4000-8000-0e0000000055")
	require.Equal(t, []string{"indicator " + adv5FileIndicator}, reached, "an object attribute's note is about the object: its indicator")
	_, err = st.ResolveNode(ctx, "opinion--6a1f0000-0000-4000-8000-0e0000000053")
	require.Error(t, err, "the dropped opinion makes no node")

	// Analyst relationships are relations between what they name, with
	// their own uuid as id.
	rel, err := st.RelationByID(ctx, alias("6a1f0000-0000-4000-8000-0e0000000056"))
	require.NoError(t, err)
	require.Equal(t, "communicates-with", rel.Relation)
	// between the two to_ids attributes: their indicators
	reached = about(alias("6a1f0000-0000-4000-8000-0a0000000051"))
	require.Contains(t, reached, "indicator [domain-name:value = 'adv5-draft.example']")
	rel, err = st.RelationByID(ctx, alias("6a1f0000-0000-4000-8000-0e0000000057"))
	require.NoError(t, err)
	require.Equal(t, "describes", rel.Relation)
	var pending int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pending_relations`).Scan(&pending))
	require.Zero(t, pending)
}

// TestMalwareSampleIsTheFileObjectsFile: a file object whose name and
// MD5 come only from its malware-sample attribute ("name|md5", base64 in
// data) and that has a sha256 (testdata/adv/adv5-misp-sample-object.json)
// made two files: the object's, keyed by its sha256 and unnamed, and the
// sample's, named, with the MD5, linked has-attribute. The sample is the
// object's file: one file, named, with both hashes.
func TestMalwareSampleIsTheFileObjectsFile(t *testing.T) {
	t.Parallel()
	rep, sink, _, err := loadFile(t, filepath.Join("..", "..", "testdata", "adv", "adv5-misp-sample-object.json"), quiet(nil))
	require.NoError(t, err)
	requireBalanced(t, rep)
	files := map[graph.Ref]string{}
	for _, n := range sink.nodes {
		if n.Kind == graph.KindFile {
			files[n.Ref()] = n.Name
		}
	}
	require.Len(t, files, 1, "one file: %v", files)
	var file graph.Ref
	for ref, name := range files {
		file = ref
		require.Equal(t, "adv5-dropper.exe", name)
	}
	var hashes []string
	for _, r := range sink.relations {
		if r.Src == file && r.Type == graph.RelHasHash {
			h, ok := sink.byID(r.Dst)
			require.True(t, ok)
			if !slices.Contains(hashes, h.Key) {
				hashes = append(hashes, h.Key)
			}
		}
	}
	slices.Sort(hashes)
	require.Equal(t, []string{"MD5:0123456789abcdef0123456789abcde6", "SHA-256:6666666666666666666666666666666666666666666666666666666666666661"}, hashes)
	f, ok := sink.byAlias(alias("6a1f0000-0000-4000-8000-0a0000000061"))
	require.True(t, ok)
	require.Equal(t, file, f.Ref(), "the sample's uuid names the file")
}

// loadEventReportFile loads testdata/adv/adv5-misp-eventreport.json as
// feed into a new database and checks that its report balances.
func loadEventReportFile(t *testing.T, feed string) (*store.Store, *pgxpool.Pool, *engine.Report, *Tally) {
	t.Helper()
	pool := pgtest.Pool(t)
	st := store.NewStore(pool)
	f, err := os.Open(filepath.Join("..", "..", "testdata", "adv", "adv5-misp-eventreport.json"))
	require.NoError(t, err)
	defer f.Close() //nolint:errcheck // read-only
	opts := quiet(nil)
	opts.Feed = feed
	tally := &Tally{}
	opts.Tally = tally
	rep, err := LoadFile(context.Background(), f, st, opts)
	require.NoError(t, err)
	requireBalanced(t, rep)
	return st, pool, rep, tally
}
