package graph

import "time"

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
