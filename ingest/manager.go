package ingest

import (
	"bufio"
	"cmp"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"iter"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"golang.org/x/sync/errgroup"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/engine"
	"github.com/ransomeye/intel/ingest/internal/textenc"
	"github.com/ransomeye/intel/ingest/misp"
	"github.com/ransomeye/intel/ingest/stix"
	"github.com/ransomeye/intel/ingest/telemetry"
	"github.com/ransomeye/intel/internal/redact"
	"github.com/ransomeye/intel/store"
)

// Statuses of a feed load. Running, ok, failed, skipped and interrupted
// are recorded in the feeds table; cancelled is a Result's only (the load
// never started, so nothing was recorded), and stale is how FeedStatus
// shows a running load whose process is gone.
const (
	StatusRunning     = "running"
	StatusOK          = "ok"
	StatusSkipped     = "skipped"
	StatusFailed      = "failed"
	StatusInterrupted = "interrupted"
	StatusCancelled   = "cancelled"
	StatusStale       = "stale"
)

// Store is what the manager writes to and keeps its bookkeeping in:
// store.Store.
type Store interface {
	graph.Sink
	// AppendTelemetry writes the edges of telemetry feeds.
	AppendTelemetry(ctx context.Context, edges iter.Seq2[graph.TelemetryEdge, error]) (store.TelemetryStats, error)
	Feed(ctx context.Context, name string) (store.FeedState, bool, error)
	// FeedStarted marks a load of the feed as running in this process
	// and returns it; FeedFinished records the outcome of that load (nil:
	// of no load started) unless another load has taken the feed over
	// since (an error wrapping store.ErrFeedSuperseded).
	FeedStarted(ctx context.Context, name, format, location string) (store.FeedLoad, error)
	FeedFinished(ctx context.Context, load *store.FeedLoad, name, status, errText, contentHash, mapping string, report any) error
	FeedItems(ctx context.Context, feed string) (map[string]store.FeedItemState, error)
	FeedItemLoaded(ctx context.Context, feed, item, contentHash, mapping string, sourceTS *time.Time) error
	ReleasePending(ctx context.Context) (graph.WriteStats, error)
}

// Options configure Run.
type Options struct {
	// Concurrency is how many feeds load at once (default 2).
	Concurrency int
	// Force reloads feeds and events whose content has not changed.
	Force bool
	// DryRun parses, maps and validates without writing (Store may be nil).
	DryRun bool
	// Workers and BatchSize pass to the loaders; 0 means the engine's
	// defaults (1 worker, engine.DefaultBatchSize). The CLI passes tuning's
	// plan for the machine.
	Workers   int
	BatchSize int
	// Writers is how many batches of a feed are written at once (see
	// engine.Options.Writers); 0 means the store's Writers() (tuning's
	// plan for the machine) when it has them, else 1. A feed whose
	// batches were written side by side ends with Store.ReleasePending, so
	// that it loads to the same graph as when written one at a time.
	Writers int
	// Logger receives per-record warnings and per-feed outcomes.
	Logger *slog.Logger
	// ReportsFailures says the caller reports each failed Result's Error
	// itself (the CLI's one error line), so a failure is not logged too.
	ReportsFailures bool
	// Progress, when set, receives live per-feed counters.
	Progress *Progress
	// InterruptGrace bounds how long a load goes on once ctx ends: the
	// batch being written may take BatchGrace of it to commit before it is
	// cancelled (rolled back), and what is left records the outcome (the
	// feed interrupted, the events of a feed directory written). Every
	// database call after ctx ends runs under a context that ends with the
	// grace (AfterGrace), so a server that stops answering cannot hold the
	// load longer. 0 means DefaultInterruptGrace.
	InterruptGrace time.Duration
}

// DefaultInterruptGrace is the default Options.InterruptGrace.
const DefaultInterruptGrace = 10 * time.Second

// BatchGrace is the part of an interrupt grace the batch being written
// may take to commit: three quarters (7.5 s of the default 10 s). The last
// quarter is left to record the feed interrupted when the batch had to be
// cancelled.
func BatchGrace(grace time.Duration) time.Duration { return grace - grace/4 }

// AfterGrace returns a context that carries ctx's values and ends grace
// after ctx ends (grace after the call when ctx has ended already), with
// ctx's cause: the context of the work that goes on once ctx has ended (a
// batch committing, an interrupted feed's record, the lines a pipe
// delivered being written), so that it ends in time whatever the server
// does. Call the CancelFunc when that work is done.
func AfterGrace(ctx context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	after, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	var timer *time.Timer
	var mu sync.Mutex
	stopAfter := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		timer = time.AfterFunc(grace, func() { cancel(context.Cause(ctx)) })
	})
	return after, func() {
		stopAfter()
		mu.Lock()
		if timer != nil {
			timer.Stop()
		}
		mu.Unlock()
		cancel(nil)
	}
}

// engine returns the loaders' options for feed.
func (o Options) engine(feed string, progress *feedProgress) engine.Options {
	return engine.Options{Feed: feed, Workers: o.Workers, BatchSize: o.BatchSize, Writers: o.Writers,
		Logger: o.Logger, Progress: progress.update}
}

// writersFor returns o with Writers filled from st when 0 (1 for a dry
// run, whose sink counts on one goroutine).
func (o Options) writersFor(st Store) Options {
	switch w, ok := st.(interface{ Writers() int }); {
	case o.DryRun:
		o.Writers = 1
	case o.Writers > 0:
	case ok:
		o.Writers = w.Writers()
	default:
		o.Writers = 1
	}
	return o
}

// Result is the outcome of loading one feed.
type Result struct {
	Feed        Feed   `json:"feed"`
	Format      string `json:"format"`
	Status      string `json:"status"`
	ContentHash string `json:"content_hash,omitempty"`
	// Mapping is the mapping version of the feed's format this build
	// maps it with (MappingVersion).
	Mapping string `json:"mapping,omitempty"`
	// Report is the feed's load report, of every format (a telemetry
	// feed's has Report.Telemetry).
	Report *engine.Report `json:"report,omitempty"`
	// Events counts, for a MISP feed directory, the events loaded and the
	// unchanged ones skipped.
	EventsLoaded  int    `json:"events_loaded,omitempty"`
	EventsSkipped int    `json:"events_skipped,omitempty"`
	Error         string `json:"error,omitempty"`
	// RecordError says why the outcome (Status) could not be recorded in
	// the feed's bookkeeping: the database gone at the end of the load (the
	// feed then still shows running, and stale once this process ends), or
	// the load superseded (Superseded).
	RecordError string `json:"record_error,omitempty"`
	// Superseded says the outcome was not recorded because another load
	// had taken the feed over: this one was judged stale (its process
	// paused, frozen or stalled past StaleAfter) and another process
	// loaded the feed meanwhile, or, skipped, another load started. The
	// feed's bookkeeping is that load's; Status is still what this load
	// did (what it wrote has committed).
	Superseded bool `json:"superseded,omitempty"`
	// ServerLimit names the server setting (statement_timeout,
	// lock_timeout, idle_in_transaction_session_timeout, ...) whose limit
	// ended the load, when one did (store.ServerLimit); Error says so.
	ServerLimit string `json:"server_limit,omitempty"`
	// DryRun says the load wrote nothing: Report.Written counts what a
	// database would have been asked to insert.
	DryRun bool `json:"dry_run,omitempty"`
}

// Run loads feeds, at most Options.Concurrency at once, and returns one
// Result per feed in the order given. A feed that fails does not stop the
// others; Run returns an error joining the failures. When feeds loaded
// concurrently, it then releases the pending relations that they completed
// for each other (see graph.Store.ReleasePending).
func Run(ctx context.Context, st Store, feeds []Feed, opts Options) ([]Result, error) {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 2
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if st == nil && !opts.DryRun {
		return nil, errors.New("ingest: no store (use DryRun to load without a database)")
	}
	results := make([]Result, len(feeds))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(opts.Concurrency)
	for i, f := range feeds {
		g.Go(func() error {
			results[i] = LoadFeed(gctx, st, f, opts)
			return nil
		})
	}
	_ = g.Wait()
	var errs []error
	for _, r := range results {
		if r.Status == StatusFailed {
			errs = append(errs, fmt.Errorf("feed %s: %s", r.Feed.Name, r.Error))
		}
	}
	if !opts.DryRun && len(feeds) > 1 && opts.Concurrency > 1 && ctx.Err() == nil && !allSkipped(results) {
		// Feeds loaded side by side can each park a relationship whose
		// endpoint the other was writing at that moment; sweep them up.
		ws, err := st.ReleasePending(ctx)
		if err != nil {
			errs = append(errs, err)
		} else if ws.RelationsReleased > 0 {
			opts.Logger.Info("released pending relations completed by concurrently loaded feeds",
				"released", ws.RelationsReleased)
		}
	}
	return results, errors.Join(errs...)
}

// allSkipped reports whether every feed was skipped unchanged: no feed
// wrote, so none parked a relation another completed (and a read-only
// server, where only skips succeed, is not asked to write).
func allSkipped(results []Result) bool {
	for _, r := range results {
		if r.Status != StatusSkipped {
			return false
		}
	}
	return true
}

// LoadFeed loads one feed: it detects the format, skips the feed when its
// content hash matches the last successful load (unless Force), loads it,
// and records the outcome.
//
// A load that reads no record of its format (an empty file, an empty
// bundle, a file of the other format) fails with an error wrapping
// ErrNoRecords and is not recorded as loaded. A panic while loading (a bug)
// is recovered: the feed fails with an error wrapping engine.ErrPanic and is
// recorded as failed, and the other feeds of Run go on. Error text is capped
// at MaxErrorText bytes (see CapError) in the result, the report and the
// bookkeeping.
func LoadFeed(ctx context.Context, st Store, f Feed, opts Options) (res Result) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	res = Result{Feed: f, DryRun: opts.DryRun}
	opts = opts.writersFor(st)
	if ctx.Err() != nil {
		// Interrupted before this feed's turn: nothing was read or recorded.
		res.Status, res.Error = StatusCancelled, "not started: "+context.Cause(ctx).Error()
		return res
	}
	grace := cmp.Or(opts.InterruptGrace, DefaultInterruptGrace)
	// The outcome is recorded even once ctx has ended, within the grace.
	after, stopAfter := AfterGrace(ctx, grace)
	defer stopAfter()
	var load *store.FeedLoad // this process's load of the feed, once started
	fail := func(err error) Result {
		status := StatusFailed
		if ctx.Err() != nil {
			// Stopped from outside (SIGINT, SIGTERM): the batch being
			// written has committed or rolled back; record the feed as
			// interrupted, with the cause.
			status, err = StatusInterrupted, context.Cause(ctx)
			opts.Logger.Debug("feed interrupted", "feed", f.Name, "err", err)
		}
		res.ServerLimit = store.ServerLimit(err)
		if lp, ok := st.(limitTeller); ok && res.ServerLimit != "" && !opts.DryRun {
			// A cancel on request in another language is no timeout.
			res.ServerLimit = lp.ServerLimitOf(after, err)
		}
		err = store.ExplainServerLimitAs(res.ServerLimit, err)
		text := CapError(redact.Error(err).Error()) // a driver's error text may quote the connection string
		if status == StatusFailed && !opts.ReportsFailures {
			opts.Logger.Error("feed failed", "feed", f.Name, "err", text)
		}
		res.Status, res.Error = status, text
		if res.Report != nil {
			res.Report.Error = text
		}
		if st != nil && !opts.DryRun && res.Format != "" {
			if ferr := st.FeedFinished(after, load, f.Name, status, text, "", "", res.Report); ferr != nil && !superseded(&res, ferr, opts.Logger) {
				res.RecordError = CapError(redact.Error(ferr).Error())
				level := slog.LevelError
				if store.ReadOnly(ferr) && store.ReadOnly(err) {
					level = slog.LevelDebug // the same cause, said once by the feed's error
				}
				opts.Logger.Log(context.WithoutCancel(ctx), level, "record feed "+status, "feed", f.Name, "err", res.RecordError)
			}
		}
		return res
	}
	defer func() {
		if p := recover(); p != nil {
			opts.Logger.Error("feed panicked", "feed", f.Name, "panic", p, "stack", string(debug.Stack()))
			res = fail(fmt.Errorf("%w: %v", engine.ErrPanic, p))
		}
	}()
	err := f.normalize()
	res.Feed = f // with its default name, also when that name is refused
	if err != nil {
		return fail(err)
	}
	src, err := openSource(ctx, f)
	if err != nil {
		return fail(err)
	}
	defer src.Close() //nolint:errcheck // the feed is only read
	res.Format = src.format
	res.ContentHash = src.hash
	res.Mapping = MappingVersion(src.format)

	var state store.FeedState
	waited := false
	if st != nil && !opts.DryRun {
	waitOthers:
		var known bool
		if state, known, err = st.Feed(ctx, f.Name); err != nil {
			return fail(err)
		}
		unchanged := src.hash != "" && state.ContentHash == src.hash &&
			(state.LastStatus == StatusOK || state.LastStatus == StatusSkipped)
		if known && !opts.Force && unchanged && state.Mapping != res.Mapping {
			// The same content, mapped by an intel that mapped it
			// otherwise: what is stored is not what this build makes of it.
			opts.Logger.Info("feed unchanged but loaded by another mapping: loading it again",
				"feed", f.Name, "stored_mapping", state.Mapping, "mapping", res.Mapping)
			unchanged = false
		}
		if known && !opts.Force && unchanged {
			res.Status = StatusSkipped
			res.Report = engine.NewReport(f.Name, src.format)
			res.Report.Skipped = 1
			opts.Logger.Info("feed unchanged, skipped", "feed", f.Name, "content_hash", src.hash)
			err := st.FeedFinished(ctx, nil, f.Name, StatusSkipped, "", src.hash, res.Mapping, res.Report)
			if store.ReadOnly(err) {
				// A hot standby (or default_transaction_read_only): the
				// skip cannot be recorded, and nothing needs to be. Before,
				// the feed failed on that record, so a feed list loaded
				// already exited 1 there (as intel ingest telemetry of a
				// file loaded to its end did).
				opts.Logger.Info("the server is read-only, and the feed is unchanged since its last load: nothing is written", "feed", f.Name)
				return res
			}
			if !superseded(&res, err, opts.Logger) && err != nil {
				return fail(err)
			}
			return res
		}
		if ex, ok := st.(exclusiveStarter); ok {
			// Another process (a second intel ingest feeds of the same
			// list, a cron run overlapping the last) loading this feed is
			// waited for, then the feed is judged again: unchanged, it is
			// skipped. Before, both loaded it side by side and the last to
			// finish overwrote the other's report with its own (all
			// "unchanged").
			var stale *store.FeedState
			if known && state.LastStatus == StatusRunning {
				if FeedStatus(state, time.Now()) == StatusRunning {
					if werr := waitForOtherLoad(ctx, f.Name, state, &waited, opts.Logger); werr != nil {
						res.Status, res.Error = StatusCancelled, werr.Error()
						return res
					}
					goto waitOthers
				}
				stale = &state
			}
			running, started, err := ex.FeedStartedUnlessRunning(ctx, f.Name, src.format, f.Path, stale)
			if err != nil {
				return fail(err)
			}
			if !started {
				if werr := waitForOtherLoad(ctx, f.Name, running, &waited, opts.Logger); werr != nil {
					res.Status, res.Error = StatusCancelled, werr.Error()
					return res
				}
				goto waitOthers
			}
			load = running.Load()
		} else {
			l, err := st.FeedStarted(ctx, f.Name, src.format, f.Path)
			if err != nil {
				return fail(err)
			}
			load = &l
		}
		if load != nil {
			defer heartbeat(ctx, st, f.Name, *load, opts.Logger)()
			// Every write of the load (its batches, a telemetry chunk, a
			// MISP directory's events recorded as loaded) commits only
			// while the bookkeeping still names this load: one taken over
			// as stale that resumes stops at its next write.
			ctx = store.WithFeedLoad(ctx, f.Name, *load)
			after = store.WithFeedLoad(after, f.Name, *load)
		}
	}

	var sink graph.Sink = finishBatch{st, BatchGrace(grace)}
	if opts.DryRun {
		sink = &engine.DrySink{}
	}
	progress := opts.Progress.track(f.Name, src.size)
	defer progress.done()

	var loadErr error
	switch {
	case src.dir:
		loadErr = loadMISPDir(ctx, after, st, sink, f, src, opts, progress, &res)
	case src.format == FormatTelemetry:
		var w engine.TelemetryWriter = st
		reader := src.reader
		var plan *telemetry.FilePlan
		if cp, ok := st.(checkpointer); ok && src.hash != "" && !opts.DryRun {
			// Exactly once: the file's checkpoint moves with every chunk
			// (--force starts it over: the edges are appended again). It is
			// the file's, not the feed's: loaded by intel ingest telemetry,
			// in another feed, or under a new feed name, it is not stored
			// again. Checkpoints of older intels went by the feed's name.
			// Its lines are compared with what the input stored: a file
			// appended to loads only its new lines, one truncated nothing,
			// one rewritten from its first changed line.
			p, err := telemetry.PlanFile(ctx, cp, f.Path, opts.Force)
			if err != nil {
				return fail(err)
			}
			p.Input.Formerly = "feed:" + f.Name
			part, closePart, err := p.Open(f.Path)
			if err != nil {
				return fail(err)
			}
			defer closePart() //nolint:errcheck // read-only
			p.Log(ctx, opts.Logger, f.Path)
			reader, plan = part, &p
			w = cp.Checkpointed(p.Input)
		}
		if opts.DryRun {
			w = dryTelemetry{}
		}
		res.Report, loadErr = telemetry.Load(ctx, reader, w, opts.engine(f.Name, progress))
		if plan != nil && res.Report != nil {
			res.Report.Rerun = plan.Rerun()
		}
	case src.format == FormatMISP:
		res.Report, loadErr = misp.LoadFile(ctx, src.reader, sink, misp.Options{Options: opts.engine(f.Name, progress)})
	default:
		res.Report, loadErr = stix.Load(ctx, src.reader, sink, opts.engine(f.Name, progress))
	}
	if src.hashing != nil {
		// Standard input: the hash is known only once it has been read.
		res.ContentHash = hex.EncodeToString(src.hashing.Sum(nil))
	}
	if loadErr != nil {
		return fail(src.changed(loadErr))
	}
	if src.format == FormatSTIX || (src.format == FormatMISP && !src.dir) {
		// A telemetry file's checkpoint plan reads it by its own lines
		// and hashes; a directory's files are hashed one by one.
		if err := src.sameContent(); err != nil {
			return fail(err)
		}
	}
	if err := NoRecords(res.Report, res.Format); err != nil {
		return fail(err)
	}
	if res.Report != nil && res.Report.WritesOverlapped() && !opts.DryRun {
		// Batches written side by side can each park a relationship whose
		// endpoint the other was writing at that moment; sweep them up.
		ws, err := st.ReleasePending(ctx)
		if err != nil {
			return fail(err)
		}
		res.Report.Written.Add(ws)
	}
	res.Status = StatusOK
	if st != nil && !opts.DryRun {
		// The load is complete: record it even if ctx has just ended.
		err := st.FeedFinished(after, load, f.Name, StatusOK, "", res.ContentHash, res.Mapping, res.Report)
		if superseded(&res, err, opts.Logger) && load != nil {
			// Taken over after its last write: what it wrote committed
			// while it held the feed, but the feed's bookkeeping is the
			// other load's and says nothing of this one. Not a success
			// (exit 1), nor recorded as a failure.
			res.Status = StatusFailed
			res.Error = "displaced: " + res.RecordError
			if res.Report != nil {
				res.Report.Error = res.Error
			}
			return res
		}
		if err != nil {
			return fail(err)
		}
	}
	return res
}

// MaxErrorText is the most bytes of error text kept in a Result, its
// report and the feed's bookkeeping (feeds.last_error): the first errors
// fit, the rest are counted (see CapError).
const MaxErrorText = 4 << 10

// ErrNoRecords means a load read no record of its format: an empty file,
// an empty STIX bundle, "objects" that is no array, or a file of the other
// format. Such a load fails and is not recorded as loaded, so the right
// load of the same content later is not skipped as unchanged.
var ErrNoRecords = errors.New("no records")

// NoRecords returns an error wrapping ErrNoRecords when a report of a
// load that ended without error shows no record of format read, or none
// mapped (asking whether it is a file of the other format only when
// records were dropped for their shape: no type, not an object), unless
// every record read is one MISP deleted (misp.ReasonDeleted). Events skipped as unchanged count as records. Telemetry is read
// line by line and an empty input is a quiet interval, not an error: it
// fails only when lines were read and none of them was an edge (a
// compressed file, a STIX or MISP file given as telemetry).
func NoRecords(rep *engine.Report, format string) error {
	if rep == nil || rep.Skipped > 0 {
		return nil
	}
	if rep.Telemetry != nil || format == FormatTelemetry {
		if rep.RecordsRead > 0 && rep.RecordsMapped == 0 {
			return fmt.Errorf("%w: none of the %d lines read is a telemetry edge (%d dropped: %s, each logged with its reason; a compressed file, or a STIX or MISP one?); nothing was loaded",
				ErrNoRecords, rep.RecordsRead, rep.DroppedTotal(), dropReasons(rep.Dropped))
		}
		return nil
	}
	name := map[string]string{FormatSTIX: "STIX", FormatMISP: "MISP"}[format]
	other := map[string]string{FormatSTIX: "MISP", FormatMISP: "STIX"}[format]
	switch {
	case rep.RecordsRead == 0:
		return fmt.Errorf("%w: found no %s records in %d bytes (empty input, an empty bundle, list or TAXII page, or a %s file?); nothing was loaded",
			ErrNoRecords, name, rep.Bytes, other)
	case rep.RecordsMapped == 0 && format == FormatMISP && rep.RecordsRead == rep.Dropped[misp.ReasonDeleted]:
		// Every record is one MISP deleted (a ZMQ message deleting a
		// sighting, an event whose every attribute is deleted): the
		// document said so and nothing of it is to be loaded, which the
		// report's "deleted" count and the loader's WARN say.
		return nil
	case rep.RecordsMapped == 0:
		hint := ""
		if rep.Dropped[engine.ReasonMissingType] > 0 || rep.Dropped[engine.ReasonNotObject] > 0 {
			hint = "; a " + other + " file?" // records not of this format's shape
		}
		return fmt.Errorf("%w: none of the %d records read is a valid %s record (%d dropped: %s, each logged with its reason%s); nothing was loaded",
			ErrNoRecords, rep.RecordsRead, name, rep.DroppedTotal(), dropReasons(rep.Dropped), hint)
	}
	return nil
}

// dropReasons lists a report's drop counts by reason, the commonest first
// ("missing-type 2, invalid-json 1"): the reasons are the engine's typed
// constants, never text from the input.
func dropReasons(d map[engine.Reason]int64) string {
	reasons := slices.Collect(maps.Keys(d))
	slices.SortFunc(reasons, func(a, b engine.Reason) int {
		return cmp.Or(cmp.Compare(d[b], d[a]), cmp.Compare(a, b))
	})
	parts := make([]string, len(reasons))
	for i, r := range reasons {
		parts[i] = fmt.Sprintf("%s %d", r, d[r])
	}
	return strings.Join(parts, ", ")
}

// CapError shortens error text to at most MaxErrorText bytes: whole lines
// (a joined error has one per failure) while they fit, then "… (N more
// lines)"; a single line too long is cut on a character boundary and ends
// "… (N more bytes)".
func CapError(text string) string {
	if len(text) <= MaxErrorText {
		return text
	}
	const room = MaxErrorText - 64 // for the tail
	cut := strings.LastIndexByte(text[:room], '\n')
	if cut <= 0 {
		cut = room
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		return fmt.Sprintf("%s… (%d more bytes)", text[:cut], len(text)-cut)
	}
	return fmt.Sprintf("%s\n… (%d more lines)", text[:cut], strings.Count(text[cut:], "\n"))
}

// finishBatch is the sink of a load: a batch whose write has begun is
// given grace to commit when ctx ends (SIGINT, SIGTERM), so an interrupted
// load stops between batches; a batch that cannot commit within grace is
// cancelled and rolls back. No batch starts once ctx has ended.
type finishBatch struct {
	graph.Sink
	grace time.Duration
}

func (s finishBatch) Write(ctx context.Context, b graph.Batch) (graph.WriteStats, error) {
	if err := ctx.Err(); err != nil {
		return graph.WriteStats{}, err
	}
	wctx, cancel := AfterGrace(ctx, s.grace)
	defer cancel()
	return s.Sink.Write(wctx, b)
}

// superseded reports whether err says a load's outcome was not recorded
// because another load had taken the feed over (store.ErrFeedSuperseded),
// and if so says so in res and logs it at WARN: what the other load
// recorded stands.
func superseded(res *Result, err error, log *slog.Logger) bool {
	if !errors.Is(err, store.ErrFeedSuperseded) {
		return false
	}
	res.Superseded = true
	res.RecordError = CapError(err.Error())
	log.Warn("feed load superseded: its outcome is not recorded", "feed", res.Feed.Name, "status", res.Status, "err", res.RecordError)
	return true
}

// heartbeater is a Store that renews the sign of life of a running load
// (store.Store.FeedHeartbeat), so that FeedStatus can tell a load running
// on another host from one whose process died.
type heartbeater interface {
	FeedHeartbeat(ctx context.Context, name string, load store.FeedLoad) (bool, error)
}

// limitTeller tells a statement cancelled on request from one stopped by
// a server limit, asking the server (store.Store.ServerLimitOf).
type limitTeller interface {
	ServerLimitOf(ctx context.Context, err error) string
}

// exclusiveStarter starts a feed's load unless another process's load of
// it runs: store.Store.
type exclusiveStarter interface {
	FeedStartedUnlessRunning(ctx context.Context, name, format, location string, stale *store.FeedState) (store.FeedState, bool, error)
}

// OtherLoadPoll is how often LoadFeed looks again at a feed that another
// process is loading.
var OtherLoadPoll = 500 * time.Millisecond

// waitForOtherLoad waits OtherLoadPoll for the load of feed that running
// names (another process's), saying so at INFO the first time (*waited
// records that it did). It returns an error only when ctx ends.
func waitForOtherLoad(ctx context.Context, feed string, running store.FeedState, waited *bool, log *slog.Logger) error {
	who := fmt.Sprintf("pid %d on %s", running.RunningPID, running.RunningHost)
	if !*waited {
		*waited = true
		args := []any{"feed", feed, "by", who}
		if running.StartedAt != nil {
			args = append(args, "since", running.StartedAt.UTC().Format(time.RFC3339))
		}
		log.InfoContext(ctx, "feed is being loaded by another process: waiting for that load to end", args...)
	}
	select {
	case <-ctx.Done():
		return fmt.Errorf("not started: waited for the load of feed %s by %s: %w", feed, who, context.Cause(ctx))
	case <-time.After(OtherLoadPoll):
		return nil
	}
}

// HeartbeatInterval is how often a running load renews its heartbeat.
const HeartbeatInterval = 30 * time.Second

// heartbeat renews the heartbeat of load, this process's load of feed,
// every HeartbeatInterval until the returned stop is called, or until the
// bookkeeping no longer names load (another process took the feed over,
// judging this load stale): it then says so at WARN and stops.
func heartbeat(ctx context.Context, st Store, feed string, load store.FeedLoad, log *slog.Logger) (stop func()) {
	hb, ok := st.(heartbeater)
	if !ok {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(HeartbeatInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				renewed, err := hb.FeedHeartbeat(ctx, feed, load)
				switch {
				case err != nil && ctx.Err() == nil:
					log.Warn("renew feed heartbeat", "feed", feed, "err", err)
				case err == nil && !renewed && ctx.Err() == nil:
					log.Warn("feed load taken over by another as stale: its heartbeat is no longer renewed and its outcome will not be recorded",
						"feed", feed, "load", load.String())
					return
				}
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// loadMISPDir loads the events of a MISP feed directory whose files changed
// since their last successful load (all with Force), and records each
// (under after, which outlives ctx by the interrupt grace).
func loadMISPDir(ctx, after context.Context, st Store, sink graph.Sink, f Feed, src *source, opts Options, progress *feedProgress, res *Result) error {
	manifest, err := misp.ReadManifestTimes(f.Path)
	if err != nil && !errors.Is(err, misp.ErrNoManifest) {
		return err
	}
	ids := make([]string, 0, len(manifest))
	for id := range manifest {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	root, err := misp.OpenDir(f.Path)
	if err != nil {
		return err
	}
	defer root.Close() //nolint:errcheck // read-only

	// The event files as the directory spells them (a manifest's <UUID>
	// in upper case names <UUID>.json); LoadDir reads the same files.
	names, err := misp.EventFileNames(f.Path)
	if err != nil {
		return err
	}
	files := map[string]string{} // event uuid → content hash
	for _, id := range ids {
		name := names[id]
		if name == "" {
			name = id + ".json"
		}
		h, err := hashEventFile(root, f.Path, name)
		if err != nil {
			continue // LoadDir counts the missing or refused file
		}
		files[id] = h
	}
	var known map[string]store.FeedItemState
	if st != nil && !opts.DryRun && !opts.Force {
		if known, err = st.FeedItems(ctx, f.Name); err != nil {
			return err
		}
	}
	var only []string
	for _, id := range ids {
		if k, ok := known[id]; ok && k.ContentHash == files[id] && files[id] != "" && k.Mapping == misp.MappingVersion {
			res.EventsSkipped++
			continue
		}
		only = append(only, id)
	}
	if manifest != nil && len(only) == 0 {
		res.Report = engine.NewReport(f.Name, FormatMISP)
		res.Report.Skipped = int64(res.EventsSkipped)
		return nil
	}
	var mu sync.Mutex
	var done []misp.EventResult
	opt := misp.Options{
		Options: opts.engine(f.Name, progress),
		OnEvent: func(e misp.EventResult) {
			if e.Err != nil || e.UUID == "" {
				return // not recorded as loaded
			}
			mu.Lock()
			done = append(done, e)
			mu.Unlock()
		},
	}
	if manifest != nil {
		opt.Only = only
	}
	report, loadErr := misp.LoadDir(ctx, f.Path, sink, opt)
	res.Report = report
	if st == nil || opts.DryRun {
		return loadErr
	}
	// LoadDir reports an event without error only once its file's records
	// are written (not when a write failed or the load stopped first):
	// record those, so the next run skips them while unchanged.
	for _, e := range done {
		if e.Err != nil || e.UUID == "" {
			continue
		}
		res.EventsLoaded++
		var ts *time.Time
		if t, ok := manifest[e.UUID]; ok && !t.IsZero() {
			ts = &t
		}
		// Recorded even when ctx has ended: the event was written.
		if err := st.FeedItemLoaded(after, f.Name, e.UUID, files[e.UUID], misp.MappingVersion, ts); err != nil {
			return err
		}
	}
	return loadErr
}

// source is an opened feed.
type source struct {
	format  string
	dir     bool
	reader  io.Reader
	size    int64
	hash    string
	hashing interface{ Sum([]byte) []byte }
	close   func() error
	// file and opened are the regular file read and its size when opened
	// (its content was hashed then), to tell a load error caused by a
	// writer still writing it (changed) from one of the content.
	file   *os.File
	opened int64
	// read hashes the bytes of file as the load reads them (rest drains
	// what it left), to tell a file rewritten in place while it was read,
	// even to the same size, from the content hashed when it was opened.
	read hash.Hash
	rest io.Reader
}

// sameContent reports, once a load of a regular file has succeeded,
// whether what it read is what was hashed when the file was opened. A file
// rewritten in place while it was read (same size: the size check of
// changed cannot see it) was loaded as a mix of its two contents and
// recorded as loaded under the first one's hash (exit 0, status ok): 27,025
// of 150,000 objects kept the names the file no longer held.
func (s *source) sameContent() error {
	if s.read == nil {
		return nil
	}
	if _, err := io.Copy(io.Discard, s.rest); err != nil {
		return fmt.Errorf("read feed: %w", err)
	}
	if got := hex.EncodeToString(s.read.Sum(nil)); got != s.hash {
		return fmt.Errorf("the file changed while it was read: its content is not what it held when opened " +
			"(a writer rewrote it in place?); not recorded as loaded: load it once it is complete")
	}
	return nil
}

// changed wraps err, when the file read changed size since it was opened
// (a writer truncated it or is still appending to it), with the two sizes:
// the offset err names is then where the reading stopped, not a fault of
// the content. Other errors come back unchanged.
func (s *source) changed(err error) error {
	if s.file == nil {
		return err
	}
	info, serr := s.file.Stat()
	if serr != nil || info.Size() == s.opened {
		return err
	}
	return fmt.Errorf("%w (the file changed while it was read: %d bytes when opened, %d now; a writer still writing it? Load it once it is complete)",
		err, s.opened, info.Size())
}

func (s *source) Close() error {
	if s.close != nil {
		return s.close()
	}
	return nil
}

// openSource opens the feed, detects its format when not given, and hashes
// its content (a directory: its manifest and event file names). A feed file
// must be a regular file (a FIFO or device would block or never end: use
// "-" for standard input).
func openSource(ctx context.Context, f Feed) (*source, error) {
	if f.Path == "-" {
		h := sha256.New()
		br := bufio.NewReaderSize(io.TeeReader(InterruptibleReader(ctx, os.Stdin, nil), h), sniffLimit)
		src := &source{format: f.Format, reader: br, hashing: h, size: -1}
		return src, src.decode(f, br)
	}
	st, err := os.Stat(f.Path)
	if err != nil {
		return nil, fmt.Errorf("open feed: %w", err)
	}
	if st.IsDir() {
		if f.Format == FormatSTIX || f.Format == FormatTelemetry {
			return nil, fmt.Errorf("open feed: %s is a directory; a %s feed is a file (a feed list takes a directory of STIX files as a feed per file)", f.Path, f.Format)
		}
		h, err := hashDir(f.Path)
		if err != nil {
			return nil, err
		}
		return &source{format: FormatMISP, dir: true, hash: h, size: dirSize(f.Path)}, nil
	}
	notRegular := fmt.Errorf("open feed: %s is not a regular file (use - to read standard input)", f.Path)
	if !st.Mode().IsRegular() {
		return nil, notRegular
	}
	file, err := os.OpenFile(f.Path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("open feed: %w", err)
	}
	if info, err := file.Stat(); err != nil || !info.Mode().IsRegular() {
		_ = file.Close()
		return nil, notRegular
	}
	h, err := hashReader(f.Path, file)
	if err == nil {
		_, err = file.Seek(0, io.SeekStart)
	}
	if err != nil {
		_ = file.Close()
		return nil, err
	}
	read := sha256.New()
	rest := io.TeeReader(file, read)
	br := bufio.NewReaderSize(rest, sniffLimit)
	src := &source{format: f.Format, reader: br, hash: h, size: st.Size(), close: file.Close, file: file, opened: st.Size(),
		read: read, rest: rest}
	if err := src.decode(f, br); err != nil {
		_ = file.Close()
		return nil, err
	}
	return src, nil
}

// decode reads a gzip-compressed STIX or MISP feed (a file or standard
// input starting with the gzip magic) through a decompressor and a UTF-16
// one as UTF-8 (textenc), and detects the format, when not given, from
// what it holds. Its content hash stays the bytes' as stored; its size is
// unknown when decoded (progress counts the bytes decoded).
// Telemetry is refused in either form: its checkpoints go by the file's
// bytes and lines, so it must be decompressed or converted first.
func (s *source) decode(f Feed, br *bufio.Reader) error {
	refuse := func(err error) error { return fmt.Errorf("open feed %s: %w", f.Path, err) }
	if head, _ := br.Peek(2); len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		if s.format == FormatTelemetry {
			return refuse(telemetry.ErrCompressed)
		}
		gz, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("open feed: %s starts as gzip but is not: %w", f.Path, err)
		}
		closeFile := s.close
		s.close = func() error {
			return errors.Join(gz.Close(), func() error {
				if closeFile != nil {
					return closeFile()
				}
				return nil
			}())
		}
		br = bufio.NewReaderSize(gz, sniffLimit)
		s.reader, s.size = br, -1
		if s.format == "" {
			s.format = sniffReader(br)
		}
		if s.format == FormatTelemetry {
			return refuse(telemetry.ErrCompressed)
		}
	}
	text, enc, err := textenc.NewReader(br)
	if err != nil {
		return refuse(err)
	}
	if enc != textenc.UTF8 {
		if s.format == FormatTelemetry {
			return refuse(telemetry.ErrUTF16)
		}
		br = bufio.NewReaderSize(text, sniffLimit)
		s.reader, s.size = br, -1
	}
	if s.format == "" {
		s.format = sniffReader(br)
	}
	if s.format == FormatTelemetry && enc != textenc.UTF8 {
		return refuse(telemetry.ErrUTF16)
	}
	if s.format != FormatTelemetry {
		// A galaxy definition is small: 64 KiB holds one whole. Standard
		// input is not waited on for more than format detection read.
		n := 64 << 10
		if f.Path == "-" {
			n = br.Buffered()
		}
		if head, _ := br.Peek(n); len(head) > 0 {
			if name, typ, ok := galaxyDefinition(head); ok {
				return errGalaxyDefinition(f.Path, name, typ)
			}
			if misp.IsManifest(head) {
				return errManifest(f.Path)
			}
		}
	}
	return nil
}

// errManifest says that a feed is a MISP feed's manifest.json, which lists
// events without their attributes, and what to load instead.
func errManifest(path string) error {
	where := "the feed directory it belongs to (intel ingest misp DIR)"
	if path != "-" {
		where = "the feed directory it is in (intel ingest misp " + filepath.Dir(path) + ")"
	}
	return fmt.Errorf("open feed %s: a MISP feed's manifest.json (its events listed by uuid, without their attributes), not a feed: load %s, which reads each <uuid>.json it lists", path, where)
}

// hashReader returns the hex SHA-256 of what r holds; name is for errors.
func hashReader(name string, r io.Reader) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", fmt.Errorf("hash %s: %w", name, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// hashFeedFile hashes a file of a feed directory, opened through
// misp.OpenFile (nothing outside the directory, only regular files).
func hashFeedFile(root *os.Root, dir, name string) (string, error) {
	f, err := misp.OpenFile(root, name)
	if err != nil {
		return "", fmt.Errorf("hash %s: %w", filepath.Join(dir, name), err)
	}
	defer f.Close() //nolint:errcheck // read-only
	return hashReader(filepath.Join(dir, name), f)
}

// hashEventFile hashes the file an event of a feed directory is read
// from (misp.OpenEventFile: <uuid>.json, else <uuid>.json.gz).
func hashEventFile(root *os.Root, dir, name string) (string, error) {
	f, name, err := misp.OpenEventFile(root, name)
	if err != nil {
		return "", fmt.Errorf("hash %s: %w", filepath.Join(dir, name), err)
	}
	defer f.Close() //nolint:errcheck // read-only
	return hashReader(filepath.Join(dir, name), f)
}

// hashDir hashes a feed directory's JSON files (.json and .json.gz: names
// and contents) and hashes.csv, so
// any change to the manifest or an event changes it. A file that is not a
// regular file inside the directory (misp.OpenFile) is hashed by its name
// only: it is not read, and LoadDir counts it.
func hashDir(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("read feed directory: %w", err)
	}
	root, err := misp.OpenDir(dir)
	if err != nil {
		return "", err
	}
	defer root.Close() //nolint:errcheck // read-only
	var names []string
	for _, e := range entries {
		if !e.IsDir() && (filepath.Ext(e.Name()) == ".json" || strings.HasSuffix(e.Name(), ".json.gz") || e.Name() == "hashes.csv") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		fh, err := hashFeedFile(root, dir, n)
		if errors.Is(err, misp.ErrUnsafeFile) {
			fh = "refused"
		} else if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s\x00%s\n", n, fh)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func dirSize(dir string) int64 {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return -1
	}
	var n int64
	for _, e := range entries {
		if info, err := e.Info(); err == nil && !e.IsDir() {
			n += info.Size()
		}
	}
	return n
}

// checkpointer is a Store whose telemetry loads record their progress
// (store.Store): a telemetry feed loaded again after a crash writes each
// edge once.
type checkpointer interface {
	Checkpointed(in store.TelemetryInput) *store.CheckpointedWriter
	TelemetryCheckpointLatest(ctx context.Context, input string) (store.TelemetryCheckpoint, bool, error)
}

// dryTelemetry is the engine.TelemetryWriter of a dry run: it counts the edges
// the lines make (the nodes they bring go to a DrySink) without a database.
type dryTelemetry struct{ engine.DrySink }

func (dryTelemetry) AppendTelemetry(_ context.Context, edges iter.Seq2[graph.TelemetryEdge, error]) (store.TelemetryStats, error) {
	var stats store.TelemetryStats
	for _, err := range edges {
		if err != nil {
			return stats, err
		}
		stats.Edges++
	}
	return stats, nil
}

// MappingVersion is the mapping version of a feed format this build maps
// it with (stix.MappingVersion, misp.MappingVersion), recorded with each
// load so that an unchanged feed loaded by another mapping is loaded
// again. Telemetry has none: its inputs are resumed by line, never
// reloaded whole.
func MappingVersion(format string) string {
	switch format {
	case FormatSTIX:
		return stix.MappingVersion
	case FormatMISP:
		return misp.MappingVersion
	}
	return ""
}
