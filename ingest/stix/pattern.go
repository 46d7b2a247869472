package stix

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unicode"

	"github.com/ransomeye/intel/graph"
)

// comparison is one comparison expression of a STIX pattern:
// <type>:<path> <op> <value>.
type comparison struct {
	objectType string
	path       string // property path, quotes removed: hashes.SHA-256
	op         string // =, !=, <, >, <=, >=, IN, LIKE, MATCHES, ...
	negated    bool
	values     []string // the string or number literals (several for IN)
	// observation is the index of the observation expression ([…]) the
	// comparison stands in, from 1; disjoint is set when an OR stands
	// between comparisons of that observation expression, so that its
	// comparisons need not describe one object.
	observation int
	disjoint    bool
}

var errPattern = errors.New("invalid pattern")

// comparisonJoins are the keywords that may stand between comparisons
// inside an observation expression ([… AND …]); observationWords those
// between and after observation expressions (joins and qualifiers:
// [a] FOLLOWEDBY [b] WITHIN 300 SECONDS, REPEATS 5 TIMES, START t'…' STOP
// t'…'). Any other word there (a NOT before an object path) makes the
// pattern invalid.
var (
	comparisonJoins  = map[string]bool{"AND": true, "OR": true}
	observationWords = map[string]bool{"AND": true, "OR": true, "FOLLOWEDBY": true, "WITHIN": true,
		"SECONDS": true, "REPEATS": true, "TIMES": true, "START": true, "STOP": true}
	// comparisonOperators are the operators a comparison may use
	// (symbols are checked by the lexer).
	comparisonOperators = map[string]bool{"=": true, "!=": true, "<": true, ">": true, "<=": true, ">=": true,
		"IN": true, "LIKE": true, "MATCHES": true, "ISSUBSET": true, "ISSUPERSET": true}
)

// patternComparisons parses a STIX 2.x pattern and returns its comparison
// expressions, across all observation expressions, whatever joins them
// (AND, OR, FOLLOWEDBY) and whatever qualifies them (WITHIN, REPEATS,
// START/STOP). It checks the structure it relies on (balanced brackets and
// parentheses, complete comparisons, terminated strings) and fails
// otherwise.
func patternComparisons(pattern string) ([]comparison, error) {
	toks, err := lexPattern(pattern)
	if err != nil {
		return nil, err
	}
	var out []comparison
	depth, brackets := 0, 0
	observation, disjoint := 0, map[int]bool{}
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch t.kind {
		case tokPunct:
			switch t.text {
			case "[":
				brackets++
				observation++
				if brackets > 1 {
					return nil, fmt.Errorf("%w: nested '['", errPattern)
				}
			case "]":
				brackets--
				if brackets < 0 {
					return nil, fmt.Errorf("%w: unbalanced ']'", errPattern)
				}
			case "(":
				depth++
			case ")":
				depth--
				if depth < 0 {
					return nil, fmt.Errorf("%w: unbalanced ')'", errPattern)
				}
			}
		case tokWord:
			word := strings.ToUpper(t.text)
			if word == "OR" && brackets == 1 {
				disjoint[observation] = true
			}
			if word == "NOT" && i+1 < len(toks) && strings.EqualFold(toks[i+1].text, "EXISTS") {
				// NOT EXISTS <path>: NOT before EXISTS is the one place
				// outside a comparison where it may stand.
				i++
				word = "EXISTS"
			}
			switch {
			case word == "EXISTS" && brackets == 1 && i+1 < len(toks) && toks[i+1].kind == tokPath:
				objType, path, _ := strings.Cut(toks[i+1].text, ":")
				out = append(out, comparison{objectType: objType, path: unquotePath(path), op: "EXISTS", observation: observation})
				i++
			case brackets == 1 && !comparisonJoins[word], brackets == 0 && !observationWords[word]:
				// NOT before an object path ([NOT domain-name:value = 'x'])
				// is no STIX patterning: NOT negates an operator
				// (domain-name:value NOT = 'x'). Read as the comparison
				// after it, the pattern said the opposite of what it
				// seems to.
				return nil, fmt.Errorf("%w: %q where no keyword of that kind may stand", errPattern, t.text)
			}
		case tokString, tokNumber, tokOp:
			if brackets == 1 || t.kind == tokOp {
				return nil, fmt.Errorf("%w: value %q outside a comparison", errPattern, t.text)
			}
		case tokPath:
			if brackets != 1 {
				return nil, fmt.Errorf("%w: object path %s outside an observation expression", errPattern, t.text)
			}
			c, next, err := parseComparison(toks, i)
			if err != nil {
				return nil, err
			}
			c.observation = observation
			out = append(out, c)
			i = next - 1
		}
	}
	if depth != 0 || brackets != 0 {
		return nil, fmt.Errorf("%w: unbalanced brackets", errPattern)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no comparison", errPattern)
	}
	for i := range out {
		out[i].disjoint = disjoint[out[i].observation]
	}
	return out, nil
}

// parseComparison parses the comparison starting with the path at toks[i]
// and returns it and the index of the token after it.
func parseComparison(toks []token, i int) (comparison, int, error) {
	objType, path, ok := strings.Cut(toks[i].text, ":")
	if !ok || objType == "" || path == "" {
		return comparison{}, 0, fmt.Errorf("%w: object path %q", errPattern, toks[i].text)
	}
	c := comparison{objectType: objType, path: unquotePath(path)}
	i++
	if i < len(toks) && toks[i].kind == tokWord && strings.EqualFold(toks[i].text, "NOT") {
		c.negated = true
		i++
	}
	if i >= len(toks) || (toks[i].kind != tokOp && toks[i].kind != tokWord) {
		return comparison{}, 0, fmt.Errorf("%w: no operator after %s", errPattern, toks[i-1].text)
	}
	c.op = strings.ToUpper(toks[i].text)
	if !comparisonOperators[c.op] {
		return comparison{}, 0, fmt.Errorf("%w: %q is no comparison operator", errPattern, toks[i].text)
	}
	i++
	if i < len(toks) && toks[i].kind == tokPunct && toks[i].text == "(" {
		// A set: ( value, value, ... ).
		i++
		for ; i < len(toks); i++ {
			switch t := toks[i]; {
			case t.kind == tokPunct && t.text == ")":
				return c, i + 1, nil
			case t.kind == tokPunct && t.text == ",":
			case t.kind == tokString || t.kind == tokNumber || t.kind == tokWord:
				c.values = append(c.values, t.text)
			default:
				return comparison{}, 0, fmt.Errorf("%w: %q in a set", errPattern, t.text)
			}
		}
		return comparison{}, 0, fmt.Errorf("%w: unterminated set", errPattern)
	}
	if i >= len(toks) {
		return comparison{}, 0, fmt.Errorf("%w: no value after %s", errPattern, c.op)
	}
	switch t := toks[i]; t.kind {
	case tokString, tokNumber, tokWord:
		c.values = []string{t.text}
	default:
		return comparison{}, 0, fmt.Errorf("%w: %q is not a value", errPattern, t.text)
	}
	return c, i + 1, nil
}

// unquotePath removes the quotes around path components:
// hashes.'SHA-256' → hashes.SHA-256.
func unquotePath(p string) string {
	if !strings.ContainsAny(p, `'"`) {
		return p
	}
	b := make([]byte, 0, len(p))
	for i := 0; i < len(p); i++ {
		if p[i] != '\'' && p[i] != '"' {
			b = append(b, p[i])
		}
	}
	return string(b)
}

type tokenKind uint8

const (
	tokPunct  tokenKind = iota + 1 // [ ] ( ) ,
	tokOp                          // = != < > <= >=
	tokString                      // '...' (also t'...', b'...', h'...')
	tokNumber
	tokWord // AND OR NOT LIKE IN WITHIN SECONDS true false ...
	tokPath // <type>:<path>
)

type token struct {
	kind tokenKind
	text string
}

// lexPattern splits a pattern into tokens.
func lexPattern(p string) ([]token, error) {
	var toks []token
	for i := 0; i < len(p); {
		c := p[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			i++
		case c == '[' || c == ']' || c == '(' || c == ')' || c == ',':
			toks = append(toks, token{tokPunct, string(c)})
			i++
		case c == '=' || c == '!' || c == '<' || c == '>':
			j := i + 1
			if j < len(p) && p[j] == '=' {
				j++
			}
			op := p[i:j]
			if op == "!" {
				return nil, fmt.Errorf("%w: '!' at %d", errPattern, i)
			}
			toks = append(toks, token{tokOp, op})
			i = j
		case c == '\'':
			s, n, err := lexString(p[i:])
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{tokString, s})
			i += n
		case (c == 't' || c == 'b' || c == 'h') && i+1 < len(p) && p[i+1] == '\'':
			s, n, err := lexString(p[i+1:])
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{tokString, s})
			i += 1 + n
		case c == '-' || c == '+' || (c >= '0' && c <= '9'):
			j := i + 1
			for j < len(p) && (p[j] == '.' || p[j] == 'e' || p[j] == 'E' || (p[j] >= '0' && p[j] <= '9')) {
				j++
			}
			toks = append(toks, token{tokNumber, p[i:j]})
			i = j
		case isWordByte(c):
			w, err := lexWord(p[i:])
			if err != nil {
				return nil, fmt.Errorf("%w at %d", err, i)
			}
			if strings.Contains(w, ":") {
				toks = append(toks, token{tokPath, w})
			} else {
				toks = append(toks, token{tokWord, w})
			}
			i += len(w)
		default:
			return nil, fmt.Errorf("%w: unexpected %q at %d", errPattern, c, i)
		}
	}
	return toks, nil
}

// lexWord reads a keyword or an object path such as
// file:hashes.'SHA-256' or network-traffic:dst_ref[0].value.
func lexWord(p string) (string, error) {
	j, open, isPath := 0, 0, false
	for j < len(p) {
		b := p[j]
		switch {
		case isWordByte(b) || b == '.' || b == '*':
		case b == ':' && !isPath:
			isPath = true
		case b == '\'' && isPath && j > 0 && p[j-1] == '.':
			k := strings.IndexByte(p[j+1:], '\'')
			if k < 0 {
				return "", fmt.Errorf("%w: unterminated quote in path", errPattern)
			}
			j += k + 2
			continue
		case b == '[' && isPath:
			open++
		case b == ']' && open > 0:
			open--
		default:
			return p[:j], nil
		}
		j++
	}
	return p, nil
}

func isWordByte(b byte) bool {
	return b == '_' || b == '-' || b < 0x80 && (unicode.IsLetter(rune(b)) || unicode.IsDigit(rune(b)))
}

// lexString reads a quoted pattern string that starts at s[0] (a quote) and
// returns its value (\' and \\ unescaped) and length.
func lexString(s string) (string, int, error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 >= len(s) {
				return "", 0, fmt.Errorf("%w: unterminated string", errPattern)
			}
			i++
			b.WriteByte(s[i])
		case '\'':
			return b.String(), i + 1, nil
		default:
			b.WriteByte(s[i])
		}
	}
	return "", 0, fmt.Errorf("%w: unterminated string", errPattern)
}

// patternObservables returns the observable nodes a STIX pattern compares
// for equality (= or IN, not negated): addresses, domains, URLs, e-mail
// addresses, MAC addresses, mutexes, directories, registry keys,
// autonomous systems, file or artifact hashes (as hash nodes; also a hash
// of what a reference names, process:binary_ref.hashes.MD5:
// refHashAlgorithm), certificate
// fingerprints (the x509-certificate node; one node for the fingerprints
// and serial number of one certificate: describedCertificates), and file names when the
// pattern compares no valid file hash (a file node with that name, as a
// MISP filename attribute gives). Values reached through a reference (network-traffic:dst_ref.value,
// domain-name:resolves_to_refs[*].value, email-message:from_ref.value) are
// typed by their form; an email message's Reply-To header
// (additional_header_fields.reply_to, as misp-stix writes it) is an
// e-mail address. A compared value that is no observable of its kind
// (a SHA-256 that is not 64 hex digits, an ipv4-addr that is no address:
// graph's normalisers say) gives no node; it is returned in invalid, for a
// warning (the pattern itself stays in the indicator's props).
func patternObservables(pattern string) (out []graph.Node, invalid []invalidValue, err error) {
	cmps, err := patternComparisons(pattern)
	if err != nil {
		return nil, nil, err
	}
	out, invalid = comparedObservables(cmps, map[string]bool{})
	return out, invalid, nil
}

// comparedObservables is patternObservables over the comparisons cmps,
// leaving out the nodes seen holds (by id), which it adds to.
func comparedObservables(cmps []comparison, seen map[string]bool) (out []graph.Node, invalid []invalidValue) {
	fileHashed := false
	for _, c := range cmps {
		// Only a hash the pattern gives a node for (= or IN, not negated)
		// stands in for the file: [file:name = 'x' AND file:hashes.MD5 !=
		// '…'] names the file by its name.
		if c.objectType == "file" && strings.HasPrefix(c.path, "hashes.") && !c.negated && (c.op == "=" || c.op == "IN") {
			for _, v := range c.values {
				if _, _, err := graph.NormalizeHash(strings.TrimPrefix(c.path, "hashes."), v); err == nil {
					fileHashed = true
				}
			}
		}
	}
	certs, certOf := describedCertificates(cmps)
	for i, c := range cmps {
		if c.negated || (c.op != "=" && c.op != "IN") {
			continue
		}
		if cert, ok := certOf[i]; ok {
			// One certificate, described by several of its properties.
			if n := certs[cert]; !seen[n.ID.String()] {
				seen[n.ID.String()] = true
				out = append(out, n)
			}
			continue
		}
		for _, v := range c.values {
			n, ok, bad := comparedObservable(c.objectType, c.path, v)
			if bad != nil {
				invalid = append(invalid, invalidValue{path: c.objectType + ":" + c.path, value: v, err: bad})
				continue
			}
			if !ok && !fileHashed && c.objectType == "file" && c.path == "name" {
				n, ok = fileNameNode(v)
			}
			if !ok || seen[n.ID.String()] {
				continue
			}
			seen[n.ID.String()] = true
			out = append(out, n)
		}
	}
	return out, invalid
}

// describedCertificates returns the certificates the observation
// expressions of cmps describe by two fingerprints or more, or by a
// fingerprint and a serial number, joined by AND alone
// ([x509-certificate:hashes.MD5 = '…' AND x509-certificate:hashes.'SHA-1'
// = '…' AND x509-certificate:serial_number = '…'], as misp-stix writes a
// MISP x509 object): that one certificate, the node a STIX
// x509-certificate object with those hashes and serial number is
// (graph.CertificateNode), and for each comparison (by index) that makes it
// up, the certificate's index. Only = (or IN of one value), not negated,
// and valid fingerprints count; an observation expression with an OR
// between its comparisons, or one giving an algorithm or the serial number
// two values, describes no one certificate, and its fingerprints are one
// certificate each, as a single fingerprint is (comparedObservable). Other
// comparisons of the certificate (issuer, subject) give nothing: they are
// no part of its key.
func describedCertificates(cmps []comparison) ([]graph.Node, map[int]int) {
	type described struct {
		hashes   map[string]string
		serial   string
		conflict bool
		cmps     []int
	}
	var byObs map[int]*described
	var order []int
	for i, c := range cmps {
		if c.objectType != "x509-certificate" || c.disjoint || c.negated || len(c.values) != 1 || (c.op != "=" && c.op != "IN") {
			continue
		}
		alg, isHash := strings.CutPrefix(c.path, "hashes.")
		if !isHash && c.path != "serial_number" {
			continue
		}
		if byObs == nil {
			byObs = map[int]*described{}
		}
		d := byObs[c.observation]
		if d == nil {
			d = &described{hashes: map[string]string{}}
			byObs[c.observation] = d
			order = append(order, c.observation)
		}
		v := strings.TrimSpace(c.values[0])
		if !isHash {
			if v == "" || len(v) > graph.MaxValueBytes {
				continue
			}
			if d.serial != "" && d.serial != v {
				d.conflict = true
			}
			d.serial = v
			d.cmps = append(d.cmps, i)
			continue
		}
		a, h, err := graph.NormalizeHash(alg, strings.ReplaceAll(v, ":", ""))
		if alg == "" || err != nil {
			continue // said as invalid by comparedObservable
		}
		if old, ok := d.hashes[a]; ok && old != h {
			d.conflict = true
		}
		d.hashes[a] = h
		d.cmps = append(d.cmps, i)
	}
	var certs []graph.Node
	var certOf map[int]int
	for _, obs := range order {
		d := byObs[obs]
		if d.conflict || len(d.hashes) == 0 || (len(d.hashes) < 2 && d.serial == "") {
			continue
		}
		n, ok := graph.CertificateNode(d.hashes, d.serial)
		if !ok {
			continue
		}
		if certOf == nil {
			certOf = map[int]int{}
		}
		for _, i := range d.cmps {
			certOf[i] = len(certs)
		}
		certs = append(certs, n)
	}
	return certs, certOf
}

// patternGraph is what an indicator's STIX pattern says: the nodes the
// indicator is based on and the links between them (has-hash). It is
// patternObservables, plus the file an observation expression describes
// by its name and a hash, or by hashes of two algorithms or more, with AND
// alone ([(file:name = '123.ps1') AND file:hashes.'SHA-256' = '…'], CISA's
// AIS; misp-stix's filename|sha256 and file objects): that one file, the
// node those name and hashes key (graph.FileNode, as a STIX file object or
// a MISP filename|sha256 or file object with them gives), linked has-hash
// to each of its hash nodes, which the indicator stays based on too (as a
// MISP event's own indicator of the object is: PatternObservables). Only =
// (or IN of one value), not negated, and valid hashes count; an
// observation expression with an OR between its comparisons, or one giving
// a file two names or an algorithm two values, describes no one file.
// Other comparisons of the file (file:size) give nothing, as before: they
// are no part of its key.
func patternGraph(pattern string) (based []graph.Node, rels []graph.Relation, invalid []invalidValue, err error) {
	cmps, err := patternComparisons(pattern)
	if err != nil {
		return nil, nil, nil, err
	}
	type described struct {
		name     string
		hashes   map[string]string
		conflict bool
	}
	files := map[int]*described{}
	var order []int
	for _, c := range cmps {
		if c.objectType != "file" || c.disjoint || c.negated || len(c.values) != 1 || (c.op != "=" && c.op != "IN") {
			continue
		}
		d := files[c.observation]
		if d == nil {
			d = &described{hashes: map[string]string{}}
			files[c.observation] = d
			order = append(order, c.observation)
		}
		v := strings.TrimSpace(c.values[0])
		switch alg, isHash := strings.CutPrefix(c.path, "hashes."); {
		case c.path == "name":
			if v == "" || len(v) > graph.MaxValueBytes {
				continue
			}
			if d.name != "" && d.name != v {
				d.conflict = true
			}
			d.name = v
		case isHash && alg != "":
			a, h, err := graph.NormalizeHash(alg, v)
			if err != nil {
				continue // said as invalid by comparedObservables
			}
			if old, ok := d.hashes[a]; ok && old != h {
				d.conflict = true
			}
			d.hashes[a] = h
		}
	}
	seen := map[string]bool{}
	for _, obs := range order {
		d := files[obs]
		if d.conflict || len(d.hashes) == 0 || (d.name == "" && len(d.hashes) < 2) {
			continue
		}
		f, _, hr := graph.FileNode(d.hashes, d.name)
		if f.Kind == "" || seen[f.ID.String()] {
			continue
		}
		seen[f.ID.String()] = true
		based = append(based, f)
		rels = append(rels, hr...)
	}
	// The comparisons as patternObservables reads them: the hashes too.
	obs, invalid := comparedObservables(cmps, seen)
	based = append(based, obs...)
	// A certificate has-hash its fingerprints, as a file its hashes
	// (graph.CertificateFingerprints), which the indicator is based on
	// too: a certificate of one fingerprint and one of two meet there.
	for _, ob := range obs {
		if ob.Kind != graph.KindX509Certificate {
			continue
		}
		hashes, hr := graph.CertificateFingerprints(ob)
		for _, h := range hashes {
			if !seen[h.ID.String()] {
				seen[h.ID.String()] = true
				based = append(based, h)
			}
		}
		rels = append(rels, hr...)
	}
	return based, rels, invalid, nil
}

// PatternObservables returns the observable nodes a STIX pattern compares
// for equality, as the indicator mapping links them (see the package
// documentation), for loaders of other formats that carry STIX patterns
// (MISP's stix2-pattern attributes). Values that are no observable of
// their kind give no node.
func PatternObservables(pattern string) ([]graph.Node, error) {
	obs, _, err := patternObservables(pattern)
	return obs, err
}

// PatternGraph returns what a STIX pattern says, as the indicator mapping
// links it (patternGraph): the nodes an indicator of the pattern is based
// on — with the one file an observation describes by its name and a hash,
// or by two hashes — and that file's has-hash links to its hash nodes. It
// is the rule for loaders of other formats that write or carry STIX
// patterns (MISP's to_ids attributes and objects, stix2-pattern
// attributes), so an indicator gives the same graph from either format.
func PatternGraph(pattern string) ([]graph.Node, []graph.Relation, error) {
	based, has, _, err := patternGraph(pattern)
	return based, has, err
}

// invalidValue is a value a pattern compares that is no observable of its
// kind.
type invalidValue struct {
	path, value string
	err         error
}

// comparedObservable returns the node of an observable compared as
// objectType:path = value, false when the comparison names none, or the
// error of a value that is no observable of the kind it is compared as.
func comparedObservable(objectType, path, value string) (graph.Node, bool, error) {
	value = strings.TrimSpace(value)
	if value == "" {
		return graph.Node{}, false, nil
	}
	if k, ok := graph.ProducerObservableKind(objectType); ok {
		objectType = string(k) // [hostname:value = …] (OpenCTI) is a domain-name
	}
	switch objectType {
	case "ipv4-addr", "ipv6-addr":
		if path == "value" {
			// Either family: an IPv4-mapped IPv6 address compared as an
			// ipv6-addr is an address, keyed as ValueNode keys it.
			if _, _, err := graph.NormalizeIP(value); err != nil {
				return graph.Node{}, false, err
			}
			return graph.ValueNode(graph.Kind(objectType), value), true, nil
		}
	case "domain-name", "url", "email-addr", "mac-addr", "cryptocurrency-wallet":
		if path == "value" {
			if _, err := graph.NormalizeValue(graph.Kind(objectType), value); err != nil {
				return graph.Node{}, false, err
			}
			return graph.ValueNode(graph.Kind(objectType), value), true, nil
		}
	case "mutex":
		if path == "name" {
			return graph.ValueNode(graph.KindMutex, value), true, nil
		}
	case "directory":
		if path == "path" {
			return graph.ValueNode(graph.KindDirectory, value), true, nil
		}
	case "windows-registry-key":
		if path == "key" {
			n, ok := graph.ObservableNode(objectType, map[string]any{"key": value})
			return n, ok, nil
		}
	case "autonomous-system":
		if path == "number" {
			n, ok := graph.ObservableNode(objectType, map[string]any{"number": asNumber(value)})
			return n, ok, nil
		}
	case "x509-certificate":
		// The certificate by its fingerprint, the node a MISP
		// x509-fingerprint-* attribute gives (colons allowed, as there).
		if alg, ok := strings.CutPrefix(path, "hashes."); ok && alg != "" {
			a, h, err := graph.NormalizeHash(alg, strings.ReplaceAll(value, ":", ""))
			if err != nil {
				return graph.Node{}, false, err
			}
			n, ok := graph.ObservableNode(objectType, map[string]any{"hashes": map[string]any{a: h}})
			n.Name = a + ":" + h
			// Its fingerprint, as a described certificate's props keep
			// them (graph.CertificateNode): its hash node's link.
			n.Props = map[string]any{"hashes": map[string]any{a: h}}
			return n, ok, nil
		}
	case "file", "artifact":
		if alg, ok := strings.CutPrefix(path, "hashes."); ok && alg != "" {
			if _, _, err := graph.NormalizeHash(alg, value); err != nil {
				return graph.Node{}, false, err
			}
			return graph.HashNode(alg, value), true, nil
		}
	}
	if alg, ok := refHashAlgorithm(path); ok {
		// A hash of the file or artifact a reference names: a process's
		// executable ([process:binary_ref.hashes.'SHA-256' = '…'], as
		// stix-shifter and Kestrel write a process hunt; image_ref in
		// STIX 2.1), an e-mail attachment (body_multipart[*].body_raw_ref):
		// the hash node, as file:hashes gives it.
		if _, _, err := graph.NormalizeHash(alg, value); err != nil {
			return graph.Node{}, false, err
		}
		return graph.HashNode(alg, value), true, nil
	}
	if objectType == "email-message" && path == "additional_header_fields.reply_to" {
		// The Reply-To address, as misp-stix writes a MISP
		// email-reply-to (its observable: an email-message whose
		// Reply-To header refers to an email-addr).
		if strings.Contains(value, "@") {
			return graph.ValueNode(graph.KindEmailAddr, value), true, nil
		}
		return graph.Node{}, false, nil
	}
	if strings.HasSuffix(path, "_ref.value") || strings.HasSuffix(path, "_refs[*].value") ||
		strings.Contains(path, "_refs[") && strings.HasSuffix(path, "].value") {
		if objectType == "email-message" {
			if strings.Contains(value, "@") {
				return graph.ValueNode(graph.KindEmailAddr, value), true, nil
			}
			return graph.Node{}, false, nil
		}
		n, ok := addressNode(value)
		return n, ok, nil
	}
	return graph.Node{}, false, nil
}

// refHashAlgorithm returns the algorithm of a path that compares a hash of
// the object a reference names (binary_ref.hashes.SHA-256,
// body_multipart[*].body_raw_ref.hashes.MD5,
// parent_ref.image_ref.hashes.MD5), false for any other path.
func refHashAlgorithm(path string) (string, bool) {
	i := strings.LastIndex(path, ".hashes.")
	if i < 0 || strings.Contains(path[i+len(".hashes."):], ".") {
		return "", false
	}
	ref := path[:i]
	if j := strings.LastIndexByte(ref, '['); j >= 0 && strings.HasSuffix(ref, "]") {
		ref = ref[:j] // a list of references: …_refs[*]
	}
	alg := path[i+len(".hashes."):]
	return alg, alg != "" && (strings.HasSuffix(ref, "_ref") || strings.HasSuffix(ref, "_refs"))
}

// fileNameNode is the file node of a file:name comparison: the file
// observable with that name only.
func fileNameNode(name string) (graph.Node, bool) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > graph.MaxValueBytes {
		return graph.Node{}, false
	}
	f, _, _ := graph.FileNode(nil, name)
	return f, f.Kind != ""
}

// addressNode types a value reached through a reference: an IPv4 or IPv6
// address (or CIDR), else a domain name when it looks like one.
func addressNode(value string) (graph.Node, bool) {
	addr := value
	if p, err := netip.ParsePrefix(value); err == nil {
		addr = p.Addr().String()
	}
	if a, err := netip.ParseAddr(addr); err == nil {
		if a.Is4() {
			return graph.ValueNode(graph.KindIPv4Addr, value), true
		}
		return graph.ValueNode(graph.KindIPv6Addr, value), true
	}
	if strings.Contains(value, ".") && !strings.ContainsAny(value, " /:@") {
		return graph.ValueNode(graph.KindDomainName, value), true
	}
	return graph.Node{}, false
}

// asNumber returns a pattern number literal as a JSON number when it is
// one.
func asNumber(s string) any {
	var f float64
	if _, err := fmt.Sscan(s, &f); err == nil {
		return f
	}
	return s
}
