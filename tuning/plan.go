package tuning

import (
	"fmt"
	"strings"
)

// Class is the environment class of a machine. One function, used by PlanFor,
// decides it, and every knob of the Plan follows from it; see the package
// documentation for the table.
type Class int

// The environment classes, from the smallest machine up.
const (
	// Small is a machine with less than 16 GiB of memory or at most 4 cores.
	Small Class = iota + 1
	// Medium is any machine that is neither Small nor Large.
	Medium
	// Large is a machine with more than 100 GiB of memory and more than 16 cores.
	Large
)

// Class boundaries. The class is the lesser of the memory band and the CPU band.
const (
	smallMemoryBelow = 16 * GiB  // memory < 16 GiB is the small memory band
	largeMemoryAbove = 100 * GiB // memory > 100 GiB is the large memory band
	smallCoresAtMost = 4         // cores <= 4 is the small CPU band
	largeCoresAbove  = 16        // cores > 16 is the large CPU band
)

// classKnobs holds what each class fixes.
type classKnobs struct {
	poolCap       int32
	batchSize     int
	parserWorkers int
}

var knobs = map[Class]classKnobs{
	Small:  {poolCap: 50, batchSize: 500, parserWorkers: 1},
	Medium: {poolCap: 200, batchSize: 2000, parserWorkers: 2},
	Large:  {poolCap: 400, batchSize: 5000, parserWorkers: 4},
}

// String returns "small", "medium" or "large".
func (c Class) String() string {
	switch c {
	case Small:
		return "small"
	case Medium:
		return "medium"
	case Large:
		return "large"
	default:
		return fmt.Sprintf("Class(%d)", int(c))
	}
}

// MarshalText encodes the class as its String form, so JSON shows "large".
func (c Class) MarshalText() ([]byte, error) {
	if _, ok := knobs[c]; !ok {
		return nil, fmt.Errorf("marshal class: unknown class %d", int(c))
	}
	return []byte(c.String()), nil
}

// UnmarshalText decodes "small", "medium" or "large" (any case).
func (c *Class) UnmarshalText(text []byte) error {
	for _, k := range []Class{Small, Medium, Large} {
		if strings.EqualFold(string(text), k.String()) {
			*c = k
			return nil
		}
	}
	return fmt.Errorf("unmarshal class: unknown class %q", text)
}

// Plan is what PlanFor derives from Resources: the pool size, the insert batch
// size and the number of feed-parser workers.
type Plan struct {
	// Class is the machine's environment class; it decides PoolCap, BatchSize
	// and ParserWorkers.
	Class Class `json:"class"`
	// MaxConns is min(cores × 2 + SpindleFactor, PoolCap), for
	// pgxpool.Config.MaxConns.
	MaxConns int32 `json:"max_conns"`
	// MinConns is MaxConns / 4, at least 1, for pgxpool.Config.MinConns.
	MinConns int32 `json:"min_conns"`
	// PoolCap is the largest pool the class allows: 50, 200 or 400.
	PoolCap int32 `json:"pool_cap"`
	// SpindleFactor is the spindle factor the formula used.
	SpindleFactor int `json:"spindle_factor"`
	// BatchSize is the number of rows per insert batch: 500, 2000 or 5000.
	BatchSize int `json:"batch_size"`
	// ParserWorkers is the number of goroutines that parse feed records: 1 at
	// up to 4 cores, 2 at 5 to 16 cores, 4 above 16 cores (the CPU band of
	// the class rules, whatever the memory).
	ParserWorkers int `json:"parser_workers"`
	// Writers is the number of write transactions one store runs at once
	// (store.WithWriters): the cores, at most half of MaxConns, at least 1.
	Writers int `json:"writers"`
	// TelemetryStreams is the number of COPY streams of a shared telemetry
	// writer (store.TelemetryWriterOptions.Streams): the cores, at most
	// half of MaxConns, at least 1. See the package documentation.
	TelemetryStreams int `json:"telemetry_streams"`
	// EndpointCacheKeys is the generation size of a store's telemetry
	// endpoint cache (store.WithEndpointCache): one key per 64 KiB of
	// memory, between 32,768 and 524,288. See the package documentation.
	EndpointCacheKeys int `json:"endpoint_cache_keys"`
}

// PlanFor returns the plan for a machine described by r. It is pure: the same
// Resources always give the same Plan, whatever machine it runs on.
//
// It returns ErrUnknownCores when r.Cores < 1, ErrUnknownMemory when
// r.MemoryBytes is 0, and ErrInvalidSpindleFactor when r.SpindleFactor < 0;
// there is no fallback, because a plan for a guessed machine is worse than an
// error the caller can act on (for example by asking for --cores).
func PlanFor(r Resources) (Plan, error) {
	if r.Cores < 1 {
		return Plan{}, fmt.Errorf("plan for %d cores: %w", r.Cores, ErrUnknownCores)
	}
	if r.MemoryBytes == 0 {
		return Plan{}, fmt.Errorf("plan for 0 bytes of memory: %w", ErrUnknownMemory)
	}
	if r.SpindleFactor < 0 {
		return Plan{}, fmt.Errorf("plan for spindle factor %d: %w", r.SpindleFactor, ErrInvalidSpindleFactor)
	}
	spindle := r.SpindleFactor
	if spindle == 0 {
		spindle = DefaultSpindleFactor
	}

	class := classify(r.Cores, r.MemoryBytes)
	k := knobs[class]
	maxConns := poolSize(r.Cores, spindle, k.poolCap)
	return Plan{
		Class:         class,
		MaxConns:      maxConns,
		MinConns:      minConnsFor(maxConns),
		PoolCap:       k.poolCap,
		SpindleFactor: spindle,
		BatchSize:     k.batchSize,
		ParserWorkers: knobs[cpuBand(r.Cores)].parserWorkers,
		Writers:       max(1, min(r.Cores, int(maxConns)/2)),

		TelemetryStreams:  telemetryStreams(r.Cores, maxConns),
		EndpointCacheKeys: endpointCacheKeys(r.MemoryBytes),
	}, nil
}

// endpointCacheKeys is the one rule for the size of the telemetry endpoint
// cache: a generation of keys per 64 KiB of memory (a key costs at most a
// few hundred bytes in each of the cache's two generations, so the cache
// stays under 1% of memory), at least the 32,768 keys the store defaults
// to and at most 524,288.
func endpointCacheKeys(memory uint64) int {
	return int(min(max(memory>>16, 1<<15), 1<<19))
}

// telemetryStreams is the one rule for the telemetry writer's COPY streams:
// one per core, at most half the pool, so the streams and the Writers (at
// most half too) fit in it together. A stream's appends write their
// chunks' records on up to Writers connections beside its COPY
// (store.AppendTelemetry), so one stream keeps more than one backend busy;
// see the package documentation for the measurements.
func telemetryStreams(cores int, maxConns int32) int {
	return max(1, min(cores, int(maxConns)/2))
}

// cpuBand is the class the cores alone would give. Parser workers follow it:
// parsing is CPU work, so a many-core machine parses in parallel even when
// its memory keeps the pool and batches small.
func cpuBand(cores int) Class {
	switch {
	case cores <= smallCoresAtMost:
		return Small
	case cores > largeCoresAbove:
		return Large
	default:
		return Medium
	}
}

// classify is the one place that decides the class: the lesser of the memory
// band and the CPU band.
func classify(cores int, memory uint64) Class {
	switch {
	case memory < smallMemoryBelow || cores <= smallCoresAtMost:
		return Small
	case memory > largeMemoryAbove && cores > largeCoresAbove:
		return Large
	default:
		return Medium
	}
}

// poolSize returns min(cores × 2 + spindle, limit) without overflowing.
func poolSize(cores, spindle int, limit int32) int32 {
	if cores >= int(limit) || spindle >= int(limit) {
		return limit
	}
	return int32(min(cores*2+spindle, int(limit)))
}

// minConnsFor returns the MinConns that goes with a MaxConns: a quarter of it,
// at least 1, never more than max.
func minConnsFor(maxConns int32) int32 {
	return min(max(1, maxConns/4), max(maxConns, 0))
}
