package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/ransomeye/intel/tuning"

	"github.com/spf13/cobra"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest"
	"github.com/ransomeye/intel/ingest/engine"
	"github.com/ransomeye/intel/ingest/telemetry"
	"github.com/ransomeye/intel/store"
)

// ingestOptions are the argument and flags of the feed commands (ingest
// stix, misp and feeds).
type ingestOptions struct {
	path           string // the feed file or directory, or the feed list of ingest feeds
	kind           string // ingest.FormatSTIX or ingest.FormatMISP; "" for a feed list
	format         string
	feed           string
	dryRun         bool
	force          bool
	workers        int
	batchSize      int
	concurrency    int
	concurrencySet bool
}

func (o *ingestOptions) register(cmd *cobra.Command, withName bool) {
	fl := cmd.Flags()
	fl.StringVar(&o.format, "format", "table", "report format: table or json")
	if withName {
		fl.StringVar(&o.feed, "feed", "", "feed name for bookkeeping and node sources (default: the file name)")
	}
	fl.BoolVar(&o.dryRun, "dry-run", false, "parse, map and validate without a database; print the report")
	fl.BoolVar(&o.force, "force", false, "load even if the content has not changed since the last load")
	fl.IntVar(&o.workers, "workers", 0, "parser workers (0, the default: tuned to the machine)")
	fl.IntVar(&o.batchSize, "batch-size", 0, "rows per write batch (0, the default: tuned to the machine)")
	intRange(fl, "workers", 0, 1024)
	intRange(fl, "batch-size", 0, 1_000_000)
}

func (a *app) ingestCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ingest",
		Short: "Load STIX, MISP, feed lists and telemetry into the graph",
		Long: `ingest streams threat feeds into the graph without loading them whole. A
record that is valid JSON but not valid STIX or MISP is logged at WARN, counted
and dropped alone; a syntax error that makes the rest unreadable stops that feed
with the byte offset, keeping everything before it. Loading unchanged content
again is skipped (see --force), unless an intel that maps its format otherwise
loaded it (intel version shows the mapping versions; intel feeds says which
feeds the next run loads again); --dry-run checks a feed without a database.`,
		Example: `  intel ingest stix enterprise-attack.json
  intel ingest misp ./circl-feed/            # a MISP feed directory
  intel ingest feeds feeds.yaml --concurrency 4
  edr-export | intel ingest telemetry -`,
	}
	return group(cmd, a.ingestFileCommand(ingest.FormatSTIX), a.ingestFileCommand(ingest.FormatMISP),
		a.ingestFeedsCommand(), a.ingestTelemetryCommand())
}

func (a *app) ingestFileCommand(kind string) *cobra.Command {
	o := ingestOptions{kind: kind}
	what := map[string]string{
		ingest.FormatSTIX: "a STIX 2.x bundle, JSON array or NDJSON file, a directory of them (or - for stdin)",
		ingest.FormatMISP: "a MISP event, search output (response list) or feed directory (or - for stdin)",
	}[kind]
	cmd := &cobra.Command{
		Use:   kind + " FILE|DIR|-",
		Short: "Load " + what,
		Example: map[string]string{
			ingest.FormatSTIX: "  intel ingest stix hellokitty-ransomware.json\n  intel ingest stix ./unit42-playbooks/     # each .json/.ndjson/.jsonl/.stix2 file (or .gz) is a feed: unit42-playbooks/<file>\n  intel ingest stix big-bundle.json --dry-run --format json\n  curl -s https://example/feed.json | intel ingest stix - --feed vendor-x",
			ingest.FormatMISP: "  intel ingest misp event.json\n  intel ingest misp /srv/misp-feed/ --feed circl   # manifest.json and <uuid>.json: one feed\n  intel ingest misp ./eset-events/                 # other .json files: a feed each, eset-events/<file>\n  intel ingest misp event.json --dry-run",
		}[kind],
		Args: oneInput,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.path = args[0]
			return a.runIngestFile(cmd.Context(), o)
		},
	}
	o.register(cmd, true)
	return cmd
}

func (a *app) ingestFeedsCommand() *cobra.Command {
	var o ingestOptions
	cmd := &cobra.Command{
		Use:   "feeds CONFIG",
		Short: "Load every feed of a YAML or JSON feed list, several at once",
		Long: `feeds loads the feeds listed in a config file, --concurrency at a time, and
prints a report per feed. The file lists name, path (file or MISP feed
directory, relative to the file) and format (stix or misp, detected when left
out; telemetry for NDJSON edges, never detected):

  concurrency: 2
  feeds:
    - name: unit42-hellokitty
      path: feeds/hellokitty-ransomware.json
      format: stix
    - name: circl
      path: /srv/misp/circl`,
		Example: "  intel ingest feeds feeds.yaml\n  intel ingest feeds feeds.json --dry-run --format json",
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.path, o.concurrencySet = args[0], cmd.Flags().Changed("concurrency")
			return a.runIngestFeeds(cmd.Context(), o)
		},
	}
	o.register(cmd, false)
	cmd.Flags().IntVar(&o.concurrency, "concurrency", 2, "feeds loaded at once")
	intRange(cmd.Flags(), "concurrency", 1, ingest.MaxConcurrency)
	return cmd
}

// runIngestFile loads one STIX or MISP feed (a file, a MISP feed directory
// or stdin).
// A STIX directory, or a directory of MISP event files that is no MISP feed
// directory (no manifest.json, no <uuid>.json), loads each of its files as
// a feed of its own (see ingest.FileFeeds), two at a time.
func (a *app) runIngestFile(ctx context.Context, o ingestOptions) error {
	st, err := os.Stat(o.path)
	if err == nil && st.IsDir() && (o.kind == ingest.FormatSTIX || o.kind == ingest.FormatMISP && !ingest.IsMISPFeedDir(o.path)) {
		feeds, err := ingest.FileFeeds(o.path, o.feed)
		if err != nil {
			return err
		}
		for i := range feeds {
			feeds[i].Format = o.kind
		}
		return a.runFeeds(ctx, feeds, o)
	}
	return a.runFeeds(ctx, []ingest.Feed{{Name: o.feed, Path: o.path, Format: o.kind}}, o)
}

// The garbage collector's targets during a load (Go's default is 100). A
// load allocates a lot that dies young (parsed records, statement
// parameters, COPY chunks).
const (
	// feedGCPercent: at 100 the collector took about a third of the
	// client's CPU on ATT&CK enterprise (3.0 s of client CPU, 64 MB peak
	// RSS; at 400: 2.0 s, 129 MB).
	feedGCPercent = 400
	// telemetryGCPercent: the live heap is bounded (a few chunks of edges
	// and the endpoint memo). Measured on 1M lines with chunks of 10,000
	// edges (store.DefaultCopyChunk; 2 runs each, alternating, load
	// 3.8–4.3): client CPU 7.2–7.6 s and peak RSS 0.42–0.44 GB at 200,
	// against 7.6–8.0 s and 0.30 GB at 100 and 7.9–8.4 s and 0.66–0.72 GB
	// at 400. (With chunks of 50,000: 9.7–10.1 s and 0.82–0.90 GB at 200.)
	telemetryGCPercent = 200
)

// loadGC sets the collector for a load, unless GOGC or GOMEMLIMIT is set in
// the environment: percent, with a soft memory limit of a quarter of the
// machine's memory (memory bytes, from tuning.Detect; none when 0) so that
// a large load on a small machine collects as often as it must. It returns
// what restores the previous settings.
func loadGC(percent int, memory uint64) (restore func()) {
	_, gogc := os.LookupEnv("GOGC")
	_, limit := os.LookupEnv("GOMEMLIMIT")
	if gogc || limit {
		return func() {}
	}
	oldLimit := debug.SetMemoryLimit(-1)
	if memory > 0 {
		debug.SetMemoryLimit(int64(min(memory/4, math.MaxInt64)))
	}
	oldPercent := debug.SetGCPercent(percent)
	return func() {
		debug.SetGCPercent(oldPercent)
		debug.SetMemoryLimit(oldLimit)
	}
}

// runIngestFeeds loads the feeds of the feed list at o.path; its
// concurrency applies unless --concurrency was given.
func (a *app) runIngestFeeds(ctx context.Context, o ingestOptions) error {
	cfg, err := ingest.LoadConfig(o.path)
	if err != nil {
		return err
	}
	if !o.concurrencySet && cfg.Concurrency != nil {
		o.concurrency = *cfg.Concurrency
	}
	return a.runFeeds(ctx, cfg.Feeds, o)
}

// runFeeds loads feeds through the manager and prints their reports.
func (a *app) runFeeds(ctx context.Context, feeds []ingest.Feed, fl ingestOptions) error {
	if err := formatFlag(fl.format, "table", "json"); err != nil {
		return err
	}
	for _, f := range feeds {
		if f.Path != "-" {
			if _, err := os.Stat(f.Path); err != nil {
				return fmt.Errorf("feed %s: %w", f.Path, err)
			}
		}
	}
	opts := ingest.Options{Concurrency: fl.concurrency, Force: fl.force, DryRun: fl.dryRun,
		Workers: fl.workers, BatchSize: fl.batchSize, Logger: a.log, ReportsFailures: true}
	res, err := tuning.Detect() // res is zero when err is set
	defer loadGC(feedGCPercent, res.MemoryBytes)()
	if err == nil {
		if opts.Workers <= 0 || opts.BatchSize <= 0 {
			// The loaders do not measure the machine: pass tuning's plan.
			if plan, err := tuning.PlanFor(res); err == nil {
				opts.Workers = cmp.Or(max(opts.Workers, 0), plan.ParserWorkers)
				opts.BatchSize = cmp.Or(max(opts.BatchSize, 0), plan.BatchSize)
			}
		}
	}
	var store ingest.Store
	upkeep := func() error { return nil }
	if !fl.dryRun {
		s, up, err := a.openStoreBeside(ctx, false)
		if err != nil {
			return err
		}
		store, upkeep = s, up
		defer func() { _ = upkeep() }() // the upkeep has ended before the pool closes
	}
	poolConns := 0
	if a.pool != nil {
		poolConns = int(a.pool.Config().MaxConns - a.pool.Stat().TotalConns()) // those open are counted open
	}
	opts.Concurrency = concurrencyForOpenFiles(min(opts.Concurrency, len(feeds)), poolConns, a.log)
	if a.stderrIsTerminal() {
		opts.Progress = ingest.NewProgress(a.stderr, 250*time.Millisecond)
		// Log lines go through the progress line, which clears itself
		// before each and redraws after it.
		defer a.logThrough(opts.Progress)()
	}
	results, err := ingest.Run(ctx, store, feeds, opts)
	uerr := upkeep() // a failed upkeep fails the command, after the loads (a telemetry feed makes its partitions on demand)
	opts.Progress.Stop()
	perr := a.printFeedResults(fl.format, results)
	if ie := interrupted(ctx, results, fl.dryRun); ie != nil {
		if uerr != nil {
			a.log.Error("partition upkeep failed", "err", uerr)
		}
		return ie
	}
	if err != nil {
		return errors.Join(feedsFailed(results, err), uerr)
	}
	return cmp.Or(uerr, perr)
}

// interrupted returns the interruptedError of a feed run that SIGINT or
// SIGTERM stopped (nil otherwise): records read, the feeds recorded as
// interrupted and those never started.
func interrupted(ctx context.Context, results []ingest.Result, dryRun bool) *interruptedError {
	var cause interruptCause
	if ctx.Err() == nil || !errors.As(context.Cause(ctx), &cause) {
		return nil
	}
	ie := &interruptedError{cause: cause, unit: "records", dryRun: dryRun}
	var nodes, rels, edges int64
	telemetry := false
	for _, r := range results {
		if r.Report != nil {
			ie.records += r.Report.RecordsRead
			// What committed: every node upserted, every relation
			// written or parked; a telemetry feed's edges, and the
			// endpoint nodes and links it wrote for them.
			ws := []graph.WriteStats{r.Report.Written}
			if t := r.Report.Telemetry; t != nil {
				telemetry = true
				edges += t.Edges
				ws = append(ws, t.Nodes)
			}
			for _, w := range ws {
				nodes += w.NodesInserted + w.NodesMerged + w.NodesUnchanged
				rels += w.RelationsInserted + w.RelationsMerged + w.RelationsPending
			}
		}
		switch r.Status {
		case ingest.StatusInterrupted:
			if r.Superseded {
				ie.superseded = append(ie.superseded, r.Feed.Name)
				break
			}
			if r.RecordError != "" {
				// The database refused the record (or was gone): saying
				// "marked interrupted" would be untrue.
				ie.unrecorded = append(ie.unrecorded, r.Feed.Name)
				break
			}
			ie.interrupted = append(ie.interrupted, r.Feed.Name)
		case ingest.StatusCancelled:
			ie.notStarted = append(ie.notStarted, r.Feed.Name)
		}
	}
	ie.stored = fmt.Sprintf("%d nodes, %d relations", nodes, rels)
	if telemetry {
		ie.stored += fmt.Sprintf(", %d edges", edges)
	}
	return ie
}

// feedsFailed is the one error line of a feed run in which feeds failed:
// each failed feed with its error (the manager does not log them, see
// ingest.Options.ReportsFailures).
func feedsFailed(results []ingest.Result, err error) error {
	var failed []string
	limit := ""
	for _, r := range results {
		if r.Status == ingest.StatusFailed {
			failed = append(failed, fmt.Sprintf("feed %s: %s", r.Feed.Name, r.Error))
			limit = cmp.Or(limit, r.ServerLimit)
		}
	}
	switch {
	case len(failed) == 0:
		return err
	case len(results) == 1:
		err = errors.New(failed[0])
	default:
		err = fmt.Errorf("%d of %d feeds failed: %s", len(failed), len(results), strings.Join(failed, "; "))
	}
	if limit != "" {
		return feedLimitError{err, limit}
	}
	return err
}

func (a *app) printFeedResults(format string, results []ingest.Result) error {
	if format == "json" {
		return writeJSON(a.stdout, results)
	}
	for _, r := range results {
		a.stdout.printf("%s: %s", r.Feed.Name, r.Status)
		if r.DryRun && r.Status == ingest.StatusOK {
			a.stdout.printf(" (dry run: nothing written)")
		}
		if r.EventsLoaded+r.EventsSkipped > 0 {
			a.stdout.printf(" (%d events loaded, %d unchanged)", r.EventsLoaded, r.EventsSkipped)
		}
		if r.Superseded {
			// Taken over as stale while it ran: what it wrote has
			// committed, but the feed's bookkeeping is the other load's.
			a.stdout.printf(" (%s)", r.RecordError)
		}
		report := r.Report != nil && r.Status != ingest.StatusSkipped
		if r.Error != "" && (!report || r.Report.Telemetry != nil || r.Report.Error == "") {
			// A feed's report ends with its error line: say it once.
			a.stdout.printf(": %s", r.Error)
		}
		a.stdout.println()
		switch {
		case !report:
		case r.Report.Telemetry != nil:
			if err := a.printTelemetry(r.Report, r.DryRun); err != nil {
				return err
			}
		default:
			if err := writeLoadReport(a.stdout, r.Report, r.DryRun); err != nil {
				return err
			}
		}
	}
	return a.stdout.err
}

// telemetryOptions are the argument and flags of intel ingest telemetry.
type telemetryOptions struct {
	path   string // an NDJSON file, or - for stdin
	format string
	feed   string
}

func (a *app) ingestTelemetryCommand() *cobra.Command {
	var o telemetryOptions
	cmd := &cobra.Command{
		Use:   "telemetry FILE|-",
		Short: "Load endpoint telemetry edges from NDJSON",
		Long: `telemetry reads one observation per line:

  {"src": {"kind": "process", "key": "host-7:4242", "name": "powershell.exe"},
   "relation": "wrote",
   "dst": {"kind": "file", "name": "invoice.exe", "hashes": {"SHA-256": "9f86…"}},
   "agent_id": "host-7", "observed_at": "2026-11-27T10:15:00Z", "props": {"pid": 4242}}

Endpoints are objects with a kind and what identifies them (value for
addresses, domains and URLs; name and hashes for files; key for processes,
hosts and other kinds), or "kind:value" strings such as "ipv4-addr:10.0.0.5".
Rows are written with COPY into the day partitions (made on demand); a line
that cannot be used is logged, counted and skipped.

A FILE loads exactly once: its checkpoint (the path, links resolved, and the
content's SHA-256) commits with each chunk, so after Ctrl-C, SIGTERM, a crash
or a server restart the same command again writes only what is missing
("already loaded": the lines an earlier load stored or dropped). Standard input, a pipe or a FIFO has no checkpoint: a
load from it cut short and run again writes again what was stored. A file
whose content changed is compared with what was loaded, line by line: lines
appended load alone; a file truncated to a prefix of what was loaded loads
nothing ("telemetry input shrank"); a file rewritten loads from its first
changed line. Lines appended while it loads are the next load's.

Exit status: 0 when the stream loaded (an empty input too), 1 when it failed
or not one line was an edge (a gzip, UTF-16 or STIX file), 2 for a usage error, 130
or 143 when SIGINT or SIGTERM stopped it (the chunks committed stay).`,
		Example: "  intel ingest telemetry edr-2026-11-27.ndjson\n  edr-export | intel ingest telemetry - --format json",
		Args:    oneInput,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.path = args[0]
			return a.runIngestTelemetry(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.format, "format", "table", "report format: table or json")
	cmd.Flags().StringVar(&o.feed, "feed", "telemetry", "source name recorded on the nodes")
	return cmd
}

// runIngestTelemetry loads telemetry edges from o.path (or stdin) and
// prints the report.
func (a *app) runIngestTelemetry(ctx context.Context, o telemetryOptions) error {
	if err := formatFlag(o.format, "table", "json"); err != nil {
		return err
	}
	r := a.stdin
	size := int64(-1)
	regular := false // only a regular file can be read twice: to hash it, then to load it
	if o.path != "-" {
		f, err := os.Open(o.path)
		if err != nil {
			return fmt.Errorf("open telemetry: %w", err)
		}
		defer f.Close() //nolint:errcheck // read-only
		r = f
		if st, err := f.Stat(); err == nil {
			regular = st.Mode().IsRegular()
			if regular {
				size = st.Size()
			}
			if st.IsDir() {
				// Read as a stream it failed after the load had begun,
				// with "read d: is a directory" and an empty report.
				return fmt.Errorf("open telemetry: %s is a directory: ingest telemetry reads one NDJSON file or - (to load several: cat %s/*.ndjson | intel ingest telemetry -, or list them in intel ingest feeds)", o.path, strings.TrimRight(o.path, "/"))
			}
			if st.Mode()&os.ModeCharDevice != 0 {
				// /dev/zero, /dev/urandom, a terminal: no producer's
				// stream, and one that never ends (read forever as one
				// line too large, then the next). Pipes and FIFOs load.
				return fmt.Errorf("open telemetry: %s is a character device, not a file or a pipe (use - to read standard input)", o.path)
			}
		}
		if !regular {
			// A FIFO or a pipe (<(zcat edr.ndjson.gz), /dev/stdin) is read
			// once: hashing it for a checkpoint consumed the stream (the
			// load read nothing, exit 0, and the checkpoint said it was
			// stored) or, for a FIFO, blocked in a second open. It loads
			// as standard input does, without a checkpoint.
			a.log.Info("telemetry input is not a regular file: loading it without a checkpoint, like standard input", "path", o.path)
		}
	}
	loadCtx := ctx
	if !regular {
		// Without a checkpoint a rerun cannot take up where this load
		// stopped, and a producer does not send again what it wrote: at
		// SIGINT or SIGTERM the input ends (as at its end) and what was
		// read is written, within the grace a batch has to commit; a
		// second signal ends the process at once.
		var stop context.CancelFunc
		loadCtx, stop = ingest.AfterGrace(ctx, ingest.DefaultInterruptGrace)
		defer stop()
		r = ingest.InterruptibleReader(ctx, r, io.EOF)
	}
	store, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	var w engine.TelemetryWriter = store
	var plan *telemetry.FilePlan
	if regular {
		// A file loads exactly once, even when cut short and run again,
		// appended to, truncated or rewritten: its lines are compared
		// with what its input stored, and only the rest is read.
		p, err := telemetry.PlanFile(ctx, store, o.path, false)
		if err != nil {
			return err
		}
		plan = &p
		part, closePart, err := p.Open(o.path)
		if err != nil {
			return err
		}
		defer closePart() //nolint:errcheck // read-only
		r, size = part, p.Size-p.Offset
		w = store.Checkpointed(p.Input)
		p.Log(ctx, a.log, o.path)
	}
	opts := engine.Options{Feed: o.feed, Logger: a.log}
	if !regular {
		// A producer that pauses (agent | intel ingest telemetry -) has
		// what it wrote stored within about a second, not when a chunk
		// of thousands of lines fills.
		opts.IdleFlush = telemetryIdleFlush
	}
	stopProgress := func() {}
	if a.stderrIsTerminal() {
		// As for feeds: one progress line that fits the terminal, with the
		// log lines written above it.
		progress := ingest.NewProgress(a.stderr, 250*time.Millisecond)
		var done func()
		opts.Progress, done = progress.Track(o.feed, size)
		restore := a.logThrough(progress)
		stopProgress = func() { done(); progress.Stop(); restore() }
	}
	res, _ := tuning.Detect() // zero when the machine is not measured: no memory limit
	if plan, err := tuning.PlanFor(res); err == nil {
		opts.Workers = plan.ParserWorkers // as for feeds; the default (1) otherwise
	}
	restoreGC := loadGC(telemetryGCPercent, res.MemoryBytes)
	rep, err := telemetry.Load(loadCtx, r, w, opts)
	restoreGC()
	if plan != nil && rep != nil {
		rep.Rerun = plan.Rerun()
	}
	stopProgress()
	var cause interruptCause
	if ctx.Err() != nil && errors.As(context.Cause(ctx), &cause) && rep != nil {
		var edges int64
		if rep.Telemetry != nil {
			edges = rep.Telemetry.Edges
		}
		err = &interruptedError{cause: cause, records: rep.RecordsRead, unit: "lines", stored: fmt.Sprintf("%d edges", edges)}
	}
	if err == nil {
		// Lines read and not one edge: the wrong input, not a success.
		err = ingest.NoRecords(rep, ingest.FormatTelemetry)
	}
	if rep != nil {
		if o.format == "json" {
			if werr := writeJSON(a.stdout, rep); werr != nil && err == nil {
				err = werr
			}
		} else if werr := a.printTelemetry(rep, false); werr != nil && err == nil {
			err = werr
		}
	}
	return err
}

// printTelemetry prints the report of a telemetry load (of a dry run: what
// it would write).
func (a *app) printTelemetry(rep *engine.Report, dryRun bool) error {
	tw := newTablePrinter(a.stdout)
	var t store.TelemetryStats
	if rep.Telemetry != nil {
		t = *rep.Telemetry
	}
	tw.printf("lines\t%d\n", rep.RecordsRead)
	if dryRun {
		tw.printf("edges\twould write %d\n", t.Edges)
		tw.printf("dropped\t%d\n", rep.DroppedTotal())
		for _, reason := range slices.Sorted(maps.Keys(rep.Dropped)) {
			tw.printf("  %s\t%d\n", reason, rep.Dropped[reason])
		}
		return tw.flush()
	}
	tw.printf("edges written\t%d (%.0f/s)\n", t.Edges, t.EdgesPerSecond())
	if rep.Rerun != nil && rep.Rerun.Message != "" {
		tw.printf("rerun\t%s: %s\n", rep.Rerun.Kind, rep.Rerun.Message)
	}
	if t.Resumed > 0 {
		// The checkpoint counts the edges an earlier load got through,
		// stored or dropped (before-retention, invalid): not all stored.
		tw.printf("already loaded\t%d (read by an earlier load of this input: stored, or dropped as its report said; skipped)\n", t.Resumed)
	}
	tw.printf("outside the window\t%d (no partition made for them: in their day's partition if one exists, else the default; see intel partitions check)\n", t.OutOfWindow)
	tw.printf("day without partition\t%d (in telemetry_edges_default: this role may not make partitions)\n", t.InDefault)
	tw.printf("partitions made\t%d\n", t.PartitionsCreated)
	tw.printf("nodes\tinserted %d, merged %d, unchanged %d\n", t.Nodes.NodesInserted, t.Nodes.NodesMerged, t.Nodes.NodesUnchanged)
	tw.printf("dropped\t%d\n", rep.DroppedTotal())
	reasons := slices.Sorted(maps.Keys(rep.Dropped))
	for _, reason := range reasons {
		tw.printf("  %s\t%d\n", reason, rep.Dropped[reason])
	}
	if n := rep.PartsDroppedTotal(); n > 0 {
		tw.printf("parts dropped\t%d (of lines that loaded without them)\n", n)
		for _, reason := range slices.Sorted(maps.Keys(rep.PartsDropped)) {
			tw.printf("  %s\t%d\n", reason, rep.PartsDropped[reason])
		}
	}
	return tw.flush()
}

// telemetryIdleFlush is how long standard input (or a pipe) may send no
// telemetry line before the lines read so far are written.
const telemetryIdleFlush = time.Second
