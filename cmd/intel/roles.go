package main

import (
	"context"
	"io"
	"slices"

	"github.com/spf13/cobra"

	"github.com/ransomeye/intel/partman"
)

func (a *app) rolesCommand() *cobra.Command {
	var prefix, format string
	create := &cobra.Command{
		Use:         "create",
		Annotations: cutNote("it runs in one transaction: nothing was changed"),
		Short:       "Create the owner, writer and reader roles and grant them their privileges (idempotent)",
		Long: `create makes three NOLOGIN roles and prints every statement it runs:

  <prefix>_owner   owns the tables and functions (ownership is transferred to
                   it); runs migrations and partition upkeep (intel partitions
                   ensure, prune, maintain). Connect as a member with
                   options=-c role=<prefix>_owner so that the partitions made
                   belong to the role.
  <prefix>_writer  reads and writes rows: ingest stix, misp, telemetry, feeds.
                   It cannot make partitions: telemetry of a day without one
                   goes to the default partition and is counted in the report.
  <prefix>_reader  reads only: related, partitions list and check.

Grant them to login roles (GRANT intel_reader TO alice). Commands run by a
writer or reader skip the startup partition upkeep with one notice. Run it
again after new migrations: it creates nothing twice, and grants on the new
tables. It needs a role allowed to create roles (CREATEROLE or superuser).`,
		Example: `  intel roles create
  intel roles create --prefix ransomeye --format json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runRolesCreate(cmd.Context(), prefix, format)
		},
	}
	create.Flags().StringVar(&prefix, "prefix", partman.DefaultRolePrefix, "role names: <prefix>_owner, <prefix>_writer, <prefix>_reader")
	create.Flags().StringVar(&format, "format", "table", "table or json")
	return group(&cobra.Command{
		Use:   "roles",
		Short: "Least-privilege database roles: owner, writer, reader",
		Long: `roles makes the database roles a deployment runs intel as, each with only the
privileges its work needs: an owner (migrations and partition upkeep), a writer
(loads) and a reader (queries). They are NOLOGIN roles, granted to the login
roles of people and services. intel roles create --help says what each may do.`,
		Example: `  intel roles create
  intel roles create --prefix ransomeye --format json`,
	}, create)
}

func (a *app) runRolesCreate(ctx context.Context, prefix, format string) error {
	if err := formatFlag(format, "table", "json"); err != nil {
		return err
	}
	pool, err := a.openPool(ctx)
	if err != nil {
		return err
	}
	if err := a.checkSchema(ctx, pool); err != nil {
		return err
	}
	res, err := partman.CreateRoles(ctx, pool, partman.RolesOptions{Prefix: prefix})
	if err != nil {
		return err
	}
	return printAs(a.stdout, format, res, writeRolesResult)
}

// writeRolesResult says which roles were created or existed, then the
// statements run.
func writeRolesResult(w io.Writer, r partman.RolesResult) error {
	p := newPrinter(w)
	for _, role := range []string{r.Owner, r.Writer, r.Reader} {
		if slices.Contains(r.Created, role) {
			p.printf("created role %s\n", role)
		} else {
			p.printf("role %s exists\n", role)
		}
	}
	p.printf("schema %s: %d statements\n", r.Schema, len(r.Statements))
	for _, s := range r.Statements {
		p.printf("  %s;\n", s)
	}
	if len(r.Skipped) > 0 {
		p.printf("not allowed to this role; run as the owner of the database or schema:\n")
		for _, s := range r.Skipped {
			p.printf("  %s;\n", s)
		}
	}
	return p.flush()
}
