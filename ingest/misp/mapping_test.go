package misp

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/engine"
)

// stixNamespace is the STIX 2.1 namespace for deterministic SCO ids,
// written out here so that the test does not lean on graph's copy.
var stixNamespace = uuid.MustParse("00abedb4-aa42-466c-9c01-fed23315a9b7")

// stixID computes a STIX deterministic id from canonical JSON written by
// hand: what any STIX 2.1 producer computes for the same SCO.
func stixID(canonical string) uuid.UUID { return uuid.NewSHA1(stixNamespace, []byte(canonical)) }

// attr is one attribute of a constructed event.
// attr is an attribute not flagged for detection (to_ids false): the
// value's node is the attribute's (idsAttr flags one, an indicator).
func attr(id, typ, value string, extra ...string) string {
	return attrIDS(false, id, typ, value, extra...)
}

// idsAttr is an attribute flagged for detection (to_ids true).
func idsAttr(id, typ, value string, extra ...string) string {
	return attrIDS(true, id, typ, value, extra...)
}

func attrIDS(toIDS bool, id, typ, value string, extra ...string) string {
	b, _ := jsonString(value)
	s := fmt.Sprintf(`{"uuid": %q, "type": %q, "category": "Network activity", "value": %s, "to_ids": %t, "timestamp": "1600000000"`, id, typ, b, toIDS)
	for _, e := range extra {
		s += ", " + e
	}
	return s + "}"
}

func jsonString(s string) (string, error) {
	var buf bytes.Buffer
	buf.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			buf.WriteString(`\"`)
		case '\\':
			buf.WriteString(`\\`)
		default:
			buf.WriteRune(r)
		}
	}
	buf.WriteByte('"')
	return buf.String(), nil
}

// event builds a wrapped MISP event.
func event(id, info string, attrs []string, rest ...string) string {
	s := fmt.Sprintf(`{"Event": {"uuid": %q, "info": %q, "date": "2020-09-13", "timestamp": "1600000000", "Orgc": {"name": "ACME CERT", "uuid": "11111111-2222-4333-8444-555555555555"}, "Attribute": [%s]`,
		id, info, strings.Join(attrs, ",\n"))
	for _, r := range rest {
		s += ", " + r
	}
	return s + "}}"
}

func loadString(t *testing.T, doc string, opts Options) (*engine.Report, *captureSink, error) {
	t.Helper()
	sink := &captureSink{}
	if opts.Tally == nil {
		opts.Tally = &Tally{}
	}
	rep, err := LoadFile(context.Background(), strings.NewReader(doc), sink, opts)
	return rep, sink, err
}

func u(n int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }

const (
	sha256a = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"
	md5a    = "D41D8CD98F00B204E9800998ECF8427E"
)

func TestAttributeMapping(t *testing.T) {
	t.Parallel()
	lower := strings.ToLower
	cases := []struct {
		typ, value string
		kind       graph.Kind
		key        string
		id         uuid.UUID // the STIX deterministic id, when the kind has one
		props      map[string]any
	}{
		{"ip-dst", "198.51.100.7", graph.KindIPv4Addr, "198.51.100.7", stixID(`{"value":"198.51.100.7"}`), nil},
		{"ip-src", "2001:DB8:0:0::1", graph.KindIPv6Addr, "2001:db8::1", stixID(`{"value":"2001:db8::1"}`), nil},
		{"ip-dst", "10.0.0.0/8", graph.KindIPv4Addr, "10.0.0.0/8", stixID(`{"value":"10.0.0.0/8"}`), nil},
		{"ip-dst|port", "198.51.100.8|443", graph.KindIPv4Addr, "198.51.100.8", stixID(`{"value":"198.51.100.8"}`), map[string]any{"port": 443}},
		{"domain", "Evil.Example.COM.", graph.KindDomainName, "evil.example.com", stixID(`{"value":"evil.example.com"}`), nil},
		{"hostname", "www.circl.lu", graph.KindDomainName, "www.circl.lu", stixID(`{"value":"www.circl.lu"}`), nil},
		{"hostname|port", "c2.example.net|8080", graph.KindDomainName, "c2.example.net", stixID(`{"value":"c2.example.net"}`), map[string]any{"port": 8080}},
		{"url", "https://www.circl.lu/team", graph.KindURL, "https://www.circl.lu/team", stixID(`{"value":"https://www.circl.lu/team"}`), nil},
		{"link", "https://blog.example.org/report", KindAttribute, "x-misp-attribute--" + u(100+8), uuid.Nil, map[string]any{"value": "https://blog.example.org/report"}},
		{"email-src", "Alice@Example.COM", graph.KindEmailAddr, "Alice@example.com", stixID(`{"value":"Alice@example.com"}`), nil},
		{"md5", md5a, graph.KindHash, "MD5:" + lower(md5a), graph.NamedID(graph.KindHash, "MD5:"+lower(md5a)), nil},
		{"sha256", sha256a, graph.KindHash, "SHA-256:" + lower(sha256a), graph.NamedID(graph.KindHash, "SHA-256:"+lower(sha256a)), nil},
		{"filename|sha256", "a.exe|" + sha256a, graph.KindFile, "", stixID(`{"hashes":{"SHA-256":"` + lower(sha256a) + `"},"name":"a.exe"}`), nil},
		{"malware-sample", "b.exe|" + md5a, graph.KindFile, "", stixID(`{"hashes":{"MD5":"` + lower(md5a) + `"},"name":"b.exe"}`), nil},
		{"filename", "evil.exe", graph.KindFile, "evil.exe", stixID(`{"name":"evil.exe"}`), nil},
		{"mutex", "Global\\evil", graph.KindMutex, "Global\\evil", stixID(`{"name":"Global\\evil"}`), nil},
		{"regkey", `HKLM\Software\Run`, graph.KindWindowsRegistryKey, `HKEY_LOCAL_MACHINE\SOFTWARE\RUN`, stixID(`{"key":"HKEY_LOCAL_MACHINE\\SOFTWARE\\RUN"}`), nil},
		{"regkey|value", `HKLM\Software\Run2|C:\evil.exe`, graph.KindWindowsRegistryKey, "", stixID(`{"key":"HKEY_LOCAL_MACHINE\\SOFTWARE\\RUN2"}`), map[string]any{"registry_value": `C:\evil.exe`}},
		{"mac-address", "5E:FF:56:A2:AF:15", graph.KindMACAddr, "5e:ff:56:a2:af:15", stixID(`{"value":"5e:ff:56:a2:af:15"}`), nil},
		{"AS", "AS174", graph.KindAutonomousSystem, `{"number":174}`, stixID(`{"number":174}`), nil},
		{"x509-fingerprint-sha1", "FA:3D:5D:67:0D:C1:D1:53:B9:99:C3:AE:C7:B1:D8:15:CC:33:C4:DC", graph.KindX509Certificate, "", stixID(`{"hashes":{"SHA-1":"fa3d5d670dc1d153b999c3aec7b1d815cc33c4dc"}}`), nil},
		{"vulnerability", "cve-2021-44228", graph.KindVulnerability, "CVE-2021-44228", graph.NamedID(graph.KindVulnerability, "CVE-2021-44228"), nil},
		{"threat-actor", " Sofacy ", graph.KindThreatActor, "sofacy", graph.NamedID(graph.KindIntrusionSet, "sofacy"), nil},
		{"yara", "rule x { condition: true }", graph.KindIndicator, "indicator--" + u(100+23), uuid.Nil, map[string]any{"pattern_type": "yara"}},
		{"text", "free text", KindAttribute, "x-misp-attribute--" + u(100+24), uuid.Nil, map[string]any{"value": "free text"}},
		{"made-up-type", "kept anyway", KindAttribute, "x-misp-attribute--" + u(100+25), uuid.Nil, map[string]any{"value": "kept anyway", "misp_type": "made-up-type"}},
	}
	var attrs []string
	for i, c := range cases {
		attrs = append(attrs, attr(u(100+i), c.typ, c.value))
	}
	evID := u(1)
	rep, sink, err := loadString(t, event(evID, "mapping", attrs), quiet(nil))
	require.NoError(t, err)
	requireBalanced(t, rep)
	require.Empty(t, rep.Dropped)
	requireNodesValid(t, sink)
	ev, ok := sink.byAlias(alias(evID))
	require.True(t, ok)
	for i, c := range cases {
		t.Run(c.typ, func(t *testing.T) {
			n, ok := sink.byAlias(alias(u(100 + i)))
			require.True(t, ok, "no node has the attribute's alias")
			require.Equal(t, c.kind, n.Kind)
			if c.key != "" {
				require.Equal(t, c.key, n.Key)
			}
			if c.id != uuid.Nil {
				want := c.id
				if c.kind.IsObservable() {
					// Observable node ids derive from the STIX id, type included.
					want = graph.ObservableID(c.kind, c.id)
				}
				require.Equal(t, want, n.ID, "id")
			}
			rel, ok := findRelation(sink, ev.Ref(), RelObject, n.Ref())
			require.True(t, ok, "event -object-> attribute node")
			details, ok := rel.Props[u(100+i)].(map[string]any)
			require.True(t, ok, "the link holds the attribute's details under its uuid: %v", rel.Props)
			require.Equal(t, c.typ, details["misp_type"])
			require.Equal(t, false, details["to_ids"])
			require.Equal(t, "Network activity", details["misp_category"])
			for k, v := range c.props {
				if n.Kind == KindAttribute || n.Kind == graph.KindIndicator {
					require.Equal(t, v, n.Props[k], "node prop %s", k)
				} else {
					require.Equal(t, v, details[k], "link prop %s", k)
				}
			}
			if n.Kind != KindAttribute && n.Kind != graph.KindIndicator {
				require.Nil(t, n.Props["misp_type"], "a shared node carries no attribute details")
			}
			require.Equal(t, []string{"misp"}, rel.Sources)
			require.Equal(t, time.Unix(1600000000, 0).UTC(), rel.LastSeen)
		})
	}
	t.Run("composites", func(t *testing.T) {
		file, _ := sink.byAlias(alias(u(100 + 12)))
		hash := graph.HashNode("SHA-256", sha256a)
		require.True(t, hasRelation(sink, file.Ref(), graph.RelHasHash, hash.Ref()))
		require.Equal(t, "a.exe", file.Name)
	})
	t.Run("creator", func(t *testing.T) {
		org := graph.SourceNode(graph.KindIdentity, "identity--11111111-2222-4333-8444-555555555555")
		n, ok := sink.byID(org.Ref())
		require.True(t, ok)
		require.Equal(t, "ACME CERT", n.Name)
		require.True(t, hasRelation(sink, ev.Ref(), RelCreatedBy, org.Ref()))
	})
}

func TestDomainIP(t *testing.T) {
	t.Parallel()
	_, sink, err := loadString(t, event(u(1), "domain|ip", []string{attr(u(2), "domain|ip", "circl.lu|149.13.33.14")}), quiet(nil))
	require.NoError(t, err)
	d, _ := sink.byAlias(alias(u(2)))
	require.Equal(t, graph.KindDomainName, d.Kind)
	ip := graph.ValueNode(graph.KindIPv4Addr, "149.13.33.14")
	require.True(t, hasRelation(sink, d.Ref(), RelResolvesTo, ip.Ref()))
	_, ok := sink.byID(ip.Ref())
	require.True(t, ok)
}

func hasRelation(sink *captureSink, src graph.Ref, typ string, dst graph.Ref) bool {
	_, ok := findRelation(sink, src, typ, dst)
	return ok
}

func findRelation(sink *captureSink, src graph.Ref, typ string, dst graph.Ref) (graph.Relation, bool) {
	sink.mu.Lock()
	defer sink.mu.Unlock()
	for _, r := range sink.relations {
		if r.Src == src && r.Type == typ && r.Dst == dst {
			return r, true
		}
	}
	return graph.Relation{}, false
}

func TestInvalidValues(t *testing.T) {
	t.Parallel()
	cases := []struct {
		typ, value string
		reason     engine.Reason
	}{
		{"ip-dst", "not-an-ip", ReasonInvalidValue},
		{"ip-src", "198.051.100.7", ReasonInvalidValue},
		{"ip-dst|port", "198.51.100.7|99999", ReasonInvalidValue},
		{"ip-dst|port", "198.51.100.7", ReasonInvalidValue},
		{"domain", "evil domain.com", ReasonInvalidValue},
		{"domain", "a..b", ReasonInvalidValue},
		{"url", "http://a.example/" + strings.Repeat("x", graph.MaxValueBytes), ReasonInvalidValue},
		{"email-dst", "no-at-sign", ReasonInvalidValue},
		{"md5", "abc", ReasonInvalidValue},
		{"sha256", strings.Repeat("z", 64), ReasonInvalidValue},
		{"filename|sha1", "x.exe|" + md5a, ReasonInvalidValue},
		{"mac-address", "5E:FF", ReasonInvalidValue},
		{"AS", "ASX", ReasonInvalidValue},
		{"ssdeep", "nothing", ReasonInvalidValue},
		{"domain", "   ", ReasonMissingValue},
		{"", "198.51.100.7", engine.ReasonMissingType},
	}
	var attrs []string
	for i, c := range cases {
		attrs = append(attrs, attr(u(100+i), c.typ, c.value))
	}
	attrs = append(attrs, attr(u(999), "ip-dst", "198.51.100.9", `"deleted": true`))
	var logs bytes.Buffer
	rep, sink, err := loadString(t, event(u(1), "invalid", attrs), quiet(&logs))
	require.NoError(t, err)
	requireBalanced(t, rep)
	want := map[engine.Reason]int64{ReasonDeleted: 1}
	for _, c := range cases {
		want[c.reason]++
	}
	require.Equal(t, want, rep.Dropped)
	for i := range cases {
		_, ok := sink.byAlias(alias(u(100 + i)))
		require.False(t, ok, "case %d was dropped", i)
	}
	_, ok := sink.byAlias(alias(u(999)))
	require.False(t, ok, "deleted attributes are skipped")
	require.Equal(t, len(cases), strings.Count(logs.String(), `"level":"WARN"`), "one WARN per invalid record, none for the deleted one")
	require.Contains(t, logs.String(), `"msg":"record dropped","feed":"misp"`)
}

// TestThreeMalformedAmongThousand: an event with 1,000 attributes of which
// 3 are malformed loads the 997 and reports the 3 with event uuid,
// attribute uuid and reason.
func TestThreeMalformedAmongThousand(t *testing.T) {
	t.Parallel()
	bad := map[int]engine.Reason{17: ReasonInvalidValue, 500: engine.ReasonMissingType, 998: engine.ReasonInvalidProperty}
	var attrs []string
	for i := range 1000 {
		id := u(10000 + i)
		switch bad[i] {
		case ReasonInvalidValue:
			attrs = append(attrs, attr(id, "ip-dst", "not-an-ip"))
		case engine.ReasonMissingType:
			attrs = append(attrs, fmt.Sprintf(`{"uuid": %q, "value": "198.51.100.1"}`, id))
		case engine.ReasonInvalidProperty:
			attrs = append(attrs, fmt.Sprintf(`{"uuid": %q, "type": "domain", "value": "x.example", "Tag": "not a list"}`, id))
		default:
			switch i % 3 {
			case 0:
				attrs = append(attrs, attr(id, "ip-dst", fmt.Sprintf("10.%d.%d.%d", i/65536, i/256%256, i%256)))
			case 1:
				attrs = append(attrs, attr(id, "domain", fmt.Sprintf("host%d.example.com", i)))
			default:
				attrs = append(attrs, attr(id, "sha256", fmt.Sprintf("%064x", i)))
			}
		}
	}
	evID := u(1)
	var logs bytes.Buffer
	opts := quiet(&logs)
	opts.Workers = 4
	opts.Feed = "thousand"
	tally := &Tally{}
	opts.Tally = tally
	rep, sink, err := loadString(t, event(evID, "thousand", attrs), opts)
	require.NoError(t, err)
	requireBalanced(t, rep)
	require.Equal(t, int64(1000), tally.Attributes)
	require.Equal(t, int64(1001), rep.RecordsRead)
	require.Equal(t, int64(998), rep.RecordsMapped, "997 attributes and the event")
	require.Equal(t, map[engine.Reason]int64{ReasonInvalidValue: 1, engine.ReasonMissingType: 1, engine.ReasonInvalidProperty: 1}, rep.Dropped)
	ev := graph.SourceNode(graph.KindReport, alias(evID))
	loaded := 0
	for i := range 1000 {
		n, ok := sink.byAlias(alias(u(10000 + i)))
		if _, isBad := bad[i]; isBad {
			require.False(t, ok)
			continue
		}
		require.True(t, ok, "attribute %d", i)
		require.True(t, hasRelation(sink, ev.Ref(), RelObject, n.Ref()))
		loaded++
	}
	require.Equal(t, 997, loaded)
	for i, reason := range bad {
		line := findLogWith(t, &logs, u(10000+i))
		require.Equal(t, "WARN", line["level"])
		require.Equal(t, string(reason), line["reason"])
		require.Equal(t, evID, line["event"])
		require.Equal(t, "thousand", line["feed"])
		require.NotZero(t, line["offset"])
	}
}

// findLogWith returns the first log line that mentions s in its uuid or
// error.
func findLogWith(t *testing.T, logs *bytes.Buffer, s string) map[string]any {
	t.Helper()
	for _, raw := range bytes.Split(logs.Bytes(), []byte("\n")) {
		if !bytes.Contains(raw, []byte(s)) {
			continue
		}
		var line map[string]any
		require.NoError(t, jsonUnmarshal(raw, &line))
		return line
	}
	t.Fatalf("no log line mentions %s", s)
	return nil
}

// MISP accepts, and its own forms and modules write, an address and port as
// "198.51.100.9:8443" or "[2001:db8::5]:443" besides "…|443", and an e-mail
// address with a display name ("Evil Sender <evil@bad.example>"). Before,
// each of these attributes was dropped (invalid-value): the address, host or
// sender was lost to every walk.
func TestAttributeValuesInTheFormsMISPAccepts(t *testing.T) {
	t.Parallel()
	cases := []struct {
		typ, value string
		node       graph.Node
		details    map[string]any
	}{
		{"ip-dst|port", "198.51.100.9:8443", graph.ValueNode(graph.KindIPv4Addr, "198.51.100.9"), map[string]any{"port": 8443}},
		{"ip-src|port", "[2001:DB8::5]:443", graph.ValueNode(graph.KindIPv6Addr, "2001:db8::5"), map[string]any{"port": 443}},
		{"ip-dst|port", "2001:db8::6|443", graph.ValueNode(graph.KindIPv6Addr, "2001:db8::6"), map[string]any{"port": 443}},
		{"hostname|port", "c2.example.net:8080", graph.ValueNode(graph.KindDomainName, "c2.example.net"), map[string]any{"port": 8080}},
		{"email-src", "Evil Sender <Evil@Bad.Example>", graph.ValueNode(graph.KindEmailAddr, "Evil@bad.example"), map[string]any{"display_name": "Evil Sender"}},
		{"email-dst", `"Doe, John" <john@example.org>`, graph.ValueNode(graph.KindEmailAddr, "john@example.org"), map[string]any{"display_name": "Doe, John"}},
		{"email", "<jane@example.org>", graph.ValueNode(graph.KindEmailAddr, "jane@example.org"), nil},
	}
	var attrs []string
	for i, c := range cases {
		attrs = append(attrs, attr(u(300+i), c.typ, c.value))
	}
	evID := u(3)
	rep, sink, err := loadString(t, event(evID, "forms", attrs), quiet(nil))
	require.NoError(t, err)
	requireBalanced(t, rep)
	require.Empty(t, rep.Dropped)
	ev, ok := sink.byAlias(alias(evID))
	require.True(t, ok)
	for i, c := range cases {
		n, ok := sink.byAlias(alias(u(300 + i)))
		require.True(t, ok, "%s %q: no node", c.typ, c.value)
		require.Equal(t, c.node.ID, n.ID, "%s %q", c.typ, c.value)
		rel, ok := findRelation(sink, ev.Ref(), RelObject, n.Ref())
		require.True(t, ok)
		details := rel.Props[u(300+i)].(map[string]any)
		for k, v := range c.details {
			require.Equal(t, v, details[k], "%s %q: %s", c.typ, c.value, k)
		}
	}
	// What is no address and port stays a counted drop.
	for _, bad := range []struct{ typ, value string }{
		{"ip-dst|port", "2001:db8::7:443"}, // which colon is the port's?
		{"ip-dst|port", "198.51.100.9:http"},
		{"email-src", "Evil Sender <not an address>"},
	} {
		rep, _, err := loadString(t, event(u(4), "bad", []string{attr(u(400), bad.typ, bad.value)}), quiet(nil))
		require.NoError(t, err)
		require.Equal(t, int64(1), rep.Dropped[ReasonInvalidValue], "%s %q", bad.typ, bad.value)
	}
}

// An attribute search result (MISP's /attributes/restSearch, exported as
// {"response": {"Attribute": [...]}}) names its event in an "Event" member
// (uuid, info) or in event_uuid. Before, such attributes were loaded as
// bare values: no link to the event that reported them, and their details
// (type, to_ids, category, comment), which go on that link, were lost, so
// `intel show 198.51.100.41` could not say where it came from. Now the
// event links to each as an event file's attributes do (the same link,
// keyed by the attribute uuid, so loading the event too changes nothing),
// and the event node is written with its info as name.
func TestAttributeSearchResultsLinkTheirEvent(t *testing.T) {
	t.Parallel()
	doc := `{"response": {"Attribute": [
	 {"id": "1", "event_id": "7", "category": "Network activity", "type": "ip-dst", "to_ids": true, "uuid": "` + u(501) + `", "timestamp": "1600000000",
	  "comment": "C2", "value": "198.51.100.41", "Event": {"org_id": "1", "distribution": "3", "id": "7", "info": "Emotet C2 list", "orgc_id": "1", "uuid": "` + u(500) + `"}},
	 {"id": "2", "event_id": "7", "category": "Network activity", "type": "domain", "to_ids": false, "uuid": "` + u(502) + `", "event_uuid": "` + u(500) + `",
	  "timestamp": "1600000100", "value": "emotet-c2.example"},
	 {"id": "3", "category": "Network activity", "type": "domain", "uuid": "` + u(503) + `", "timestamp": "1600000100", "value": "no-event.example"}
	]}}`
	rep, sink, err := loadString(t, doc, quiet(nil))
	require.NoError(t, err)
	requireBalanced(t, rep)
	require.Empty(t, rep.Dropped)
	ev, ok := sink.byAlias(alias(u(500)))
	require.True(t, ok, "the event node is written")
	require.Equal(t, graph.KindReport, ev.Kind)
	require.Equal(t, "Emotet C2 list", ev.Name)
	for _, c := range []struct {
		attr, typ string
		toIDs     bool
	}{{u(501), "ip-dst", true}, {u(502), "domain", false}} {
		n, ok := sink.byAlias(alias(c.attr))
		require.True(t, ok)
		rel, ok := findRelation(sink, ev.Ref(), RelObject, n.Ref())
		require.True(t, ok, "event -object-> %s", n.Name)
		details := rel.Props[c.attr].(map[string]any)
		require.Equal(t, c.typ, details["misp_type"])
		require.Equal(t, c.toIDs, details["to_ids"])
	}
	require.Equal(t, "C2", mustRelation(t, sink, ev, u(501)).Props[u(501)].(map[string]any)["comment"])
	// The same link as the event file gives.
	_, file, err := loadString(t, event(u(500), "Emotet C2 list", []string{idsAttr(u(501), "ip-dst", "198.51.100.41", `"comment": "C2"`)}), quiet(nil))
	require.NoError(t, err)
	ip, _ := file.byAlias(alias(u(501)))
	fromFile, ok := findRelation(file, ev.Ref(), RelObject, ip.Ref())
	require.True(t, ok)
	require.Equal(t, fromFile.Props, mustRelation(t, sink, ev, u(501)).Props)
}

func mustRelation(t *testing.T, sink *captureSink, ev graph.Node, attr string) graph.Relation {
	t.Helper()
	n, ok := sink.byAlias(alias(attr))
	require.True(t, ok)
	rel, ok := findRelation(sink, ev.Ref(), RelObject, n.Ref())
	require.True(t, ok)
	return rel
}

// An object search result ({"response": [{"Object": …}]}) naming its event
// is linked from it as an attribute search result is.
func TestObjectSearchResultsLinkTheirEvent(t *testing.T) {
	t.Parallel()
	doc := `{"response": [{"Object": {"name": "domain-ip", "meta-category": "network", "uuid": "` + u(511) + `", "timestamp": "1600000000",
	  "event_id": "7", "Event": {"id": "7", "info": "Emotet C2 list", "uuid": "` + u(510) + `"},
	  "Attribute": [` + attr(u(512), "domain", "emotet-c2.example", `"object_relation": "domain"`) + `]}}]}`
	rep, sink, err := loadString(t, doc, quiet(nil))
	require.NoError(t, err)
	requireBalanced(t, rep)
	require.Empty(t, rep.Dropped)
	ev, ok := sink.byAlias(alias(u(510)))
	require.True(t, ok, "the event node is written")
	require.Equal(t, "Emotet C2 list", ev.Name)
	obj, ok := sink.byAlias(alias(u(511)))
	require.True(t, ok)
	require.True(t, hasRelation(sink, ev.Ref(), RelObject, obj.Ref()), "event -object-> the object's node")
}
