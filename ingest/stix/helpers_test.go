package stix

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/internal/corpus"
	"github.com/ransomeye/intel/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// corpusDir returns the STIX corpus (../shared/corpus/stix next to the
// repository); see package corpus for what happens when it is absent.
func corpusDir(t testing.TB) string {
	t.Helper()
	return corpus.Dir(t, "stix")
}

// repoRoot is the module root: two levels above this package.
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	return root
}

// corpusFiles lists the JSON files of the STIX corpus, relative to it.
func corpusFiles(t testing.TB) (string, []string) {
	t.Helper()
	dir := corpusDir(t)
	var files []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".json") {
			rel, _ := filepath.Rel(dir, p)
			files = append(files, rel)
		}
		return nil
	})
	require.NoError(t, err)
	sort.Strings(files)
	require.NotEmpty(t, files)
	return dir, files
}

// recordingSink keeps every batch it is given.
type recordingSink struct {
	mu        sync.Mutex
	nodes     []graph.Node
	relations []graph.Relation
	batches   int
}

func (s *recordingSink) Write(_ context.Context, b graph.Batch) (graph.WriteStats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range b.Nodes {
		if err := n.Validate(); err != nil {
			return graph.WriteStats{}, err
		}
	}
	for _, r := range b.Relations {
		if err := r.Validate(); err != nil {
			return graph.WriteStats{}, err
		}
	}
	s.nodes = append(s.nodes, b.Nodes...)
	s.relations = append(s.relations, b.Relations...)
	s.batches++
	return graph.WriteStats{NodesInserted: int64(len(b.Nodes)), RelationsInserted: int64(len(b.Relations))}, nil
}

// byAlias indexes the recorded nodes by alias (the last node wins).
func (s *recordingSink) byAlias() map[string]graph.Node {
	out := map[string]graph.Node{}
	for _, n := range s.nodes {
		for _, a := range n.Aliases {
			out[a] = n
		}
	}
	return out
}

// logRecord is one captured log line.
type logRecord struct {
	level slog.Level
	msg   string
	attrs map[string]any
}

// captureHandler is a slog.Handler that keeps records.
type captureHandler struct {
	mu      *sync.Mutex
	records *[]logRecord
	attrs   []slog.Attr
}

func newCapture() (*slog.Logger, func() []logRecord) {
	h := &captureHandler{mu: &sync.Mutex{}, records: &[]logRecord{}}
	return slog.New(h), func() []logRecord {
		h.mu.Lock()
		defer h.mu.Unlock()
		return append([]logRecord(nil), *h.records...)
	}
}

func (h *captureHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *captureHandler) Handle(_ context.Context, r slog.Record) error {
	rec := logRecord{level: r.Level, msg: r.Message, attrs: map[string]any{}}
	for _, a := range h.attrs {
		rec.attrs[a.Key] = a.Value.Any()
	}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value.Any()
		return true
	})
	h.mu.Lock()
	*h.records = append(*h.records, rec)
	h.mu.Unlock()
	return nil
}

func (h *captureHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &captureHandler{mu: h.mu, records: h.records, attrs: append(append([]slog.Attr(nil), h.attrs...), attrs...)}
}

func (h *captureHandler) WithGroup(string) slog.Handler { return h }

// quietLogger discards everything.
var quietLogger = slog.New(slog.DiscardHandler)

// loadExcerpt loads testdata/excerpts/<file> into st as the feed named
// feed, as loadFeed does.
func loadExcerpt(t *testing.T, st graph.Sink, feed, file string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "testdata", "excerpts", file))
	require.NoError(t, err)
	loadFeed(t, st, feed, string(data))
}

// loadFeed loads doc into st as the feed named feed, and requires that it
// loads whole (no error, nothing dropped).
func loadFeed(t *testing.T, st graph.Sink, feed, doc string) {
	t.Helper()
	rep, err := Load(context.Background(), strings.NewReader(doc), st, Options{Feed: feed, Logger: quietLogger})
	require.NoError(t, err, feed)
	require.Empty(t, rep.Dropped, feed)
}
