package misp

import "sync"

// Tally counts what a load read, valid or not, by MISP record type: the
// numbers to hold against an independent count of the same JSON. It is safe
// for concurrent use; read the fields once the load has returned.
type Tally struct {
	mu sync.Mutex
	// Events counts events (wrapped in "Event" or bare).
	Events int64
	// Attributes counts event-level attributes (and those of attribute
	// search results); ObjectAttributes those inside objects.
	Attributes       int64
	ObjectAttributes int64
	Objects          int64
	References       int64
	// EventTags counts event tags, AttributeTags the tags of attributes and
	// object attributes.
	EventTags     int64
	AttributeTags int64
	// Galaxies and Clusters count the galaxies of events (and galaxies in
	// API form) and their clusters, plus the clusters of cluster files;
	// AttributeGalaxies and AttributeClusters those attached to attributes.
	Galaxies          int64
	Clusters          int64
	AttributeGalaxies int64
	AttributeClusters int64
	// Sightings counts sightings, of attributes and of events.
	Sightings int64
	// EventReports counts event reports (EventReport); AnalystData the
	// analyst notes and opinions of events, objects and attributes.
	EventReports int64
	AnalystData  int64
	// AttributeTypes counts every attribute, object attributes included, by
	// type; ObjectNames counts objects by name.
	AttributeTypes map[string]int64
	ObjectNames    map[string]int64
}

func (t *Tally) add(f func(t *Tally)) {
	if t == nil {
		return
	}
	t.mu.Lock()
	if t.AttributeTypes == nil {
		t.AttributeTypes = map[string]int64{}
		t.ObjectNames = map[string]int64{}
	}
	f(t)
	t.mu.Unlock()
}

// countRead tallies a record that never reached a worker.
func (t *Tally) countRead(kind recordKind) {
	t.add(func(t *Tally) {
		switch kind {
		case recAttribute:
			t.Attributes++
		case recObject:
			t.Objects++
		case recGalaxy:
			t.Galaxies++
		case recCluster:
			t.Clusters++
		case recSighting:
			t.Sightings++
		case recEventReport:
			t.EventReports++
		case recNote, recOpinion, recRelationship:
			t.AnalystData++
		}
	})
}
