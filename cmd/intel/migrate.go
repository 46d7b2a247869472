package main

import (
	"fmt"
	"strconv"
	"text/tabwriter"

	"github.com/pressly/goose/v3"
	"github.com/spf13/cobra"

	"github.com/ransomeye/intel/db/migrations"
)

func (a *app) migrateCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply or inspect the schema migrations (goose, embedded)",
		Long: `The migrations are the goose SQL files of db/migrations, embedded in intel.
A release pipeline can run the same files with the plain goose CLI:

  goose -dir db/migrations postgres "$DATABASE_URL" up

Concurrent runs are safe: a PostgreSQL session lock serializes them.`,
		Example: `  intel migrate up
  intel migrate status --format json
  intel migrate down --to 0`,
	}
	var format string
	var to int64
	withProvider := func(run func(cmd *cobra.Command, p *goose.Provider) error) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, _ []string) error {
			if err := formatFlag(format, "table", "json"); err != nil {
				return err
			}
			db, err := a.sqlDB(cmd.Context())
			if err != nil {
				return err
			}
			defer db.Close()
			p, err := migrations.NewProvider(db)
			if err != nil {
				return err
			}
			return run(cmd, p)
		}
	}
	up := &cobra.Command{
		Use:     "up",
		Short:   "Migrate to the latest version",
		Example: "  intel migrate up",
		Args:    cobra.NoArgs,
		RunE: withProvider(func(cmd *cobra.Command, p *goose.Provider) error {
			res, err := p.Up(cmd.Context())
			if err != nil {
				return fmt.Errorf("migrate up: %w", err)
			}
			return a.printResults(format, res)
		}),
	}
	down := &cobra.Command{
		Use:     "down",
		Short:   "Roll back the latest migration (or down to --to VERSION)",
		Example: "  intel migrate down\n  intel migrate down --to 0",
		Args:    cobra.NoArgs,
		RunE: withProvider(func(cmd *cobra.Command, p *goose.Provider) error {
			if cmd.Flags().Changed("to") {
				res, err := p.DownTo(cmd.Context(), to)
				if err != nil {
					return fmt.Errorf("migrate down to %d: %w", to, err)
				}
				return a.printResults(format, res)
			}
			res, err := p.Down(cmd.Context())
			if err != nil {
				return fmt.Errorf("migrate down: %w", err)
			}
			return a.printResults(format, []*goose.MigrationResult{res})
		}),
	}
	down.Flags().Int64Var(&to, "to", 0, "roll back to this version (0: everything)")
	status := &cobra.Command{
		Use:     "status",
		Short:   "List the migrations and whether each is applied",
		Example: "  intel migrate status --format json",
		Args:    cobra.NoArgs,
		RunE: withProvider(func(cmd *cobra.Command, p *goose.Provider) error {
			st, err := p.Status(cmd.Context())
			if err != nil {
				return fmt.Errorf("migration status: %w", err)
			}
			if format == "json" {
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
				return writeJSON(a.stdout, out)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "VERSION\tMIGRATION\tSTATE\tAPPLIED AT")
			for _, s := range st {
				applied := ""
				if !s.AppliedAt.IsZero() {
					applied = s.AppliedAt.UTC().Format("2006-01-02 15:04:05Z")
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", s.Source.Version, s.Source.Path, s.State, applied)
			}
			return tw.Flush()
		}),
	}
	version := &cobra.Command{
		Use:     "version",
		Short:   "Print the schema version of the database",
		Example: "  intel migrate version",
		Args:    cobra.NoArgs,
		RunE: withProvider(func(cmd *cobra.Command, p *goose.Provider) error {
			v, err := p.GetDBVersion(cmd.Context())
			if err != nil {
				return fmt.Errorf("read schema version: %w", err)
			}
			pending, err := p.HasPending(cmd.Context())
			if err != nil {
				return fmt.Errorf("read schema version: %w", err)
			}
			if format == "json" {
				return writeJSON(a.stdout, map[string]any{"version": v, "pending": pending})
			}
			suffix := ""
			if pending {
				suffix = " (migrations pending: run 'intel migrate up')"
			}
			_, err = fmt.Fprintln(a.stdout, strconv.FormatInt(v, 10)+suffix)
			return err
		}),
	}
	for _, c := range []*cobra.Command{up, down, status, version} {
		c.Flags().StringVar(&format, "format", "table", "table or json")
		cmd.AddCommand(c)
	}
	return cmd
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
		fmt.Fprintf(a.stdout, "%-4s %05d %s (%s)\n", r.Direction, r.Source.Version, r.Source.Path, r.Duration.Round(1e6))
	}
	return nil
}
