package misp

import (
	"slices"
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
// pattern compares and the file it describes by name and hash, which
// has-hash its hashes (stix.PatternGraph: the STIX loader's rule, written
// once, patternBasis). The event links the indicator, which carries the attribute's
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
	case "email-reply-to":
		return "[email-message:additional_header_fields.reply_to = " + patternString(v) + "]"
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

// basis is what an indicator's STIX pattern says (stix.PatternGraph): the
// nodes the indicator is based on and the has-hash links of a file the
// pattern describes by its name and a hash, or by two hashes.
type basis struct {
	nodes []graph.Node
	has   []graph.Relation
}

// patternBasis is the basis of a STIX pattern, by the STIX loader's rule
// (stix.PatternGraph), so an indicator MISP writes and the one misp-stix
// exports of the same attribute or object are one graph.
func patternBasis(pattern string) (basis, error) {
	nodes, has, err := stix.PatternGraph(pattern)
	return basis{nodes: nodes, has: has}, err
}

// of is the basis of an indicator that stands for a record whose node is
// node: when that node is a file (a filename|<hash> or malware-sample
// attribute, a file, lnk or image object), every file the pattern
// describes is that file, which MISP knows better than the pattern can
// say (the event's attributes of one name are one file with all their
// hashes, samplefiles.go; an object's file is keyed by all its hashes and
// its name, the pattern compares its to_ids attributes only): the
// indicator is based on it, the pattern's file and its has-hash links
// are not written, so no second file of the same name and hashes is. In
// the common case (the attribute's or object's file is the one the
// pattern describes) nothing changes.
func (bs basis) of(node graph.Node) basis {
	if node.Kind != graph.KindFile {
		return bs
	}
	out := basis{has: bs.has}
	other := map[graph.Ref]bool{}
	on := false
	for _, n := range bs.nodes {
		switch {
		case n.Kind != graph.KindFile:
			out.nodes = append(out.nodes, n)
		case n.Ref() != node.Ref():
			other[n.Ref()] = true
			fallthrough
		default:
			if !on {
				on = true
				out.nodes = append(out.nodes, node)
			}
		}
	}
	if len(other) > 0 {
		out.has = nil
		for _, r := range bs.has {
			if !other[r.Src] {
				out.has = append(out.has, r)
			}
		}
	}
	return out
}

// patternString is v as a STIX pattern string literal.
func patternString(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// idsIndicator is the indicator node of a to_ids attribute (uuid, MISP
// type t, value v) and the observables its pattern compares; ok is false
// when the attribute is none (see idsPattern) or its pattern compares no
// observable.
func idsIndicator(uuid, t, v string) (graph.Node, basis, bool) {
	pattern := idsPattern(t, v)
	if uuid == "" || pattern == "" {
		return graph.Node{}, basis{}, false
	}
	return patternIndicator(uuid, pattern)
}

// patternIndicator is the indicator "indicator--<uuid>" of a STIX pattern
// misp-stix writes and the observables the pattern compares; ok is false
// when it compares none.
func patternIndicator(uuid, pattern string) (graph.Node, basis, bool) {
	obs, err := patternBasis(pattern)
	if err != nil || len(obs.nodes) == 0 {
		return graph.Node{}, basis{}, false
	}
	return indicatorNode(uuid, pattern), obs, true
}

// indicatorNode is the node of the indicator "indicator--<uuid>" of a STIX
// pattern misp-stix writes.
func indicatorNode(uuid, pattern string) graph.Node {
	n := graph.SourceNode(graph.KindIndicator, string(graph.KindIndicator)+"--"+uuid)
	if len(pattern) <= maxPatternName {
		n.Name = pattern // as the STIX loader names an indicator without a name
	}
	n.Props = map[string]any{"pattern": pattern, "pattern_type": "stix"}
	return n
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
func (m *mapper) indicatorOf(b *graph.Batch, o *observed, n, ind graph.Node, obs basis, details map[string]any, uuid string, version time.Time) graph.Node {
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
	obs = obs.of(n)
	for _, ob := range obs.nodes {
		if !written[ob.Ref()] {
			written[ob.Ref()] = true
			o.extra = append(o.extra, ob)
		}
		o.rels = append(o.rels, graph.Relation{Src: ind.Ref(), Type: graph.RelBasedOn, Dst: ob.Ref()})
	}
	// A file the pattern describes by name and hash holds its hashes
	// (stated by no version: MarkStated marks the indicator's links only).
	o.rels = append(o.rels, obs.has...)
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
// reached through what the pattern compares (a file through its hashes, and itself when
// the pattern describes it by name and hash or by two hashes: basis.of). misp-stix (as exported in testdata/mispstix and the
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
func objectIndicator(name, uuid string, attrs []attrOut) (graph.Node, basis, bool) {
	if uuid == "" {
		return graph.Node{}, basis{}, false
	}
	if po, ok := patterningObjects[name]; ok {
		return patterningIndicator(name, uuid, attrs, po)
	}
	if n, ok := legacyObjects[name]; ok {
		name = n
	}
	if wholeObjects[name] {
		return wholeObjectIndicator(name, uuid, attrs)
	}
	if acc, ok := accountObjects[name]; ok {
		return accountIndicator(uuid, attrs, acc)
	}
	if prop, ok := propertyObjects[name]; ok {
		return propertyIndicator(name, uuid, attrs, prop)
	}
	if !indicatorObjects[name] {
		return graph.Node{}, basis{}, false
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
		return graph.Node{}, basis{}, false
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

// MISP objects that describe one STIX object by its properties (an
// http-request's network traffic and HTTP request, a process, an account,
// a credential) are exported by misp-stix, when an attribute of theirs is
// to_ids, as one indicator of the whole object (misp_to_stix2.py:
// _parse_http_request_object, _parse_process_object,
// _parse_user_account_object, _parse_credential_object, each calling
// _handle_object_indicator): keyed "indicator--<object uuid>", its pattern
// ANDing a comparison of every attribute of the object (to_ids or not),
// the ones misp-stix maps on the STIX object's properties and the others
// as its custom properties x_misp_<type>_<relation>. The indicator stands
// for the object as an indicatorObjects one does; it is based-on what its
// pattern compares that the graph keys (an http-request's addresses and
// host), and may compare nothing the graph keys (a credential's user
// name): the indicator alone, as the STIX loader maps misp-stix's export.

// propertyObjects give, for each MISP object of that kind, the STIX
// pattern comparison of one of its attributes ("" for the custom
// property).
var propertyObjects = map[string]func(a attrOut, o objectFacts) string{
	"credential": func(a attrOut, _ objectFacts) string {
		return map[string]string{"username": "user-account:user_id", "password": "user-account:credential"}[a.relation]
	},
	"user-account": func(a attrOut, o objectFacts) string {
		if p, ok := userAccountProperties[a.relation]; ok {
			return "user-account:" + p
		}
		if p, ok := unixAccountProperties[a.relation]; ok && o.unix {
			if a.relation == "group" {
				p += "[" + strconv.Itoa(o.index(a)) + "]"
			}
			return "user-account:extensions.'unix-account-ext'." + p
		}
		return ""
	},
	"process": func(a attrOut, _ objectFacts) string {
		return map[string]string{
			"pid": "process:pid", "image": "process:image_ref.name", "parent-pid": "process:parent_ref.pid",
			"child-pid": "process:child_refs[*].pid", "command-line": "process:command_line",
			"creation-time": "process:created_time", "current-directory": "process:cwd",
		}[a.relation]
	},
	"http-request": func(a attrOut, _ objectFacts) string {
		switch a.relation {
		case "ip-src", "ip-dst", "host":
			ref := "network-traffic:dst_ref"
			if a.relation == "ip-src" {
				ref = "network-traffic:src_ref"
			}
			typ := "domain-name"
			if a.relation != "host" {
				typ = "ipv4-addr"
				if strings.Contains(a.value, ":") {
					typ = "ipv6-addr"
				}
			}
			// one comparison of two: returned whole, with its value
			return "(" + ref + ".type = '" + typ + "' AND " + ref + ".value"
		}
		const ext = "network-traffic:extensions.'http-request-ext'."
		if p, ok := map[string]string{"method": "request_method", "uri": "request_value", "url": "request_value"}[a.relation]; ok {
			return ext + p
		}
		if h, ok := map[string]string{"user-agent": "User-Agent", "referer": "Referer", "content-type": "Content-Type",
			"cookie": "Cookie", "host": "Host"}[a.relation]; ok {
			return ext + "request_header.'" + h + "'"
		}
		return ""
	},
}

// userAccountProperties and unixAccountProperties are the user-account
// object's attributes misp-stix compares as user-account properties and,
// for an account of type unix, as its unix-account-ext's.
var (
	userAccountProperties = map[string]string{
		"username": "account_login", "account-type": "account_type", "password": "credential",
		"user-id": "user_id", "display-name": "display_name", "created": "account_created",
		"expires": "account_expires", "first_login": "account_first_login", "last_login": "account_last_login",
		"password_last_changed": "credential_last_changed", "disabled": "is_disabled",
		"privileged": "is_privileged", "can_escalate_privs": "can_escalate_privs",
		"is_service_account": "is_service_account",
	}
	unixAccountProperties = map[string]string{
		"group": "groups", "group-id": "gid", "home_dir": "home_dir", "shell": "shell",
	}
)

// objectFacts is what a property object's comparisons need of the whole
// object: whether an account is a unix one, and the attributes of each
// relation (a unix account's groups are indexed).
type objectFacts struct {
	unix bool
	by   map[string][]attrOut
}

// index is the place of a among its object's attributes of its relation.
func (o objectFacts) index(a attrOut) int {
	for i, b := range o.by[a.relation] {
		if b.uuid == a.uuid && b.value == a.value {
			return i
		}
	}
	return 0
}

// propertyIndicator is the indicator misp-stix exports of a property
// object (propertyObjects) with a to_ids attribute, and the observables
// its pattern compares (none, for some); ok is false when no attribute is
// to_ids.
func propertyIndicator(name, uuid string, attrs []attrOut, prop func(attrOut, objectFacts) string) (graph.Node, basis, bool) {
	facts := objectFacts{by: map[string][]attrOut{}}
	ids := false
	for _, a := range attrs {
		ids = ids || a.toIDs
		facts.by[a.relation] = append(facts.by[a.relation], a)
		if a.relation == "account-type" && strings.EqualFold(strings.TrimSpace(a.value), "unix") {
			facts.unix = true
		}
	}
	if !ids {
		return graph.Node{}, basis{}, false
	}
	var cmps []string
	for _, a := range attrs {
		if strings.TrimSpace(a.value) == "" {
			continue
		}
		path := prop(a, facts)
		switch {
		case strings.HasPrefix(path, "("):
			cmps = append(cmps, path+" = "+patternString(a.value)+")")
		case path != "":
			cmps = append(cmps, path+" = "+patternString(a.value))
		default:
			cmps = append(cmps, propertyPrefix[name]+":x_misp_"+customName(a.typ)+"_"+customName(a.relation)+" = "+patternString(a.value))
		}
	}
	if len(cmps) == 0 {
		return graph.Node{}, basis{}, false
	}
	pattern := "[" + strings.Join(cmps, " AND ") + "]"
	obs, err := patternBasis(pattern)
	if err != nil {
		obs = basis{}
	}
	return indicatorNode(uuid, pattern), obs, true
}

// An account object of a social network or forge (twitter-account,
// github-user, …) with a to_ids attribute is exported by misp-stix as
// one indicator of the whole object (misp_to_stix2.py
// _parse_account_object and _parse_account_object_with_attachment):
// [user-account:account_type = '<network>' AND <its mapped attributes, in
// the mapping's order> AND user-account:x_misp_<relation> = '…' for each
// other attribute, in the object's order]. The indicator stands for the
// object as a property object's does (propertyIndicator); it compares
// nothing the graph keys. misp-stix writes an attachment's data beside
// its name; the graph keeps no attachment data, so such a comparison is
// of the name alone.

// accountObject is how misp-stix exports one kind of account object: the
// account_type it gives, and its attributes mapped on user-account
// properties (relation, property), in misp-stix's order.
type accountObject struct {
	accountType string
	mapped      [][2]string
}

// accountObjects are misp-stix's account objects (stix2_mapping.py
// MISPtoSTIX2Mapping: __<name>_object_mapping; account_type is the name's
// first word).
var accountObjects = map[string]accountObject{
	"facebook-account": {"facebook", [][2]string{{"account-id", "user_id"}, {"account-name", "account_login"}}},
	"github-user":      {"github", [][2]string{{"id", "user_id"}, {"user-fullname", "display_name"}, {"username", "account_login"}}},
	"gitlab-user":      {"gitlab", [][2]string{{"id", "user_id"}, {"name", "display_name"}, {"username", "account_login"}}},
	"parler-account":   {"parler", [][2]string{{"account-id", "user_id"}, {"account-name", "account_login"}}},
	"reddit-account":   {"reddit", [][2]string{{"account-id", "user_id"}, {"account-name", "account_login"}}},
	"telegram-account": {"telegram", [][2]string{{"id", "user_id"}, {"username", "account_login"}}},
	"twitter-account":  {"twitter", [][2]string{{"displayed-name", "display_name"}, {"id", "user_id"}, {"name", "account_login"}}},
}

// accountIndicator is the indicator misp-stix exports of an account
// object (accountObjects) with a to_ids attribute; ok is false when none
// is.
func accountIndicator(uuid string, attrs []attrOut, acc accountObject) (graph.Node, basis, bool) {
	ids := false
	for _, a := range attrs {
		ids = ids || a.toIDs
	}
	if !ids {
		return graph.Node{}, basis{}, false
	}
	const prefix = "user-account:"
	cmps := []string{prefix + "account_type = " + patternString(acc.accountType)}
	mapped := map[string]bool{}
	for _, m := range acc.mapped {
		mapped[m[0]] = true
		for _, a := range attrs {
			if a.relation == m[0] && strings.TrimSpace(a.value) != "" {
				// misp-stix keeps one value of a mapped relation
				cmps = append(cmps, prefix+m[1]+" = "+patternString(a.value))
				break
			}
		}
	}
	for _, a := range attrs {
		if !mapped[a.relation] && strings.TrimSpace(a.value) != "" {
			cmps = append(cmps, prefix+"x_misp_"+customName(a.relation)+" = "+patternString(a.value))
		}
	}
	return indicatorNode(uuid, "["+strings.Join(cmps, " AND ")+"]"), basis{}, true
}

// propertyPrefix is the STIX object type a property object's pattern
// compares.
var propertyPrefix = map[string]string{
	"credential": "user-account", "user-account": "user-account", "process": "process", "http-request": "network-traffic",
}

// customName is a MISP type or object relation as misp-stix writes it in a
// custom property name: hyphens as underscores.
func customName(s string) string {
	return strings.ReplaceAll(s, "-", "_")
}

// propertyPattern is the STIX pattern misp-stix writes for a to_ids
// attribute of MISP type t and value v that compares a property no node
// of the graph keys, "" for other types: a port is the destination port of
// network traffic, an email subject the subject of an email message, a
// user agent the User-Agent header of an HTTP request, an email attachment
// the name of a part of an email message, a GitHub user name the login of
// a github account (misp-stix's _parse_<type>_attribute, misp_to_stix2.py).
// The attribute is that indicator, based on nothing.
func propertyPattern(t, v string) string {
	switch t {
	case "port":
		return "[network-traffic:dst_port = " + patternString(strings.TrimSpace(v)) + "]"
	case "github-username":
		return "[user-account:account_type = 'github' AND user-account:account_login = " + patternString(v) + "]"
	}
	if path, ok := propertyPaths[t]; ok {
		return "[" + path + " = " + patternString(v) + "]"
	}
	return ""
}

// propertyPaths are the object paths misp-stix's patterns of to_ids
// attributes of these types compare.
var propertyPaths = map[string]string{
	"email-subject":    "email-message:subject",
	"email-body":       "email-message:body",
	"email-header":     "email-message:received_lines",
	"email-x-mailer":   "email-message:additional_header_fields.x_mailer",
	"email-attachment": "email-message:body_multipart[*].body_raw_ref.name",
	"user-agent":       "network-traffic:extensions.'http-request-ext'.request_header.'User-Agent'",
	"http-method":      "network-traffic:extensions.'http-request-ext'.request_method",
	"size-in-bytes":    "file:size",
}

// legacyObjects are the object names of MISP's older templates misp-stix
// still exports as their newer kind's indicator (misp_to_stix2.py
// objects_mapping: 'domain|ip' and 'ip|port' call _parse_domain_ip_object
// and _parse_ip_port_object).
var legacyObjects = map[string]string{"domain|ip": "domain-ip", "ip|port": "ip-port"}

// Objects misp-stix exports, with a to_ids attribute, as one indicator of
// the whole object whose pattern compares every attribute of it, mapped
// ones first in misp-stix's order, then the others as custom properties
// x_misp_<relation> in the object's order (misp_to_stix2.py
// _parse_cpe_asset_object, _parse_android_app_object,
// _parse_netflow_object, each calling _handle_object_indicator; their
// mappings in stix2_mapping.py): a cpe-asset and an android-app are
// software, a netflow network traffic between its addresses (based-on
// them). The indicator stands for the object as a property object's does.

// wholeObjects are those objects.
var wholeObjects = map[string]bool{"cpe-asset": true, "android-app": true, "netflow": true, "lnk": true, "image": true}

// patternAttrs are an object's attributes with a value, by relation, in
// the order misp-stix's extraction gives (a relation at its first
// appearance).
type patternAttrs struct {
	order []string
	vals  map[string][]string
}

func newPatternAttrs(attrs []attrOut) patternAttrs {
	p := patternAttrs{vals: map[string][]string{}}
	for _, a := range attrs {
		if strings.TrimSpace(a.value) == "" {
			continue
		}
		if _, ok := p.vals[a.relation]; !ok {
			p.order = append(p.order, a.relation)
		}
		p.vals[a.relation] = append(p.vals[a.relation], a.value)
	}
	return p
}

// pop removes the relation and returns its value misp-stix keeps when it
// reads the relation as single (the last one), "" when it has none.
func (p patternAttrs) pop(rel string) string {
	vs := p.vals[rel]
	delete(p.vals, rel)
	if len(vs) == 0 {
		return ""
	}
	return vs[len(vs)-1]
}

// popAll removes the relation and returns all its values, for a relation
// misp-stix reads as multiple.
func (p patternAttrs) popAll(rel string) []string {
	vs := p.vals[rel]
	delete(p.vals, rel)
	return vs
}

// rest are the comparisons of the relations left, as custom properties of
// prefix: every value when multiple, else the one misp-stix keeps.
func (p patternAttrs) rest(prefix string, multiple bool) []string {
	var cmps []string
	for _, rel := range p.order {
		vs, ok := p.vals[rel]
		if !ok {
			continue
		}
		if !multiple {
			vs = vs[len(vs)-1:]
		}
		for _, v := range vs {
			cmps = append(cmps, prefix+":x_misp_"+customName(rel)+" = "+patternString(v))
		}
	}
	return cmps
}

// softwareMappings are the cpe-asset's and android-app's attributes
// misp-stix compares as software properties, in its order
// (cpe_asset_object_mapping, android_app_object_mapping).
var softwareMappings = map[string][][2]string{
	"cpe-asset":   {{"cpe", "cpe"}, {"language", "languages"}, {"product", "name"}, {"vendor", "vendor"}, {"version", "version"}},
	"android-app": {{"name", "name"}},
}

// wholeObjectPattern is misp-stix's pattern of a cpe-asset, android-app or
// netflow object, ok false for another name.
func wholeObjectPattern(name string, attrs []attrOut) (string, bool) {
	p := newPatternAttrs(attrs)
	var cmps []string
	switch name {
	case "cpe-asset", "android-app":
		for _, m := range softwareMappings[name] {
			if v := p.pop(m[0]); v != "" {
				cmps = append(cmps, "software:"+m[1]+" = "+patternString(v))
			}
		}
		// an android-app's other relations may hold several values
		cmps = append(cmps, p.rest("software", name == "android-app")...)
	case "netflow":
		const prefix = "network-traffic"
		for _, end := range []string{"src", "dst"} {
			ref := prefix + ":" + end + "_ref"
			var r []string
			if ip := p.pop("ip-" + end); ip != "" {
				family := "ipv4-addr"
				if strings.Contains(ip, ":") {
					family = "ipv6-addr"
				}
				r = append(r, ref+".type = '"+family+"'", ref+".value = "+patternString(ip))
			}
			if as := p.pop(end + "-as"); as != "" {
				// misp-stix keeps the digits of the number
				digits := strings.Map(func(r rune) rune {
					if r >= '0' && r <= '9' {
						return r
					}
					return -1
				}, as)
				r = append(r, ref+".belongs_to_refs[0].number = "+patternString(digits))
			}
			if len(r) > 0 {
				cmps = append(cmps, "("+strings.Join(r, " AND ")+")")
			}
		}
		if v := p.pop("protocol"); v != "" {
			cmps = append(cmps, prefix+":protocols[0] = "+patternString(strings.ToLower(v)))
		}
		for _, m := range [][2]string{
			{"src-port", "src_port"}, {"dst-port", "dst_port"}, {"byte-count", "src_byte_count"}, {"packet-count", "src_packets"},
			{"first-packet-seen", "start"}, {"last-packet-seen", "end"},
			{"icmp-type", "extensions.'icmp-ext'.icmp_type_hex"}, {"tcp-flags", "extensions.'tcp-ext'.src_flags_hex"},
		} {
			if v := p.pop(m[0]); v != "" {
				cmps = append(cmps, prefix+":"+m[1]+" = "+patternString(v))
			}
		}
		cmps = append(cmps, p.rest(prefix, false)...)
	case "lnk":
		cmps = lnkPattern(p)
	case "image":
		cmps = imagePattern(p)
	default:
		return "", false
	}
	if len(cmps) == 0 {
		return "", false
	}
	return "[" + strings.Join(cmps, " AND ") + "]", true
}

// An lnk or image object with a to_ids attribute is misp-stix's indicator
// of the whole file (misp_to_stix2.py _parse_lnk_object,
// _parse_image_object): an lnk's times, names, directories, hashes, sample
// and size, then its other attributes as x_misp_<relation>; an image's
// name, its attachment's MIME type (image/<extension>) and name, its url,
// then the others. misp-stix compares an attachment's or sample's data
// (file:content_ref.payload_bin) too; the graph keeps no attachment data,
// so the pattern here compares the rest. A hash is compared as a file
// object's (idsPattern: 'SHA-1'), where misp-stix's documentation writes
// SHA1: the same hash, the same observable.

// lnkHashTypes are the lnk object's hash relations misp-stix compares, in
// its order (stix2_mapping.py lnk_hash_types).
var lnkHashTypes = []string{"md5", "sha1", "sha224", "sha256", "sha384", "sha512", "sha512/224", "sha512/256", "ssdeep", "tlsh"}

// lnkPattern is the comparisons of misp-stix's pattern of an lnk object.
func lnkPattern(p patternAttrs) []string {
	var cmps []string
	for _, m := range [][2]string{{"lnk-access-time", "atime"}, {"lnk-creation-time", "ctime"}, {"lnk-modification-time", "mtime"}} {
		if v := p.pop(m[0]); v != "" {
			cmps = append(cmps, "file:"+m[1]+" = "+patternString(v))
		}
	}
	for _, v := range p.popAll("filename") {
		cmps = append(cmps, "file:name = "+patternString(v))
	}
	for _, rel := range []string{"path", "fullpath"} {
		for _, v := range p.popAll(rel) {
			cmps = append(cmps, "file:parent_directory_ref.path = "+patternString(v))
		}
	}
	for _, ht := range lnkHashTypes {
		if v := p.pop(ht); v != "" {
			if c := idsPattern(ht, v); len(c) > 2 {
				cmps = append(cmps, c[1:len(c)-1])
			}
		}
	}
	if v := p.pop("malware-sample"); v != "" {
		if name, md5, err := cut(v, true); err == nil {
			cmps = append(cmps, "(file:content_ref.x_misp_filename = "+patternString(name)+
				" AND file:content_ref.hashes.MD5 = "+patternString(md5)+
				" AND file:content_ref.mime_type = 'application/zip' AND file:content_ref.encryption_algorithm = 'mime-type-indicated'"+
				" AND file:content_ref.decryption_key = 'infected')")
		} else {
			cmps = append(cmps, "(file:content_ref.x_misp_filename = "+patternString(v)+")")
		}
	}
	if v := p.pop("size-in-bytes"); v != "" {
		cmps = append(cmps, "file:size = "+patternString(v))
	}
	return append(cmps, p.rest("file", true)...)
}

// imagePattern is the comparisons of misp-stix's pattern of an image
// object.
func imagePattern(p patternAttrs) []string {
	var cmps []string
	if v := p.pop("filename"); v != "" {
		cmps = append(cmps, "file:name = "+patternString(v))
	}
	if v := p.pop("attachment"); v != "" {
		if i := strings.LastIndexByte(v, '.'); i >= 0 {
			cmps = append(cmps, "file:content_ref.mime_type = "+patternString("image/"+v[i+1:]))
		}
		cmps = append(cmps, "file:content_ref.x_misp_filename = "+patternString(v))
	}
	if v := p.pop("url"); v != "" {
		cmps = append(cmps, "file:content_ref.url = "+patternString(v))
	}
	return append(cmps, p.rest("file", true)...)
}

// wholeObjectIndicator is the indicator misp-stix exports of a cpe-asset,
// android-app or netflow object with a to_ids attribute, and the
// observables its pattern compares (a netflow's addresses; none for
// software); ok is false for another name or when no attribute is to_ids.
func wholeObjectIndicator(name, uuid string, attrs []attrOut) (graph.Node, basis, bool) {
	if !slices.ContainsFunc(attrs, func(a attrOut) bool { return a.toIDs }) {
		return graph.Node{}, basis{}, false
	}
	pattern, ok := wholeObjectPattern(name, attrs)
	if !ok {
		return graph.Node{}, basis{}, false
	}
	obs, err := patternBasis(pattern)
	if err != nil {
		obs = basis{}
	}
	return indicatorNode(uuid, pattern), obs, true
}
