package store_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/stix"
	"github.com/ransomeye/intel/partman"
	"github.com/ransomeye/intel/store"
	"github.com/ransomeye/intel/tuning"
)

// Example is the README's "Use it from a service", word for word: a pool
// sized for the machine, a Store with the tuned batch size and day
// partitions made on demand, partition upkeep on startup, a write, a walk
// and a STIX feed. It needs a database, so it is compiled but not run.
func Example() {
	ctx := context.Background()
	dsn := os.Getenv("DATABASE_URL")
	feed := must(os.Open("vendor-x.json"))
	defer feed.Close() //nolint:errcheck // read-only

	plan, _ := tuning.LocalPlan() // this machine's, or the smallest machine's if it cannot be measured
	pool := must(pgxpool.NewWithConfig(ctx, must(tuning.ConfigurePool(ctx, dsn))))
	defer pool.Close()
	st := store.NewStore(pool,
		store.WithBatchSize(plan.BatchSize), store.WithWriters(plan.Writers),
		store.WithDayEnsurer(partman.NewDayEnsurer(pool, partman.Options{})))
	must(partman.Ensure(ctx, pool, partman.Options{})) // on startup

	file, hashes, rels := graph.FileNode(map[string]string{"SHA-256": "9f86d081884c7d65..."}, "invoice.exe")
	stats := must(st.Write(ctx, graph.Batch{Nodes: append(hashes, file), Relations: rels}))
	nb := must(st.FindRelated(ctx, file.ID, graph.RelatedOptions{Depth: 4}))
	report := must(stix.Load(ctx, feed, st, stix.Options{Feed: "vendor-x", Workers: plan.ParserWorkers, BatchSize: plan.BatchSize}))
	fmt.Println(stats.NodesInserted, len(nb.Nodes), report.RecordsRead)
}

// ExampleStore_NewTelemetryWriter is a service whose many callers (agents'
// collectors) each append a small batch through one shared writer: a nil
// error means the caller's edges are durable, an error that the edges it
// names are not stored (a caller whose context ends while they are being
// written hears how that write ended). Close writes what was accepted;
// with a deadline it cancels the writes still running. It needs a
// database, so it is compiled but not run.
func ExampleStore_NewTelemetryWriter() {
	ctx := context.Background()
	plan, _ := tuning.LocalPlan()
	pool := must(pgxpool.NewWithConfig(ctx, must(tuning.ConfigurePool(ctx, os.Getenv("DATABASE_URL")))))
	defer pool.Close()
	st := store.NewStore(pool, store.WithWriters(plan.Writers),
		store.WithDayEnsurer(partman.NewDayEnsurer(pool, partman.Options{})))
	w := st.NewTelemetryWriter(store.TelemetryWriterOptions{Streams: plan.TelemetryStreams})
	defer func() {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := w.Close(cctx); err != nil {
			log.Print(err)
		}
	}()

	// One caller's batch, on its request's context.
	proc := graph.Node{ID: uuid.NewSHA1(uuid.NameSpaceOID, []byte("host-1:pid:4242")), Kind: graph.KindProcess, Key: "host-1:pid:4242"}
	edges := []graph.TelemetryEdge{{Src: proc, Relation: "resolved", Dst: graph.ValueNode(graph.KindDomainName, "evil.example"),
		AgentID: "host-1", ObservedAt: time.Now().UTC()}}
	stats, err := w.Append(ctx, edges)
	if err != nil {
		log.Print(err) // not stored: the caller may send them again
		return
	}
	fmt.Println(stats.Edges, stats.Dropped)
}

// must stops the example at the first error.
func must[T any](v T, err error) T {
	if err != nil {
		log.Fatal(err)
	}
	return v
}

// TestReadmeShowsExample holds the README's "Use it from a service"
// snippet and Example together: the snippet is Example's body.
func TestReadmeShowsExample(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(readme), "### Use it from a service\n")
	require.True(t, ok, "README has the section")
	_, snippet, ok := strings.Cut(section, "```go\n")
	require.True(t, ok, "the section has a Go snippet")
	snippet, _, _ = strings.Cut(snippet, "```\n")

	src, err := os.ReadFile("example_test.go")
	require.NoError(t, err)
	_, body, _ := strings.Cut(string(src), "\nfunc Example() {\n")
	body, _, _ = strings.Cut(body, "\n}\n")
	var lines []string
	for _, l := range strings.Split(body, "\n") {
		lines = append(lines, strings.TrimPrefix(l, "\t"))
	}
	require.Equal(t, strings.Join(lines, "\n")+"\n", snippet)
}
