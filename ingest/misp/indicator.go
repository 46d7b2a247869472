package misp

import (
	"strconv"
	"strings"
	"time"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/stix"
)

// An event-level attribute flagged to_ids (for detection) whose value is
// an observable is an indicator, as misp-stix exports it and OpenCTI's
// MISP connector imports it: a node keyed "indicator--<attribute uuid>"
// (the id misp-stix gives it), its STIX pattern the one misp-stix writes
// for the attribute's type (idsPattern), based-on the observables that
// pattern compares (stix.PatternObservables, as the STIX loader links
// them). The event links the indicator, which carries the attribute's
// uuid alias, details, tags, clusters and sightings; the observable is
// written beside it, reached through based-on. So the event and its
// misp-stix export state one set of records for the attribute, whichever
// is loaded first: before, the event linked the observable and the export
// the indicator, and loading both listed the attribute twice.

// idsPattern is the STIX 2.1 pattern misp-stix writes for a to_ids
// attribute of MISP type t and value v, "" for a type it exports as
// something else than an indicator of an observable (vulnerability,
// threat-actor, ...) or a value the type cannot read.
func idsPattern(t, v string) string {
	switch t {
	case "domain", "hostname":
		return "[domain-name:value = " + patternString(v) + "]"
	case "domain|ip":
		return composite(v, false, func(d, ip string) string {
			return "[domain-name:value = " + patternString(d) + " AND domain-name:resolves_to_refs[*].value = " + patternString(ip) + "]"
		})
	case "hostname|port":
		return composite(v, true, func(h, port string) string {
			return "[domain-name:value = " + patternString(h) + " AND network-traffic:dst_port = " + patternString(port) + "]"
		})
	case "ip-src", "ip-dst", "ip":
		return "[" + addressPattern(t, v) + "]"
	case "ip-src|port", "ip-dst|port":
		return composite(v, true, func(ip, port string) string {
			return "[" + addressPattern(t, ip) + " AND network-traffic:" + direction(t) + "_port = " + patternString(port) + "]"
		})
	case "url", "uri", "link":
		return "[url:value = " + patternString(v) + "]"
	case "email", "target-email", "whois-registrant-email", "dns-soa-email":
		return "[email-addr:value = " + patternString(v) + "]"
	case "email-src":
		return "[email-message:from_ref.value = " + patternString(v) + "]"
	case "email-dst":
		return "[email-message:to_refs[*].value = " + patternString(v) + "]"
	case "filename", "attachment":
		return "[file:name = " + patternString(v) + "]"
	case "malware-sample":
		return filenameHashPattern("md5", v)
	case "mutex":
		return "[mutex:name = " + patternString(v) + "]"
	case "regkey":
		return "[windows-registry-key:key = " + patternString(v) + "]"
	case "regkey|value":
		return composite(v, false, func(k, d string) string {
			return "[windows-registry-key:key = " + patternString(k) + " AND windows-registry-key:values.data = " + patternString(d) + "]"
		})
	case "mac-address", "mac-eui-64":
		return "[mac-addr:value = " + patternString(v) + "]"
	case "AS":
		n, err := parseASN(v)
		if err != nil {
			return ""
		}
		return "[autonomous-system:number = " + patternString(strconv.FormatInt(n, 10)) + "]"
	case "x509-fingerprint-md5", "x509-fingerprint-sha1", "x509-fingerprint-sha256":
		alg := hashAlgorithms[strings.TrimPrefix(t, "x509-fingerprint-")]
		return "[x509-certificate:hashes." + hashPath(alg) + " = " + patternString(v) + "]"
	}
	if ht, ok := strings.CutPrefix(t, "filename|"); ok {
		return filenameHashPattern(ht, v)
	}
	if alg, ok := hashAlgorithms[t]; ok {
		return "[file:hashes." + hashPath(alg) + " = " + patternString(v) + "]"
	}
	return ""
}

// filenameHashPattern is the pattern of "<file name>|<hash>".
func filenameHashPattern(hashType, v string) string {
	alg, ok := hashAlgorithms[hashType]
	if !ok {
		return ""
	}
	if !strings.Contains(v, "|") {
		return "[file:name = " + patternString(v) + "]"
	}
	return composite(v, true, func(name, h string) string {
		return "[file:name = " + patternString(name) + " AND file:hashes." + hashPath(alg) + " = " + patternString(h) + "]"
	})
}

// composite is the pattern f makes of the two parts of a composite value
// "a|b" (cut at the first bar, or the last when last is set), "" when the
// value has no bar.
func composite(v string, last bool, f func(a, b string) string) string {
	a, b, err := cut(v, last)
	if err != nil {
		return ""
	}
	return f(a, b)
}

// addressPattern compares an address of a network connection, as
// misp-stix writes ip-src and ip-dst: the source or destination reference,
// typed by the address's family.
func addressPattern(t, ip string) string {
	family := "ipv4-addr"
	if strings.Contains(ip, ":") {
		family = "ipv6-addr"
	}
	ref := "network-traffic:" + direction(t) + "_ref"
	return ref + ".type = '" + family + "' AND " + ref + ".value = " + patternString(ip)
}

// direction is the end of a connection an address type names.
func direction(t string) string {
	if strings.HasPrefix(t, "ip-src") {
		return "src"
	}
	return "dst"
}

// hashPath is a hash algorithm as a pattern's path component: quoted when
// it is no plain word (SHA-256 is 'SHA-256').
func hashPath(alg string) string {
	if strings.ContainsAny(alg, "-/") {
		return "'" + alg + "'"
	}
	return alg
}

// patternString is v as a STIX pattern string literal.
func patternString(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// idsIndicator is the indicator node of a to_ids attribute (uuid, MISP
// type t, value v) and the observables its pattern compares; ok is false
// when the attribute is none (see idsPattern) or its pattern compares no
// observable.
func idsIndicator(uuid, t, v string) (graph.Node, []graph.Node, bool) {
	pattern := idsPattern(t, v)
	if uuid == "" || pattern == "" {
		return graph.Node{}, nil, false
	}
	return patternIndicator(uuid, pattern)
}

// patternIndicator is the indicator "indicator--<uuid>" of a STIX pattern
// misp-stix writes and the observables the pattern compares; ok is false
// when it compares none.
func patternIndicator(uuid, pattern string) (graph.Node, []graph.Node, bool) {
	obs, err := stix.PatternObservables(pattern)
	if err != nil || len(obs) == 0 {
		return graph.Node{}, nil, false
	}
	n := graph.SourceNode(graph.KindIndicator, string(graph.KindIndicator)+"--"+uuid)
	if len(pattern) <= maxPatternName {
		n.Name = pattern // as the STIX loader names an indicator without a name
	}
	n.Props = map[string]any{"pattern": pattern, "pattern_type": "stix"}
	return n, obs, true
}

// maxPatternName is the longest pattern that names its indicator, as the
// STIX loader's limit on a name taken from a property (stix.maxValueName).
const maxPatternName = 1024

// indicatorOf writes the observable node n of a to_ids attribute (marked
// as the attribute, as the STIX loader marks a pattern's observables, and
// without the attribute's labels, which are the indicator's) and returns
// its indicator ind, filled from the attribute (details, labels, TLP,
// times, sources), after adding to o the observables of its pattern and
// its based-on links to them.
//
// The indicator states its based-on links in its version, the
// attribute's timestamp (as the STIX loader has an indicator state its
// pattern's links by its id at its modified time, which misp-stix sets to
// the attribute's timestamp): an attribute whose value changed supersedes
// the link to the old value, whichever format says it.
func (m *mapper) indicatorOf(b *graph.Batch, o *observed, n, ind graph.Node, obs []graph.Node, details map[string]any, uuid string, version time.Time) graph.Node {
	labels := n.Labels
	n.Labels = nil
	b.Nodes = append(b.Nodes, n)
	for k, v := range details {
		ind.Props[k] = v
	}
	ind.Props["misp_uuid"] = uuid
	ind.Labels, ind.TLP, ind.FirstSeen, ind.LastSeen, ind.Sources = labels, n.TLP, n.FirstSeen, n.LastSeen, n.Sources
	written := map[graph.Ref]bool{n.Ref(): true}
	for _, e := range o.extra {
		written[e.Ref()] = true
	}
	from := len(o.rels)
	for _, ob := range obs {
		if !written[ob.Ref()] {
			written[ob.Ref()] = true
			o.extra = append(o.extra, ob)
		}
		o.rels = append(o.rels, graph.Relation{Src: ind.Ref(), Type: graph.RelBasedOn, Dst: ob.Ref()})
	}
	if !version.IsZero() {
		ind.Versions = map[string]time.Time{ind.Key: version}
		graph.MarkStated(o.rels[from:], ind.Key, version, ind.Ref())
	}
	return ind
}

// An object flagged for detection (one of its attributes to_ids) is, as
// misp-stix exports it, one indicator of the whole object: keyed
// "indicator--<object uuid>" (aliased misp--<object uuid>), its pattern
// one observation ANDing the comparisons of its to_ids attributes (the
// comparisons idsPattern writes for their types, in the object's terms:
// objectComparison), based-on the observables that pattern compares. The
// indicator stands for the object: its event links it, it carries the
// object's details, tags' labels and TLP, has-attribute links, references
// and analyst data; the object's observable (a file keyed by its hashes,
// a url, a domain resolving to its addresses) is written beside it,
// reached through what the pattern compares (a file through its hashes). misp-stix (as exported in testdata/mispstix and the
// corpus's misp-stix files) puts only the to_ids attributes in the
// pattern; its newer releases AND the object's other attributes too,
// which compare no further observable on the corpus's objects but a
// to_ids e-mail object's recipients.

// indicatorObjects are the MISP objects misp-stix exports as an indicator
// when an attribute of theirs is flagged to_ids (misp_to_stix2.py: an
// object parser calling _handle_object_indicator) and whose pattern
// compares what their attributes' own comparisons do (objectComparison):
// the same observables. Others stay as they were: those misp-stix
// exports as what they describe (vulnerability, attack-pattern, ...) or as
// custom objects (every object it has no mapping for), and those whose
// pattern compares other properties (http-request's request_value,
// process's image_ref.name, accounts, credentials, ...); pe and
// pe-section objects go into the file they belong to.
var indicatorObjects = map[string]bool{
	"asn": true, "domain-ip": true, "email": true, "file": true, "ip-port": true, "mutex": true,
	"network-connection": true, "network-socket": true, "registry-key": true, "url": true, "x509": true,
}

// objectIndicator is the indicator of a MISP object with to_ids attributes
// (name, uuid, its mapped attributes) and the observables its pattern
// compares; ok is false when misp-stix exports no such indicator of it or
// its to_ids attributes compare no observable (a credential's user name).
func objectIndicator(name, uuid string, attrs []attrOut) (graph.Node, []graph.Node, bool) {
	if uuid == "" || !indicatorObjects[name] {
		return graph.Node{}, nil, false
	}
	var first, rest []string
	for _, a := range attrs {
		if !a.toIDs {
			continue
		}
		c, leading := objectComparison(name, a)
		switch {
		case c == "":
		case leading:
			first = append(first, c)
		default:
			rest = append(rest, c)
		}
	}
	if len(first)+len(rest) == 0 {
		return graph.Node{}, nil, false
	}
	return patternIndicator(uuid, "["+strings.Join(append(first, rest...), " AND ")+"]")
}

// objectComparison is the comparison of a to_ids attribute of the object
// name in its indicator's pattern, "" for none, and whether misp-stix
// writes it first (a file's hashes before its name, a domain before the
// addresses it resolves to).
func objectComparison(name string, a attrOut) (string, bool) {
	p := idsPattern(a.typ, a.value)
	if len(p) < 2 {
		return "", false
	}
	c := p[1 : len(p)-1]
	switch name {
	case "file":
		return c, strings.HasPrefix(c, "file:hashes.")
	case "domain-ip":
		if strings.HasPrefix(a.typ, "ip") {
			return "domain-name:resolves_to_refs[*].value = " + patternString(a.value), false
		}
		return c, true
	case "email":
		if r := a.relation; (r == "cc" || r == "bcc") && a.typ == "email-dst" {
			return "email-message:" + r + "_refs[*].value = " + patternString(a.value), false
		}
	}
	return c, false
}
