package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
)

// TrgmOffPathQuery returns, when the extension pg_trgm is installed in a
// schema the session's search_path leaves out, that schema and the
// search_path; no row otherwise (not installed, or on the path).
const TrgmOffPathQuery = `SELECT n.nspname::text, current_setting('search_path')
	FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
	WHERE e.extname = 'pg_trgm' AND n.nspname <> ALL (current_schemas(false))`

// TrgmOffSearchPath is the error of a session whose search_path (path)
// leaves out schema, where pg_trgm is installed: intel's name search needs
// its operator class and functions (word_similarity, <%), which a schema
// migrated with the extension on the path still needs on it at every search.
func TrgmOffSearchPath(schema, path string) error {
	return fmt.Errorf("extension pg_trgm is installed in schema %s, which the session's search_path (%s) leaves out: "+
		"intel's name search needs its operator class and functions; add %s to the search_path "+
		"(ALTER ROLE … SET search_path = %s, %s, or in the URL: ?search_path=…)", schema, path, schema, path, schema)
}

// explainTrgm returns err, a search's failure, prefixed with
// TrgmOffSearchPath when it is an undefined function (42883) and pg_trgm
// is installed off the session's search_path. Before, intel search there
// said only `ERROR: function word_similarity(text, text) does not exist`.
func (s *Store) explainTrgm(ctx context.Context, err error) error {
	if Code(err) != pgerrcode.UndefinedFunction {
		return err
	}
	var schema, path string
	if qerr := s.pool.QueryRow(ctx, TrgmOffPathQuery).Scan(&schema, &path); qerr != nil {
		if !errors.Is(qerr, pgx.ErrNoRows) {
			s.log.DebugContext(ctx, "could not read where pg_trgm is installed", "err", qerr)
		}
		return err
	}
	return fmt.Errorf("%w: %w", TrgmOffSearchPath(schema, path), err)
}
