package pgcluster

import "errors"

// ErrNoServer means that no PostgreSQL server binaries were found. Its text
// says what to install, or to set DATABASE_URL to use an existing server.
var ErrNoServer = errors.New("no PostgreSQL server binaries (initdb, postgres, pg_ctl) found in PATH, " +
	"`pg_config --bindir` or /usr/lib/postgresql/*/bin: install the PostgreSQL server " +
	"(Debian/Ubuntu: apt-get install postgresql; Fedora: dnf install postgresql-server; " +
	"macOS: brew install postgresql) or set DATABASE_URL to an existing server")

// ErrNotInitialized means that a cluster directory has no initialized data directory.
var ErrNotInitialized = errors.New("cluster not initialized")

// ErrPasswordRejected means that the server refused the cluster's password.
var ErrPasswordRejected = errors.New("the server rejected the superuser's password")

// ErrServerFull means that the server runs but refused a connection
// because every one of its max_connections is taken (SQLSTATE 53300): it
// is not starting, and waiting for it to start does not help.
var ErrServerFull = errors.New("the server is running but has no free connection: " +
	"other clients hold every one of its max_connections; close some of them or raise max_connections")
