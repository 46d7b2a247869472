// Package procid names a process across hosts and time: its host name, its
// id and its start time, so a record left by a process (a feed load marked
// running) can later be checked against the processes that exist.
//
// A process id alone is not enough: ids are reused, so a later process can
// hold the id of one that died. On Linux the start time of a process (clock
// ticks after boot, field 22 of /proc/PID/stat) tells them apart; elsewhere
// it is unknown and the id alone is checked.
package procid

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// ID names one process.
type ID struct {
	Host string
	PID  int
	// Start is the process's start time in clock ticks after boot (Linux),
	// 0 when unknown.
	Start int64
}

// Self returns the ID of the running process.
func Self() ID {
	host, err := os.Hostname()
	if err != nil {
		host = ""
	}
	pid := os.Getpid()
	start, _ := StartTicks(pid)
	return ID{Host: host, PID: pid, Start: start}
}

// Liveness is what Alive can tell about a process.
type Liveness int

const (
	// Unknown: the process ran on another host (or the ID is incomplete).
	Unknown Liveness = iota
	// Alive: a process with this id (and start time, when known) exists on
	// this host.
	Alive
	// Gone: no such process exists on this host.
	Gone
)

// String returns "unknown", "alive" or "gone".
func (l Liveness) String() string {
	return [...]string{"unknown", "alive", "gone"}[l]
}

// Check tells whether the process id names exists, when it ran on this
// host (host is Self().Host).
func Check(id ID, host string) Liveness {
	if id.Host == "" || id.Host != host || id.PID <= 0 {
		return Unknown
	}
	if !pidExists(id.PID) {
		return Gone
	}
	if id.Start != 0 {
		if start, err := StartTicks(id.PID); err == nil && start != id.Start {
			return Gone // the id was reused by a later process
		}
	}
	return Alive
}

// pidExists reports whether a process with this id exists (signal 0: EPERM
// means it exists but belongs to someone else).
func pidExists(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// StartTicks returns the start time of process pid in clock ticks after
// boot, from /proc/PID/stat (Linux); an error elsewhere or when the process
// does not exist.
func StartTicks(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	return parseStat(string(b))
}

// parseStat reads field 22 (starttime) of a /proc/PID/stat line. The
// second field, the command name in parentheses, may hold blanks and
// parentheses, so the fields are counted after its last ')'.
func parseStat(s string) (int64, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("procid: malformed stat line")
	}
	fields := strings.Fields(s[i+1:])
	// fields[0] is field 3 (state), so field 22 is fields[19].
	if len(fields) < 20 {
		return 0, fmt.Errorf("procid: stat line has %d fields after the command", len(fields))
	}
	n, err := strconv.ParseInt(fields[19], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("procid: start time %q: %w", fields[19], err)
	}
	return n, nil
}
