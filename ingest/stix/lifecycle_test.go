package stix

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// TestFeedLifecyclePropertyIsNoMark loads testdata/adv/lifecycle-prop.json
// into PostgreSQL: a malware whose own top-level property is "lifecycle":
// "revoked" (a vendor's custom property, not our mark) is live: the walk
// from the intrusion set that uses it reaches it, node_withdrawn is false,
// it gives its name (name_uses) and its property is kept under
// graph.SourcePropKey("lifecycle"), with a warning. A malware with
// x_mitre_deprecated "true" (a string) is deprecated, in Go and in SQL.
func TestFeedLifecyclePropertyIsNoMark(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "testdata", "adv", "lifecycle-prop.json"))
	require.NoError(t, err)
	pool := pgtest.Pool(t)
	st := store.NewStore(pool, store.WithLogger(quietLogger))
	log, logs := newCapture()
	rep, err := Load(ctx, strings.NewReader(string(data)), st, Options{Feed: "lifecycle-prop", Logger: log})
	require.NoError(t, err)
	require.Empty(t, rep.Dropped)

	own, err := st.ResolveNode(ctx, "malware--00000000-0000-4000-8000-0000000007a1")
	require.NoError(t, err)
	require.Equal(t, "revoked", own.Props[graph.SourcePropKey(graph.PropLifecycle)], "the feed's own property is kept")
	require.NotContains(t, own.Props, graph.PropLifecycle)
	require.Empty(t, graph.Lifecycle(own.Props))
	var withdrawn bool
	var uses int
	require.NoError(t, pool.QueryRow(ctx, "SELECT node_withdrawn(props) FROM nodes WHERE id = $1", own.ID).Scan(&withdrawn))
	require.False(t, withdrawn)
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM name_uses WHERE node_id = $1", own.ID).Scan(&uses))
	require.Equal(t, 1, uses, "a live name-keyed node gives its name")

	set, err := st.ResolveNode(ctx, "intrusion-set--00000000-0000-4000-8000-0000000007a3")
	require.NoError(t, err)
	nb, err := st.FindRelated(ctx, set.ID, graph.RelatedOptions{Depth: 1})
	require.NoError(t, err)
	got, ok := nb.Node(own.ID)
	require.True(t, ok, "the walk reaches the malware")
	require.Empty(t, got.Withdrawn)

	var warned bool
	for _, l := range logs() {
		if l.attrs["id"] == "malware--00000000-0000-4000-8000-0000000007a1" && l.attrs["property"] == graph.PropLifecycle {
			warned = true
		}
	}
	require.True(t, warned, "the renamed property is warned about")

	dep, err := st.ResolveNode(ctx, "malware--00000000-0000-4000-8000-0000000007a2")
	require.NoError(t, err)
	require.Equal(t, graph.LifecycleDeprecated, dep.Props[graph.PropLifecycle])
	require.Equal(t, graph.LifecycleDeprecated, graph.Lifecycle(dep.Props))
	require.NoError(t, pool.QueryRow(ctx, "SELECT node_withdrawn(props) FROM nodes WHERE id = $1", dep.ID).Scan(&withdrawn))
	require.True(t, withdrawn)
}

// TestOwnReservedPropertiesMoved: an ATT&CK-keyed object whose own
// property is "lifecycle": "deprecated" is live and claims its name; one
// with revoked "True" (a string) loads, revoked, claiming none; a source's
// own "lifecycle" on a relationship and on an object embedded in
// observed-data is kept under graph.SourcePropKey too.
func TestOwnReservedPropertiesMoved(t *testing.T) {
	t.Parallel()
	const (
		mal = "malware--00000000-0000-4000-8000-0000000007b1"
		rev = "intrusion-set--00000000-0000-4000-8000-0000000007b2"
		rel = "relationship--00000000-0000-4000-8000-0000000007b3"
		od  = "observed-data--00000000-0000-4000-8000-0000000007b4"
	)
	sink, rep, _ := load(t, bundle(
		`{"type":"malware","spec_version":"2.1","id":"`+mal+`","created":"2021-01-01T00:00:00Z","modified":"2021-01-01T00:00:00Z","name":"Own Lifecycle","is_family":true,
		  "lifecycle":"deprecated","x_source_lifecycle":"kept","external_references":[{"source_name":"mitre-attack","external_id":"S9990"}]}`,
		`{"type":"intrusion-set","spec_version":"2.1","id":"`+rev+`","created":"2021-01-01T00:00:00Z","modified":"2021-01-01T00:00:00Z","name":"String Revoked","revoked":"True",
		  "external_references":[{"source_name":"mitre-attack","external_id":"G9990"}]}`,
		`{"type":"relationship","spec_version":"2.1","id":"`+rel+`","created":"2021-01-01T00:00:00Z","modified":"2021-01-01T00:00:00Z","relationship_type":"uses",
		  "source_ref":"`+rev+`","target_ref":"`+mal+`","lifecycle":"revoked"}`,
		`{"type":"observed-data","id":"`+od+`","created":"2021-01-01T00:00:00Z","modified":"2021-01-01T00:00:00Z","first_observed":"2021-01-01T00:00:00Z",
		  "last_observed":"2021-01-01T00:00:00Z","number_observed":1,"objects":{"0":{"type":"domain-name","value":"own-lifecycle.example","lifecycle":"revoked"}}}`,
	))
	require.Empty(t, rep.Dropped)
	nodes := sink.byAlias()
	m := nodes[mal]
	require.Empty(t, graph.Lifecycle(m.Props))
	require.Equal(t, "deprecated", m.Props["x_source_lifecycle"])
	require.Equal(t, "kept", m.Props["x_source_x_source_lifecycle"])
	require.Contains(t, m.Aliases, "malware:own lifecycle", "a live object claims its name")

	r := nodes[rev]
	require.Equal(t, graph.LifecycleRevoked, r.Props[graph.PropLifecycle])
	require.NotContains(t, r.Aliases, "intrusion-set:string revoked")

	var found bool
	for _, x := range sink.relations {
		if x.Type == "uses" {
			found = true
			require.Equal(t, "revoked", x.Props["x_source_lifecycle"])
			require.NotContains(t, x.Props, graph.PropLifecycle)
		}
	}
	require.True(t, found)
	var d graph.Node
	for _, n := range sink.nodes {
		if n.Kind == graph.KindDomainName {
			d = n
		}
	}
	require.Equal(t, "revoked", d.Props["x_source_lifecycle"])
	require.Empty(t, graph.Lifecycle(d.Props))
}

// TestCAPECObsoleteEntryIsDeprecated loads testdata/excerpts/capec-obsolete-blue-boxing.json,
// MITRE's CAPEC in STIX as OpenCTI's tests hold it: CAPEC-5 "Blue Boxing" has
// x_capec_status "Obsolete" (CAPEC's mark of an entry no longer valid, as
// "Deprecated" marks a duplicate), its parent CAPEC-272 "Draft". The
// obsolete pattern is deprecated, in Go and in SQL (node_withdrawn), claims
// no name and is left out of a walk from the course of action that
// mitigates it, as an ATT&CK object with x_mitre_deprecated is; the draft
// one stays live. Before, x_capec_status was a prop like any other: Blue
// Boxing was live, named, and reached by every walk.
func TestCAPECObsoleteEntryIsDeprecated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	st := store.NewStore(pool, store.WithLogger(quietLogger))
	loadExcerpt(t, st, "capec", "capec-obsolete-blue-boxing.json")

	withdrawn := func(id string) (graph.Node, bool, int) {
		t.Helper()
		n, err := st.ResolveNode(ctx, id)
		require.NoError(t, err, id)
		var w bool
		var uses int
		require.NoError(t, pool.QueryRow(ctx, "SELECT node_withdrawn(props) FROM nodes WHERE id = $1", n.ID).Scan(&w))
		require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM name_uses WHERE node_id = $1", n.ID).Scan(&uses))
		return n, w, uses
	}
	blue, w, uses := withdrawn("attack-pattern--7b462c1f-e0bf-41a7-b811-2b676c103bda")
	require.Equal(t, graph.LifecycleDeprecated, graph.Lifecycle(blue.Props))
	require.Equal(t, "Obsolete", blue.Props["x_capec_status"], "CAPEC's status is kept as written")
	require.True(t, w, "node_withdrawn")
	require.Zero(t, uses, "a withdrawn pattern claims no name")
	parent, w, uses := withdrawn("attack-pattern--9c983530-1927-43ca-addd-63d149cda4a7")
	require.Empty(t, graph.Lifecycle(parent.Props))
	require.False(t, w)
	require.Equal(t, 1, uses)

	coa, err := st.ResolveNode(ctx, "course-of-action--ad48d35a-8497-454e-a5b3-7ce3c8b75663")
	require.NoError(t, err)
	nb, err := st.FindRelated(ctx, coa.ID, graph.RelatedOptions{Depth: 1})
	require.NoError(t, err)
	_, reached := nb.Node(blue.ID)
	require.False(t, reached, "the walk leaves the obsolete pattern out")
	nb, err = st.FindRelated(ctx, coa.ID, graph.RelatedOptions{Depth: 1, IncludeWithdrawn: true})
	require.NoError(t, err)
	got, reached := nb.Node(blue.ID)
	require.True(t, reached)
	require.Equal(t, graph.LifecycleDeprecated, got.Withdrawn)
}
