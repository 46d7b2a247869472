package partman

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/store"
)

func d(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestWindow(t *testing.T) {
	t.Parallel()
	// 23:30 in Los Angeles on the 9th is already the 10th in UTC.
	la, err := time.LoadLocation("America/Los_Angeles")
	require.NoError(t, err)
	now := time.Date(2024, 3, 9, 23, 30, 0, 0, la)
	tests := []struct {
		name          string
		ahead, behind int
		want          []string
	}{
		{"defaults", 0, 0, []string{"2024-03-10", "2024-03-11", "2024-03-12", "2024-03-13", "2024-03-14", "2024-03-15", "2024-03-16", "2024-03-09"}},
		{"today only", -1, -1, []string{"2024-03-10"}},
		{"two back", -1, 2, []string{"2024-03-10", "2024-03-09", "2024-03-08"}},
		{"one ahead", 1, -1, []string{"2024-03-10", "2024-03-11"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := Options{Now: func() time.Time { return now }, Ahead: tt.ahead, Behind: tt.behind}.withDefaults()
			var got []string
			for _, day := range o.window() {
				require.Equal(t, time.UTC, day.Location())
				got = append(got, day.Format(time.DateOnly))
			}
			require.Equal(t, tt.want, got)
		})
	}
}

func TestWithDefaults(t *testing.T) {
	t.Parallel()
	o := Options{}.withDefaults()
	require.Equal(t, "telemetry_edges", o.Parent)
	require.Equal(t, 6, o.Ahead)
	require.Equal(t, 1, o.Behind)
	require.Equal(t, 2*time.Second, o.LockTimeout)
	require.Equal(t, store.DefaultRetryPolicy.Attempts-1, o.Retries, "the store's retries")
	require.Equal(t, store.DefaultRetryPolicy, o.retryPolicy(), "the store's policy")
	require.Equal(t, "archive", o.ArchiveSchema)
	require.NotNil(t, o.Now)
	require.NotNil(t, o.Logger)
	require.Zero(t, Options{Retries: -1}.withDefaults().Retries)
}

// TestWithDefaultsTwiceKeepsNone: options defaulted by one function and
// passed to another (Maintain to Ensure and Prune) keep their "none"
// values. Before, the second pass read the zero a negative value had
// become as "default": Maintain with Retries -1 retried every lock
// timeout nine times (14 s of backoff a round, over a minute under load).
func TestWithDefaultsTwiceKeepsNone(t *testing.T) {
	t.Parallel()
	none := Options{Retries: -1, Ahead: -1, Behind: -1, ServerStartWait: -1}
	once := none.withDefaults()
	twice := once.withDefaults()
	for _, o := range []Options{once, twice} {
		require.Zero(t, o.Retries)
		require.Zero(t, o.Ahead)
		require.Zero(t, o.Behind)
		require.Zero(t, o.ServerStartWait)
		require.Equal(t, 1, o.retryPolicy().Attempts)
	}
}

func TestMissingDays(t *testing.T) {
	t.Parallel()
	at := func(s string) *time.Time { v := d(s); return &v }
	half := d("2024-01-03").Add(12 * time.Hour)
	days := []time.Time{d("2024-01-01"), d("2024-01-02"), d("2024-01-03"), d("2024-01-04"), d("2024-01-05")}
	tests := []struct {
		name  string
		parts []Partition
		want  []time.Time
	}{
		{"none", nil, days},
		{"daily with a hole", []Partition{
			{From: at("2024-01-01"), To: at("2024-01-02")},
			{From: at("2024-01-02"), To: at("2024-01-03")},
			{From: at("2024-01-04"), To: at("2024-01-05")},
			{From: at("2024-01-05"), To: at("2024-01-06")},
		}, []time.Time{d("2024-01-03")}},
		{"unbounded both ways", []Partition{{From: nil, To: at("2024-01-03")}, {From: at("2024-01-03"), To: nil}}, nil},
		{"a day split in two halves", []Partition{
			{From: nil, To: &half},
			{From: &half, To: at("2024-01-04")},
		}, []time.Time{d("2024-01-04"), d("2024-01-05")}},
		{"half a day is not enough", []Partition{
			{From: at("2024-01-01"), To: &half},
		}, []time.Time{d("2024-01-03"), d("2024-01-04"), d("2024-01-05")}},
		{"a week", []Partition{{From: at("2023-12-31"), To: at("2024-01-07")}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := missingDays(tt.parts, days)
			require.Equal(t, fmt.Sprint(tt.want), fmt.Sprint(got))
		})
	}
}

func TestQuoteIfNeeded(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"telemetry_edges":   "telemetry_edges",
		"t2$":               "t2$",
		"Telemetry":         `"Telemetry"`,
		"2024":              `"2024"`,
		`Odd "Name" edges`:  `"Odd ""Name"" edges"`,
		"":                  `""`,
		"with space":        `"with space"`,
		"ünïcode":           `"ünïcode"`,
		"telemetry_edges_1": "telemetry_edges_1",
	} {
		require.Equal(t, want, quoteIfNeeded(in), in)
	}
}

func TestParseMode(t *testing.T) {
	t.Parallel()
	m, err := ParseMode(" Detach ")
	require.NoError(t, err)
	require.Equal(t, Detach, m)
	m, err = ParseMode("drop")
	require.NoError(t, err)
	require.Equal(t, Drop, m)
	_, err = ParseMode("delete")
	require.ErrorIs(t, err, ErrInvalidMode)
}
