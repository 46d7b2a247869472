package ingest_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest"
	"github.com/ransomeye/intel/internal/corpus"
)

// TestCorpusEntityResolution loads ATT&CK for ICS, two ESET MISP events and
// the MISP threat-actor galaxy from the shared corpus, plus a STIX bundle
// and a MISP event naming one domain in two spellings, and checks the
// identity rules on them (README "Identity"):
//   - malware:S0606 is the live Bad Rabbit; its deprecated ICS copy S1001
//     is another node, marked deprecated; the name resolves to the live one;
//   - the threat-actor galaxy's APT28 (synonym and ref G0007) is the node
//     of ATT&CK's G0007, with Sofacy as a lookup alias; its Sandworm (ref
//     G0034) is ICS's intrusion set Sandworm Team;
//   - ESET's Lazarus Group cluster names G0032 and G0082: ambiguous,
//     recorded, merged with neither;
//   - Server-1.OstDownload.xyz. (STIX) and server-1.ostdownload.xyz (MISP)
//     are one node; a MISP URL with a space loads.
func TestCorpusEntityResolution(t *testing.T) {
	t.Parallel()
	dir := corpus.Dir(t)
	tmp := t.TempDir()
	stixFile := filepath.Join(tmp, "domains.json")
	require.NoError(t, os.WriteFile(stixFile, []byte(`{"type":"bundle","id":"bundle--00000000-0000-4000-8000-000000000000","objects":[
	  {"type":"domain-name","spec_version":"2.1","id":"domain-name--00000000-0000-4000-8000-0000000000c1","value":"Server-1.OstDownload.xyz."}]}`), 0o644))
	mispFile := filepath.Join(tmp, "event.json")
	require.NoError(t, os.WriteFile(mispFile, []byte(`{"Event": {"uuid": "00000000-0000-4000-8000-0000000000e1", "info": "x", "date": "2024-01-01", "timestamp": "1700000000",
	  "Attribute": [
	    {"uuid": "00000000-0000-4000-8000-0000000000e2", "type": "domain", "category": "Network activity", "value": "server-1.ostdownload.xyz", "timestamp": "1700000000"},
	    {"uuid": "00000000-0000-4000-8000-0000000000e3", "type": "url", "category": "Network activity", "value": "http://185.225.17.220/Update Check/x.php", "timestamp": "1700000000"}]}}`), 0o644))
	feeds := []ingest.Feed{
		{Name: "ics", Path: filepath.Join(dir, "stix", "mitre-attack", "ics-attack-18.1.json")},
		{Name: "eset-lazarus", Path: filepath.Join(dir, "misp", "eset", "nukesped_lazarus_lazarus_3cx.json")},
		{Name: "eset-sednit", Path: filepath.Join(dir, "misp", "eset", "sednit_2018-11-20_Zebrocy.json")},
		// Format given: detection takes a cluster file for STIX.
		{Name: "galaxy-threat-actor", Path: filepath.Join(dir, "misp", "galaxy", "clusters", "threat-actor.json"), Format: ingest.FormatMISP},
		{Name: "stix-domains", Path: stixFile},
		{Name: "misp-event", Path: mispFile},
	}
	ctx := context.Background()
	st, pool := newStore(t)
	res, err := ingest.Run(ctx, st, feeds, ingest.Options{Concurrency: 2, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	for _, r := range res {
		require.Equal(t, ingest.StatusOK, r.Status, "%s: %s", r.Feed.Name, r.Error)
	}

	live, err := st.ResolveNode(ctx, "malware:S0606")
	require.NoError(t, err)
	require.Equal(t, "Bad Rabbit", live.Name)
	require.Nil(t, live.Props[graph.PropLifecycle], "the live Bad Rabbit")
	dep, err := st.ResolveNode(ctx, "malware:S1001")
	require.NoError(t, err)
	require.NotEqual(t, live.ID, dep.ID)
	require.Equal(t, graph.LifecycleDeprecated, dep.Props[graph.PropLifecycle])
	byName, err := st.ResolveNode(ctx, "malware:bad rabbit")
	require.NoError(t, err)
	require.Equal(t, live.ID, byName.ID, "a name lookup lands on the live object")
	byID, err := st.ResolveNode(ctx, "mitre-attack:S1001")
	require.NoError(t, err)
	require.Equal(t, dep.ID, byID.ID)

	apt28, err := st.ResolveNode(ctx, "intrusion-set:sofacy")
	require.NoError(t, err)
	require.Equal(t, graph.NamedNode(graph.KindIntrusionSet, "APT28", "G0007").ID, apt28.ID)
	require.Equal(t, "G0007", apt28.Key)

	// The galaxy's "Sandworm" (ref G0034) and ATT&CK's intrusion set
	// "Sandworm Team" (G0034): one actor entity, an intrusion set, named by
	// ATT&CK (whose record has times), found by any of their names.
	sandworm, err := st.ResolveNode(ctx, "intrusion-set:G0034")
	require.NoError(t, err)
	require.Equal(t, graph.KindIntrusionSet, sandworm.Kind)
	require.Equal(t, "Sandworm Team", sandworm.Name)
	require.Subset(t, sandworm.Sources, []string{"ics", "galaxy-threat-actor"})
	for _, name := range []string{"intrusion-set:sandworm", "intrusion-set:electrum", "mitre-attack:G0034"} {
		n, err := st.ResolveNode(ctx, name)
		require.NoError(t, err, name)
		require.Equal(t, sandworm.ID, n.ID, name)
	}

	lazarus, err := st.GetNode(ctx, graph.NamedNode(graph.KindThreatActor, "Lazarus Group").ID)
	require.NoError(t, err)
	require.Equal(t, []any{"G0032", "G0082"}, lazarus.Props["ambiguous_attack_ids"])
	g0032, err := st.ResolveNode(ctx, "intrusion-set:G0032")
	require.NoError(t, err)
	require.NotEqual(t, g0032.ID, lazarus.ID)

	var domains int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM nodes WHERE kind = 'domain-name' AND lower(key) LIKE 'server-1.ostdownload.xyz%'`).Scan(&domains))
	require.Equal(t, 1, domains)
	d, err := st.ResolveNode(ctx, "domain-name--00000000-0000-4000-8000-0000000000c1")
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"stix-domains", "misp-event"}, d.Sources)
	u, err := st.ResolveNode(ctx, "misp--00000000-0000-4000-8000-0000000000e3")
	require.NoError(t, err)
	require.Equal(t, "http://185.225.17.220/Update Check/x.php", u.Key)
}
