package store_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// TestWriteWaitsForAServerInRecovery: the server restarts under a load
// and its crash recovery outlasts the write's retries: here 60 connection
// refusals with 57P03 against 3 tries. With RetryPolicy.Recovery the
// write waits for it (one WARN that it waits, the refusals spending no
// try) and stores its batch once; without it (Recovery 0, the policy of
// every write before) it fails with the server's 57P03, as a load did when
// recovery took longer than 10 to 21 s. A server that never comes back is
// waited for Recovery and no longer, and the error says so.
func TestWriteWaitsForAServerInRecovery(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	srv, through := pgtest.NewStartingServer(t, dsn)
	direct, err := pgxpool.New(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(direct.Close)

	batch := func(name string) graph.Batch {
		var nodes []graph.Node
		for i := range 100 {
			nodes = append(nodes, graph.ValueNode(graph.KindDomainName, fmt.Sprintf("%s-%d.example", name, i)))
		}
		return graph.Batch{Nodes: nodes}
	}
	count := func(name string) int {
		var n int
		require.NoError(t, direct.QueryRow(ctx, "SELECT count(*) FROM nodes WHERE name LIKE $1", name+"-%").Scan(&n))
		return n
	}
	open := func(recovery time.Duration) (*store.Store, *lockedBuffer) {
		pool, err := pgxpool.New(ctx, through)
		require.NoError(t, err)
		t.Cleanup(pool.Close)
		var logs lockedBuffer
		s := store.NewStore(pool, store.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))),
			store.WithRetryPolicy(store.RetryPolicy{Attempts: 3, Base: 5 * time.Millisecond, Max: 10 * time.Millisecond, Recovery: recovery}))
		_, err = s.Write(ctx, batch("warm-"+recovery.String())) // the pool holds a connection, which the restart cuts
		require.NoError(t, err, "%s", logs.String())
		return s, &logs
	}

	// Before: the tries are spent on the refusals and the write fails.
	s, logs := open(0)
	srv.Restart(60)
	_, err = s.Write(ctx, batch("before"))
	require.Error(t, err, "%s", logs.String())
	require.Equal(t, "57P03", store.Code(err), "%v", err)
	require.Zero(t, count("before"))

	// With the wait: stored once, one WARN that it waits.
	s, logs = open(time.Minute)
	srv.Restart(60)
	ws, err := s.Write(ctx, batch("waited"))
	require.NoError(t, err, "%s", logs.String())
	require.EqualValues(t, 100, ws.NodesInserted)
	require.Equal(t, 100, count("waited"))
	require.Contains(t, logs.String(), "the server is starting up (crash recovery, or a restart): write waits for it")
	require.GreaterOrEqual(t, srv.Refused(), int64(60+60))

	// A server that never comes back: the wait is bounded, and said.
	s, logs = open(300 * time.Millisecond)
	srv.Restart(-1)
	_, err = s.Write(ctx, batch("never"))
	require.ErrorIs(t, err, store.ErrServerStillStarting, "%s", logs.String())
	require.ErrorContains(t, err, "not yet accepting connections")
	require.Contains(t, logs.String(), "giving up waiting for the server to start")
	srv.Restart(0)
	require.Zero(t, count("never"))
}

// TestShuttingDownInAnotherLanguageIsNoStart: a server shutting down
// refuses connections with 57P03 too ("the database system is shutting
// down"), in the language of its lc_messages; a smart shutdown keeps
// refusing for as long as other sessions stay. Such a refusal is a try,
// not a wait for a start, in any language PostgreSQL 15 translates it to.
// Before, only the English words were told apart: a German server's
// "das Datenbanksystem fährt herunter" was waited for as a start (here
// the whole RetryPolicy.Recovery, then ErrServerStillStarting), while its
// "das Datenbanksystem startet" is still waited for.
func TestShuttingDownInAnotherLanguageIsNoStart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, through := pgtest.NewStartingServer(t, pgtest.DSN(t))
	pool, err := pgxpool.New(ctx, through)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	var logs *lockedBuffer
	write := func(name string) error {
		logs = &lockedBuffer{}
		s := store.NewStore(pool, store.WithLogger(slog.New(slog.NewTextHandler(logs, nil))),
			store.WithRetryPolicy(store.RetryPolicy{Attempts: 3, Base: 5 * time.Millisecond, Max: 10 * time.Millisecond, Recovery: 2 * time.Second}))
		_, err := s.Write(ctx, graph.Batch{Nodes: []graph.Node{graph.ValueNode(graph.KindDomainName, name+".example")}})
		return err
	}
	require.NoError(t, write("warm"))

	for _, msg := range []string{"das Datenbanksystem fährt herunter", "le système de base de données s'arrête",
		"データベースシステムはシャットダウンしています", "the database system is shutting down"} {
		srv.SetMessage(msg)
		srv.Restart(-1)
		err := write("down")
		require.Error(t, err)
		require.NotErrorIs(t, err, store.ErrServerStillStarting, "%s: %s", msg, logs.String())
		require.Contains(t, logs.String(), "giving up retrying write", msg)
		require.NotContains(t, logs.String(), "waits for it", msg)
		require.False(t, store.ServerStarting(err), msg)
	}

	// A start in German is still waited for.
	srv.SetMessage("das Datenbanksystem startet")
	srv.Restart(10)
	require.NoError(t, write("started"), logs.String())
	require.Contains(t, logs.String(), "waits for it")
}
