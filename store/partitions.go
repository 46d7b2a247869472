package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/ransomeye/intel/db/gen"
)

// The catalog and partition queries partman runs, on the pool or inside its
// own transactions (lock_timeout, retries): package partman decides when
// and how often, the store owns the SQL.

// DBTX is what the store's queries run on: a pool, a connection or a
// transaction.
type DBTX = gen.DBTX

// PartitionedTable describes a table partitioned by range on one column.
type PartitionedTable struct {
	// Schema and Name identify the table (unquoted).
	Schema, Name string
	// KeyColumn and KeyType are the partition key column and its type as
	// format_type prints it ("timestamp with time zone").
	KeyColumn, KeyType string
}

// Partition is one partition of a partitioned table as the catalog describes
// it.
type Partition struct {
	// Schema and Name identify the partition (unquoted).
	Schema string `json:"schema"`
	Name   string `json:"name"`
	// From and To are the partition's bounds [From, To) read from the
	// catalog; nil for MINVALUE / MAXVALUE, and for the default partition.
	From *time.Time `json:"from"`
	To   *time.Time `json:"to"`
	// Bound is the catalog's text of the bounds: "FOR VALUES FROM (...) TO
	// (...)", or "DEFAULT".
	Bound string `json:"bound"`
	// EstimatedRows is the planner's row estimate, -1 when the partition has
	// not been vacuumed or analyzed yet.
	EstimatedRows int64 `json:"estimated_rows"`
	// TotalBytes is the size on disk with indexes and TOAST.
	TotalBytes int64 `json:"total_bytes"`
}

// DayPartition is what making one day's partition did.
type DayPartition struct {
	// Name is the child's name (unquoted).
	Name string
	// Created is false when the child existed already.
	Created bool
	// MovedRows counts the rows of that day moved out of the default
	// partition.
	MovedRows int64
}

// LookUpPartitioned describes parent (a name as regclass reads it, maybe
// schema-qualified and quoted). It returns ErrNotFound when the table
// exists but is not partitioned by range on one column, and the database's
// error (SQLSTATE undefined_table or invalid_schema_name) when it does not
// exist.
func LookUpPartitioned(ctx context.Context, db DBTX, parent string) (PartitionedTable, error) {
	row, err := gen.New(db).PartitionParent(ctx, parent)
	if err != nil {
		return PartitionedTable{}, Interpret("look up "+parent, err)
	}
	return PartitionedTable{Schema: row.SchemaName, Name: row.TableName, KeyColumn: row.KeyColumn, KeyType: row.KeyType}, nil
}

// EnsureDayPartition makes the child of parent (a quoted identifier) for
// one UTC day if it is missing, moving that day's rows out of the default
// partition (the SQL function ensure_day_partition). Run it in a
// transaction of its own with a lock timeout (WithTx).
func EnsureDayPartition(ctx context.Context, db DBTX, parent string, day time.Time) (DayPartition, error) {
	row, err := gen.New(db).PartitionEnsureDay(ctx, gen.PartitionEnsureDayParams{Parent: parent, Day: day})
	if err != nil {
		return DayPartition{}, err
	}
	return DayPartition{Name: row.PartitionName, Created: row.Created, MovedRows: row.MovedRows}, nil
}

// ListPartitions returns the bounded partitions of parent (a quoted
// identifier), oldest first, and its default partition (nil when it has
// none). Measuring sizes takes ACCESS SHARE locks: run it under a lock
// timeout.
func ListPartitions(ctx context.Context, db DBTX, parent string) ([]Partition, *Partition, error) {
	q := gen.New(db)
	rows, err := q.PartitionChildren(ctx, parent)
	if err != nil {
		return nil, nil, fmt.Errorf("list partitions of %s: %w", parent, err)
	}
	parts := make([]Partition, 0, len(rows))
	for _, r := range rows {
		parts = append(parts, Partition{
			Schema:        r.SchemaName,
			Name:          r.TableName,
			From:          boundTime(r.Bounds.Lower, r.Bounds.LowerType),
			To:            boundTime(r.Bounds.Upper, r.Bounds.UpperType),
			Bound:         r.Bound,
			EstimatedRows: r.EstimatedRows,
			TotalBytes:    r.TotalBytes,
		})
	}
	defs, err := q.PartitionDefault(ctx, parent)
	if err != nil {
		return nil, nil, fmt.Errorf("find default partition of %s: %w", parent, err)
	}
	var def *Partition
	for _, d := range defs {
		def = &Partition{
			Schema:        d.SchemaName,
			Name:          d.TableName,
			Bound:         "DEFAULT",
			EstimatedRows: d.EstimatedRows,
			TotalBytes:    d.TotalBytes,
		}
	}
	return parts, def, nil
}

// boundTime converts one side of a catalog range to a time, nil when that
// side is unbounded (MINVALUE, MAXVALUE, or ±infinity).
func boundTime(v pgtype.Timestamptz, typ pgtype.BoundType) *time.Time {
	if typ == pgtype.Unbounded || !v.Valid || v.InfinityModifier != pgtype.Finite {
		return nil
	}
	t := v.Time.UTC()
	return &t
}

// PartitionPrivileges says whether the current role may keep the partitions
// of parent (a quoted identifier): it has the privileges of the table's
// owner, and may create tables in its schema.
func PartitionPrivileges(ctx context.Context, db DBTX, parent string) (owns, canCreate bool, err error) {
	row, err := gen.New(db).PartitionPrivileges(ctx, parent)
	if err != nil {
		return false, false, fmt.Errorf("read privileges on %s: %w", parent, err)
	}
	return row.Owns, row.CanCreate, nil
}

// Retention is the retention the last prune of a table applied.
type Retention struct {
	// Keep is how long rows are kept.
	Keep time.Duration
	// Mode is "drop" or "detach".
	Mode string
	// Cutoff is now − Keep at that prune.
	Cutoff time.Time
	// KeepLateRows says writers keep rows past retention in the default
	// partition (counted) rather than drop them (counted).
	KeepLateRows bool
}

// GetRetention returns the retention recorded for parent (as
// partman.QualifiedName spells it), ok false when it was never pruned.
func GetRetention(ctx context.Context, db DBTX, parent string) (r Retention, ok bool, err error) {
	rows, err := gen.New(db).RetentionGet(ctx, parent)
	if err != nil {
		return Retention{}, false, fmt.Errorf("read retention of %s: %w", parent, err)
	}
	for _, row := range rows {
		r = Retention{Keep: time.Duration(row.KeepSeconds) * time.Second, Mode: row.Mode, Cutoff: row.Cutoff,
			KeepLateRows: row.LateRows == "keep"}
		ok = true
	}
	return r, ok, nil
}

// SetRetention records the retention a prune of parent applied.
func SetRetention(ctx context.Context, db DBTX, parent string, r Retention) error {
	late := "drop"
	if r.KeepLateRows {
		late = "keep"
	}
	err := gen.New(db).RetentionSet(ctx, gen.RetentionSetParams{
		Parent: parent, KeepSeconds: int64(r.Keep / time.Second), Mode: r.Mode, Cutoff: r.Cutoff, LateRows: late,
	})
	if err != nil {
		return fmt.Errorf("record retention of %s: %w", parent, err)
	}
	return nil
}
