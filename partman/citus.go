package partman

import (
	"context"

	"github.com/jackc/pgx/v5"
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
//
// The first selects from pg_extension, which has no citus row on plain
// PostgreSQL; the second asks first.

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
