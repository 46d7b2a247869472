package misp

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/ingest/engine"
	"github.com/ransomeye/intel/internal/rsstest"
)

// rssBound is the peak RSS a load may reach on any input: the record limit
// and 64 MiB more.
const rssBound = engine.DefaultMaxRecordBytes + 64<<20

// dryRun loads what input writes with `intel ingest misp - --dry-run` and
// returns the report and the peak RSS.
func dryRun(t *testing.T, bin string, input func(w io.Writer) error) (engine.Report, int64) {
	t.Helper()
	out, rss := rsstest.Run(t, exec.Command(bin, "ingest", "misp", "-", "--dry-run", "--format", "json"), input)
	var rep []struct {
		Report engine.Report `json:"report"`
	}
	require.NoError(t, json.Unmarshal(out, &rep), "%s", out)
	require.Len(t, rep, 1)
	t.Logf("peak RSS %.1f MiB, %d bytes, %d records mapped, dropped %v", float64(rss)/(1<<20), rep[0].Report.Bytes, rep[0].Report.RecordsMapped, rep[0].Report.Dropped)
	return rep[0].Report, rss
}

// TestLongHostileInputRSS: the CLI loads a MISP event with 2 GiB of white
// space (before the document, between event members, between attributes,
// inside an attribute) and one with a 400 MiB attribute value within the
// memory bound, dropping only that attribute.
func TestLongHostileInputRSS(t *testing.T) {
	rsstest.Long(t)
	bin := rsstest.BuildCLI(t)
	const quarter = 512 << 20
	a2 := attr(u(2), "domain", "a.example")
	a3 := attr(u(3), "domain", "b.example")
	a4 := attr(u(4), "domain", "c.example")
	head := `{"Event": {"uuid": "` + u(1) + `", "info": "hostile", "date": "2020-09-13", "timestamp": "1600000000",`

	rep, rss := dryRun(t, bin, func(w io.Writer) error {
		for _, step := range []func() error{
			func() error { return rsstest.Spaces(w, quarter, true) },
			func() error { return rsstest.Write(w, head) },
			func() error { return rsstest.Spaces(w, quarter, false) },
			func() error { return rsstest.Write(w, `"Attribute": [`, a2) },
			func() error { return rsstest.Spaces(w, quarter, true) },
			func() error { return rsstest.Write(w, ",{") },
			func() error { return rsstest.Spaces(w, quarter, false) },
			func() error { return rsstest.Write(w, a3[1:], ",", a4, "]}}") },
		} {
			if err := step(); err != nil {
				return err
			}
		}
		return nil
	})
	require.Empty(t, rep.Dropped)
	require.EqualValues(t, 4, rep.RecordsMapped) // three attributes and the event
	require.Greater(t, rep.Bytes, int64(4*quarter))
	require.LessOrEqual(t, rss, int64(rssBound), "2 GiB of white space")

	rep, rss = dryRun(t, bin, func(w io.Writer) error {
		if err := rsstest.Write(w, head, `"Attribute": [`, a2, `,{"uuid": "`+u(3)+`", "type": "text", "value": "`); err != nil {
			return err
		}
		if err := rsstest.Repeat(w, []byte(strings.Repeat("x", 1<<20)), 400<<20); err != nil {
			return err
		}
		return rsstest.Write(w, `"},`, a4, "]}}")
	})
	require.Equal(t, map[engine.Reason]int64{engine.ReasonTooLarge: 1}, rep.Dropped)
	require.EqualValues(t, 3, rep.RecordsMapped)
	require.LessOrEqual(t, rss, int64(rssBound), "a 400 MiB string")
}
