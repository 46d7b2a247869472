package partman

import (
	"log/slog"
	"time"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/store"
)

// DefaultParent is the table partman keeps when Options.Parent is empty.
const DefaultParent = "telemetry_edges"

// Defaults used for zero Options fields.
const (
	DefaultAhead         = 6
	DefaultBehind        = 1
	DefaultLockTimeout   = 2 * time.Second
	DefaultArchiveSchema = "archive"
)

// The retries of partman are the store's (store.DefaultRetryPolicy): 9
// retries, waits from 50 ms doubling up to 8 s, 10 to 21 s in all, long
// enough for a server restart. Before they were 5 retries from 100 ms,
// 1.5 to 3.1 s in all, which a 3 s restart outlasted while the loads
// beside them rode it out.
var (
	DefaultRetries    = store.DefaultRetryPolicy.Attempts - 1
	DefaultRetryDelay = store.DefaultRetryPolicy.Base
)

// Options configure Ensure, EnsureDays, Check, Prune and Maintain. The zero
// value is ready to use: every zero field takes its default.
type Options struct {
	// Parent is the range-partitioned table, as PostgreSQL reads a table name:
	// optionally schema-qualified, with double quotes where the name needs
	// them (`"Odd ""Name"" edges"`). Default DefaultParent.
	Parent string
	// Ahead is how many days after today (UTC) Ensure creates and Check
	// expects: 0 means the default 6 (today through today+6), a negative value
	// means today only.
	Ahead int
	// Behind is the look-back: how many days before today Ensure creates and
	// Check expects. 0 means the default 1, a negative value means none.
	Behind int
	// LockTimeout bounds every wait for a table lock (SET LOCAL lock_timeout),
	// so that a partition operation queued behind a long reader never holds
	// up the readers and writers queued behind it for longer. Default 2s.
	LockTimeout time.Duration
	// Retries is how many times an operation that hit LockTimeout, a
	// deadlock or a transient failure (store.Transient: the connection or
	// the server going away) is tried again, after a backoff, before it
	// fails (with ErrLockTimeout for a lock). 0 means the default
	// (DefaultRetries, the store's: 9), a negative value means no retry.
	Retries int
	// RetryDelay is the backoff before the first retry; it doubles with each
	// further retry up to store.DefaultRetryPolicy.Max (8s) and is jittered,
	// as the store's retries are (store.RetryPolicy.Wait). Default
	// DefaultRetryDelay (50ms).
	RetryDelay time.Duration
	// RetryBudget, when positive, bounds each operation with its retries
	// (a day's transaction and the tries of it), tries and waits together,
	// as store.RetryPolicy.Budget bounds a write: its error then wraps
	// store.ErrRetryBudget. intel sets it on a Citus coordinator
	// (--citus-budget): a worker that stops answering held each try for
	// citus.node_connection_timeout (30 s), and the ten tries of a day
	// for five minutes. Zero: no bound but the retries.
	RetryBudget time.Duration
	// ServerStartWait is store.RetryPolicy.Recovery for the retries: how
	// long, in all, a day's transaction waits for a server that says it is
	// starting up (57P03) without spending its retries. 0 means the
	// store's default (store.DefaultRecoveryWait, 5 min), a negative value
	// none: such a refusal is then a retry like any other. intel sets it
	// from --server-start-wait.
	ServerStartWait time.Duration
	// ArchiveSchema is the schema Prune moves partitions into in Detach mode,
	// created if missing. Default "archive".
	ArchiveSchema string
	// Retention, when positive, is the retention Ensure, EnsureDays and
	// DayEnsurer refuse days by (days before the UTC day of now − Retention
	// get no partition) instead of the one the last Prune recorded in the
	// database. Zero reads the recorded one (none if never pruned).
	Retention time.Duration
	// KeepLateRows makes DayEnsurer send the rows of days past retention to
	// the default partition, counted (store.DayOutcome.Default), instead of
	// having them dropped (store.DayOutcome.Refused). Either way the day's
	// partition is not made again; Prune removes such rows from the default
	// partition. Prune records it with the retention, and every DayEnsurer
	// then follows it (true wins).
	KeepLateRows bool
	// Now returns the current time; tests set it. Default time.Now. Only its
	// UTC day matters to Ensure and Check.
	Now func() time.Time
	// Logger receives what partman does. Default slog.Default().
	Logger *slog.Logger

	// defaulted: withDefaults has run. Its "none" values (a negative
	// Retries, Ahead, Behind or ServerStartWait) become zero, which a
	// second run read as "default": Maintain's Retries -1 gave each
	// Ensure it ran 9 retries again.
	defaulted bool
}

// withDefaults returns o with every zero field set to its default and the
// negative "none" values turned into zero. It is idempotent: options it
// returned, passed on to another partman function, keep their meaning.
func (o Options) withDefaults() Options {
	if o.defaulted {
		return o
	}
	o.defaulted = true
	if o.Parent == "" {
		o.Parent = DefaultParent
	}
	o.Ahead = orDefault(o.Ahead, DefaultAhead)
	o.Behind = orDefault(o.Behind, DefaultBehind)
	o.Retries = orDefault(o.Retries, DefaultRetries)
	if o.LockTimeout <= 0 {
		o.LockTimeout = DefaultLockTimeout
	}
	if o.RetryDelay <= 0 {
		o.RetryDelay = DefaultRetryDelay
	}
	switch {
	case o.ServerStartWait == 0:
		o.ServerStartWait = store.DefaultRecoveryWait
	case o.ServerStartWait < 0:
		o.ServerStartWait = 0
	}
	if o.ArchiveSchema == "" {
		o.ArchiveSchema = DefaultArchiveSchema
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// orDefault reads a count where 0 means def and a negative value means none.
func orDefault(n, def int) int {
	switch {
	case n == 0:
		return def
	case n < 0:
		return 0
	default:
		return n
	}
}

// retryPolicy is the store's retry policy with o's number of retries and
// first backoff: one rule for the waits of both.
func (o Options) retryPolicy() store.RetryPolicy {
	return store.RetryPolicy{Attempts: o.Retries + 1, Base: o.RetryDelay, Max: store.DefaultRetryPolicy.Max, Recovery: o.ServerStartWait}.WithDefaults()
}

// today is the UTC day of o.Now().
func (o Options) today() time.Time {
	return graph.UTCDay(o.Now())
}

// window returns the days Ensure creates and Check expects, today first, then
// the days ahead in order, then the look-back days going back: the order in
// which they matter to writers.
func (o Options) window() []time.Time {
	today := o.today()
	days := make([]time.Time, 0, 1+o.Ahead+o.Behind)
	for i := 0; i <= o.Ahead; i++ {
		days = append(days, today.AddDate(0, 0, i))
	}
	for i := 1; i <= o.Behind; i++ {
		days = append(days, today.AddDate(0, 0, -i))
	}
	return days
}
