package partman

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/ransomeye/intel/store"
)

// keyType is the partition key type daily partitions need: the function
// ensure_day_partition bounds each child by UTC midnights.
const keyType = "timestamp with time zone"

// table is a resolved partitioned table.
type table struct {
	schema, name string
	key          string // partition key column
}

// ident is the quoted, schema-qualified name to put in SQL.
func (t table) ident() string {
	return pgx.Identifier{t.schema, t.name}.Sanitize()
}

// String is the name as PostgreSQL would print it with the schema spelled
// out, quoted only where needed: for messages and results.
func (t table) String() string {
	return QualifiedName(t.schema, t.name)
}

// QualifiedName spells schema.name the way regclass output does, but always
// with the schema: public.telemetry_edges, "Odd Schema"."Odd ""Name"" edges".
// Results name tables this way (Result.Parent, Listing.Parent).
func QualifiedName(schema, name string) string {
	return quoteIfNeeded(schema) + "." + quoteIfNeeded(name)
}

// quoteIfNeeded double-quotes an identifier unless it is a plain lower-case
// one. Keywords are not detected; they are quoted anyway in SQL partman runs.
func quoteIfNeeded(s string) string {
	plain := s != ""
	for i, r := range s {
		if (r < 'a' || r > 'z') && r != '_' && (i == 0 || (r < '0' || r > '9') && r != '$') {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	return pgx.Identifier{s}.Sanitize()
}

// resolve looks parent up in the catalog and checks it can have daily
// partitions.
func resolve(ctx context.Context, db store.DBTX, parent string) (table, error) {
	row, err := store.LookUpPartitioned(ctx, db, parent)
	if err != nil {
		switch code := store.Code(err); {
		case errors.Is(err, store.ErrNotFound):
			return table{}, fmt.Errorf("look up %s: %w", parent, ErrNotPartitioned)
		case code == pgerrcode.UndefinedTable || code == pgerrcode.InvalidSchemaName:
			var pgErr *pgconn.PgError
			errors.As(err, &pgErr)
			return table{}, fmt.Errorf("look up %s: %w: %w", parent, ErrNoTable, pgErr)
		default:
			return table{}, err // it says "look up <parent>" already
		}
	}
	t := table{schema: row.Schema, name: row.Name, key: row.KeyColumn}
	if row.KeyType != keyType {
		return table{}, fmt.Errorf("look up %s: %w (key %s is %s)", t, ErrNotPartitioned,
			quoteIfNeeded(row.KeyColumn), row.KeyType)
	}
	return t, nil
}
