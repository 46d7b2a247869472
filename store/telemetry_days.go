package store

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ransomeye/intel/graph"
)

// ensureChunkDays makes the day partitions of the chunk's days in the
// window that this Store has not made yet, and counts the chunk's rows
// outside the window. It returns the chunk without the rows of the days the
// DayEnsurer refused (past retention), which it counts as dropped.
func (s *Store) ensureChunkDays(ctx context.Context, chunk []graph.TelemetryEdge, stats *TelemetryStats) ([]graph.TelemetryEdge, error) {
	today := graph.UTCDay(s.now())
	lo := today.AddDate(0, 0, -s.window.Back)
	hi := today.AddDate(0, 0, s.window.Ahead+1)
	horizon, err := s.horizon(ctx, chunk, lo)
	if err != nil {
		return chunk, err
	}
	var need, past []time.Time
	for _, e := range chunk {
		day := graph.UTCDay(e.ObservedAt)
		switch {
		case day.Before(horizon):
			past = append(past, day)
		case day.Before(lo) || !day.Before(hi):
			stats.OutOfWindow++
		case !s.days.has(day) && !slices.Contains(need, day):
			// A day another stream is still ensuring is ensured here
			// too (it waits for that one, then finds the partition): a
			// chunk copied before the partition is attached can land in
			// the default partition while it moves (refused on Citus).
			need = append(need, day)
			s.days.add(day) // pending; removed again if ensuring fails
		}
	}
	var out DayOutcome
	if len(need) > 0 {
		err = s.retry(ctx, "make day partitions", func(ctx context.Context) error {
			o, err := s.ensureDays(ctx, need)
			out.Created += o.Created
			out.Default, out.Refused = o.Default, o.Refused
			return err
		})
		stats.PartitionsCreated += out.Created
		if err != nil {
			for _, d := range need {
				s.days.remove(d)
			}
			return chunk, fmt.Errorf("make day partitions for telemetry: %w", err)
		}
		for _, d := range need {
			s.days.confirm(d)
		}
	}
	out.Refused = append(out.Refused, past...)
	if len(out.Default) == 0 && len(out.Refused) == 0 {
		return chunk, nil
	}
	return s.divertDays(ctx, chunk, out, stats), nil
}

// horizon asks the DayEnsurer for the first day rows may be written for
// when chunk has rows from before the window (days in the window it judges
// in EnsureDays); otherwise, and without a limit, it is the zero time.
func (s *Store) horizon(ctx context.Context, chunk []graph.TelemetryEdge, lo time.Time) (time.Time, error) {
	if s.ensurer == nil || !slices.ContainsFunc(chunk, func(e graph.TelemetryEdge) bool { return e.ObservedAt.Before(lo) }) {
		return time.Time{}, nil
	}
	h, err := s.ensurer.Horizon(ctx, s.pool)
	if err != nil {
		return time.Time{}, fmt.Errorf("read telemetry retention: %w", err)
	}
	return h, nil
}

// divertDays counts the rows of out's Default days, which go to the default
// partition, and drops those of its Refused days, logging each refused day
// once per chunk at WARN. Those days are asked about again with the next
// chunk.
func (s *Store) divertDays(ctx context.Context, chunk []graph.TelemetryEdge, out DayOutcome, stats *TelemetryStats) []graph.TelemetryEdge {
	toDefault, refused := map[time.Time]bool{}, map[time.Time]int64{}
	for _, d := range out.Default {
		s.days.remove(d)
		toDefault[d] = true
	}
	for _, d := range out.Refused {
		s.days.remove(d)
		refused[d] = 0
	}
	kept := chunk[:0]
	for _, e := range chunk {
		day := graph.UTCDay(e.ObservedAt)
		if _, ok := refused[day]; ok {
			refused[day]++
			continue
		}
		if toDefault[day] {
			stats.InDefault++
		}
		kept = append(kept, e)
	}
	for day, n := range refused {
		stats.Dropped[graph.ReasonBeforeRetention] += n
		s.log.WarnContext(ctx, "dropping telemetry edges of a day past retention", "day", day.Format(time.DateOnly),
			"edges", n, "reason", string(graph.ReasonBeforeRetention))
	}
	return kept
}

// ensureDays makes the partitions of days through the DayEnsurer, if any.
func (s *Store) ensureDays(ctx context.Context, days []time.Time) (DayOutcome, error) {
	if s.ensurer == nil {
		return DayOutcome{}, nil
	}
	return s.ensurer.EnsureDays(ctx, days)
}

// daySet remembers the days whose partitions exist (true), so
// AppendTelemetry asks the DayEnsurer once per day per Store, and the days
// being ensured (false).
type daySet struct {
	mu   sync.Mutex
	days map[time.Time]bool
}

func newDaySet() *daySet { return &daySet{days: map[time.Time]bool{}} }

// has reports whether the partition of day is known to exist.
func (d *daySet) has(day time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.days[day]
}

// add marks day as being ensured, unless it is known to exist.
func (d *daySet) add(day time.Time) {
	d.mu.Lock()
	if !d.days[day] {
		d.days[day] = false
	}
	d.mu.Unlock()
}

// confirm marks day as existing.
func (d *daySet) confirm(day time.Time) {
	d.mu.Lock()
	d.days[day] = true
	d.mu.Unlock()
}

// confirmed returns the days from lo (inclusive) to hi (exclusive) whose
// partitions are known to exist, in order.
func (d *daySet) confirmed(lo, hi time.Time) []time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []time.Time
	for day, ok := range d.days {
		if ok && !day.Before(lo) && day.Before(hi) {
			out = append(out, day)
		}
	}
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return out
}

func (d *daySet) remove(day time.Time) {
	d.mu.Lock()
	delete(d.days, day)
	d.mu.Unlock()
}
