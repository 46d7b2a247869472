package workload

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/ransomeye/intel/graph"
)

// Defaults for zero Config fields: the reduced scale of `make bench-scale`.
const (
	DefaultAgents        = 5_000
	DefaultDays          = 7
	DefaultRowsPerDay    = 60_000
	DefaultIndicators    = 600
	DefaultMinBatch      = 100
	DefaultMaxBatch      = 500
	DefaultMaliciousRate = 0.002
	// processesPerAgentDay is how many processes (pids) an agent runs in a
	// day: each is a node of its own (process per host and pid).
	processesPerAgentDay = 8
	// domainPool and addressPool are the long tails of domains and internal
	// addresses agents reach besides the hubs.
	domainPool  = 20_000
	addressPool = 50_000
	// maxIndicators keeps the indicators' addresses inside 198.18.0.0/15.
	maxIndicators = 3 * 130_000
)

// ErrConfig is the error of a Config outside its ranges.
var ErrConfig = errors.New("workload config")

// Config describes a workload. The zero value of a field takes its default.
type Config struct {
	// Agents is the number of endpoint agents (default DefaultAgents).
	Agents int
	// Days is the number of simulated UTC days (default DefaultDays).
	Days int
	// RowsPerDay is about how many telemetry edges all agents send in a
	// day (default DefaultRowsPerDay): the day has RowsPerDay / average
	// batch size batches.
	RowsPerDay int
	// Indicators is the number of known-bad files, domains and addresses
	// (a third each) the feeds describe and the telemetry meets (default
	// DefaultIndicators).
	Indicators int
	// MinBatch and MaxBatch bound the rows of one batch (defaults 100 and
	// 500): a batch is what one caller hands the store at once.
	MinBatch, MaxBatch int
	// MaliciousRate is the share of edges that reach an indicator's file,
	// domain or address (default DefaultMaliciousRate; negative: none).
	MaliciousRate float64
	// Seed makes the workload: the same seed and Start give the same
	// edges, lines and feeds.
	Seed uint64
	// Start is day 0 (its UTC day is used; default today, UTC).
	Start time.Time
}

// withDefaults returns c with every zero field set and checks the ranges.
func (c Config) withDefaults() (Config, error) {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.Agents, DefaultAgents)
	def(&c.Days, DefaultDays)
	def(&c.RowsPerDay, DefaultRowsPerDay)
	def(&c.Indicators, DefaultIndicators)
	def(&c.MinBatch, DefaultMinBatch)
	def(&c.MaxBatch, DefaultMaxBatch)
	switch {
	case c.MaliciousRate == 0:
		c.MaliciousRate = DefaultMaliciousRate
	case c.MaliciousRate < 0:
		c.MaliciousRate = 0
	}
	if c.Start.IsZero() {
		c.Start = time.Now()
	}
	c.Start = graph.UTCDay(c.Start)
	switch {
	case c.Agents < 1, c.Days < 1, c.RowsPerDay < 1, c.Indicators < 3, c.MinBatch < 1:
		return c, fmt.Errorf("%w: agents, days, rows per day and batch sizes must be positive, indicators at least 3", ErrConfig)
	case c.MaxBatch < c.MinBatch:
		return c, fmt.Errorf("%w: max batch %d below min batch %d", ErrConfig, c.MaxBatch, c.MinBatch)
	case c.Indicators > maxIndicators:
		return c, fmt.Errorf("%w: at most %d indicators", ErrConfig, maxIndicators)
	case c.MaliciousRate > 1:
		return c, fmt.Errorf("%w: malicious rate %v above 1", ErrConfig, c.MaliciousRate)
	}
	return c, nil
}

// Generator makes the telemetry and feeds of one Config.
type Generator struct {
	cfg     Config
	batches int // per day
	span    time.Duration
	dlls    []endpoint
	domains []string
	dns     []string
}

// New returns the Generator of cfg.
func New(cfg Config) (*Generator, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	avg := (cfg.MinBatch + cfg.MaxBatch) / 2
	batches := max(1, (cfg.RowsPerDay+avg/2)/avg)
	g := &Generator{cfg: cfg, batches: batches, span: 24 * time.Hour / time.Duration(batches)}
	for _, dll := range []string{"ntdll.dll", "kernel32.dll", "kernelbase.dll", "user32.dll", "advapi32.dll",
		"msvcrt.dll", "ws2_32.dll", "crypt32.dll", "ole32.dll", "combase.dll"} {
		g.dlls = append(g.dlls, endpoint{kind: graph.KindFile, name: dll, sha256: digest("system-dll", dll)})
	}
	g.domains = []string{"windowsupdate.microsoft.com", "login.microsoftonline.com", "www.google.com",
		"ocsp.digicert.com", "update.googleapis.com", "outlook.office365.com"}
	g.dns = []string{"8.8.8.8", "1.1.1.1", "9.9.9.9", "8.8.4.4"}
	return g, nil
}

// Config returns the generator's configuration with its defaults filled in.
func (g *Generator) Config() Config { return g.cfg }

// BatchesPerDay returns the number of batches of each day.
func (g *Generator) BatchesPerDay() int { return g.batches }

// DayStart returns the start (UTC midnight) of simulated day day (0-based).
func (g *Generator) DayStart(day int) time.Time { return g.cfg.Start.AddDate(0, 0, day) }

// BatchEnd returns the end of the time span batch seq of day covers: every
// edge of the batch is observed before it.
func (g *Generator) BatchEnd(day, seq int) time.Time {
	return g.DayStart(day).Add(time.Duration(seq+1) * g.span)
}

// endpoint is one end of a generated edge, as an agent names it.
type endpoint struct {
	kind   graph.Kind
	key    string // process
	name   string // process, file
	value  string // value kinds
	sha256 string // file
}

// event is one generated observation.
type event struct {
	src, dst endpoint
	relation string
	agent    string
	at       time.Time
	pid      int
}

// The relations agents report.
const (
	RelLoaded     = "loaded"
	RelWrote      = "wrote"
	RelResolved   = "resolved"
	RelConnected  = "connected-to"
	RelSpawned    = "spawned"
	agentIDFormat = "agent-%06d"
)

var processNames = []string{"svchost.exe", "explorer.exe", "chrome.exe", "msedge.exe", "outlook.exe",
	"winword.exe", "excel.exe", "powershell.exe", "cmd.exe", "rundll32.exe", "teams.exe", "onedrive.exe"}

// rng returns the random source of batch seq of day: the same for the
// same seed, day and batch.
func (g *Generator) rng(day, seq int) *rand.Rand {
	return rand.New(rand.NewPCG(g.cfg.Seed, uint64(day)<<32|uint64(uint32(seq))))
}

// events returns the observations of batch seq (0 ≤ seq < BatchesPerDay)
// of day, in time order.
func (g *Generator) events(day, seq int) []event {
	r := g.rng(day, seq)
	n := g.cfg.MinBatch + r.IntN(g.cfg.MaxBatch-g.cfg.MinBatch+1)
	start := g.DayStart(day).Add(time.Duration(seq) * g.span)
	step := g.span / time.Duration(n)
	out := make([]event, n)
	for i := range out {
		agent := r.IntN(g.cfg.Agents)
		e := &out[i]
		e.agent = fmt.Sprintf(agentIDFormat, agent)
		e.at = start.Add(time.Duration(i) * step).Truncate(time.Microsecond)
		e.src, e.pid = g.process(day, agent, r.IntN(processesPerAgentDay))
		g.shape(r, day, agent, e)
	}
	return out
}

// process returns process j of agent on day and its pid.
func (g *Generator) process(day, agent, j int) (endpoint, int) {
	h := hash64(g.cfg.Seed, "process", uint64(day), uint64(agent), uint64(j))
	pid := 4 + int(h%65_000)*4
	name := processNames[(h>>32)%uint64(len(processNames))]
	return endpoint{kind: graph.KindProcess, key: fmt.Sprintf(agentIDFormat+":%d", agent, pid), name: name}, pid
}

// shape picks what the process of e did: the shapes and their shares.
func (g *Generator) shape(r *rand.Rand, day, agent int, e *event) {
	if g.cfg.MaliciousRate > 0 && r.Float64() < g.cfg.MaliciousRate {
		g.indicatorHit(r.IntN(g.cfg.Indicators), e)
		return
	}
	switch p := r.Float64(); {
	case p < 0.30:
		e.relation, e.dst = RelLoaded, g.dlls[r.IntN(len(g.dlls))]
	case p < 0.50:
		var b [16]byte
		binary.LittleEndian.PutUint64(b[:], r.Uint64())
		binary.LittleEndian.PutUint64(b[8:], r.Uint64())
		e.relation = RelWrote
		e.dst = endpoint{kind: graph.KindFile, name: "tmp-" + hex.EncodeToString(b[:4]) + ".tmp", sha256: digest("file", string(b[:]))}
	case p < 0.65:
		d := fmt.Sprintf("site-%d.example.com", r.IntN(domainPool))
		if r.IntN(2) == 0 {
			d = g.domains[r.IntN(len(g.domains))]
		}
		e.relation, e.dst = RelResolved, endpoint{kind: graph.KindDomainName, value: d}
	case p < 0.80:
		a := r.IntN(addressPool)
		ip := fmt.Sprintf("10.%d.%d.%d", a>>16, (a>>8)&255, a&255)
		if r.IntN(2) == 0 {
			ip = g.dns[r.IntN(len(g.dns))]
		}
		e.relation, e.dst = RelConnected, endpoint{kind: graph.KindIPv4Addr, value: ip}
	default:
		e.relation, e.dst = RelSpawned, endpoint{}
		e.dst, _ = g.process(day, agent, r.IntN(processesPerAgentDay))
	}
}

// indicatorHit makes e reach indicator i: write its file, resolve its
// domain or connect to its address.
func (g *Generator) indicatorHit(i int, e *event) {
	in := g.indicator(i)
	e.dst = in.endpoint
	switch in.kind {
	case graph.KindFile:
		e.relation = RelWrote
	case graph.KindDomainName:
		e.relation = RelResolved
	default:
		e.relation = RelConnected
	}
}

// indicatorOf is one known-bad observable.
type indicatorOf struct {
	endpoint
	pattern  string
	mispType string
}

// indicator returns indicator i: a file (by SHA-256), a domain or an IPv4
// address, in turn.
func (g *Generator) indicator(i int) indicatorOf {
	n := i / 3
	switch i % 3 {
	case 0:
		h := digest("indicator", fmt.Sprint(g.cfg.Seed, i))
		return indicatorOf{endpoint{kind: graph.KindFile, name: fmt.Sprintf("invoice-%d.exe", n), sha256: h},
			fmt.Sprintf("[file:hashes.'SHA-256' = '%s']", h), "sha256"}
	case 1:
		d := fmt.Sprintf("c2-%d-%d.evil.example", g.cfg.Seed%1000, n)
		return indicatorOf{endpoint{kind: graph.KindDomainName, value: d},
			fmt.Sprintf("[domain-name:value = '%s']", d), "domain"}
	default:
		ip := fmt.Sprintf("198.%d.%d.%d", 18+n>>16, (n>>8)&255, n&255)
		return indicatorOf{endpoint{kind: graph.KindIPv4Addr, value: ip},
			fmt.Sprintf("[ipv4-addr:value = '%s']", ip), "ip-dst"}
	}
}

// Batch returns the telemetry edges of batch seq of day: between
// Config.MinBatch and MaxBatch edges, observed in order inside the batch's
// time span (see BatchEnd), the same for the same seed, day and seq.
func (g *Generator) Batch(day, seq int) []graph.TelemetryEdge {
	evs := g.events(day, seq)
	out := make([]graph.TelemetryEdge, len(evs))
	for i := range evs {
		out[i] = evs[i].edge()
	}
	return out
}

// edge returns the edge of e as ingest/telemetry builds it from e's line:
// endpoint nodes and implied records carry the observation time.
func (e *event) edge() graph.TelemetryEdge {
	var implied graph.Batch
	src := e.src.node(&implied)
	dst := e.dst.node(&implied)
	src.FirstSeen, src.LastSeen = e.at, e.at
	dst.FirstSeen, dst.LastSeen = e.at, e.at
	for i := range implied.Nodes {
		implied.Nodes[i].FirstSeen, implied.Nodes[i].LastSeen = e.at, e.at
	}
	for i := range implied.Relations {
		implied.Relations[i].FirstSeen, implied.Relations[i].LastSeen = e.at, e.at
	}
	return graph.TelemetryEdge{Src: src, Relation: e.relation, Dst: dst, AgentID: e.agent, ObservedAt: e.at,
		Props: map[string]any{"pid": e.pid}, Implied: implied}
}

// node returns the graph node of p (graph.Endpoint: as the telemetry
// mapper gives it), adding what it implies (a file's hash node and
// has-hash link) to implied.
func (p endpoint) node(implied *graph.Batch) graph.Node {
	switch p.kind {
	case graph.KindFile:
		file, hashes, rels := graph.FileNode(map[string]string{"SHA-256": p.sha256}, p.name)
		implied.Nodes = append(implied.Nodes, hashes...)
		implied.Relations = append(implied.Relations, rels...)
		return graph.Endpoint(file)
	case graph.KindProcess:
		return graph.Node{ID: graph.NamedID(p.kind, p.key), Kind: p.kind, Key: p.key, Name: p.name}
	default:
		return graph.Endpoint(graph.ValueNode(p.kind, p.value))
	}
}

// json returns p as a telemetry line names it: an object for processes and
// files, the "kind:value" shorthand for values.
func (p endpoint) json() any {
	switch p.kind {
	case graph.KindFile:
		return map[string]any{"kind": p.kind, "name": p.name, "hashes": map[string]string{"SHA-256": p.sha256}}
	case graph.KindProcess:
		return map[string]any{"kind": p.kind, "key": p.key, "name": p.name}
	default:
		return string(p.kind) + ":" + p.value
	}
}

// digest returns the hex SHA-256 of the parts, a stand-in file hash.
func digest(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// hash64 mixes a seed, a label and numbers into 64 bits.
func hash64(seed uint64, label string, xs ...uint64) uint64 {
	h := sha256.New()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], seed)
	h.Write(b[:])
	h.Write([]byte(label))
	for _, x := range xs {
		binary.LittleEndian.PutUint64(b[:], x)
		h.Write(b[:])
	}
	return binary.LittleEndian.Uint64(h.Sum(nil))
}
