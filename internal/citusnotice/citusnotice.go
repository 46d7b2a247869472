// Package citusnotice keeps, per connection, the last error a Citus
// coordinator passed on from a worker as a WARNING, so that the error the
// statement then fails with can name it.
//
// A statement on a Citus coordinator whose command failed on a worker (a
// lock not granted within lock_timeout there, a deadlock, a cancel) fails
// with "failure on connection marked as essential: host:port" (XX000): the
// worker's own error, with its SQLSTATE, arrives only before it, as a
// WARNING notice ("while executing command on host:port"). pgx drops
// notices unless the connection has a handler: Record is that handler
// (tuning.ConfigurePool installs it), and store.WithTx asks Take for the
// notice when a transaction fails that way, so a worker's lock timeout is
// a lock timeout (55P03, retried as one) and not a lost worker.
package citusnotice

import (
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// key is where the notice is kept in the connection's CustomData.
const key = "intel.citus.worker_notice"

// Record returns a notice handler that keeps a worker's error passed on by
// a Citus coordinator and then calls next (which may be nil).
func Record(next pgconn.NoticeHandler) pgconn.NoticeHandler {
	return func(c *pgconn.PgConn, n *pgconn.Notice) {
		if n.Severity == "WARNING" && n.Code != "" && Worker(n) != "" {
			c.CustomData()[key] = n
		}
		if next != nil {
			next(c, n)
		}
	}
}

// Take returns the last worker error kept for c and forgets it, or nil.
func Take(c *pgconn.PgConn) *pgconn.Notice {
	data := c.CustomData()
	n, _ := data[key].(*pgconn.Notice)
	delete(data, key)
	return n
}

// Worker is the "host:port" of the worker a coordinator's notice is about,
// or "" when it is not a worker's error passed on.
func Worker(n *pgconn.Notice) string {
	const on = "while executing command on "
	i := strings.Index(n.Where, on)
	if i < 0 {
		return ""
	}
	w := n.Where[i+len(on):]
	if j := strings.IndexAny(w, "\n "); j >= 0 {
		w = w[:j]
	}
	return w
}
