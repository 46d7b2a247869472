package stix

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// fileIndicator is one indicator in version modified whose pattern
// describes one file by name and MD5, and by SHA-1 when withSHA1.
func fileIndicator(modified string, withSHA1 bool) string {
	pattern := `[file:name = 'dropper.exe' AND file:hashes.MD5 = '6a1c0000000000000000000000000bee'`
	if withSHA1 {
		pattern += ` AND file:hashes.'SHA-1' = '6a1c00000000000000000000000000000000beef'`
	}
	return fmt.Sprintf(`{"type": "indicator", "spec_version": "2.1", "id": "indicator--6a1c0000-0000-4000-8000-000000000030",
  "created": "2024-01-05T00:00:00Z", "modified": %q, "valid_from": "2024-01-05T00:00:00Z",
  "pattern_type": "stix", "pattern": %q}`, modified, pattern+"]")
}

// TestNewerIndicatorPatternTakesItsHasHashLinkAway: an indicator whose
// pattern describes one file by its name and hashes links that file
// has-hash each of them; the links are stated by the indicator in its
// version, as its based-on links are. A newer version of the indicator
// whose pattern lost the SHA-1 takes the file's has-hash link to it away,
// and the older version loaded after the newer does not bring it back.
// Before, the pattern's has-hash links were stated by no version and stood
// for ever: MD5 and SHA-1 after the newer version, in either order.
func TestNewerIndicatorPatternTakesItsHasHashLinkAway(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	v1 := fileIndicator("2024-01-05T00:00:00Z", true)
	v2 := fileIndicator("2024-02-05T00:00:00Z", false)
	for _, order := range [][2]string{{v1, v2}, {v2, v1}} {
		pool := pgtest.Pool(t)
		st := store.NewStore(pool, store.WithLogger(quietLogger))
		live := func(relation string) []string {
			rows, err := pool.Query(ctx, `SELECT d.key FROM relations r JOIN nodes d ON d.id = r.dst_id
				WHERE r.relation = $1 AND d.kind = 'hash' ORDER BY 1`, relation)
			require.NoError(t, err)
			keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
			require.NoError(t, err)
			return keys
		}
		for i, doc := range order {
			loadFeed(t, st, "indicators", doc)
			if i == 0 && doc == v1 {
				require.Len(t, live("has-hash"), 2, "the first version alone: md5 and sha1")
			}
		}
		want := []string{"MD5:6a1c0000000000000000000000000bee"}
		require.Equal(t, want, live("has-hash"), "v1 first: %v", order[0] == v1)
		require.Equal(t, want, live("based-on"), "v1 first: %v", order[0] == v1)
	}
}
