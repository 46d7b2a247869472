package ingest

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// lockedBuffer is a terminal stand-in that records every write.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// visibleLines replays terminal output: each line as it stays on screen,
// what follows the last clear-line in it.
func visibleLines(out string) []string {
	var lines []string
	for _, l := range strings.SplitAfter(out, "\n") {
		if l == "" {
			continue
		}
		if i := strings.LastIndex(l, "\r\033[K"); i >= 0 {
			l = l[i+len("\r\033[K"):]
		}
		lines = append(lines, strings.TrimSuffix(l, "\n"))
	}
	return lines
}

// TestProgressFitsTheWidthAndLogLinesStandAlone: with many feeds the
// progress line is cut to the terminal's width, and log lines written
// through the Progress while it redraws every millisecond each stand whole
// on a line of their own.
func TestProgressFitsTheWidthAndLogLinesStandAlone(t *testing.T) {
	t.Parallel()
	var term lockedBuffer
	p := &Progress{w: &term, interval: time.Millisecond, width: func() int { return 60 },
		feeds: map[string]*feedProgress{}, stop: make(chan struct{}), done: make(chan struct{})}
	go p.loop()
	for i := range 12 {
		fp := p.track(fmt.Sprintf("feed-with-a-long-name-%02d", i), 1<<20)
		fp.update(int64(i)<<16, int64(i)*1000)
	}
	log := slog.New(slog.NewTextHandler(p, nil))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				log.Warn("record dropped", "goroutine", g, "i", i, "detail", strings.Repeat("x", 80))
				time.Sleep(100 * time.Microsecond)
			}
		}()
	}
	wg.Wait()
	p.Stop()

	term.mu.Lock()
	out := term.buf.String()
	term.mu.Unlock()
	logLines := 0
	for _, l := range visibleLines(out) {
		if strings.Contains(l, "record dropped") {
			logLines++
			require.Regexp(t, `^time=\S+ level=WARN msg="record dropped" goroutine=\d i=\d+ detail=x{80}$`, l, "a whole log line, alone")
			continue
		}
		require.LessOrEqual(t, len([]rune(l)), 59, "the progress line fits 60 columns: %q", l)
		require.True(t, strings.HasPrefix(l, "feed-with-a-long-name-00"), "only progress: %q", l)
	}
	require.Equal(t, 200, logLines, "every log line shown")
	// Each drawn progress line, not only the last, fits.
	for _, seg := range strings.Split(out, "\r\033[K") {
		seg = strings.TrimSuffix(seg, "\n")
		if seg != "" && !strings.Contains(seg, "record dropped") {
			require.LessOrEqual(t, len([]rune(seg)), 59, "%q", seg)
		}
	}
}

func TestFitLine(t *testing.T) {
	t.Parallel()
	long := []string{"a 10% 1.0 MB 5 rec 1.0 MB/s", "b 20% 2.0 MB 9 rec 1.0 MB/s"}
	short := []string{"a 10%", "b 20%"}
	require.Equal(t, "a 10% 1.0 MB 5 rec 1.0 MB/s | b 20% 2.0 MB 9 rec 1.0 MB/s", fitLine(long, short, 80))
	require.Equal(t, "a 10% | b 20%", fitLine(long, short, 40), "short forms when the long ones do not fit")
	require.Equal(t, "a 10% | b…", fitLine(long, short, 10), "cut when even those do not fit")
	require.Equal(t, "ä 10% | ö…", fitLine([]string{"ä 10% 1 MB", "ö 20% 2 MB"}, []string{"ä 10%", "ö 20%"}, 10), "counted in runes, not bytes")
}

func TestTerminalWidth(t *testing.T) {
	t.Setenv("COLUMNS", "42")
	require.Equal(t, 42, terminalWidth(&bytes.Buffer{})())
	t.Setenv("COLUMNS", "")
	require.Equal(t, 80, terminalWidth(&bytes.Buffer{})(), "not a terminal: 80 columns")
}
