package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/ransomeye/intel/ingest"
)

// interrupts turns the first SIGINT, SIGTERM or SIGHUP into the end of the
// command's context, whose cause is an interruptCause naming the signal.
// Loads then let the batch they are writing commit (ingest.Options.
// InterruptGrace) and stop; run prints one line and exits 128 + the signal
// number (130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP, 141 for SIGPIPE: a
// closed pipe on stdout or stderr, which is then ignored). A second signal ends the
// process at once, by the signal's default action.
type interrupts struct {
	ch      chan os.Signal
	done    chan struct{}
	mu      sync.Mutex
	sig     syscall.Signal
	expired time.Duration // the --timeout that ended the command, when it did
	at      time.Time     // when sig came, or the timeout ran out
	cancel  context.CancelCauseFunc
}

// notifyInterrupts starts watching for SIGINT and SIGTERM; call stop.
func notifyInterrupts(parent context.Context) (context.Context, *interrupts) {
	ctx, cancel := context.WithCancelCause(parent)
	in := &interrupts{ch: make(chan os.Signal, 1), done: make(chan struct{}), cancel: cancel}
	sigs := []os.Signal{syscall.SIGINT, syscall.SIGTERM}
	// A hang-up (the terminal or ssh session of a load went away) killed the
	// process mid-batch: no interrupted record, the feed left running, then
	// stale. It stops the command like SIGTERM, unless it was ignored when
	// intel started (nohup): Notify would undo that.
	if !signal.Ignored(syscall.SIGHUP) {
		sigs = append(sigs, syscall.SIGHUP)
	}
	// A closed pipe on stdout or stderr (intel ingest … 2>&1 | head)
	// killed the process mid-batch the same way. It stops the command like
	// SIGTERM; later writes to the closed pipe fail (EPIPE) instead of
	// killing it again.
	if !signal.Ignored(syscall.SIGPIPE) {
		sigs = append(sigs, syscall.SIGPIPE)
	}
	signal.Notify(in.ch, sigs...)
	go func() {
		for {
			select {
			case s := <-in.ch:
				sig, _ := s.(syscall.Signal)
				if sig == syscall.SIGPIPE && !outputClosed() {
					// Once SIGPIPE is notified, a write to any closed
					// socket raises it too: the database server's, when
					// the server restarts or ends the connection. That
					// write fails (EPIPE) and is retried; it is no reason
					// to stop. Before, a server restart "interrupted by
					// SIGPIPE" a load its retries would have finished.
					continue
				}
				if sig == syscall.SIGPIPE {
					// The pipe stays closed: every later write would raise it.
					signal.Ignore(syscall.SIGPIPE)
				}
				// From now on a second signal takes its default action.
				signal.Stop(in.ch)
				in.mu.Lock()
				in.sig, in.at = sig, time.Now()
				in.mu.Unlock()
				cancel(interruptCause{sig: sig})
				return
			case <-in.done:
				return
			}
		}
	}()
	return ctx, in
}

// outputClosed reports whether stdout or stderr is a pipe or socket whose
// reader has gone (poll reports POLLERR or POLLHUP for it).
func outputClosed() bool {
	fds := []unix.PollFd{{Fd: 1}, {Fd: 2}}
	if _, err := unix.Poll(fds, 0); err != nil {
		return true // cannot tell: take the signal as it was meant
	}
	for _, fd := range fds {
		if fd.Revents&(unix.POLLERR|unix.POLLHUP) != 0 {
			return true
		}
	}
	return false
}

// timeout ends the command's context after d (--timeout) as a signal does,
// its cause an interruptCause naming the timeout: the loads stop as they
// do on Ctrl-C, and run exits 1 (a failure: nobody asked it to stop). It
// does nothing when a signal came first.
func (in *interrupts) timeout(d time.Duration) {
	t := time.AfterFunc(d, func() {
		in.mu.Lock()
		defer in.mu.Unlock()
		if in.sig != 0 || in.expired != 0 {
			return
		}
		in.expired, in.at = d, time.Now()
		in.cancel(interruptCause{timeout: d})
	})
	go func() {
		<-in.done
		t.Stop()
	}()
}

// timedOut returns the --timeout that ended the command, or 0.
func (in *interrupts) timedOut() time.Duration {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.expired
}

// received returns the signal that interrupted the command, or 0.
func (in *interrupts) received() syscall.Signal {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.sig
}

// deadline is when an interrupted command must have ended: the signal's
// (or the timeout's) time plus the interrupt grace
// (ingest.DefaultInterruptGrace); zero when neither came.
func (in *interrupts) deadline() time.Time {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.at.IsZero() {
		return time.Time{}
	}
	return in.at.Add(ingest.DefaultInterruptGrace)
}

// stop stops watching.
func (in *interrupts) stop() {
	signal.Stop(in.ch)
	close(in.done)
	in.cancel(nil)
}

// interruptCause is the cause of the context of an interrupted command:
// a signal, or the --timeout that ran out.
type interruptCause struct {
	sig     syscall.Signal
	timeout time.Duration
}

func (c interruptCause) Error() string {
	if c.timeout > 0 {
		return "stopped by --timeout " + c.timeout.String()
	}
	return "interrupted by " + signalName(c.sig)
}

// signalName is SIGINT, SIGTERM or the signal's number.
func signalName(sig syscall.Signal) string {
	switch sig {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGHUP:
		return "SIGHUP"
	case syscall.SIGPIPE:
		return "SIGPIPE"
	}
	return fmt.Sprintf("signal %d", int(sig))
}

// interruptedError is what an interrupted load returns: how far it got and
// what it recorded, for the one line run prints.
type interruptedError struct {
	cause       error // the interruptCause
	records     int64 // records (or telemetry lines) read
	unit        string
	stored      string   // what was committed: "300 nodes and 120 relations", "800 edges"
	interrupted []string // feeds recorded as interrupted
	unrecorded  []string // feeds interrupted whose record failed
	superseded  []string // feeds interrupted after another load took them over as stale
	notStarted  []string // feeds whose turn had not come
	dryRun      bool     // nothing was recorded
}

func (e *interruptedError) Error() string {
	var b strings.Builder
	b.WriteString(e.cause.Error())
	// Records read are not records stored: say both.
	fmt.Fprintf(&b, " after reading %d %s", e.records, e.unit)
	if e.stored != "" && !e.dryRun {
		fmt.Fprintf(&b, " (stored: %s)", e.stored)
	}
	switch {
	case len(e.interrupted) > 0 && e.dryRun:
		fmt.Fprintf(&b, "; %s stopped (dry run: nothing recorded)", feedList(e.interrupted))
	case len(e.interrupted) > 0:
		fmt.Fprintf(&b, "; %s marked interrupted", feedList(e.interrupted))
	}
	if len(e.unrecorded) > 0 {
		fmt.Fprintf(&b, "; %s could not be marked interrupted (see the log; 'intel feeds' shows it stale)", feedList(e.unrecorded))
	}
	if len(e.superseded) > 0 {
		fmt.Fprintf(&b, "; %s not marked interrupted: another load took it over as stale (see the log; 'intel feeds' shows that load)", feedList(e.superseded))
	}
	if len(e.notStarted) > 0 {
		fmt.Fprintf(&b, "; %s not started", feedList(e.notStarted))
	}
	return b.String()
}

func (e *interruptedError) Unwrap() error { return e.cause }

// feedList is "feed a" or "feeds a, b".
func feedList(names []string) string {
	if len(names) == 1 {
		return "feed " + names[0]
	}
	return "feeds " + strings.Join(names, ", ")
}

// cutError is the error of a command that a signal or --timeout cut
// before its work was done, saying what it had done and what not (done);
// run prints it after the cause: "stopped by --timeout 1s: made 2 of 8 day
// partitions (…)".
type cutError struct {
	err  error
	done string
}

func (e *cutError) Error() string { return e.done + ": " + e.err.Error() }
func (e *cutError) Unwrap() error { return e.err }

// cutAnnotation is the key of a command's annotation saying what is left
// when it is cut and has no cutError of its own to say it: "changes
// nothing" for a command that only reads.
const cutAnnotation = "intel/cut"

// readOnlyCut is the cut annotation of the commands that only read.
var readOnlyCut = cutNote("it only reads: nothing is left half done")

// cutNote is the annotation of a command saying what is left when it is
// cut.
func cutNote(note string) map[string]string { return map[string]string{cutAnnotation: note} }

// interruptMessage is the line run prints for a command cmd that ended
// because of cause: the command's interruptedError or cutError when it
// returned one, else the cause and what cmd's annotation says is left (or
// that cmd did not finish).
func interruptMessage(err error, cause interruptCause, cmd *cobra.Command) string {
	if ie := (*interruptedError)(nil); errors.As(err, &ie) {
		return ie.Error()
	}
	if ce := (*cutError)(nil); errors.As(err, &ce) {
		return cause.Error() + ": " + ce.done
	}
	if cmd == nil {
		return cause.Error()
	}
	if note := cmd.Annotations[cutAnnotation]; note != "" {
		return fmt.Sprintf("%s before %s finished; %s", cause, cmd.CommandPath(), note)
	}
	return fmt.Sprintf("%s before %s finished", cause, cmd.CommandPath())
}
