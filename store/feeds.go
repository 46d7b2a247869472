package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ransomeye/intel/db/gen"
	"github.com/ransomeye/intel/internal/procid"
)

// FeedState is the load bookkeeping of one feed.
type FeedState struct {
	Name        string `json:"name"`
	Format      string `json:"format"`
	Location    string `json:"location"`
	ContentHash string `json:"content_hash"`
	// Mapping is the mapping version of the feed's format that made the
	// stored records at the last successful load (stix.MappingVersion,
	// misp.MappingVersion); "" when it loaded before migration 00039, and
	// for telemetry.
	Mapping string `json:"mapping,omitempty"`
	// LastStatus is never, running, ok, failed, skipped or interrupted.
	LastStatus   string          `json:"last_status"`
	LastError    string          `json:"last_error,omitempty"`
	LastReport   json.RawMessage `json:"last_report,omitempty"`
	LastLoadedAt *time.Time      `json:"last_loaded_at,omitempty"`
	UpdatedAt    time.Time       `json:"updated_at"`
	// RunningHost, RunningPID and RunningPIDStart name the process that
	// runs (or last ran) a load of the feed: its host, id and start time
	// (clock ticks after boot, Linux; 0 when unknown). StartedAt is when
	// that load started and HeartbeatAt its last sign of life.
	RunningHost     string     `json:"running_host,omitempty"`
	RunningPID      int        `json:"running_pid,omitempty"`
	RunningPIDStart int64      `json:"running_pid_start,omitempty"`
	StartedAt       *time.Time `json:"started_at,omitempty"`
	HeartbeatAt     *time.Time `json:"heartbeat_at,omitempty"`
}

// FeedLoad names one load of a feed: the process that runs it (host, id
// and start time, as FeedStarted recorded them) and when the load started.
// The outcome and heartbeat of a load are recorded only while the feed's
// bookkeeping still names it (FeedFinished, FeedHeartbeat).
type FeedLoad struct {
	Host      string
	PID       int
	PIDStart  int64
	StartedAt time.Time
}

// Load is the load the bookkeeping names as running or last run; nil when
// it names none (a feed never started).
func (f FeedState) Load() *FeedLoad {
	if f.StartedAt == nil {
		return nil
	}
	return &FeedLoad{Host: f.RunningHost, PID: f.RunningPID, PIDStart: f.RunningPIDStart, StartedAt: *f.StartedAt}
}

func (l FeedLoad) String() string {
	return fmt.Sprintf("pid %d on %s, started %s", l.PID, l.Host, l.StartedAt.UTC().Format(time.RFC3339Nano))
}

// ErrFeedSuperseded means a load's outcome was not recorded because the
// feed's bookkeeping is no longer the load's: another load took the feed
// over (this one was judged stale: a process paused by SIGSTOP, a VM
// frozen, a stall past StaleAfter) or, for an outcome of no load started
// (skipped, failed before starting), another load is running. What that
// other load records stands.
var ErrFeedSuperseded = errors.New("the feed's bookkeeping is another load's")

// FeedItemState is the bookkeeping of one item (a MISP event) of a feed.
type FeedItemState struct {
	Item        string     `json:"item"`
	ContentHash string     `json:"content_hash"`
	Mapping     string     `json:"mapping,omitempty"`
	SourceTS    *time.Time `json:"source_ts,omitempty"`
	LoadedAt    time.Time  `json:"loaded_at"`
}

func feedFromRow(r gen.Feed) FeedState {
	st := FeedState{Name: r.Name, Format: r.Format, Location: r.Location, ContentHash: r.ContentHash, Mapping: r.Mapping,
		LastStatus: r.LastStatus, LastError: r.LastError, LastReport: r.LastReport, LastLoadedAt: r.LastLoadedAt,
		UpdatedAt: r.UpdatedAt, RunningHost: r.RunningHost, StartedAt: r.StartedAt, HeartbeatAt: r.HeartbeatAt}
	if r.RunningPid != nil {
		st.RunningPID = int(*r.RunningPid)
	}
	if r.RunningPidStart != nil {
		st.RunningPIDStart = *r.RunningPidStart
	}
	return st
}

// Feed returns a feed's bookkeeping; ok is false for a feed never loaded.
func (s *Store) Feed(ctx context.Context, name string) (FeedState, bool, error) {
	var r gen.Feed
	err := s.retry(ctx, "read feed "+name, func(ctx context.Context) error {
		var err error
		r, err = s.q.FeedGet(ctx, name)
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return FeedState{}, false, nil
	}
	if err != nil {
		return FeedState{}, false, Interpret("get feed "+name, err)
	}
	return feedFromRow(r), true, nil
}

// Feeds returns every feed's bookkeeping.
func (s *Store) Feeds(ctx context.Context) ([]FeedState, error) {
	var rows []gen.Feed
	err := s.retry(ctx, "list feeds", func(ctx context.Context) error {
		var err error
		rows, err = s.q.FeedList(ctx)
		return err
	})
	if err != nil {
		return nil, Interpret("list feeds", err)
	}
	out := make([]FeedState, 0, len(rows))
	for _, r := range rows {
		out = append(out, feedFromRow(r))
	}
	return out, nil
}

// FeedStarted registers a feed and marks a load as running in this process
// (its host, id and start time are recorded, so that the load can be told
// stale once the process is gone). It returns the load, for FeedFinished
// and FeedHeartbeat.
func (s *Store) FeedStarted(ctx context.Context, name, format, location string) (FeedLoad, error) {
	self := procid.Self()
	pid := int32(self.PID)
	var start *int64
	if self.Start != 0 {
		start = &self.Start
	}
	var row gen.Feed
	err := s.retry(ctx, "record start of feed "+name, func(ctx context.Context) error {
		var err error
		row, err = s.q.FeedStartIf(ctx, gen.FeedStartIfParams{Name: name, Format: format, Location: location,
			RunningHost: self.Host, RunningPid: &pid, RunningPidStart: start, TakeOver: true})
		return err
	})
	if err != nil {
		return FeedLoad{}, Interpret("record start of feed "+name, err)
	}
	return *feedFromRow(row).Load(), nil
}

// FeedStartedUnlessRunning is FeedStarted that does not take over a load
// of the feed running in another process (two `intel ingest feeds` of the
// same list at once): it starts the load only when none is running, when
// the running one is this process's, or when it is the one stale names
// (the caller read it and judged its process gone: its StartedAt and
// RunningPID). Otherwise ok is false and running is the feed's
// bookkeeping as it now stands, naming the process whose load runs. When
// ok, running.Load() is the load started, for FeedFinished and
// FeedHeartbeat.
func (s *Store) FeedStartedUnlessRunning(ctx context.Context, name, format, location string, stale *FeedState) (running FeedState, ok bool, err error) {
	self := procid.Self()
	pid := int32(self.PID)
	p := gen.FeedStartIfParams{Name: name, Format: format, Location: location, RunningHost: self.Host, RunningPid: &pid}
	if self.Start != 0 {
		p.RunningPidStart = &self.Start
	}
	if stale != nil && stale.StartedAt != nil {
		p.StaleStartedAt = stale.StartedAt
		if stale.RunningPID != 0 {
			stalePID := int32(stale.RunningPID)
			p.StalePid = &stalePID
		}
	}
	var row gen.Feed
	err = s.retry(ctx, "record start of feed "+name, func(ctx context.Context) error {
		var err error
		row, err = s.q.FeedStartIf(ctx, p)
		if errors.Is(err, pgx.ErrNoRows) {
			ok = false
			row, err = s.q.FeedGet(ctx, name)
			return err
		}
		ok = err == nil
		return err
	})
	if err != nil {
		return FeedState{}, false, Interpret("record start of feed "+name, err)
	}
	return feedFromRow(row), ok, nil
}

// FeedHeartbeat renews the sign of life of load, a load of the feed this
// process started. It returns false when the bookkeeping no longer names
// it (the load has ended, or another load has taken the feed over).
func (s *Store) FeedHeartbeat(ctx context.Context, name string, load FeedLoad) (bool, error) {
	p := gen.FeedHeartbeatParams{Name: name, StartedAt: &load.StartedAt}
	p.RunningHost, p.RunningPid, p.RunningPidStart = loadParams(load)
	var n int64
	err := s.retry(ctx, "renew the heartbeat of feed "+name, func(ctx context.Context) error {
		var err error
		n, err = s.q.FeedHeartbeat(ctx, p)
		return err
	})
	if err != nil {
		return false, Interpret("renew the heartbeat of feed "+name, err)
	}
	return n > 0, nil
}

func loadParams(load FeedLoad) (host string, pid *int32, pidStart *int64) {
	p := int32(load.PID)
	if load.PIDStart != 0 {
		pidStart = &load.PIDStart
	}
	return load.Host, &p, pidStart
}

// FeedFinished records the outcome of load (nil for an outcome of no load
// started: skipped, or failed before the load started): status ok,
// failed, skipped or interrupted, the error text, the report (any JSON
// value) and, when ok, the content hash and the mapping version that made
// the records. It records only while the feed's bookkeeping still names
// load (or, load nil, while no load runs); otherwise it writes nothing and
// returns an error wrapping ErrFeedSuperseded that names the load the
// bookkeeping is now.
func (s *Store) FeedFinished(ctx context.Context, load *FeedLoad, name, status, errText, contentHash, mapping string, report any) error {
	raw, err := json.Marshal(report)
	if err != nil || report == nil {
		raw = []byte("{}")
	}
	p := gen.FeedFinishParams{Name: name, Status: status, Error: errText, Report: raw, ContentHash: contentHash, Mapping: mapping}
	if load != nil {
		p.StartedAt = &load.StartedAt
		p.RunningHost, p.RunningPid, p.RunningPidStart = loadParams(*load)
	}
	var n int64
	var now gen.Feed
	if err := s.retry(ctx, "record end of feed "+name, func(ctx context.Context) error {
		var err error
		if n, err = s.q.FeedFinish(ctx, p); err != nil || n > 0 {
			return err
		}
		now, err = s.q.FeedGet(ctx, name)
		return err
	}); errors.Is(err, pgx.ErrNoRows) {
		return nil // a feed never registered: nothing to record, as before
	} else if err != nil {
		return Interpret("record end of feed "+name, err)
	}
	if n > 0 {
		return nil
	}
	other := now.LastStatus
	if l := feedFromRow(now).Load(); l != nil {
		other = fmt.Sprintf("%s, by %s", now.LastStatus, l)
	}
	if load == nil {
		return fmt.Errorf("%s of feed %s not recorded: %w: another load runs: %s", status, name, ErrFeedSuperseded, other)
	}
	return fmt.Errorf("%s of feed %s not recorded: %w: this load (%s) was taken over by another as stale; the feed's bookkeeping is now %s",
		status, name, ErrFeedSuperseded, load, other)
}

// FeedItems returns the per-item bookkeeping of a feed, by item.
func (s *Store) FeedItems(ctx context.Context, feed string) (map[string]FeedItemState, error) {
	var rows []gen.FeedItem
	err := s.retry(ctx, "list items of feed "+feed, func(ctx context.Context) error {
		var err error
		rows, err = s.q.FeedItemList(ctx, feed)
		return err
	})
	if err != nil {
		return nil, Interpret("list items of feed "+feed, err)
	}
	out := make(map[string]FeedItemState, len(rows))
	for _, r := range rows {
		out[r.Item] = FeedItemState{Item: r.Item, ContentHash: r.ContentHash, Mapping: r.Mapping, SourceTS: r.SourceTs, LoadedAt: r.LoadedAt}
	}
	return out, nil
}

// FeedItemLoaded records that an item of a feed was loaded with this
// content, by this mapping version. With a load's context (WithFeedLoad)
// it records nothing once another load has taken the feed over, and
// returns an error wrapping ErrLoadDisplaced.
func (s *Store) FeedItemLoaded(ctx context.Context, feed, item, contentHash, mapping string, sourceTS *time.Time) error {
	p := gen.FeedItemUpsertParams{Feed: feed, Item: item, ContentHash: contentHash, Mapping: mapping, SourceTs: sourceTS}
	if err := s.retry(ctx, "record item of feed "+feed, func(ctx context.Context) error {
		if _, ok := ctx.Value(feedLoadKey{}).(heldLoad); !ok {
			return s.q.FeedItemUpsert(ctx, p)
		}
		// A load's item: recorded only while the load still holds the feed.
		return WithTx(ctx, s.pool, TxOptions{}, func(tx pgx.Tx) error {
			if err := s.checkLoadHeld(ctx, tx); err != nil {
				return err
			}
			return s.q.WithTx(tx).FeedItemUpsert(ctx, p)
		})
	}); err != nil {
		return Interpret(fmt.Sprintf("record item %s of feed %s", item, feed), err)
	}
	return nil
}

// Counts are the sizes of the graph tables.
type Counts struct {
	NodesByKind      map[string]int64 `json:"nodes_by_kind"`
	Nodes            int64            `json:"nodes"`
	Relations        int64            `json:"relations"`
	PendingRelations int64            `json:"pending_relations"`
}

// Counts returns the number of nodes per kind, relations and pending relations.
func (s *Store) Counts(ctx context.Context) (Counts, error) {
	c := Counts{NodesByKind: map[string]int64{}}
	rows, err := s.q.NodeCountByKind(ctx)
	if err != nil {
		return c, Interpret("count nodes", err)
	}
	for _, r := range rows {
		c.NodesByKind[r.Kind] = r.Nodes
		c.Nodes += r.Nodes
	}
	rc, err := s.q.RelationCount(ctx)
	if err != nil {
		return c, Interpret("count relations", err)
	}
	c.Relations, c.PendingRelations = rc.Relations, rc.Pending
	return c, nil
}

// ErrLoadDisplaced means a write of a feed's load (WithFeedLoad) was
// refused, and rolled back, because the feed's bookkeeping no longer
// names that load: another process took the feed over as stale (this
// load's process was paused, frozen or stalled past the heartbeat limit)
// or the load has been recorded as ended. Nothing of the refused
// transaction is stored, and a load that meets it should stop: what it
// would write next, and its outcome, are the other load's to write. It is
// never retried (Transient is false for it).
var ErrLoadDisplaced = errors.New("this load of the feed was taken over by another process as stale: it writes nothing more")

type feedLoadKey struct{}

// heldLoad is the load a context's writes belong to (WithFeedLoad).
type heldLoad struct {
	name string
	load FeedLoad
}

// WithFeedLoad returns ctx marked as the context of load, this process's
// load of feed name (FeedStarted, FeedStartedUnlessRunning): every
// transaction of the Store run with it (or a context derived from it) that
// writes the graph, telemetry or a feed item first asks, in that same
// transaction before it commits, whether the feed's bookkeeping still names
// load, and rolls back with an error wrapping ErrLoadDisplaced when it
// does not. Before, a load taken over as stale that then resumed went on
// committing its batches (and, for a MISP feed directory, recording its
// events as loaded, so the next run skipped them) beside the load that
// took it over; only its outcome was withheld.
func WithFeedLoad(ctx context.Context, name string, load FeedLoad) context.Context {
	return context.WithValue(ctx, feedLoadKey{}, heldLoad{name: name, load: load})
}

// checkLoadHeld returns an error wrapping ErrLoadDisplaced when ctx is a
// load's (WithFeedLoad) that the feed's bookkeeping, read in tx, no longer
// names; nil otherwise, and for a context of no load.
func (s *Store) checkLoadHeld(ctx context.Context, tx pgx.Tx) error {
	h, ok := ctx.Value(feedLoadKey{}).(heldLoad)
	if !ok {
		return nil
	}
	p := gen.FeedLoadHeldParams{Name: h.name, StartedAt: &h.load.StartedAt}
	p.RunningHost, p.RunningPid, p.RunningPidStart = loadParams(h.load)
	held, err := s.q.WithTx(tx).FeedLoadHeld(ctx, p)
	if err != nil {
		return fmt.Errorf("check that this process still holds the load of feed %s: %w", h.name, err)
	}
	if !held {
		return Permanent(fmt.Errorf("feed %s: %w (this load: %s; intel feeds shows the load that holds it)", h.name, ErrLoadDisplaced, h.load))
	}
	return nil
}
