package ingest

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Progress draws live per-feed counters (bytes, records, rate) on a
// terminal, redrawing one line every interval. A nil *Progress does nothing.
type Progress struct {
	w        io.Writer
	interval time.Duration

	mu    sync.Mutex
	feeds map[string]*feedProgress
	stop  chan struct{}
	done  chan struct{}
}

// NewProgress starts drawing on w (a terminal) every interval; call Stop.
func NewProgress(w io.Writer, interval time.Duration) *Progress {
	if interval <= 0 {
		interval = 250 * time.Millisecond
	}
	p := &Progress{w: w, interval: interval, feeds: map[string]*feedProgress{},
		stop: make(chan struct{}), done: make(chan struct{})}
	go p.loop()
	return p
}

// Stop draws the last line and stops.
func (p *Progress) Stop() {
	if p == nil {
		return
	}
	close(p.stop)
	<-p.done
}

func (p *Progress) loop() {
	defer close(p.done)
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			p.draw(false)
		case <-p.stop:
			p.draw(true)
			return
		}
	}
}

func (p *Progress) draw(final bool) {
	p.mu.Lock()
	names := make([]string, 0, len(p.feeds))
	for n := range p.feeds {
		names = append(names, n)
	}
	sort.Strings(names)
	var parts []string
	for _, n := range names {
		parts = append(parts, p.feeds[n].String())
	}
	p.mu.Unlock()
	line := strings.Join(parts, " | ")
	if len(line) > 200 {
		line = line[:199] + "…"
	}
	end := ""
	if final {
		end = "\n"
	}
	// Progress is best effort: a terminal that fails a write loses a line.
	_, _ = fmt.Fprintf(p.w, "\r\033[K%s%s", line, end)
}

func (p *Progress) track(name string, size int64) *feedProgress {
	fp := &feedProgress{name: name, size: size, start: time.Now()}
	if p == nil {
		return fp
	}
	p.mu.Lock()
	p.feeds[name] = fp
	p.mu.Unlock()
	return fp
}

// feedProgress counts one feed's progress; its methods are safe on any
// goroutine.
type feedProgress struct {
	name     string
	size     int64
	start    time.Time
	bytes    atomic.Int64
	records  atomic.Int64
	finished atomic.Bool
}

func (f *feedProgress) update(bytes, records int64) {
	f.bytes.Store(bytes)
	f.records.Store(records)
}

func (f *feedProgress) done() { f.finished.Store(true) }

func (f *feedProgress) String() string {
	b := f.bytes.Load()
	rate := float64(b) / 1e6 / max(time.Since(f.start).Seconds(), 0.001)
	pct := ""
	if f.size > 0 {
		pct = fmt.Sprintf(" %3.0f%%", 100*float64(b)/float64(f.size))
	}
	state := ""
	if f.finished.Load() {
		state = " done"
	}
	return fmt.Sprintf("%s%s %.1f MB %d rec %.1f MB/s%s", f.name, pct, float64(b)/1e6, f.records.Load(), rate, state)
}
