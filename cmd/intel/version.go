package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"

	"github.com/ransomeye/intel/ingest"
)

// versionInfo is what intel version prints.
type versionInfo struct {
	// Version is the module version (v1.2.3, a pseudo-version, or "(devel)"
	// for a build without one).
	Version string `json:"version"`
	// Commit, CommitTime and Modified come from the build's VCS stamp
	// (empty when it has none, such as go run or -buildvcs=false).
	Commit     string `json:"commit,omitempty"`
	CommitTime string `json:"commit_time,omitempty"`
	Modified   bool   `json:"modified,omitempty"`
	Go         string `json:"go"`
	Platform   string `json:"platform"`
	// Mappings are the mapping versions of the feed formats
	// (ingest.MappingVersion): a feed loaded by another is loaded again
	// even when unchanged.
	Mappings map[string]string `json:"mappings"`
	// Server is the PostgreSQL server version, when a database is
	// reachable; ServerError says why there is none.
	Server      string `json:"server,omitempty"`
	ServerError string `json:"server_error,omitempty"`
}

// versionServerTimeout bounds how long intel version waits for a server.
const versionServerTimeout = 5 * time.Second

func (a *app) versionCommand() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:         "version",
		Annotations: readOnlyCut,
		Short:       "Print the version of intel, its commit, Go, and the server's when one is reachable",
		Long: `version prints the module version and commit intel was built from, the Go
version, the mapping versions of the feed formats (a feed loaded by another
mapping is loaded again by ingest even when unchanged), and the PostgreSQL
server version of --database-url (or
DATABASE_URL, or the local cluster when it is running). It does not start the
local cluster, and an unreachable server is reported, not an error.`,
		Example: "  intel version\n  intel version --format json",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := formatFlag(format, "table", "json"); err != nil {
				return err
			}
			v := buildVersion()
			v.Server, v.ServerError = a.serverVersion(cmd.Context())
			if format == "json" {
				return writeJSON(a.stdout, v)
			}
			return writeVersion(a.stdout, v)
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "table or json")
	return cmd
}

// buildCommit is the commit of a build without a VCS stamp (go builds in a
// git worktree, or with -buildvcs=false), set by make build and make demo:
// -ldflags "-X main.buildCommit=$(git rev-parse HEAD)".
var buildCommit string

// buildVersion reads the module version and VCS stamp of the binary.
func buildVersion() versionInfo {
	info, ok := debug.ReadBuildInfo()
	return versionFrom(info, ok, buildCommit)
}

// versionFrom reads the version from a build's info (ok false: none) and
// the commit set at link time.
func versionFrom(info *debug.BuildInfo, ok bool, linkedCommit string) versionInfo {
	v := versionInfo{Version: "(devel)", Commit: linkedCommit, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH,
		Mappings: map[string]string{ingest.FormatSTIX: ingest.MappingVersion(ingest.FormatSTIX), ingest.FormatMISP: ingest.MappingVersion(ingest.FormatMISP)}}
	if !ok {
		return v
	}
	if info.Main.Version != "" {
		v.Version = info.Main.Version
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Commit = s.Value
		case "vcs.time":
			v.CommitTime = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

// serverVersion asks the database for its version, without starting the
// local cluster: it returns the version, or why there is none.
func (a *app) serverVersion(ctx context.Context) (version, why string) {
	if a.databaseURL == "" {
		l, err := inspectLocal()
		if err != nil {
			return "", "no database: no --database-url or DATABASE_URL, and the local cluster cannot be used: " + err.Error()
		}
		if !l.Status().Running {
			return "", "no database: no --database-url or DATABASE_URL, and the local cluster is not running"
		}
	}
	a.connectTimeout = min(a.connectTimeout, versionServerTimeout)
	a.connectGiven = true // the bound of version, whatever the URL says
	pool, err := a.openPool(ctx)
	if err != nil {
		return "", err.Error()
	}
	if err := pool.QueryRow(ctx, "SHOW server_version").Scan(&version); err != nil {
		return "", fmt.Sprintf("read server version: %v", err)
	}
	return "PostgreSQL " + version, ""
}

// writeVersion writes v for a person.
func writeVersion(w *printer, v versionInfo) error {
	tw := newTablePrinter(w)
	tw.printf("intel\t%s\n", v.Version)
	if v.Commit != "" {
		commit := v.Commit
		if v.CommitTime != "" {
			commit += " (" + v.CommitTime + ")"
		}
		if v.Modified {
			commit += ", with uncommitted changes"
		}
		tw.printf("commit\t%s\n", commit)
	} else {
		tw.printf("commit\tunknown (built without VCS information)\n")
	}
	tw.printf("go\t%s %s\n", v.Go, v.Platform)
	tw.printf("mappings\tstix %s, misp %s\n", v.Mappings[ingest.FormatSTIX], v.Mappings[ingest.FormatMISP])
	if v.Server != "" {
		tw.printf("server\t%s\n", v.Server)
	} else {
		tw.printf("server\tnone: %s\n", oneLine(v.ServerError))
	}
	return tw.flush()
}
