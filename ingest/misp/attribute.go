package misp

import (
	"slices"
	"strings"
	"unicode"

	"github.com/ransomeye/intel/graph"
)

// Node kinds of MISP records that have no STIX counterpart.
const (
	// KindAttribute is an attribute whose type names no entity (text,
	// comment, other, datetime, port, ...): keyed by its uuid, linked to its
	// event, value and type in props.
	KindAttribute graph.Kind = "x-misp-attribute"
	// KindObjectPrefix prefixes the kind of an object that maps to no STIX
	// observable: "x-misp-object-pe", "x-misp-object-av-signature", ...
	KindObjectPrefix = "x-misp-object-"
)

// Relation types the MISP mapping writes.
const (
	// RelObject links an event to the nodes of its attributes, objects and
	// galaxy clusters, as the STIX loader maps a report's object_refs.
	RelObject = "object"
	// RelHasAttribute links an object to the node of one of its attributes
	// (props: object_relation).
	RelHasAttribute = "has-attribute"
	// RelResolvesTo links a domain to an address (domain|ip, domain-ip).
	RelResolvesTo = "resolves-to"
	// RelCreatedBy links an event to the organisation that created it.
	RelCreatedBy = "created-by"
	// RelRelatedTo is the relation when a source names none.
	RelRelatedTo = "related-to"
)

// observed is what an attribute value maps to: its node, the nodes it
// implies, the relations among them and properties taken from the value.
type observed struct {
	node  graph.Node
	extra []graph.Node
	rels  []graph.Relation
	props map[string]any
}

type valueMapper func(misptype, value string) (observed, error)

// valueMappers maps the attribute types that name an entity. Every other
// type (text, comment, port, datetime, ...) and every unknown type is kept
// as a KindAttribute node at event level and as a property inside objects.
var valueMappers = map[string]valueMapper{
	"ip-src": refanged(graph.KindIPv4Addr, mapIP), "ip-dst": refanged(graph.KindIPv4Addr, mapIP),
	"ip":          refanged(graph.KindIPv4Addr, mapIP),
	"ip-src|port": refanged(graph.KindIPv4Addr, withPort(mapIP, true)),
	"ip-dst|port": refanged(graph.KindIPv4Addr, withPort(mapIP, true)),
	"domain":      refanged(graph.KindDomainName, mapDomain), "hostname": refanged(graph.KindDomainName, mapDomain),
	"domain|ip":     refanged(graph.KindDomainName, mapDomainIP),
	"hostname|port": refanged(graph.KindDomainName, withPort(mapDomain, false)),
	"url":           refanged(graph.KindURL, mapURL), "uri": refanged(graph.KindURL, mapURL),
	"link":  refanged(graph.KindURL, mapURL),
	"email": refanged(graph.KindEmailAddr, mapEmail), "email-src": refanged(graph.KindEmailAddr, mapEmail),
	"email-dst": refanged(graph.KindEmailAddr, mapEmail), "email-reply-to": refanged(graph.KindEmailAddr, mapEmail),
	"target-email": refanged(graph.KindEmailAddr, mapEmail), "whois-registrant-email": refanged(graph.KindEmailAddr, mapEmail),
	"dns-soa-email": refanged(graph.KindEmailAddr, mapEmail),
	"filename":      mapFilename, "attachment": mapFilename,
	"malware-sample": mapMalwareSample,
	"mutex":          mapMutex,
	"regkey":         mapRegkey, "regkey|value": mapRegkeyValue,
	"mac-address": mapMAC, "mac-eui-64": mapMAC,
	"AS":                      mapAS,
	"vulnerability":           mapNamed(graph.KindVulnerability),
	"threat-actor":            mapNamed(graph.KindThreatActor),
	"campaign-name":           mapNamed(graph.KindCampaign),
	"x509-fingerprint-md5":    mapX509,
	"x509-fingerprint-sha1":   mapX509,
	"x509-fingerprint-sha256": mapX509,
}

// patternTypes are attribute types holding a detection rule; they become
// indicator nodes keyed by the attribute uuid.
var patternTypes = map[string]string{
	"yara": "yara", "snort": "snort", "sigma": "sigma", "stix2-pattern": "stix",
	"pattern-in-file": "misp", "pattern-in-memory": "misp", "pattern-in-traffic": "misp",
	"zeek": "zeek", "bro": "zeek", "suricata": "suricata",
}

func init() {
	for _, t := range graph.MISPWalletTypes {
		valueMappers[t] = mapWallet
	}
	for t := range hashAlgorithms {
		valueMappers[t] = mapHash
		valueMappers["filename|"+t] = mapFilenameHash
	}
	for t := range valueMappers {
		canonicalTypes[strings.ToLower(t)] = t
	}
	for t := range patternTypes {
		canonicalTypes[strings.ToLower(t)] = t
	}
}

// canonicalTypes maps the attribute types the mapping knows, in lower
// case, to MISP's spelling of them (all lower case but "AS").
var canonicalTypes = map[string]string{}

// canonicalType returns MISP's spelling of an attribute type written in
// any case ("IP-DST", "Domain", "SHA256", "as"), or the type trimmed when
// the mapping knows no such type. MISP compares types case-sensitively,
// but feeds other tools export write them so, and mean MISP's type.
func canonicalType(t string) string {
	t = strings.TrimSpace(t)
	if c, ok := canonicalTypes[strings.ToLower(t)]; ok {
		return c
	}
	return t
}

// refanged maps a value that may be written defanged, as vendor reports
// write indicators ("hxxp://evil[.]example/x", "198.51.100[.]7",
// "bad[at]evil[.]example"): refanged as an observable of kind
// (graph.Refang, the rule STIX values and patterns follow too) before
// mapper reads it, so that it is the node of the value; the value as
// written goes into the link's props (defanged_value). Refanging the whole
// value lets composites split where the markers hid a separator
// ("198.51.100[.]7[:]8080").
func refanged(kind graph.Kind, mapper valueMapper) valueMapper {
	return func(t, v string) (observed, error) {
		r := graph.Refang(kind, v)
		o, err := mapper(t, r)
		if err != nil || r == v {
			return o, err
		}
		if o.props == nil {
			o.props = map[string]any{}
		}
		o.props["defanged_value"] = v
		return o, nil
	}
}

func mapIP(_, v string) (observed, error) {
	ip, v6, err := normalizeIP(v)
	if err != nil {
		return observed{}, err
	}
	kind := graph.KindIPv4Addr
	if v6 {
		kind = graph.KindIPv6Addr
	}
	return observed{node: graph.ValueNode(kind, ip)}, nil
}

// cut splits a composite value "a|b" at the first bar, or at the last when
// last is set (file names may hold a bar, hashes never do).
func cut(v string, last bool) (string, string, error) {
	i := strings.IndexByte(v, '|')
	if last {
		i = strings.LastIndexByte(v, '|')
	}
	if i < 0 {
		return "", "", invalid("composite value %q has no '|'", truncate(v, 80))
	}
	return v[:i], v[i+1:], nil
}

// withPort maps "<value>|<port>": the value through mapper, the port into
// the link's props. It reads the other forms MISP accepts for these types
// (and stores as "…|port"), which feeds written without MISP keep:
// "<value>:<port>" when the value holds no other colon, and, for an
// address (ip), "[<IPv6>]:<port>". An IPv6 address and port with no bar or
// brackets ("2001:db8::7:443") names no port and stays invalid.
func withPort(mapper func(t, v string) (observed, error), ip bool) func(t, v string) (observed, error) {
	return func(t, v string) (observed, error) {
		value, port, err := cut(v, true)
		if err != nil {
			value, port, err = colonPort(v, ip)
		}
		if err != nil {
			return observed{}, err
		}
		o, err := mapper(t, value)
		if err != nil {
			return observed{}, err
		}
		p, err := parsePort(port)
		if err != nil {
			return observed{}, err
		}
		o.props = map[string]any{"port": p}
		return o, nil
	}
}

// colonPort splits "<value>:<port>" and, when ip is set,
// "[<IPv6>]:<port>" (see withPort).
func colonPort(v string, ip bool) (string, string, error) {
	s := strings.TrimSpace(v)
	if ip && strings.HasPrefix(s, "[") {
		if addr, port, ok := strings.Cut(s[1:], "]:"); ok {
			return addr, port, nil
		}
	}
	if strings.Count(s, ":") == 1 {
		value, port, _ := strings.Cut(s, ":")
		return value, port, nil
	}
	return "", "", invalid("composite value %q has no '|'", truncate(v, 80))
}

func mapDomain(_, v string) (observed, error) {
	d, err := normalizeDomain(v)
	if err != nil {
		return observed{}, err
	}
	if !strings.Contains(d, ".") {
		// MISP refuses a domain or hostname of one label (its validation
		// wants a dot before a last label): "unknown", "none",
		// "localhost" written into the field would be one node joining
		// every event that wrote it.
		return observed{}, invalid("%q is a single label: MISP's domain and hostname types name a host within a domain", truncate(strings.TrimSpace(v), 80))
	}
	return observed{node: graph.ValueNode(graph.KindDomainName, d)}, nil
}

// mapDomainIP maps "<domain>|<address>": the domain, resolving to the
// address. The address part may hold several addresses, as feeds built by
// scripts write a domain's records: separated by bars, commas, semicolons
// or white space ("evil.example|198.51.100.1|198.51.100.2"); the domain
// resolves to each. A part that is no address makes the value invalid.
func mapDomainIP(t, v string) (observed, error) {
	d, ips, err := cut(v, false)
	if err != nil {
		return observed{}, err
	}
	o, err := mapDomain(t, d)
	if err != nil {
		return observed{}, err
	}
	parts := strings.FieldsFunc(ips, func(r rune) bool {
		return r == '|' || r == ',' || r == ';' || unicode.IsSpace(r)
	})
	if len(parts) == 0 {
		return observed{}, invalid("domain|ip %q has no address", truncate(v, 80))
	}
	for _, ip := range parts {
		a, err := mapIP(t, ip)
		if err != nil {
			return observed{}, err
		}
		if slices.ContainsFunc(o.extra, func(n graph.Node) bool { return n.ID == a.node.ID }) {
			continue
		}
		o.extra = append(o.extra, a.node)
		o.rels = append(o.rels, graph.Relation{Src: o.node.Ref(), Type: RelResolvesTo, Dst: a.node.Ref()})
	}
	return o, nil
}

func mapURL(_, v string) (observed, error) {
	u, err := normalizeURL(v)
	if err != nil {
		return observed{}, err
	}
	return observed{node: graph.ValueNode(graph.KindURL, u)}, nil
}

// mapEmail maps an e-mail address, also written with a display name as
// mail headers give it ("Evil Sender <evil@bad.example>",
// graph.ParseEmail): the node is the address, the display name goes into
// the link's props (STIX's email-addr display_name).
func mapEmail(_, v string) (observed, error) {
	e, name, err := graph.ParseEmail(v)
	if err != nil {
		return observed{}, invalid("%v", err)
	}
	o := observed{node: graph.ValueNode(graph.KindEmailAddr, e)}
	if name != "" {
		o.props = map[string]any{"display_name": name}
	}
	return o, nil
}

func mapHash(t, v string) (observed, error) {
	alg, h, err := normalizeHash(t, v)
	if err != nil {
		return observed{}, err
	}
	return observed{node: graph.HashNode(alg, h)}, nil
}

// fileObserved is the file node with its hash nodes and has-hash relations.
func fileObserved(hashes map[string]string, name string) (observed, error) {
	if len(name) > maxValueBytes {
		return observed{}, invalid("file name of %d bytes", len(name))
	}
	f, hs, rels := graph.FileNode(hashes, name)
	if f.Kind == "" {
		return observed{}, invalid("file with neither name nor hash")
	}
	return observed{node: f, extra: hs, rels: rels}, nil
}

func mapFilename(_, v string) (observed, error) {
	name := strings.TrimSpace(v)
	if name == "" {
		return observed{}, invalid("empty file name")
	}
	return fileObserved(nil, name)
}

func mapFilenameHash(t, v string) (observed, error) {
	_, ht, _ := strings.Cut(t, "|")
	name, h, err := cut(v, true)
	if err != nil {
		return observed{}, err
	}
	alg, hv, err := normalizeHash(ht, h)
	if err != nil {
		return observed{}, err
	}
	return fileObserved(map[string]string{alg: hv}, strings.TrimSpace(name))
}

// mapMalwareSample reads "filename|md5" (the sample itself, in "data", is
// not kept).
func mapMalwareSample(_, v string) (observed, error) {
	if !strings.Contains(v, "|") {
		return mapFilename("filename", v)
	}
	return mapFilenameHash("filename|md5", v)
}

func mapMutex(_, v string) (observed, error) {
	m := strings.TrimSpace(v)
	if m == "" || len(m) > maxValueBytes {
		return observed{}, invalid("mutex of %d bytes", len(m))
	}
	return observed{node: graph.ValueNode(graph.KindMutex, m)}, nil
}

func registryKey(key string) (observed, error) {
	k := strings.TrimSpace(key)
	if k == "" || len(k) > maxValueBytes {
		return observed{}, invalid("registry key of %d bytes", len(k))
	}
	n, _ := graph.ObservableNode(string(graph.KindWindowsRegistryKey), map[string]any{"key": k})
	return observed{node: n}, nil
}

func mapRegkey(_, v string) (observed, error) { return registryKey(v) }

func mapRegkeyValue(_, v string) (observed, error) {
	key, data, err := cut(v, false)
	if err != nil {
		return observed{}, err
	}
	o, err := registryKey(key)
	if err != nil {
		return observed{}, err
	}
	o.props = map[string]any{"registry_value": data}
	return o, nil
}

func mapMAC(_, v string) (observed, error) {
	m, err := normalizeMAC(v)
	if err != nil {
		return observed{}, err
	}
	return observed{node: graph.ValueNode(graph.KindMACAddr, m)}, nil
}

func mapWallet(_, v string) (observed, error) {
	w, err := graph.NormalizeWallet(v)
	if err != nil {
		return observed{}, invalid("%v", err)
	}
	return observed{node: graph.ValueNode(graph.KindCryptocurrencyWallet, w)}, nil
}

func mapAS(_, v string) (observed, error) {
	n, err := parseASN(v)
	if err != nil {
		return observed{}, err
	}
	node, _ := graph.ObservableNode(string(graph.KindAutonomousSystem), map[string]any{"number": n})
	return observed{node: node}, nil
}

func mapNamed(kind graph.Kind) valueMapper {
	return func(_, v string) (observed, error) {
		name := strings.TrimSpace(v)
		if name == "" || len(name) > maxValueBytes {
			return observed{}, invalid("%s name of %d bytes", kind, len(name))
		}
		if kind == graph.KindVulnerability && graph.IsCVE(name) {
			// MISP stores a vulnerability upper case (its validation
			// upper-cases it before saving): cve-2021-44228 is named
			// CVE-2021-44228, as the CVE's other records are.
			name = strings.ToUpper(name)
		}
		return observed{node: graph.NamedNode(kind, name)}, nil
	}
}

func mapX509(t, v string) (observed, error) {
	alg := map[string]string{"x509-fingerprint-md5": "md5", "x509-fingerprint-sha1": "sha1", "x509-fingerprint-sha256": "sha256"}[t]
	stixAlg, h, err := normalizeHash(alg, strings.ReplaceAll(v, ":", ""))
	if err != nil {
		return observed{}, err
	}
	// The certificate of that fingerprint, as a STIX x509-certificate of
	// that hash is (graph.CertificateNode: "SHA-256:<hex>", the hash in its
	// props), and the fingerprint's hash node it has-hash, as every
	// certificate does (graph.CertificateFingerprints, one rule with STIX).
	n, ok := graph.CertificateNode(map[string]string{stixAlg: h}, "")
	if !ok {
		return observed{}, invalid("%s %q", t, v)
	}
	hs, hr := graph.CertificateFingerprints(n)
	return observed{node: n, extra: hs, rels: hr}, nil
}
