package store

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"golang.org/x/sync/errgroup"

	"github.com/ransomeye/intel/graph"
)

// TelemetryStats counts what AppendTelemetry did.
type TelemetryStats struct {
	// Edges is the number of edges written.
	Edges int64 `json:"edges"`
	// OutOfWindow counts edges written outside the telemetry window: they
	// land in the default partition and `intel partitions check` reports them.
	OutOfWindow int64 `json:"out_of_window"`
	// Dropped counts invalid edges by reason; each is logged at WARN.
	Dropped map[string]int64 `json:"dropped,omitempty"`
	// PartitionsCreated counts the day partitions made on demand.
	PartitionsCreated int `json:"partitions_created"`
	// Nodes is what upserting the endpoint nodes did.
	Nodes    graph.WriteStats `json:"nodes"`
	Duration time.Duration    `json:"duration_ns"`
}

// EdgesPerSecond is the write rate.
func (t TelemetryStats) EdgesPerSecond() float64 {
	if t.Duration <= 0 {
		return 0
	}
	return float64(t.Edges) / t.Duration.Seconds()
}

// SliceEdges adapts a slice to the sequence AppendTelemetry reads.
func SliceEdges(edges []graph.TelemetryEdge) iter.Seq2[graph.TelemetryEdge, error] {
	return func(yield func(graph.TelemetryEdge, error) bool) {
		for _, e := range edges {
			if !yield(e, nil) {
				return
			}
		}
	}
}

// AppendTelemetry streams telemetry edges into telemetry_edges. It reads the
// sequence in chunks of the copy-chunk size, so memory stays bounded however
// long the stream. For each chunk it makes the day partitions the chunk needs
// inside the telemetry window (through the Store's DayEnsurer, before writing, so rows never
// wait in the default partition), hands the chunk's new endpoint nodes to a
// node writer (each node once per Store: see endpointCache) and COPYs the
// edges (pgx.CopyFrom with a row source). The node writer upserts on a
// connection of its own while later chunks are COPYed, and AppendTelemetry
// returns when both are done, so every endpoint node exists when it returns.
// Invalid edges are logged at WARN, counted in Dropped and skipped; an error
// from the sequence stops the append after the edges before it are written,
// and an error writing nodes or edges stops both.
func (s *Store) AppendTelemetry(ctx context.Context, edges iter.Seq2[graph.TelemetryEdge, error]) (TelemetryStats, error) {
	start := time.Now()
	stats := TelemetryStats{Dropped: map[string]int64{}}
	g, gctx := errgroup.WithContext(ctx)
	nw := s.startNodeWriter(gctx, g)
	chunk := make([]graph.TelemetryEdge, 0, s.copyChunk)
	var index int64
	flush := func() error {
		if len(chunk) == 0 {
			return nil
		}
		err := s.appendChunk(gctx, chunk, nw, &stats)
		chunk = chunk[:0]
		return err
	}
	var srcErr, err error
	for e, eerr := range edges {
		if eerr != nil {
			srcErr = eerr
			break
		}
		index++
		if reason := e.InvalidReason(); reason != "" {
			stats.Dropped[reason]++
			s.log.WarnContext(ctx, "dropping telemetry edge", "index", index, "agent_id", e.AgentID, "reason", reason)
			continue
		}
		chunk = append(chunk, e)
		if len(chunk) == s.copyChunk {
			if err = flush(); err != nil {
				break
			}
		}
	}
	if err == nil {
		err = flush()
	}
	close(nw.queue)
	// A node writer's error cancels the COPY, whose error then only says
	// so: report the writer's, and both when the COPY failed on its own.
	if werr := g.Wait(); werr != nil {
		if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, werr) {
			err = werr
		} else {
			err = errors.Join(werr, err)
		}
	}
	for rest := range nw.queue { // not written: upsert them next time
		s.endpoints.forget(rest)
	}
	stats.Nodes = nw.stats
	stats.Duration = time.Since(start)
	if err != nil {
		return stats, err
	}
	if srcErr != nil {
		return stats, fmt.Errorf("read telemetry edge %d: %w", index+1, srcErr)
	}
	return stats, nil
}

// nodeWriter upserts the endpoint nodes of AppendTelemetry's chunks on a
// connection of its own while the edges are COPYed on others, so a stream
// whose first chunk names thousands of new endpoints does not hold up the
// COPY of the chunks after it. The queue is short, which bounds memory: the
// COPY waits when the node writer is two chunks behind.
type nodeWriter struct {
	queue chan []graph.Node
	stats graph.WriteStats // read after the errgroup's Wait
}

func (s *Store) startNodeWriter(ctx context.Context, g *errgroup.Group) *nodeWriter {
	nw := &nodeWriter{queue: make(chan []graph.Node, 2)}
	g.Go(func() error {
		for nodes := range nw.queue {
			ws, err := s.Write(ctx, graph.Batch{Nodes: nodes})
			nw.stats.Add(ws)
			if err != nil {
				// Returning cancels the group's context, which stops the
				// COPY and the sender; AppendTelemetry forgets what is
				// left in the queue.
				s.endpoints.forget(nodes)
				return fmt.Errorf("upsert telemetry endpoint nodes: %w", err)
			}
		}
		return nil
	})
	return nw
}

// enqueue hands nodes to the writer, or returns the context's error when
// the append is being stopped.
func (nw *nodeWriter) enqueue(ctx context.Context, nodes []graph.Node) error {
	if len(nodes) == 0 {
		return nil
	}
	select {
	case nw.queue <- nodes:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (s *Store) appendChunk(ctx context.Context, chunk []graph.TelemetryEdge, nw *nodeWriter, stats *TelemetryStats) error {
	today := graph.UTCDay(s.now())
	lo := today.AddDate(0, 0, -s.window.Back)
	hi := today.AddDate(0, 0, s.window.Ahead+1)
	var need []time.Time
	nodes := make([]graph.Node, 0, 2*len(chunk))
	for _, e := range chunk {
		day := graph.UTCDay(e.ObservedAt)
		if day.Before(lo) || !day.Before(hi) {
			stats.OutOfWindow++
		} else if !s.days.has(day) {
			need = append(need, day)
			s.days.add(day) // tentatively; removed again if ensuring fails
		}
		for _, n := range [2]graph.Node{e.Src, e.Dst} {
			if s.endpoints.fresh(n.ID) {
				nodes = append(nodes, n)
			}
		}
	}
	if len(need) > 0 {
		created, err := s.ensureDays(ctx, need)
		stats.PartitionsCreated += created
		if err != nil {
			for _, d := range need {
				s.days.remove(d)
			}
			s.endpoints.forget(nodes)
			return fmt.Errorf("make day partitions for telemetry: %w", err)
		}
	}

	if err := nw.enqueue(ctx, nodes); err != nil {
		s.endpoints.forget(nodes)
		return err
	}
	i := 0
	src := pgx.CopyFromFunc(func() ([]any, error) {
		if i == len(chunk) {
			return nil, nil
		}
		e := chunk[i]
		i++
		// pgtype.UUID encodes in binary whatever the pool's type map (a
		// bare uuid.UUID needs db/pguuid for that).
		return []any{pgtype.UUID{Bytes: e.Src.ID, Valid: true}, pgtype.UUID{Bytes: e.Dst.ID, Valid: true},
			e.Relation, e.AgentID, e.ObservedAt, jsonObject(e.Props)}, nil
	})
	n, err := s.pool.CopyFrom(ctx, pgx.Identifier{"telemetry_edges"},
		[]string{"src_id", "dst_id", "relation", "agent_id", "observed_at", "props"}, src)
	stats.Edges += n
	if err != nil {
		return fmt.Errorf("copy %d telemetry edges: %w", len(chunk), err)
	}
	return nil
}

// endpointCache remembers the endpoint nodes this Store has written, so a
// stream that names the same hosts, processes and files over and over
// upserts each of them once rather than once per chunk: the telemetry edges
// keep every observation, and a node's first/last seen record the
// observations that first wrote it (feeds and other writers still merge
// theirs). It is bounded: when it holds endpointCacheMax nodes it starts
// again empty, and a node dropped from it is simply upserted again.
type endpointCache struct {
	mu   sync.Mutex
	seen map[uuid.UUID]struct{}
}

const endpointCacheMax = 1_000_000

func newEndpointCache() *endpointCache { return &endpointCache{seen: map[uuid.UUID]struct{}{}} }

// fresh reports whether the node must be upserted, and remembers it.
func (c *endpointCache) fresh(id uuid.UUID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.seen[id]; ok {
		return false
	}
	if len(c.seen) >= endpointCacheMax {
		c.seen = make(map[uuid.UUID]struct{}, endpointCacheMax/4)
	}
	c.seen[id] = struct{}{}
	return true
}

// forget drops ids whose upsert failed, so the next chunk writes them.
func (c *endpointCache) forget(nodes []graph.Node) {
	c.mu.Lock()
	for _, n := range nodes {
		delete(c.seen, n.ID)
	}
	c.mu.Unlock()
}

// ensureDays makes the partitions of days through the DayEnsurer, if any.
func (s *Store) ensureDays(ctx context.Context, days []time.Time) (int, error) {
	if s.ensurer == nil {
		return 0, nil
	}
	return s.ensurer.EnsureDays(ctx, days)
}

// daySet remembers the days whose partitions exist, so AppendTelemetry asks
// the DayEnsurer only once per day per Store.
type daySet struct {
	mu   sync.Mutex
	days map[time.Time]bool
}

func newDaySet() *daySet { return &daySet{days: map[time.Time]bool{}} }

func (d *daySet) has(day time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.days[day]
}

func (d *daySet) add(day time.Time) {
	d.mu.Lock()
	d.days[day] = true
	d.mu.Unlock()
}

func (d *daySet) remove(day time.Time) {
	d.mu.Lock()
	delete(d.days, day)
	d.mu.Unlock()
}
