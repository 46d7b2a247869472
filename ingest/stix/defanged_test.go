package stix

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// TestDefangedObservables: an observable whose object says its value is
// defanged ("defanged": true; testdata/adv/defanged.json) is the node of
// the refanged value, the one a MISP attribute, a pattern or telemetry
// names, not a node keyed "198.51.100[.]77"; its props keep the value as
// written.
func TestDefangedObservables(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "testdata", "adv", "defanged.json"))
	require.NoError(t, err)
	pool := pgtest.Pool(t)
	st := store.NewStore(pool, store.WithLogger(quietLogger))
	rep, err := Load(ctx, strings.NewReader(string(data)), st, Options{Feed: "defanged", Logger: quietLogger})
	require.NoError(t, err)
	require.Empty(t, rep.Dropped)

	rows, err := pool.Query(ctx, `SELECT kind || ':' || key FROM nodes ORDER BY 1`)
	require.NoError(t, err)
	keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, []string{
		"domain-name:defanged-sco.example", "email-addr:bad@defanged-sco.example",
		"ipv4-addr:198.51.100.77", "url:http://defanged-sco.example/x",
	}, keys)
	n, err := st.ResolveNode(ctx, "ipv4-addr:198.51.100.77")
	require.NoError(t, err)
	require.Equal(t, "198.51.100[.]77", n.Props["value"], "props keep the value as written")
}

// TestDefangedValuesWithoutTheFlag: vendor feeds write observables and
// patterns defanged without saying so ("defanged" absent): a domain-name
// "evil[.]example", a url "hxxp://…", an ipv4-addr "198.51.100[.]78", an
// email-addr "bad[at]…", a pattern comparing "hxxps://evil[.]example/p".
// Before, each was a node keyed as written (with a warning for the
// domain, address and e-mail address), which no feed naming the real
// value met; now each is the node of the value refanged (graph.Refang, the
// rule MISP values follow), its props keeping the value as written. A
// value without markers is left as it is.
func TestDefangedValuesWithoutTheFlag(t *testing.T) {
	t.Parallel()
	sink, rep, logs := load(t, bundle(
		`{"type":"domain-name","spec_version":"2.1","id":"domain-name--b9000000-0000-4000-8000-000000000001","value":"evil[.]example"}`,
		`{"type":"url","spec_version":"2.1","id":"url--b9000000-0000-4000-8000-000000000002","value":"hxxp://evil[.]example/x"}`,
		`{"type":"ipv4-addr","spec_version":"2.1","id":"ipv4-addr--b9000000-0000-4000-8000-000000000003","value":"198.51.100[.]78"}`,
		`{"type":"email-addr","spec_version":"2.1","id":"email-addr--b9000000-0000-4000-8000-000000000004","value":"bad[at]evil(.)example"}`,
		`{"type":"url","spec_version":"2.1","id":"url--b9000000-0000-4000-8000-000000000005","value":"http://plain.example/a(.)b"}`,
		`{"type":"indicator","spec_version":"2.1","id":"`+idIndicator+`","created":"2024-01-01T00:00:00Z","modified":"2024-01-01T00:00:00Z","pattern":"[url:value = 'hxxps://evil[.]example/p'] OR [ipv6-addr:value = '2001:db8::7']","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z"}`,
	))
	require.Empty(t, rep.Dropped)
	for _, l := range logs {
		require.NotEqual(t, slog.LevelWarn, l.level, "no warning: %s %v", l.msg, l.attrs)
	}
	byAlias := sink.byAlias()
	for id, want := range map[string]graph.Node{
		"domain-name--b9000000-0000-4000-8000-000000000001": graph.ValueNode(graph.KindDomainName, "evil.example"),
		"url--b9000000-0000-4000-8000-000000000002":         graph.ValueNode(graph.KindURL, "http://evil.example/x"),
		"ipv4-addr--b9000000-0000-4000-8000-000000000003":   graph.ValueNode(graph.KindIPv4Addr, "198.51.100.78"),
		"email-addr--b9000000-0000-4000-8000-000000000004":  graph.ValueNode(graph.KindEmailAddr, "bad@evil.example"),
		"url--b9000000-0000-4000-8000-000000000005":         graph.ValueNode(graph.KindURL, "http://plain.example/a(.)b"),
	} {
		n, ok := byAlias[id]
		require.True(t, ok, id)
		require.Equal(t, want.ID, n.ID, "%s: keyed %q", id, n.Key)
	}
	require.Equal(t, "evil[.]example", byAlias["domain-name--b9000000-0000-4000-8000-000000000001"].Props["value"], "props keep the value as written")
	ind := byAlias[idIndicator]
	based := relationsOf(sink, ind, graph.RelBasedOn)
	require.ElementsMatch(t, []string{
		string(graph.ValueNode(graph.KindURL, "https://evil.example/p").Ref()),
		string(graph.ValueNode(graph.KindIPv6Addr, "2001:db8::7").Ref()),
	}, based)
	require.Equal(t, "[url:value = 'hxxps://evil[.]example/p'] OR [ipv6-addr:value = '2001:db8::7']", ind.Props["pattern"], "the pattern as written")
}
