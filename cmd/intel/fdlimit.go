package main

import (
	"log/slog"
	"os"

	"golang.org/x/sys/unix"
)

// Open files a load of feeds needs, by the process's open-file limit
// (RLIMIT_NOFILE, `ulimit -n`). Go raises the soft limit to the hard one at
// startup; a shell's `ulimit -n 64` sets both, and so do service managers
// (systemd's LimitNOFILE).
const (
	// fdsPerFeed: a feed loading holds its file open (a MISP feed
	// directory one event file at a time), and may open it again to hash
	// or detect it; two, to be safe.
	fdsPerFeed = 2
	// fdReserve: what else the command may open while it loads (the
	// pool's connections are counted apart): the log's and the runtime's
	// descriptors, a connection tried again beside one closing.
	fdReserve = 16
)

// concurrencyForOpenFiles returns how many of want feeds may load at once
// within the open-file limit, given the descriptors open now and the
// connections the pool may still open (poolConns, its most). Past the
// limit, each open fails with "too many open files": before, --concurrency
// 300 under `ulimit -n 64` loaded 48 feeds and failed the other 252 that
// way (each failing at once, so the rest of the list drained through the
// failures), exit 1. The answer is at least 1; when it is less than want,
// one WARN says so and how to load more at once.
func concurrencyForOpenFiles(want, poolConns int, log *slog.Logger) int {
	var lim unix.Rlimit
	if want <= 1 || unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) != nil || lim.Cur == unix.RLIM_INFINITY {
		return want
	}
	open := openFiles()
	room := int64(min(lim.Cur, 1<<30)) - int64(open) - int64(poolConns) - fdReserve
	capped := int(max(1, min(int64(want), room/fdsPerFeed)))
	if capped < want {
		log.Warn("fewer feeds load at once than asked: the open-file limit would be reached (ulimit -n); raise it to load more at once",
			"concurrency", want, "loading_at_once", capped, "open_file_limit", lim.Cur,
			"open_now", open, "pool_connections", poolConns, "files_per_feed", fdsPerFeed)
	}
	return capped
}

// openFiles counts the process's open file descriptors (/proc/self/fd, or
// /dev/fd where there is no /proc); 0 when neither can be read.
func openFiles() int {
	for _, dir := range []string{"/proc/self/fd", "/dev/fd"} {
		if es, err := os.ReadDir(dir); err == nil {
			return len(es)
		}
	}
	return 0
}
