package partman

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/ransomeye/intel/store"
)

// On a Citus coordinator (see package scaleout and docs/scale.md) the
// parent is a distributed table and its children are distributed with it.
// Two things differ there; both functions below do nothing on plain
// PostgreSQL:
//
//   - A transaction that moves rows of a distributed table (DELETE ...
//     RETURNING from the default partition's shards, in parallel by default)
//     may not run DDL afterwards unless the multi-shard commands run
//     sequentially: citusSequential sets that for the transaction.
//   - ensure_day_partition fills the new child on the coordinator before it
//     is attached; attaching distributes it and copies those rows to the
//     shards, but keeps the coordinator's local copy (stale, and read by
//     nothing but counted in its size): citusDropLocalCopy truncates it.
//   - A distributed partition's rows and size are its shards' on the
//     workers; the coordinator's catalog describes an empty shell:
//     citusSizes measures the shards for List.
//
// The first selects from pg_extension, which has no citus row on plain
// PostgreSQL; the others ask first.

// citusSequential makes the multi-shard commands of tx sequential on Citus.
func citusSequential(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `SELECT set_config('citus.multi_shard_modify_mode', 'sequential', true)
		FROM pg_extension WHERE extname = 'citus'`)
	return err
}

// citusDropLocalCopy removes the coordinator's local copy of a partition
// that was filled before it was distributed.
func citusDropLocalCopy(ctx context.Context, tx pgx.Tx, partition string) error {
	var citus bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')`).Scan(&citus); err != nil || !citus {
		return err
	}
	// Only a distributed partition has shards to hold the rows (a table
	// partitioned on the coordinator alone keeps them).
	_, err := tx.Exec(ctx, `SELECT truncate_local_data_after_distributing_table(logicalrelid)
		FROM pg_dist_partition WHERE logicalrelid = $1::regclass`, partition)
	return err
}

// citusSizes replaces, on Citus, the size and row estimate of each
// distributed partition of parent among parts and def (read from the
// coordinator's empty shell: a few KiB of index pages, and no estimate or 0
// rows) with its shards': citus_total_relation_size, and the sum of the
// shards' planner estimates (-1 when one of them has none yet).
func citusSizes(ctx context.Context, tx pgx.Tx, parent string, parts []store.Partition, def *store.Partition) error {
	var citus bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')`).Scan(&citus); err != nil || !citus {
		return err
	}
	rows, err := tx.Query(ctx, `SELECT n.nspname::text, c.relname::text, citus_total_relation_size(c.oid),
			(SELECT CASE WHEN bool_and(s.success AND s.result::bigint >= 0) THEN sum(s.result::bigint) ELSE -1 END
			 FROM run_command_on_shards(c.oid, $$SELECT reltuples::bigint FROM pg_class WHERE oid = '%s'::regclass$$) s)
		FROM pg_partition_tree($1::regclass) t
		JOIN pg_dist_partition d ON d.logicalrelid = t.relid
		JOIN pg_class c ON c.oid = t.relid
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE t.isleaf`, parent)
	if err != nil {
		return err
	}
	defer rows.Close()
	byName := make(map[[2]string]*store.Partition, len(parts)+1)
	for i := range parts {
		byName[[2]string{parts[i].Schema, parts[i].Name}] = &parts[i]
	}
	if def != nil {
		byName[[2]string{def.Schema, def.Name}] = def
	}
	for rows.Next() {
		var schema, name string
		var bytes, estimate int64
		if err := rows.Scan(&schema, &name, &bytes, &estimate); err != nil {
			return err
		}
		if p := byName[[2]string{schema, name}]; p != nil {
			p.TotalBytes, p.EstimatedRows = bytes, estimate
		}
	}
	return rows.Err()
}
