package stix

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// flowFeeds are feeds describing one flow, 198.51.100.1 → 203.0.113.9:443
// over TCP, each with ids of its own making (random, as many producers
// write them): feed a gives the endpoints before the network-traffic, feed
// b after it, feed c as a bundle inside an array (one record), feed d as
// a STIX 2.0 observed-data embedding them. Feed e gives another flow
// (port 8443) and one to an address it does not carry; feed f the same
// e-mail, its sender's object of a random id, as feed a does; feed g the
// first flow with its protocols in upper case (as MISP's own STIX export
// writes them: ["IP", "TCP", "HTTP"]).
var flowFeeds = map[string]string{
	"a": `{"type": "bundle", "id": "bundle--f1000000-0000-4000-8000-00000000000a", "objects": [
	  {"type": "ipv4-addr", "spec_version": "2.1", "id": "ipv4-addr--f1000000-0000-4000-8000-0000000000a1", "value": "198.51.100.1"},
	  {"type": "ipv4-addr", "spec_version": "2.1", "id": "ipv4-addr--f1000000-0000-4000-8000-0000000000a2", "value": "203.0.113.9"},
	  {"type": "network-traffic", "spec_version": "2.1", "id": "network-traffic--f1000000-0000-4000-8000-0000000000a3",
	   "src_ref": "ipv4-addr--f1000000-0000-4000-8000-0000000000a1", "dst_ref": "ipv4-addr--f1000000-0000-4000-8000-0000000000a2",
	   "dst_port": 443, "protocols": ["ipv4", "tcp"]},
	  {"type": "email-addr", "spec_version": "2.1", "id": "email-addr--f1000000-0000-4000-8000-0000000000a4", "value": "bad@evil.example"},
	  {"type": "email-message", "spec_version": "2.1", "id": "email-message--f1000000-0000-4000-8000-0000000000a5", "is_multipart": false,
	   "from_ref": "email-addr--f1000000-0000-4000-8000-0000000000a4", "subject": "invoice"}]}`,
	"b": `{"type": "bundle", "id": "bundle--f1000000-0000-4000-8000-00000000000b", "objects": [
	  {"type": "network-traffic", "spec_version": "2.1", "id": "network-traffic--f1000000-0000-4000-8000-0000000000b3",
	   "src_ref": "ipv4-addr--f1000000-0000-4000-8000-0000000000b1", "dst_ref": "ipv4-addr--f1000000-0000-4000-8000-0000000000b2",
	   "dst_port": 443, "protocols": ["ipv4", "tcp"]},
	  {"type": "ipv4-addr", "spec_version": "2.1", "id": "ipv4-addr--f1000000-0000-4000-8000-0000000000b1", "value": "198.51.100.1"},
	  {"type": "ipv4-addr", "spec_version": "2.1", "id": "ipv4-addr--f1000000-0000-4000-8000-0000000000b2", "value": "203.0.113.9"}]}`,
	"c": `[{"type": "bundle", "id": "bundle--f1000000-0000-4000-8000-00000000000c", "objects": [
	  {"type": "network-traffic", "spec_version": "2.1", "id": "network-traffic--f1000000-0000-4000-8000-0000000000c3",
	   "src_ref": "ipv4-addr--f1000000-0000-4000-8000-0000000000c1", "dst_ref": "ipv4-addr--f1000000-0000-4000-8000-0000000000c2",
	   "dst_port": 443, "protocols": ["ipv4", "tcp"]},
	  {"type": "ipv4-addr", "spec_version": "2.1", "id": "ipv4-addr--f1000000-0000-4000-8000-0000000000c1", "value": "198.51.100.1"},
	  {"type": "ipv4-addr", "spec_version": "2.1", "id": "ipv4-addr--f1000000-0000-4000-8000-0000000000c2", "value": "203.0.113.9"}]}]`,
	"d": `{"type": "bundle", "id": "bundle--f1000000-0000-4000-8000-00000000000d", "spec_version": "2.0", "objects": [
	  {"type": "observed-data", "id": "observed-data--f1000000-0000-4000-8000-0000000000d0",
	   "created": "2024-01-01T00:00:00Z", "modified": "2024-01-01T00:00:00Z",
	   "first_observed": "2024-01-01T00:00:00Z", "last_observed": "2024-01-01T00:00:00Z", "number_observed": 1,
	   "objects": {"0": {"type": "ipv4-addr", "value": "198.51.100.1"}, "1": {"type": "ipv4-addr", "value": "203.0.113.9"},
	     "2": {"type": "network-traffic", "src_ref": "0", "dst_ref": "1", "dst_port": 443, "protocols": ["ipv4", "tcp"]}}}]}`,
	"e": `{"type": "bundle", "id": "bundle--f1000000-0000-4000-8000-00000000000e", "objects": [
	  {"type": "network-traffic", "spec_version": "2.1", "id": "network-traffic--f1000000-0000-4000-8000-0000000000e3",
	   "src_ref": "ipv4-addr--f1000000-0000-4000-8000-0000000000e1", "dst_ref": "ipv4-addr--f1000000-0000-4000-8000-0000000000e2",
	   "dst_port": 8443, "protocols": ["ipv4", "tcp"]},
	  {"type": "network-traffic", "spec_version": "2.1", "id": "network-traffic--f1000000-0000-4000-8000-0000000000e4",
	   "src_ref": "ipv4-addr--f1000000-0000-4000-8000-0000000000e1", "dst_ref": "ipv4-addr--f1000000-0000-4000-8000-0000000000ff",
	   "dst_port": 443, "protocols": ["ipv4", "tcp"]},
	  {"type": "ipv4-addr", "spec_version": "2.1", "id": "ipv4-addr--f1000000-0000-4000-8000-0000000000e1", "value": "198.51.100.1"},
	  {"type": "ipv4-addr", "spec_version": "2.1", "id": "ipv4-addr--f1000000-0000-4000-8000-0000000000e2", "value": "203.0.113.9"}]}`,
	"g": `[{"type": "network-traffic", "spec_version": "2.1", "id": "network-traffic--f1000000-0000-4000-8000-0000000000d3",
	   "src_ref": "ipv4-addr--f1000000-0000-4000-8000-0000000000d1", "dst_ref": "ipv4-addr--f1000000-0000-4000-8000-0000000000d2",
	   "dst_port": 443, "protocols": ["IPv4", "TCP"]},
	  {"type": "ipv4-addr", "spec_version": "2.1", "id": "ipv4-addr--f1000000-0000-4000-8000-0000000000d1", "value": "198.51.100.1"},
	  {"type": "ipv4-addr", "spec_version": "2.1", "id": "ipv4-addr--f1000000-0000-4000-8000-0000000000d2", "value": "203.0.113.9"}]`,
	"f": `{"type": "bundle", "id": "bundle--f1000000-0000-4000-8000-00000000000f", "objects": [
	  {"type": "email-message", "spec_version": "2.1", "id": "email-message--f1000000-0000-4000-8000-0000000000f5", "is_multipart": false,
	   "from_ref": "email-addr--f1000000-0000-4000-8000-0000000000f4", "subject": "invoice"},
	  {"type": "email-addr", "spec_version": "2.1", "id": "email-addr--f1000000-0000-4000-8000-0000000000f4", "value": "bad@Evil.Example"}]}`,
}

// TestOneFlowFromFeedsOfRandomIDsIsOneNode: a network-traffic's STIX 2.1
// deterministic id is over its src_ref and dst_ref among others, and
// producers give the endpoint objects random ids: the key takes what the
// references resolve to (the endpoints' own deterministic ids), in
// whichever order the feed gives the objects, so four feeds of one flow
// (the endpoints before, after, in one nested bundle, embedded in a STIX
// 2.0 observed-data) make one network-traffic node, which every feed's id
// finds and which links to the two address nodes. Another port, or an
// address not given in the feed (keyed by the reference as written), is
// another flow; an e-mail message from one sender, written with ids of
// two producers' making, is one message. Before, each feed made its own
// node: five network-traffic nodes for two flows and a stray, two
// e-mail messages.
func TestOneFlowFromFeedsOfRandomIDsIsOneNode(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	st := store.NewStore(pool, store.WithLogger(quietLogger))
	for _, feed := range []string{"a", "b", "c", "d", "e", "f", "g"} {
		loadFeed(t, st, feed, flowFeeds[feed])
	}
	_, err := st.ReleasePending(ctx)
	require.NoError(t, err)
	count := func(kind string) int {
		var n int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM nodes WHERE kind = $1`, kind).Scan(&n))
		return n
	}
	require.Equal(t, 3, count("network-traffic"), "one flow from four feeds, another port, another address")
	require.Equal(t, 1, count("email-message"))
	flow, err := st.ResolveNode(ctx, "network-traffic--f1000000-0000-4000-8000-0000000000a3")
	require.NoError(t, err)
	for _, id := range []string{"network-traffic--f1000000-0000-4000-8000-0000000000b3", "network-traffic--f1000000-0000-4000-8000-0000000000c3"} {
		n, err := st.ResolveNode(ctx, id)
		require.NoError(t, err)
		require.Equal(t, flow.ID, n.ID, id)
	}
	rows, err := pool.Query(ctx, `SELECT r.relation || ' ' || d.key FROM relations r JOIN nodes d ON d.id = r.dst_id
		WHERE r.src_id = $1 ORDER BY 1`, flow.ID)
	require.NoError(t, err)
	links, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, []string{"dst 203.0.113.9", "src 198.51.100.1"}, links)
	var sources []string
	require.NoError(t, pool.QueryRow(ctx, `SELECT sources FROM nodes WHERE id = $1`, flow.ID).Scan(&sources))
	require.ElementsMatch(t, []string{"a", "b", "c", "d", "g"}, sources)
	var pending int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pending_relations`).Scan(&pending))
	require.Equal(t, 1, pending, "feed e's reference to an address it does not give waits")
}

// TestHeldFlowIsWrittenWhenTheFeedIsCut: a network-traffic read before
// the objects it names waits for them; a feed cut short by a syntax error
// after it still writes it (keyed by the references as written), as it
// writes every record before the error.
func TestHeldFlowIsWrittenWhenTheFeedIsCut(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	st := store.NewStore(pool, store.WithLogger(quietLogger))
	cut := `[{"type": "network-traffic", "spec_version": "2.1", "id": "network-traffic--f1000000-0000-4000-8000-0000000000b3",
	   "src_ref": "ipv4-addr--f1000000-0000-4000-8000-0000000000b1", "dst_ref": "ipv4-addr--f1000000-0000-4000-8000-0000000000b2",
	   "dst_port": 443, "protocols": ["ipv4", "tcp"]},
	  {"type": "ipv4-addr", "spec_version": "2.1", "id": "ipv4-addr--f1000000-0000-4000-8000-0000000000b1", "value": "198.51.100.1"},
	  {"type": "ipv4-addr", "value": `
	_, err := Load(ctx, strings.NewReader(cut), st, Options{Feed: "cut", Logger: quietLogger})
	require.Error(t, err)
	n, err := st.ResolveNode(ctx, "network-traffic--f1000000-0000-4000-8000-0000000000b3")
	require.NoError(t, err, "the held network-traffic is written")
	require.Contains(t, n.Key, `"src_ref":"ipv4-addr--`)
	require.NotContains(t, n.Key, "f1000000-0000-4000-8000-0000000000b1", "the source address given is resolved")
	require.Contains(t, n.Key, "f1000000-0000-4000-8000-0000000000b2", "the one never given stays as written")
}

// TestFlowTimesAndPortsAsWrittenAreOneFlow: one flow, example.com:5525 →
// 198.49.123.10:80, as three producers write it. The STIX elevator
// (testdata/excerpts/elevator-network-connection.json) gives its start in
// microseconds ("2011-08-05T07:14:55.000000Z"); feed "ms" in milliseconds,
// as JavaScript's toISOString writes every time (OpenCTI's exports), with
// its ports as strings of digits ("5525", "80"), and ids of its own
// making; feed "s" in whole seconds, as python-stix2 formats a time of no
// fraction, its start with an offset ("+00:00"). start is a timestamp
// (STIX 2.1 section 3.2: any sub-second precision, one instant) and the
// ports integers (section 6.12.1; python-stix2 reads "443" as 443), so
// the three are one network-traffic node, found by every feed's id. Before,
// each keyed the start and ports as written: three nodes.
func TestFlowTimesAndPortsAsWrittenAreOneFlow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	st := store.NewStore(pool, store.WithLogger(quietLogger))
	loadExcerpt(t, st, "elevator", "elevator-network-connection.json")
	flow := func(id, start, srcPort, dstPort string) string {
		return `{"type": "bundle", "id": "bundle--f2000000-0000-4000-8000-0000000000` + id + `", "objects": [
		  {"type": "network-traffic", "spec_version": "2.1", "id": "network-traffic--f2000000-0000-4000-8000-0000000000` + id + `",
		   "start": "` + start + `", "src_ref": "domain-name--f2000000-0000-4000-8000-0000000001` + id + `",
		   "dst_ref": "ipv4-addr--f2000000-0000-4000-8000-0000000002` + id + `", "src_port": ` + srcPort + `, "dst_port": ` + dstPort + `,
		   "protocols": ["ipv4", "udp", "dccp", "tcp", "https"],
		   "extensions": {"http-request-ext": {"message_body_data_ref": "artifact--f2000000-0000-4000-8000-0000000003` + id + `",
		     "message_body_length": 200, "request_method": "get", "request_value": "/download.html", "request_version": "http/1.1",
		     "request_header": {"Accept": "text/plain", "Accept-Charset": "utf-8", "Accept-Datetime": "Thu, 31 May 2007 20:35:00 GMT",
		       "Accept-Encoding": "gzip, deflate", "Authorization": "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", "Cache-Control": "no-cache",
		       "Connection": "close", "Cookie": "PHPSESSID=r2t5uvjq435r4q7ib3vtdjq120",
		       "User-Agent": "Mozilla/5.0 (Windows; U; Windows NT 5.1; en-US; rv:1.6) Gecko/20040113"}}}},
		  {"type": "domain-name", "spec_version": "2.1", "id": "domain-name--f2000000-0000-4000-8000-0000000001` + id + `", "value": "example.com"},
		  {"type": "ipv4-addr", "spec_version": "2.1", "id": "ipv4-addr--f2000000-0000-4000-8000-0000000002` + id + `", "value": "198.49.123.10"},
		  {"type": "artifact", "spec_version": "2.1", "id": "artifact--f2000000-0000-4000-8000-0000000003` + id + `",
		   "payload_bin": "YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFh"}]}`
	}
	loadFeed(t, st, "ms", flow("a1", "2011-08-05T07:14:55.000Z", `"5525"`, `"80"`))
	loadFeed(t, st, "s", flow("a2", "2011-08-05T07:14:55+00:00", "5525", "80"))
	rows, err := pool.Query(ctx, `SELECT key FROM nodes WHERE kind = 'network-traffic' ORDER BY key`)
	require.NoError(t, err)
	flows, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Len(t, flows, 1, "one flow from three producers")
	require.Contains(t, flows[0], `"start":"2011-08-05T07:14:55Z"`)
	require.Contains(t, flows[0], `"dst_port":80`)
	one, err := st.ResolveNode(ctx, "network-traffic--bd3a0f50-f1ef-5261-921e-de91a3b89eae")
	require.NoError(t, err)
	for _, id := range []string{"network-traffic--f2000000-0000-4000-8000-0000000000a1", "network-traffic--f2000000-0000-4000-8000-0000000000a2"} {
		n, err := st.ResolveNode(ctx, id)
		require.NoError(t, err)
		require.Equal(t, one.ID, n.ID, id)
	}
}

// TestFileWithExtensionsIsTheFileOfItsHashes: MISP core's STIX export of a
// file object with its pe object (testdata/excerpts/misp-core-pe-file.json:
// file "oui", MD5, SHA-1 and SHA-256, a windows-pebinary-ext with the PE
// header and a section), an indicator whose pattern describes that file by
// name and hashes, and a STIX 2.1 file object of the same name and hashes
// without extensions (as OpenCTI exports a file) are one file node: the
// extensions describe the content the hashes name, and every other source
// (a pattern, a MISP file object, telemetry: graph.FileNode) knows the file
// by its hashes and name. The node keeps the extension in its props, and
// the section's hashes are no hash nodes of the file. Before, STIX's id
// over the extensions made the export's file another node: two "file oui"
// beside the hash. A file known by no hash keeps its extensions in its
// key: two such files of one name and other PE headers stay two.
func TestFileWithExtensionsIsTheFileOfItsHashes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	st := store.NewStore(pool, store.WithLogger(quietLogger))
	loadFeed(t, st, "indicator", `{"type": "bundle", "id": "bundle--f3000000-0000-4000-8000-000000000001", "objects": [
	  {"type": "indicator", "spec_version": "2.1", "id": "indicator--f3000000-0000-4000-8000-000000000002",
	   "created": "2024-01-01T00:00:00Z", "modified": "2024-01-01T00:00:00Z", "valid_from": "2024-01-01T00:00:00Z", "pattern_type": "stix",
	   "pattern": "[file:name = 'oui' AND file:hashes.MD5 = 'b2a5abfeef9e36964281a31e17b57c97' AND file:hashes.'SHA-256' = '3a3468fa89b2ab7cbfe5400858a8ec0066e9e8defa9a64c993b5f24210244df8']"}]}`)
	loadExcerpt(t, st, "misp-core", "misp-core-pe-file.json") // after the pattern's file: any order
	loadFeed(t, st, "opencti", `[{"type": "file", "spec_version": "2.1", "id": "file--f3000000-0000-4000-8000-000000000003", "name": "oui",
	   "hashes": {"MD5": "b2a5abfeef9e36964281a31e17b57c97", "SHA-1": "5898fc860300e228dcd54c0b1045b5fa0dcda502",
	     "SHA-256": "3a3468fa89b2ab7cbfe5400858a8ec0066e9e8defa9a64c993b5f24210244df8"}}]`)
	loadFeed(t, st, "headers", `[{"type": "file", "spec_version": "2.1", "id": "file--f3000000-0000-4000-8000-000000000004", "name": "setup.exe",
	   "extensions": {"windows-pebinary-ext": {"pe_type": "exe", "number_of_sections": 4}}},
	  {"type": "file", "spec_version": "2.1", "id": "file--f3000000-0000-4000-8000-000000000005", "name": "setup.exe",
	   "extensions": {"windows-pebinary-ext": {"pe_type": "dll", "number_of_sections": 6}}}]`)
	rows, err := pool.Query(ctx, `SELECT f.props ? 'extensions' FROM nodes f
		JOIN relations r ON r.src_id = f.id AND r.relation = 'has-hash'
		JOIN nodes h ON h.id = r.dst_id AND h.key = 'MD5:b2a5abfeef9e36964281a31e17b57c97'
		WHERE f.kind = 'file' AND f.name = 'oui'`)
	require.NoError(t, err)
	files, err := pgx.CollectRows(rows, pgx.RowTo[bool])
	require.NoError(t, err)
	require.Equal(t, []bool{true}, files, "one file oui of that MD5, its extension in its props")
	file, err := st.ResolveNode(ctx, "file--f3000000-0000-4000-8000-000000000003")
	require.NoError(t, err)
	var sections int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM relations r JOIN nodes h ON h.id = r.dst_id
		WHERE r.src_id = $1 AND r.relation = 'has-hash' AND h.key LIKE '%8a2a5fc2ce56b3b04d58539a95390600%'`, file.ID).Scan(&sections))
	require.Zero(t, sections, "a section's hash is no hash of the file")
	var setups int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM nodes WHERE kind = 'file' AND name = 'setup.exe'`).Scan(&setups))
	require.Equal(t, 2, setups, "files known by no hash stay apart by their headers")
}
