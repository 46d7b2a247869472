package engine

import (
	"context"
	"iter"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/store"
)

// TelemetryWriter is what RunTelemetry writes to: store.Store.
type TelemetryWriter interface {
	AppendTelemetry(ctx context.Context, edges iter.Seq2[graph.TelemetryEdge, error]) (store.TelemetryStats, error)
}

// checkedTelemetryWriter is a TelemetryWriter that can be handed edges
// already passed through store.CheckEdge (store.Store,
// store.CheckpointedWriter), which it then does not check again.
type checkedTelemetryWriter interface {
	AppendCheckedTelemetry(ctx context.Context, edges iter.Seq2[graph.TelemetryEdge, error]) (store.TelemetryStats, error)
}

// RunTelemetry loads one input of telemetry edges as Run loads graph
// records, with the same source, workers, ordering, drops and report, but
// with w's AppendTelemetry as its output stage instead of the batcher: the
// edges of the results (Result.Edges), in input order, are the sequence
// AppendTelemetry reads, so it writes them in the chunks it chooses and
// the edges keep the input's order whatever opts.Workers. A source error
// ends the sequence with that error. rep.Telemetry receives what w did,
// and the edges w dropped are counted in rep.Dropped under their reasons.
func RunTelemetry[M any](ctx context.Context, src Source[M], mapRecord Mapper[M], w TelemetryWriter, opts Options, rep *Report) error {
	l := start(ctx, src, mapRecord, opts, rep)
	edges := func(yield func(graph.TelemetryEdge, error) bool) {
		for rec, res := range l.results {
			if rec == nil { // the source went idle (Options.IdleFlush)
				if !yield(graph.TelemetryEdge{}, store.ErrFlush) {
					return
				}
				continue
			}
			count(l.ctx, l.log, rep, rec, res)
			for _, e := range res.Edges {
				if !yield(e, nil) {
					return
				}
			}
		}
		if l.err == nil && l.readErr != nil {
			yield(graph.TelemetryEdge{}, l.readErr)
		}
	}
	// w gets the caller's ctx: when it stops reading the sequence (an
	// error writing a chunk), the load's own context is cancelled to stop
	// the source and the workers, but w may still have chunks to finish.
	// Every edge of the sequence has passed store.CheckEdge (count drops
	// the results that do not), so a writer that can skip its own check
	// is told so.
	var stats store.TelemetryStats
	var err error
	if cw, ok := w.(checkedTelemetryWriter); ok {
		stats, err = cw.AppendCheckedTelemetry(ctx, edges)
	} else {
		stats, err = w.AppendTelemetry(ctx, edges)
	}
	if err == nil {
		err = l.err
	}
	rep.addTelemetry(stats)
	return l.finish(err)
}
