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
// Nor does a work_mem below 4MB stay (raised to 4MB, the server's
// default, for the migration's sessions alone): catalog reads such as
// migration 00022's look at pg_settings, which the server gathers in
// work_mem and spills to a temporary file, so work_mem = 64kB with
// temp_file_limit = 64kB for the role or the database stopped every
// migration, and with it the local cluster's every command. An index a
// migration builds sorts in maintenance_work_mem, which stays as given
// (and a temp_file_limit too small for it stops that migration, named).
// lock_timeout and the other settings stay as the server gives them. cc is
// copied; close the handle when done.
func OpenDB(cc *pgx.ConnConfig) *sql.DB {
	return stdlib.OpenDB(*cc.Copy(), stdlib.OptionAfterConnect(func(ctx context.Context, conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, `SELECT set_config('statement_timeout', '0', false),
			CASE WHEN pg_size_bytes(current_setting('work_mem')) < 4194304
				THEN set_config('work_mem', '4MB', false) END`)
		return err
	}))
}
