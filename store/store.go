package store

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/ransomeye/intel/db/gen"
	"github.com/ransomeye/intel/graph"
)

// DefaultBatchSize is the batch size when none is given (tuning.PlanFor
// gives it for small machines).
const DefaultBatchSize = 500

// DefaultCopyChunk is how many telemetry edges AppendTelemetry buffers per
// COPY transaction when WithCopyChunk is not given: about 6 MB of edges.
// Chunks of 50,000 (the default until 2026-12-04) gave the same COPY
// throughput for 1.3–1.5× the client CPU and three times the peak RSS: the
// four to eight chunks in flight did not fit the caches, made the
// collector scan about 300 MB, and faulted in a heap of 1.3 GB (`intel
// ingest telemetry` of 1M lines, docs/benchmarks.md).
const DefaultCopyChunk = 10_000

// Store reads and writes the threat graph in PostgreSQL. It is safe for
// concurrent use; concurrent writers of overlapping batches do not deadlock
// (rows are written in id order, and a transaction that still loses a
// deadlock is retried).
type Store struct {
	pool      *pgxpool.Pool
	q         *gen.Queries
	batchSize int
	copyChunk int
	writers   int
	log       *slog.Logger
	now       func() time.Time
	ensurer   DayEnsurer
	window    TelemetryWindow
	days      *daySet
	endpoints *endpointCache
	// copyAhead holds a slot for each COPY transaction that waits, with
	// its connection, for the records of its chunks (see edgeCopier): at
	// most (MaxConns-1)/2, so the records they wait for always find a
	// connection.
	copyAhead chan struct{}

	retryPolicy RetryPolicy
}

// TelemetryWindow is the range of observation days, relative to today (UTC),
// for which AppendTelemetry makes day partitions on demand. Rows outside it
// are still written — to the default partition — and counted.
type TelemetryWindow struct {
	// Back is how many days before today are accepted (default 30).
	Back int
	// Ahead is how many days after today are accepted, for clock skew (default 1).
	Ahead int
}

// Option configures a Store.
type Option func(*Store)

// WithBatchSize sets the number of rows per multi-row statement (default
// DefaultBatchSize; services pass the tuned size of their machine,
// tuning.Plan.BatchSize).
func WithBatchSize(n int) Option { return func(s *Store) { s.batchSize = n } }

// WithWriters sets how many batches UpsertNodes writes at once, each in a
// transaction of its own (default 1; services pass tuning.Plan.Writers, the
// cores but at most half the pool). It is capped at half the pool's
// connections.
func WithWriters(n int) Option { return func(s *Store) { s.writers = n } }

// WithCopyChunk sets how many telemetry edges AppendTelemetry buffers per COPY
// (default DefaultCopyChunk).
func WithCopyChunk(n int) Option { return func(s *Store) { s.copyChunk = n } }

// WithEndpointCache sets how many keys one generation of the telemetry
// endpoint cache holds (see endpointCache; default 32,768, services pass
// tuning.Plan.EndpointCacheKeys); its node ids take at least 65,536 (16
// bytes each). A stream whose working set of endpoints is larger writes
// the endpoints it meets again once per generation.
func WithEndpointCache(keys int) Option {
	return func(s *Store) {
		if keys > 0 {
			s.endpoints = newEndpointCache(keys)
		}
	}
}

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(s *Store) { s.log = l } }

// WithClock sets the clock used for default timestamps and the telemetry window.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// DayEnsurer makes the telemetry day partitions for the given UTC days
// exist and says what it did; partman.DayEnsurer is the product's. It is
// given days in the telemetry window only.
type DayEnsurer interface {
	EnsureDays(ctx context.Context, days []time.Time) (DayOutcome, error)
	// Horizon returns the first UTC day rows may be written for, read on
	// db (the Store's pool, or the COPY's transaction once it holds
	// telemetry_edges against prunes); rows of earlier days (before the
	// window too) are dropped, counted as graph.ReasonBeforeRetention. The
	// zero time means no limit.
	Horizon(ctx context.Context, db DBTX) (time.Time, error)
}

// DayOutcome is what a DayEnsurer did with the days it was given. A day in
// neither list has its partition.
type DayOutcome struct {
	// Created counts the partitions made.
	Created int
	// Default are days that have no partition and got none (the role may
	// not make one, or the day is past retention and its rows are kept):
	// their rows go to the default partition, counted in
	// TelemetryStats.InDefault.
	Default []time.Time
	// Refused are days older than the retention: their rows are dropped,
	// counted as graph.ReasonBeforeRetention.
	Refused []time.Time
}

// WithDayEnsurer sets what makes AppendTelemetry's day partitions before
// their rows are written. Without one no partition is made on demand, and
// rows of days without a partition land in the default partition (where
// `intel partitions check` reports them).
func WithDayEnsurer(e DayEnsurer) Option { return func(s *Store) { s.ensurer = e } }

// WithTelemetryWindow sets the days AppendTelemetry makes partitions for.
func WithTelemetryWindow(w TelemetryWindow) Option { return func(s *Store) { s.window = w } }

// NewStore returns a Store on pool.
func NewStore(pool *pgxpool.Pool, opts ...Option) *Store {
	s := &Store{
		pool:   pool,
		q:      gen.New(pool),
		log:    slog.Default(),
		now:    time.Now,
		window: TelemetryWindow{Back: 30, Ahead: 1},
		days:   newDaySet(),

		endpoints: newEndpointCache(endpointCacheGeneration),
	}
	for _, o := range opts {
		o(s)
	}
	if s.batchSize <= 0 {
		s.batchSize = DefaultBatchSize
	}
	if s.writers <= 0 {
		s.writers = 1
	}
	if half := int(pool.Config().MaxConns) / 2; s.writers > half {
		s.writers = max(1, half)
	}
	if s.copyChunk <= 0 {
		s.copyChunk = DefaultCopyChunk
	}
	s.copyAhead = make(chan struct{}, (pool.Config().MaxConns-1)/2)
	return s
}

// BatchSize returns the number of rows per multi-row statement.
func (s *Store) BatchSize() int { return s.batchSize }

// Pool returns the pool the store uses.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Writers returns how many transactions UpsertNodes runs at once.
func (s *Store) Writers() int { return s.writers }

// UpsertNodes writes nodes (and their aliases), merging them into existing
// ones by Write's rules. Up to BatchSize nodes are one Write: one
// transaction. More are merged with each other, sorted by id and cut into
// batches of BatchSize, and up to Writers batches are written at once, each
// in a transaction of its own; the batches hold disjoint id ranges, so they
// never wait for each other. If one fails, UpsertNodes stops and returns its
// error; batches already committed stay, and since upserts are idempotent,
// calling again with the same nodes is safe. Nodes PostgreSQL would reject
// are dropped alone and counted, as in Write. The pending relations that the
// nodes complete are released after every batch has committed, so two
// batches committing at the same moment cannot each miss the other's
// endpoint.
func (s *Store) UpsertNodes(ctx context.Context, nodes []graph.Node) (graph.WriteStats, error) {
	if len(nodes) <= s.batchSize || s.writers <= 1 {
		return s.Write(ctx, graph.Batch{Nodes: nodes})
	}
	var (
		mu      sync.Mutex
		stats   graph.WriteStats
		dropped droppedSet
	)
	nodes = s.checkBatch(ctx, graph.Batch{Nodes: nodes}, &stats, &dropped).Nodes
	nodes = graph.MergeNodes(nodes)
	nodes = keepWinningAliases(nodes)
	now := s.now().UTC()
	ws, _, err := spreadWrites(ctx, s.writers, nodes, s.batchSize,
		func(ctx context.Context, chunk []graph.Node) (graph.WriteStats, droppedSet, error) {
			var ws graph.WriteStats
			var d droppedSet
			err := s.writeIsolating(ctx, chunk, nil, false, now, &ws, &d)
			return ws, d, err
		})
	stats.Add(ws)
	if err != nil {
		return stats, err
	}
	// One statement per releaseChunk refs, Writers at once: a pending
	// relation named by refs in two chunks is released by whichever
	// statement locks it first; the other finds it gone.
	refs := releaseRefs(nodes, aliasRows(nodes))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.writers)
	for chunk := range slices.Chunk(refs, releaseChunk*s.batchSize) {
		s.goRelease(gctx, g, chunk, now, &mu, &stats)
	}
	err = g.Wait()
	return stats, err
}

// spreadWrites writes items in runs of size, up to writers runs at once,
// each through write (a transaction of its own), and sums what they wrote
// and refused. The runs must name no row in common (items sorted by key
// and cut into contiguous runs), so they neither wait for nor deadlock
// with each other. On error the runs that committed stay written.
func spreadWrites[T any](ctx context.Context, writers int, items []T, size int,
	write func(context.Context, []T) (graph.WriteStats, droppedSet, error)) (graph.WriteStats, droppedSet, error) {
	var (
		mu      sync.Mutex
		stats   graph.WriteStats
		dropped droppedSet
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(writers, 1))
	for run := range slices.Chunk(items, max(size, 1)) {
		g.Go(func() error {
			ws, d, err := write(gctx, run)
			mu.Lock()
			stats.Add(ws)
			dropped.add(d)
			mu.Unlock()
			return err
		})
	}
	err := g.Wait()
	return stats, dropped, err
}

// keepWinningAliases drops from each node the aliases that Write would
// give to another node of the same input (see aliasRows: the smallest node
// id naming a source id wins), so that batches written side by side never
// write the same alias, and the winner is the same as in one Write.
func keepWinningAliases(nodes []graph.Node) []graph.Node {
	winner := map[string]uuid.UUID{}
	for _, a := range aliasRows(nodes) {
		winner[a.sourceID] = a.nodeID
	}
	for i := range nodes {
		var keep []string
		for _, a := range nodes[i].Aliases {
			if a != "" && winner[a] == nodes[i].ID && !slices.Contains(keep, a) {
				keep = append(keep, a)
			}
		}
		nodes[i].Aliases = keep
	}
	return nodes
}

// release releases, in a transaction of its own, the pending relations
// that mention refs and whose endpoints both resolve.
func (s *Store) release(ctx context.Context, refs []string, now time.Time) (graph.WriteStats, error) {
	var ws graph.WriteStats
	err := s.withRetry(ctx, func(tx pgx.Tx) error {
		ws = graph.WriteStats{}
		q := s.q.WithTx(tx)
		if err := s.upsertRelations(ctx, q, nil, nil, refs, now, &ws); err != nil {
			return err
		}
		return refreshIdentity(ctx, q, identityChange{revoked: revokedMayChange(nil, nil, ws)}, &ws)
	})
	if err != nil {
		return graph.WriteStats{}, fmt.Errorf("release pending relations: %w", err)
	}
	return ws, nil
}

// goRelease releases, on g, the pending relations that mention refs (see
// release) and adds what it did to stats under mu.
func (s *Store) goRelease(ctx context.Context, g *errgroup.Group, refs []string, now time.Time, mu *sync.Mutex, stats *graph.WriteStats) {
	g.Go(func() error {
		ws, err := s.release(ctx, refs, now)
		if err != nil {
			return err
		}
		mu.Lock()
		stats.Add(ws)
		mu.Unlock()
		return nil
	})
}

// releaseChunk is how many batches' worth of refs UpsertNodes releases
// pending relations for in one statement: each ref is one index probe, so
// the statement stays short while the round trips drop.
const releaseChunk = 4

// ReleasePending sweeps pending_relations page by page (BatchSize rows) and
// releases into relations every pending relationship whose endpoints both
// resolve now; then it re-keys the relation records whose source ids moved
// to another node while they were written (see rekey). Writes release what
// they complete as they go; what they can miss is a relationship parked by
// one transaction while another, not yet committed, was writing its missing
// endpoint (neither sees the other's rows), or a relationship resolved
// through a source id that another transaction was moving to a smaller node
// id. A loader that writes from several transactions at once, like the
// feed manager, calls ReleasePending when they are all done. Up to Writers
// pages are released at once, each in a transaction of its own, while the
// next page is read (as UpsertNodes releases: a pending relation named by
// refs of two pages is released by whichever statement locks it first, and
// a release parks nothing, so the pages read later are unchanged but for
// the rows already released). It returns the counts of the relationships
// released.
func (s *Store) ReleasePending(ctx context.Context) (graph.WriteStats, error) {
	var (
		mu    sync.Mutex
		stats graph.WriteStats
	)
	after := gen.PendingRelationPageParams{MaxRows: int32(s.batchSize)}
	now := s.now().UTC()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.writers)
	for {
		var page []gen.PendingRelationPageRow
		err := s.retry(gctx, "list pending relations", func(ctx context.Context) error {
			var err error
			page, err = s.q.PendingRelationPage(ctx, after)
			return err
		})
		if err != nil {
			if werr := g.Wait(); werr != nil { // a failed release ended gctx
				return stats, werr
			}
			return stats, fmt.Errorf("list pending relations: %w", err)
		}
		if len(page) == 0 {
			break
		}
		// The page's source refs name every row of it, and (pages being
		// cut in key order) few rows of the pages released beside it: a
		// row named by the refs of two releases running at once is locked
		// by one and waited for by the other. With both ends' refs, every
		// hub a page points at (an identity, a tactic) named the rows of
		// the other pages too, and the releases ran one after the other.
		refs := make([]string, 0, len(page)) // repeats are harmless: refs feed = ANY(...)
		for _, p := range page {
			refs = append(refs, p.SrcRef)
		}
		s.goRelease(gctx, g, refs, now, &mu, &stats)
		last := page[len(page)-1]
		after.AfterSrcRef, after.AfterRelation, after.AfterDstRef = last.SrcRef, last.Relation, last.DstRef
		if len(page) < int(after.MaxRows) {
			break
		}
	}
	if err := g.Wait(); err != nil {
		return stats, err
	}
	return stats, s.rekeyAll(ctx, &stats)
}

// rekeyAll re-keys every relation record whose source ids moved to other
// nodes while it was being written (by a transaction that did not see the
// move yet), links the pending relationships that name a relationship id
// now known (expandRelationRefs) and refreshes the identity tables
// whole (refreshIdentityWhole), in one transaction.
func (s *Store) rekeyAll(ctx context.Context, stats *graph.WriteStats) error {
	var ws graph.WriteStats
	err := s.withRetry(ctx, func(tx pgx.Tx) error {
		ws = graph.WriteStats{}
		q := s.q.WithTx(tx)
		if err := rekey(ctx, q, nil, true); err != nil {
			return err
		}
		if err := s.expandRelationRefs(ctx, q, nil, true, &ws); err != nil {
			return err
		}
		return refreshIdentityWhole(ctx, q, &ws)
	})
	stats.Add(ws)
	return err
}

// AddRelations writes relations; those whose endpoints are not known yet
// are kept pending. See Write.
func (s *Store) AddRelations(ctx context.Context, rels []graph.Relation) (graph.WriteStats, error) {
	return s.Write(ctx, graph.Batch{Relations: rels})
}

// AddSightings writes sightings as sighting nodes and their relations.
func (s *Store) AddSightings(ctx context.Context, sightings []graph.Sighting) (graph.WriteStats, error) {
	var b graph.Batch
	for _, sg := range sightings {
		b.AddSighting(sg)
	}
	return s.Write(ctx, b)
}

// Write stores a batch in one transaction: its nodes are merged first
// (duplicates inside the batch are combined, then rows are upserted in id
// order, BatchSize rows per statement), then their aliases, then the
// relations. A relation whose endpoints do not resolve yet is kept pending;
// pending relations that the batch's nodes complete are released into
// relations in the same statement.
//
// Merging is graph.MergeNode and graph.MergeRelation, in Go for the batch
// and in SQL for the stored rows: the earliest first-seen, the latest
// last-seen, the union of sources and labels, the highest confidence and the
// strictest TLP; the name and each props key from the highest-ranked record
// that has them (graph.RecordRank: confidence, then the record's own
// last-seen, then content), so a lower-confidence source never overwrites a
// higher one's and the result does not depend on load order. A node or
// relation without times gets the load time when inserted, leaves the
// stored times alone when merged, and gives way to the first record with
// times. A source id belongs to the smallest node id naming it; when a
// batch moves one, the relations resolved through it are re-keyed in the
// same transaction. Writing the same batch twice changes nothing the second
// time, whenever it is written.
//
// A record PostgreSQL would reject (CheckNode, CheckRelation) is not
// written: it is logged at WARN and counted in WriteStats.Dropped by
// reason, and the rest of the batch is written. A batch the server still
// refuses with a data error is split until the refused records are alone
// (see writeIsolating). Transient failures are retried (see Transient and
// RetryPolicy).
func (s *Store) Write(ctx context.Context, b graph.Batch) (graph.WriteStats, error) {
	return s.write(ctx, b, true)
}

// write is Write; release false leaves the pending relations that the
// batch's nodes complete for the caller to release.
func (s *Store) write(ctx context.Context, b graph.Batch, release bool) (graph.WriteStats, error) {
	ws, _, err := s.writeChecked(ctx, b, release)
	return ws, err
}

// droppedSet names the records a write dropped, so AppendTelemetry can drop
// the edges that needed them.
type droppedSet struct {
	nodes map[uuid.UUID]bool
	rels  map[relationKey]bool
}

func (d *droppedSet) addNode(id uuid.UUID) {
	if d.nodes == nil {
		d.nodes = map[uuid.UUID]bool{}
	}
	d.nodes[id] = true
}

func (d *droppedSet) addRel(r graph.Relation) {
	if d.rels == nil {
		d.rels = map[relationKey]bool{}
	}
	d.rels[keyOf(r)] = true
}

func (d *droppedSet) empty() bool { return len(d.nodes) == 0 && len(d.rels) == 0 }

// add adds the records of o.
func (d *droppedSet) add(o droppedSet) {
	for id := range o.nodes {
		d.addNode(id)
	}
	for k := range o.rels {
		if d.rels == nil {
			d.rels = map[relationKey]bool{}
		}
		d.rels[k] = true
	}
}

// drop counts a dropped record in ws and logs it at WARN.
func (s *Store) drop(ctx context.Context, ws *graph.WriteStats, reason graph.DropReason, err error, attrs ...any) {
	if ws.Dropped == nil {
		ws.Dropped = map[graph.DropReason]int64{}
	}
	ws.Dropped[reason]++
	args := append([]any{"reason", string(reason), "err", err}, attrs...)
	s.log.WarnContext(ctx, "record dropped", args...)
}

// checkBatch returns b without the records CheckNode or CheckRelation
// refuse, each counted in ws and named in dropped.
func (s *Store) checkBatch(ctx context.Context, b graph.Batch, ws *graph.WriteStats, dropped *droppedSet) graph.Batch {
	var bad bool
	for i := range b.Nodes {
		if r, _ := CheckNode(&b.Nodes[i]); r != "" {
			bad = true
			break
		}
	}
	for i := range b.Relations {
		if r, _ := CheckRelation(&b.Relations[i]); r != "" || bad {
			bad = true
			break
		}
	}
	if !bad {
		return b
	}
	var out graph.Batch
	for i := range b.Nodes {
		n := &b.Nodes[i]
		if reason, err := CheckNode(n); reason != "" {
			s.drop(ctx, ws, reason, err, "kind", string(n.Kind), "key", clip(n.Key))
			ws.NodesRefused++
			dropped.addNode(n.ID)
			continue
		}
		out.Nodes = append(out.Nodes, *n)
	}
	for i := range b.Relations {
		r := &b.Relations[i]
		if reason, err := CheckRelation(r); reason != "" {
			s.drop(ctx, ws, reason, err, "src", clip(string(r.Src)), "relation", clip(r.Type), "dst", clip(string(r.Dst)))
			ws.RelationsRefused++
			dropped.addRel(*r)
			continue
		}
		out.Relations = append(out.Relations, *r)
	}
	return out
}

// writeChecked is write, which also names the records it dropped: those
// CheckNode or CheckRelation refuse, and those the database refused with a
// data error (see writeIsolating).
func (s *Store) writeChecked(ctx context.Context, b graph.Batch, release bool) (graph.WriteStats, droppedSet, error) {
	var stats graph.WriteStats
	var dropped droppedSet
	b = s.checkBatch(ctx, b, &stats, &dropped)
	now := s.now().UTC()
	nodes := graph.MergeNodes(b.Nodes)
	rels := keepRelationIDs(b.Relations, graph.MergeRelations(b.Relations))
	err := s.writeIsolating(ctx, nodes, rels, release, now, &stats, &dropped)
	return stats, dropped, err
}

// writeIsolating writes merged nodes and relations in one transaction.
// When the database refuses it with a data error (DataError: a record
// validation did not catch), it splits the records in two halves and
// writes each the same way, so the records refused are found and dropped
// alone — each logged at WARN, counted under ReasonRejected and named in
// dropped — and the rest is written. Upserts are idempotent and a refused
// transaction leaves nothing, so the halves write exactly what the whole
// would have, less the refused records.
func (s *Store) writeIsolating(ctx context.Context, nodes []graph.Node, rels []graph.Relation, release bool, now time.Time,
	stats *graph.WriteStats, dropped *droppedSet) error {
	if len(nodes)+len(rels) == 0 {
		return nil
	}
	ws, err := s.writeMerged(ctx, nodes, rels, release, now)
	if err == nil {
		stats.Add(ws)
		return nil
	}
	if !DataError(err) {
		return err
	}
	switch n := len(nodes) + len(rels); {
	case n == 0:
		return err
	case n == 1 && len(nodes) == 1:
		s.drop(ctx, stats, ReasonRejected, err, "kind", string(nodes[0].Kind), "key", clip(nodes[0].Key), "sqlstate", Code(err))
		stats.NodesRefused++
		dropped.addNode(nodes[0].ID)
		return nil
	case n == 1:
		r := rels[0]
		s.drop(ctx, stats, ReasonRejected, err, "src", clip(string(r.Src)), "relation", clip(r.Type), "dst", clip(string(r.Dst)), "sqlstate", Code(err))
		stats.RelationsRefused++
		dropped.addRel(r)
		return nil
	default:
		half := n / 2
		hn := min(half, len(nodes))
		hr := half - hn
		if err := s.writeIsolating(ctx, nodes[:hn], rels[:hr], release, now, stats, dropped); err != nil {
			return err
		}
		return s.writeIsolating(ctx, nodes[hn:], rels[hr:], release, now, stats, dropped)
	}
}

// writeMerged writes merged nodes (and their aliases) and relations in one
// transaction, retried after transient failures: Write's transaction.
func (s *Store) writeMerged(ctx context.Context, nodes []graph.Node, rels []graph.Relation, release bool, now time.Time) (graph.WriteStats, error) {
	var stats graph.WriteStats
	aliases := aliasRows(nodes)
	var resolve []string
	if release {
		resolve = releaseRefs(nodes, aliases)
	}
	versions := sourceVersions(nodes, rels)
	err := s.withRetry(ctx, func(tx pgx.Tx) error {
		stats = graph.WriteStats{}
		q := s.q.WithTx(tx)
		var moved []string // source ids taken over by a smaller node id
		// In id order (MergeNodes sorts), timed or not, as every writer
		// takes the rows' locks.
		for chunk := range slices.Chunk(nodes, s.batchSize) {
			row, err := q.NodeUpsertMany(ctx, nodeParams(chunk, now))
			if err != nil {
				return fmt.Errorf("upsert %d nodes: %w", len(chunk), err)
			}
			stats.NodesInserted += row.Inserted
			stats.NodesMerged += row.Merged
			stats.NodesUnchanged += int64(len(chunk)) - row.Inserted - row.Merged
		}
		for chunk := range slices.Chunk(aliases, s.batchSize) {
			p := gen.NodeAliasUpsertManyParams{}
			for _, a := range chunk {
				p.SourceIDs = append(p.SourceIDs, a.sourceID)
				p.NodeIDs = append(p.NodeIDs, a.nodeID)
				p.Sources = append(p.Sources, a.source)
			}
			rows, err := q.NodeAliasUpsertMany(ctx, p)
			if err != nil {
				return fmt.Errorf("upsert %d aliases: %w", len(chunk), err)
			}
			stats.AliasesWritten += int64(len(rows))
			for _, r := range rows {
				if r.Moved {
					moved = append(moved, r.SourceID)
				}
			}
		}
		if len(moved) > 0 {
			if err := rekey(ctx, q, moved, false); err != nil {
				return err
			}
		}
		identity, err := s.writeClaims(ctx, q, nodes)
		if err != nil {
			return err
		}
		if err := s.writeRelationIDs(ctx, q, rels); err != nil {
			return err
		}
		raised, newest, err := raiseVersions(ctx, q, versions)
		if err != nil {
			return err
		}
		// Written with the relationships naming known relationship ids
		// expanded; the ids rels give and name still expand what waits.
		written, err := expandKnownRelationRefs(ctx, q, rels, newest, &stats)
		if err != nil {
			return err
		}
		if err := s.writeRelationGroups(ctx, q, written, newest, resolve, now, &stats); err != nil {
			return err
		}
		if refs := relationshipRefs(rels); len(refs) > 0 {
			if err := s.expandRelationRefs(ctx, q, refs, false, &stats); err != nil {
				return err
			}
		}
		if err := supersede(ctx, q, raised, nil, &stats); err != nil {
			return err
		}
		identity.revoked = revokedMayChange(rels, moved, stats)
		return refreshIdentity(ctx, q, identity, &stats)
	})
	return stats, err
}

// writeRelationGroups writes rels, timed ones first, in batches, releasing
// the pending relations that resolve names in the first statement (or in
// one of its own when there are no relations).
func (s *Store) writeRelationGroups(ctx context.Context, q *gen.Queries, rels []graph.Relation, newest map[string]time.Time, resolve []string, now time.Time, stats *graph.WriteStats) error {
	if len(rels) == 0 && len(resolve) == 0 {
		return nil
	}
	// In key order (MergeRelations sorts), timed or not, as every writer
	// takes the rows' locks.
	first := true
	for chunk := range slices.Chunk(rels, s.batchSize) {
		if err := s.upsertRelations(ctx, q, chunk, newest, resolveIf(first, resolve), now, stats); err != nil {
			return err
		}
		first = false
	}
	if first { // no relations: still release the pending ones the nodes complete
		return s.upsertRelations(ctx, q, nil, nil, resolve, now, stats)
	}
	return nil
}

// sourceVersion is a version of one source object a batch writes, and the
// nodes it comes with or states relations from.
type sourceVersion struct {
	id      string
	version time.Time
	nodes   []uuid.UUID
}

// sourceVersions lists the versions of objects a batch writes: those its
// nodes carry and those its relations are stated in, one per object id
// (the latest), sorted by id. Recording them (raiseVersions) locks each
// object's row for the transaction.
func sourceVersions(nodes []graph.Node, rels []graph.Relation) []sourceVersion {
	byID := map[string]*sourceVersion{}
	add := func(m map[string]time.Time, node uuid.UUID, known bool) {
		for id, v := range m {
			if id == "" || v.IsZero() {
				continue
			}
			sv := byID[id]
			if sv == nil {
				sv = &sourceVersion{id: id}
				byID[id] = sv
			}
			// PostgreSQL keeps microseconds: a version compared with a
			// stored one must be rounded as it would be.
			sv.version = latestTime(sv.version, v.Truncate(time.Microsecond))
			if known && !slices.Contains(sv.nodes, node) {
				sv.nodes = append(sv.nodes, node)
			}
		}
	}
	for _, n := range nodes {
		add(n.Versions, n.ID, true)
	}
	for _, r := range rels {
		if len(r.StatedBy) > 0 {
			id, ok := graph.ParseNodeRef(r.Src)
			add(r.StatedBy, id, ok)
		}
	}
	out := make([]sourceVersion, 0, len(byID))
	for _, sv := range byID {
		out = append(out, *sv)
	}
	slices.SortFunc(out, func(a, b sourceVersion) int { return strings.Compare(a.id, b.id) })
	return out
}

// raiseVersions records the versions of objects the batch writes before
// its relations are written: objects seen for the first time are inserted
// (SourceVersionInsert; the insert keeps their rows locked), the others'
// rows are key-share locked until the transaction ends
// (SourceVersionLock), and versions that rose or nodes new to an object
// are written under an exclusive lock (SourceVersionUpdate). It returns
// the ids whose version rose over one stored before (or, rarely, that only
// gained a node: the sweep then finds nothing to supersede), and the
// newest version of every object the batch names, by which its relation
// records are written live or superseded (stale).
func raiseVersions(ctx context.Context, q *gen.Queries, versions []sourceVersion) ([]string, map[string]time.Time, error) {
	if len(versions) == 0 {
		return nil, nil, nil
	}
	newest := make(map[string]time.Time, len(versions))
	ins := gen.SourceVersionInsertParams{}
	for _, v := range versions {
		newest[v.id] = v.version
		ins.IDs, ins.Versions, ins.Nodes = append(ins.IDs, v.id), append(ins.Versions, v.version), append(ins.Nodes, uuidsLiteral(v.nodes))
	}
	inserted, err := q.SourceVersionInsert(ctx, ins)
	if err != nil {
		return nil, nil, fmt.Errorf("record %d object versions: %w", len(versions), err)
	}
	slices.Sort(inserted)
	var others []string
	for _, v := range versions {
		if _, ok := slices.BinarySearch(inserted, v.id); !ok {
			others = append(others, v.id)
		}
	}
	if len(others) == 0 {
		return nil, newest, nil
	}
	rows, err := q.SourceVersionLock(ctx, others)
	if err != nil {
		return nil, nil, fmt.Errorf("lock %d object versions: %w", len(others), err)
	}
	upd := gen.SourceVersionUpdateParams{}
	for _, row := range rows {
		i, ok := slices.BinarySearchFunc(versions, row.SourceID, func(v sourceVersion, id string) int { return strings.Compare(v.id, id) })
		if !ok {
			continue
		}
		v := versions[i]
		newest[v.id] = latestTime(v.version, row.Version)
		var add []uuid.UUID
		for _, n := range v.nodes {
			if !slices.Contains(row.Nodes, n) {
				add = append(add, n)
			}
		}
		if v.version.After(row.Version) || len(add) > 0 {
			upd.IDs, upd.Versions, upd.Nodes = append(upd.IDs, v.id), append(upd.Versions, v.version), append(upd.Nodes, uuidsLiteral(add))
		}
	}
	if len(upd.IDs) == 0 {
		return nil, newest, nil
	}
	raised, err := q.SourceVersionUpdate(ctx, upd)
	if err != nil {
		return nil, nil, fmt.Errorf("raise %d object versions: %w", len(upd.IDs), err)
	}
	return raised, newest, nil
}

// stale reports whether a relation record is stated only by versions
// older than the newest of their objects: written superseded.
func stale(statedBy, newest map[string]time.Time) bool {
	if len(statedBy) == 0 {
		return false
	}
	for id, v := range statedBy {
		if n, ok := newest[id]; !ok || !n.After(v.Truncate(time.Microsecond)) {
			return false
		}
	}
	return true
}

// uuidsLiteral is a PostgreSQL array literal of the ids, sorted.
func uuidsLiteral(ns []uuid.UUID) string {
	ss := make([]string, len(ns))
	for i, n := range ns {
		ss[i] = n.String()
	}
	slices.Sort(ss)
	return textArrayLiteral(ss)
}

// supersede, after the batch's relations are written, supersedes the
// records stored before that only older versions of the raised objects
// state (RelationSupersede; the upsert never turns a live record
// superseded) and rebuilds the relations those fed from the records left
// (RelationRebuild). It first locks the pending records those objects
// state (PendingLockStated), so that a concurrent batch releasing one has
// committed its record before RelationSupersede looks for it, or releases
// nothing.
func supersede(ctx context.Context, q *gen.Queries, raised, released []string, stats *graph.WriteStats) error {
	if len(raised)+len(released) == 0 {
		return nil
	}
	if raised == nil {
		raised = []string{}
	}
	if released == nil {
		released = []string{}
	}
	if len(raised) > 0 {
		if _, err := q.PendingLockStated(ctx, raised); err != nil {
			return fmt.Errorf("lock the pending relations of %d objects: %w", len(raised), err)
		}
	}
	keys, err := q.RelationSupersede(ctx, gen.RelationSupersedeParams{IDs: raised, SrcRefs: released})
	if err != nil {
		return fmt.Errorf("supersede relations of %d objects: %w", len(raised), err)
	}
	stats.RelationsSuperseded += keys.Superseded
	if len(keys.SrcIDs) == 0 {
		return nil
	}
	if _, err := q.RelationRebuild(ctx, gen.RelationRebuildParams{SrcIDs: keys.SrcIDs, Relations: keys.Relations, DstIDs: keys.DstIDs}); err != nil {
		return fmt.Errorf("rebuild %d superseded relations: %w", len(keys.SrcIDs), err)
	}
	return nil
}

func latestTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// statedJSON is the stated map of a relation record as RelationUpsertMany
// takes it: {"<id>": "<time>"} with times in one fixed UTC format whose
// text order is their time order (stated_merge compares them as text), or
// standsAlone when the relation stands on its own.
func statedJSON(m map[string]time.Time) json.RawMessage {
	if len(m) == 0 {
		return json.RawMessage(standsAlone)
	}
	out := make(map[string]string, len(m))
	for id, t := range m {
		if id == graph.StandsAlone {
			out[id] = "infinity"
			continue
		}
		out[id] = t.UTC().Format(statedTimeFormat)
	}
	b, err := json.Marshal(out)
	if err != nil { // strings only: cannot happen
		return json.RawMessage("{}")
	}
	return b
}

// standsAlone is the stated map of a record that stands on its own (a STIX
// relationship object, an object's copy without a version; its entry is
// graph.StandsAlone, as a record merged from one is): an entry no
// object's version ever outdates (no source_versions row has the empty id,
// and "infinity" is the latest time), so stated_merge keeps it through
// every merge and stated_superseded is false for the record, whatever
// versioned objects state it too. (NULL, as records written before
// migration 00030 have, merges as nothing: they take the first versions
// stated for them.)
const standsAlone = `{"": "infinity"}`

// statedTimeFormat writes every time in one width (microseconds, as
// PostgreSQL keeps them).
const statedTimeFormat = "2006-01-02T15:04:05.000000Z"

// rekey re-resolves the relation records that name refs (all of them with
// all) and now resolve to other nodes, and rebuilds the relations they fed
// (RelationRekey, RelationRebuild), so a relation goes where its source ids
// point now, whenever it was resolved.
func rekey(ctx context.Context, q *gen.Queries, refs []string, all bool) error {
	if refs == nil {
		refs = []string{}
	}
	keys, err := q.RelationRekey(ctx, gen.RelationRekeyParams{AllRefs: all, Refs: refs})
	if err != nil {
		return fmt.Errorf("re-key relation records: %w", err)
	}
	if len(keys.SrcIDs) == 0 {
		return nil
	}
	if _, err := q.RelationRebuild(ctx, gen.RelationRebuildParams{SrcIDs: keys.SrcIDs, Relations: keys.Relations, DstIDs: keys.DstIDs}); err != nil {
		return fmt.Errorf("rebuild %d relations: %w", len(keys.SrcIDs), err)
	}
	return nil
}

// releaseRefs lists the references by which pending relations may name
// the nodes: their aliases' source ids and their node--<uuid> refs.
func releaseRefs(nodes []graph.Node, aliases []aliasRow) []string {
	refs := make([]string, 0, len(aliases)+len(nodes))
	for _, a := range aliases {
		refs = append(refs, a.sourceID)
	}
	for _, n := range nodes {
		refs = append(refs, string(n.Ref()))
	}
	return refs
}

func resolveIf(first bool, refs []string) []string {
	if first {
		return refs
	}
	return []string{}
}

func (s *Store) upsertRelations(ctx context.Context, q *gen.Queries, rels []graph.Relation, newest map[string]time.Time, resolve []string, now time.Time, stats *graph.WriteStats) error {
	p := gen.RelationUpsertManyParams{ResolveRefs: resolve}
	for _, r := range rels {
		p.Untimed = append(p.Untimed, r.FirstSeen.IsZero() && r.LastSeen.IsZero())
		first, last := graph.Seen(r.FirstSeen, r.LastSeen, now)
		p.SrcRefs = append(p.SrcRefs, string(r.Src))
		p.Relations = append(p.Relations, strings.ToLower(r.Type))
		p.DstRefs = append(p.DstRefs, string(r.Dst))
		p.Confidences = append(p.Confidences, confidenceParam(r.Confidence))
		p.FirstSeens = append(p.FirstSeens, first)
		p.LastSeens = append(p.LastSeens, last)
		p.Sources = append(p.Sources, textArrayLiteral(r.Sources))
		props, digest := marshalProps(r.Props)
		p.Props = append(p.Props, props)
		ranks := r.RanksWithProps(digest)
		p.PropsRanks = append(p.PropsRanks, ranks.Props)
		p.PropsKeyRanks = append(p.PropsKeyRanks, jsonStrings(ranks.Keys))
		p.Stated = append(p.Stated, statedJSON(r.StatedBy))
		p.Superseded = append(p.Superseded, int16(boolInt(stale(r.StatedBy, newest))))
	}
	if p.SrcRefs == nil {
		p.SrcRefs, p.Relations, p.DstRefs = []string{}, []string{}, []string{}
		p.Confidences, p.FirstSeens, p.LastSeens = []int16{}, []time.Time{}, []time.Time{}
		p.Sources, p.Props = []string{}, []json.RawMessage{}
		p.PropsRanks, p.PropsKeyRanks = []string{}, []json.RawMessage{}
		p.Stated, p.Superseded, p.Untimed = []json.RawMessage{}, []int16{}, []bool{}
	}
	return relationUpsert(ctx, q, p, stats)
}

// relationUpsert runs RelationUpsertMany and counts what it did in stats.
func relationUpsert(ctx context.Context, q *gen.Queries, p gen.RelationUpsertManyParams, stats *graph.WriteStats) error {
	row, err := q.RelationUpsertMany(ctx, p)
	if err != nil {
		return fmt.Errorf("upsert %d relations: %w", len(p.SrcRefs), err)
	}
	stats.RelationsInserted += row.Inserted
	stats.RelationsMerged += row.Merged
	stats.RelationsPending += row.Pending
	stats.RelationsReleased += row.Released
	stats.RelationsStale += row.Stale
	// Records released from pending that objects state were judged live or
	// superseded from this statement's snapshot: a version raised by a
	// transaction that committed while this one waited for the pending
	// rows (PendingLockStated) is seen by the next statement.
	return supersede(ctx, q, nil, row.ReleasedStated, stats)
}

type aliasRow struct {
	sourceID string
	nodeID   uuid.UUID
	source   string
}

// aliasBefore reports whether a wins a source id over b: the smaller node
// id, then a non-empty source over an empty one, then the smaller source.
func aliasBefore(a, b aliasRow) bool {
	return cmp.Or(bytes.Compare(a.nodeID[:], b.nodeID[:]), cmp.Compare(boolInt(a.source == ""), boolInt(b.source == "")),
		strings.Compare(a.source, b.source)) < 0
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// aliasRows lists each node's aliases, one row per source id, sorted by
// source id. When several nodes name a source id, the one with the smallest
// id (byte order) wins, then the smallest non-empty source: the rule
// NodeAliasUpsertMany applies across batches, so the mapping does not depend
// on the order nodes arrive in.
func aliasRows(nodes []graph.Node) []aliasRow {
	idx := map[string]int{}
	var out []aliasRow
	for _, n := range nodes {
		src := ""
		for _, s := range n.Sources {
			if s != "" {
				src = s
				break
			}
		}
		for _, a := range n.Aliases {
			if a == "" {
				continue
			}
			row := aliasRow{a, n.ID, src}
			if i, ok := idx[a]; ok {
				if aliasBefore(row, out[i]) {
					out[i] = row
				}
				continue
			}
			idx[a] = len(out)
			out = append(out, row)
		}
	}
	slices.SortFunc(out, func(a, b aliasRow) int { return strings.Compare(a.sourceID, b.sourceID) })
	return out
}

func nodeParams(nodes []graph.Node, now time.Time) gen.NodeUpsertManyParams {
	k := len(nodes)
	p := gen.NodeUpsertManyParams{
		IDs: make([]uuid.UUID, 0, k), Kinds: make([]string, 0, k), Keys: make([]string, 0, k), Names: make([]string, 0, k),
		Props: make([]json.RawMessage, 0, k), Labels: make([]string, 0, k), Confidences: make([]int16, 0, k),
		TLPs: make([]string, 0, k), FirstSeens: make([]time.Time, 0, k), LastSeens: make([]time.Time, 0, k),
		Sources: make([]string, 0, k), NameRanks: make([]string, 0, k), PropsRanks: make([]string, 0, k),
		PropsKeyRanks: make([]json.RawMessage, 0, k), Untimed: make([]bool, 0, k),
	}
	for _, n := range nodes {
		p.Untimed = append(p.Untimed, n.FirstSeen.IsZero() && n.LastSeen.IsZero())
		first, last := graph.Seen(n.FirstSeen, n.LastSeen, now)
		p.IDs = append(p.IDs, n.ID)
		p.Kinds = append(p.Kinds, string(n.Kind))
		p.Keys = append(p.Keys, n.Key)
		p.Names = append(p.Names, n.Name)
		props, digest := marshalProps(n.Props)
		p.Props = append(p.Props, props)
		p.Labels = append(p.Labels, textArrayLiteral(n.Labels))
		p.Confidences = append(p.Confidences, confidenceParam(n.Confidence))
		p.TLPs = append(p.TLPs, string(n.TLP.Normalize()))
		p.FirstSeens = append(p.FirstSeens, first)
		p.LastSeens = append(p.LastSeens, last)
		p.Sources = append(p.Sources, textArrayLiteral(n.Sources))
		ranks := n.RanksWithProps(digest)
		p.NameRanks = append(p.NameRanks, ranks.Name)
		p.PropsRanks = append(p.PropsRanks, ranks.Props)
		p.PropsKeyRanks = append(p.PropsKeyRanks, jsonStrings(ranks.Keys))
	}
	return p
}

// textArrayLiteral writes ss as a PostgreSQL text[] literal, sorted in byte
// order (the order NodeUpsertMany's merge sorts in: COLLATE "C") and without
// duplicates, every element quoted so that any string survives:
// ["b", "a\"x", "b"] gives {"a\"x","b"}.
func textArrayLiteral(ss []string) string {
	if len(ss) == 0 {
		return "{}"
	}
	sorted := ss
	if !strictlySorted(ss) { // usually they already are: no copy then
		sorted = slices.Compact(slices.Sorted(slices.Values(ss)))
	}
	var b strings.Builder
	size := 2
	for _, s := range sorted {
		size += len(s) + 3
	}
	b.Grow(size)
	b.WriteByte('{')
	for i, s := range sorted {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		for j := 0; j < len(s); j++ {
			if s[j] == '"' || s[j] == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(s[j])
		}
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// strictlySorted reports whether ss is sorted in byte order without
// duplicates.
func strictlySorted(ss []string) bool {
	for i := 1; i < len(ss); i++ {
		if ss[i-1] >= ss[i] {
			return false
		}
	}
	return true
}

func confidenceParam(c *int) int16 { return int16(graph.ConfidenceOf(c)) }

// jsonStrings returns m as a JSON object ("{}" when empty).
func jsonStrings(m map[string]string) json.RawMessage {
	if len(m) == 0 {
		return json.RawMessage("{}")
	}
	b, _ := json.Marshal(m)
	return b
}

// marshalProps returns the props parameter (jsonObject's bytes) and the
// bytes the rank digest hashes (graph.Node.RanksWithProps): the same slice,
// so props are encoded once; nil when json.Marshal fails and the parameter
// is jsonObject's stand-in, so the rank is computed from the props instead.
func marshalProps(m map[string]any) (param json.RawMessage, digest []byte) {
	if len(m) == 0 {
		return json.RawMessage("{}"), json.RawMessage("{}")
	}
	buf := propsBuffers.Get().(*[]byte)
	b, ok := appendMarshal((*buf)[:0], m) // json.Marshal's bytes, faster
	props := slices.Clone(b)
	*buf = b
	propsBuffers.Put(buf)
	if !ok {
		return jsonObject(m), nil
	}
	return props, props
}

// propsBuffers holds the buffers marshalProps encodes into before copying
// the props out at their size (as json.Marshal does).
var propsBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func jsonObject(m map[string]any) json.RawMessage {
	if len(m) == 0 {
		return json.RawMessage("{}")
	}
	b, err := json.Marshal(m)
	if err != nil {
		// Props come from decoded JSON and always marshal; keep the error visible.
		b, _ = json.Marshal(map[string]string{"_marshal_error": err.Error()})
	}
	return b
}
