package stix

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/ingest/engine"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// TestObservableSpellingsAreOneNode loads testdata/adv/observable-spellings.json:
// one URL written with and without its scheme's default port
// (HTTPS://Evil.Example:443/Gate.php and https://evil.example/Gate.php,
// http://evil.example:80/ and http://evil.example), one autonomous system
// whose number is written 64500, "64500" and "AS64500", an
// IPv4-mapped ipv6-addr beside its ipv4-addr, and one internationalized
// domain written in NFC, in NFD (as macOS writes text) and with a
// full-width letter and an ideographic full stop. RFC 3986 (6.2.3) makes a URL's default port
// the same as none, and STIX 2.1 (6.2) makes an AS number an integer: one
// URL node for each and one AS node, which an indicator's pattern of either
// spelling is based on; another port, a path in another case and http on
// 443 stay URLs of their own; UTS #46, which browsers and resolvers apply
// to a name before looking it up, maps the three domain spellings to one
// name. Before: seven URL nodes, three AS nodes (one keyed "64500", named
// so), three domain nodes (xn--bcher-kva, xn--bucher-xyd,
// xn--cher-zra77610b…), and the mapped address warned of as "not a valid
// ipv6-addr" though it is keyed as the IPv4 address it is.
func TestObservableSpellingsAreOneNode(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	st := store.NewStore(pool, store.WithLogger(quietLogger))
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "testdata", "adv", "observable-spellings.json"))
	require.NoError(t, err)
	logger, logs := newCapture()
	rep, err := Load(ctx, strings.NewReader(string(data)), st, Options{Feed: "spellings", Logger: logger})
	require.NoError(t, err)
	require.Empty(t, rep.Dropped)
	require.Empty(t, rep.PartsDropped)

	keys := func(q string) []string {
		t.Helper()
		rows, err := pool.Query(ctx, q)
		require.NoError(t, err)
		got, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		return got
	}
	require.Equal(t, []string{
		"http://center.g666.org:443/", "http://evil.example/", "https://evil.example/Gate.php",
		"https://evil.example/gate.php", "https://evil.example:8443/Gate.php",
	}, keys(`SELECT key FROM nodes WHERE kind = 'url' ORDER BY 1`))
	require.Equal(t, []string{`{"number":64500} AS64500`},
		keys(`SELECT key || ' ' || name FROM nodes WHERE kind = 'autonomous-system'`))
	require.Equal(t, []string{"198.51.100.7"}, keys(`SELECT key FROM nodes WHERE kind IN ('ipv4-addr', 'ipv6-addr')`))
	require.Equal(t, []string{"xn--bcher-kva.example"}, keys(`SELECT key FROM nodes WHERE kind = 'domain-name'`))

	same := func(a, b string) {
		t.Helper()
		x, err := st.ResolveNode(ctx, a)
		require.NoError(t, err, a)
		y, err := st.ResolveNode(ctx, b)
		require.NoError(t, err, b)
		require.Equal(t, x.ID, y.ID, "%s and %s", a, b)
	}
	same("url--5e320000-0000-4000-8000-000000000001", "url--5e320000-0000-4000-8000-000000000002")
	same("url--5e320000-0000-4000-8000-000000000003", "url--5e320000-0000-4000-8000-000000000004")
	same("autonomous-system--5e320000-0000-4000-8000-000000000008", "autonomous-system--5e320000-0000-4000-8000-000000000009")
	same("autonomous-system--5e320000-0000-4000-8000-000000000010", "autonomous-system--5e320000-0000-4000-8000-000000000009")
	same("ipv6-addr--5e320000-0000-4000-8000-000000000011", "ipv4-addr--5e320000-0000-4000-8000-000000000012")
	same("domain-name--5e320000-0000-4000-8000-000000000015", "domain-name--5e320000-0000-4000-8000-000000000016")
	same("domain-name--5e320000-0000-4000-8000-000000000015", "domain-name--5e320000-0000-4000-8000-000000000017")

	got, _ := graphRelations(t, pool)
	require.Equal(t, []string{"indicator based-on autonomous-system AS64500", "indicator based-on url https://evil.example/Gate.php"}, got)
	for _, r := range logs() {
		require.NotEqual(t, "stix record loaded with a problem", r.msg, "%v", r.attrs)
	}
}

// TestObjectHashOfTheWrongLengthIsACountedDrop: a file object whose MD5 is
// 40 digits (a SHA-1 under the MD5 key, as hand-written and converted feeds
// give it) beside a valid SHA-256 in upper case. The MD5 makes no hash node
// and is counted in the report's parts dropped (invalid-hash), as the same
// value compared in a pattern is (invalid-pattern-value); the file loads,
// has-hash its SHA-256. Before, the drop was a WARN line alone, counted
// nowhere: a report said nothing was lost. The file is keyed by its valid
// hashes alone: the same file from a feed giving its name and SHA-256 is
// one node, as is a file of those two hashes and no name, named by its
// SHA-256. Before, STIX's id took the bad MD5 (MD5 comes first): two file
// nodes, the second named "MD5:3395…".
func TestObjectHashOfTheWrongLengthIsACountedDrop(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	st := store.NewStore(pool, store.WithLogger(quietLogger))
	rep, err := Load(ctx, strings.NewReader(`{"type": "file", "spec_version": "2.1", "id": "file--5e320000-0000-4000-8000-000000000013",
	  "name": "dropper.exe", "hashes": {"MD5": "3395856ce81f2b7382dee72602f798b642f14140",
	  "SHA-256": "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"}}`),
		st, Options{Feed: "bad-md5", Logger: quietLogger})
	require.NoError(t, err)
	require.Empty(t, rep.Dropped)
	require.Equal(t, map[engine.Reason]int64{ReasonInvalidHash: 1}, rep.PartsDropped)
	got, _ := graphRelations(t, pool)
	require.Equal(t, []string{"file has-hash hash SHA-256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}, got)

	loadFeed(t, st, "good-sha256", `[{"type": "file", "spec_version": "2.1", "id": "file--5e320000-0000-4000-8000-000000000014",
	  "name": "dropper.exe", "hashes": {"SHA-256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}},
	  {"type": "file", "spec_version": "2.1", "id": "file--5e320000-0000-4000-8000-000000000015",
	  "hashes": {"MD5": "3395856ce81f2b7382dee72602f798b642f14140", "SHA-256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}}]`)
	bad, err := st.ResolveNode(ctx, "file--5e320000-0000-4000-8000-000000000013")
	require.NoError(t, err)
	good, err := st.ResolveNode(ctx, "file--5e320000-0000-4000-8000-000000000014")
	require.NoError(t, err)
	require.Equal(t, good.ID, bad.ID, "one file: keyed by its valid hash and name")
	nameless, err := st.ResolveNode(ctx, "file--5e320000-0000-4000-8000-000000000015")
	require.NoError(t, err)
	require.Equal(t, "SHA-256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", nameless.Name)
}

// TestCertificateSpellingsAreOneNode: one certificate's SHA-1 fingerprint
// written as openssl prints it (AB:AB:…, upper case, colons) in one
// x509-certificate object and as bare hex in another, and an indicator
// comparing the colon spelling; one serial number written 0A:1B:2C and
// 0a:1b:2c (STIX 2.1's own example, 6.17, writes serials as colon-separated
// hex, and hex has no case). Each is one certificate node, which both
// objects' ids find; a decimal serial keeps its digits. Before, the object
// with colons was a certificate of its own (keyed "ab:ab:…", the pattern's
// and the bare object's keyed "abab…"), met only at the hash node, and the
// two serials were two certificates.
func TestCertificateSpellingsAreOneNode(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	st := store.NewStore(pool, store.WithLogger(quietLogger))
	colons := strings.TrimSuffix(strings.Repeat("AB:", 20), ":")
	loadFeed(t, st, "certs", bundle(
		`{"type": "x509-certificate", "spec_version": "2.1", "id": "x509-certificate--5e320000-0000-4000-8000-000000000021", "hashes": {"SHA-1": "`+colons+`"}}`,
		`{"type": "x509-certificate", "spec_version": "2.1", "id": "x509-certificate--5e320000-0000-4000-8000-000000000022", "hashes": {"SHA-1": "`+strings.Repeat("ab", 20)+`"}}`,
		`{"type": "indicator", "spec_version": "2.1", "id": "indicator--5e320000-0000-4000-8000-000000000023", "created": "2024-03-01T00:00:00Z",
		  "modified": "2024-03-01T00:00:00Z", "valid_from": "2024-03-01T00:00:00Z", "pattern_type": "stix",
		  "pattern": "[x509-certificate:hashes.'SHA-1' = '`+colons+`']"}`,
		`{"type": "x509-certificate", "spec_version": "2.1", "id": "x509-certificate--5e320000-0000-4000-8000-000000000024", "serial_number": "0A:1B:2C"}`,
		`{"type": "x509-certificate", "spec_version": "2.1", "id": "x509-certificate--5e320000-0000-4000-8000-000000000025", "serial_number": "0a:1b:2c"}`,
		`{"type": "x509-certificate", "spec_version": "2.1", "id": "x509-certificate--5e320000-0000-4000-8000-000000000026", "serial_number": "1234567890"}`,
	))
	rows, err := pool.Query(ctx, `SELECT key FROM nodes WHERE kind = 'x509-certificate' ORDER BY 1`)
	require.NoError(t, err)
	keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, []string{"0a:1b:2c", "1234567890", `{"hashes":{"SHA-1":"` + strings.Repeat("ab", 20) + `"}}`}, keys)
	for _, pair := range [][2]string{{"21", "22"}, {"24", "25"}} {
		a, err := st.ResolveNode(ctx, "x509-certificate--5e320000-0000-4000-8000-0000000000"+pair[0])
		require.NoError(t, err)
		b, err := st.ResolveNode(ctx, "x509-certificate--5e320000-0000-4000-8000-0000000000"+pair[1])
		require.NoError(t, err)
		require.Equal(t, a.ID, b.ID, pair)
	}
}
