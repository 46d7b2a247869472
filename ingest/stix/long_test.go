package stix

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

// cliReport is what `intel ingest ... --dry-run --format json` prints.
type cliReport []struct {
	Status string        `json:"status"`
	Report engine.Report `json:"report"`
}

// dryRun loads what input writes with `intel ingest <format> - --dry-run`
// and returns the report and the peak RSS.
func dryRun(t *testing.T, bin, format string, input func(w io.Writer) error) (engine.Report, int64) {
	t.Helper()
	out, rss := rsstest.Run(t, exec.Command(bin, "ingest", format, "-", "--dry-run", "--format", "json"), input)
	var rep cliReport
	require.NoError(t, json.Unmarshal(out, &rep), "%s", out)
	require.Len(t, rep, 1)
	t.Logf("%s: peak RSS %.1f MiB, %d bytes, %d records mapped, dropped %v", t.Name(), float64(rss)/(1<<20), rep[0].Report.Bytes, rep[0].Report.RecordsMapped, rep[0].Report.Dropped)
	return rep[0].Report, rss
}

// TestLongHostileInputRSS: the CLI loads STIX with 2 GiB of white space
// (before the feed, between bundle members, between records, inside a
// record) and with a 400 MiB string in a record within the memory bound,
// dropping only the string's record.
func TestLongHostileInputRSS(t *testing.T) {
	rsstest.Long(t)
	bin := rsstest.BuildCLI(t)
	const quarter = 512 << 20

	rep, rss := dryRun(t, bin, "stix", func(w io.Writer) error {
		steps := []func() error{
			func() error { return rsstest.Spaces(w, quarter, true) },
			func() error { return rsstest.Write(w, `{"type":"bundle",`) },
			func() error { return rsstest.Spaces(w, quarter, false) },
			func() error { return rsstest.Write(w, `"objects":[`, malware(1)) },
			func() error { return rsstest.Spaces(w, quarter, true) },
			func() error { return rsstest.Write(w, `,{`) },
			func() error { return rsstest.Spaces(w, quarter, false) },
			func() error { return rsstest.Write(w, malware(2)[1:], ",", malware(3), "]}") },
		}
		for _, step := range steps {
			if err := step(); err != nil {
				return err
			}
		}
		return nil
	})
	require.Empty(t, rep.Dropped)
	require.EqualValues(t, 3, rep.RecordsMapped)
	require.Greater(t, rep.Bytes, int64(4*quarter))
	require.LessOrEqual(t, rss, int64(rssBound), "2 GiB of white space")

	rep, rss = dryRun(t, bin, "stix", func(w io.Writer) error {
		if err := rsstest.Write(w, `{"type":"bundle","objects":[`, malware(1), `,`, strings.TrimSuffix(malware(2), "}"), `,"description":"`); err != nil {
			return err
		}
		if err := rsstest.Repeat(w, []byte(strings.Repeat("x", 1<<20)), 400<<20); err != nil {
			return err
		}
		return rsstest.Write(w, `"},`, malware(3), "]}")
	})
	require.Equal(t, map[engine.Reason]int64{engine.ReasonTooLarge: 1}, rep.Dropped)
	require.EqualValues(t, 2, rep.RecordsMapped)
	require.LessOrEqual(t, rss, int64(rssBound), "a 400 MiB string")
}
