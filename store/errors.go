package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Sentinel errors of the store. Every database error a Store method returns
// has passed through Interpret, so callers test these with errors.Is and
// never look at pgx or SQLSTATE codes themselves.
var (
	// ErrNotFound means the row asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict means a write broke a unique constraint that a retry
	// would break again.
	ErrConflict = errors.New("conflict")
	// ErrRetryable means the statement failed only because of a concurrent
	// transaction (deadlock, serialization failure, lock timeout); running
	// it again may succeed.
	ErrRetryable = errors.New("retryable")
	// ErrOutcomeUnknown means a telemetry write (TelemetryWriter.Append,
	// AppendTelemetry) sent the COMMIT of a transaction holding edges,
	// lost the answer with the connection, and could not then ask the
	// server whether that transaction committed (the server silent or
	// gone, through the retries or past a Close that gave up): those edges
	// may be stored or not. Every other error of a telemetry write means
	// the edges it names are not stored. Writing them again may store them
	// twice (telemetry_edges is a log); look for them first, or count them
	// as possibly lost. A checkpointed input (AppendTelemetryInput) needs
	// neither: its rerun writes only what its checkpoint lacks. Such an
	// error is never retried (Transient is false for it).
	ErrOutcomeUnknown = errors.New("outcome unknown: the COMMIT was sent, its answer lost, and the server could not be asked whether it landed")
)

// nodesKindKey is the unique constraint on nodes (kind, key): two writers
// inserting the same new node at once trip over it, and on retry the
// loser merges instead.
const nodesKindKey = "nodes_kind_key_key"

// Interpret translates a database error into the store's errors, wrapping
// it with what (a lower-case phrase naming the operation): no rows becomes
// ErrNotFound; a deadlock, a serialization failure, a lock not granted in
// time or a concurrent insert of the same node becomes ErrRetryable; any
// other unique violation becomes ErrConflict. The original error stays in
// the chain. nil stays nil.
func Interpret(what string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict) || errors.Is(err, ErrRetryable):
		return fmt.Errorf("%s: %w", what, err) // translated already
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	case Retryable(err):
		return fmt.Errorf("%s: %w: %w", what, ErrRetryable, err)
	case Code(err) == pgerrcode.UniqueViolation:
		return fmt.Errorf("%s: %w: %w", what, ErrConflict, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Code returns the SQLSTATE of a PostgreSQL error anywhere in err's chain
// (compare it with the names in github.com/jackc/pgerrcode), or "".
func Code(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// Retryable reports whether err means a transaction failed only because of
// a concurrent one: a deadlock, a serialization failure, a lock not granted
// within lock_timeout, or two writers inserting the same new node at once.
func Retryable(err error) bool {
	if errors.Is(err, ErrRetryable) {
		return true
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch pgErr.Code {
	case pgerrcode.DeadlockDetected, pgerrcode.SerializationFailure, pgerrcode.LockNotAvailable:
		return true
	case pgerrcode.UniqueViolation:
		return pgErr.ConstraintName == nodesKindKey
	}
	return false
}

// ServerLimit names the server setting whose limit ended the statement,
// transaction or session that err comes from: statement_timeout (57014,
// not a cancel request), lock_timeout (55P03 of a lock timeout),
// idle_in_transaction_session_timeout (25P03), idle_session_timeout
// (57P05), transaction_timeout (25P04, PostgreSQL 17) or temp_file_limit
// (53400: a sort or hash spilled past work_mem into more temporary file
// space than the limit allows). It returns ""
// for any other error. Such a limit is set by whoever runs the server (for
// the role, the database or the whole server): the caller can say which and
// where, instead of a bare SQLSTATE.
func ServerLimit(err error) string {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return ""
	}
	switch pgErr.Code {
	case pgerrcode.QueryCanceled:
		// The client cancelled (its context ended: Ctrl-C, --timeout, a
		// caller's cancel) and knows it, whatever the server said.
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return ""
		}
		// pg_cancel_backend, another client's cancel request; in the
		// server's English. In another lc_messages the words cannot tell
		// it from the limit: (*Store).CancelledByLimit asks the server.
		if strings.Contains(pgErr.Message, "user request") {
			return ""
		}
		return "statement_timeout"
	case pgerrcode.LockNotAvailable:
		// The server's words follow its lc_messages: with German ones
		// ("storniere Anfrage wegen Zeitüberschreitung einer Sperre") a
		// lock_timeout went unnamed. Only NOWAIT, which intel never asks
		// for, fails this way without a timeout; it is told by its English
		// words ("could not obtain lock on …").
		if !strings.HasPrefix(pgErr.Message, "could not obtain lock") {
			return "lock_timeout"
		}
	case pgerrcode.IdleInTransactionSessionTimeout:
		return "idle_in_transaction_session_timeout"
	case pgerrcode.IdleSessionTimeout:
		return "idle_session_timeout"
	case "25P04":
		return "transaction_timeout"
	case pgerrcode.ConfigurationLimitExceeded:
		// 53400 is also other limits (none a session of intel meets);
		// the setting's name stays untranslated in every lc_messages
		// ("Größe der temporären Datei überschreitet temp_file_limit").
		if strings.Contains(pgErr.Message, "temp_file_limit") {
			return "temp_file_limit"
		}
	}
	return ""
}

// serverLimitWhat says what each limit ServerLimit names did.
var serverLimitWhat = map[string]string{
	"statement_timeout":                   "a statement ran longer than the server's statement_timeout",
	"lock_timeout":                        "a lock was not granted within the server's lock_timeout (the wait was retried, and timed out each time)",
	"idle_in_transaction_session_timeout": "the server closed a connection whose transaction waited longer than its idle_in_transaction_session_timeout",
	"idle_session_timeout":                "the server closed a connection idle longer than its idle_session_timeout",
	"transaction_timeout":                 "a transaction ran longer than the server's transaction_timeout",
	"temp_file_limit": "a statement needed more temporary file space than the server's temp_file_limit allows " +
		"(its sorts and hashes spill past work_mem to temporary files; raise temp_file_limit, or work_mem)",
}

// ExplainServerLimit prefixes err, when a server limit ended it (see
// ServerLimit), with what that limit did and its name; when the server
// refused a write because it is read-only (see ReadOnly), refused the
// role the privilege (42501), or found no partition for a row (see
// NoPartition), with that; other errors come back unchanged. The error
// chain is kept.
func ExplainServerLimit(err error) error {
	if name := ServerLimit(err); name != "" {
		return fmt.Errorf("%s: %w", serverLimitWhat[name], err)
	}
	if ReadOnly(err) {
		return fmt.Errorf("%s: %w", readOnlyWhat, err)
	}
	if Code(err) == pgerrcode.InsufficientPrivilege {
		return fmt.Errorf("%s: %w", privilegeWhat, err)
	}
	if NoPartition(err) {
		return fmt.Errorf("%s: %w", noPartitionWhat, err)
	}
	return err
}

// privilegeWhat says why the server refused a statement with
// insufficient_privilege (42501): most often a load run by a role that
// may only read.
const privilegeWhat = "the connected role may not do this (permission denied): loads need a role with the writer's privileges " +
	"(intel roles create, then GRANT <prefix>_writer TO <login role>), migrations and partition upkeep the owner's"

// readOnlyWhat says why a read-only server refused a write.
const readOnlyWhat = "the server is read-only (a hot standby, or default_transaction_read_only = on): writes must go to the primary"

// ReadOnly reports whether err is a write refused by a read-only
// transaction (25006): the server is a hot standby, or
// default_transaction_read_only is on for the role, the database or the
// server. Running the write again gives the same error.
func ReadOnly(err error) bool {
	return Code(err) == pgerrcode.ReadOnlySQLTransaction
}

// ExplainServerLimitText says what the limit named name (see ServerLimit)
// did, or "" for a name it does not know.
func ExplainServerLimitText(name string) string { return serverLimitWhat[name] }

// NoPartition reports whether err is a row the server could not route to
// a partition: "no partition of relation … found for row" (SQLSTATE
// 23514, a check violation, but of no constraint). For telemetry_edges,
// whose default partition takes the rows of days without one, that means
// the default partition was dropped or detached: the rows are not at
// fault, and dropping them as refused data would lose them. On Citus the
// coordinator relays a worker's refusal of a shard's row as an internal
// error (XX000) with PostgreSQL's message, which it recognises by that
// message (no data error either way: the load fails, nothing is dropped).
func NoPartition(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	return pgErr.Code == pgerrcode.CheckViolation && pgErr.ConstraintName == "" ||
		pgErr.Code == pgerrcode.InternalError && strings.HasPrefix(pgErr.Message, "no partition of relation ")
}

// noPartitionWhat says why rows found no partition, and what brings them in.
const noPartitionWhat = "no partition takes these telemetry rows: the default partition of telemetry_edges is gone " +
	"(dropped or detached while the load ran?); 'intel partitions ensure' (or any intel command, on startup) makes it again, " +
	"then the same load writes the rest"

// statementTimeoutEnglish is PostgreSQL's message for a statement_timeout
// in its own language (lc_messages C or en).
const statementTimeoutEnglish = "canceling statement due to statement timeout"

// ServerLimitOf is ServerLimit, which also tells a statement cancelled on
// request (pg_cancel_backend, a cancel request another client sent) from
// one stopped by statement_timeout when the server speaks a language other
// than English (lc_messages = 'de_DE.UTF-8': "storniere Anfrage wegen
// Benutzeraufforderung" and "storniere Anfrage wegen Zeitüberschreitung der
// Anweisung", both SQLSTATE 57014): it asks the server for its own words for
// a statement timeout, in a transaction of its own with SET LOCAL
// statement_timeout = 1ms, and names statement_timeout only when err's are
// those. Before, every such cancel was blamed on statement_timeout when
// that was set. When the server cannot be asked, it answers as ServerLimit.
func ServerLimitOf(ctx context.Context, db Beginner, err error) string {
	name := ServerLimit(err)
	var pgErr *pgconn.PgError
	if name != "statement_timeout" || db == nil || !errors.As(err, &pgErr) || pgErr.Message == statementTimeoutEnglish {
		return name
	}
	words, qerr := statementTimeoutWords(ctx, db)
	if qerr != nil || words == "" {
		return name
	}
	if words != pgErr.Message {
		return "" // a cancel on request, in the server's language
	}
	return name
}

// statementTimeoutWords returns the server's message for a statement
// timeout in the session's lc_messages, by running into one.
func statementTimeoutWords(ctx context.Context, db Beginner) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var words string
	err := WithTx(ctx, db, TxOptions{}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL statement_timeout = '1ms'"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "SELECT pg_sleep(0.5)")
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == pgerrcode.QueryCanceled {
			words = pgErr.Message
			return errProbeDone // roll back
		}
		if err == nil {
			return errors.New("pg_sleep outlived a statement_timeout of 1ms")
		}
		return err
	})
	if errors.Is(err, errProbeDone) {
		return words, nil
	}
	return "", err
}

var errProbeDone = errors.New("probe done")

// ExplainServerLimitAs is ExplainServerLimit with the limit named as
// ServerLimitOf named it ("": none, and err is explained as
// ExplainServerLimit explains errors of no limit).
func ExplainServerLimitAs(name string, err error) error {
	if name != "" {
		return fmt.Errorf("%s: %w", serverLimitWhat[name], err)
	}
	if ServerLimit(err) != "" {
		if Code(err) == pgerrcode.QueryCanceled {
			return fmt.Errorf("%s: %w", cancelledWhat, err)
		}
		return err
	}
	return ExplainServerLimit(err)
}

// cancelledWhat says what a statement cancelled on request was.
const cancelledWhat = "the server cancelled a statement on request (pg_cancel_backend, or a cancel another client sent), not by a timeout"

// ServerLimitOf is ServerLimitOf on the Store's pool.
func (s *Store) ServerLimitOf(ctx context.Context, err error) string {
	return ServerLimitOf(ctx, s.pool, err)
}
