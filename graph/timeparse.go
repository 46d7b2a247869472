package graph

import (
	"fmt"
	"strings"
	"time"
)

// ParseTime is time.Parse that also reads a leap second: RFC 3339 (and so
// STIX and MISP timestamps) allows second 60 ("2016-12-31T23:59:60Z"),
// which the time package refuses. A leap second is read as the second that
// follows it (23:59:60.5 as 00:00:00.5 of the next day), so times keep
// their order.
func ParseTime(layout, s string) (time.Time, error) {
	t, err := time.Parse(layout, s)
	if err == nil {
		return t, nil
	}
	// "2006-01-02T15:04:60…": the seconds follow the second colon.
	if len(s) >= 19 && s[13] == ':' && s[16] == ':' && s[17:19] == "60" {
		if t2, err2 := time.Parse(layout, s[:17]+"59"+s[19:]); err2 == nil {
			return t2.Add(time.Second), nil
		}
	}
	return t, err
}

// ParseTimestamp reads a timestamp as feeds write it, the one rule the STIX
// and MISP loaders share: RFC 3339 with any sub-second precision and a
// leap second (ParseTime), also in the forms RFC 3339 allows beside the
// canonical one (a lower-case t or z, a space for the T: section 5.6), and
// the ISO 8601 forms producers write: an offset without its colon (+0000:
// Python's %z, PHP's DATE_ISO8601), " UTC" or " GMT" for Z, and no zone at
// all (Python's isoformat() of a naive time), which is UTC, as STIX times
// are and MISP writes them. A date alone is its midnight, UTC. The result
// is in UTC. Anything else (another zone name, a time without seconds, an
// offset of one digit) is an error.
func ParseTimestamp(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := ParseTime(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	n := s
	if len(n) == len("2006-01-02") {
		n += "T00:00:00Z"
	}
	if len(n) > 10 && (n[10] == ' ' || n[10] == 't') {
		n = n[:10] + "T" + n[11:]
	}
	for _, utc := range []string{" UTC", " GMT", "UTC", "GMT", "z"} {
		if strings.HasSuffix(strings.ToUpper(n), strings.ToUpper(utc)) && len(n) > len(utc) {
			n = n[:len(n)-len(utc)] + "Z"
			break
		}
	}
	if len(n) >= len("2006-01-02T15:04:05") && n[10] == 'T' {
		clock := n[11:]
		switch i := strings.LastIndexAny(clock, "+-"); {
		case strings.HasSuffix(clock, "Z"):
		case i < 0:
			n += "Z" // no zone: UTC
		case len(clock)-i == 5 && isDigits(clock[i+1:]):
			n = n[:11+i+3] + ":" + n[11+i+3:] // +hhmm → +hh:mm
		}
	}
	t, err := ParseTime(time.RFC3339Nano, n)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 timestamp", s)
	}
	return t.UTC(), nil
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
