package telemetry

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/engine"
	"github.com/ransomeye/intel/stixid"
)

// line is one NDJSON line of telemetry.
type line struct {
	Src        json.RawMessage `json:"src"`
	Relation   string          `json:"relation"`
	Dst        json.RawMessage `json:"dst"`
	AgentID    string          `json:"agent_id"`
	ObservedAt string          `json:"observed_at"`
	Props      map[string]any  `json:"props"`
}

// parseLine turns one NDJSON line into an edge, whose Implied holds the
// nodes and relations its endpoints bring (a file's hashes), or a reason to
// drop it and the details.
func parseLine(raw []byte, feed string) (graph.TelemetryEdge, engine.Reason, error) {
	var l line
	if err := json.Unmarshal(raw, &l); err != nil {
		return graph.TelemetryEdge{}, jsonReason(raw, err), err
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
	if at.IsZero() {
		return graph.TelemetryEdge{}, ReasonBadObservedAt, errors.New("0001-01-01T00:00:00Z is the zero time, which the graph reads as no time")
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

// jsonReason is the reason for a line json.Unmarshal failed on: valid
// JSON that is not an object, an object with a property of the wrong JSON
// type, or not JSON.
func jsonReason(raw []byte, err error) engine.Reason {
	var te *json.UnmarshalTypeError
	switch {
	case !errors.As(err, &te):
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
