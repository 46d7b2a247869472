package main_test

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/feedtest"
	"github.com/ransomeye/intel/internal/pgtest"
)

// pooler is a stand-in for PgBouncer in transaction mode in front of a
// server, as far as a client can tell: it refuses a startup packet that
// carries a parameter it does not know (jit), as PgBouncer does
// ("unsupported startup parameter: jit", 08P01), and counts the named
// prepared statements (a Parse with a name) clients send, which a
// transaction pooler hands to whichever server connection runs the next
// transaction (42P05 "already exists", 26000 "does not exist"). Everything
// else is passed through to the server.
type pooler struct {
	server      string
	refusedJIT  atomic.Int64
	namedParses atomic.Int64
	// walks counts the graph walk's statements (FindRelated, WalkLevel)
	// clients parse, walksJITOff those parsed inside a transaction that
	// turned JIT off for itself (SET LOCAL jit = off, or set_config's
	// local form) before them.
	walks, walksJITOff atomic.Int64
	// ignoreJIT passes a startup packet on without its jit parameter
	// instead of refusing it (PgBouncer's ignore_startup_parameters = jit).
	ignoreJIT bool
	l         net.Listener
}

func startPooler(t *testing.T, dsn string) (*pooler, string) {
	t.Helper()
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	p := &pooler{server: u.Host}
	p.l = pgtest.Listen(t, p.serve)
	t.Cleanup(func() { _ = p.l.Close() })
	u.Host = p.l.Addr().String()
	return p, u.String()
}

func (p *pooler) serve(client net.Conn) {
	defer client.Close() //nolint:errcheck // the test's proxy
	var head [8]byte
	if _, err := io.ReadFull(client, head[:]); err != nil {
		return
	}
	n := binary.BigEndian.Uint32(head[:4])
	if n < 8 || n > 1<<16 {
		return
	}
	body := make([]byte, n-8)
	if _, err := io.ReadFull(client, body); err != nil {
		return
	}
	if binary.BigEndian.Uint32(head[4:]) == 196608 { // protocol 3.0: key\0value\0…
		params := strings.Split(string(body), "\x00")
		for i := 0; i+1 < len(params); i += 2 {
			if params[i] == "jit" && p.ignoreJIT {
				params = append(params[:i:i], params[i+2:]...)
				body = []byte(strings.Join(params, "\x00"))
				binary.BigEndian.PutUint32(head[:4], uint32(len(body)+8)) //nolint:gosec // a startup packet
				break
			}
			if params[i] == "jit" {
				p.refusedJIT.Add(1)
				_, _ = client.Write(pgtest.FatalResponse("08P01", "unsupported startup parameter: jit"))
				return
			}
		}
	}
	server, err := net.Dial("tcp", p.server)
	if err != nil {
		return
	}
	defer server.Close() //nolint:errcheck // the test's proxy
	if _, err := server.Write(append(head[:], body...)); err != nil {
		return
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		_, _ = io.Copy(client, server)
		_ = client.Close()
	})
	p.frontend(client, server)
	_ = server.Close()
	wg.Wait()
}

// frontend passes the client's messages to the server, counting the named
// Parse messages and the walks' statements, with JIT turned off by
// transaction or not. A session SET of jit is not counted: it would reach
// the other clients of a real pooler's server connection.
func (p *pooler) frontend(client, server net.Conn) {
	var head [5]byte
	jitOff := false // in a transaction that turned JIT off for itself
	for {
		if _, err := io.ReadFull(client, head[:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(head[1:])
		if n < 4 {
			return
		}
		body := make([]byte, n-4)
		if _, err := io.ReadFull(client, body); err != nil {
			return
		}
		if head[0] == 'P' && len(body) > 0 && body[0] != 0 { // Parse: the statement's name first
			p.namedParses.Add(1)
		}
		var text string
		switch head[0] {
		case 'Q': // a simple query's text
			text = string(body)
		case 'P': // Parse: name\0query\0…
			if _, q, ok := strings.Cut(string(body), "\x00"); ok {
				text, _, _ = strings.Cut(q, "\x00")
			}
		}
		lower := strings.ToLower(text)
		switch {
		case strings.Contains(lower, "set local jit = off"), strings.Contains(lower, "set_config('jit', 'off', true)"):
			jitOff = true
		case strings.HasPrefix(lower, "commit"), strings.HasPrefix(lower, "rollback"):
			jitOff = false
		case strings.Contains(text, "-- name: FindRelated "), strings.Contains(text, "-- name: WalkLevel "):
			p.walks.Add(1)
			if jitOff {
				p.walksJITOff.Add(1)
			}
		}
		if _, err := server.Write(append(head[:], body...)); err != nil {
			return
		}
	}
}

// TestThroughATransactionPooler: intel given the URL of PgBouncer (in
// transaction mode, as docs/scale.md puts it in front of a coordinator).
// Before, every command failed at its first connection: `read the
// server's connection limits: … FATAL: unsupported startup parameter: jit
// (SQLSTATE 08P01)`, since intel turns JIT off with a startup parameter;
// with `ignore_startup_parameters = jit` in pgbouncer.ini, loads then failed
// on pgx's named prepared statements (`prepared statement
// "stmtcache_…" already exists`, 42P05). Now a refused jit parameter is
// taken for a pooler: intel connects without it and with unnamed
// statements (default_query_exec_mode=exec), and says so once.
func TestThroughATransactionPooler(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	p, via := startPooler(t, dsn)
	env := []string{"DATABASE_URL=" + via}
	feed := feedtest.MalwareFeed(t, 300)
	runThroughPooler(t, p, env, "a connection pooler (PgBouncer?) refused the jit startup parameter",
		[]string{"ingest", "stix", feed, "--feed", "pooled"},
		[]string{"search", "m1"},
		[]string{"related", "malware:m1", "--depth", "2"},
		[]string{"related", "malware:m1", "--depth", "2", "--engine", "levels"},
		[]string{"partitions", "ensure"},
		[]string{"migrate", "status"})
	require.Positive(t, p.refusedJIT.Load())

	// The URL's own choice of mode stands.
	r := intel(t, []string{"DATABASE_URL=" + via + "&default_query_exec_mode=cache_statement"}, "", "search", "m1")
	require.Equal(t, 0, r.code, r.stderr)
	require.Positive(t, p.namedParses.Load(), "cache_statement, as the URL says")
}

// TestThroughAPoolerThatIgnoresJIT: PgBouncer in transaction mode with
// ignore_startup_parameters = jit passes connections on without the
// parameter, so intel could not tell it was there: its sessions ran with
// the server's jit = on, and pgx's named prepared statements went through
// the transaction pooler (`prepared statement "stmtcache_…" already
// exists`, 42P05, on a real one). Now a session whose jit is not off,
// although it was started with jit=off (which wins over every server, role
// or database setting), is taken for such a pooler: unnamed statements,
// and JIT off by transaction.
func TestThroughAPoolerThatIgnoresJIT(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	p, via := startPooler(t, dsn)
	p.ignoreJIT = true
	env := []string{"DATABASE_URL=" + via + "&options=-c%20jit%3Don"} // the server's default, as most have it
	feed := feedtest.MalwareFeed(t, 300)
	runThroughPooler(t, p, env, "although it was started with jit=off: a connection pooler",
		[]string{"ingest", "stix", feed, "--feed", "pooled"},
		[]string{"search", "m1"},
		[]string{"related", "malware:m1", "--depth", "2"},
		[]string{"related", "malware:m1", "--depth", "2", "--engine", "levels"})
	require.Zero(t, p.refusedJIT.Load())
}

// TestThroughAPoolerThatIgnoresJITOnAServerWithJITOff: the same pooler in
// front of a server whose own jit is off (here the database's setting) was
// not recognised: the session's jit was off, as if the parameter had
// arrived, so pgx's named prepared statements went through the transaction
// pooler. Now a session whose jit did not come from its startup packet
// (pg_settings.source is not client) is taken for such a pooler too.
func TestThroughAPoolerThatIgnoresJITOnAServerWithJITOff(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET jit = off', current_database()); END $$`)
	require.NoError(t, err)
	require.NoError(t, conn.Close(ctx))
	p, via := startPooler(t, dsn)
	p.ignoreJIT = true
	env := []string{"DATABASE_URL=" + via}
	feed := feedtest.MalwareFeed(t, 300)
	runThroughPooler(t, p, env, "jit = off (from database) although it was started with jit=off: a connection pooler",
		[]string{"ingest", "stix", feed, "--feed", "pooled"},
		[]string{"related", "malware:m1", "--depth", "2"})
	require.Zero(t, p.refusedJIT.Load())
}

// runThroughPooler runs each command through the stand-in pooler p: each
// exits 0 and says the pooler was seen (said), no named prepared statement
// goes through, and every walk statement runs in a transaction with JIT
// off (before: none did, the walks ran with the server's jit = on, about
// 150 ms of compilation each).
func runThroughPooler(t *testing.T, p *pooler, env []string, said string, commands ...[]string) {
	t.Helper()
	for _, args := range commands {
		r := intel(t, env, "", args...)
		require.Equal(t, 0, r.code, "intel %v: %s", args, r.stderr)
		require.Contains(t, r.stderr, said, args)
	}
	require.Zero(t, p.namedParses.Load(), "no named prepared statement goes through a transaction pooler")
	require.Positive(t, p.walks.Load())
	require.Equal(t, p.walks.Load(), p.walksJITOff.Load(), "every walk statement in a transaction with JIT off")
}
