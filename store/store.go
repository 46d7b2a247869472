package store

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ransomeye/intel/db/gen"
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
	// localJITOff: JIT off by transaction (WithLocalJITOff).
	localJITOff bool
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
	if s.localJITOff {
		s.q = gen.New(jitOffDB{pool})
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
