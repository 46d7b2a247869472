package migrations_test

import (
	"context"
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/db/migrations"
	"github.com/ransomeye/intel/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func open(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

// schemaSQL describes the public schema from the catalog, one sorted line per
// column, constraint, index, function, partition and comment, so two
// databases can be compared without pg_dump (whose version must match the
// server's).
const schemaSQL = `
SELECT coalesce(string_agg(line, E'\n' ORDER BY line), '') FROM (
    SELECT format('column %s.%s %s null=%s default=%s', table_name, column_name, data_type, is_nullable, column_default)
    FROM information_schema.columns WHERE table_schema = 'public'
  UNION ALL
    SELECT format('index %s', indexdef) FROM pg_indexes WHERE schemaname = 'public'
  UNION ALL
    SELECT format('constraint %s %s %s', conrelid::regclass, conname, pg_get_constraintdef(oid))
    FROM pg_constraint WHERE connamespace = 'public'::regnamespace
  UNION ALL
    SELECT format('function %s', pg_get_functiondef(oid)) FROM pg_proc WHERE pronamespace = 'public'::regnamespace AND prokind = 'f'
  UNION ALL
    SELECT format('aggregate %s', oid::regprocedure) FROM pg_proc WHERE pronamespace = 'public'::regnamespace AND prokind = 'a'
  UNION ALL
    SELECT format('partition %s of %s %s', c.oid::regclass, i.inhparent::regclass, pg_get_expr(c.relpartbound, c.oid))
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE c.relnamespace = 'public'::regnamespace
  UNION ALL
    SELECT format('partkey %s %s', partrelid::regclass, pg_get_partkeydef(partrelid)) FROM pg_partitioned_table
  UNION ALL
    SELECT format('storage %s %s', oid::regclass, reloptions) FROM pg_class
    WHERE relnamespace = 'public'::regnamespace AND reloptions IS NOT NULL
  UNION ALL
    SELECT format('comment %s %s %s', d.classoid::regclass, d.objoid::regclass, d.description)
    FROM pg_description d WHERE d.classoid = 'pg_class'::regclass AND d.objsubid = 0
      AND d.objoid IN (SELECT oid FROM pg_class WHERE relnamespace = 'public'::regnamespace)
  UNION ALL
    SELECT format('column-comment %s.%s %s', d.objoid::regclass, a.attname, d.description)
    FROM pg_description d JOIN pg_attribute a ON a.attrelid = d.objoid AND a.attnum = d.objsubid
    WHERE d.classoid = 'pg_class'::regclass AND d.objsubid > 0
) s(line)`

func schemaOf(t *testing.T, db *sql.DB) string {
	t.Helper()
	var s string
	require.NoError(t, db.QueryRow(schemaSQL).Scan(&s))
	return s
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := open(t, pgtest.EmptyDSN(t))
	p, err := migrations.NewProvider(db)
	require.NoError(t, err)
	sources := p.ListSources()
	require.NotEmpty(t, sources)

	empty := schemaOf(t, db)

	up, err := p.Up(ctx)
	require.NoError(t, err)
	require.Len(t, up, len(sources), "every migration applies from an empty database")
	latest := schemaOf(t, db)
	require.Contains(t, latest, "partkey telemetry_edges RANGE (observed_at)")
	require.Contains(t, latest, "partition telemetry_edges_default of telemetry_edges DEFAULT")
	require.Contains(t, latest, "storage nodes {fillfactor=50}", "nodes leave room for HOT updates (00016)")

	down, err := p.DownTo(ctx, 0)
	require.NoError(t, err)
	require.Len(t, down, len(sources), "every migration rolls back")
	version, err := p.GetDBVersion(ctx)
	require.NoError(t, err)
	require.Zero(t, version)
	// Only goose's own bookkeeping table may remain.
	require.Equal(t, withoutGoose(empty), withoutGoose(schemaOf(t, db)), "down to zero leaves nothing behind")

	for i := range sources {
		res, err := p.UpByOne(ctx)
		require.NoError(t, err, "up by one, step %d", i+1)
		require.Equal(t, sources[i].Version, res.Source.Version)
	}
	require.Equal(t, latest, schemaOf(t, db), "up one at a time gives the same schema as up at once")
}

func withoutGoose(schema string) string {
	var keep []string
	for _, line := range strings.Split(schema, "\n") {
		if !strings.Contains(line, "goose_db_version") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "\n")
}

// gooseTags leave out the goose command's drivers for other databases, as
// the Makefile's migrate target does, so it builds in seconds.
const gooseTags = "no_clickhouse,no_libsql,no_mssql,no_azuresql,no_mysql,no_sqlite3,no_vertica,no_ydb"

// TestPlainGooseCLI runs the goose command pinned in tools/go.mod (as a release
// pipeline does) on the SQL files and checks it yields the same schema as
// the embedded provider.
func TestPlainGooseCLI(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	viaProvider := open(t, pgtest.EmptyDSN(t))
	p, err := migrations.NewProvider(viaProvider)
	require.NoError(t, err)
	_, err = p.Up(ctx)
	require.NoError(t, err)

	cliDSN := pgtest.EmptyDSN(t)
	out, err := plainGoose(t, cliDSN).CombinedOutput()
	require.NoError(t, err, "goose up: %s", out)

	require.Equal(t, schemaOf(t, viaProvider), schemaOf(t, open(t, cliDSN)))
}

// plainGoose returns the goose command pinned in tools/go.mod, built for
// the test, that runs `up` on dsn with the SQL files of this directory.
func plainGoose(t *testing.T, dsn string) *exec.Cmd {
	t.Helper()
	_, thisFile, _, _ := runtime.Caller(0)
	dir := filepath.Dir(thisFile)
	goose := filepath.Join(t.TempDir(), "goose")
	toolsMod := filepath.Join(dir, "..", "..", "tools", "go.mod")
	build := exec.Command("go", "build", "-modfile", toolsMod, "-tags", gooseTags, "-o", goose, "github.com/pressly/goose/v3/cmd/goose")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "build the pinned goose command: %s", out)
	cmd := exec.Command(goose, "-dir", dir, "postgres", dsn, "up")
	cmd.Env = append(os.Environ(), "GOOSE_DRIVER=", "GOOSE_DBSTRING=")
	return cmd
}

// TestPlainGooseWithPgTrgmOffThePath holds the README's word on pg_trgm
// installed in a schema the search_path leaves out: the plain goose CLI
// stops at migration 11 with ten applied, and run again with the schema on
// the path (PGOPTIONS, as the README says) it goes on from 11 to the last,
// its trigram index on the operator class of that schema.
func TestPlainGooseWithPgTrgmOffThePath(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.EmptyDSN(t)
	admin := open(t, pgtest.AdminDSN(t, dsn))
	_, err := admin.ExecContext(ctx, "CREATE SCHEMA extensions; CREATE EXTENSION pg_trgm SCHEMA extensions; GRANT USAGE ON SCHEMA extensions TO PUBLIC")
	require.NoError(t, err)

	cmd := plainGoose(t, dsn)
	out, err := cmd.CombinedOutput()
	require.Error(t, err, "goose up: %s", out)
	require.Contains(t, string(out), "00011_node_search.sql")
	require.Contains(t, string(out), `operator class "gin_trgm_ops" does not exist`)
	db := open(t, dsn)
	var version int64
	require.NoError(t, db.QueryRowContext(ctx, "SELECT max(version_id) FROM goose_db_version WHERE is_applied").Scan(&version))
	require.Equal(t, int64(10), version)

	cmd = plainGoose(t, dsn)
	cmd.Env = append(cmd.Env, `PGOPTIONS=-c search_path="$user",public,extensions`)
	out, err = cmd.CombinedOutput()
	require.NoError(t, err, "goose up with pg_trgm's schema on the path: %s", out)
	require.Contains(t, string(out), "00011_node_search.sql")

	p, err := migrations.NewProvider(db)
	require.NoError(t, err)
	pending, err := p.HasPending(ctx)
	require.NoError(t, err)
	require.False(t, pending, "goose went on to the last migration")
	var def string
	require.NoError(t, db.QueryRowContext(ctx, "SELECT indexdef FROM pg_indexes WHERE indexname = 'nodes_lookup_trgm'").Scan(&def))
	require.Contains(t, def, "extensions.gin_trgm_ops")
}

// TestConcurrentMigrations checks that two processes migrating one database
// at once both succeed: the session locker serializes them.
func TestConcurrentMigrations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.EmptyDSN(t)

	const runners = 2
	errs := make([]error, runners)
	applied := make([]int, runners)
	var wg sync.WaitGroup
	for i := 0; i < runners; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			db, err := sql.Open("pgx", dsn)
			if err != nil {
				errs[i] = err
				return
			}
			defer db.Close()
			p, err := migrations.NewProvider(db)
			if err != nil {
				errs[i] = err
				return
			}
			res, err := p.Up(ctx)
			errs[i] = err
			applied[i] = len(res)
		}(i)
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "runner %d", i)
	}
	db := open(t, dsn)
	p, err := migrations.NewProvider(db)
	require.NoError(t, err)
	require.Equal(t, len(p.ListSources()), applied[0]+applied[1], "each migration applied exactly once")
	version, err := p.GetDBVersion(ctx)
	require.NoError(t, err)
	require.Equal(t, p.ListSources()[len(p.ListSources())-1].Version, version)
}

// TestEveryMigrationIsInTheREADME keeps db/migrations/README.md, the table a
// newcomer reads, true: every migration file has its row, and every row names
// a file that exists.
func TestEveryMigrationIsInTheREADME(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	rows := map[string]bool{}
	for _, line := range strings.Split(string(readme), "\n") {
		if f := strings.Fields(strings.TrimPrefix(line, "| ")); strings.HasPrefix(line, "| 0") && len(f) > 1 {
			rows[f[0]+"_"+f[1]+".sql"] = true
		}
	}
	files, err := filepath.Glob("*.sql")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		require.Truef(t, rows[f], "db/migrations/README.md has no row for %s: add one (| %s | what it adds |)", f, strings.Replace(strings.TrimSuffix(f, ".sql"), "_", " ", 1))
		delete(rows, f)
	}
	require.Emptyf(t, rows, "db/migrations/README.md has rows for migrations that do not exist")
}
