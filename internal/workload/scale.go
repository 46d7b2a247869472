package workload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/stix"
	"github.com/ransomeye/intel/internal/peakrss"
	"github.com/ransomeye/intel/partman"
	"github.com/ransomeye/intel/store"
	"github.com/ransomeye/intel/tuning"
)

// Appender is what the benchmark's concurrent writers call: many callers,
// each with a small batch.
type Appender interface {
	Append(ctx context.Context, edges []graph.TelemetryEdge) (store.TelemetryStats, error)
	Close(ctx context.Context) error
}

// NewAppender returns the Appender every writer of RunScale shares for a
// day: the store's shared group-commit writer (store.TelemetryWriter) on
// streams connections (tuning.Plan.TelemetryStreams), closed, so flushed,
// at the day's end.
func NewAppender(s *store.Store, streams int) Appender {
	return s.NewTelemetryWriter(store.TelemetryWriterOptions{Streams: streams})
}

// Defaults of ScaleOptions.
const (
	DefaultWriters       = 32
	DefaultQueriers      = 2
	DefaultKeep          = 3 * 24 * time.Hour
	DefaultDepth         = 3
	DefaultQueryInterval = 100 * time.Millisecond
)

// ScaleOptions configure RunScale. Zero fields take their defaults.
type ScaleOptions struct {
	Config
	// Writers is the number of concurrent callers of the Appender
	// (default DefaultWriters).
	Writers int
	// Queriers is the number of goroutines running store.FindRelated while
	// a day loads (default DefaultQueriers; negative: none), each waiting
	// QueryInterval (default DefaultQueryInterval) between walks.
	Queriers      int
	QueryInterval time.Duration
	// Depth is the depth of the walks (default DefaultDepth).
	Depth int
	// Keep is the retention partman.Prune applies at each simulated
	// midnight (default DefaultKeep).
	Keep time.Duration
	// Logger receives the store's and partman's warnings (default: a
	// logger that drops records below WARN).
	Logger *slog.Logger
	// Progress, when set, receives a line as each day ends.
	Progress io.Writer
	// StorePerDay makes a new Store (and Appender) at each simulated
	// midnight instead of one for the whole run: a diagnostic that shows
	// how much of the client's memory growth is what a Store keeps across
	// days (its endpoint cache).
	StorePerDay bool
}

func (o ScaleOptions) withDefaults() ScaleOptions {
	if o.Writers <= 0 {
		o.Writers = DefaultWriters
	}
	switch {
	case o.Queriers == 0:
		o.Queriers = DefaultQueriers
	case o.Queriers < 0:
		o.Queriers = 0
	}
	if o.QueryInterval <= 0 {
		o.QueryInterval = DefaultQueryInterval
	}
	if o.Depth <= 0 {
		o.Depth = DefaultDepth
	}
	if o.Keep <= 0 {
		o.Keep = DefaultKeep
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// simClock is the simulated time the store, partman and the walks see.
type simClock struct{ ns atomic.Int64 }

func (c *simClock) Now() time.Time  { return time.Unix(0, c.ns.Load()).UTC() }
func (c *simClock) Set(t time.Time) { c.ns.Store(t.UnixNano()) }

// advance moves the clock to t unless it is past it already.
func (c *simClock) advance(t time.Time) {
	for {
		cur := c.ns.Load()
		if t.UnixNano() <= cur || c.ns.CompareAndSwap(cur, t.UnixNano()) {
			return
		}
	}
}

// RunScale runs the sustained-load benchmark on pool, which must hold a
// migrated schema and no telemetry (it makes and prunes the partitions of
// the simulated days, starting today): it loads the generated STIX feed,
// then for each simulated day runs partition upkeep and retention at its
// midnight and has opts.Writers callers append the day's batches through
// NewAppender while opts.Queriers run walks from nodes just written and
// from indicator files, and measures the day (DayStats).
func RunScale(ctx context.Context, pool *pgxpool.Pool, opts ScaleOptions) (*ScaleReport, error) {
	opts = opts.withDefaults()
	gen, err := New(opts.Config)
	if err != nil {
		return nil, err
	}
	opts.Config = gen.Config()
	plan, _ := tuning.LocalPlan() // the smallest machine's plan when it cannot measure this one
	clock := &simClock{}
	clock.Set(gen.DayStart(0))
	pmOpts := partman.Options{Now: clock.Now, Logger: opts.Logger}
	newStore := func() *store.Store {
		return store.NewStore(pool, store.WithLogger(opts.Logger), store.WithClock(clock.Now),
			store.WithBatchSize(plan.BatchSize), store.WithWriters(plan.Writers),
			store.WithDayEnsurer(partman.NewDayEnsurer(pool, pmOpts)))
	}
	st := newStore()
	rep := &ScaleReport{Options: opts, PoolMaxConns: pool.Config().MaxConns, Load: loadAverage()}

	if _, err := partman.Ensure(ctx, pool, pmOpts); err != nil {
		return rep, fmt.Errorf("ensure partitions: %w", err)
	}
	if rep.Feed, err = loadFeed(ctx, gen, st, opts.Logger); err != nil {
		return rep, err
	}
	r := &run{gen: gen, st: st, clock: clock, opts: opts, recent: newRing(1024)}
	for day := range opts.Days {
		if opts.StorePerDay && day > 0 {
			r.st = newStore()
		}
		r.app = NewAppender(r.st, plan.TelemetryStreams)
		ds, err := r.day(ctx, pool, day, pmOpts)
		if cerr := r.app.Close(ctx); err == nil {
			err = cerr
		}
		rep.Days = append(rep.Days, ds)
		if err != nil {
			return rep, fmt.Errorf("day %d: %w", day+1, err)
		}
		if opts.Progress != nil {
			_, _ = fmt.Fprintln(opts.Progress, ds.line()) // progress is best effort
		}
	}
	return rep, nil
}

// loadFeed loads the generator's STIX bundle, so walks from telemetry reach
// intelligence.
func loadFeed(ctx context.Context, gen *Generator, st *store.Store, log *slog.Logger) (FeedLoad, error) {
	pr, pw := io.Pipe()
	go func() {
		_, err := gen.WriteSTIX(pw)
		pw.CloseWithError(err)
	}()
	t0 := time.Now()
	rep, err := stix.Load(ctx, pr, st, stix.Options{Feed: "bench-stix", Logger: log})
	pr.CloseWithError(io.ErrClosedPipe)
	if err != nil {
		return FeedLoad{}, fmt.Errorf("load the generated stix feed: %w", err)
	}
	return FeedLoad{Records: rep.RecordsRead, Dropped: rep.DroppedTotal(), Duration: time.Since(t0)}, nil
}

// run is the state of one RunScale.
type run struct {
	gen    *Generator
	st     *store.Store
	app    Appender
	clock  *simClock
	opts   ScaleOptions
	recent *ring
}

// day runs simulated day: upkeep at its midnight, then the load.
func (r *run) day(ctx context.Context, pool *pgxpool.Pool, day int, pmOpts partman.Options) (DayStats, error) {
	ds := DayStats{Day: day + 1, Date: r.gen.DayStart(day)}
	r.clock.Set(ds.Date)
	t0 := time.Now()
	if _, err := partman.Ensure(ctx, pool, pmOpts); err != nil {
		return ds, fmt.Errorf("ensure partitions: %w", err)
	}
	pr, err := partman.Prune(ctx, pool, r.opts.Keep, partman.Drop, pmOpts)
	if err != nil {
		return ds, fmt.Errorf("prune partitions: %w", err)
	}
	ds.Upkeep, ds.Pruned = time.Since(t0), len(pr.Removed)
	ds.RSSReset = peakrss.Reset()

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		next     atomic.Int64
		rows     atomic.Int64
		dropped  atomic.Int64
		mu       sync.Mutex
		appends  []time.Duration
		queries  []time.Duration
		writers  sync.WaitGroup
		queriers sync.WaitGroup
		loading  = make(chan struct{})
	)
	start := time.Now()
	for range r.opts.Writers {
		writers.Go(func() {
			var mine []time.Duration
			defer func() { mu.Lock(); appends = append(appends, mine...); mu.Unlock() }()
			for {
				seq := int(next.Add(1) - 1)
				if seq >= r.gen.BatchesPerDay() || ctx.Err() != nil {
					return
				}
				edges := r.gen.Batch(day, seq)
				r.clock.advance(r.gen.BatchEnd(day, seq-1))
				t := time.Now()
				stats, err := r.app.Append(ctx, edges)
				mine = append(mine, time.Since(t))
				if err != nil {
					cancel(fmt.Errorf("append batch %d: %w", seq, err))
					return
				}
				rows.Add(stats.Edges)
				dropped.Add(sumDropped(stats.Dropped))
				r.recent.add(edges[0].Src.ID, edges[len(edges)-1].Dst.ID)
			}
		})
	}
	for q := range r.opts.Queriers {
		queriers.Go(func() {
			rnd := rand.New(rand.NewPCG(r.opts.Seed, uint64(day)<<8|uint64(q)))
			var mine []time.Duration
			defer func() { mu.Lock(); queries = append(queries, mine...); mu.Unlock() }()
			for {
				select {
				case <-loading:
					return
				case <-time.After(r.opts.QueryInterval):
				}
				id, ok := r.startNode(rnd)
				if !ok {
					continue
				}
				now := r.clock.Now()
				t := time.Now()
				_, err := r.st.FindRelated(ctx, id, graph.RelatedOptions{Depth: r.opts.Depth,
					Since: now.Add(-24 * time.Hour), Until: now.Add(time.Hour)})
				if err != nil {
					if ctx.Err() == nil {
						cancel(fmt.Errorf("walk from %s: %w", id, err))
					}
					return
				}
				mine = append(mine, time.Since(t))
			}
		})
	}
	writers.Wait()
	ds.Elapsed = time.Since(start)
	close(loading)
	queriers.Wait()
	if err := context.Cause(ctx); err != nil {
		return ds, err
	}
	ds.Rows, ds.Dropped = rows.Load(), dropped.Load()
	ds.AppendP50, ds.AppendP99 = percentile(appends, 50), percentile(appends, 99)
	ds.QueryP50, ds.QueryP99, ds.Queries = percentile(queries, 50), percentile(queries, 99), len(queries)
	ds.PeakRSS, ds.HeapLive = peakrss.Bytes(), heapLive()
	ds.Load = loadAverage()
	return ds, measureTables(ctx, pool, &ds)
}

// startNode picks where a walk starts: mostly a node just written (a
// process or what it touched), one walk in four the hash of an indicator's
// file (which the feed holds).
func (r *run) startNode(rnd *rand.Rand) (uuid.UUID, bool) {
	if rnd.IntN(4) == 0 {
		in := r.gen.indicator(3 * rnd.IntN(max(1, r.opts.Indicators/3)))
		return graph.HashNode("SHA-256", in.sha256).ID, true
	}
	return r.recent.pick(rnd)
}

// measureTables fills the partitions and sizes of ds.
func measureTables(ctx context.Context, pool *pgxpool.Pool, ds *DayStats) error {
	l, err := partman.List(ctx, pool, partman.DefaultParent)
	if err != nil {
		return fmt.Errorf("list partitions: %w", err)
	}
	ds.Partitions = len(l.Partitions)
	err = pool.QueryRow(ctx, `
SELECT coalesce(sum(pg_table_size(i.inhrelid)), 0)::bigint, coalesce(sum(pg_indexes_size(i.inhrelid)), 0)::bigint,
       pg_table_size('nodes')::bigint, pg_indexes_size('nodes')::bigint, (SELECT count(*) FROM nodes)
FROM pg_inherits i WHERE i.inhparent = 'telemetry_edges'::regclass`).Scan(
		&ds.EdgesTable, &ds.EdgesIndex, &ds.NodesTable, &ds.NodesIndex, &ds.Nodes)
	if err != nil {
		return fmt.Errorf("measure table sizes: %w", err)
	}
	return nil
}

func sumDropped(m map[graph.DropReason]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// percentile returns the p-th percentile (nearest rank) of ds, 0 if empty.
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[max(0, min(len(s)-1, i-1))]
}

// ring keeps the ids of recently written nodes for walks to start from.
type ring struct {
	mu  sync.Mutex
	ids []uuid.UUID
	pos int
}

func newRing(n int) *ring { return &ring{ids: make([]uuid.UUID, 0, n)} }

func (r *ring) add(ids ...uuid.UUID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		if len(r.ids) < cap(r.ids) {
			r.ids = append(r.ids, id)
			continue
		}
		r.ids[r.pos] = id
		r.pos = (r.pos + 1) % len(r.ids)
	}
}

func (r *ring) pick(rnd *rand.Rand) (uuid.UUID, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.ids) == 0 {
		return uuid.Nil, false
	}
	return r.ids[rnd.IntN(len(r.ids))], true
}

// errNoDays is returned by Ratios when a report has no day.
var errNoDays = errors.New("no simulated day completed")
