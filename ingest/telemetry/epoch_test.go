package telemetry_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/ingest/engine"
	"github.com/ransomeye/intel/ingest/telemetry"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// TestLoadEpochObservedAt: an observed_at written as a JSON number, as
// EDRs and forwarders write times (osquery's unixTime and Zeek's ts in
// epoch seconds, integer or fractional; CrowdStrike Falcon's event
// stream's eventCreationTime in epoch milliseconds), is that time: seconds from 1e9 to 1e10
// (2001-09-09 to 2286-11-20), milliseconds from 1e12 to 1e13 (the same
// span), told apart by size, read exactly, by either line decoder. A number
// in neither range (0, a time before 2001 in either unit, microseconds) is
// no time that can be told: a bad-observed-at drop naming the ranges. Any
// other JSON type stays invalid-property. Before, every number was dropped
// invalid-property with "cannot unmarshal JSON number into Go string".
func TestLoadEpochObservedAt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	st := store.NewStore(pool)
	now := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	sec := now.Unix()
	want := map[string]time.Time{
		"seconds":               now,
		"fractional seconds":    now.Add(305988 * time.Microsecond),
		"milliseconds":          now.Add(123 * time.Millisecond),
		"fractional millis":     now.Add(123*time.Millisecond + 500*time.Microsecond),
		"exponent":              now,
		"seconds, slow decoder": now.Add(time.Nanosecond),
	}
	in := map[string]string{
		"seconds":               strconv.FormatInt(sec, 10),
		"fractional seconds":    strconv.FormatInt(sec, 10) + ".305988",
		"milliseconds":          strconv.FormatInt(sec*1000+123, 10),
		"fractional millis":     strconv.FormatInt(sec*1000+123, 10) + ".5",
		"exponent":              strconv.FormatFloat(float64(sec), 'e', -1, 64),
		"seconds, slow decoder": strconv.FormatInt(sec, 10) + ".000000001",
	}
	var lines strings.Builder
	lines.WriteString(observedAtLines(in))
	for _, bad := range []string{"0", "-1", "999999999", "99999999999", "999999999999", strconv.FormatInt(now.UnixMicro(), 10), "1e300"} {
		fmt.Fprintf(&lines, `{"src":"url:http://bad.example","relation":"x","dst":"url:http://b.example","agent_id":"a","observed_at":%s}`+"\n", bad)
	}
	lines.WriteString(`{"src":"url:http://bad.example","relation":"x","dst":"url:http://b.example","agent_id":"a","observed_at":true}` + "\n")
	lines.WriteString(`{"src":"url:http://bad.example","relation":"x","dst":"url:http://b.example","agent_id":"a","observed_at":{"s":1}}` + "\n")
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	rep, err := telemetry.Load(ctx, strings.NewReader(lines.String()), st, engine.Options{Feed: "edr", Logger: logger})
	require.NoError(t, err)
	require.Equal(t, map[engine.Reason]int64{telemetry.ReasonBadObservedAt: 7, engine.ReasonInvalidProperty: 2}, rep.Dropped)
	require.EqualValues(t, len(in), rep.Telemetry.Edges)
	require.Equal(t, 7, strings.Count(logs.String(), "neither Unix epoch seconds"), logs.String())

	got := observedAtBySource(t, pool)
	for name, at := range want {
		key := "http://a.example/" + edgeKey(name)
		require.Contains(t, got, key)
		// PostgreSQL keeps microseconds.
		require.Equal(t, at.Truncate(time.Microsecond), got[key], name)
	}
}

// TestLoadEpochObservedAtInAString: an observed_at that is an epoch number
// written as a JSON string ("1705904285259", as forwarders that quote every
// value write it) is read by the same rule as the number: seconds from 1e9
// to 1e10, milliseconds from 1e12 to 1e13, by either line decoder. An
// all-digit string outside both ranges is dropped bad-observed-at naming
// the ranges; other strings that are no time keep their RFC 3339 error.
// Before, every such string was a bad-observed-at drop ("cannot parse").
func TestLoadEpochObservedAtInAString(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	st := store.NewStore(pool)
	now := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	in := map[string]string{
		"seconds":               strconv.FormatInt(now.Unix(), 10),
		"milliseconds":          strconv.FormatInt(now.UnixMilli()+259, 10),
		"millis, slow decoder":  strconv.FormatInt(now.UnixMilli()+7, 10),
		"seconds, slow decoder": strconv.FormatInt(now.Unix(), 10),
	}
	want := map[string]time.Time{
		"seconds":               now,
		"milliseconds":          now.Add(259 * time.Millisecond),
		"millis, slow decoder":  now.Add(7 * time.Millisecond),
		"seconds, slow decoder": now,
	}
	var lines strings.Builder
	lines.WriteString(observedAtLines(quoted(in)))
	// Out of both ranges: the epoch rule's error.
	for _, bad := range []string{"0", "999999999", "99999999999", strconv.FormatInt(now.UnixMicro(), 10)} {
		fmt.Fprintf(&lines, `{"src":"url:http://bad.example","relation":"x","dst":"url:http://b.example","agent_id":"a","observed_at":"%s"}`+"\n", bad)
	}
	// Not all digits: the RFC 3339 error, as before.
	for _, bad := range []string{"1705904285.259", "-1705904285", " 1705904285", "1705904285Z", "yesterday"} {
		fmt.Fprintf(&lines, `{"src":"url:http://bad.example","relation":"x","dst":"url:http://b.example","agent_id":"a","observed_at":"%s"}`+"\n", bad)
	}
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	rep, err := telemetry.Load(ctx, strings.NewReader(lines.String()), st, engine.Options{Feed: "edr", Logger: logger})
	require.NoError(t, err)
	require.Equal(t, map[engine.Reason]int64{telemetry.ReasonBadObservedAt: 9}, rep.Dropped)
	require.EqualValues(t, len(in), rep.Telemetry.Edges)
	require.Equal(t, 4, strings.Count(logs.String(), "neither Unix epoch seconds"), logs.String())
	require.Equal(t, 5, strings.Count(logs.String(), "cannot parse"), logs.String())

	got := observedAtBySource(t, pool)
	for name, at := range want {
		key := "http://a.example/" + edgeKey(name)
		require.Contains(t, got, key)
		require.Equal(t, at.Truncate(time.Microsecond), got[key], name)
	}
}

// observedAtBySource returns the observed_at of each stored edge, by its
// source node's key.
func observedAtBySource(t *testing.T, pool *pgxpool.Pool) map[string]time.Time {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT n.key, e.observed_at FROM telemetry_edges e JOIN nodes n ON n.id = e.src_id`)
	require.NoError(t, err)
	got := map[string]time.Time{}
	var key string
	var at time.Time
	_, err = pgx.ForEachRow(rows, []any{&key, &at}, func() error {
		got[key] = at.UTC()
		return nil
	})
	require.NoError(t, err)
	return got
}

// TestLoadRFC3339Spellings: an observed_at in the spellings RFC 3339 (5.6)
// allows beside the usual one, "t" and "z" in lower case and a space for
// the "T" (Python's str() of an aware datetime), is its time, by either
// line decoder. A time without a zone is dropped bad-observed-at saying
// that the zone is missing. Before, the allowed spellings were dropped
// bad-observed-at too (`cannot parse "t10:15:00z" as "T"`).
func TestLoadRFC3339Spellings(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	st := store.NewStore(pool)
	now := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	india := time.FixedZone("IST", 5*3600+1800)
	want := map[string]time.Time{
		"lower":             now,
		"space":             now.Add(123456 * time.Microsecond),
		"space, offset":     now,
		"lower, slow":       now,
		"space, zulu, slow": now,
	}
	in := map[string]string{
		"lower":             strings.ToLower(now.Format(time.RFC3339)),
		"space":             now.Add(123456 * time.Microsecond).In(india).Format("2006-01-02 15:04:05.999999Z07:00"),
		"space, offset":     now.In(india).Format("2006-01-02 15:04:05Z07:00"),
		"lower, slow":       strings.ToLower(now.Format(time.RFC3339)),
		"space, zulu, slow": now.Format("2006-01-02 15:04:05Z07:00"),
	}
	var lines strings.Builder
	lines.WriteString(observedAtLines(quoted(in)))
	for _, bad := range []string{now.Format("2006-01-02T15:04:05"), now.Format("2006-01-02 15:04:05.000")} {
		fmt.Fprintf(&lines, `{"src":"url:http://bad.example","relation":"x","dst":"url:http://b.example","agent_id":"a","observed_at":%q}`+"\n", bad)
	}
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	rep, err := telemetry.Load(ctx, strings.NewReader(lines.String()), st, engine.Options{Feed: "edr", Logger: logger})
	require.NoError(t, err)
	require.Equal(t, map[engine.Reason]int64{telemetry.ReasonBadObservedAt: 2}, rep.Dropped, logs.String())
	require.EqualValues(t, len(in), rep.Telemetry.Edges)
	require.Equal(t, 2, strings.Count(logs.String(), "has no time zone"), logs.String())

	got := observedAtBySource(t, pool)
	for name, at := range want {
		k := "http://a.example/" + edgeKey(name)
		require.Contains(t, got, k)
		require.Equal(t, at, got[k], name)
	}
}

// observedAtLines is a telemetry line for each of in, its name in the
// source's URL (edgeKey), its value the observed_at (JSON text). A name
// with "slow" gives a line of another shape than the scanner's, so the
// slower decoder reads it.
func observedAtLines(in map[string]string) string {
	var lines strings.Builder
	for name, at := range in {
		extra := ""
		if strings.Contains(name, "slow") {
			extra = `,"x":{"nested":true}` // no line of the scanner's shape
		}
		fmt.Fprintf(&lines, `{"src":"url:http://a.example/%s","relation":"x","dst":"url:http://b.example","agent_id":"a","observed_at":%s%s}`+"\n",
			edgeKey(name), at, extra)
	}
	return lines.String()
}

// edgeKey is name as observedAtLines puts it in a URL.
func edgeKey(name string) string {
	return strings.ReplaceAll(strings.ReplaceAll(name, " ", "-"), ",", "")
}

// quoted is in with each value a JSON string.
func quoted(in map[string]string) map[string]string {
	q := make(map[string]string, len(in))
	for name, v := range in {
		q[name] = strconv.Quote(v)
	}
	return q
}
