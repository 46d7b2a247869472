package partman

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultRolePrefix is the prefix of the roles CreateRoles makes when
// RolesOptions.Prefix is empty: intel_owner, intel_writer, intel_reader.
const DefaultRolePrefix = "intel"

// RolesOptions configure CreateRoles.
type RolesOptions struct {
	// Prefix names the roles <prefix>_owner, <prefix>_writer and
	// <prefix>_reader. Lower-case letters, digits and _, starting with a
	// letter. Default DefaultRolePrefix.
	Prefix string
	// Schema holds the tables (default: the schema of Options.Parent, as the
	// search path finds it, usually public).
	Schema string
	// Parent is the partitioned table whose schema is used when Schema is
	// empty (default DefaultParent).
	Parent string
}

// Roles are the names of the three roles.
type Roles struct {
	Owner  string `json:"owner"`
	Writer string `json:"writer"`
	Reader string `json:"reader"`
}

// RolesResult is what CreateRoles did.
type RolesResult struct {
	Roles
	// Schema is the schema the grants are on.
	Schema string `json:"schema"`
	// Created are the roles created now (the others existed).
	Created []string `json:"created"`
	// Statements are the statements run, in order; all are idempotent.
	Statements []string `json:"statements"`
	// Skipped are grants the running role may not give (it is neither
	// superuser nor owner of the database or schema): run them as the owner.
	Skipped []string `json:"skipped"`
}

var rolePrefix = regexp.MustCompile(`^[a-z][a-z0-9_]{0,40}$`)

// ErrInvalidPrefix is returned by CreateRoles for a prefix that is not a
// plain lower-case identifier.
var ErrInvalidPrefix = errors.New("invalid role prefix")

// CreateRoles makes the three roles of least privilege, as NOLOGIN group
// roles (grant them to login roles: GRANT intel_reader TO alice), and
// grants them what they need on the schema's tables, functions and
// sequences, now and — through default privileges — for tables created
// later by the owner role or by the role running it:
//
//   - <prefix>_owner owns every table, sequence and function of the schema
//     (ownership is transferred from their current owners, whose
//     privileges the running role must have), may create tables in it and
//     schemas in the database (the archive schema): it runs migrations and
//     partition upkeep (intel partitions maintain, prune). Its members should
//     connect with options=-c role=<prefix>_owner so that the partitions
//     they make belong to it too.
//   - <prefix>_writer may read and write rows of every table (loads of
//     STIX, MISP and telemetry); it cannot make partitions, so telemetry of
//     a day without one goes to the default partition, counted.
//   - <prefix>_reader may only read (intel related, partitions list).
//
// It is idempotent: run again, it creates nothing and grants nothing new,
// and it also covers tables made since. The running role must be allowed
// to create roles (CREATEROLE or superuser); a migration could not assume
// that, which is why this is a command and not a migration. Everything runs
// in one transaction.
func CreateRoles(ctx context.Context, pool *pgxpool.Pool, o RolesOptions) (RolesResult, error) {
	if o.Prefix == "" {
		o.Prefix = DefaultRolePrefix
	}
	if !rolePrefix.MatchString(o.Prefix) {
		return RolesResult{}, fmt.Errorf("create roles: %w %q: want lower-case letters, digits and _, starting with a letter", ErrInvalidPrefix, o.Prefix)
	}
	res := RolesResult{
		Roles:      Roles{Owner: o.Prefix + "_owner", Writer: o.Prefix + "_writer", Reader: o.Prefix + "_reader"},
		Created:    []string{},
		Statements: []string{},
		Skipped:    []string{},
	}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		schema, err := rolesSchema(ctx, tx, o)
		if err != nil {
			return err
		}
		res.Schema = schema
		r := rolesRun{ctx: ctx, tx: tx, res: &res}
		return r.all(schema)
	})
	if err != nil {
		return res, fmt.Errorf("create roles: %w", err)
	}
	return res, nil
}

// rolesSchema is o.Schema, or the schema of the partitioned table.
func rolesSchema(ctx context.Context, tx pgx.Tx, o RolesOptions) (string, error) {
	if o.Schema != "" {
		return o.Schema, nil
	}
	parent := o.Parent
	if parent == "" {
		parent = DefaultParent
	}
	t, err := resolve(ctx, tx, parent)
	if err != nil {
		return "", err
	}
	return t.schema, nil
}

// rolesRun runs and records CreateRoles' statements.
type rolesRun struct {
	ctx context.Context
	tx  pgx.Tx
	res *RolesResult
}

func (r rolesRun) exec(stmt string) error {
	if _, err := r.tx.Exec(r.ctx, stmt); err != nil {
		return fmt.Errorf("%s: %w", stmt, err)
	}
	r.res.Statements = append(r.res.Statements, stmt)
	return nil
}

// execIf runs stmt when the query check, given arg, says the running role
// may, and records it as skipped otherwise.
func (r rolesRun) execIf(check, arg, stmt string) error {
	var may bool
	if err := r.tx.QueryRow(r.ctx, check, arg).Scan(&may); err != nil {
		return err
	}
	if !may {
		r.res.Skipped = append(r.res.Skipped, stmt)
		return nil
	}
	return r.exec(stmt)
}

func (r rolesRun) all(schema string) error {
	ctx, tx := r.ctx, r.tx
	id := func(s string) string { return pgx.Identifier{s}.Sanitize() }
	owner, writer, reader := id(r.res.Owner), id(r.res.Writer), id(r.res.Reader)
	for _, role := range []string{r.res.Owner, r.res.Writer, r.res.Reader} {
		var exists bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1)", role).Scan(&exists); err != nil {
			return err
		}
		if exists {
			continue
		}
		if err := r.exec("CREATE ROLE " + id(role) + " NOLOGIN"); err != nil {
			return err
		}
		r.res.Created = append(r.res.Created, role)
	}
	var (
		super bool
		me    string
		db    string
	)
	if err := tx.QueryRow(ctx, `SELECT rolsuper, current_user::text, current_database()::text
		FROM pg_catalog.pg_roles WHERE rolname = current_user`).Scan(&super, &me, &db); err != nil {
		return err
	}
	// A role that is not superuser may give objects to the owner role only
	// as a member of it.
	if !super {
		var member bool
		if err := tx.QueryRow(ctx, "SELECT pg_has_role(current_user, $1, 'MEMBER')", r.res.Owner).Scan(&member); err != nil {
			return err
		}
		if !member {
			if err := r.exec(fmt.Sprintf("GRANT %s TO %s", owner, id(me))); err != nil {
				return err
			}
		}
	}
	s := id(schema)
	if err := r.execIf("SELECT has_schema_privilege($1, 'CREATE WITH GRANT OPTION')", schema,
		fmt.Sprintf("GRANT USAGE, CREATE ON SCHEMA %s TO %s", s, owner)); err != nil {
		return err
	}
	if err := r.execIf("SELECT has_database_privilege($1, 'CREATE WITH GRANT OPTION')", db,
		fmt.Sprintf("GRANT CREATE ON DATABASE %s TO %s", id(db), owner)); err != nil {
		return err
	}
	if err := r.giveToOwner(schema); err != nil {
		return err
	}
	var archive bool
	if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)", DefaultArchiveSchema).Scan(&archive); err != nil {
		return err
	}
	if archive { // made by an earlier prune: the owner moves partitions into it
		if err := r.execIf("SELECT has_schema_privilege($1, 'CREATE WITH GRANT OPTION')", DefaultArchiveSchema,
			fmt.Sprintf("GRANT USAGE, CREATE ON SCHEMA %s TO %s", id(DefaultArchiveSchema), owner)); err != nil {
			return err
		}
	}
	grants := []string{
		fmt.Sprintf("GRANT USAGE ON SCHEMA %s TO %s, %s", s, writer, reader),
		fmt.Sprintf("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %s TO %s", s, writer),
		fmt.Sprintf("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %s TO %s", s, writer),
		fmt.Sprintf("GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA %s TO %s, %s", s, writer, reader),
		fmt.Sprintf("GRANT SELECT ON ALL TABLES IN SCHEMA %s TO %s", s, reader),
	}
	// Tables made later — partitions, archive tables, new migrations — by
	// the owner role or by the role running this.
	creators := []string{owner}
	if me != r.res.Owner {
		creators = append(creators, id(me))
	}
	for _, c := range creators {
		grants = append(grants,
			fmt.Sprintf("ALTER DEFAULT PRIVILEGES FOR ROLE %s IN SCHEMA %s GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %s", c, s, writer),
			fmt.Sprintf("ALTER DEFAULT PRIVILEGES FOR ROLE %s IN SCHEMA %s GRANT USAGE, SELECT ON SEQUENCES TO %s", c, s, writer),
			fmt.Sprintf("ALTER DEFAULT PRIVILEGES FOR ROLE %s IN SCHEMA %s GRANT SELECT ON TABLES TO %s", c, s, reader),
		)
	}
	for _, g := range grants {
		if err := r.exec(g); err != nil {
			return err
		}
	}
	// The retention and the migration state are the owner's to change: a
	// writer that shortened the retention (partition_retention) would have
	// every later load drop the rows of the days before it, and the
	// writer's grant on all tables gave it that.
	for _, table := range []string{"partition_retention", "goose_db_version"} {
		var exists bool
		qualified := pgx.Identifier{schema, table}.Sanitize()
		if err := r.tx.QueryRow(r.ctx, "SELECT to_regclass($1) IS NOT NULL", qualified).Scan(&exists); err != nil {
			return err
		}
		if exists {
			if err := r.exec(fmt.Sprintf("REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON %s FROM %s", qualified, writer)); err != nil {
				return err
			}
		}
	}
	return nil
}

// giveToOwner makes the owner role own every table, view, sequence and
// function of schema it does not own yet (extension members aside; the
// sequences of serial and identity columns follow their tables).
func (r rolesRun) giveToOwner(schema string) error {
	rows, err := r.tx.Query(r.ctx, `
SELECT format('ALTER %s %s OWNER TO %I',
    CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END,
    c.oid::regclass, $2::text)
FROM pg_catalog.pg_class c
WHERE c.relnamespace = $1::text::regnamespace
  AND c.relkind IN ('r', 'p', 'S', 'v', 'm')
  AND c.relowner <> (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = $2)
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                    AND (d.deptype = 'e' OR c.relkind = 'S' AND d.deptype IN ('a', 'i')))
UNION ALL
SELECT format('ALTER %s %s OWNER TO %I', CASE p.prokind WHEN 'a' THEN 'AGGREGATE' WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END,
    p.oid::regprocedure, $2::text)
FROM pg_catalog.pg_proc p
WHERE p.pronamespace = $1::text::regnamespace
  AND p.proowner <> (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = $2)
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                  WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
ORDER BY 1`, pgx.Identifier{schema}.Sanitize(), r.res.Owner)
	if err != nil {
		return err
	}
	stmts, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, stmt := range stmts {
		if err := r.exec(stmt); err != nil {
			return err
		}
	}
	return nil
}
