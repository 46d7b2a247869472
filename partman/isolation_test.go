package partman_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/partman"
)

// TestEnsureConcurrentCallersUnderStricterIsolation: the database's
// default_transaction_isolation is 'repeatable read' or 'serializable', as
// some DBAs set it, and several processes keep the partitions at once (the
// startup upkeep of every intel command). Before, a caller that waited for
// another's lock on telemetry_edges woke with its old snapshot, did not see
// the partition the other had made, and made it again: `ensure partition
// public.telemetry_edges_… : ERROR: relation "telemetry_edges_…" already
// exists (SQLSTATE 42P07)`, not retried, every command exit 1 (by hand:
// intel ingest feeds, intel ingest telemetry and intel partitions ensure at
// once). Every transaction of the store and partman now begins READ
// COMMITTED, whatever the default.
func TestEnsureConcurrentCallersUnderStricterIsolation(t *testing.T) {
	t.Parallel()
	for _, level := range []string{"repeatable read", "serializable"} {
		t.Run(level, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			const callers = 8
			dsn := pgtest.DSN(t)
			conn, err := pgx.Connect(ctx, dsn)
			require.NoError(t, err)
			_, err = conn.Exec(ctx, fmt.Sprintf(`DO $$ BEGIN
				EXECUTE format('ALTER DATABASE %%I SET default_transaction_isolation = %%L', current_database(), '%s');
			END $$`, level))
			require.NoError(t, err)
			require.NoError(t, conn.Close(ctx))
			pool := poolWith(t, dsn, callers+2, "")
			var got string
			require.NoError(t, pool.QueryRow(ctx, "SHOW default_transaction_isolation").Scan(&got))
			require.Equal(t, level, got)

			opts := partman.Options{Now: fixedNow(day(2025, 1, 31).Add(23 * time.Hour))}
			var (
				wg    sync.WaitGroup
				start = make(chan struct{})
				errs  = make([]error, callers)
			)
			for i := range callers {
				wg.Go(func() {
					<-start
					_, errs[i] = partman.Ensure(ctx, pool, opts)
				})
			}
			close(start)
			wg.Wait()
			for i := range callers {
				require.NoError(t, errs[i], "caller %d", i)
			}
			l, err := partman.List(ctx, pool, "")
			require.NoError(t, err)
			require.Len(t, l.Partitions, 8)
		})
	}
}
