// Command intel operates the ransomeye-intel threat graph: it migrates the
// schema, keeps the daily telemetry partitions, loads STIX, MISP and
// telemetry feeds, answers "what is related to this", sizes itself from the
// machine, and runs a local PostgreSQL when no database URL is given.
//
// Run `intel --help` for the commands and `intel demo` to see them all work.
package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"syscall"

	"github.com/ransomeye/intel/internal/redact"
	"github.com/ransomeye/intel/store"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// Exit codes. A command interrupted by a signal exits 128 + the signal's
// number: 130 for SIGINT, 143 for SIGTERM.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
	// exitAttention: a check ran and found something to do (intel
	// partitions check: status attention), as monitoring expects a check
	// to say it, apart from a check that could not run (1).
	exitAttention = 3
	// exitNotFound and exitAmbiguous: a node reference (show, related)
	// that names no node, or several, so that a script tells them apart
	// from a failure to answer (1).
	exitNotFound  = 4
	exitAmbiguous = 5
)

// attentionError ends a check that ran and found something to do: exit
// code exitAttention, its message on stderr.
type attentionError struct{ msg string }

func (e attentionError) Error() string { return e.msg }

// lookupError ends a command whose node reference named no node
// (exitNotFound) or several (exitAmbiguous): the store's error, kept in the
// chain.
type lookupError struct {
	err  error
	code int
}

func (e lookupError) Error() string { return e.err.Error() }
func (e lookupError) Unwrap() error { return e.err }

// lookupFailed gives err, the failure to resolve a node reference, its
// exit code: not found, ambiguous, or (any other error) none of its own.
func lookupFailed(err error) error {
	switch {
	case errors.Is(err, store.ErrAmbiguous):
		return lookupError{err: err, code: exitAmbiguous}
	case errors.Is(err, store.ErrNotFound):
		return lookupError{err: err, code: exitNotFound}
	}
	return err
}

// run executes the command line and returns the exit code (the contract
// intel --help states): 0 on success, 2 for a usage error, 3 when a check
// found something to do, 4 when a node reference names no node and 5 when
// it names several, 128 + the signal when a signal stopped it before its
// work was done, 1 for any other failure (--timeout running out included,
// output that could not be written to stdout included), with a one-line
// cause on stderr. A command cut by a signal or --timeout must return an
// error (an interruptedError or cutError saying how far it got), never nil.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := newApp(stdin, stdout, stderr)
	ctx, interrupts := notifyInterrupts(context.Background())
	defer interrupts.stop()
	defer func() { a.close(interrupts.deadline()) }()
	a.interrupts = interrupts
	root := a.rootCommand()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		err = a.helpErr
	}
	outputLost := false
	if werr := a.stdout.err; werr != nil && (err == nil || err == werr) {
		// The command's output was lost (full disk, closed pipe): a script
		// reading it must not take the exit code for success.
		err, outputLost = fmt.Errorf("write output: %w", werr), true
	}
	if err == nil {
		return exitOK
	}
	// A closed pipe on stdout raises SIGPIPE at the very write that fails:
	// when that write is what failed, the signal is its echo, not a stop
	// from outside. Before, the exit code was a race between the two: 1
	// (`write output: … broken pipe`) or, about one run in ten, 141 with
	// `interrupted by SIGPIPE before intel tune finished`, of a command
	// that had done all its work but print it.
	if sig := interrupts.received(); sig != 0 && (sig != syscall.SIGPIPE || !outputLost) {
		a.lastWord(stderr, 128+int(sig), redact.String(interruptMessage(err, interruptCause{sig: sig}, a.cmd)), "")
		return 128 + int(sig)
	}
	if d := interrupts.timedOut(); d > 0 {
		a.lastWord(stderr, exitFailure, redact.String(interruptMessage(err, interruptCause{timeout: d}, a.cmd)), "")
		return exitFailure
	}
	err = explainPooledStatements(explainServerLimit(a.pool, a.explainCitusBudget(err)))
	msg := oneLine(redact.String(err.Error()))
	var ue usageError
	if errors.As(err, &ue) {
		path := cmp.Or(a.cmdPath, root.CommandPath())
		var uc unknownCommandError
		if c, _, ferr := root.Find(args); errors.As(err, &uc) {
			path = uc.path
		} else if ferr == nil && c != nil {
			path = c.CommandPath()
		}
		a.lastWord(stderr, exitUsage, msg, fmt.Sprintf("Run '%s --help' for usage.", path))
		return exitUsage
	}
	var le lookupError
	if errors.As(err, &le) {
		a.lastWord(stderr, le.code, msg, "")
		return le.code
	}
	if errors.As(err, new(attentionError)) {
		a.lastWord(stderr, exitAttention, msg, "")
		return exitAttention
	}
	a.lastWord(stderr, exitFailure, msg, "")
	return exitFailure
}

// lastWord writes why the command ends with code: the line "intel: msg"
// (and hint on a line of its own), or with --log-format json one JSON
// record like the log's, so that stderr read as JSON lines holds the error
// too.
func (a *app) lastWord(stderr io.Writer, code int, msg, hint string) {
	if a.logFormat != "json" {
		msg = string(escapeControls([]byte(msg))) // names and values from feeds: see termsafe.go
		diagf(stderr, "intel: %s\n", msg)
		if hint != "" {
			diagf(stderr, "%s\n", hint)
		}
		return
	}
	attrs := []slog.Attr{slog.Int("exit_code", code)}
	if hint != "" {
		attrs = append(attrs, slog.String("hint", hint))
	}
	slog.New(slog.NewJSONHandler(stderr, nil)).LogAttrs(context.Background(), slog.LevelError, msg, attrs...)
}

// oneLine folds a multi-line error into one line.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		rest := strings.Fields(s[i+1:])
		s = s[:i]
		if len(rest) > 0 {
			s += " (" + strings.Join(rest, " ") + ")"
		}
	}
	if len(s) > 600 {
		s = s[:600] + "…"
	}
	return s
}
