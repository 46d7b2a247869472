package store

import (
	"errors"
	"fmt"

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
