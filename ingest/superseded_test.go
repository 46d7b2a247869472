package ingest_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest"
	"github.com/ransomeye/intel/internal/pgtest"
)

// TestNewerVersionDropsWhatItNoLongerStates: a link a newer version of an
// object no longer states is not walked, whichever version loads first,
// and both orders store the same tables (testdata/adv):
//   - adv3-killchain: a technique moved from one tactic to another
//     (kill_chain_phases execution → persistence) linked both;
//   - ver: an indicator whose pattern changed (198.51.100.1 → .2) stayed
//     based-on the old address;
//   - misp-reload: an event reloaded after one attribute was deleted
//     (.150) and one changed (.151 → .152) still listed .150 and .151;
//   - adv4-misp-tslast: an event whose newer version writes its timestamp
//     after its attributes lost the link to the attribute it kept (.160),
//     in one load order only.
func TestNewerVersionDropsWhatItNoLongerStates(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("..", "testdata", "adv")
	feed := func(name string) ingest.Feed {
		return ingest.Feed{Name: name, Path: filepath.Join(dir, name+".json")}
	}
	for _, tc := range []struct {
		v1, v2, start string
		want          []string // names reached at depth 1
		recordsDiffer bool     // superseded records kept in one order only
	}{
		{"adv3-killchain-v1", "adv3-killchain-v2", "T9990", []string{"Adv3 Persistence"}, false},
		{"ver-v1", "ver-v2", "indicator--00000000-0000-4000-8000-0000000000b2", []string{"198.51.100.2", "ThirdName"}, false},
		{"misp-reload-v1", "misp-reload-v2", "misp--5e1f0000-0000-4000-8000-e00000000010", []string{dstIndicator("198.51.100.152")}, false},
		// v2 gives its timestamp after its attributes (its link to .160 is
		// not versioned: it stands alone); v1, older, gives it first: .161,
		// which only v1 lists, goes, .160, which v2 lists too, stays
		// a report that dropped an object, a sighting sighted somewhere
		// else, an observed-data that observed another address
		// (testdata/adv/adv4-stix-ver)
		{"adv4-stix-ver-v1", "adv4-stix-ver-v2", "report--5e1f0000-0000-4000-8000-0000000a4001", []string{"Adv4VerMal"}, false},
		// a report that dropped a relationship id: the tables differed by
		// order in two superseded records (v2 first left v1's link stale,
		// never parked, so never expanded); stale links are parked too now
		// (testdata/adv/adv4-stix-relref)
		{"adv4-stix-relref-v1", "adv4-stix-relref-v2", "report--5e1f0000-0000-4000-8000-0000000a4012", []string{"Adv4 Sensor A"}, false},
		{"adv4-stix-ver-v1", "adv4-stix-ver-v2", "sighting--5e1f0000-0000-4000-8000-0000000a4006", []string{"", "Adv4 Sensor B", "Adv4VerInd"}, false},
		{"adv4-stix-ver-v1", "adv4-stix-ver-v2", "observed-data--5e1f0000-0000-4000-8000-0000000a4009", []string{"", "203.0.113.49"}, false},
		// a sighting whose custom TLP marking is defined after it, seen
		// at A, then (newer) at B: the TLP record written when the marking
		// arrives must be stated by the sighting's version too, or it
		// stands alone and keeps A (testdata/adv/adv4-sighting-latemark)
		{"adv4-sighting-latemark-v1", "adv4-sighting-latemark-v2", "sighting--5e1f0000-0000-4000-8000-0000000a4201", []string{"Adv4 Mark Site B", "Adv4MarkInd"}, false},
		{"adv4-misp-tslast-v1", "adv4-misp-tslast-v2", "misp--5e1f0000-0000-4000-8000-e00000000410", []string{dstIndicator("198.51.100.160"), dstIndicator("198.51.100.162")}, false},
		// an event whose newer version deleted an object (.170 and its
		// domain) and an attribute of another object (.173): the deleted
		// object's links were stated by the object, whose version nothing
		// raised, so .170 still reached it and its domain; an object's
		// links are the event's statements now (testdata/adv/adv5-misp-object-gone).
		// Its objects have to_ids attributes: each is the indicator
		// misp-stix exports it as, based on its values in its own
		// version, as a STIX indicator is; the deleted object's
		// indicator, no longer linked from the event, keeps them, as a
		// STIX indicator dropped from its report does
		{"adv5-misp-object-gone-v1", "adv5-misp-object-gone-v2", "198.51.100.170", []string{domainIPIndicator("adv5-gone.example", "198.51.100.170")}, false},
		{"adv5-misp-object-gone-v1", "adv5-misp-object-gone-v2", "198.51.100.173", nil, false},
		{"adv5-misp-object-gone-v1", "adv5-misp-object-gone-v2", "adv5-kept.example", []string{"198.51.100.172", domainIPIndicator("adv5-kept.example", "198.51.100.172")}, false},
		// an attribute's analyst note and relationship and an event report
		// naming .182, all gone from the newer version: their links were
		// stated by no version and stayed (testdata/adv/adv5-misp-analyst-gone;
		// walked from the to_ids attributes, their indicators, based on the
		// addresses)
		{"adv5-misp-analyst-gone-v1", "adv5-misp-analyst-gone-v2", "misp--5e1f0000-0000-4000-8000-000000000611", []string{"198.51.100.181", "analyst data removed between versions"}, false},
		{"adv5-misp-analyst-gone-v1", "adv5-misp-analyst-gone-v2", "misp--5e1f0000-0000-4000-8000-000000000614", []string{"198.51.100.182", "analyst data removed between versions"}, false},
		// the same events with their keys sorted (jq -S, Python's
		// sort_keys: "uuid" and "timestamp" after "Object", "EventReport"
		// and the attributes' "Note"), and with only "uuid" after them:
		// what their records stated was stated by no version, or by the
		// object's own uuid, and stayed (testdata/adv/adv5-misp-sorted-*,
		// adv5-misp-uuidlast-*)
		{"adv5-misp-sorted-object-gone-v1", "adv5-misp-sorted-object-gone-v2", "198.51.100.170", []string{domainIPIndicator("adv5-gone.example", "198.51.100.170")}, false},
		{"adv5-misp-sorted-object-gone-v1", "adv5-misp-sorted-object-gone-v2", "198.51.100.173", nil, false},
		{"adv5-misp-sorted-object-gone-v1", "adv5-misp-sorted-object-gone-v2", "adv5-kept.example", []string{"198.51.100.172", domainIPIndicator("adv5-kept.example", "198.51.100.172")}, false},
		{"adv5-misp-uuidlast-object-gone-v1", "adv5-misp-uuidlast-object-gone-v2", "198.51.100.170", []string{domainIPIndicator("adv5-gone.example", "198.51.100.170")}, false},
		{"adv5-misp-sorted-analyst-gone-v1", "adv5-misp-sorted-analyst-gone-v2", "misp--5e1f0000-0000-4000-8000-000000000611", []string{"198.51.100.181", "analyst data removed between versions"}, false},
		{"adv5-misp-sorted-analyst-gone-v1", "adv5-misp-sorted-analyst-gone-v2", "misp--5e1f0000-0000-4000-8000-000000000614", []string{"198.51.100.182", "analyst data removed between versions"}, false},
	} {
		t.Run(tc.v1+"/"+tc.start, func(t *testing.T) {
			t.Parallel()
			var dumps []string
			for _, order := range [][]ingest.Feed{{feed(tc.v1), feed(tc.v2)}, {feed(tc.v2), feed(tc.v1)}} {
				ctx := context.Background()
				st, pool := newStore(t)
				loadOneByOne(ctx, t, st, order)
				if tc.v1 == "ver-v1" {
					// the malware the indicator indicates (ver-v2), named by
					// its newest version when ver-v3 is loaded too
					loadOneByOne(ctx, t, st, []ingest.Feed{feed("ver-v3")})
				}
				start, err := st.ResolveNode(ctx, tc.start)
				require.NoError(t, err)
				hood, err := st.FindRelated(ctx, start.ID, graph.RelatedOptions{Depth: 1})
				require.NoError(t, err)
				lv, err := st.FindRelatedLevels(ctx, start.ID, graph.RelatedOptions{Depth: 1})
				require.NoError(t, err)
				require.Equal(t, hood.Nodes, lv.Nodes, "both engines")
				var got []string
				for _, n := range hood.Nodes[1:] {
					got = append(got, n.Name)
				}
				slices.Sort(got)
				require.Equal(t, tc.want, got, "%s first", order[0].Name)
				dumps = append(dumps, pgtest.Dump(t, pool, pgtest.GraphQueries...))
			}
			if !tc.recordsDiffer {
				require.Equal(t, dumps[0], dumps[1], "the same tables in either order")
			}
		})
	}
}

// domainIPIndicator names the indicator of a domain-ip object whose
// domain and address are flagged to_ids (its pattern, as misp-stix writes
// it): a MISP event links the indicator.
func domainIPIndicator(domain, ip string) string {
	return "[domain-name:value = '" + domain + "' AND domain-name:resolves_to_refs[*].value = '" + ip + "']"
}

// dstIndicator names the indicator of a to_ids ip-dst attribute (its
// pattern, as misp-stix writes it): a MISP event links the indicator.
func dstIndicator(ip string) string {
	return "[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value = '" + ip + "']"
}
