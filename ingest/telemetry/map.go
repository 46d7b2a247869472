package telemetry

import (
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/engine"
	"github.com/ransomeye/intel/ingest/internal/textenc"
	"github.com/ransomeye/intel/stixid"
	"github.com/ransomeye/intel/store"
)

// line is one NDJSON line of telemetry. Its endpoints are kept as their
// JSON text, which is the key of the endpoint memo: an endpoint seen before
// is not decoded again.
type line struct {
	Src        jsontext.Value `json:"src"`
	Relation   string         `json:"relation"`
	Dst        jsontext.Value `json:"dst"`
	AgentID    string         `json:"agent_id"`
	ObservedAt observedAt     `json:"observed_at"`
	Props      map[string]any `json:"props"`
}

// observedAt is a line's observed_at as written: a JSON string's value
// (RFC 3339, or an epoch number in a string), or a JSON number's text
// (Unix epoch seconds or milliseconds: epochTime).
type observedAt struct {
	text   string
	number bool
}

// time is the observed_at's time: a number's, and a string's of digits
// alone ("1705904285259", as forwarders that quote every value write an
// epoch), by epochTime's rule; any other string's as RFC 3339.
func (o observedAt) time() (time.Time, error) {
	if o.number || isDigits(o.text) {
		return epochTime(o.text)
	}
	if at, ok := parseTime(o.text); ok {
		return at, nil
	}
	at, err := time.Parse(time.RFC3339Nano, o.text)
	if err == nil {
		return at, nil
	}
	// RFC 3339 (5.6) lets "T" and "Z" be written "t" and "z", and the "T"
	// a space (Python's str() of an aware datetime: "2026-12-06
	// 10:15:00.123456+05:30"); Go's parser takes neither. Before, such
	// lines were dropped bad-observed-at ("cannot parse").
	spelled := o.text
	if len(spelled) > 10 && (spelled[10] == ' ' || spelled[10] == 't') {
		spelled = spelled[:10] + "T" + spelled[11:]
	}
	if strings.HasSuffix(spelled, "z") {
		spelled = spelled[:len(spelled)-1] + "Z"
	}
	if at, serr := time.Parse(time.RFC3339Nano, spelled); serr == nil {
		return at, nil
	}
	if _, zerr := time.Parse("2006-01-02T15:04:05.999999999", spelled); zerr == nil {
		return time.Time{}, fmt.Errorf("observed_at %q has no time zone, so the instant it names is not known: give it with Z (UTC) or its offset (+05:30)", o.text)
	}
	return time.Time{}, err
}

// isDigits reports whether s is one or more ASCII digits.
func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// UnmarshalJSON takes a string or a number; null is no observed_at, as
// for the other properties.
func (o *observedAt) UnmarshalJSON(b []byte) error {
	*o = observedAt{}
	switch k := jsontext.Value(b).Kind(); k {
	case 'n':
		return nil
	case '"':
		return json.Unmarshal(b, &o.text, decodeOptions)
	case '0':
		o.text, o.number = string(b), true
		return nil
	default:
		return fmt.Errorf("observed_at is a JSON %s, not a string (RFC 3339) or a number (Unix epoch seconds or milliseconds)", k)
	}
}

// decodeOptions keep what encoding/json allowed in agents' lines: names
// matched in any case and duplicate names (the last wins). Bytes that are
// not UTF-8 in strings are read as Windows-1252 before (textenc.RepairBytes):
// a Windows agent's C:\Users\J\xfcrgen is C:\Users\Jürgen, not a U+FFFD
// that would make it one file with C:\Users\J\xe4rgen.
var decodeOptions = json.JoinOptions(json.MatchCaseInsensitiveNames(true),
	jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))

// parseLine turns one NDJSON line into an edge, whose Implied holds the
// nodes and relations its endpoints bring (a file's hashes), or a reason to
// drop it and the details. The line is decoded once; each endpoint is
// decoded only when memo does not know its text. The edge has
// store.CheckEdge's answer: a reason of the store's when the database
// would refuse it.
//
// Lines of the usual shape are decoded by scanLine; the others, and those
// whose endpoint text is new to memo and not JSON, by encoding/json.
func parseLine(raw []byte, feed string, memo *endpointMemo) (graph.TelemetryEdge, engine.Reason, error) {
	e, checked, reason, err := parseLineWith(raw, feed, memo, true)
	if reason == "" {
		reason, err = checkEdge(&e, checked)
	}
	return e, reason, err
}

// parseLineWith is parseLine, with scanLine tried first when fast is set,
// before the edge is checked: checked reports whether both endpoints were
// checked in memo (parsedEndpoint.checked).
func parseLineWith(raw []byte, feed string, memo *endpointMemo, fast bool) (e graph.TelemetryEdge, checked bool, reason engine.Reason, err error) {
	var l line // on the stack: only the decoder's copy below escapes
	if fast = fast && scanLine(raw, &l, &memo.texts); !fast {
		decoded := new(line)
		if err := json.Unmarshal(textenc.RepairBytes(raw), decoded, decodeOptions); err != nil {
			return graph.TelemetryEdge{}, false, jsonReason(raw, err), err
		}
		l = *decoded
	}
	var implied graph.Batch
	src, err := memo.endpoint(l.Src, &implied, fast, feed)
	if err == nil {
		var dst *parsedEndpoint
		if dst, err = memo.endpoint(l.Dst, &implied, fast, feed); err == nil {
			e, reason, err = edgeOf(l, src.node, dst.node, implied, memo.sources(feed))
			return e, src.checked(feed) && dst.checked(feed), reason, err
		}
		if !fast {
			return graph.TelemetryEdge{}, false, ReasonBadDst, err
		}
	}
	if fast { // encoding/json says whether the line is JSON at all
		return parseLineWith(raw, feed, memo, false)
	}
	return graph.TelemetryEdge{}, false, ReasonBadSrc, err
}

// checkEdge is store.CheckEdge's answer for e: only the edge's own part
// (store.CheckEdgeOwn) when its endpoints were checked once in the memo.
func checkEdge(e *graph.TelemetryEdge, endpointsChecked bool) (engine.Reason, error) {
	if endpointsChecked {
		return store.CheckEdgeOwn(e)
	}
	return store.CheckEdge(e)
}

// edgeOf is the edge of a decoded line with its endpoints, or the reason
// it is dropped.
func edgeOf(l line, src, dst graph.Node, implied graph.Batch, sources []string) (graph.TelemetryEdge, engine.Reason, error) {
	// Spelled as the feeds' relationship types are (graph.RelationType:
	// lower case, words joined by hyphens), so an agent's "Connected To"
	// or "CONNECTED_TO" is the connected-to a walk's filters name.
	relation := graph.RelationType(l.Relation)
	if relation == "" {
		return graph.TelemetryEdge{}, ReasonMissingRelation, nil
	}
	if l.AgentID == "" {
		return graph.TelemetryEdge{}, ReasonMissingAgentID, nil
	}
	if l.ObservedAt.text == "" {
		return graph.TelemetryEdge{}, ReasonMissingObservedAt, nil
	}
	at, err := l.ObservedAt.time()
	if err != nil {
		return graph.TelemetryEdge{}, ReasonBadObservedAt, err
	}
	if at.IsZero() {
		return graph.TelemetryEdge{}, ReasonBadObservedAt, errors.New("0001-01-01T00:00:00Z is the zero time, which the graph reads as no time")
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
	return graph.TelemetryEdge{Src: src, Relation: relation, Dst: dst, AgentID: l.AgentID,
		ObservedAt: at, Props: l.Props, Implied: implied}, "", nil
}

// Epoch numbers an observed_at may be: Unix seconds from 2001-09-09T01:46:40Z
// (1e9) to 2286-11-20T17:46:40Z (1e10), or Unix milliseconds over the same
// span (1e12 to 1e13). The two ranges are three orders of magnitude apart,
// so the value says which it is; a number outside both (seconds before 2001
// or milliseconds before 2001, which also reads as seconds after 2286;
// microseconds; nanoseconds) is no time this can tell, and the line is
// dropped bad-observed-at saying so.
var (
	epochSecondsMin, epochSecondsMax = big.NewRat(1e9, 1), big.NewRat(1e10, 1)
	epochMillisMin, epochMillisMax   = big.NewRat(1e12, 1), big.NewRat(1e13, 1)
)

// epochTime is the time of a JSON number observed_at (its text), or of a
// string of digits alone: Unix
// epoch seconds, integer or fractional (osquery's unixTime, Zeek's ts),
// or milliseconds (CrowdStrike Falcon's event stream eventCreationTime,
// its FDR's UTCTimestamp), told apart by size
// (epochSecondsMin … epochMillisMax). The decimal is read exactly, to the
// nanosecond.
func epochTime(text string) (time.Time, error) {
	r, ok := new(big.Rat).SetString(text)
	if !ok {
		return time.Time{}, fmt.Errorf("observed_at %s is no number", text)
	}
	var unit int64
	switch {
	case r.Cmp(epochSecondsMin) >= 0 && r.Cmp(epochSecondsMax) < 0:
		unit = int64(time.Second)
	case r.Cmp(epochMillisMin) >= 0 && r.Cmp(epochMillisMax) < 0:
		unit = int64(time.Millisecond)
	default:
		return time.Time{}, fmt.Errorf("observed_at %s is neither Unix epoch seconds (1000000000 to 9999999999: 2001-09-09 to 2286-11-20) nor milliseconds (1000000000000 to 9999999999999); give an RFC 3339 time", text)
	}
	ns := new(big.Rat).Mul(r, new(big.Rat).SetInt64(unit))
	q := new(big.Int).Quo(ns.Num(), ns.Denom()) // truncated: below a nanosecond
	return time.Unix(0, q.Int64()).UTC(), nil
}

// jsonReason is the reason for a line that did not decode: valid JSON
// that is not an object, an object with a property of the wrong JSON type,
// or not JSON.
func jsonReason(raw []byte, err error) engine.Reason {
	var syn *jsontext.SyntacticError
	var sem *json.SemanticError
	switch {
	case errors.As(err, &syn) || !errors.As(err, &sem):
		return engine.ReasonInvalidJSON
	case !strings.HasPrefix(strings.TrimSpace(string(raw)), "{"):
		return engine.ReasonNotObject
	default:
		return engine.ReasonInvalidProperty
	}
}

var valueKinds = map[graph.Kind]bool{
	graph.KindIPv4Addr: true, graph.KindIPv6Addr: true, graph.KindDomainName: true, graph.KindURL: true,
	graph.KindEmailAddr: true, graph.KindMACAddr: true, graph.KindMutex: true, graph.KindDirectory: true,
}

// endpointMemo remembers the endpoints of recent lines by their JSON text,
// so a host, process or file named on line after line is decoded,
// normalised and given its id once: the lines of a stream draw on far fewer
// endpoints than they have. It is shared by the workers and bounded: when
// it holds endpointMemoMax endpoints it starts again empty. Only valid
// endpoints are remembered; an invalid one is decoded each time it comes.
type endpointMemo struct {
	mu sync.Mutex
	m  map[string]*parsedEndpoint // pointers keep the map's slots small
	// texts gives the texts the scanner keeps (scanLine).
	texts textSet
	// feed holds the sources the edges of a feed give their records, one
	// slice shared by all of them (no one writes to it).
	feed atomic.Pointer[feedSources]
}

// endpointMemoMax bounds the memo (an entry is the endpoint's text and its
// node, a few hundred bytes).
const endpointMemoMax = 1 << 17

// parsedEndpoint is an endpoint's node and the hash nodes and file → hash
// relations it implies, without sources or times (which are the line's).
type parsedEndpoint struct {
	node    graph.Node
	implied graph.Batch
	// checkedFeed is the feed with whose sources the node and implied
	// passed store.CheckBatch, when checkedOK (see checked).
	checkedFeed string
	checkedOK   bool
}

// checked reports whether the endpoint's records, given feed's sources,
// pass store.CheckBatch, so an edge of feed naming it needs only
// store.CheckEdgeOwn.
func (p *parsedEndpoint) checked(feed string) bool { return p.checkedOK && p.checkedFeed == feed }

func newEndpointMemo() *endpointMemo { return &endpointMemo{m: map[string]*parsedEndpoint{}} }

// feedSources are the sources of a feed's records.
type feedSources struct {
	feed    string
	sources []string
}

// sources returns the sources of feed's records: none for no feed.
func (m *endpointMemo) sources(feed string) []string {
	if feed == "" {
		return nil
	}
	if f := m.feed.Load(); f != nil && f.feed == feed {
		return f.sources
	}
	f := &feedSources{feed: feed, sources: []string{feed}}
	m.feed.Store(f)
	return f.sources
}

// errNotJSON: an endpoint text that is not JSON (see endpointMemo.endpoint).
var errNotJSON = errors.New("endpoint is not JSON")

// endpoint returns the decoded endpoint of a JSON text and appends the
// records it implies to implied. With check set, a text it does not know
// is first checked to be JSON (errNotJSON when it is not): scanLine only
// delimits it. A new endpoint is checked once (store.CheckBatch) with
// feed's sources, for parsedEndpoint.checked.
func (m *endpointMemo) endpoint(raw jsontext.Value, implied *graph.Batch, check bool, feed string) (*parsedEndpoint, error) {
	m.mu.Lock()
	p, ok := m.m[string(raw)]
	m.mu.Unlock()
	if !ok {
		if check && !raw.IsValid(decodeOptions) {
			return nil, errNotJSON
		}
		d, err := decodeEndpoint(raw)
		if err != nil {
			return nil, err
		}
		p = &d
		p.checkedFeed, p.checkedOK = feed, checkAlone(p, m.sources(feed))
		m.mu.Lock()
		if len(m.m) >= endpointMemoMax {
			clear(m.m)
		}
		m.m[string(raw)] = p
		m.mu.Unlock()
	}
	implied.Nodes = append(implied.Nodes, p.implied.Nodes...)
	implied.Relations = append(implied.Relations, p.implied.Relations...)
	return p, nil
}

// checkAlone reports whether p's node and implied records, given sources
// and no times, pass store.CheckBatch.
func checkAlone(p *parsedEndpoint, sources []string) bool {
	b := graph.Batch{Nodes: make([]graph.Node, 0, 1+len(p.implied.Nodes)), Relations: slices.Clone(p.implied.Relations)}
	b.Nodes = append(append(b.Nodes, p.node), p.implied.Nodes...)
	for i := range b.Nodes {
		b.Nodes[i].Sources = sources
	}
	for i := range b.Relations {
		b.Relations[i].Sources = sources
	}
	reason, _ := store.CheckBatch(&b)
	return reason == ""
}

// decodeEndpoint decodes an endpoint (object or "kind:value" string), once.
func decodeEndpoint(raw jsontext.Value) (parsedEndpoint, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return parsedEndpoint{}, errors.New("missing")
	}
	raw = textenc.RepairBytes(raw)
	obj := map[string]any{}
	if raw[0] == '"' {
		var short string
		if err := json.Unmarshal(raw, &short, decodeOptions); err != nil {
			return parsedEndpoint{}, errors.New("not an object or kind:value string")
		}
		kind, value, ok := strings.Cut(short, ":")
		if !ok || kind == "" || value == "" {
			return parsedEndpoint{}, fmt.Errorf("%q is not kind:value", short)
		}
		obj["kind"], obj["value"] = kind, value
	} else if flat, ok := flatEndpoint(raw); ok {
		obj = flat
	} else if err := json.Unmarshal(raw, &obj, decodeOptions); err != nil {
		return parsedEndpoint{}, errors.New("not an object or kind:value string")
	}
	var p parsedEndpoint
	var err error
	p.node, err = endpointNode(obj, &p.implied)
	p.node = graph.Endpoint(p.node)
	return p, err
}

// flatEndpoint reads an endpoint object of plain values (a process, a
// host, an IP: no nested hashes) as json.Unmarshal decodes it into
// map[string]any, without its reflection (scanner.flatObject); false for
// any other text, which decodeEndpoint leaves to json.Unmarshal
// (FuzzFlatEndpointAgreesWithJSON). A line naming a new process each time
// decodes its endpoint here once per line.
func flatEndpoint(raw []byte) (map[string]any, bool) {
	s := scanner{b: raw}
	s.ws()
	m, ok := s.flatObject()
	if !ok {
		return nil, false
	}
	s.ws()
	return m, s.i == len(s.b)
}

// endpointNode is the node of a decoded endpoint; a file's hash nodes and
// has-hash relations are appended to implied.
func endpointNode(obj map[string]any, implied *graph.Batch) (graph.Node, error) {
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
		// The one normaliser of the kind (graph.NormalizeValue), so an
		// agent's "Evil.Example." is the feeds' evil.example.
		nv, err := graph.NormalizeValue(k, v)
		if err != nil {
			return graph.Node{}, err
		}
		return graph.ValueNode(k, nv), nil
	case k == graph.KindHash:
		alg, v := str("algorithm"), str("value")
		if alg == "" {
			alg, v, _ = strings.Cut(v, ":")
		}
		if alg == "" || v == "" {
			return graph.Node{}, errors.New("hash needs algorithm and value (or value SHA-256:<hex>)")
		}
		a, hv, err := graph.NormalizeHash(alg, v)
		if err != nil {
			return graph.Node{}, err
		}
		return graph.HashNode(a, hv), nil
	case k == graph.KindFile:
		hashes := map[string]string{}
		if h, ok := obj["hashes"].(map[string]any); ok {
			for alg, v := range h {
				if s, ok := v.(string); ok && s != "" {
					a, hv, err := graph.NormalizeHash(alg, s)
					if err != nil {
						return graph.Node{}, err
					}
					hashes[a] = hv
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
		if _, ok := obj["key"]; !ok && k == graph.KindWindowsRegistryKey && str("value") != "" {
			// "windows-registry-key:HKLM\..." names the key.
			obj["key"] = str("value")
			delete(obj, "value")
		}
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
	// No name given, none written: the node is shown by its key until a
	// line names it. (A name defaulted to the key would rank as a name,
	// and a later line that only names the key, a process's network event
	// without its image name, would take over the name an earlier line
	// gave: graph.MergeNode keeps the highest-ranked non-empty name.)
	return graph.Node{ID: graph.NamedID(k, key), Kind: k, Key: key, Name: name}, nil
}
