package partman_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/db/pguuid"
	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/engine"
	"github.com/ransomeye/intel/ingest/misp"
	"github.com/ransomeye/intel/ingest/stix"
	"github.com/ransomeye/intel/ingest/telemetry"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/partman"
	"github.com/ransomeye/intel/store"
)

// roleBundle is a test database whose owner, writer and reader roles exist,
// with a login role in each and a pool per login.
type roleBundle struct {
	roles                 partman.Roles
	admin                 *pgxpool.Pool
	owner, writer, reader *pgxpool.Pool
}

// setupRoles runs CreateRoles (twice: it is idempotent) as the server's
// administrator on a new test database, and opens a pool as a login member
// of each role. The owner's pool sets role=<owner>, as the documentation
// tells owners to.
func setupRoles(t *testing.T) roleBundle {
	t.Helper()
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	adminDSN := pgtest.AdminDSN(t, dsn)
	admin := pgtest.PoolFor(t, adminDSN)
	prefix := fmt.Sprintf("t%08x", rand.Uint32())

	res, err := partman.CreateRoles(ctx, admin, partman.RolesOptions{Prefix: prefix})
	require.NoError(t, err)
	require.Equal(t, []string{prefix + "_owner", prefix + "_writer", prefix + "_reader"}, res.Created)
	require.Equal(t, "public", res.Schema)
	require.Empty(t, res.Skipped, "a superuser may give every grant")
	require.Contains(t, res.Statements, "ALTER TABLE telemetry_edges OWNER TO "+prefix+"_owner")
	again, err := partman.CreateRoles(ctx, admin, partman.RolesOptions{Prefix: prefix})
	require.NoError(t, err)
	require.Empty(t, again.Created, "a second run creates no role")
	for _, s := range again.Statements {
		require.NotContains(t, s, "OWNER TO", "a second run has nothing left to give the owner")
	}

	b := roleBundle{roles: res.Roles, admin: admin}
	logins := []string{}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		all := append([]string{res.Owner, res.Writer, res.Reader}, logins...)
		stmts := []string{"REASSIGN OWNED BY " + strings.Join(all, ", ") + " TO pgtdbuser"}
		for _, r := range all {
			stmts = append(stmts, "DROP OWNED BY "+r)
		}
		for _, stmt := range append(stmts, "DROP ROLE "+strings.Join(all, ", ")) {
			if _, err := admin.Exec(ctx, stmt); err != nil {
				t.Logf("clean up roles: %s: %v", stmt, err)
			}
		}
	})
	open := func(role string, setRole bool) *pgxpool.Pool {
		login := role + "_login"
		_, err := admin.Exec(ctx, fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD 'pw' IN ROLE %s", login, role))
		require.NoError(t, err)
		logins = append(logins, login)
		u, err := url.Parse(dsn)
		require.NoError(t, err)
		u.User = url.UserPassword(login, "pw")
		cfg, err := pgxpool.ParseConfig(u.String())
		require.NoError(t, err)
		cfg.MaxConns = 4
		cfg.AfterConnect = pguuid.AfterConnect(nil)
		if setRole {
			cfg.ConnConfig.RuntimeParams["role"] = role
		}
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		require.NoError(t, err)
		t.Cleanup(pool.Close)
		require.NoError(t, pool.Ping(ctx))
		return pool
	}
	b.owner = open(res.Owner, true)
	b.writer = open(res.Writer, false)
	b.reader = open(res.Reader, false)
	return b
}

// edgesOn returns n telemetry edges observed at at.
func edgesOn(n int, at time.Time) []graph.TelemetryEdge {
	edges := make([]graph.TelemetryEdge, n)
	for i := range edges {
		src := graph.Node{ID: uuid.New(), Kind: graph.KindProcess, Key: "src:" + uuid.NewString(), Name: "p.exe"}
		dst := graph.Node{ID: uuid.New(), Kind: graph.KindProcess, Key: "dst:" + uuid.NewString(), Name: "q.exe"}
		edges[i] = graph.TelemetryEdge{Src: src, Dst: dst, Relation: "connects-to", AgentID: "agent-1", ObservedAt: at.Add(time.Duration(i) * time.Second)}
	}
	return edges
}

// countIn counts the rows of a table as the administrator sees them.
func countIn(t *testing.T, pool *pgxpool.Pool, table string) int64 {
	t.Helper()
	var n int64
	require.NoError(t, pool.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n))
	return n
}

func TestRolesReaderQueriesButDoesNotWriteOrKeepPartitions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupRoles(t)

	_, err := partman.Ensure(ctx, b.reader, partman.Options{})
	require.ErrorIs(t, err, partman.ErrInsufficientPrivilege)
	l, err := partman.List(ctx, b.reader, "")
	require.NoError(t, err, "the reader lists partitions")
	require.Empty(t, l.Partitions, "the failed ensure made nothing")
	_, err = partman.Check(ctx, b.reader, partman.Options{})
	require.NoError(t, err, "the reader counts the default partition")

	// The owner loads a node; the reader finds it but cannot write.
	node := graph.Node{ID: uuid.New(), Kind: graph.KindDomainName, Key: "example.org", Name: "example.org"}
	_, err = store.NewStore(b.owner).UpsertNodes(ctx, []graph.Node{node})
	require.NoError(t, err)
	rs := store.NewStore(b.reader)
	got, err := rs.GetNode(ctx, node.ID)
	require.NoError(t, err)
	require.Equal(t, "example.org", got.Name)
	_, err = rs.FindRelated(ctx, node.ID, graph.RelatedOptions{Depth: 2})
	require.NoError(t, err)
	_, err = rs.UpsertNodes(ctx, []graph.Node{{ID: uuid.New(), Kind: graph.KindDomainName, Key: "evil.example", Name: "evil"}})
	require.Equal(t, pgerrcode.InsufficientPrivilege, store.Code(err), "the reader may not write: %v", err)
}

func TestRolesWriterLoadsFeedsAndSendsPartitionlessDaysToDefault(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupRoles(t)
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	ws := store.NewStore(b.writer, store.WithClock(func() time.Time { return now }),
		store.WithDayEnsurer(partman.NewDayEnsurer(b.writer, partman.Options{Now: func() time.Time { return now }})))

	_, err := partman.Ensure(ctx, b.writer, partman.Options{Now: func() time.Time { return now }})
	require.ErrorIs(t, err, partman.ErrInsufficientPrivilege, "the writer does no upkeep")

	f, err := os.Open(filepath.Join("..", "testdata", "demo", "hellokitty-ransomware.json"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = f.Close() })
	rep, err := stix.Load(ctx, f, ws, stix.Options{})
	require.NoError(t, err, "the writer loads STIX")
	require.Positive(t, rep.Nodes)
	mrep, err := misp.LoadPath(ctx, filepath.Join("..", "testdata", "misp", "test_events_collection_1.json"), ws, misp.Options{})
	require.NoError(t, err, "the writer loads MISP")
	require.Positive(t, mrep.Nodes)

	// The owner made yesterday's partition; today has none, and the writer
	// may not make it: today's lines go to the default partition, counted.
	_, err = partman.EnsureDays(ctx, b.owner, []time.Time{now.AddDate(0, 0, -1)}, partman.Options{})
	require.NoError(t, err)
	var lines strings.Builder
	for i := range 30 {
		at := now.Add(time.Duration(i) * time.Minute)
		if i%3 == 0 {
			at = at.AddDate(0, 0, -1)
		}
		fmt.Fprintf(&lines, `{"src":"process:host-1:%d","relation":"connects-to","dst":"ipv4-addr:198.51.100.%d","agent_id":"host-1","observed_at":%q}`+"\n",
			i, i, at.Format(time.RFC3339))
	}
	trep, err := telemetry.Load(ctx, strings.NewReader(lines.String()), ws, engine.Options{})
	require.NoError(t, err, "a day without a partition does not fail the stream")
	require.NotNil(t, trep.Telemetry)
	require.EqualValues(t, 30, trep.Telemetry.Edges)
	require.EqualValues(t, 20, trep.Telemetry.InDefault, "the load report counts the rows sent to the default partition")
	require.Zero(t, trep.Telemetry.PartitionsCreated)
	require.EqualValues(t, 20, countIn(t, b.admin, "telemetry_edges_default"))
	require.EqualValues(t, 10, countIn(t, b.admin, "telemetry_edges_"+now.AddDate(0, 0, -1).Format("2006_01_02")))

	// Once the owner makes today's partition, the rows move out of the
	// default partition and the writer's next rows go straight to it.
	res, err := partman.EnsureDays(ctx, b.owner, []time.Time{now}, partman.Options{})
	require.NoError(t, err)
	require.EqualValues(t, 20, res.MovedRows())
	stats, err := ws.AppendTelemetry(ctx, store.SliceEdges(edgesOn(5, now)))
	require.NoError(t, err)
	require.Zero(t, stats.InDefault)
	require.Zero(t, countIn(t, b.admin, "telemetry_edges_default"))
}

// A writer (or reader) that runs prune is refused before anything changes:
// the retention it would record makes every later writer drop the rows of
// the days before it (before-retention) and Ensure refuse those days, so a
// role that may not remove partitions must not set it either.
func TestRolesWriterMayNotSetRetention(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupRoles(t)
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	opts := partman.Options{Now: func() time.Time { return now }}
	_, err := partman.Prune(ctx, b.owner, 30*24*time.Hour, partman.Detach, opts)
	require.NoError(t, err, "the owner records a 30-day retention")
	for name, pool := range map[string]*pgxpool.Pool{"writer": b.writer, "reader": b.reader} {
		_, err = partman.Prune(ctx, pool, time.Hour, partman.Drop, opts)
		require.ErrorIs(t, err, partman.ErrInsufficientPrivilege, "the %s may not prune", name)
		// Nor change the retention or the migration state in SQL.
		_, err = pool.Exec(ctx, `UPDATE partition_retention SET keep_seconds = 3600`)
		require.Equal(t, pgerrcode.InsufficientPrivilege, store.Code(err), "the %s may not change the retention: %v", name, err)
		_, err = pool.Exec(ctx, `DELETE FROM goose_db_version`)
		require.Equal(t, pgerrcode.InsufficientPrivilege, store.Code(err), "the %s may not change the migration state: %v", name, err)
		r, ok, err := store.GetRetention(ctx, b.admin, "public.telemetry_edges")
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, 30*24*time.Hour, r.Keep, "the %s's prune left the owner's retention as it was", name)
	}
}

// A maintainer run as the writer or the reader can never make a partition:
// it logged an error every round, forever, and ended with success when
// stopped. It now fails at once.
func TestRolesMaintainerThatMayNotKeepPartitionsFails(t *testing.T) {
	t.Parallel()
	b := setupRoles(t)
	for name, pool := range map[string]*pgxpool.Pool{"writer": b.writer, "reader": b.reader} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := partman.Maintain(ctx, pool, 20*time.Millisecond, partman.MaintainOptions{})
		require.ErrorIs(t, err, partman.ErrInsufficientPrivilege, "the %s's maintainer", name)
		require.NoError(t, ctx.Err(), "the %s's maintainer gave up at once, not when stopped", name)
		cancel()
	}
}

func TestRolesOwnerKeepsPartitions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupRoles(t)
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	opts := partman.Options{Now: func() time.Time { return now }, Ahead: 2, Behind: -1}
	res, err := partman.Ensure(ctx, b.owner, opts)
	require.NoError(t, err)
	require.Equal(t, 3, res.Created())
	var owner string
	require.NoError(t, b.admin.QueryRow(ctx, "SELECT tableowner FROM pg_tables WHERE tablename = $1",
		"telemetry_edges_"+now.Format("2006_01_02")).Scan(&owner))
	require.Equal(t, b.roles.Owner, owner, "partitions the owner makes belong to the owner role")

	// The writer writes into the owner's partitions; the reader reads them.
	ws := store.NewStore(b.writer, store.WithClock(func() time.Time { return now }),
		store.WithDayEnsurer(partman.NewDayEnsurer(b.writer, opts)))
	stats, err := ws.AppendTelemetry(ctx, store.SliceEdges(edgesOn(10, now)))
	require.NoError(t, err)
	require.EqualValues(t, 10, stats.Edges)
	require.Zero(t, stats.InDefault)
	require.EqualValues(t, 10, countIn(t, b.reader, "telemetry_edges"))

	later := now.AddDate(0, 0, 10)
	pr, err := partman.Prune(ctx, b.owner, 72*time.Hour, partman.Detach, partman.Options{Now: func() time.Time { return later }})
	require.NoError(t, err, "the owner prunes")
	require.Len(t, pr.Removed, 3)
	require.EqualValues(t, 10, countIn(t, b.admin, "archive.telemetry_edges_"+now.Format("2006_01_02")))
}

// A migrating role that is not superuser but may create roles (CREATEROLE)
// and has the privileges of the tables' owner creates the roles too: it
// makes itself a member of the owner role to hand the tables over, and
// keeps doing upkeep through that membership.
func TestRolesCreateByANonSuperuser(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	admin := pgtest.PoolFor(t, pgtest.AdminDSN(t, dsn))
	prefix := fmt.Sprintf("n%08x", rand.Uint32())
	migrator := prefix + "_migrator"
	_, err := admin.Exec(ctx, fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD 'pw' CREATEROLE IN ROLE pgtdbuser", migrator))
	require.NoError(t, err)
	all := []string{prefix + "_owner", prefix + "_writer", prefix + "_reader", migrator}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		stmts := []string{"REASSIGN OWNED BY " + strings.Join(all, ", ") + " TO pgtdbuser"}
		for _, r := range all {
			stmts = append(stmts, "DROP OWNED BY "+r)
		}
		for _, stmt := range append(stmts, "DROP ROLE "+strings.Join(all, ", ")) {
			if _, err := admin.Exec(ctx, stmt); err != nil {
				t.Logf("clean up roles: %s: %v", stmt, err)
			}
		}
	})
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	u.User = url.UserPassword(migrator, "pw")
	pool := pgtest.PoolFor(t, u.String())

	res, err := partman.CreateRoles(ctx, pool, partman.RolesOptions{Prefix: prefix})
	require.NoError(t, err)
	require.Len(t, res.Created, 3)
	require.Contains(t, res.Statements, fmt.Sprintf(`GRANT "%s_owner" TO "%s"`, prefix, migrator))
	require.Contains(t, res.Statements, "ALTER TABLE telemetry_edges OWNER TO "+prefix+"_owner")
	var owner string
	require.NoError(t, admin.QueryRow(ctx, "SELECT tableowner FROM pg_tables WHERE tablename = 'nodes'").Scan(&owner))
	require.Equal(t, prefix+"_owner", owner)

	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	ens, err := partman.Ensure(ctx, pool, partman.Options{Now: func() time.Time { return now }, Ahead: -1, Behind: -1})
	require.NoError(t, err, "the migrator keeps doing upkeep as a member of the owner role")
	require.Equal(t, 1, ens.Created())
}
