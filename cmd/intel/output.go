package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
)

// formatFlag validates a --format value against the allowed ones.
func formatFlag(value string, allowed ...string) error {
	for _, a := range allowed {
		if value == a {
			return nil
		}
	}
	return usagef("--format %q: want one of %v", value, allowed)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printer writes output and keeps the first write error: a run of printf
// and println calls is checked once, by err or flush, instead of at every
// line. After an error it writes nothing more.
//
// The app's stdout is a printer, so output a user relies on cannot fail
// silently: run turns a failed stdout write into a failed command (exit 1
// and the cause on stderr), even when the command itself returned nil.
type printer struct {
	w       io.Writer
	err     error
	flusher interface{ Flush() error } // the tabwriter of newTablePrinter
}

func newPrinter(w io.Writer) *printer { return &printer{w: w} }

// newTablePrinter returns a printer into an aligned table over w
// (tab-separated cells, two blanks between columns); flush writes it out.
func newTablePrinter(w io.Writer) *printer {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	return &printer{w: tw, flusher: tw}
}

// Write makes a printer an io.Writer (for JSON, renderers, tabwriters):
// the first error is kept and returned by every later Write.
func (p *printer) Write(b []byte) (int, error) {
	if p.err != nil {
		return 0, p.err
	}
	n, err := p.w.Write(b)
	if err != nil {
		p.err = err
	}
	return n, err
}

// The error of each print is kept in p.err (by Write) and checked there.

func (p *printer) printf(format string, args ...any) { _, _ = fmt.Fprintf(p, format, args...) }
func (p *printer) println(args ...any)               { _, _ = fmt.Fprintln(p, args...) }
func (p *printer) print(args ...any)                 { _, _ = fmt.Fprint(p, args...) }

// flush writes out what a table printer holds and returns the first error
// of all the printer's writes.
func (p *printer) flush() error {
	if p.err == nil && p.flusher != nil {
		p.err = p.flusher.Flush()
	}
	return p.err
}

// diagf writes a progress or diagnostic line to stderr. It is best effort
// on purpose, the one place where a write error is dropped: when stderr
// itself cannot be written there is nowhere left to report that, and the
// exit code still tells how the command ended.
func diagf(stderr io.Writer, format string, args ...any) {
	_, _ = fmt.Fprintf(stderr, format, args...)
}

// writeFile creates path, lets write fill it, and closes it with the error
// checked: Close can be the first to report lost data (full disk, quota,
// network file systems), so a file the CLI writes is only done when Close
// succeeds. What it writes goes through controlEscaper, as stdout does: the
// file is read in a terminal (cat) or by Graphviz, whose SVG may not hold
// control characters.
func writeFile(path string, write func(io.Writer) error) (err error) {
	f, err := createOutput(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	return write(controlEscaper{f})
}
