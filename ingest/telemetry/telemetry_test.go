package telemetry_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/telemetry"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestLoad(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	store := store.NewStore(pool, store.WithBatchSize(100))
	now := time.Now().UTC().Truncate(time.Second)
	sha := strings.Repeat("ab", 32)
	var in strings.Builder
	for i := 0; i < 50; i++ {
		fmt.Fprintf(&in, `{"src":{"kind":"process","key":"host-%d:4242","name":"powershell.exe"},"relation":"wrote","dst":{"kind":"file","name":"invoice.exe","hashes":{"SHA-256":"%s"}},"agent_id":"host-%d","observed_at":"%s","props":{"pid":4242}}`+"\n",
			i%5, sha, i%5, now.Add(-time.Duration(i)*time.Minute).Format(time.RFC3339))
	}
	in.WriteString(`{"src":"ipv4-addr:10.0.0.5","relation":"connected-to","dst":"domain-name:evil.example","agent_id":"host-1","observed_at":"` + now.Format(time.RFC3339) + `"}` + "\n")
	in.WriteString("\n")                                                                                                                      // blank: ignored
	in.WriteString(`{"src":"ipv4-addr:10.0.0.5","relation":"x","dst":"nonsense","agent_id":"a","observed_at":"2026-01-01T00:00:00Z"}` + "\n") // bad dst
	in.WriteString(`{"src":"ipv4-addr:10.0.0.5","relation":"x","dst":"url:http://a","observed_at":"2026-01-01T00:00:00Z"}` + "\n")            // no agent
	in.WriteString(`{"src":"ipv4-addr:10.0.0.5","relation":"x","dst":"url:http://a","agent_id":"a","observed_at":"yesterday"}` + "\n")        // bad time
	in.WriteString(`{"src": broken json` + "\n")
	in.WriteString(`{"src":"ipv4-addr:10.0.0.6","relation":"beaconed","dst":"url:http://c2.example/x","agent_id":"host-2","observed_at":"` + now.Format(time.RFC3339) + `"}`) // no final newline

	rep, err := telemetry.Load(ctx, strings.NewReader(in.String()), store, telemetry.Options{Feed: "edr"})
	require.NoError(t, err)
	require.EqualValues(t, 52, rep.Telemetry.Edges)
	require.EqualValues(t, 4, sumDropped(rep.Dropped), "%v", rep.Dropped)
	require.EqualValues(t, 1, rep.Dropped["bad observed_at (want RFC 3339 with a zone)"])
	require.EqualValues(t, 1, rep.Dropped["missing agent_id"])
	require.EqualValues(t, 1, rep.Extra.RelationsInserted, "the file is linked to its hash once")

	// The file seen on the endpoint meets the hash node that feeds use.
	file, _, _ := graph.FileNode(map[string]string{"SHA-256": sha}, "invoice.exe")
	nb, err := store.FindRelated(ctx, file.ID, graph.RelatedOptions{Depth: 1})
	require.NoError(t, err)
	_, ok := nb.Node(graph.HashNode("sha256", sha).ID)
	require.True(t, ok, "file -has-hash-> hash")
	require.Len(t, nb.Nodes, 7, "the file, its hash and the five processes that wrote it")

	var rows int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM telemetry_edges").Scan(&rows))
	require.Equal(t, 52, rows)
}

func TestLoadLineTooLong(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	store := store.NewStore(pool)
	long := `{"src":"ipv4-addr:10.0.0.5","relation":"x","dst":"url:http://a/` + strings.Repeat("a", 5000) + `","agent_id":"a","observed_at":"2026-01-01T00:00:00Z"}`
	ok := `{"src":"ipv4-addr:10.0.0.5","relation":"x","dst":"url:http://b","agent_id":"a","observed_at":"` + time.Now().UTC().Format(time.RFC3339) + `"}`
	rep, err := telemetry.Load(context.Background(), strings.NewReader(long+"\n"+ok+"\n"), store, telemetry.Options{MaxLineBytes: 1024})
	require.NoError(t, err)
	require.EqualValues(t, 1, rep.Dropped["line too long"])
	require.EqualValues(t, 1, rep.Telemetry.Edges)
}

func sumDropped(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}
