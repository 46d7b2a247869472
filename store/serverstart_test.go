package store_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// startingServer stands in front of a test server as a restarting
// PostgreSQL does, as far as a client can tell: restart cuts every
// connection, and then the next refusals new connections are answered
// FATAL 57P03 "the database system is not yet accepting connections" (a
// server in crash recovery; -1: for ever); after them connections pass
// through to the server. Counting refusals, not time, keeps the test free
// of timing.
type startingServer struct {
	target  string
	refuse  atomic.Int64
	refused atomic.Int64
	mu      sync.Mutex
	conns   map[net.Conn]bool
	l       net.Listener
}

func startStartingServer(t *testing.T, dsn string) (*startingServer, string) {
	t.Helper()
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	s := &startingServer{target: u.Host, conns: map[net.Conn]bool{}}
	s.l = pgtest.Listen(t, s.serve)
	t.Cleanup(func() { _ = s.l.Close(); s.restart(0) })
	u.Host = s.l.Addr().String()
	return s, u.String()
}

// restart cuts every connection and refuses the next n (-1: all).
func (s *startingServer) restart(n int64) {
	s.refuse.Store(n)
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		_ = c.Close()
	}
	clear(s.conns)
}

func (s *startingServer) track(cs ...net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range cs {
		s.conns[c] = true
	}
}

func (s *startingServer) serve(c net.Conn) {
	defer c.Close() //nolint:errcheck // the test's stand-in
	var head [8]byte
	var body []byte
	for {
		if _, err := io.ReadFull(c, head[:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(head[:4])
		if n < 8 || n > 1<<16 {
			return
		}
		body = make([]byte, n-8)
		if _, err := io.ReadFull(c, body); err != nil {
			return
		}
		if binary.BigEndian.Uint32(head[4:]) != 80877103 && binary.BigEndian.Uint32(head[4:]) != 80877104 { // SSL, GSS requests
			break
		}
		if _, err := c.Write([]byte{'N'}); err != nil {
			return
		}
	}
	for {
		left := s.refuse.Load()
		if left == 0 {
			break
		}
		if left < 0 || s.refuse.CompareAndSwap(left, left-1) {
			s.refused.Add(1)
			_, _ = c.Write(fatal("57P03", "the database system is not yet accepting connections"))
			return
		}
	}
	server, err := net.Dial("tcp", s.target)
	if err != nil {
		return
	}
	defer server.Close() //nolint:errcheck // the test's stand-in
	s.track(c, server)
	if _, err := server.Write(append(head[:], body...)); err != nil {
		return
	}
	go func() {
		_, _ = io.Copy(c, server)
		_ = c.Close()
	}()
	_, _ = io.Copy(server, c)
}

// fatal is a FATAL ErrorResponse message.
func fatal(code, msg string) []byte {
	var fields bytes.Buffer
	for _, f := range [][2]string{{"S", "FATAL"}, {"V", "FATAL"}, {"C", code}, {"M", msg}} {
		fields.WriteString(f[0] + f[1] + "\x00")
	}
	fields.WriteByte(0)
	out := []byte{'E', 0, 0, 0, 0}
	binary.BigEndian.PutUint32(out[1:], uint32(fields.Len()+4)) //nolint:gosec // a few bytes
	return append(out, fields.Bytes()...)
}

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
	srv, through := startStartingServer(t, dsn)
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
	srv.restart(60)
	_, err = s.Write(ctx, batch("before"))
	require.Error(t, err, "%s", logs.String())
	require.Equal(t, "57P03", store.Code(err), "%v", err)
	require.Zero(t, count("before"))

	// With the wait: stored once, one WARN that it waits.
	s, logs = open(time.Minute)
	srv.restart(60)
	ws, err := s.Write(ctx, batch("waited"))
	require.NoError(t, err, "%s", logs.String())
	require.EqualValues(t, 100, ws.NodesInserted)
	require.Equal(t, 100, count("waited"))
	require.Contains(t, logs.String(), "the server is starting up (crash recovery, or a restart): write waits for it")
	require.GreaterOrEqual(t, srv.refused.Load(), int64(60+60))

	// A server that never comes back: the wait is bounded, and said.
	s, logs = open(300 * time.Millisecond)
	srv.restart(-1)
	_, err = s.Write(ctx, batch("never"))
	require.ErrorIs(t, err, store.ErrServerStillStarting, "%s", logs.String())
	require.ErrorContains(t, err, "not yet accepting connections")
	require.Contains(t, logs.String(), "giving up waiting for the server to start")
	srv.restart(0)
	require.Zero(t, count("never"))
}
