package ingest

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/term"
)

// Progress draws live per-feed counters (bytes, records, rate) on a
// terminal, redrawing one line every interval. The line fits the terminal:
// it is cut to $COLUMNS, else the width of the terminal w is (read at every
// redraw, so a resize is followed), else 80 columns; when the feeds do not
// fit at full length they are drawn short, then cut.
//
// Progress is also an io.Writer for log lines: a line written to it clears
// the progress line, is written whole, and the progress line is drawn again
// below it, so log lines and progress never share a line. Give the loaders'
// logger a Progress instead of the terminal (slog.NewTextHandler(p, …)).
//
// A nil *Progress does nothing.
type Progress struct {
	w        io.Writer
	interval time.Duration
	// width returns the columns available, read at every redraw.
	width func() int

	mu    sync.Mutex // serializes writes to w and guards feeds, shown and stopped
	feeds map[string]*feedProgress
	// shown says the progress line is on the terminal (not yet ended by a
	// newline), so a log line must clear it first.
	shown   bool
	stopped bool
	stop    chan struct{}
	done    chan struct{}
}

// NewProgress starts drawing on w (a terminal) every interval; call Stop.
func NewProgress(w io.Writer, interval time.Duration) *Progress {
	if interval <= 0 {
		interval = 250 * time.Millisecond
	}
	p := &Progress{w: w, interval: interval, width: terminalWidth(w), feeds: map[string]*feedProgress{},
		stop: make(chan struct{}), done: make(chan struct{})}
	go p.loop()
	return p
}

// terminalWidth returns the function that reads the width available on w.
func terminalWidth(w io.Writer) func() int {
	return func() int {
		if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
			return n
		}
		if f, ok := w.(*os.File); ok {
			if n, _, err := term.GetSize(int(f.Fd())); err == nil && n > 0 {
				return n
			}
		}
		return 80
	}
}

// Stop draws the last line and stops.
func (p *Progress) Stop() {
	if p == nil {
		return
	}
	close(p.stop)
	<-p.done
}

// Write writes a log line (or several) above the progress line. After Stop
// it writes straight to w.
func (p *Progress) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped || !p.shown {
		return p.w.Write(b)
	}
	// Progress is best effort: a terminal that fails a write loses a line.
	_, _ = io.WriteString(p.w, "\r\033[K")
	p.shown = false
	n, err := p.w.Write(b)
	if err == nil && len(b) > 0 && b[len(b)-1] == '\n' {
		p.drawLocked(false)
	}
	return n, err
}

func (p *Progress) loop() {
	defer close(p.done)
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			p.mu.Lock()
			p.drawLocked(false)
			p.mu.Unlock()
		case <-p.stop:
			p.mu.Lock()
			p.drawLocked(true)
			p.stopped = true
			p.mu.Unlock()
			return
		}
	}
}

// drawLocked redraws the progress line (and ends it when final); p.mu is
// held.
func (p *Progress) drawLocked(final bool) {
	names := make([]string, 0, len(p.feeds))
	for n := range p.feeds {
		names = append(names, n)
	}
	if len(names) == 0 && !p.shown {
		return
	}
	sort.Strings(names)
	long := make([]string, len(names))
	short := make([]string, len(names))
	for i, n := range names {
		long[i], short[i] = p.feeds[n].String(), p.feeds[n].short()
	}
	line := fitLine(long, short, p.width()-1) // the last column would wrap on some terminals
	end := ""
	if final {
		end = "\n"
	}
	_, _ = fmt.Fprintf(p.w, "\r\033[K%s%s", line, end)
	p.shown = !final
}

// fitLine joins the feeds' long forms if they fit in width columns, else
// their short forms, cut with "…" if even those do not fit.
func fitLine(long, short []string, width int) string {
	width = max(width, 10)
	if line := strings.Join(long, " | "); runeLen(line) <= width {
		return line
	}
	line := strings.Join(short, " | ")
	if runeLen(line) <= width {
		return line
	}
	return string([]rune(line)[:width-1]) + "…"
}

func runeLen(s string) int { return len([]rune(s)) }

// Track adds an input of size bytes (-1: unknown) to the line, for a load
// outside Run (intel ingest telemetry): update is the loader's
// engine.Options.Progress, done marks the input finished.
func (p *Progress) Track(name string, size int64) (update func(bytes, records int64), done func()) {
	fp := p.track(name, size)
	return fp.update, fp.done
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

func (f *feedProgress) pct() string {
	if f.size <= 0 {
		return ""
	}
	return fmt.Sprintf(" %3.0f%%", 100*float64(f.bytes.Load())/float64(f.size))
}

func (f *feedProgress) String() string {
	b := f.bytes.Load()
	rate := float64(b) / 1e6 / max(time.Since(f.start).Seconds(), 0.001)
	state := ""
	if f.finished.Load() {
		state = " done"
	}
	return fmt.Sprintf("%s%s %.1f MB %d rec %.1f MB/s%s", f.name, f.pct(), float64(b)/1e6, f.records.Load(), rate, state)
}

// short is the feed's progress in a few columns: name and percentage (or
// records), or done.
func (f *feedProgress) short() string {
	switch {
	case f.finished.Load():
		return f.name + " done"
	case f.size > 0:
		return f.name + f.pct()
	}
	return fmt.Sprintf("%s %d rec", f.name, f.records.Load())
}
