// Package pgcluster runs a private PostgreSQL cluster from the server
// binaries installed on the machine: it finds them (PATH, pg_config --bindir,
// /usr/lib/postgresql/*/bin), initdb's a data directory, and starts the server
// on a loopback port, as an unprivileged user when the process is root
// (PostgreSQL refuses to run as root).
//
// The test harness (internal/pgtest) runs a throw-away cluster as a child
// process that dies with the tests; the intel CLI keeps a persistent cluster
// in the user's state directory and starts it with pg_ctl.
package pgcluster
