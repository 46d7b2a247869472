// Package partman keeps the daily partitions of telemetry_edges (or of any
// table partitioned by range on one timestamptz column): it creates the
// children ahead of time, moves rows out of the default partition, removes
// old children, and reports on all of it. It is the Go side of the PL/pgSQL
// function ensure_day_partition created by the migrations.
//
// # Days are UTC days
//
// A child holds one UTC day, [D 00:00 UTC, D+1 00:00 UTC), and is named
// <parent>_YYYY_MM_DD after it. The bounds are computed in UTC by the
// database function whatever the session TimeZone, and partman computes days
// from Options.Now in UTC, so a row lands in the same child whether it was
// written from Kolkata or Los Angeles.
//
// # Creating partitions: Ensure and EnsureDays
//
// [Ensure] creates the children for today through today+Ahead (default 6)
// and a look-back of Behind days (default 1); [EnsureDays] does the same for
// the days a writer is about to insert rows for. Each day is one transaction:
//
//	BEGIN; SET LOCAL lock_timeout = ..., statement_timeout = 0; SELECT ensure_day_partition(...); COMMIT
//
// A transaction that changes partitions (Ensure, Prune and the DayEnsurer
// of writers) lifts statement_timeout for itself: moving a day's rows takes
// as long as there are rows, and a limit set for the role or the database
// to bound queries would fail it on every run. List and Check keep the
// session's limit.
//
// The function serializes callers for the same child on an advisory lock, so
// any number of processes may run Ensure at once: all succeed and each day
// gets one child. If rows of the day wait in the default partition, it locks
// the default partition, creates the child stand-alone, moves those rows
// into it and attaches it, all in that transaction: no row is stranded or
// lost, and the parent itself is only taken in SHARE UPDATE EXCLUSIVE mode,
// so readers and writers of other days carry on.
//
// Waiting for a lock is bounded by Options.LockTimeout (default 2s): a
// creation queued behind a long-running reader gives up quickly instead of
// making every query queued behind it wait too, then retries after a
// jittered exponential backoff, up to Options.Retries times: the store's
// retry policy (store.DefaultRetryPolicy, 9 retries, 10 to 21 s of waits in
// all), which also retries a lost connection or a restarting server.
// When all attempts fail the error wraps [ErrLockTimeout] and names the
// partition; the next scheduled run tries again.
//
// # Removing partitions: Prune
//
// [Prune] removes whole children whose upper bound, read from the catalog,
// is at or before now − keep; the names are never parsed. [Drop] drops them;
// [Detach] moves them into an archive schema (default "archive"), where they
// stay as plain tables, under a free name (<name>_2, ... when a day pruned
// before was made again). Each child is detached in its own transaction
// under the same lock timeout. Rows of the pruned days that wait in the
// default partition are deleted or moved to the archive too.
//
// # Retention
//
// Prune records keep in the table partition_retention. Ensure, EnsureDays
// and the DayEnsurer of writers refuse the days before the UTC day of
// now − keep (Options.Retention overrides it), so a late row never brings
// a pruned day back: the store drops such rows, counted as
// graph.ReasonBeforeRetention, or with Options.KeepLateRows keeps them in
// the default partition, counted, for the next Prune.
//
// # Roles
//
// [CreateRoles] makes the owner, writer and reader roles. Only a role with
// the privileges of the table's owner keeps partitions; for others Ensure
// fails with [ErrInsufficientPrivilege] (the CLI skips its startup upkeep
// with one notice), and the DayEnsurer reports the days without a
// partition as going to the default partition, which the store counts.
//
// # Reporting: List and Check
//
// [List] returns the children with their bounds, row estimates and sizes,
// and the default partition. [Check] adds the exact number of rows in the
// default partition by UTC day and the days of the window that have no
// child. Every result type is plain data that marshals to JSON; the intel CLI
// draws the tables.
//
// # Scheduling: Maintain
//
// [Maintain] runs Ensure, and optionally Prune, at once and then on a ticker
// until its context is done, logging each round with log/slog.
//
// Identifiers are always quoted (pgx.Identifier.Sanitize in Go, format('%I')
// in PL/pgSQL), so parent tables and schemas with any name work.
package partman
