package migrations

import (
	"context"
	"database/sql"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// OpenDB returns a database/sql handle for goose on the server of cc whose
// connections run without a statement_timeout (SET statement_timeout = 0
// as each connects): a migration rewrites whole tables and indexes, which
// takes as long as there are rows, so a limit set for the role or the
// database to bound ordinary queries would stop it halfway on every run.
// lock_timeout and the other settings stay as the server gives them. cc is
// copied; close the handle when done.
func OpenDB(cc *pgx.ConnConfig) *sql.DB {
	return stdlib.OpenDB(*cc.Copy(), stdlib.OptionAfterConnect(func(ctx context.Context, conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, "SET statement_timeout = 0")
		return err
	}))
}
