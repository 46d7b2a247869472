package main_test

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"time"
)

// telemetryShape is the shape of a generated NDJSON telemetry file.
type telemetryShape struct {
	name string
	// lines is the number of lines.
	lines int
	// endpoints is the number of distinct endpoints the lines draw from;
	// with newProcesses every line's source is a process of its own
	// (a host and a pid not seen before) and endpoints counts only the
	// destinations.
	endpoints    int
	newProcesses bool
}

// writeTelemetryFile writes shape's lines to path as agents would send
// them: in time order over the seven UTC days ending at now, a process
// (host and pid) as source and a file (name and SHA-256), an IPv4 address
// or a domain as destination, the pid in props. The same seed gives the
// same file.
func writeTelemetryFile(path string, shape telemetryShape, seed uint64, now time.Time) error {
	rng := rand.New(rand.NewPCG(seed, 0x7e1e))
	type endpoint struct {
		json     string
		relation string
	}
	// The destinations: files, addresses and domains in equal parts; the
	// sources: processes of 5,000 hosts.
	procs := shape.endpoints / 5
	dsts := make([]endpoint, shape.endpoints-procs)
	if shape.newProcesses {
		dsts = make([]endpoint, shape.endpoints)
	}
	for i := range dsts {
		switch i % 3 {
		case 0:
			var h [32]byte
			for j := range h {
				h[j] = byte(rng.Uint32())
			}
			dsts[i] = endpoint{fmt.Sprintf(`{"kind":"file","name":"bin-%d.exe","hashes":{"SHA-256":"%x"}}`, i, h), "wrote"}
		case 1:
			dsts[i] = endpoint{fmt.Sprintf(`"ipv4-addr:10.%d.%d.%d"`, i>>16&0xff, i>>8&0xff, i&0xff), "connected-to"}
		default:
			dsts[i] = endpoint{fmt.Sprintf(`{"kind":"domain-name","value":"host-%d.example.com"}`, i), "resolved"}
		}
	}
	type line struct {
		at        time.Time
		host, pid int
		dst       int32
	}
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	first := today.AddDate(0, 0, -6)
	span := int64(now.Sub(first) / time.Microsecond)
	lines := make([]line, shape.lines)
	for i := range lines {
		l := line{at: first.Add(time.Duration(rng.Int64N(span)) * time.Microsecond), dst: int32(rng.IntN(len(dsts)))}
		if shape.newProcesses {
			l.host, l.pid = i%5000, 1000+i/5000
		} else {
			p := rng.IntN(max(procs, 1))
			l.host, l.pid = p%5000, 1000+p/5000
		}
		lines[i] = l
	}
	slices.SortFunc(lines, func(a, b line) int { return a.at.Compare(b.at) })
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for _, l := range lines { // a write error is sticky: Flush returns it
		d := dsts[l.dst]
		_, _ = fmt.Fprintf(w, `{"src":{"kind":"process","key":"host-%d:%d","name":"proc-%d.exe"},"relation":%q,"dst":%s,"agent_id":"host-%d","observed_at":%q,"props":{"pid":%d}}`+"\n",
			l.host, l.pid, l.pid%97, d.relation, d.json, l.host, l.at.Format(time.RFC3339Nano), l.pid)
	}
	if err := w.Flush(); err != nil {
		_ = f.Close() // the write error is the one to report
		return err
	}
	return f.Close()
}
