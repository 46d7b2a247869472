package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ransomeye/intel/internal/citusnotice"
)

// RetryPolicy bounds how every write of a Store is retried after a
// transient failure (see Transient): up to Attempts tries in all, waiting
// between them a random time in [d/2, d], where d starts at Base and
// doubles up to Max. The default, DefaultRetryPolicy, waits 10 to 21
// seconds in all before it gives up: long enough for a server restart.
type RetryPolicy struct {
	Attempts int
	Base     time.Duration
	Max      time.Duration
	// Budget, when positive, bounds the whole of a retried operation,
	// every try and every wait: once it has passed, the try in flight is
	// cancelled and none starts again; the error then wraps
	// ErrRetryBudget. Zero: no bound (a server that stops answering is
	// waited for, as psql waits). A Citus worker that stops answering (a
	// hung host) held a write for ever on its cached connection, and each
	// try on a new one for citus.node_connection_timeout (30 s).
	Budget time.Duration
	// Recovery, when positive, is how long in all a retried operation
	// waits for a server that says it is coming back (SQLSTATE 57P03:
	// "the database system is starting up", "… is not yet accepting
	// connections", "… is in recovery mode", as a restarted server says
	// through its crash recovery): such refusals do not spend Attempts;
	// the operation asks again every min(Max, 1 s), saying once at WARN
	// that it waits and at INFO every 15 s how long it has, until the
	// server takes it or Recovery has passed (then the error says so).
	// Zero: a 57P03 is a try like any other, and a recovery longer than
	// the tries' waits (10 to 21 s by default) failed the load. Budget, when
	// set, still bounds the whole.
	Recovery time.Duration
}

// DefaultRecoveryWait is DefaultRetryPolicy's Recovery: crash recovery
// replays the WAL written since the last checkpoint (checkpoint_timeout,
// 5 min by default, of writes), which takes minutes on a loaded server.
const DefaultRecoveryWait = 5 * time.Minute

// ErrServerStillStarting is wrapped by the error of an operation that
// waited RetryPolicy.Recovery for a server that kept saying it was
// starting up or recovering.
var ErrServerStillStarting = errors.New("the server was still starting up (crash recovery, or a standby not yet consistent)")

// ServerStarting reports whether err is a server refusing a connection
// because it is starting up, recovering or not yet consistent (SQLSTATE
// 57P03, cannot_connect_now). A server shutting down says 57P03 too ("the
// database system is shutting down"; a smart shutdown for as long as other
// sessions stay), and then refuses connections outright: those are tries
// as usual. The SQLSTATE is the same, so the shutdown is told by its words,
// in the language of the server's lc_messages (see serverShuttingDown).
func ServerStarting(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != pgerrcode.CannotConnectNow {
		return false
	}
	for _, words := range serverShuttingDown {
		if strings.Contains(pgErr.Message, words) {
			return false
		}
	}
	return true
}

// serverShuttingDown is PostgreSQL's "the database system is shutting
// down" (57P03) in English and in every language its message catalogs
// translate it to (postgres-15.mo of PostgreSQL 15.18: de, es, fr, it, ja,
// ka, ko, ru, sv, uk, zh_CN), as a server whose lc_messages is one of them
// says it (UTF-8). A shutdown in a language not listed here is waited for
// as a start, bounded by RetryPolicy.Recovery, as before.
var serverShuttingDown = []string{
	"the database system is shutting down",
	"das Datenbanksystem fährt herunter",
	"el sistema de base de datos está apagándose",
	"le système de base de données s'arrête",
	"il database si sta spegnendo",
	"データベースシステムはシャットダウンしています",
	"მონაცემთა ბაზის სისტემა ითიშება",
	"데이터베이스 시스템이 중지 중입니다",
	"система баз данных останавливается",
	"databassystemet stänger ner",
	"система бази даних завершує роботу",
	"数据库系统停止中",
}

// ErrRetryBudget is wrapped by the error of an operation that
// RetryPolicy.Budget cut short.
var ErrRetryBudget = errors.New("retry budget spent")

// DefaultRetryPolicy is the retry policy of a Store without
// WithRetryPolicy: 10 tries, waits from 50 ms doubling up to 8 s.
var DefaultRetryPolicy = RetryPolicy{Attempts: 10, Base: 50 * time.Millisecond, Max: 8 * time.Second, Recovery: DefaultRecoveryWait}

// WithRetryPolicy sets how writes are retried after a transient failure.
// Attempts of 1 turns retrying off.
func WithRetryPolicy(p RetryPolicy) Option { return func(s *Store) { s.retryPolicy = p } }

// WithDefaults returns p with each field left zero (or, for Max, below
// Base) taken from DefaultRetryPolicy, but Budget and Recovery, whose
// zero is meant.
func (p RetryPolicy) WithDefaults() RetryPolicy {
	if p.Attempts <= 0 {
		p.Attempts = DefaultRetryPolicy.Attempts
	}
	if p.Base <= 0 {
		p.Base = DefaultRetryPolicy.Base
	}
	if p.Max < p.Base {
		p.Max = max(p.Base, DefaultRetryPolicy.Max)
	}
	return p
}

// Wait is the pause before try attempt+1 (attempt counts from 1): capped
// exponential backoff with jitter, so writers that failed together do not
// come back together. partman's retries wait by it too.
func (p RetryPolicy) Wait(attempt int) time.Duration {
	d := p.Base
	for i := 1; i < attempt && d < p.Max; i++ {
		d *= 2
	}
	d = min(d, p.Max)
	return d/2 + rand.N(d/2+1)
}

// Transient reports whether err is worth running the transaction again
// for: a conflict with a concurrent transaction (Retryable), or the
// connection or the server going away — a server shut down or restarting
// (SQLSTATE 57P01, 57P02, 57P03), an idle connection closed by the
// server's idle_session_timeout (57P05) or a transaction ended by its
// idle_in_transaction_session_timeout (25P03), a connection exception (class
// 08), a connection refused, reset or closed, or, on a Citus coordinator,
// its connection to a worker lost in the middle of a transaction (see
// citusWorkerLost). The end of the caller's context is never transient.
func Transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if errors.As(err, new(permanentError)) {
		return false
	}
	if Retryable(err) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case pgerrcode.AdminShutdown, pgerrcode.CrashShutdown, pgerrcode.CannotConnectNow,
			pgerrcode.TooManyConnections,
			// The server closed a connection that idled past its
			// idle_session_timeout, outside any transaction: the pool
			// meets it at its next statement, which never ran.
			pgerrcode.IdleSessionTimeout,
			// The server ended a session whose transaction sat idle past
			// its idle_in_transaction_session_timeout: the transaction
			// rolled back whole (the server never read the next statement
			// or the COMMIT), so running it again stores it once. The
			// client pauses between two statements of a transaction only
			// as long as its own work between them, which a loaded
			// machine (or a GC pause) can stretch once.
			pgerrcode.IdleInTransactionSessionTimeout:
			return true
		}
		return strings.HasPrefix(pgErr.Code, "08") || citusWorkerLost(pgErr)
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	switch {
	case errors.As(err, &connectErr), errors.As(err, &netErr), pgconn.SafeToRetry(err):
		return true
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true
	}
	// pgx reports a connection it closed after a failure as "conn closed".
	return strings.Contains(err.Error(), "conn closed") || strings.Contains(err.Error(), "conn busy")
}

// citusWorkerLost reports whether a Citus coordinator's error says that
// its connection to a worker broke while the transaction used it: the
// worker crashed, restarted or was killed (kill -9, the OOM killer) in the
// middle of a COPY or a two-phase commit. The coordinator then aborts the
// whole transaction, as it does when a server goes away, but it says so
// without a connection SQLSTATE: "failed to COPY to shard N on host:port"
// (58030, io_error), "failure on connection marked as essential:
// host:port" (XX000), or libpq's own words for the lost connection passed
// on as XX000 ("server closed the connection unexpectedly", …). A worker
// it cannot reach at all is 08006 already.
func citusWorkerLost(pgErr *pgconn.PgError) bool {
	switch pgErr.Code {
	case pgerrcode.IOError:
		return strings.HasPrefix(pgErr.Message, "failed to COPY to shard ")
	case pgerrcode.InternalError:
		if strings.HasPrefix(pgErr.Message, citusEssential) {
			return true
		}
		for _, lost := range libpqConnectionLost {
			if strings.Contains(pgErr.Message, lost) {
				return true
			}
		}
	}
	return false
}

// citusEssential starts a Citus coordinator's error for a statement that
// failed on a worker: "failure on connection marked as essential:
// host:port" (XX000).
const citusEssential = "failure on connection marked as essential: "

// citusWorkerCause returns err, a coordinator's "failure on connection
// marked as essential" error, with the error the worker gave in front of
// it: kept from the WARNING the coordinator passed on just before
// (package citusnotice; the pool's connections record them when built by
// tuning.ConfigurePool). A lock not granted on a worker within the
// transaction's lock_timeout (SET LOCAL lock_timeout is propagated there,
// see TxOptions) is then 55P03, a lock timeout retried as one, not a lost
// worker. Any other err, or one without such a notice, is returned as is.
func citusWorkerCause(conn *pgconn.PgConn, err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != pgerrcode.InternalError || !strings.HasPrefix(pgErr.Message, citusEssential) {
		return err
	}
	n := citusnotice.Take(conn)
	if n == nil || citusnotice.Worker(n) != strings.TrimPrefix(pgErr.Message, citusEssential) {
		return err
	}
	worker := pgconn.PgError(*n)
	worker.Severity, worker.SeverityUnlocalized = "ERROR", "ERROR"
	return fmt.Errorf("%w, on the Citus worker %s (the coordinator: %w)", &worker, citusnotice.Worker(n), err)
}

// libpqConnectionLost are libpq's messages for a connection that broke
// under a statement, which a Citus coordinator passes on from a worker.
var libpqConnectionLost = []string{
	"server closed the connection unexpectedly",
	"could not receive data from server",
	"could not send data to server",
	"no connection to the server",
	"connection not open",
}

// DataError reports whether err is the database refusing the data itself
// (SQLSTATE class 22, data exception, or 23, integrity constraint
// violation), which no retry cures but which splitting the batch can
// isolate. A conflict between concurrent writers that is retryable is not
// one, nor is a row that found no partition (NoPartition): the partition
// is missing, not the row wrong, and splitting would drop every row of it.
func DataError(err error) bool {
	if Transient(err) || NoPartition(err) {
		return false
	}
	c := Code(err)
	return strings.HasPrefix(c, "22") || strings.HasPrefix(c, "23") || c == pgerrcode.ProgramLimitExceeded
}

// withRetry runs fn in a transaction, running it again after a transient
// failure (see Transient) as the Store's RetryPolicy allows, with a WARN
// line per retry. Its error has passed through Interpret.
func (s *Store) withRetry(ctx context.Context, fn func(pgx.Tx) error) error {
	return Interpret("write", s.retry(ctx, "write", func(ctx context.Context) error {
		return WithTx(ctx, s.pool, TxOptions{JITOff: s.localJITOff}, func(tx pgx.Tx) error {
			if err := fn(tx); err != nil {
				return err
			}
			// A load's write commits only while the load holds its feed
			// (WithFeedLoad), asked last, right before the COMMIT.
			return s.checkLoadHeld(ctx, tx)
		})
	}))
}

// Permanent marks err as not worth retrying whatever its cause: Transient
// reports false for it, while errors.Is and errors.As still see through it
// (a connection lost in the middle of a migration that runs outside a
// transaction, which may have done part of its work).
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// retry runs op as Retry does, with the Store's policy and logger.
func (s *Store) retry(ctx context.Context, what string, op func(context.Context) error) error {
	return Retry(ctx, s.retryPolicy, s.log, what, op)
}

// Retry runs op until it succeeds, fails with an error that is not
// transient (Transient), or p's tries are spent, waiting p.Wait between
// tries, with a log line per retry (WARN; INFO for a lock conflict with a
// concurrent writer) and one when it gives up; what names op in the log.
// Every write of a Store retries through it, and so does intel migrate
// up: one rule for both.
func Retry(ctx context.Context, p RetryPolicy, log *slog.Logger, what string, op func(context.Context) error) error {
	p = p.WithDefaults()
	if p.Budget > 0 {
		budget := fmt.Errorf("%w: %s gave up after %s (RetryPolicy.Budget)", ErrRetryBudget, what, p.Budget)
		bctx, cancel := context.WithTimeoutCause(ctx, p.Budget, budget)
		defer cancel()
		err := Retry(bctx, RetryPolicy{Attempts: p.Attempts, Base: p.Base, Max: p.Max, Recovery: p.Recovery}, log, what, op)
		if err != nil && ctx.Err() == nil && bctx.Err() != nil && !errors.Is(err, ErrRetryBudget) {
			err = fmt.Errorf("%w: %w", budget, err) // the budget, not the caller, ended it
		}
		return err
	}
	var err error
	var recovery recoveryWait
	for attempt := 1; ; attempt++ {
		err = op(ctx)
		if err != nil && ctx.Err() != nil && Transient(err) {
			// The caller's context ended as op met a fault that would
			// have been retried (its connection terminated by a restart
			// while a Close gave up, or Ctrl-C): say that the caller
			// stopped it, as when it ends between tries. Before, the
			// fault alone was returned (a TelemetryWriter caller was told
			// `terminating connection due to administrator command`,
			// and no errors.Is(err, context.Canceled) held).
			return errors.Join(err, context.Cause(ctx))
		}
		if err == nil || !Transient(err) || ctx.Err() != nil {
			return err
		}
		if p.Recovery > 0 && ServerStarting(err) {
			d, gaveUp := recovery.next(ctx, p, log, what, err)
			if gaveUp != nil {
				return gaveUp
			}
			attempt-- // not a try: the server said it is coming back
			select {
			case <-ctx.Done():
				return errors.Join(err, context.Cause(ctx))
			case <-time.After(d):
			}
			continue
		}
		if attempt >= p.Attempts {
			log.WarnContext(ctx, "giving up retrying "+what, "attempts", attempt, "err", err)
			return err
		}
		d := p.Wait(attempt)
		level := slog.LevelWarn // the connection or the server went away
		if Retryable(err) {
			level = slog.LevelInfo // a concurrent writer won a lock
		}
		log.Log(ctx, level, "retrying "+what+" after a transient failure", "attempt", attempt, "of", p.Attempts,
			"wait", d.Round(time.Millisecond).String(), "err", err)
		select {
		case <-ctx.Done():
			return errors.Join(err, context.Cause(ctx))
		case <-time.After(d):
		}
	}
}

// recoveryWait is Retry's wait for a server that says it is starting up
// (see RetryPolicy.Recovery).
type recoveryWait struct {
	since, said time.Time
}

// recoveryProgressEvery is how often a long wait for a starting server
// says how long it has waited.
const recoveryProgressEvery = 15 * time.Second

// next says how long to wait before asking the starting server again, or,
// once p.Recovery has passed, the error to give up with.
func (w *recoveryWait) next(ctx context.Context, p RetryPolicy, log *slog.Logger, what string, err error) (time.Duration, error) {
	now := time.Now()
	if w.since.IsZero() {
		w.since, w.said = now, now
		log.WarnContext(ctx, "the server is starting up (crash recovery, or a restart): "+what+" waits for it",
			"up_to", p.Recovery.String(), "err", err)
	}
	waited := now.Sub(w.since)
	if waited >= p.Recovery {
		log.WarnContext(ctx, "giving up waiting for the server to start: "+what, "waited", waited.Round(time.Second).String(), "err", err)
		return 0, fmt.Errorf("%w after %s of waiting (RetryPolicy.Recovery; intel's --server-start-wait): %w",
			ErrServerStillStarting, waited.Round(time.Second), err)
	}
	if now.Sub(w.said) >= recoveryProgressEvery {
		w.said = now
		log.InfoContext(ctx, "still waiting for the server to start: "+what,
			"waited", waited.Round(time.Second).String(), "up_to", p.Recovery.String())
	}
	return min(p.Max, time.Second, p.Recovery-waited), nil
}
