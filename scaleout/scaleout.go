// Package scaleout distributes the migrated schema over a Citus cluster (a
// coordinator and its workers), so the same library and CLI run there.
//
// Distribute is run once on the coordinator after the migrations (intel
// citus distribute); it is idempotent and refuses a server without the
// citus extension. Plan says which table goes where and why; docs/scale.md
// explains the choices. Plain `goose up` stays Citus-agnostic: nothing in
// db/migrations knows about Citus.
package scaleout

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ErrNotCitus is returned when the server has no citus extension in the
// database (or it has no worker nodes).
var ErrNotCitus = errors.New("not a Citus coordinator: the database has no citus extension " +
	"(shared_preload_libraries = 'citus', CREATE EXTENSION citus, citus_add_node)")

// Method is how Citus holds a table.
type Method string

// The methods of Plan.
const (
	// Distributed: hash-distributed by Column, shards spread on the workers.
	Distributed Method = "distributed"
	// Coordinator: a plain table on the coordinator, joined with the
	// distributed ones by Citus (local-distributed joins).
	Coordinator Method = "coordinator"
)

// Table is one table's place in the cluster.
type Table struct {
	Name   string
	Method Method
	// Column is the distribution column of a distributed table.
	Column string
	// Why says why, for intel citus distribute and docs/scale.md.
	Why string
}

// Plan is the placement of every table of the schema. Only the telemetry
// is distributed: it is where the volume is (rows per second per agent).
// The intelligence graph stays on the coordinator, where its unique
// (kind, key) index, its foreign keys and its merge upserts hold as on one
// server; telemetry endpoints reach nodes once per new endpoint (set-based),
// not once per edge. None is a reference table: a write to a reference
// table goes to every node.
var Plan = []Table{
	{Name: "telemetry_edges", Method: Distributed, Column: "agent_id",
		Why: "the high-volume table: by agent (shard skew 1.05x, 4.2x by node id); its day partitions follow it"},
	{Name: "nodes", Method: Coordinator,
		Why: "unique (kind, md5(key)) index and the delete triggers for relations, relation_records and node_aliases need one place; endpoint nodes are written once each"},
	{Name: "relations", Method: Coordinator, Why: "references nodes at both ends, resolved in the relation upsert's statement (no foreign keys since 00022; nodes' delete trigger removes them)"},
	{Name: "relation_records", Method: Coordinator, Why: "written in the relation upsert's statement, keyed by the ids it writes to relations (no foreign keys since 00016)"},
	{Name: "node_aliases", Method: Coordinator, Why: "references nodes, written in the transaction that writes them (no foreign key since 00024; nodes' delete trigger removes them)"},
	{Name: "pending_relations", Method: Coordinator, Why: "resolved against node_aliases in one statement"},
	{Name: "node_records", Method: Coordinator, Why: "written with nodes in their transaction under the node's row lock, read to merge a recorded node again from its records (no foreign key; nodes' delete trigger removes them)"},
	{Name: "source_versions", Method: Coordinator, Why: "read with relation_records in the relation upsert's statement (stated_superseded)"},
	{Name: "feeds", Method: Coordinator, Why: "a few rows of load bookkeeping"},
	{Name: "feed_items", Method: Coordinator, Why: "references feeds"},
	{Name: "telemetry_checkpoints", Method: Coordinator, Why: "one row per input, advanced in the transaction of each COPY chunk"},
	{Name: "partition_retention", Method: Coordinator, Why: "a few rows of partition settings"},
	{Name: "alias_claims", Method: Coordinator, Why: "names claimed by entities with external ids; read with node_aliases in one statement"},
	{Name: "relation_ids", Method: Coordinator, Why: "relationship ids of feeds, resolved with node_aliases"},
	{Name: "relation_id_refs", Method: Coordinator, Why: "links naming relationship ids, moved with relation_ids, relation_records and pending_relations in one transaction"},
	{Name: "name_uses", Method: Coordinator, Why: "identity_refresh reads it with alias_claims and relations in one statement"},
	{Name: "node_entities", Method: Coordinator, Why: "joined to relations by every walk (entity_relations)"},
	{Name: "source_id_nodes", Method: Coordinator, Why: "identity_refresh reads it with nodes and node_entities in one statement"},
	{Name: "ambiguous_aliases", Method: Coordinator, Why: "a few rows, kept by identity_refresh"},
}

// Status is what Distribute did to one table.
type Status struct {
	Table
	// Done is true when Distribute distributed it in this run; false when
	// it already was, or stays on the coordinator.
	Done bool
}

// IsCitus reports whether the database of conn has the citus extension.
func IsCitus(ctx context.Context, conn Querier) (bool, error) {
	var ok bool
	err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')`).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("detect citus: %w", err)
	}
	return ok, nil
}

// Querier is a connection, a pool or a transaction.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Distribute applies Plan on the migrated database of conn, a Citus
// coordinator with workers. It is idempotent: tables already distributed
// are left as they are. Rows a table held before are moved to the shards
// with no copy left on the coordinator (see dropLocalCopy). It returns
// ErrNotCitus on plain PostgreSQL.
func Distribute(ctx context.Context, conn Querier) ([]Status, error) {
	ok, err := IsCitus(ctx, conn)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrNotCitus
	}
	var workers int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_dist_node WHERE noderole = 'primary' AND groupid <> 0`).Scan(&workers); err != nil {
		return nil, fmt.Errorf("list citus workers: %w", err)
	}
	if workers == 0 {
		return nil, fmt.Errorf("%w: no worker nodes (citus_add_node)", ErrNotCitus)
	}
	out := make([]Status, 0, len(Plan))
	for _, t := range Plan {
		st := Status{Table: t}
		if t.Method == Distributed {
			var method string
			err := conn.QueryRow(ctx, `SELECT coalesce((SELECT partmethod::text FROM pg_dist_partition WHERE logicalrelid = to_regclass($1)), '')`, t.Name).Scan(&method)
			if err != nil {
				return out, fmt.Errorf("distribute %s: %w", t.Name, err)
			}
			if method == "" {
				if _, err := conn.Exec(ctx, `SELECT create_distributed_table($1, $2)`, t.Name, t.Column); err != nil {
					return out, fmt.Errorf("distribute %s by %s: %w", t.Name, t.Column, err)
				}
				st.Done = true
			}
			if err := dropLocalCopy(ctx, conn, t.Name); err != nil {
				return out, fmt.Errorf("distribute %s: remove the coordinator's copy of its rows: %w", t.Name, err)
			}
		}
		out = append(out, st)
	}
	return out, nil
}

// dropLocalCopy removes the coordinator's own copy of the rows a table (or
// any of its partitions) held when it was distributed: Citus copies them
// to the shards but keeps them on the coordinator too, where nothing reads
// them and they fill its disk with the whole telemetry loaded before. It
// also cleans up after an earlier run cut between the two steps (or an
// older intel that did not do it); a table whose local heaps are empty, as
// they are once distributed, is not touched (no lock beyond reading
// their size).
func dropLocalCopy(ctx context.Context, conn Querier, table string) error {
	_, err := conn.Exec(ctx, `SELECT truncate_local_data_after_distributing_table(relid)
		FROM pg_partition_tree($1::regclass) WHERE isleaf AND pg_relation_size(relid) > 0`, table)
	return err
}

// Beginner starts a transaction: a pool or a connection.
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// SilentWorkers returns, as host:port, the active primary workers that the
// coordinator of db cannot open a new connection to within wait
// (citus_check_connection_to_node under citus.node_connection_timeout =
// wait): a worker whose host hung, whose server is stopped (SIGSTOP) or
// cut off from the coordinator. A frozen worker accepts the TCP connection
// and never answers its startup, so each such worker costs wait; bound ctx
// accordingly. It names what a read or write that waited on the cluster
// waited for (the statement itself cannot tell: the coordinator waits on
// its cached connection to the worker without a word).
func SilentWorkers(ctx context.Context, db Beginner, wait time.Duration) ([]string, error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("check the workers: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // read only
	ms := strconv.FormatInt(max(wait.Milliseconds(), 1), 10)
	if _, err := tx.Exec(ctx, "SELECT set_config('citus.node_connection_timeout', $1, true)", ms); err != nil {
		return nil, fmt.Errorf("check the workers: %w", err)
	}
	rows, err := tx.Query(ctx, `SELECT nodename || ':' || nodeport
		FROM pg_dist_node
		WHERE noderole = 'primary' AND isactive AND groupid <> 0
		  AND NOT citus_check_connection_to_node(nodename, nodeport)
		ORDER BY nodeid`)
	if err != nil {
		return nil, fmt.Errorf("check the workers: %w", err)
	}
	silent, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("check the workers: %w", err)
	}
	return silent, nil
}
