package pgtest

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
)

// StartingServer stands in front of a test server as a restarting
// PostgreSQL does, as far as a client can tell: Restart cuts every
// connection, and then the next refusals new connections are answered
// FATAL 57P03 with Message (by default "the database system is not yet
// accepting connections", a server in crash recovery; -1: for ever); after
// them connections pass through to the server. Counting refusals, not
// time, keeps the tests free of timing.
type StartingServer struct {
	target  string
	refuse  atomic.Int64
	refused atomic.Int64
	mu      sync.Mutex
	message string
	conns   map[net.Conn]bool
	l       net.Listener
}

// NotYetAccepting is what PostgreSQL 15 says to a connection while it
// replays the WAL (SQLSTATE 57P03).
const NotYetAccepting = "the database system is not yet accepting connections"

// NewStartingServer starts a StartingServer in front of the server of dsn
// (passing every connection through until Restart) and returns it with
// dsn pointed at it.
func NewStartingServer(t testing.TB, dsn string) (*StartingServer, string) {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("pgtest: parse %q: %v", dsn, err)
	}
	s := &StartingServer{target: u.Host, conns: map[net.Conn]bool{}, message: NotYetAccepting}
	s.l = Listen(t, s.serve)
	t.Cleanup(func() { _ = s.l.Close(); s.Restart(0) })
	u.Host = s.l.Addr().String()
	return s, u.String()
}

// Restart cuts every connection and refuses the next n (-1: all) with
// SQLSTATE 57P03.
func (s *StartingServer) Restart(n int64) {
	s.refuse.Store(n)
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		_ = c.Close()
	}
	clear(s.conns)
}

// SetMessage sets the words of the refusals to come (a server in another
// lc_messages says them in its language; the SQLSTATE is the same).
func (s *StartingServer) SetMessage(msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.message = msg
}

// Refused is how many connections were refused so far.
func (s *StartingServer) Refused() int64 { return s.refused.Load() }

func (s *StartingServer) track(cs ...net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range cs {
		s.conns[c] = true
	}
}

func (s *StartingServer) serve(c net.Conn) {
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
			s.mu.Lock()
			msg := s.message
			s.mu.Unlock()
			_, _ = c.Write(FatalResponse("57P03", msg))
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

// FatalResponse is a FATAL ErrorResponse message of the PostgreSQL wire
// protocol with the SQLSTATE code and message, as a server (or a pooler in
// front of it) refuses a connection with.
func FatalResponse(code, msg string) []byte {
	var fields bytes.Buffer
	for _, f := range [][2]string{{"S", "FATAL"}, {"V", "FATAL"}, {"C", code}, {"M", msg}} {
		fields.WriteString(f[0] + f[1] + "\x00")
	}
	fields.WriteByte(0)
	out := []byte{'E', 0, 0, 0, 0}
	binary.BigEndian.PutUint32(out[1:], uint32(fields.Len()+4)) //nolint:gosec // a few bytes
	return append(out, fields.Bytes()...)
}
