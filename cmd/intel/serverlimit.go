package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ransomeye/intel/partman"
	"github.com/ransomeye/intel/store"
)

// explainPooledStatements says what a prepared statement of pgx's cache
// that the server does not know, or knows already, means: a connection
// pooler in transaction mode (PgBouncer with ignore_startup_parameters =
// jit, or one that takes the jit parameter) hands each transaction to
// another server connection. Before, the line said only `prepared statement
// "stmtcache_…" already exists (SQLSTATE 42P05)`. Other errors come back
// unchanged.
func explainPooledStatements(err error) error {
	// By its text too: a feed's error reaches here as text (ingest keeps
	// it so), its SQLSTATE in the words.
	msg := err.Error()
	code := store.Code(err)
	if strings.Contains(msg, `prepared statement "stmtcache_`) &&
		(code == pgerrcode.DuplicatePreparedStatement || code == pgerrcode.InvalidSQLStatementName ||
			strings.Contains(msg, "(SQLSTATE "+pgerrcode.DuplicatePreparedStatement+")") ||
			strings.Contains(msg, "(SQLSTATE "+pgerrcode.InvalidSQLStatementName+")")) {
		return fmt.Errorf("a prepared statement of this connection was not the server's: a connection pooler in transaction "+
			"mode (PgBouncer) is in front; add default_query_exec_mode=exec to the URL (docs/scale.md): %w", err)
	}
	return err
}

// explainServerLimit prefixes err, when a server limit (a timeout set for
// the role, the database or the server) ended it, or a write was refused by
// default_transaction_read_only (a hot standby is said to be one), with that setting's name,
// its value and where it was set, read from pg_settings on a connection of
// pool (nil: not read), so the reader knows what to change. Other errors
// come back unchanged.
func explainServerLimit(pool *pgxpool.Pool, err error) error {
	if errors.Is(err, partman.ErrLockTimeout) {
		// partman's own lock_timeout (SET LOCAL, --lock-timeout), which its
		// error names with its value: no server setting to blame. Before,
		// the line said "the server's lock_timeout (lock_timeout = 0,
		// source: default)".
		return fmt.Errorf("another session held a lock the partitions need for longer than the partition upkeep waits "+
			"(a long transaction on the table?); nothing was changed for that day, a later run tries again: %w", err)
	}
	name := store.ServerLimit(err)
	if name == "statement_timeout" && pool != nil {
		// pg_cancel_backend in a server speaking German says so in
		// German, with the SQLSTATE of a statement_timeout: the server is
		// asked for its words for a timeout.
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		name = store.ServerLimitOf(ctx, pool, err)
		cancel()
		if name == "" {
			return store.ExplainServerLimitAs("", err)
		}
	}
	var fl feedLimitError
	if name == "" && errors.As(err, &fl) {
		name = fl.limit // a feed's error, kept as text by ingest, explained there
	}
	if name == "" && store.ReadOnly(err) {
		name = "default_transaction_read_only"
	}
	if name == "" || pool == nil {
		return store.ExplainServerLimit(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	what := store.ExplainServerLimitText(name)
	if name == "default_transaction_read_only" {
		var standby bool
		if qerr := pool.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&standby); qerr != nil || standby {
			return store.ExplainServerLimit(err) // a standby says so: no setting to name
		}
		what = "the server refused a write: the transaction is read-only"
	}
	value, source, role, workMem, qerr := readSetting(ctx, pool, name)
	if qerr != nil {
		return store.ExplainServerLimit(err)
	}
	if name == "statement_timeout" && value == "0" && fl.limit == "" {
		// No limit: a cancel (pg_cancel_backend) told in a language
		// other than English (lc_messages), which ServerLimit cannot
		// tell from a timeout by its words.
		return err
	}
	where := map[string]string{
		"user":               fmt.Sprintf("set for role %s: ALTER ROLE %s SET %s = …, or RESET %s", role, role, name, name),
		"database":           fmt.Sprintf("set for this database: ALTER DATABASE … SET %s = …, or RESET %s", name, name),
		"database user":      fmt.Sprintf("set for role %s in this database: ALTER ROLE %s IN DATABASE … SET %s = …, or RESET %s", role, role, name, name),
		"configuration file": fmt.Sprintf("set in the server's configuration: raise it for role %s with ALTER ROLE %s SET %s = …", role, role, name),
		"client":             "set by the client (PGOPTIONS or the URL's options)",
		"session":            "set by the client (PGOPTIONS or the URL's options)",
	}[source]
	if where == "" {
		where = "source: " + source
	}
	if name == "temp_file_limit" {
		where += "; work_mem = " + workMem
	}
	if fl.limit != "" {
		return fmt.Errorf("%w (%s = %s, %s)", err, name, value, where)
	}
	return fmt.Errorf("%s (%s = %s, %s): %w", what, name, value, where, err)
}

// readSetting reads a setting's value and source (pg_settings), the role
// connected and its work_mem, in a transaction of its own whose work_mem
// is 4MB (SET LOCAL): pg_settings is gathered in work_mem and spills the
// rest to a temporary file, so under work_mem = 64kB and temp_file_limit =
// 64kB the read of the setting that stopped a statement failed the same
// way, and the line did not name it.
func readSetting(ctx context.Context, pool *pgxpool.Pool, name string) (value, source, role, workMem string, err error) {
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, "SELECT current_setting('work_mem'), set_config('work_mem', '4MB', true)").Scan(&workMem, new(string)); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT current_setting($1), source, current_user FROM pg_settings WHERE name = $1`, name).
			Scan(&value, &source, &role)
	})
	return value, source, role, workMem, err
}

// feedLimitError is the error of a feed run in which a feed failed on a
// server limit (ingest.Result.ServerLimit): its text says so already.
type feedLimitError struct {
	error
	limit string
}

func (e feedLimitError) Unwrap() error { return e.error }
