package graph_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/internal/mergetest"
)

func conf(c int) *int { return &c }

func TestMergeNodeRules(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2025, 1, 10, 0, 0, 0, 0, time.UTC)
	base := graph.NamedNode(graph.KindMalware, "Conti")
	with := func(f func(n *graph.Node)) graph.Node {
		n := base
		f(&n)
		return n
	}
	for _, tc := range []struct {
		name      string
		a, b      graph.Node
		wantName  string
		wantProps map[string]any
	}{{
		name: "higher confidence wins name and props, lower adds missing keys",
		a:    with(func(n *graph.Node) { n.Name, n.Confidence, n.Props = "Conti", conf(90), map[string]any{"d": "good"} }),
		b: with(func(n *graph.Node) {
			n.Name, n.Confidence, n.Props = "conti?", conf(10), map[string]any{"d": "bad", "x": 1}
		}),
		wantName:  "Conti",
		wantProps: map[string]any{"d": "good", "x": 1},
	}, {
		name: "equal confidence: the later record wins",
		a: with(func(n *graph.Node) {
			n.Name, n.Confidence, n.FirstSeen, n.LastSeen, n.Props = "old", conf(50), t0, t0, map[string]any{"d": "v1", "only_v1": true}
		}),
		b: with(func(n *graph.Node) {
			n.Name, n.Confidence, n.FirstSeen, n.LastSeen, n.Props = "new", conf(50), t0, t0.AddDate(0, 1, 0), map[string]any{"d": "v2"}
		}),
		wantName:  "new",
		wantProps: map[string]any{"d": "v2", "only_v1": true},
	}, {
		name:      "equal confidence and time: content decides, not arrival",
		a:         with(func(n *graph.Node) { n.Name, n.Confidence, n.Props = "Conti", conf(50), map[string]any{"d": "a"} }),
		b:         with(func(n *graph.Node) { n.Name, n.Confidence, n.Props = "conti", conf(50), map[string]any{"d": "b"} }),
		wantName:  "", // whichever has the higher digest: checked below for both orders
		wantProps: nil,
	}, {
		name:      "an empty name never wins",
		a:         with(func(n *graph.Node) { n.Name, n.Confidence = "Conti", conf(10) }),
		b:         with(func(n *graph.Node) { n.Name, n.Confidence = "", conf(90) }),
		wantName:  "Conti",
		wantProps: nil,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ab, ba := graph.MergeNode(tc.a, tc.b), graph.MergeNode(tc.b, tc.a)
			require.Equal(t, mergetest.NodeView(ab, t0), mergetest.NodeView(ba, t0), "commutative")
			if tc.wantName != "" {
				require.Equal(t, tc.wantName, ab.Name)
			}
			if tc.wantProps != nil {
				require.Equal(t, tc.wantProps, ab.Props)
			}
		})
	}
}

func TestMergeNodeKeepsTheContract(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2025, 1, 10, 0, 0, 0, 0, time.UTC)
	a := graph.NamedNode(graph.KindMalware, "Conti")
	a.Confidence, a.TLP, a.Labels, a.Sources, a.Aliases = conf(40), "amber", []string{"b"}, []string{"f2"}, []string{"m--2"}
	a.FirstSeen, a.LastSeen = t0, t0.AddDate(0, 0, 1)
	b := a
	b.Confidence, b.TLP, b.Labels, b.Sources, b.Aliases = conf(60), "green", []string{"a"}, []string{"f1"}, []string{"m--1"}
	b.FirstSeen, b.LastSeen = t0.AddDate(0, 0, -1), time.Time{}
	u := a // untimed: adds no times
	u.FirstSeen, u.LastSeen = time.Time{}, time.Time{}

	m := graph.MergeNode(graph.MergeNode(a, b), u)
	require.Equal(t, 60, *m.Confidence)
	require.Equal(t, graph.TLP("amber"), m.TLP)
	require.Equal(t, []string{"a", "b"}, m.Labels)
	require.Equal(t, []string{"f1", "f2"}, m.Sources)
	require.Equal(t, []string{"m--1", "m--2"}, m.Aliases)
	require.Equal(t, t0.AddDate(0, 0, -1), m.FirstSeen)
	require.Equal(t, t0.AddDate(0, 0, 1), m.LastSeen)
	require.Equal(t, []string{"b"}, a.Labels, "inputs are not modified")

	untimed := graph.MergeNode(u, u)
	require.True(t, untimed.FirstSeen.IsZero() && untimed.LastSeen.IsZero(), "untimed records stay untimed")
}

func TestRecordRankOrders(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2025, 1, 10, 0, 0, 0, 0, time.UTC)
	none := graph.RecordRank(nil, time.Time{}, time.Time{}, "x", nil)
	low := graph.RecordRank(conf(0), time.Time{}, time.Time{}, "x", nil)
	early := graph.RecordRank(conf(0), t0, t0, "x", nil)
	late := graph.RecordRank(conf(0), t0, t0.Add(time.Microsecond), "x", nil)
	firstOnly := graph.RecordRank(conf(0), t0, time.Time{}, "x", nil)
	high := graph.RecordRank(conf(100), time.Time{}, time.Time{}, "x", nil)
	require.Less(t, none, low)
	require.Less(t, low, early)
	require.Less(t, early, late)
	require.Equal(t, early, firstOnly, "a single time stands for both")
	require.Less(t, late, high)
	require.NotEqual(t, graph.RecordRank(nil, t0, t0, "x", nil), graph.RecordRank(nil, t0, t0, "y", nil), "content breaks ties")
	require.Equal(t, graph.RecordRank(nil, t0, t0, "x", nil), graph.RecordRank(nil, t0, t0, "x", map[string]any{}))
	deprecated := graph.RecordRank(conf(100), t0, t0.Add(time.Hour), "x", map[string]any{"x_mitre_deprecated": true})
	revoked := graph.RecordRank(conf(100), t0, t0.Add(time.Hour), "x", map[string]any{"revoked": true})
	require.Less(t, deprecated, none, "a deprecated record ranks below any live one")
	require.Less(t, revoked, none, "a revoked record ranks below any live one")
	require.Less(t, graph.RecordRank(nil, t0, t0, "x", map[string]any{graph.PropLifecycle: graph.LifecycleDeprecated}), deprecated,
		"retired records rank among themselves as live ones do")
}

// TestMergeIsASemilattice checks on random records, drawn from small pools
// so that equal confidences, times, names and keys are common, that
// MergeNode and MergeRelation are commutative, associative and idempotent.
func TestMergeIsASemilattice(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	now := mergetest.Base.AddDate(1, 0, 0)
	id := uuid.MustParse("0b0c0c0a-0000-4000-8000-000000000001")
	for i := range 5000 {
		a, b, c := mergetest.Node(r, id), mergetest.Node(r, id), mergetest.Node(r, id)
		view := func(n graph.Node) mergetest.View { return mergetest.NodeView(n, now) }
		require.Equal(t, view(graph.MergeNode(a, b)), view(graph.MergeNode(b, a)), "node %d: commutative", i)
		require.Equal(t, view(graph.MergeNode(graph.MergeNode(a, b), c)), view(graph.MergeNode(a, graph.MergeNode(b, c))), "node %d: associative", i)
		ab := graph.MergeNode(a, b)
		require.Equal(t, view(ab), view(graph.MergeNode(ab, ab)), "node %d: idempotent", i)
		require.Equal(t, view(ab), view(graph.MergeNode(ab, a)), "node %d: absorbs its parts", i)

		x, y, z := mergetest.Relation(r, "a", "b"), mergetest.Relation(r, "a", "b"), mergetest.Relation(r, "a", "b")
		rview := func(rel graph.Relation) mergetest.View { return mergetest.RelationView(rel, now) }
		require.Equal(t, rview(graph.MergeRelation(x, y)), rview(graph.MergeRelation(y, x)), "relation %d: commutative", i)
		require.Equal(t, rview(graph.MergeRelation(graph.MergeRelation(x, y), z)), rview(graph.MergeRelation(x, graph.MergeRelation(y, z))), "relation %d: associative", i)
		xy := graph.MergeRelation(x, y)
		require.Equal(t, rview(xy), rview(graph.MergeRelation(xy, xy)), "relation %d: idempotent", i)
	}
}

// TestMergeNodesIgnoresOrder checks that the batch de-duplication gives the
// same nodes whatever the order of the records.
func TestMergeNodesIgnoresOrder(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 4))
	now := mergetest.Base
	ids := []uuid.UUID{uuid.MustParse("0b0c0c0a-0000-4000-8000-000000000001"), uuid.MustParse("0b0c0c0a-0000-4000-8000-000000000002")}
	for range 200 {
		var in []graph.Node
		for range 8 {
			in = append(in, mergetest.Node(r, ids[r.IntN(2)]))
		}
		shuffled := append([]graph.Node(nil), in...)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		a, b := graph.MergeNodes(in), graph.MergeNodes(shuffled)
		require.Len(t, b, len(a))
		for i := range a {
			require.Equal(t, mergetest.NodeView(a[i], now), mergetest.NodeView(b[i], now))
		}
	}
}

// TestRetiredRecordNeverOverwritesLive: a deprecated or revoked record of
// an entity, even with a higher confidence and a later time, gives neither
// the name nor a props key that a live record has, in either order; it
// only adds keys no live record has (its lifecycle mark among them).
func TestRetiredRecordNeverOverwritesLive(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2025, 1, 2, 0, 0, 0, 0, time.UTC)
	live := graph.NamedNode(graph.KindMalware, "Bad Rabbit", "S0606")
	live.LastSeen, live.FirstSeen = t0, t0
	live.Props = map[string]any{"description": "live", "x_mitre_version": "1.1"}
	for _, mark := range []map[string]any{
		{"x_mitre_deprecated": true, graph.PropLifecycle: graph.LifecycleDeprecated},
		{"revoked": true, graph.PropLifecycle: graph.LifecycleRevoked},
	} {
		old := live
		old.Name = "Bad Rabbit (old)"
		old.Confidence = conf(100)
		old.FirstSeen, old.LastSeen = t0, t0.AddDate(0, 4, 0)
		old.Props = map[string]any{"description": "old", "x_mitre_version": "9.9"}
		for k, v := range mark {
			old.Props[k] = v
		}
		ab, ba := graph.MergeNode(live, old), graph.MergeNode(old, live)
		require.Equal(t, ab, ba)
		require.Equal(t, "Bad Rabbit", ab.Name)
		require.Equal(t, "live", ab.Props["description"])
		require.Equal(t, "1.1", ab.Props["x_mitre_version"])
		require.Equal(t, mark[graph.PropLifecycle], ab.Props[graph.PropLifecycle], "the mark is kept: no live record has the key")
		require.Equal(t, 100, *ab.Confidence, "confidence and times still merge as always")
	}
}

// TestRecordSourceIsTheNewestEntry: a record's source object is its newest
// entry with an id and a version, the smallest id among equally new ones,
// whatever order the map gives them; none, "".
func TestRecordSourceIsTheNewestEntry(t *testing.T) {
	t1 := time.Date(2022, 7, 13, 18, 32, 59, 0, time.UTC)
	t2 := time.Date(2022, 7, 19, 9, 30, 0, 0, time.UTC)
	for _, c := range []struct {
		versions map[string]time.Time
		src      string
		at       time.Time
	}{
		{nil, "", time.Time{}},
		{map[string]time.Time{"a": {}}, "", time.Time{}},
		{map[string]time.Time{"": t1}, "", time.Time{}},
		{map[string]time.Time{"a": t1}, "a", t1},
		{map[string]time.Time{"indicator--x": t1, "misp--e": t2}, "misp--e", t2},
		{map[string]time.Time{"indicator--x": t2, "misp--e": t1}, "indicator--x", t2},
		{map[string]time.Time{"b": t1, "a": t1, "c": t1}, "a", t1},
		{map[string]time.Time{"b": t1, "a": {}, "": t2}, "b", t1},
	} {
		for range 20 { // map order varies
			src, at := graph.RecordSource(graph.Node{Versions: c.versions})
			require.Equal(t, c.src, src, "%v", c.versions)
			require.True(t, at.Equal(c.at), "%v", c.versions)
		}
	}
}

// TestProducerNameOfAnATTACKObjectNeverOutranksATTACKs: a producer's object
// mapped onto an ATT&CK id by a name that spells the id (CISA's AIS
// "Credential Access - Steal Web Session Cookie [T1539]", a MISP galaxy's
// "Steal Web Session Cookie - T1539") does not name the node while a
// record names it without the id (ATT&CK's "Steal Web Session Cookie"),
// whatever the records' confidence and times, in either order. Before,
// the newer or more confident record's name won: CISA's advisory of
// 2023-11-21 renamed ATT&CK's T1539 (modified 2023-09-19).
func TestProducerNameOfAnATTACKObjectNeverOutranksATTACKs(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2023, 9, 19, 21, 21, 52, 0, time.UTC)
	attack := graph.NamedNode(graph.KindAttackPattern, "Steal Web Session Cookie", "T1539")
	attack.FirstSeen, attack.LastSeen = t0.AddDate(-4, 0, 0), t0
	require.Equal(t, "T1539", attack.Key)
	for _, name := range []string{"Credential Access - Steal Web Session Cookie [T1539]", "Steal Web Session Cookie - T1539", "t1539: cookies"} {
		vendor := graph.NamedNode(graph.KindAttackPattern, name, "T1539")
		require.Equal(t, attack.ID, vendor.ID, name)
		vendor.Confidence = conf(100)
		vendor.FirstSeen, vendor.LastSeen = t0.AddDate(0, 2, 0), t0.AddDate(0, 2, 0)
		require.True(t, graph.NamesItsKey(vendor), name)
		ab, ba := graph.MergeNode(attack, vendor), graph.MergeNode(vendor, attack)
		require.Equal(t, ab, ba)
		require.Equal(t, "Steal Web Session Cookie", ab.Name, name)
		require.Equal(t, 100, *ab.Confidence, "confidence and times merge as always")

		// Alone, the producer's name is the node's; among producers the
		// usual rank decides.
		require.Equal(t, name, graph.MergeNode(vendor, vendor).Name)
		other := graph.NamedNode(graph.KindAttackPattern, "Steal Web Session Cookie - T1539", "T1539")
		other.FirstSeen, other.LastSeen = t0, t0
		if name != other.Name {
			require.Equal(t, name, graph.MergeNode(other, vendor).Name)
			require.Equal(t, name, graph.MergeNode(vendor, other).Name)
		}
		// A revoked ATT&CK record still names the object before a producer.
		retired := attack
		retired.Props = map[string]any{"revoked": true, graph.PropLifecycle: graph.LifecycleRevoked}
		require.Equal(t, "Steal Web Session Cookie", graph.MergeNode(vendor, retired).Name)
	}
	for _, n := range []graph.Node{
		attack,
		graph.NamedNode(graph.KindAttackPattern, "Steal Web Session Cookie [T1539.001]", "T1539"), // another id
		graph.NamedNode(graph.KindAttackPattern, "T15390 cookies", "T1539"),
		graph.NamedNode(graph.KindMalware, "Conti"),
		graph.NamedNode(graph.KindVulnerability, "CVE-2023-4966"), // keyed by a CVE id: every record names it so
	} {
		require.False(t, graph.NamesItsKey(n), "%s %q", n.Key, n.Name)
	}
}

// TestCVEIdNamesItsVulnerability: a vulnerability keyed by a CVE id is
// named by that id whenever a record names it so (cve2stix, NVD, MISP's
// vulnerability attributes), whatever another producer calls it
// ("Log4Shell", "log4j RCE (CVE-2021-44228)") and whatever the records'
// confidence and times, in either order; among records that do not name it
// by the id the usual rank decides. Before, the newer or more confident
// record's name won: a vendor's "Log4Shell" of confidence 90 renamed
// CVE-2021-44228.
func TestCVEIdNamesItsVulnerability(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2021, 12, 10, 0, 0, 0, 0, time.UTC)
	nvd := graph.NamedNode(graph.KindVulnerability, "CVE-2021-44228")
	nvd.FirstSeen, nvd.LastSeen = t0, t0
	require.True(t, graph.IsItsCVEName(nvd))
	for _, name := range []string{"Log4Shell", "log4j RCE (CVE-2021-44228)"} {
		vendor := graph.NamedNode(graph.KindVulnerability, name, "CVE-2021-44228")
		require.Equal(t, nvd.ID, vendor.ID, name)
		require.False(t, graph.IsItsCVEName(vendor), name)
		vendor.Confidence = conf(90)
		vendor.FirstSeen, vendor.LastSeen = t0.AddDate(1, 0, 0), t0.AddDate(1, 0, 0)
		ab, ba := graph.MergeNode(nvd, vendor), graph.MergeNode(vendor, nvd)
		require.Equal(t, ab, ba)
		require.Equal(t, "CVE-2021-44228", ab.Name, name)
		require.Equal(t, 90, *ab.Confidence, "confidence and times merge as always")
		require.Equal(t, name, graph.MergeNode(vendor, vendor).Name, "alone, the producer's name is the node's")
		// A revoked record naming it by the id still names it.
		retired := nvd
		retired.Props = map[string]any{"revoked": true, graph.PropLifecycle: graph.LifecycleRevoked}
		require.Equal(t, "CVE-2021-44228", graph.MergeNode(vendor, retired).Name)
	}
	lower := graph.NamedNode(graph.KindVulnerability, "cve-2021-44228")
	require.True(t, graph.IsItsCVEName(lower), "the id in any case")
	for _, n := range []graph.Node{
		graph.NamedNode(graph.KindVulnerability, "Citrix Bleed", "CVE-2023-4966"),
		graph.NamedNode(graph.KindVulnerability, "CVE-2023-4966", "CVE-2021-44228"), // keyed by its name's id
		graph.NamedNode(graph.KindVulnerability, "ZDI-CAN-1234"),
		{Kind: graph.KindMalware, Key: "CVE-2021-44228", Name: "CVE-2021-44228"},
	} {
		if n.Key == "CVE-2023-4966" && n.Name == "CVE-2023-4966" {
			require.True(t, graph.IsItsCVEName(n))
			continue
		}
		require.False(t, graph.IsItsCVEName(n), "%s %q", n.Key, n.Name)
	}
}

// TestNameATTACKIDLeadsOrEndsTheName: a producer's label that carries the
// ATT&CK id leading its name ("T1190 - Exploit Public-Facing Application",
// the STIX elevator's "T1566.002 - Phishing: Spearphishing Link - Initial
// Access", Unit 42's "T1071: Application Layer Protocol") or in brackets at
// its end (CISA's "… [T1539]") says which ATT&CK object it is: the object
// is keyed by that id when no external reference gives one, and ATT&CK's
// name outranks the label (NamesItsKey). A name that merely mentions an id,
// or an id of another kind, keys nothing. Before, "T1190 - Exploit
// Public-Facing Application" with no reference was keyed by its whole name,
// a node apart from ATT&CK's T1190.
func TestNameATTACKIDLeadsOrEndsTheName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		kind graph.Kind
		name string
		want string
	}{
		{graph.KindAttackPattern, "T1190 - Exploit Public-Facing Application", "T1190"},
		{graph.KindAttackPattern, "T1566.002 - Phishing: Spearphishing Link - Initial Access", "T1566.002"},
		{graph.KindAttackPattern, "T1071: Application Layer Protocol", "T1071"},
		{graph.KindAttackPattern, "t1071 : application layer protocol", "T1071"},
		{graph.KindAttackPattern, "T1190 \u2013 Exploit Public-Facing Application", "T1190"},
		{graph.KindAttackPattern, "[T1190] Exploit Public-Facing Application", "T1190"},
		{graph.KindAttackPattern, "(T1190) Exploit Public-Facing Application", "T1190"},
		{graph.KindAttackPattern, "Credential Access - Steal Web Session Cookie [T1539]", "T1539"},
		{graph.KindMalware, "S0154 - Cobalt Strike", "S0154"},
		{graph.KindIntrusionSet, "G0007: APT28", "G0007"},
		{graph.KindAttackPattern, "Like T1190", ""},
		{graph.KindAttackPattern, "Exploit Public-Facing Application (T1190) variant", ""},
		{graph.KindAttackPattern, "T1190-like behaviour", ""},
		{graph.KindAttackPattern, "T1190 exploitation of VPN appliances", ""},
		{graph.KindAttackPattern, "T11900 - Not an id", ""},
		{graph.KindAttackPattern, "T1190 -", ""},
		{graph.KindAttackPattern, "TA0001: Initial Access", ""},
		{graph.KindMalware, "T1190 - Exploit Public-Facing Application", ""},
		{graph.KindAttackPattern, "S0154 - Cobalt Strike", ""},
		{graph.KindAttackPattern, "T1190", ""}, // the name is the id: NamedKey's own case
	} {
		require.Equal(t, tc.want, graph.NameATTACKID(tc.kind, tc.name), "%s %q", tc.kind, tc.name)
		n := graph.NamedNode(tc.kind, tc.name)
		if tc.want != "" {
			require.Equal(t, tc.want, n.Key, tc.name)
			require.True(t, graph.NamesItsKey(n), "ATT&CK's name outranks %q", tc.name)
		} else if tc.name != "T1190" {
			require.Equal(t, graph.NormalizeName(tc.name), n.Key, tc.name)
		}
	}
	// An external reference's id keys the object before its name's.
	require.Equal(t, "T1133", graph.NamedKey(graph.KindAttackPattern, "T1190 - Exploit Public-Facing Application", "T1133"))
	attack := graph.NamedNode(graph.KindAttackPattern, "Exploit Public-Facing Application", "T1190")
	label := graph.NamedNode(graph.KindAttackPattern, "T1190 - Exploit Public-Facing Application")
	label.Confidence = conf(100)
	require.Equal(t, attack.ID, label.ID)
	require.Equal(t, "Exploit Public-Facing Application", graph.MergeNode(label, attack).Name)
	require.Equal(t, "Exploit Public-Facing Application", graph.MergeNode(attack, label).Name)
}
