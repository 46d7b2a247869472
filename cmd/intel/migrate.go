package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/spf13/cobra"

	"github.com/ransomeye/intel/db/migrations"
	"github.com/ransomeye/intel/store"
)

// migrateOptions are the flags of the migrate commands; to (with toSet) is
// the target of migrate down.
type migrateOptions struct {
	format string
	to     int64
	toSet  bool
	up     bool // migrate up
}

func (a *app) migrateCommand() *cobra.Command {
	var o migrateOptions
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply or inspect the schema migrations (goose, embedded)",
		Long: `The migrations are the goose SQL files of db/migrations, embedded in intel.
A release pipeline can run the same files with the plain goose CLI:

  goose -dir db/migrations postgres "$DATABASE_URL" up

Concurrent runs are safe: a PostgreSQL session lock serializes them.

Migration 11 and every name search need the extension pg_trgm on the
session's search_path. Installed in another schema (extensions, say), put
that schema on the path of intel's role (ALTER ROLE … SET search_path =
"$user", public, extensions) or in the URL (?search_path=public,extensions):
intel migrate up refuses, before it applies anything, a path that leaves it
out, but the plain goose CLI stops at migration 11 with ten applied
(operator class "gin_trgm_ops" does not exist); with the path set, run it
again: it goes on from 11.`,
		Example: `  intel migrate up
  intel migrate status --format json
  intel migrate down --to 26     # drops what 27 made, with its data`,
	}
	// subcommand declares a subcommand without arguments that runs do
	// with a goose provider on the database.
	subcommand := func(c *cobra.Command, do func(context.Context, *goose.Provider, migrateOptions) error) *cobra.Command {
		c.Args = noArgs
		c.RunE = func(cmd *cobra.Command, _ []string) error {
			o.toSet = cmd.Flags().Changed("to")
			o.up = cmd.Name() == "up"
			return a.withMigrations(cmd.Context(), o, do)
		}
		c.Flags().StringVar(&o.format, "format", "table", "table or json")
		return c
	}
	down := subcommand(&cobra.Command{
		Use:         "down",
		Annotations: cutNote("each migration is a transaction of its own: the one cut rolled back; intel migrate status says where the schema is"),
		Short:       "Roll back the latest migration (or down to --to VERSION)",
		Long: `down runs the Down section of the latest migration (or of every one after
--to VERSION). A Down drops what its Up made, rows included: --to 0 drops every
table, the whole graph and all telemetry, without asking. Take a backup first.`,
		Example: "  intel migrate down\n  intel migrate down --to 26",
	}, a.runMigrateDown)
	down.Flags().Int64Var(&o.to, "to", 0, "roll back to this version (0: everything)")
	intRange(down.Flags(), "to", 0, noMax)
	return group(cmd,
		subcommand(&cobra.Command{
			Use:         "up",
			Annotations: cutNote("each migration is a transaction of its own: the one cut rolled back; intel migrate status says where the schema is"),
			Short:       "Migrate to the latest version",
			Example:     "  intel migrate up",
		}, a.runMigrateUp),
		down,
		subcommand(&cobra.Command{
			Use:         "status",
			Annotations: readOnlyCut,
			Short:       "List the migrations and whether each is applied",
			Example:     "  intel migrate status --format json",
		}, a.runMigrateStatus),
		subcommand(&cobra.Command{
			Use:     "version",
			Short:   "Print the schema version of the database",
			Example: "  intel migrate version",
		}, a.runMigrateVersion),
	)
}

// withMigrations checks --format, opens the database and runs do with the
// goose provider of the embedded migrations.
func (a *app) withMigrations(ctx context.Context, o migrateOptions, do func(context.Context, *goose.Provider, migrateOptions) error) error {
	if err := formatFlag(o.format, "table", "json"); err != nil {
		return err
	}
	db, err := a.sqlDB(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := schemaOnSearchPath(ctx, db); err != nil {
		return err
	}
	p, err := migrations.NewProvider(db)
	if err != nil {
		return err
	}
	var migrated bool
	if err := db.QueryRowContext(ctx, "SELECT to_regclass(quote_ident(current_schema()) || '.goose_db_version') IS NOT NULL").Scan(&migrated); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if !migrated {
		// Another schema first on purpose (a second intel in one database)
		// migrates as asked; by mistake, the warning says where the
		// tables are.
		if err := notMigratedHere(ctx, db); err != nil {
			a.log.Warn("migrations make a new set of intel's tables in the first schema of the search_path: " + err.Error())
		}
	}
	if o.up {
		if err := utf8Database(ctx, db); err != nil {
			return err
		}
		if err := trgmOnSearchPath(ctx, db); err != nil {
			return err
		}
	}
	return do(ctx, p, o)
}

func (a *app) runMigrateUp(ctx context.Context, p *goose.Provider, o migrateOptions) error {
	if err := schemaNotNewer(ctx, p); err != nil {
		return err // not "the schema is current"
	}
	res, err := migrateUp(ctx, p, a.log, a.serverStartWait)
	if err != nil {
		return migrationFailed(ctx, p, "migrate up", "applied", res, err)
	}
	return a.printResults(o.format, res)
}

// migrateUp migrates to the latest version, and when the connection or the
// server goes away (store.Transient: 57P01 of pg_terminate_backend or a
// restart, a refused or reset connection) runs the rest again with the
// store's retry policy, as graph writes are retried. A goose migration
// runs in a transaction of its own, so the one cut rolled back whole and
// the next try starts with it; one that runs outside a transaction (-- +goose
// NO TRANSACTION) may have done part of its work, and its failure is not
// retried. It returns the migrations applied by every try.
func migrateUp(ctx context.Context, p *goose.Provider, log *slog.Logger, serverStartWait time.Duration) ([]*goose.MigrationResult, error) {
	var applied []*goose.MigrationResult
	policy := store.DefaultRetryPolicy
	policy.Recovery = serverStartWait
	err := store.Retry(ctx, policy, log, "migrate up", func(ctx context.Context) error {
		res, err := p.Up(ctx)
		applied = append(applied, res...)
		var pe *goose.PartialError
		if errors.As(err, &pe) {
			applied = append(applied, pe.Applied...)
			if pe.Failed != nil && pe.Failed.Source != nil && !inTransaction(pe.Failed.Source.Path) {
				return store.Permanent(err)
			}
		}
		return err
	})
	return applied, err
}

// inTransaction reports whether the embedded migration at path runs in a
// transaction (has no "-- +goose NO TRANSACTION"); false when it cannot
// be read.
func inTransaction(path string) bool {
	b, err := fs.ReadFile(migrations.FS, filepath.Base(path))
	return err == nil && !bytes.Contains(b, []byte("-- +goose NO TRANSACTION"))
}

func (a *app) runMigrateDown(ctx context.Context, p *goose.Provider, o migrateOptions) error {
	if err := schemaNotNewer(ctx, p); err != nil {
		return err // not goose's "version not found"
	}
	if o.toSet {
		// Above the schema's version goose rolls back nothing, and
		// "no migrations to apply: the schema is current" said nothing
		// of the mistyped version.
		v, err := p.GetDBVersion(ctx)
		if err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if o.to > v {
			return usagef("--to %d: the schema is at version %d, and down only rolls back to an older one (intel migrate up applies newer ones)", o.to, v)
		}
		res, err := p.DownTo(ctx, o.to)
		if err != nil {
			return migrationFailed(ctx, p, fmt.Sprintf("migrate down to %d", o.to), "rolled back", nil, err)
		}
		return a.printResults(o.format, res)
	}
	res, err := p.Down(ctx)
	if err != nil {
		return migrationFailed(ctx, p, "migrate down", "rolled back", nil, err)
	}
	return a.printResults(o.format, []*goose.MigrationResult{res})
}

// migrationFailed says what a failed migrate run did: which migration
// failed, whether any before it was applied (done: "applied", "rolled
// back"), and the schema's version now, with the migration's own error
// (wrapped, so a read-only server or a server limit is still explained).
// goose says "partial migration error" even when nothing was done: a
// migrate down on a read-only server read as if the schema were half
// rolled back. Other errors come back with what only.
//
// applied are the migrations the run did (nil: those err names; migrate up
// retries, and a try's error names only that try's).
func migrationFailed(ctx context.Context, p *goose.Provider, what, done string, applied []*goose.MigrationResult, err error) error {
	var pe *goose.PartialError
	if !errors.As(err, &pe) || pe.Failed == nil || pe.Failed.Source == nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if applied == nil {
		applied = pe.Applied
	}
	failed := fmt.Sprintf("migration %d (%s) failed", pe.Failed.Source.Version, filepath.Base(pe.Failed.Source.Path))
	if !inTransaction(pe.Failed.Source.Path) {
		failed += " (it runs outside a transaction: part of it may be done)"
	}
	at := "the schema's version could not be read"
	if v, verr := p.GetDBVersion(ctx); verr == nil {
		at = fmt.Sprintf("the schema is at version %d", v)
		if len(applied) == 0 {
			at = fmt.Sprintf("the schema is still at version %d", v)
		}
	}
	if len(applied) == 0 {
		return fmt.Errorf("%s: nothing was %s: %s; %s (intel migrate status lists the migrations): %w", what, done, at, failed, pe.Err)
	}
	versions := make([]string, len(applied))
	for i, r := range applied {
		versions[i] = strconv.FormatInt(r.Source.Version, 10)
	}
	return fmt.Errorf("%s: %d %s (%s), then %s; %s (intel migrate status lists the migrations): %w",
		what, len(applied), done, strings.Join(versions, ", "), failed, at, pe.Err)
}

func (a *app) runMigrateStatus(ctx context.Context, p *goose.Provider, o migrateOptions) error {
	st, err := p.Status(ctx)
	if err != nil {
		return fmt.Errorf("migration status: %w", err)
	}
	// A schema a newer intel migrated has a version no source here names:
	// listing only the known ones, all applied, looked current.
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		return fmt.Errorf("migration status: %w", err)
	}
	known := lastKnownVersion(p)
	const unknown = "(unknown to this intel: migrated by a newer one)"
	if o.format == "json" {
		type row struct {
			Version   int64  `json:"version"`
			Name      string `json:"name"`
			State     string `json:"state"`
			AppliedAt string `json:"applied_at,omitempty"`
		}
		out := []row{}
		for _, s := range st {
			r := row{Version: s.Source.Version, Name: s.Source.Path, State: string(s.State)}
			if !s.AppliedAt.IsZero() {
				r.AppliedAt = s.AppliedAt.UTC().Format("2006-01-02T15:04:05Z")
			}
			out = append(out, r)
		}
		if v > known {
			out = append(out, row{Version: v, Name: unknown, State: "applied"})
		}
		return writeJSON(a.stdout, out)
	}
	tw := newTablePrinter(a.stdout)
	tw.println("VERSION\tMIGRATION\tSTATE\tAPPLIED AT")
	for _, s := range st {
		applied := ""
		if !s.AppliedAt.IsZero() {
			applied = s.AppliedAt.UTC().Format("2006-01-02 15:04:05Z")
		}
		tw.printf("%d\t%s\t%s\t%s\n", s.Source.Version, s.Source.Path, s.State, applied)
	}
	if v > known {
		tw.printf("%d\t%s\t%s\t\n", v, unknown, "applied")
	}
	if err := tw.flush(); err != nil {
		return err
	}
	if v > known {
		a.stdout.printf("the database schema is at version %d, newer than this intel knows (%d): use the intel that migrated it, or a newer one\n", v, known)
	}
	return a.stdout.err
}

func (a *app) runMigrateVersion(ctx context.Context, p *goose.Provider, o migrateOptions) error {
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	pending, err := p.HasPending(ctx)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	known := lastKnownVersion(p)
	if o.format == "json" {
		return writeJSON(a.stdout, map[string]any{"version": v, "pending": pending, "known": known, "newer": v > known})
	}
	suffix := ""
	switch {
	case pending:
		suffix = " (migrations pending: run 'intel migrate up')"
	case v > known:
		suffix = fmt.Sprintf(" (newer than this intel knows (%d): use the intel that migrated it, or a newer one)", known)
	}
	_, err = fmt.Fprintln(a.stdout, strconv.FormatInt(v, 10)+suffix)
	return err
}

func (a *app) printResults(format string, res []*goose.MigrationResult) error {
	if format == "json" {
		type row struct {
			Version    int64  `json:"version"`
			Name       string `json:"name"`
			Direction  string `json:"direction"`
			DurationMS int64  `json:"duration_ms"`
		}
		out := []row{}
		for _, r := range res {
			out = append(out, row{r.Source.Version, r.Source.Path, r.Direction, r.Duration.Milliseconds()})
		}
		return writeJSON(a.stdout, out)
	}
	if len(res) == 0 {
		_, err := fmt.Fprintln(a.stdout, "no migrations to apply: the schema is current")
		return err
	}
	for _, r := range res {
		a.stdout.printf("%-4s %05d %s (%s)\n", r.Direction, r.Source.Version, r.Source.Path, r.Duration.Round(1e6))
	}
	return a.stdout.err
}
