// Package telemetry reads endpoint telemetry as NDJSON — one observation
// per line — and writes it through graph.Store.AppendTelemetry, so agents'
// data can be loaded without writing Go:
//
//	{"src": {"kind": "process", "key": "host-7:4242", "name": "powershell.exe"},
//	 "relation": "wrote",
//	 "dst": {"kind": "file", "name": "invoice.exe", "hashes": {"SHA-256": "9f86…"}},
//	 "agent_id": "host-7", "observed_at": "2026-11-27T10:15:00Z",
//	 "props": {"pid": 4242}}
//
// An endpoint is an object with a kind and the properties that identify it:
//   - value kinds (ipv4-addr, ipv6-addr, domain-name, url, email-addr,
//     mac-addr, mutex, directory): "value";
//   - hash: "value" as "SHA-256:<hex>", or "algorithm" and "value";
//   - file: "name" and/or "hashes" (the file gets its STIX id and is linked
//     to a hash node per hash, where it meets indicators and MISP attributes);
//   - other STIX observables (software, user-account, ...): their STIX
//     properties, from which the STIX deterministic id is computed;
//   - anything else (process, host, user, ...): "key", unique within kind.
//
// or the shorthand string "kind:value" ("ipv4-addr:198.51.100.7",
// "hash:SHA-256:<hex>", "process:host-7:4242").
//
// A file's hash nodes and file → hash has-hash relations travel with the
// edge that names the file (graph.TelemetryEdge.Implied): AppendTelemetry
// writes them with the chunk's endpoint nodes, in one transaction before the
// chunk's edges, so the file, its hashes and the links between them are
// committed together and no link waits in pending_relations.
//
// A line that cannot be used is logged at WARN with its line number, byte
// offset, reason and details, counted under its reason, and skipped; the
// rest of the stream loads. Reasons are the fixed constants of Reasons, so
// Report.Dropped stays small however malformed the input.
package telemetry

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"strings"
	"time"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/stixid"
	"github.com/ransomeye/intel/store"
)

// DefaultMaxLineBytes is the longest line read; longer ones are dropped.
const DefaultMaxLineBytes = 1 << 20

// The reasons Load drops a line for, besides those of
// graph.TelemetryEdge.InvalidReason that AppendTelemetry reports.
const (
	ReasonLineTooLong       graph.DropReason = "line too long"
	ReasonInvalidJSON       graph.DropReason = "invalid JSON"
	ReasonBadSrc            graph.DropReason = "bad src endpoint"
	ReasonBadDst            graph.DropReason = "bad dst endpoint"
	ReasonMissingRelation                    = graph.ReasonMissingRelation
	ReasonMissingAgentID                     = graph.ReasonMissingAgentID
	ReasonMissingObservedAt                  = graph.ReasonMissingObservedAt
	ReasonBadObservedAt     graph.DropReason = "bad observed_at (want RFC 3339 with a zone)"
)

// Reasons returns every reason a Report counts drops under: Load's own and
// those of graph.TelemetryEdge.InvalidReason.
func Reasons() []graph.DropReason {
	return []graph.DropReason{
		ReasonLineTooLong, ReasonInvalidJSON, ReasonBadSrc, ReasonBadDst, ReasonMissingRelation,
		ReasonMissingAgentID, ReasonMissingObservedAt, ReasonBadObservedAt,
		graph.ReasonInvalidSrc, graph.ReasonInvalidDst, graph.ReasonInvalidImplied,
	}
}

// maxDetail bounds the details of a drop in the log.
const maxDetail = 200

// Options configure Load.
type Options struct {
	// Feed names the stream in logs and in the nodes' sources.
	Feed string
	// MaxLineBytes is the longest accepted line (default 1 MiB).
	MaxLineBytes int
	// Logger receives the WARN lines for dropped records.
	Logger *slog.Logger
	// Progress, when set, is called every 10,000 lines with bytes and lines read.
	Progress func(bytes, lines int64)
}

// Report is the outcome of a load.
type Report struct {
	Feed  string `json:"feed"`
	Lines int64  `json:"lines"`
	Bytes int64  `json:"bytes"`
	// Dropped counts the dropped lines by reason, one of Reasons.
	Dropped map[graph.DropReason]int64 `json:"dropped"`
	// Telemetry is what AppendTelemetry did; its Nodes include the files'
	// hash nodes and has-hash relations.
	Telemetry store.TelemetryStats `json:"telemetry"`
}

// Writer is what Load writes to: store.Store.
type Writer interface {
	AppendTelemetry(ctx context.Context, edges iter.Seq2[graph.TelemetryEdge, error]) (store.TelemetryStats, error)
}

type line struct {
	Src        json.RawMessage `json:"src"`
	Relation   string          `json:"relation"`
	Dst        json.RawMessage `json:"dst"`
	AgentID    string          `json:"agent_id"`
	ObservedAt string          `json:"observed_at"`
	Props      map[string]any  `json:"props"`
}

// Load reads NDJSON telemetry from r and writes it to w.
func Load(ctx context.Context, r io.Reader, w Writer, opts Options) (*Report, error) {
	if opts.MaxLineBytes <= 0 {
		opts.MaxLineBytes = DefaultMaxLineBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	rep := &Report{Feed: opts.Feed, Dropped: map[graph.DropReason]int64{}}
	br := bufio.NewReaderSize(r, 64<<10)
	var offset int64
	edges := func(yield func(graph.TelemetryEdge, error) bool) {
		for {
			raw, tooLong, err := readLine(br, opts.MaxLineBytes)
			if len(raw) > 0 || tooLong {
				rep.Lines++
				start := offset
				offset += int64(len(raw))
				rep.Bytes = offset
				if opts.Progress != nil && rep.Lines%10000 == 0 {
					opts.Progress(rep.Bytes, rep.Lines)
				}
				if tooLong {
					rep.drop(opts, start, ReasonLineTooLong, fmt.Errorf("over %d bytes", opts.MaxLineBytes))
				} else if trimmed := bytes.TrimSpace(raw); len(trimmed) > 0 {
					e, reason, detail := parseLine(trimmed, opts.Feed)
					if reason != "" {
						rep.drop(opts, start, reason, detail)
					} else if !yield(e, nil) {
						return
					}
				}
			}
			if err == io.EOF {
				return
			}
			if err != nil {
				yield(graph.TelemetryEdge{}, fmt.Errorf("read line %d: %w", rep.Lines+1, err))
				return
			}
		}
	}
	stats, err := w.AppendTelemetry(ctx, edges)
	rep.Telemetry = stats
	for reason, n := range stats.Dropped {
		rep.Dropped[reason] += n
	}
	return rep, err
}

// drop counts a dropped line under reason and logs it with the details.
func (rep *Report) drop(opts Options, offset int64, reason graph.DropReason, detail error) {
	rep.Dropped[reason]++
	args := []any{"feed", opts.Feed, "line", rep.Lines, "offset", offset, "reason", string(reason)}
	if detail != nil {
		d := detail.Error()
		if len(d) > maxDetail {
			d = d[:maxDetail] + "…"
		}
		args = append(args, "detail", d)
	}
	opts.Logger.Warn("dropping telemetry line", args...)
}

// readLine returns the next line including its newline; tooLong reports a
// line over max bytes, which is consumed but not returned.
func readLine(br *bufio.Reader, max int) ([]byte, bool, error) {
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(buf)+len(chunk) > max {
			// Consume the rest of the line without keeping it.
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
			return nil, true, err
		}
		buf = append(buf, chunk...)
		if !errors.Is(err, bufio.ErrBufferFull) {
			return buf, false, err
		}
	}
}

// parseLine turns one NDJSON line into an edge, whose Implied holds the
// nodes and relations its endpoints bring (a file's hashes), or a reason to
// drop it and the details.
func parseLine(raw []byte, feed string) (graph.TelemetryEdge, graph.DropReason, error) {
	var l line
	if err := json.Unmarshal(raw, &l); err != nil {
		return graph.TelemetryEdge{}, ReasonInvalidJSON, err
	}
	var implied graph.Batch
	src, err := endpoint(l.Src, &implied)
	if err != nil {
		return graph.TelemetryEdge{}, ReasonBadSrc, err
	}
	dst, err := endpoint(l.Dst, &implied)
	if err != nil {
		return graph.TelemetryEdge{}, ReasonBadDst, err
	}
	if l.Relation == "" {
		return graph.TelemetryEdge{}, ReasonMissingRelation, nil
	}
	if l.AgentID == "" {
		return graph.TelemetryEdge{}, ReasonMissingAgentID, nil
	}
	if l.ObservedAt == "" {
		return graph.TelemetryEdge{}, ReasonMissingObservedAt, nil
	}
	at, err := time.Parse(time.RFC3339Nano, l.ObservedAt)
	if err != nil {
		return graph.TelemetryEdge{}, ReasonBadObservedAt, err
	}
	var sources []string
	if feed != "" {
		sources = []string{feed}
	}
	src.Sources, dst.Sources = sources, sources
	src.FirstSeen, src.LastSeen = at, at
	dst.FirstSeen, dst.LastSeen = at, at
	for i := range implied.Nodes {
		implied.Nodes[i].Sources = sources
		implied.Nodes[i].FirstSeen, implied.Nodes[i].LastSeen = at, at
	}
	for i := range implied.Relations {
		implied.Relations[i].Sources = sources
		implied.Relations[i].FirstSeen, implied.Relations[i].LastSeen = at, at
	}
	return graph.TelemetryEdge{Src: src, Relation: strings.ToLower(l.Relation), Dst: dst, AgentID: l.AgentID,
		ObservedAt: at, Props: l.Props, Implied: implied}, "", nil
}

var valueKinds = map[graph.Kind]bool{
	graph.KindIPv4Addr: true, graph.KindIPv6Addr: true, graph.KindDomainName: true, graph.KindURL: true,
	graph.KindEmailAddr: true, graph.KindMACAddr: true, graph.KindMutex: true, graph.KindDirectory: true,
}

// endpoint decodes an endpoint (object or "kind:value" string).
func endpoint(raw json.RawMessage, implied *graph.Batch) (graph.Node, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return graph.Node{}, errors.New("missing")
	}
	obj := map[string]any{}
	var short string
	if err := json.Unmarshal(raw, &short); err == nil {
		kind, value, ok := strings.Cut(short, ":")
		if !ok || kind == "" || value == "" {
			return graph.Node{}, fmt.Errorf("%q is not kind:value", short)
		}
		obj["kind"], obj["value"] = kind, value
	} else if err := json.Unmarshal(raw, &obj); err != nil {
		return graph.Node{}, errors.New("not an object or kind:value string")
	}
	kind, _ := obj["kind"].(string)
	if kind == "" {
		kind, _ = obj["type"].(string)
	}
	if kind == "" {
		return graph.Node{}, errors.New("missing kind")
	}
	k := graph.Kind(strings.ToLower(kind))
	str := func(key string) string { s, _ := obj[key].(string); return strings.TrimSpace(s) }
	name := str("name")
	switch {
	case valueKinds[k]:
		v := str("value")
		if k == graph.KindMutex && v == "" {
			v = name
		}
		if k == graph.KindDirectory && v == "" {
			v = str("path")
		}
		if v == "" {
			return graph.Node{}, fmt.Errorf("%s needs a value", k)
		}
		return graph.ValueNode(k, v), nil
	case k == graph.KindHash:
		alg, v := str("algorithm"), str("value")
		if alg == "" {
			alg, v, _ = strings.Cut(v, ":")
		}
		if alg == "" || v == "" {
			return graph.Node{}, errors.New("hash needs algorithm and value (or value SHA-256:<hex>)")
		}
		return graph.HashNode(alg, v), nil
	case k == graph.KindFile:
		hashes := map[string]string{}
		if h, ok := obj["hashes"].(map[string]any); ok {
			for alg, v := range h {
				if s, ok := v.(string); ok && s != "" {
					hashes[alg] = s
				}
			}
		}
		if name == "" {
			name = str("value")
		}
		if name == "" && len(hashes) == 0 {
			return graph.Node{}, errors.New("file needs a name or hashes")
		}
		file, hashNodes, rels := graph.FileNode(hashes, name)
		implied.Nodes = append(implied.Nodes, hashNodes...)
		implied.Relations = append(implied.Relations, rels...)
		return file, nil
	case stixid.HasDeterministicID(string(k)):
		delete(obj, "kind")
		if n, ok := graph.ObservableNode(string(k), obj); ok {
			return n, nil
		}
		return graph.Node{}, fmt.Errorf("%s has none of its STIX id properties", k)
	}
	key := str("key")
	if key == "" {
		key = str("value")
	}
	if key == "" {
		return graph.Node{}, fmt.Errorf("%s needs a key", k)
	}
	n := graph.Node{ID: graph.NamedID(k, key), Kind: k, Key: key, Name: name}
	if n.Name == "" {
		n.Name = key
	}
	return n, nil
}
