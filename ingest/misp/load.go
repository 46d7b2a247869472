package misp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/pipeline"
)

// Format is the Report.Format of MISP loads.
const Format = "misp"

// LoadFile reads one MISP document from r — a single event ({"Event": …} or
// bare), REST search output ({"response": …}), an array of events, a galaxy
// or a galaxy cluster file — and writes what it maps to sink.
//
// A record that cannot be mapped is logged at WARN and counted in the
// report's Dropped by reason; the rest loads. A JSON syntax error stops the
// load with a *SyntaxError naming the byte offset; everything read before it
// is written. The report is returned in every case.
func LoadFile(ctx context.Context, r io.Reader, sink graph.Sink, opts Options) (*pipeline.Report, error) {
	opts = opts.withDefaults("")
	report := pipeline.NewReport(opts.Feed, Format)
	start := time.Now()
	l := newLoader(ctx, sink, opts, report)
	defer l.cancel()
	err := l.load(r, "")
	l.progress(true)
	report.Duration = time.Since(start)
	if err != nil {
		report.Error = err.Error()
	}
	return report, err
}

// LoadPath opens and loads one MISP file; the feed is named after the file
// unless opts.Feed is set.
func LoadPath(ctx context.Context, path string, sink graph.Sink, opts Options) (*pipeline.Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open MISP file: %w", err)
	}
	defer f.Close() //nolint:errcheck // read-only
	if opts.Feed == "" {
		opts.Feed = filepath.Base(path)
	}
	return LoadFile(ctx, f, sink, opts)
}

// job is one record handed to a worker.
type job struct {
	kind       recordKind
	raw        []byte
	fr         *frame // the enclosing frame (event), or nil
	galaxyType string // for galaxy clusters read outside a galaxy
	// first and last are the event's first/last seen when the record was
	// read, for what has no time of its own (galaxies of the event).
	first, last time.Time
	index       int64
	offset      int64
}

type recordKind int

const (
	recAttribute recordKind = iota
	recObject
	recGalaxy
	recCluster
	recSighting
)

func (k recordKind) String() string {
	return [...]string{"attribute", "object", "galaxy", "galaxy-cluster", "sighting"}[k]
}

// loader is the state of one load: one reading goroutine walks the JSON
// and hands records to workers, which map them and add them to the batcher.
type loader struct {
	ctx     context.Context
	cancel  context.CancelFunc
	opts    Options
	feed    string
	log     *slog.Logger
	report  *pipeline.Report
	batcher *pipeline.Batcher
	tally   *Tally

	jobs    chan job
	workers sync.WaitGroup
	index   atomic.Int64

	failOnce sync.Once
	failErr  error
	// events counts the events closed by endFrame.
	events atomic.Int64

	// Reading goroutine only.
	count        *countingReader
	file         string
	lastProgress time.Time
	bytesBefore  int64 // bytes of earlier files in the same report
}

func newLoader(ctx context.Context, sink graph.Sink, opts Options, report *pipeline.Report) *loader {
	ctx, cancel := context.WithCancel(ctx)
	return &loader{
		ctx: ctx, cancel: cancel, opts: opts, feed: opts.Feed,
		log:     opts.Logger.With("feed", opts.Feed, "format", Format),
		report:  report,
		batcher: pipeline.NewBatcher(sink, opts.BatchSize, report),
		tally:   opts.Tally,
	}
}

// fail records the first fatal error (a sink write failing) and stops the
// load.
func (l *loader) fail(err error) {
	l.failOnce.Do(func() {
		l.failErr = err
		l.cancel()
	})
}

// load reads one input to its end with its own workers, flushes the batcher
// and returns the first fatal error.
func (l *loader) load(r io.Reader, file string) error {
	l.file = file
	l.count = &countingReader{r: r}
	var in io.Reader = l.count
	if !l.opts.Strict {
		in = newCommaReader(l.count, func(off int64) {
			attrs := []any{"offset", off}
			if file != "" {
				attrs = append(attrs, "file", file)
			}
			l.log.Warn("trailing comma read as white space", attrs...)
		})
	}
	if l.opts.Workers > 1 {
		l.jobs = make(chan job, l.opts.Workers*4)
		for range l.opts.Workers {
			l.workers.Add(1)
			go func() {
				defer l.workers.Done()
				for j := range l.jobs {
					l.process(j)
				}
			}()
		}
	}
	readErr := l.read(in)
	if l.jobs != nil {
		close(l.jobs)
		l.workers.Wait()
		l.jobs = nil
	}
	l.report.Bytes = l.bytesBefore + l.count.n
	if l.failErr != nil {
		return l.failErr
	}
	if err := l.batcher.Flush(l.ctx); err != nil {
		return err
	}
	if readErr != nil {
		return readErr
	}
	return l.ctx.Err()
}

// dispatch hands a record to a worker, or maps it in place with one worker.
func (l *loader) dispatch(j job) {
	if j.fr != nil {
		j.fr.pending.Add(1)
	}
	if l.jobs == nil {
		l.process(j)
		return
	}
	j.raw = append([]byte(nil), j.raw...) // the decoder reuses its buffer
	select {
	case l.jobs <- j:
	case <-l.ctx.Done():
		if j.fr != nil {
			j.fr.pending.Done()
		}
	}
}

// process maps one record and queues its graph records.
func (l *loader) process(j job) {
	if j.fr != nil {
		defer j.fr.pending.Done()
	}
	if l.ctx.Err() != nil {
		return
	}
	var b graph.Batch
	switch j.kind {
	case recAttribute:
		l.attributeRecord(j, &b)
	case recObject:
		l.objectRecord(j, &b)
	case recGalaxy:
		l.galaxyRecord(j, &b)
	case recCluster:
		l.clusterRecord(j, &b)
	case recSighting:
		l.sightingRecord(j, &b)
	}
	l.emit(b)
}

// emit sends graph records to the batcher.
func (l *loader) emit(b graph.Batch) {
	if b.Len() == 0 {
		return
	}
	b.Nodes = graph.MergeNodes(b.Nodes)
	if err := l.batcher.Add(l.ctx, b); err != nil {
		l.fail(err)
	}
}

// drop counts a dropped record and logs why: at WARN, except for records
// deleted on purpose (DEBUG).
func (l *loader) drop(j job, what, id, reason string, err error) {
	l.report.Drop(reason)
	level := slog.LevelWarn
	if reason == ReasonDeleted {
		level = slog.LevelDebug
	}
	attrs := []any{"record", what, "index", j.index, "offset", j.offset, "reason", reason}
	if l.file != "" {
		attrs = append(attrs, "file", l.file)
	}
	if ev := j.fr.eventUUID(); ev != "" {
		attrs = append(attrs, "event", ev)
	}
	if id != "" {
		attrs = append(attrs, "uuid", truncate(id, 80))
	}
	if err != nil {
		attrs = append(attrs, "error", err.Error())
	}
	l.log.Log(l.ctx, level, "MISP record dropped", attrs...)
}

// progress reports progress at most every interval, and at the end.
func (l *loader) progress(done bool) {
	if l.opts.Progress == nil {
		return
	}
	now := time.Now()
	if !done && now.Sub(l.lastProgress) < progressInterval {
		return
	}
	l.lastProgress = now
	l.opts.Progress(l.bytesBefore+l.count.n, l.index.Load())
}

// syntaxError converts a decoder error into a *SyntaxError at its offset.
func syntaxError(err error, dec *jsontext.Decoder) error {
	var se *jsontext.SyntacticError
	if errors.As(err, &se) {
		return &SyntaxError{Offset: se.ByteOffset, Err: se.Err}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return &SyntaxError{Offset: dec.InputOffset(), Err: io.ErrUnexpectedEOF}
	}
	return err
}
