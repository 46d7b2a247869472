package pgtest

import (
	"net"
	"testing"
)

// Listen listens on a free loopback port and hands each connection to
// serve, on a goroutine of its own, until the listener is closed (the
// fault tests' TCP proxies in front of a server are built on it).
func Listen(t testing.TB, serve func(net.Conn)) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pgtest: listen: %v", err)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go serve(c)
		}
	}()
	return l
}
