package stix

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/stixid"
)

// valueKinds are the observable types whose value graph.NormalizeValue
// checks.
var valueKinds = map[graph.Kind]bool{
	graph.KindIPv4Addr: true, graph.KindIPv6Addr: true, graph.KindDomainName: true,
	graph.KindURL: true, graph.KindEmailAddr: true, graph.KindMACAddr: true,
	graph.KindCryptocurrencyWallet: true,
}

// hashedKinds are the observable types whose hashes also become hash nodes.
// A certificate's hashes are its fingerprints (colons allowed): a
// certificate has-hash them as a file does (graph.CertificateFingerprints).
var hashedKinds = map[string]bool{"file": true, "artifact": true, "x509-certificate": true}

// mapObservable maps a cyber-observable object to a node with its STIX 2.1
// deterministic id (UUIDv5 over its ID-contributing properties), whatever
// id the feed gave it (that id becomes an alias). Types without
// ID-contributing properties (process), or objects without any, are keyed
// by their id. Files and artifacts also get one hash node per hash, linked
// has-hash. When parent >= 0 the object is embedded in the observed-data
// node at that index and takes its seen times and TLP.
func (mp *mapper) mapObservable(out *mapped, o object, parent int) {
	// A defanged value ("evil[.]example", flagged "defanged": true or
	// not) is refanged by graph's normalisers (graph.Refang), so the node
	// is that of the value; the props keep the value as written.
	obj := o.m
	n, ok := graph.ObservableNode(o.typ, obj)
	if !ok {
		n = graph.SourceNode(graph.Kind(o.typ), o.id)
	}
	kind := graph.Kind(o.typ)
	if ok {
		kind = n.Kind // an IPv4-mapped ipv6-addr is the ipv4-addr it maps
	}
	if v, isString := obj["value"].(string); isString && valueKinds[kind] {
		if _, err := graph.NormalizeValue(kind, v); err != nil {
			// The object loads (its id is named by others), keyed as written.
			out.warnings = append(out.warnings, warning{property: "value", value: v,
				message: "not a valid " + o.typ + ", node keyed by the value as written: " + err.Error()})
		}
	}
	if n.Name == "" && o.typ == "file" {
		// Named by its first valid hash (a bad one names nothing, as it
		// keys nothing: graph.ObservableNode), else by the first.
		algs := hashAlgorithms(o.m)
		for i, alg := range algs {
			if _, _, err := graph.NormalizeHash(alg, hashValue(o.m, alg)); err == nil || i == len(algs)-1 {
				n.Name = graph.HashKey(alg, hashValue(o.m, alg))
				break
			}
		}
	}
	ident := o.id
	var rk *rekey
	if ok {
		ident = n.Aliases[0]
		if refs := contributingRefs(string(n.Kind), obj); len(refs) > 0 && parent < 0 {
			// Keyed by what the references resolve to once the loader
			// knows (a STIX 2.0 observed-data's embedded objects have
			// theirs resolved already: embeddedIDs).
			rk = &rekey{id: o.id, typ: string(n.Kind), det: ident, obj: maps.Clone(obj), refs: refs}
		}
	}
	custom, hasCustom := o.m["confidence"]
	idx := mp.addNode(out, n, o, nil)
	if rk != nil {
		rk.node = idx
		out.rekeys = append(out.rekeys, *rk)
	}
	if hasCustom && custom != nil {
		// STIX gives cyber-observables no confidence (STIX 2.1, 3.2: a
		// common property of domain and relationship objects; 2.0's
		// cyber observable objects have none): a producer's "confidence"
		// there is its own property, with its own meaning (stix-shifter's
		// x-crowdstrike.confidence is CrowdStrike's detection confidence,
		// beside x-oca-event.severity), kept as written in props, not the
		// node's confidence in the correctness of the data.
		nn := &out.batch.Nodes[idx]
		nn.Confidence = nil
		if nn.Props == nil {
			nn.Props = map[string]any{}
		}
		nn.Props["confidence"] = custom
	}
	if parent < 0 && o.id != "" {
		out.scos = append(out.scos, sco{id: o.id, ident: ident, brief: out.batch.Nodes[idx].Brief()})
	}
	if parent >= 0 {
		p := out.batch.Nodes[parent]
		nn := &out.batch.Nodes[idx]
		nn.FirstSeen, nn.LastSeen, nn.TLP = p.FirstSeen, p.LastSeen, nn.TLP.Stricter(p.TLP)
		if !out.window[0].IsZero() {
			// Observed from first_observed to last_observed: the
			// observed-data's created and modified say when it was
			// written, not when its objects were seen.
			nn.FirstSeen, nn.LastSeen = out.window[0], out.window[1]
		}
		for _, f := range out.fixups {
			if f.node == parent {
				out.fixups = append(out.fixups, fixup{node: idx, rel: -1, refs: f.refs})
				break
			}
		}
	}
	if !hashedKinds[o.typ] {
		return
	}
	file := out.batch.Nodes[idx]
	for _, alg := range hashAlgorithms(o.m) {
		v := strings.TrimSpace(hashValue(o.m, alg))
		if o.typ == string(graph.KindX509Certificate) {
			v = strings.ReplaceAll(v, ":", "")
		}
		if v == "" {
			continue
		}
		if _, _, err := graph.NormalizeHash(alg, v); err != nil {
			// Kept in the object's props as written; no hash node for it.
			out.warnings = append(out.warnings, warning{property: "hashes." + alg, value: v,
				message: "not a valid hash, no hash node: " + err.Error(), reason: ReasonInvalidHash})
			continue
		}
		h := graph.HashNode(alg, v)
		mp.addDerived(out, idx, h)
		out.batch.Relations = append(out.batch.Relations, graph.Relation{
			Src: file.Ref(), Type: graph.RelHasHash, Dst: h.Ref(),
			Confidence: file.Confidence, FirstSeen: file.FirstSeen, LastSeen: file.LastSeen, Sources: mp.sources,
		})
	}
}

// contributingRefs lists, sorted and once each, the identifiers of
// cyber-observables that the ID-contributing properties of an object of
// type typ hold, at any depth (a network-traffic's src_ref and dst_ref,
// an email-message's from_ref, references in extensions).
func contributingRefs(typ string, obj map[string]any) []string {
	var refs []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if !isRefProperty(k) {
					walk(e)
					continue
				}
				for _, r := range graph.Strings(e) {
					if isSCORef(r) && !slices.Contains(refs, r) {
						refs = append(refs, r)
					}
				}
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(stixid.ContributingProperties(typ, obj))
	sort.Strings(refs)
	return refs
}

// hashAlgorithms returns the algorithms of the object's hashes, sorted.
func hashAlgorithms(m map[string]any) []string {
	h, _ := m["hashes"].(map[string]any)
	algs := make([]string, 0, len(h))
	for alg, v := range h {
		if _, ok := v.(string); ok {
			algs = append(algs, alg)
		}
	}
	sort.Strings(algs)
	return algs
}

func hashValue(m map[string]any, alg string) string {
	h, _ := m["hashes"].(map[string]any)
	s, _ := h[alg].(string)
	return s
}

// mapObservedData maps observed-data to a node keyed by its id. STIX 2.1
// object_refs become "object" relations like any reference; the STIX 2.0
// "objects" dictionary of embedded observables is mapped as if each were a
// STIX 2.1 object: references between them (by dictionary key) are
// rewritten to 2.1 identifiers, deterministic ids computed (see
// embeddedIDs), and each becomes a node linked observed-data -object->.
func (mp *mapper) mapObservedData(out *mapped, o object) {
	n := graph.SourceNode(graph.KindObservedData, o.id)
	objs, embedded := o.m["objects"].(map[string]any)
	var own []string
	if embedded {
		own = []string{"objects"}
	}
	refs, _ := stringList(o.m["object_refs"]) // read before addNode takes it
	idx := mp.addNode(out, n, o, own)
	if !embedded {
		// STIX 2.1: the objects it names in object_refs were observed
		// when it says, as the objects a 2.0 observed-data embeds are
		// (below); the loader gives them its times (loader.observe).
		if first, last := o.held("first_observed", "last_observed"); len(refs) > 0 && !first.IsZero() {
			out.observed = append(out.observed, observation{refs: refs, first: first, last: last})
		}
		return
	}
	if len(objs) == 0 {
		return
	}
	ids := embeddedIDs(o.id, objs)
	keys := make([]string, 0, len(ids))
	for k := range ids {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	// Entries that are not objects with a type make no node: they stay in
	// the observed-data node's props, with a warning, rather than vanish.
	var left []string
	for k := range objs {
		if _, ok := ids[k]; !ok {
			left = append(left, k)
		}
	}
	if len(left) > 0 {
		sort.Strings(left)
		rest := make(map[string]any, len(left))
		for _, k := range left {
			rest[k] = objs[k]
			out.warnings = append(out.warnings, warning{property: "objects." + k, value: truncateValue(objs[k]),
				message: "embedded entry is not an object with a type; kept in props, no node"})
		}
		n := &out.batch.Nodes[idx]
		if n.Props == nil {
			n.Props = map[string]any{}
		}
		n.Props["objects"] = rest
	}
	parent := out.batch.Nodes[idx]
	first, last := o.held("first_observed", "last_observed")
	out.window = [2]time.Time{first, last}
	defer func() { out.window = [2]time.Time{} }()
	for _, k := range keys {
		obj := rewriteRefs(objs[k].(map[string]any), ids).(map[string]any)
		typ := obj["type"].(string)
		mp.moveReserved(out, obj, "objects."+k+".")
		eo := object{m: obj, typ: typ, id: ids[k]}
		mp.mapObservable(out, eo, idx)
		out.batch.Relations = append(out.batch.Relations, graph.Relation{
			Src: parent.Ref(), Type: "object", Dst: graph.Ref(ids[k]), Confidence: parent.Confidence,
			FirstSeen: parent.FirstSeen, LastSeen: parent.LastSeen, Sources: mp.sources,
		})
	}
}

// embeddedIDs gives every object of a STIX 2.0 observed-data "objects"
// dictionary the identifier a STIX 2.1 producer would: the deterministic
// id of its node (graph.ObservableNode: over its normalised ID-contributing
// properties), with references to other embedded objects replaced by their
// identifiers (so an object is identified after the objects it refers to,
// and a network-traffic's key is the one a STIX 2.1 feed's of the same
// flow gets: rekey). Objects of types without
// ID-contributing properties, or in a reference cycle, get a UUIDv5 of the
// observed-data id and their key in graph.Namespace, stable across loads.
// Entries that are not objects with a type are left out.
func embeddedIDs(parentID string, objs map[string]any) map[string]string {
	ids := map[string]string{}
	keys := make([]string, 0, len(objs))
	for k, v := range objs {
		if m, ok := v.(map[string]any); ok {
			if t, ok := m["type"].(string); ok && t != "" {
				keys = append(keys, k)
			}
		}
	}
	sort.Strings(keys)
	fallback := func(k string) string {
		typ := objs[k].(map[string]any)["type"].(string)
		return stixid.STIXID(typ, uuid.NewSHA1(graph.Namespace, []byte(parentID+"/objects/"+k)))
	}
	for progress := true; progress; {
		progress = false
		for _, k := range keys {
			if _, done := ids[k]; done {
				continue
			}
			m := objs[k].(map[string]any)
			typ := m["type"].(string)
			if !stixid.HasDeterministicID(typ) {
				ids[k] = fallback(k)
				progress = true
				continue
			}
			ready := true
			for _, p := range refProps(m) {
				for _, ref := range graph.Strings(m[p]) {
					if _, isKey := objs[ref]; isKey && ids[ref] == "" && slices.Contains(keys, ref) {
						ready = false
					}
				}
			}
			if !ready {
				continue
			}
			conv := rewriteRefs(m, ids).(map[string]any)
			if n, ok := graph.ObservableNode(typ, conv); ok {
				// The deterministic id of its node (over the normalised
				// object), which a STIX 2.1 feed's reference to the same
				// object resolves to too (rekey): one network-traffic of
				// one flow from both.
				ids[k] = n.Aliases[0]
			} else {
				ids[k] = fallback(k)
			}
			progress = true
		}
	}
	for _, k := range keys {
		if ids[k] == "" {
			ids[k] = fallback(k) // in a reference cycle
		}
	}
	return ids
}

// refProps lists the top-level reference properties of m.
func refProps(m map[string]any) []string {
	var out []string
	for k := range m {
		if isRefProperty(k) {
			out = append(out, k)
		}
	}
	return out
}

// rewriteRefs returns a copy of v in which every reference value (at any
// depth) that is a key of ids is replaced by ids[key].
func rewriteRefs(v any, ids map[string]string) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			if isRefProperty(k) {
				switch r := e.(type) {
				case string:
					if id, ok := ids[r]; ok {
						e = id
					}
				case []any:
					l := make([]any, len(r))
					for i, s := range r {
						if str, ok := s.(string); ok {
							if id, ok := ids[str]; ok {
								l[i] = id
								continue
							}
						}
						l[i] = s
					}
					e = l
				}
				out[k] = e
				continue
			}
			out[k] = rewriteRefs(e, ids)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = rewriteRefs(e, ids)
		}
		return out
	}
	return v
}

// truncateValue is a short text of a JSON value, for a warning.
func truncateValue(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if len(b) > 120 {
		return string(b[:120]) + "…"
	}
	return string(b)
}
