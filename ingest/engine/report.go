package engine

import (
	"encoding/json"
	"time"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/store"
)

// Report is the outcome of loading one feed. Run fills it from the
// goroutine that called it; read it once the load has returned.
type Report struct {
	Feed   string `json:"feed"`
	Format string `json:"format"`
	// RecordsRead counts the records (STIX objects, MISP events,
	// attributes, objects, ...) read, valid or not.
	RecordsRead int64 `json:"records_read"`
	// RecordsMapped counts the records turned into graph records.
	RecordsMapped int64 `json:"records_mapped"`
	// Nodes, Relations and Sightings count what was sent to the sink.
	Nodes     int64 `json:"nodes"`
	Relations int64 `json:"relations"`
	Sightings int64 `json:"sightings"`
	// Written is what the sink reported doing.
	Written graph.WriteStats `json:"written"`
	// Dropped counts the records dropped, by reason.
	Dropped map[Reason]int64 `json:"dropped"`
	// PartsDropped counts, by reason, the parts of records that loaded
	// without them (Result.PartDrops: the observables of an indicator
	// pattern that is not understood). Not in Dropped or DroppedTotal, so
	// records read = mapped + dropped still holds.
	PartsDropped map[Reason]int64 `json:"parts_dropped,omitempty"`
	// Skipped counts items not loaded because they had not changed.
	Skipped  int64         `json:"skipped,omitempty"`
	Bytes    int64         `json:"bytes"`
	Duration time.Duration `json:"duration_ns"`
	// Telemetry is what the TelemetryWriter of a telemetry load
	// (RunTelemetry) did; its Nodes include the records the edges imply.
	// It is nil for the other formats.
	Telemetry *store.TelemetryStats `json:"telemetry,omitempty"`
	// Rerun says how a telemetry file's load related to what its input
	// had stored already (telemetry.PlanFile); nil when the input has no
	// checkpoint (standard input) or nothing of it was stored before.
	Rerun *Rerun `json:"rerun,omitempty"`
	// Error is the error that stopped the load, if any.
	Error string `json:"error,omitempty"`

	// emitted counts the records sources emitted, for Progress.
	emitted int64
	// overlapped says batches were written side by side (Options.Writers).
	overlapped bool
}

// Rerun is how a load of a telemetry file related to what its input had
// stored: Kind (telemetry.PlanResume, PlanAppended, PlanShrunk,
// PlanChanged, PlanForced), the bytes at the start of the file not read
// because their lines are stored already (SkippedBytes), and a sentence
// that says so.
type Rerun struct {
	Kind         string `json:"kind"`
	SkippedBytes int64  `json:"skipped_bytes"`
	Message      string `json:"message,omitempty"`
}

// WritesOverlapped reports whether two or more batches of the loads
// counted into r were being written at the same moment (Options.Writers
// above 1). Only then can a relationship have been parked while its
// endpoint's batch was being written, for store.Store.ReleasePending to
// sweep up.
func (r *Report) WritesOverlapped() bool { return r.overlapped }

// NewReport returns an empty report for a feed.
func NewReport(feed, format string) *Report {
	return &Report{Feed: feed, Format: format, Dropped: map[Reason]int64{}}
}

// Drop counts one dropped record under reason, for drops outside Run (a
// missing file of a feed directory).
func (r *Report) Drop(reason Reason) {
	if r.Dropped == nil {
		r.Dropped = map[Reason]int64{}
	}
	r.Dropped[reason]++
}

// DropPart counts one dropped part of a loaded record under reason.
func (r *Report) DropPart(reason Reason) {
	if r.PartsDropped == nil {
		r.PartsDropped = map[Reason]int64{}
	}
	r.PartsDropped[reason]++
}

// PartsDroppedTotal is the number of parts of loaded records dropped for
// any reason.
func (r *Report) PartsDroppedTotal() int64 {
	var n int64
	for _, c := range r.PartsDropped {
		n += c
	}
	return n
}

// DroppedTotal is the number of records dropped for any reason.
func (r *Report) DroppedTotal() int64 {
	var n int64
	for _, c := range r.Dropped {
		n += c
	}
	return n
}

// MBPerSecond is the parse rate in megabytes (10^6 bytes) per second.
func (r *Report) MBPerSecond() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Bytes) / 1e6 / r.Duration.Seconds()
}

func (r *Report) addBatch(b graph.Batch, ws graph.WriteStats) {
	r.Nodes += int64(len(b.Nodes))
	r.Relations += int64(len(b.Relations))
	// The records the sink refused (validation or the database) stay in
	// Written (NodesRefused, RelationsRefused, by reason in
	// Written.Dropped): they are graph records of records read and
	// mapped, not records dropped, which would break read = mapped +
	// dropped, nor repeated ones.
	r.Written.Add(ws)
}

// addTelemetry adds what a TelemetryWriter did; the edges it dropped count
// in Dropped.
func (r *Report) addTelemetry(ts store.TelemetryStats) {
	if r.Telemetry == nil {
		r.Telemetry = &store.TelemetryStats{}
	}
	t := r.Telemetry
	t.Edges += ts.Edges
	t.Resumed += ts.Resumed
	t.OutOfWindow += ts.OutOfWindow
	t.InDefault += ts.InDefault
	t.PartitionsCreated += ts.PartitionsCreated
	t.Nodes.Add(ts.Nodes)
	t.Duration += ts.Duration
	for reason, n := range ts.Dropped {
		if t.Dropped == nil {
			t.Dropped = map[Reason]int64{}
		}
		t.Dropped[reason] += n
		r.Dropped[reason] += n
	}
}

// MarshalJSON adds the derived figures.
func (r *Report) MarshalJSON() ([]byte, error) {
	type plain Report
	return json.Marshal(struct {
		*plain
		DroppedTotal int64   `json:"dropped_total"`
		MBPerSecond  float64 `json:"mb_per_second"`
		DurationText string  `json:"duration"`
	}{(*plain)(r), r.DroppedTotal(), r.MBPerSecond(), r.Duration.String()})
}
