package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ransomeye/intel/internal/localdb"
)

func (a *app) localCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "local",
		Short: "Manage the local PostgreSQL used when no database URL is given",
		Long: `Without --database-url or DATABASE_URL, intel runs its own PostgreSQL cluster
from the server binaries on this machine, in the state directory:
  ` + strings.NewReplacer("; as root:", ";\n  as root:", " ($", "\n  ($").Replace(localdb.StateDirRule) + `.
As root, the server runs as the postgres (or nobody) user. It starts on first
use and keeps running for later commands until 'intel local stop'.

The server listens on 127.0.0.1 only, opens no unix socket, and lets in only its
superuser with a password generated on first start and kept in pgpass in the
state directory (mode 0600). The URL 'intel local start' prints names that file
(passfile=) instead of holding the password; psql and pgx read it.`,
		Example: `  intel local status
  intel local stop`,
	}
	var o localOptions
	status := &cobra.Command{
		Use:         "status",
		Annotations: readOnlyCut,
		Short:       "Show whether the local cluster exists and runs",
		Example:     "  intel local status --format json",
		Args:        noArgs,
		RunE:        func(*cobra.Command, []string) error { return a.runLocalStatus(o) },
	}
	status.Flags().StringVar(&o.format, "format", "table", "table or json")
	return group(cmd,
		&cobra.Command{
			Use:         "start",
			Annotations: cutNote("intel local status says whether the cluster runs"),
			Short:       "Start the local cluster (creating it on first use) and print its URL",
			Example:     "  intel local start\n  export DATABASE_URL=$(intel local start)",
			Args:        noArgs,
			RunE:        func(cmd *cobra.Command, _ []string) error { return a.runLocalStart(cmd.Context()) },
		},
		&cobra.Command{
			Use:         "stop",
			Annotations: cutNote("intel local status says whether the cluster runs"),
			Short:       "Stop the local cluster (its data stays for the next start)",
			Example:     "  intel local stop",
			Args:        noArgs,
			RunE:        func(cmd *cobra.Command, _ []string) error { return a.runLocalStop(cmd.Context()) },
		},
		status,
	)
}

// localOptions are the flags of intel local status.
type localOptions struct {
	format string
}

// openLocal opens the local cluster of the state directory.
func openLocal() (*localdb.Local, error) {
	dir, err := localdb.StateDir()
	if err != nil {
		return nil, err
	}
	return localdb.Open(dir)
}

// inspectLocal describes the local cluster of the state directory without
// making the directory or its password file (status, stop, version).
func inspectLocal() (*localdb.Local, error) {
	dir, err := localdb.StateDir()
	if err != nil {
		return nil, err
	}
	return localdb.Inspect(dir)
}

// runLocalStart starts the local cluster and prints its URL.
func (a *app) runLocalStart(ctx context.Context) error {
	l, err := openLocal()
	if err != nil {
		return err
	}
	url, err := l.Start(ctx)
	if err != nil {
		return err
	}
	a.warnMovedPort(l)
	_, err = fmt.Fprintln(a.stdout, url)
	return err
}

// warnMovedPort says when the local cluster had to move to another port
// (another program took its own while it was stopped): a DATABASE_URL
// exported before names that other program now.
func (a *app) warnMovedPort(l *localdb.Local) {
	if old := l.MovedFrom(); old != 0 {
		a.log.Warn("the local PostgreSQL's port was taken by another program; it now listens on another port: "+
			"a DATABASE_URL saved before (export DATABASE_URL=$(intel local start)) names that program, set it again",
			"old_port", old, "new_port", l.Status().Port)
	}
}

// runLocalStop stops the local cluster.
func (a *app) runLocalStop(ctx context.Context) error {
	l, err := inspectLocal()
	if err != nil {
		return err
	}
	// Say what was found: a state directory moved away (or a mistyped
	// INTEL_STATE_DIR) was "stopped" while its server ran on.
	switch st := l.Status(); {
	case !st.Initialized:
		_, err = fmt.Fprintf(a.stdout, "no local PostgreSQL in %s: nothing to stop\n", st.StateDir)
		return err
	case !st.Running:
		_, err = fmt.Fprintf(a.stdout, "local PostgreSQL in %s was not running\n", st.StateDir)
		return err
	}
	if err := l.Stop(ctx); err != nil {
		return err
	}
	_, err = fmt.Fprintln(a.stdout, "local PostgreSQL stopped")
	return err
}

// runLocalStatus prints where the local cluster is and whether it runs.
func (a *app) runLocalStatus(o localOptions) error {
	if err := formatFlag(o.format, "table", "json"); err != nil {
		return err
	}
	l, err := inspectLocal()
	if err != nil {
		return err
	}
	st := l.Status()
	if o.format == "json" {
		return writeJSON(a.stdout, st)
	}
	state := "stopped"
	if st.Running {
		state = "running on port " + fmt.Sprint(st.Port)
	}
	if !st.Initialized {
		state = "not created yet (any command that needs the database creates it)"
	}
	a.stdout.printf("state dir  %s\nstatus     %s\nserver     %s\nlog        %s\npassword   %s\n",
		st.StateDir, state, st.BinDir, st.LogFile, st.PasswordFile)
	if st.ServerUser != "" {
		a.stdout.printf("runs as    %s\n", st.ServerUser)
	}
	if st.URL != "" {
		a.stdout.printf("url        %s\n", st.URL)
	}
	return a.stdout.err
}
