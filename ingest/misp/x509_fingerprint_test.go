package misp

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
)

// TestCertificateFingerprintsAreHashNodes: a MISP certificate, an x509
// object or an x509-fingerprint-* attribute, not flagged to_ids, has-hash
// each of its fingerprints, as the STIX loader's certificates do
// (graph.CertificateFingerprints, one rule): a pivot on a fingerprint
// reaches every certificate that has it, whichever feed and format gave
// it. Before, only a to_ids one's indicator pattern linked the hash node
// (stix29 found it); the certificate alone had no link.
func TestCertificateFingerprintsAreHashNodes(t *testing.T) {
	t.Parallel()
	const (
		sha1   = "5898fc860300e228dcd54c0b1045b5fa0dcda502"
		sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	)
	doc := `{"Event": {"uuid": "5f0c1a4e-0000-4000-8000-000000000001", "info": "certs", "timestamp": "1700000000", "date": "2023-11-14",
	  "Attribute": [{"uuid": "5f0c1a4e-0000-4000-8000-000000000002", "type": "x509-fingerprint-sha256", "category": "Network activity",
	    "to_ids": false, "value": "E3:B0:C4:42:98:FC:1C:14:9A:FB:F4:C8:99:6F:B9:24:27:AE:41:E4:64:9B:93:4C:A4:95:99:1B:78:52:B8:55", "timestamp": "1700000000"}],
	  "Object": [{"uuid": "5f0c1a4e-0000-4000-8000-000000000003", "name": "x509", "meta-category": "network", "timestamp": "1700000000",
	    "Attribute": [
	      {"uuid": "5f0c1a4e-0000-4000-8000-000000000004", "object_relation": "x509-fingerprint-sha1", "type": "x509-fingerprint-sha1", "to_ids": false, "value": "` + sha1 + `", "timestamp": "1700000000"},
	      {"uuid": "5f0c1a4e-0000-4000-8000-000000000005", "object_relation": "x509-fingerprint-sha256", "type": "x509-fingerprint-sha256", "to_ids": false, "value": "` + sha256 + `", "timestamp": "1700000000"},
	      {"uuid": "5f0c1a4e-0000-4000-8000-000000000006", "object_relation": "serial-number", "type": "text", "to_ids": false, "value": "1234567890", "timestamp": "1700000000"}]}]}}`
	path := filepath.Join(t.TempDir(), "certs.json")
	require.NoError(t, os.WriteFile(path, []byte(doc), 0o600))
	rep, sink, _, err := loadFile(t, path, quiet(nil))
	require.NoError(t, err)
	requireBalanced(t, rep)

	hash := graph.HashNode("SHA-256", sha256)
	written := map[graph.Ref]bool{}
	certs := map[graph.Ref]graph.Node{}
	for _, n := range sink.nodes {
		written[n.Ref()] = true
		if n.Kind == graph.KindX509Certificate {
			certs[n.Ref()] = n
		}
	}
	require.True(t, written[hash.Ref()], "the SHA-256 fingerprint's hash node")
	objCert, ok := graph.CertificateNode(map[string]string{"SHA-1": sha1, "SHA-256": sha256}, "1234567890")
	require.True(t, ok)
	attrCert, ok := graph.CertificateNode(map[string]string{"SHA-256": sha256}, "")
	require.True(t, ok)
	hasHash := map[[2]graph.Ref]bool{}
	for _, r := range sink.relations {
		require.True(t, written[r.Src] && written[r.Dst], "relation %v names a node the event wrote", r)
		if r.Type == graph.RelHasHash {
			hasHash[[2]graph.Ref{r.Src, r.Dst}] = true
		}
	}
	// The object's certificate (both fingerprints and its serial) and the
	// attribute's (the SHA-256 alone) meet at the SHA-256's hash node.
	for _, c := range []graph.Node{objCert, attrCert} {
		require.Contains(t, certs, c.Ref(), "certificate %s written", c.Key)
		require.True(t, hasHash[[2]graph.Ref{c.Ref(), hash.Ref()}], "certificate %s has-hash the SHA-256", c.Key)
	}
	require.True(t, hasHash[[2]graph.Ref{objCert.Ref(), graph.HashNode("SHA-1", sha1).Ref()}], "the object's certificate has-hash its SHA-1")
	// Every certificate written (the object's fingerprint attributes are
	// certificates of their own too) has-hash its fingerprint.
	for ref, c := range certs {
		linked := false
		for pair := range hasHash {
			linked = linked || pair[0] == ref
		}
		require.True(t, linked, "certificate %s has-hash its fingerprint", c.Key)
	}
}
