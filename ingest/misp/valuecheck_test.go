package misp

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// TestSingleLabelDomainIsAnInvalidValue: two events of different
// producers whose domain, hostname and domain|ip attributes hold what
// people write into a field they have no value for ("unknown", "none",
// "localhost"). MISP refuses such a domain or hostname (its attribute
// validation wants a dot before a last label); here each was a
// domain-name node, one per word, which joined every event writing it:
// the two events were related at depth 2 through "unknown". Now each is
// dropped as invalid-value, counted and logged, and the valid domain and
// address of the same attributes' events load.
func TestSingleLabelDomainIsAnInvalidValue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := store.NewStore(pgtest.Pool(t))
	docs := []string{
		event(u(1), "first", []string{
			attr(u(11), "domain", "unknown"), attr(u(12), "hostname", "localhost"),
			attr(u(13), "domain|ip", "none|198.51.100.70"), attr(u(14), "domain", "c2.evil.example"),
		}),
		event(u(2), "second", []string{
			attr(u(21), "domain", "Unknown."), attr(u(22), "hostname|port", "unknown|443"),
		}),
	}
	var dropped int64
	for _, doc := range docs {
		dropped += loadReader(t, st, strings.NewReader(doc), "words").Dropped[ReasonInvalidValue]
	}
	require.EqualValues(t, 5, dropped, "every single-label domain is an invalid value")
	var words int
	require.NoError(t, st.Pool().QueryRow(ctx, `SELECT count(*) FROM nodes WHERE kind = 'domain-name' AND key IN ('unknown', 'none', 'localhost')`).Scan(&words))
	require.Zero(t, words)
	_, err := st.ResolveNode(ctx, "domain-name:c2.evil.example")
	require.NoError(t, err)
}

// TestVulnerabilityInLowerCaseIsNamedByItsCVEID: a vulnerability
// attribute written in lower case (cve-2021-44228, as tools other than
// MISP write it; MISP upper-cases it before saving) was keyed
// CVE-2021-44228 but named cve-2021-44228 (a record so named ranks for the
// name as NVD's CVE-2021-44228 does, graph.IsItsCVEName, so the newer
// record's spelling named the node). Now it is named by the id as MISP
// stores it.
func TestVulnerabilityInLowerCaseIsNamedByItsCVEID(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := store.NewStore(pgtest.Pool(t))
	doc := event(u(1), "log4shell", []string{attr(u(2), "vulnerability", "cve-2021-44228")})
	require.Empty(t, loadReader(t, st, strings.NewReader(doc), "lower").Dropped)
	n, err := st.ResolveNode(ctx, "vulnerability:CVE-2021-44228")
	require.NoError(t, err)
	require.Equal(t, "CVE-2021-44228", n.Name)
}
