package ingest

import (
	"time"

	"github.com/ransomeye/intel/internal/procid"
	"github.com/ransomeye/intel/store"
)

// StaleAfter is how long a running load on another host (or one that did
// not record its process) may go without a heartbeat before FeedStatus
// calls it stale: several HeartbeatIntervals, so a slow database does not
// make a live load look dead.
const StaleAfter = 10 * HeartbeatInterval

// FeedStatus is the status to show for a feed's bookkeeping at now: its
// recorded last_status, except that a running load whose process is gone
// is StatusStale. On this host the recorded process id and start time are
// checked; a load from another host is stale when its heartbeat is older
// than StaleAfter.
func FeedStatus(st store.FeedState, now time.Time) string {
	if st.LastStatus != StatusRunning {
		return st.LastStatus
	}
	runner := procid.ID{Host: st.RunningHost, PID: st.RunningPID, Start: st.RunningPIDStart}
	switch procid.Check(runner, procid.Self().Host) {
	case procid.Gone:
		return StatusStale
	case procid.Alive:
		return StatusRunning
	}
	last := st.UpdatedAt
	if st.HeartbeatAt != nil && st.HeartbeatAt.After(last) {
		last = *st.HeartbeatAt
	}
	if now.Sub(last) > StaleAfter {
		return StatusStale
	}
	return StatusRunning
}
