package migrations_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/db/migrations"
	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/internal/pgtest"
)

// nameRankCase is a record of a node of kind and key named name.
type nameRankCase struct {
	kind graph.Kind
	key  string
	name string
}

// goPrefix is the prefix graph gives the name rank of the record: its name
// rank less its props rank (the record's own rank).
func goPrefix(c nameRankCase) string {
	n := graph.Node{Kind: c.kind, Key: c.key, Name: c.name}
	r := n.Ranks()
	return strings.TrimSuffix(r.Name, r.Props)
}

// TestNameRankPrefixIsGraphs: migration 00046's name_rank_prefix, which
// ranks the names stored before graph's name rules, gives the prefix
// graph.Node.Ranks gives (NamesItsKey's ",", IsItsCVEName's "~"), name for
// name, over the names graph's own tests name and the edges of both rules.
func TestNameRankPrefixIsGraphs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := open(t, pgtest.EmptyDSN(t))
	p, err := migrations.NewProvider(db)
	require.NoError(t, err)
	_, err = p.Up(ctx)
	require.NoError(t, err)
	ap, vuln := graph.KindAttackPattern, graph.KindVulnerability
	var cases []nameRankCase
	for _, name := range []string{
		"Credential Access - Steal Web Session Cookie [T1539]", "Steal Web Session Cookie - T1539", "t1539: cookies",
		"Steal Web Session Cookie", "Steal Web Session Cookie [T1539.001]", "T15390 cookies", "T1539", "xT1539", "T1539x",
		"T1539_", "_T1539", "T1539.", "T1539.a", "T1539.001", "(T1539)", "é T1539", "T1539é", "cookies T1539.1",
		"", "T1539 - T1539.001",
	} {
		cases = append(cases, nameRankCase{ap, "T1539", name})
	}
	for _, name := range []string{"T1566.002 - Phishing: Spearphishing Link", "T1566.0021", "T1566 - Phishing", "[T1566.002]", "T1566x002"} {
		cases = append(cases, nameRankCase{ap, "T1566.002", name})
	}
	cases = append(cases,
		nameRankCase{graph.KindIntrusionSet, "G0007", "APT28 - G0007"},
		nameRankCase{graph.KindMalware, "S0154", "Cobalt Strike"},
		nameRankCase{graph.KindMalware, "conti", "Conti"},
		nameRankCase{graph.KindMalware, "t1539", "t1539"},
		nameRankCase{"x-mitre-tactic", "TA0001", "Initial Access TA0001"},
		nameRankCase{"x-mitre-data-source", "DS0015", "DS0015: Application Log"},
	)
	for _, name := range []string{"CVE-2021-44228", "cve-2021-44228", " CVE-2021-44228 ", "CVE-2021-44228\t", "Log4Shell",
		"log4j RCE (CVE-2021-44228)", "CVE-2021-4422", "CVE-2021-442281", ""} {
		cases = append(cases, nameRankCase{vuln, "CVE-2021-44228", name})
	}
	cases = append(cases,
		nameRankCase{vuln, "log4shell", "Log4Shell"},
		nameRankCase{graph.KindMalware, "CVE-2021-44228", "CVE-2021-44228"},
	)
	for _, c := range cases {
		var got string
		require.NoError(t, db.QueryRowContext(ctx, `SELECT name_rank_prefix($1, $2, $3)`, string(c.kind), c.key, c.name).Scan(&got))
		if c.name == "" {
			continue // an empty name has no name rank
		}
		require.Equal(t, goPrefix(c), got, "%s %s %q", c.kind, c.key, c.name)
	}
}

// TestNameRanksStoredBeforeTheRules: migration 00046 ranks the names
// stored before graph's name rules as the rules rank them now. A database
// at 00044 holds what intel wrote before the twenty-seventh session ranked
// a producer's name spelling its ATT&CK id low (CISA's "Credential Access
// - Steal Web Session Cookie [T1539]", newer and confident, named T1539
// over ATT&CK's own record) and before a CVE id named its vulnerability (a
// vendor's "Log4Shell" over the NVD's "CVE-2021-44228"). After it, each
// recorded node has the name its records give under the rules, a node not
// recorded has its name ranked so that the next record naming it
// otherwise replaces it, and other names are left alone. Before (without
// the migration), those stored ranks stayed: ATT&CK loaded again did not
// rename T1539.
func TestNameRanksStoredBeforeTheRules(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := open(t, pgtest.EmptyDSN(t))
	p, err := migrations.NewProvider(db)
	require.NoError(t, err)
	_, err = p.UpTo(ctx, 44)
	require.NoError(t, err)

	t0 := time.Date(2023, 9, 19, 21, 21, 52, 0, time.UTC)
	conf := func(c int) *int { return &c }
	// rank is a record's rank as intel wrote it before the rules: no prefix.
	rank := func(n graph.Node) string { return n.Ranks().Props }
	type rec struct {
		node   graph.Node
		source string
	}
	cisa := graph.NamedNode(graph.KindAttackPattern, "Credential Access - Steal Web Session Cookie [T1539]")
	cisa.Confidence, cisa.LastSeen = conf(50), t0.AddDate(0, 2, 0)
	attack := graph.NamedNode(graph.KindAttackPattern, "Steal Web Session Cookie", "T1539")
	attack.LastSeen = t0
	vendor := graph.NamedNode(graph.KindVulnerability, "Log4Shell", "CVE-2021-44228")
	vendor.Confidence, vendor.LastSeen = conf(95), t0
	nvd := graph.NamedNode(graph.KindVulnerability, "CVE-2021-44228")
	nvd.LastSeen = t0.AddDate(-1, 0, 0)
	galaxy := graph.NamedNode(graph.KindAttackPattern, "Command and Scripting Interpreter - T1059")
	galaxy.Confidence = conf(80)
	sub := graph.NamedNode(graph.KindAttackPattern, "Cookies [T1550.001]", "T1550") // another id than its key
	conti := graph.NamedNode(graph.KindMalware, "Conti")
	recorded := [][]rec{
		{{cisa, "attack-pattern--cisa"}, {attack, "attack-pattern--10ffac09-e42d-4f56-ab20-db94c67d76ff"}},
		{{vendor, "vulnerability--vendor"}, {nvd, "vulnerability--nvd"}},
	}
	insertNode := func(n graph.Node, name, nameRank string, isRecorded bool) {
		_, err := db.ExecContext(ctx, `INSERT INTO nodes (id, kind, key, name, name_rank, props_rank, recorded) VALUES ($1, $2, $3, $4, $5, $5, $6)`,
			n.ID, string(n.Kind), n.Key, name, nameRank, isRecorded)
		require.NoError(t, err)
	}
	for _, recs := range recorded {
		// The node as the old ranks merged it: the highest rank's name.
		top := recs[0]
		for _, r := range recs[1:] {
			if rank(r.node) > rank(top.node) {
				top = r
			}
		}
		insertNode(top.node, top.node.Name, rank(top.node), true)
		for _, r := range recs {
			_, err := db.ExecContext(ctx, `INSERT INTO node_records (node_id, source_id, version, name, name_rank, props_rank) VALUES ($1, $2, $3, $4, $5, $5)`,
				r.node.ID, r.source, t0, r.node.Name, rank(r.node))
			require.NoError(t, err)
		}
	}
	for _, n := range []graph.Node{galaxy, sub, conti} {
		insertNode(n, n.Name, rank(n), false)
	}
	// A record written under the rules is left as it is.
	ruled := graph.NamedNode(graph.KindAttackPattern, "Valid Accounts - T1078")
	insertNode(ruled, ruled.Name, ruled.Ranks().Name, false)
	names := func() map[string][2]string {
		rows, err := db.QueryContext(ctx, `SELECT key, name, name_rank FROM nodes`)
		require.NoError(t, err)
		defer func() { _ = rows.Close() }()
		out := map[string][2]string{}
		for rows.Next() {
			var key, name, nameRank string
			require.NoError(t, rows.Scan(&key, &name, &nameRank))
			out[key] = [2]string{name, nameRank}
		}
		require.NoError(t, rows.Err())
		return out
	}
	before := names()
	require.Equal(t, cisa.Name, before["T1539"][0], "the old ranks named T1539 as CISA does")
	require.Equal(t, "Log4Shell", before["CVE-2021-44228"][0])

	_, err = p.UpTo(ctx, 46)
	require.NoError(t, err)
	after := names()
	require.Equal(t, [2]string{"Steal Web Session Cookie", attack.Ranks().Name}, after["T1539"])
	require.Equal(t, [2]string{"CVE-2021-44228", nvd.Ranks().Name}, after["CVE-2021-44228"])
	require.Equal(t, [2]string{galaxy.Name, galaxy.Ranks().Name}, after["T1059"], "ranked as the rules rank it")
	require.True(t, strings.HasPrefix(after["T1059"][1], ","))
	for _, n := range []graph.Node{sub, conti, ruled} {
		require.Equal(t, before[n.Key], after[n.Key], n.Name)
	}
	var recordRanks []string
	rows, err := db.QueryContext(ctx, `SELECT name_rank FROM node_records ORDER BY name COLLATE "C"`)
	require.NoError(t, err)
	for rows.Next() {
		var r string
		require.NoError(t, rows.Scan(&r))
		recordRanks = append(recordRanks, r)
	}
	require.NoError(t, rows.Err())
	require.NoError(t, rows.Close())
	require.Equal(t, []string{nvd.Ranks().Name, cisa.Ranks().Name, vendor.Ranks().Name, attack.Ranks().Name}, recordRanks,
		"each record's name rank is the one graph gives it now")

	// Down takes off the "~" an older intel does not give, and up again
	// gives the same.
	_, err = p.DownTo(ctx, 44)
	require.NoError(t, err)
	down := names()
	require.Equal(t, "Log4Shell", down["CVE-2021-44228"][0])
	require.Equal(t, after["T1539"], down["T1539"])
	_, err = p.UpTo(ctx, 46)
	require.NoError(t, err)
	require.Equal(t, after, names())
}
