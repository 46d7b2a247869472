package misp

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// TestExpirationSightingEndsTheIndicatorsValidity: a MISP expiration
// sighting (type 2: an organisation says the attribute stops being valid
// then) of a to_ids attribute is, in intel show's details, the end of its
// indicator's validity (graph.NodeDetails.Expiration: the earliest
// expiration sighting's time), whichever way the sighting arrives: in the
// attribute's Sighting list, in its event's Sighting list naming it by
// attribute_uuid, or as a ZMQ misp_json_sighting message (MISP's
// documented one, zmq_misp_json_sighting.json, with type "2"), before or
// after the attribute. A sighting of type 0 is no expiration. Before, the
// indicator read as valid ("lifecycle: live", no end): the expiration-of
// link was counted in its degree and said nothing else.
func TestExpirationSightingEndsTheIndicatorsValidity(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const sighted = "1610000000" // 2021-01-07T06:13:20Z
	at := time.Unix(1610000000, 0).UTC()
	expiry := func(docs ...string) *time.Time {
		st := store.NewStore(pgtest.Pool(t))
		for _, doc := range docs {
			opts := quiet(nil)
			opts.Feed = "misp"
			rep, err := LoadFile(ctx, strings.NewReader(doc), st, opts)
			require.NoError(t, err)
			requireBalanced(t, rep)
		}
		n, err := st.ResolveNode(ctx, alias(u(2)))
		require.NoError(t, err)
		d, err := st.NodeDetails(ctx, n.ID)
		require.NoError(t, err)
		if d.Expiration == nil {
			return nil
		}
		e := d.Expiration.FirstSeen
		return &e
	}
	sighting := func(typ, attrUUID string) string {
		s := `{"uuid": "` + u(3) + `", "type": "` + typ + `", "date_sighting": "` + sighted + `", "source": "",
			"Organisation": {"name": "ACME CERT", "uuid": "11111111-2222-4333-8444-555555555555"}`
		if attrUUID != "" {
			s += `, "attribute_uuid": "` + attrUUID + `"`
		}
		return s + "}"
	}
	inAttr := event(u(1), "expiration", []string{idsAttr(u(2), "ip-dst", "198.51.100.99", `"Sighting": [`+sighting("2", "")+`]`)})
	require.Equal(t, &at, expiry(inAttr), "in the attribute's Sighting list")
	inEvent := event(u(1), "expiration", []string{idsAttr(u(2), "ip-dst", "198.51.100.99")}, `"Sighting": [`+sighting("2", u(2))+`]`)
	require.Equal(t, &at, expiry(inEvent), "in its event's Sighting list")
	require.Nil(t, expiry(event(u(1), "expiration", []string{idsAttr(u(2), "ip-dst", "198.51.100.99", `"Sighting": [`+sighting("0", "")+`]`)})),
		"a sighting is no expiration")

	raw, err := os.ReadFile(filepath.Join(testdata, "zmq_misp_json_sighting.json"))
	require.NoError(t, err)
	msg := strings.Replace(string(raw), `"type": "0"`, `"type": "2"`, 1)
	msg = strings.ReplaceAll(msg, "59b8114b-1c80-4149-be3a-03e9c0a83832", u(2))
	want := time.Unix(1505767537, 0).UTC()
	attrOnly := event(u(1), "expiration", []string{idsAttr(u(2), "ip-dst", "198.51.100.99")})
	require.Equal(t, &want, expiry(attrOnly, msg), "a ZMQ expiration sighting after its attribute")
	require.Equal(t, &want, expiry(msg, attrOnly), "and before it")
}
