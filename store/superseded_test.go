package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
)

// supersedeFixture is one object (a report, by its own id) in three
// versions: v1 states links to A, B and C (C never arrives: pending), v2
// only to A, v3 to A and B again. A second object (another source's copy
// under the same node) states the link to D in its only version.
type supersedeFixture struct {
	report, a, b, d graph.Node
	t1, t2, t3      time.Time
}

func newSupersedeFixture() supersedeFixture {
	base := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	return supersedeFixture{
		report: graph.NamedNode(graph.KindReport, "SV Report"),
		a:      graph.NamedNode(graph.KindMalware, "SV A"),
		b:      graph.NamedNode(graph.KindMalware, "SV B"),
		d:      graph.NamedNode(graph.KindTool, "SV D"),
		t1:     base, t2: base.Add(time.Hour), t3: base.Add(2 * time.Hour),
	}
}

const svObject, svOther = "report--5e1f0000-0000-4000-8000-000000000001", "report--5e1f0000-0000-4000-8000-000000000002"

// version is the batch of one version of the report object: its node
// (Versions) and the links it states (StatedBy).
func (f supersedeFixture) version(at time.Time, dsts ...graph.Ref) graph.Batch {
	rep := f.report
	rep.Versions = map[string]time.Time{svObject: at}
	b := graph.Batch{Nodes: []graph.Node{rep, f.a, f.b}}
	for _, d := range dsts {
		b.Relations = append(b.Relations, graph.Relation{Src: rep.Ref(), Type: "object", Dst: d,
			StatedBy: map[string]time.Time{svObject: at}, Sources: []string{"feed"}})
	}
	return b
}

func (f supersedeFixture) other(dsts ...graph.Ref) graph.Batch {
	rep := f.report
	rep.Versions = map[string]time.Time{svOther: f.t1}
	b := graph.Batch{Nodes: []graph.Node{rep, f.d}}
	for _, d := range dsts {
		b.Relations = append(b.Relations, graph.Relation{Src: rep.Ref(), Type: "object", Dst: d,
			StatedBy: map[string]time.Time{svOther: f.t1}, Sources: []string{"other"}})
	}
	return b
}

// relationLines reads the stored relations and the pending count.
func relationLines(t *testing.T, b *testBundle) []string {
	t.Helper()
	return lines(t, b, `
		SELECT s.key || ' -' || r.relation || '-> ' || d.key FROM relations r
		JOIN nodes s ON s.id = r.src_id JOIN nodes d ON d.id = r.dst_id
		UNION ALL SELECT 'pending ' || count(*) FROM pending_relations p WHERE p.stated IS NULL OR NOT stated_superseded(p.stated)
		ORDER BY 1`)
}

// TestNewerVersionSupersedesWhatItNoLongerStates: a link an object stated
// in one version and no longer states in a newer one (a report's
// object_refs, a technique's tactic, a MISP event's attribute) is not a
// relation any more, whichever order the versions arrive in, together or
// apart, and also when an older version is loaded again; the pending link
// only the older version stated is gone; a newer version that states the
// link again brings it back; a link another object still states stays.
// The write stats say what was superseded.
func TestNewerVersionSupersedesWhatItNoLongerStates(t *testing.T) {
	t.Parallel()
	f := newSupersedeFixture()
	missing := graph.Ref("malware--5e1f0000-0000-4000-8000-0000000000cc")
	v1 := f.version(f.t1, f.a.Ref(), f.b.Ref(), missing, f.d.Ref())
	v2 := f.version(f.t2, f.a.Ref())
	v3 := f.version(f.t3, f.a.Ref(), f.b.Ref())
	other := f.other(f.d.Ref())
	both := graph.Batch{Nodes: append(slices.Clone(v1.Nodes), v2.Nodes...), Relations: append(slices.Clone(v1.Relations), v2.Relations...)}

	key := func(n graph.Node) string { return n.Key }
	afterV2 := []string{key(f.report) + " -object-> " + key(f.a), key(f.report) + " -object-> " + key(f.d), "pending 0"}
	slices.Sort(afterV2)
	for _, tc := range []struct {
		name    string
		batches []graph.Batch
		want    []string
	}{
		{"v1 then v2", []graph.Batch{other, v1, v2}, afterV2},
		{"v2 then v1", []graph.Batch{v2, v1, other}, afterV2},
		{"v1, v2, v1 again", []graph.Batch{v1, other, v2, v1}, afterV2},
		{"v1 and v2 in one batch", []graph.Batch{other, both}, afterV2},
		{"v3 states B again", []graph.Batch{v1, v2, other, v3, v1}, func() []string {
			w := append(slices.Clone(afterV2), key(f.report)+" -object-> "+key(f.b))
			slices.Sort(w)
			return w
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := writeBatches(t, tc.batches)
			require.Equal(t, tc.want, relationLines(t, b))
		})
	}

	t.Run("stats and the other object's link", func(t *testing.T) {
		t.Parallel()
		b := writeBatches(t, []graph.Batch{v1, other})
		ctx := context.Background()
		require.Contains(t, relationLines(t, b), "pending 1")
		ws, err := b.store.Write(ctx, v2)
		require.NoError(t, err)
		// B's record (D's is also stated by the other object, which has
		// no newer version), and the pending link to the missing object.
		require.Equal(t, int64(1), ws.RelationsSuperseded, "%+v", ws)
		// the pending link to the missing object is kept, no longer counted
		var kept int
		require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM pending_relations`).Scan(&kept))
		require.Equal(t, 1, kept)
		counts, err := b.store.Counts(ctx)
		require.NoError(t, err)
		require.Zero(t, counts.PendingRelations, "%+v", counts)
		require.Equal(t, afterV2, relationLines(t, b), "D stays: the other object states it")
		ws, err = b.store.Write(ctx, v1)
		require.NoError(t, err)
		// Every link sent is stated by a version older than the newest,
		// but A (stated by v2) and D (by the other object) stay live: they
		// are merged or unchanged like any other record, not stale as well
		// (the load report's parts added up to more than the records sent).
		// B is stale; C is the pending record v1 parked before, unchanged.
		require.Equal(t, int64(1), ws.RelationsStale, "%+v", ws)
		require.LessOrEqual(t, ws.RelationsStale+ws.RelationsInserted+ws.RelationsMerged+ws.RelationsPending, int64(len(v1.Relations)), "%+v", ws)
		require.Equal(t, afterV2, relationLines(t, b))
		ws, err = b.store.Write(ctx, graph.Batch{Nodes: other.Nodes})
		require.NoError(t, err)
		require.Zero(t, ws.RelationsSuperseded, "the same version again supersedes nothing")
	})
}

// TestRenamedVersionSupersedes: an object whose newer version is another
// node (a name-keyed malware renamed: same id, another name) supersedes
// what the older version stated from the old node, in either order.
func TestRenamedVersionSupersedes(t *testing.T) {
	t.Parallel()
	f := newSupersedeFixture()
	renamed := graph.NamedNode(graph.KindReport, "SV Report Renamed")
	v2 := graph.Batch{Nodes: []graph.Node{renamed, f.a}}
	v2.Nodes[0].Versions = map[string]time.Time{svObject: f.t2}
	v2.Relations = []graph.Relation{{Src: renamed.Ref(), Type: "object", Dst: f.a.Ref(), StatedBy: map[string]time.Time{svObject: f.t2}}}
	v1 := f.version(f.t1, f.a.Ref(), f.b.Ref())
	want := []string{"pending 0", renamed.Key + " -object-> " + f.a.Key}
	slices.Sort(want)
	for _, order := range [][]graph.Batch{{v1, v2}, {v2, v1}} {
		b := writeBatches(t, order)
		require.Equal(t, want, relationLines(t, b))
	}
}

// TestConcurrentVersionsGiveOneAnswer: versions of one object written by
// concurrent writers, in every interleaving the scheduler gives, leave what
// the newest states.
func TestConcurrentVersionsGiveOneAnswer(t *testing.T) {
	t.Parallel()
	f := newSupersedeFixture()
	b := setup(t)
	ctx := context.Background()
	var want []string
	for round := range 6 {
		at := f.t1.Add(time.Duration(round) * 24 * time.Hour)
		var batches []graph.Batch
		for i := range 4 {
			v := at.Add(time.Duration(i) * time.Minute)
			dsts := []graph.Ref{f.a.Ref()}
			if (i+round)%2 == 0 {
				dsts = append(dsts, f.b.Ref())
			}
			batches = append(batches, f.version(v, dsts...))
		}
		// the newest of the round is batches[3]: B when (3+round) is even
		want = []string{f.report.Key + " -object-> " + f.a.Key, "pending 0"}
		if (3+round)%2 == 0 {
			want = append(want, f.report.Key+" -object-> "+f.b.Key)
		}
		slices.Sort(want)
		var wg sync.WaitGroup
		errs := make([]error, len(batches))
		for i, batch := range batches {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = b.store.Write(ctx, batch)
			}()
		}
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}
		require.Equal(t, want, relationLines(t, b), "round %d", round)
	}
}

// TestLinkThatStandsAloneIsNeverSuperseded: a link one record states on its
// own (no StatedBy: a copy of the object without a version, a MISP event
// version whose timestamp came after its attributes) and another record
// states in an older version of an object is a link a source still gives:
// a newer version of that object that drops it leaves it live, whichever
// order the records arrive in, in one batch or apart (the union of the
// stated maps lost the record that stood alone, so the newer version
// superseded it, in one order only: testdata/adv/adv4-misp-tslast).
func TestLinkThatStandsAloneIsNeverSuperseded(t *testing.T) {
	t.Parallel()
	f := newSupersedeFixture()
	v1 := f.version(f.t1, f.a.Ref(), f.b.Ref())
	v2 := f.version(f.t2, f.b.Ref())
	alone := graph.Batch{Nodes: []graph.Node{f.report, f.a}, Relations: []graph.Relation{
		{Src: f.report.Ref(), Type: "object", Dst: f.a.Ref(), Sources: []string{"unversioned"}}}}
	v1alone := graph.Batch{Nodes: append(slices.Clone(v1.Nodes), alone.Nodes...), Relations: append(slices.Clone(v1.Relations), alone.Relations...)}
	want := []string{f.report.Key + " -object-> " + f.a.Key, f.report.Key + " -object-> " + f.b.Key, "pending 0"}
	slices.Sort(want)
	var dumps []string
	for _, tc := range []struct {
		name    string
		batches []graph.Batch
	}{
		{"v1, alone, v2", []graph.Batch{v1, alone, v2}},
		{"alone, v1, v2", []graph.Batch{alone, v1, v2}},
		{"v2, v1, alone", []graph.Batch{v2, v1, alone}},
		{"alone, v2, v1", []graph.Batch{alone, v2, v1}},
		{"v1 and alone in one batch, v2", []graph.Batch{v1alone, v2}},
		{"v2, v1 and alone in one batch", []graph.Batch{v2, v1alone}},
	} {
		b := writeBatches(t, tc.batches)
		require.Equal(t, want, relationLines(t, b), tc.name)
		dumps = append(dumps, strings.Join(lines(t, b, `SELECT src_ref || ' ' || relation || ' ' || dst_ref || ' ' || coalesce(stated::text, '-') || ' ' || superseded::text FROM relation_records ORDER BY 1`), "\n"))
	}
	for i := range dumps {
		require.Equal(t, dumps[0], dumps[i], "the same records in every order")
	}
}

// TestConcurrentReleaseOfAnOlderVersionsLink: a link only an older version
// of an object states, pending until its target arrives, is not walked
// when the target and the object's newer version (which drops the link)
// are written at once. The batch writing the target released the pending
// record without the object's lock (it names the record's ends, not the
// object), from a snapshot without the newer version, and the newer
// version's RelationSupersede did not see the record it wrote: the link
// stayed live in about a third of the rounds (PendingLockStated).
func TestConcurrentReleaseOfAnOlderVersionsLink(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	t1 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	live := 0
	for round := range 40 {
		rep := graph.NamedNode(graph.KindReport, fmt.Sprintf("Race Report %d", round))
		id := fmt.Sprintf("report--5e1f0000-0000-4000-8000-%012d", round)
		target := graph.NamedNode(graph.KindMalware, fmt.Sprintf("Race Target %d", round))
		ref := fmt.Sprintf("malware--5e1f0000-0000-4000-8000-%012d", round)
		target.Aliases = []string{ref}
		v1, v2 := rep, rep
		v1.Versions = map[string]time.Time{id: t1}
		v2.Versions = map[string]time.Time{id: t1.Add(time.Hour)}
		_, err := b.store.Write(ctx, graph.Batch{Nodes: []graph.Node{v1}, Relations: []graph.Relation{
			{Src: rep.Ref(), Type: "object", Dst: graph.Ref(ref), StatedBy: map[string]time.Time{id: t1}}}})
		require.NoError(t, err)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, batch := range []graph.Batch{{Nodes: []graph.Node{target}}, {Nodes: []graph.Node{v2}}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = b.store.Write(ctx, batch)
			}()
		}
		wg.Wait()
		require.NoError(t, errors.Join(errs...))
		n := lines(t, b, fmt.Sprintf(`SELECT count(*)::text FROM relations r JOIN nodes s ON s.id = r.src_id WHERE s.key = '%s'`, rep.Key))
		if n[0] != "0" {
			live++
		}
	}
	require.Zero(t, live, "rounds in which the link only v1 states is walked")
}
