package misp

import (
	"bytes"
	"context"
	stdjson "encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/engine"
	"github.com/ransomeye/intel/internal/corpus"
)

// sharedCorpus returns the shared corpus (../shared/corpus next to the
// repository); see package corpus for what happens when it is absent.
func sharedCorpus(t testing.TB) string {
	t.Helper()
	return corpus.Dir(t)
}

// captureSink keeps every node and relation written, in order, and counts
// like a DrySink.
type captureSink struct {
	dry       engine.DrySink
	mu        sync.Mutex
	nodes     []graph.Node
	relations []graph.Relation
}

func (c *captureSink) Write(ctx context.Context, b graph.Batch) (graph.WriteStats, error) {
	ws, err := c.dry.Write(ctx, b)
	if err != nil {
		return ws, err
	}
	c.mu.Lock()
	c.nodes = append(c.nodes, b.Nodes...)
	c.relations = append(c.relations, b.Relations...)
	c.mu.Unlock()
	return ws, nil
}

// byAlias returns the node written with the alias, merged over every write
// of it.
func (c *captureSink) byAlias(alias string) (graph.Node, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []graph.Node
	for _, n := range c.nodes {
		for _, a := range n.Aliases {
			if a == alias {
				out = append(out, n)
			}
		}
	}
	if len(out) == 0 {
		return graph.Node{}, false
	}
	m := graph.MergeNodes(out)
	return m[0], true
}

// byID returns every write of the node with the id, merged.
func (c *captureSink) byID(ref graph.Ref) (graph.Node, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []graph.Node
	for _, n := range c.nodes {
		if n.Ref() == ref {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return graph.Node{}, false
	}
	return graph.MergeNodes(out)[0], true
}

// quiet are options for tests: a logger that writes nowhere unless buf is
// given, two workers and small batches so batching and concurrency are
// exercised.
func quiet(buf *bytes.Buffer) Options {
	h := slog.DiscardHandler
	if buf != nil {
		h = &lockedHandler{Handler: slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}), mu: &sync.Mutex{}}
	}
	return Options{Options: engine.Options{Logger: slog.New(h), Workers: 2, BatchSize: 64}}
}

// lockedHandler serializes writes to a shared buffer.
type lockedHandler struct {
	slog.Handler
	mu *sync.Mutex
}

func (h *lockedHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &lockedHandler{Handler: h.Handler.WithAttrs(attrs), mu: h.mu}
}

func (h *lockedHandler) WithGroup(name string) slog.Handler {
	return &lockedHandler{Handler: h.Handler.WithGroup(name), mu: h.mu}
}

func (h *lockedHandler) Handle(ctx context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.Handler.Handle(ctx, r)
}

// loadFile loads a file with opts into a capture sink.
func loadFile(t *testing.T, path string, opts Options) (*engine.Report, *captureSink, *Tally, error) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close() //nolint:errcheck // read-only
	sink := &captureSink{}
	tally := &Tally{}
	opts.Tally = tally
	if opts.Feed == "" {
		opts.Feed = filepath.Base(path)
	}
	rep, err := LoadFile(context.Background(), f, sink, opts)
	return rep, sink, tally, err
}

// requireBalanced checks that every record read was mapped or dropped.
func requireBalanced(t *testing.T, rep *engine.Report) {
	t.Helper()
	require.Equal(t, rep.RecordsRead, rep.RecordsMapped+rep.DroppedTotal(),
		"records read = mapped + dropped (dropped %v)", rep.Dropped)
}

func jsonUnmarshal(b []byte, v any) error { return stdjson.Unmarshal(b, v) }
