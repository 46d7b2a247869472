package partman

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/ransomeye/intel/store"
)

// Partition is one partition of a partitioned table as the catalog
// describes it.
type Partition = store.Partition

// Listing is a partitioned table's partitions.
type Listing struct {
	// Parent is the partitioned table, schema-qualified.
	Parent string `json:"parent"`
	// Partitions are the bounded partitions, oldest first.
	Partitions []Partition `json:"partitions"`
	// Default is the default partition, nil when the table has none.
	Default *Partition `json:"default"`
}

// List returns the partitions of parent (a table name as PostgreSQL reads it,
// "" for DefaultParent) with their catalog bounds, row estimates and sizes,
// and its default partition. It reads the catalog; measuring the sizes takes
// ACCESS SHARE locks on the partitions for a moment, waited for under the
// default lock timeout and retries, like Ensure.
func List(ctx context.Context, pool *pgxpool.Pool, parent string) (Listing, error) {
	opts := Options{Parent: parent}.withDefaults()
	t, err := resolve(ctx, pool, opts.Parent)
	if err != nil {
		return Listing{}, fmt.Errorf("list partitions: %w", err)
	}
	return listTx(ctx, pool, t, opts)
}

// listTx runs list in a transaction of its own with opts' lock timeout and
// retries.
func listTx(ctx context.Context, pool *pgxpool.Pool, t table, opts Options) (Listing, error) {
	var l Listing
	_, err := inTx(ctx, pool, opts, "list partitions of "+t.String(), func(ctx context.Context, tx pgx.Tx) error {
		var err error
		l, err = list(ctx, tx, t)
		return err
	})
	return l, err
}

// list reads the partitions of t, in a transaction with a lock timeout:
// pg_total_relation_size locks each partition in ACCESS SHARE mode.
func list(ctx context.Context, tx pgx.Tx, t table) (Listing, error) {
	parts, def, err := store.ListPartitions(ctx, tx, t.ident())
	if err != nil {
		return Listing{}, err
	}
	if err := citusSizes(ctx, tx, t.ident(), parts, def); err != nil {
		return Listing{}, fmt.Errorf("measure the shards of %s: %w", t, err)
	}
	return Listing{Parent: t.String(), Partitions: parts, Default: def}, nil
}

// missingDays returns the days (midnight UTC) of which some instant is in no
// partition. parts must be sorted by From, unbounded first, as the catalog
// query returns them; PostgreSQL guarantees they do not overlap.
func missingDays(parts []Partition, days []time.Time) []time.Time {
	missing := []time.Time{}
	for _, day := range days {
		end := day.AddDate(0, 0, 1)
		cur := day // the first instant of the day not yet known to be covered
		for _, p := range parts {
			if p.From != nil && p.From.After(cur) {
				break
			}
			if p.To == nil || p.To.After(cur) {
				if p.To == nil {
					cur = end
				} else {
					cur = *p.To
				}
			}
			if !cur.Before(end) {
				break
			}
		}
		if cur.Before(end) {
			missing = append(missing, day)
		}
	}
	return missing
}
