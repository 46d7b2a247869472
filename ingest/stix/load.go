package stix

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/pipeline"
)

// Chunking: the reader hands records to the workers in chunks of up to
// chunkRecords records or chunkBytes bytes, so that channel traffic is per
// chunk, not per record.
const (
	chunkRecords = 256
	chunkBytes   = 1 << 20
	// readBuffer is the buffer between the feed and the JSON decoder.
	readBuffer = 256 << 10
)

// chunk is a run of consecutive records and, once a worker is done with it
// (done closed), what they became.
type chunk struct {
	records []record
	results []mapped
	done    chan struct{}
}

// Load reads a STIX feed from r, maps it and writes it to sink in batches,
// and returns the load report. The feed may be a STIX 2.0 or 2.1 bundle
// (with "objects" anywhere among its members), a bare JSON array of
// objects, a single object, or NDJSON (objects or bundles, one per line).
//
// The feed is read token by token and never held whole: at most a bounded
// number of records are in flight between the reader, Options.Workers
// mapping goroutines and the writer, and a record larger than
// Options.MaxRecordBytes is skipped without being buffered. Records are
// written in feed order, so the result does not depend on the number of
// workers; a record's nodes, aliases and relations go to the sink in the
// same batch.
//
// A record that is valid JSON but not valid STIX is logged at WARN (feed,
// record index, byte offset, id, reason), counted in the report's Dropped
// and skipped; so is an NDJSON line that is not valid JSON (with its line
// number, under ReasonInvalidJSONLine). Any other JSON syntax error, a
// truncated feed or a read error stops the load: everything before it is
// written, and the error is an *OffsetError (wrapping ErrSyntax or ErrRead)
// with the byte offset. A sink error or the end of ctx also stops it. The report is returned in
// every case, with Error set when the load stopped early.
func Load(ctx context.Context, r io.Reader, sink graph.Sink, opts Options) (*pipeline.Report, error) {
	opts = opts.withDefaults()
	report := pipeline.NewReport(opts.Feed, "stix")
	start := time.Now()
	l := &loader{opts: opts, report: report, sink: sink, log: opts.Logger.With("feed", opts.Feed)}
	err := l.run(ctx, r)
	report.Duration = time.Since(start)
	if err != nil {
		report.Error = err.Error()
		l.log.Error("stix feed stopped", "offset", errOffset(err), "records", report.RecordsRead, "err", err)
	}
	return report, err
}

func errOffset(err error) int64 {
	var oe *OffsetError
	if errors.As(err, &oe) {
		return oe.Offset
	}
	return -1
}

type loader struct {
	opts   Options
	report *pipeline.Report
	sink   graph.Sink
	log    *slog.Logger
	// markings maps the ids of TLP marking definitions the feed defined to
	// their level; only the collector goroutine uses it.
	markings map[string]graph.TLP
}

func (l *loader) run(ctx context.Context, in io.Reader) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	br := bufio.NewReaderSize(in, readBuffer)
	bom := 0
	if b, err := br.Peek(3); err == nil && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF {
		_, _ = br.Discard(3)
		bom = 3
	}
	rd := newReader(br, l.opts.MaxRecordBytes)
	rd.src.pos, rd.delta = int64(bom), int64(bom)

	jobs := make(chan *chunk, l.opts.Workers)
	ordered := make(chan *chunk, 2*l.opts.Workers+2)
	var readErr error
	var wg sync.WaitGroup

	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(jobs)
		defer close(ordered)
		readErr = l.split(ctx, rd, jobs, ordered)
	}()
	mp := newMapper(l.opts.Feed)
	for range l.opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range jobs {
				c.results = make([]mapped, len(c.records))
				for i, rec := range c.records {
					c.results[i] = mp.mapRecord(rec)
				}
				c.records = nil
				close(c.done)
			}
		}()
	}

	batcher := pipeline.NewBatcher(l.sink, l.opts.BatchSize, l.report)
	var writeErr error
	for c := range ordered {
		if writeErr != nil {
			continue // drain; the reader stops at the cancelled context
		}
		select {
		case <-c.done:
		case <-ctx.Done():
			writeErr = ctx.Err()
			continue
		}
		if err := l.collect(ctx, batcher, c); err != nil {
			writeErr = err
			cancel()
		}
	}
	wg.Wait()
	if writeErr == nil {
		writeErr = batcher.Flush(ctx)
	}
	if bytes := rd.src.pos; readErr == nil {
		l.report.Bytes = bytes
	} else {
		l.report.Bytes = max(errOffset(readErr), rd.offset())
	}
	if l.opts.Progress != nil {
		l.opts.Progress(l.report.Bytes, l.report.RecordsRead)
	}
	switch {
	case writeErr != nil && (readErr == nil || errors.Is(readErr, context.Canceled)):
		return writeErr
	case readErr != nil:
		if oe := (*OffsetError)(nil); errors.As(readErr, &oe) {
			oe.Feed = l.opts.Feed
		}
		if writeErr != nil {
			return errors.Join(readErr, writeErr)
		}
		return readErr
	}
	return nil
}

// split reads records into chunks and sends each chunk to the workers and,
// in feed order, to the collector.
func (l *loader) split(ctx context.Context, rd *reader, jobs, ordered chan<- *chunk) error {
	send := func(c *chunk) error {
		l.report.AddRead(int64(len(c.records)))
		select {
		case ordered <- c:
		case <-ctx.Done():
			return ctx.Err()
		}
		select {
		case jobs <- c:
		case <-ctx.Done():
			return ctx.Err()
		}
		if l.opts.Progress != nil {
			l.opts.Progress(rd.offset(), rd.records())
		}
		return nil
	}
	c := &chunk{done: make(chan struct{})}
	size := 0
	for {
		rec, err := rd.next()
		if err != nil {
			if len(c.records) > 0 {
				if serr := send(c); serr != nil {
					return serr
				}
			}
			if err == io.EOF {
				return nil
			}
			return err
		}
		c.records = append(c.records, rec)
		size += len(rec.raw)
		if len(c.records) >= chunkRecords || size >= chunkBytes {
			if err := send(c); err != nil {
				return err
			}
			c, size = &chunk{done: make(chan struct{})}, 0
		}
	}
}

// collect handles a mapped chunk in feed order: logs and counts drops and
// warnings, resolves marking references against the marking definitions
// seen so far, and queues the graph records.
func (l *loader) collect(ctx context.Context, batcher *pipeline.Batcher, c *chunk) error {
	for i := range c.results {
		res := &c.results[i]
		rec := res.rec
		if res.drop != nil {
			l.report.Drop(res.drop.reason)
			args := []any{"record", rec.index, "offset", rec.offset}
			if rec.line > 0 {
				args = append(args, "line", rec.line)
			}
			args = append(args, "id", res.id, "type", res.typ, "reason", res.drop.reason, "detail", res.drop.detail)
			l.log.Warn("dropped stix record", args...)
			continue
		}
		for _, w := range res.warnings {
			l.log.Warn("stix record loaded with a problem", "record", rec.index, "offset", rec.offset,
				"id", res.id, "type", res.typ, "property", w.property, "value", w.value, "problem", w.message)
		}
		if res.markingTLP != "" {
			if l.markings == nil {
				l.markings = map[string]graph.TLP{}
			}
			l.markings[res.id] = res.markingTLP
		}
		l.applyFixups(res)
		l.report.AddMapped(1)
		if res.sightings > 0 {
			l.report.AddSightings(int64(res.sightings))
		}
		if res.batch.Len() == 0 {
			continue
		}
		if err := batcher.Add(ctx, res.batch); err != nil {
			return fmt.Errorf("load stix record %d at offset %d: %w", rec.index, rec.offset, err)
		}
	}
	return nil
}

// applyFixups gives the nodes and relations that name marking definitions
// defined earlier in the feed the TLP level those define.
func (l *loader) applyFixups(res *mapped) {
	if len(l.markings) == 0 {
		return
	}
	for _, f := range res.fixups {
		tlp := graph.TLPNone
		for _, ref := range f.refs {
			tlp = tlp.Stricter(l.markings[ref])
		}
		if tlp == "" {
			continue
		}
		if f.node >= 0 {
			n := &res.batch.Nodes[f.node]
			n.TLP = n.TLP.Stricter(tlp)
		}
		if f.rel >= 0 {
			r := &res.batch.Relations[f.rel]
			cur, _ := r.Props["tlp"].(string)
			if r.Props == nil {
				r.Props = map[string]any{}
			}
			r.Props["tlp"] = string(graph.TLP(cur).Stricter(tlp))
		}
	}
}
