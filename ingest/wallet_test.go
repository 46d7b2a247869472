package ingest_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest"
	"github.com/ransomeye/intel/ingest/misp"
)

// TestOneWalletFromEveryProducer: a ransom wallet is one node whoever
// writes it and in what form (testdata/adv/wallets.json and
// wallets-misp-event.json, see testdata/adv/README.md): OpenCTI's
// cryptocurrency-wallet, stix2extensions' (address, a bech32 one in upper
// case), misp-stix's x-misp-attribute of type btc, an indicator's pattern
// and MISP's btc attribute (padded with spaces). So the MISP event and the
// STIX indicator meet at the wallet; an xmr attribute that is no address
// is a counted drop. Before, each object or attribute was a node of its
// own (x-misp-attribute, cryptocurrency-wallet keyed by its id).
func TestOneWalletFromEveryProducer(t *testing.T) {
	t.Parallel()
	adv := filepath.Join("..", "testdata", "adv")
	stixFeed := ingest.Feed{Name: "wallets", Path: filepath.Join(adv, "wallets.json"), Format: "stix"}
	mispFeed := ingest.Feed{Name: "wallet-event", Path: filepath.Join(adv, "wallets-misp-event.json"), Format: "misp"}
	for _, order := range [][]ingest.Feed{{stixFeed, mispFeed}, {mispFeed, stixFeed}} {
		ctx := context.Background()
		st, pool := newStore(t)
		loadOneByOne(ctx, t, st, order)
		var keys []string
		rows, err := pool.Query(ctx, `SELECT key FROM nodes WHERE kind = $1 ORDER BY key`, string(graph.KindCryptocurrencyWallet))
		require.NoError(t, err)
		for rows.Next() {
			var k string
			require.NoError(t, rows.Scan(&k))
			keys = append(keys, k)
		}
		require.NoError(t, rows.Err())
		require.Equal(t, []string{"1E38kt7ryhbRXUzbam6iQ6sd93VHUUdjEE", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"}, keys,
			"one node per address, base58 as written, bech32 lower-cased (%s first)", order[0].Name)
		var others int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM nodes WHERE kind = 'x-misp-attribute'`).Scan(&others))
		require.Zero(t, others, "misp-stix's btc export is the wallet")

		// The event and the indicator meet at the wallet.
		links := keyedLinks(ctx, t, pool, `d.kind = $1`, string(graph.KindCryptocurrencyWallet))
		require.Contains(t, links, "misp--5f0e1a2b-0032-4c1d-9e8f-a1b2c3d4e5f6 object 1E38kt7ryhbRXUzbam6iQ6sd93VHUUdjEE")
		require.Contains(t, links, "misp--5f0e1a2b-0032-4c1d-9e8f-a1b2c3d4e5f6 object bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq")
		require.Contains(t, links, "indicator--8e2e2d2b-3a4e-4a1c-9f5e-7d2c1b0a9e03 based-on 1E38kt7ryhbRXUzbam6iQ6sd93VHUUdjEE")
		require.Contains(t, links, "indicator--8e2e2d2b-3a4e-4a1c-9f5e-7d2c1b0a9e03 based-on bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq")
		for _, ref := range []string{"x-misp-attribute--518b4bcb-a86b-4783-9457-391d548b605b", "misp--6a1b2c3d-0001-4a5b-8c9d-0e1f2a3b4c5d",
			"cryptocurrency-wallet:1E38kt7ryhbRXUzbam6iQ6sd93VHUUdjEE", "cryptocurrency-wallet:BC1QAR0SRRR7XFKVY5L643LYDNW9RE59GTZZWF5MDQ"} {
			n, err := st.ResolveNode(ctx, ref)
			require.NoError(t, err, ref)
			require.Equal(t, graph.KindCryptocurrencyWallet, n.Kind, ref)
		}
	}
	st, _ := newStore(t)
	res, err := ingest.Run(context.Background(), st, []ingest.Feed{mispFeed}, ingest.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	require.Equal(t, int64(1), res[0].Report.Dropped[misp.ReasonInvalidValue], "the xmr attribute that is no address")
}
