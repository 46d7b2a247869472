package stix

import (
	"log/slog"

	"github.com/ransomeye/intel/tuning"
)

// DefaultMaxRecordBytes is the record size limit when Options.MaxRecordBytes
// is zero.
const DefaultMaxRecordBytes = 64 << 20

// Options configure Load. The zero value is usable: workers and batch size
// come from tuning, the record limit is DefaultMaxRecordBytes and logs go to
// slog.Default().
type Options struct {
	// Feed names the feed in logs, in the report and in the sources of
	// every node and relation written.
	Feed string
	// Workers is the number of goroutines that decode and map records;
	// 0 means tuning's ParserWorkers for this machine.
	Workers int
	// BatchSize is the number of graph records per write to the sink; 0
	// means tuning's BatchSize for this machine.
	BatchSize int
	// MaxRecordBytes is the size above which a record is skipped (logged
	// and counted under ReasonTooLarge) without being buffered whole; 0
	// means DefaultMaxRecordBytes.
	MaxRecordBytes int64
	// Logger receives a WARN for every dropped record; nil means
	// slog.Default().
	Logger *slog.Logger
	// Progress, when set, is called from the reading goroutine every few
	// hundred records and once at the end with the bytes and records read
	// so far. It must return quickly.
	Progress func(bytes, records int64)
}

// withDefaults fills the zero fields of o.
func (o Options) withDefaults() Options {
	if o.Workers <= 0 || o.BatchSize <= 0 {
		plan := defaultPlan()
		if o.Workers <= 0 {
			o.Workers = plan.ParserWorkers
		}
		if o.BatchSize <= 0 {
			o.BatchSize = plan.BatchSize
		}
	}
	if o.MaxRecordBytes <= 0 {
		o.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// defaultPlan is tuning's plan for this machine, or the small-machine plan
// when the machine cannot be measured.
func defaultPlan() tuning.Plan {
	small := tuning.Plan{BatchSize: 500, ParserWorkers: 1}
	res, err := tuning.Detect()
	if err != nil {
		return small
	}
	plan, err := tuning.PlanFor(res)
	if err != nil || plan.ParserWorkers < 1 || plan.BatchSize < 1 {
		return small
	}
	return plan
}
