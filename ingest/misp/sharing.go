package misp

import (
	"strings"
	"time"

	"github.com/ransomeye/intel/graph"
)

// MISP says who may see an event, attribute or object by its
// distribution level, and for level 4 by the sharing group it names; an
// attribute or object may instead inherit its event's (level 5). The graph
// keeps them as they are, beside the TLP (a marking of another kind, from
// the record's tags): an event's node and an attribute's or object's own
// node (an indicator, an x-misp-attribute or x-misp-object node) carry
// "distribution" (the level's name), and for a sharing group
// "sharing_group" (its name), "sharing_group_uuid" and
// "sharing_group_releasability"; a node made from a value, shared by every
// record naming the value, is not the attribute's, so the attribute's
// level goes on its event's link to it, as its type and to_ids do. A level
// 5 (inherit event) states nothing of its own and is not kept. A ZMQ
// misp_json_attribute message gives the attribute's SharingGroup beside
// it ({"Attribute": …, "Event": …, "SharingGroup": …}): it is the
// attribute's (the message's one attribute waits for the message's end to
// know it), not the event's. An event that restricts its records more
// than theirs do (an attribute of all communities in an event of a
// sharing group) adds its own restriction to their nodes (eventSharing):
// nothing says a record is shared wider than MISP shares it. So does the
// copy or summary of its event beside a record read outside it: the Event
// of a ZMQ message (its distribution and SharingGroup; endFrameRecords)
// and the Event summary of a search result (its distribution: MISP gives
// no group's name there, only its local id), whose restriction bounds
// the record's own nodes as its event would (briefSharing). intel show
// prints a node's distribution and sharing group, and its event's.
//
// Each is stated in a version, so a newer one replaces it rather than
// merging into it: what an event gives its own records is the event's
// record in its version (endEvent); the event's own restriction is a
// record of its own in the version of the copy giving it, members or
// not (restrictionRecord: a ZMQ misp_json_event message edits it); what
// a ZMQ message's Event gives its attribute and the sightings beside it
// is in the attribute's version (attributeRecord, endFrameRecords).
//
// disable_correlation (MISP does not correlate the attribute's value with
// other events' values) is kept as "disable_correlation": true beside
// them; the value's node is still the one node of that value: the graph
// does not tell one value from itself.

// eventSharing is what an event's own records (its attributes and objects
// keyed by their uuid, their indicators, its sightings and reports) get
// from the event's distribution (its props, addSharing) when it restricts
// them, nil when it does not (all communities, or none given): MISP lets
// see a record only whoever may see its event, so an attribute of "all
// communities" in an event of a sharing group is known to that group
// alone. The record keeps its own distribution beside it ("event_distribution",
// "event_sharing_group", "event_sharing_group_uuid"); intel show prints
// both.
func eventSharing(event map[string]any) map[string]any {
	d, _ := event["distribution"].(string)
	if d == "" || d == distributions["3"] || d == distributions["5"] {
		return nil
	}
	rec := map[string]any{"event_distribution": d}
	for _, k := range []string{"sharing_group", "sharing_group_uuid", "sharing_group_releasability"} {
		if v, ok := event[k]; ok {
			rec["event_"+k] = v
		}
	}
	return rec
}

// briefSharing is eventSharing of an event known by a copy or summary
// beside records read outside it (a ZMQ message's Event, a search
// result's Event: its distribution d and sharing group sg, nil for none).
func briefSharing(d string, sg *rawSharingGroup) map[string]any {
	props := map[string]any{}
	addSharing(props, d, sg, false)
	return eventSharing(props)
}

// boundOutside gives the own node own of a record read outside its event
// (a search result) the restriction of the event summary beside it
// (briefSharing), as the event gives its own records theirs at its end.
func (m *mapper) boundOutside(b *graph.Batch, brief *rawEventBrief, own graph.Node) {
	if brief == nil {
		return
	}
	if rec := briefSharing(brief.Distribution.String(), nil); rec != nil {
		r := ownOf(own.Brief()).propsRecord(rec, []string{m.feed})
		r.Versions = own.Versions // part of the record's version
		b.Nodes = append(b.Nodes, r)
	}
}

// restrictionKeys are the props of a record's restriction (addSharing).
var restrictionKeys = []string{"distribution", "sharing_group", "sharing_group_uuid", "sharing_group_releasability"}

// restrictionSource is the source id under which an event's own
// restriction is recorded (restrictionRecord).
func restrictionSource(uuid string) string { return "misp-distribution--" + uuid }

// restrictionRecord takes the event's own restriction (its distribution
// and sharing group, in ev's props, which it removes) into a record of
// the event's node of its own, in the version of the copy fr that gives
// it (its timestamp), under restrictionSource: every copy of the event
// states its restriction, those without its members too (a ZMQ
// misp_json_event message, sent when the event is edited: MISP raises its
// timestamp), which state no version of its links (endEvent). So a newer
// copy's restriction replaces an older one's (a sharing group given up for
// all communities), whatever the order they come in; merged, the node
// said "all communities" beside the old group. ok is false, and ev keeps
// them, for a copy without a timestamp or one that gives no
// distribution: it says nothing to replace them with.
func restrictionRecord(ev graph.Node, fr *frame) (graph.Node, bool) {
	ts := parseTime(fr.fields["timestamp"])
	if ts.IsZero() || strings.TrimSpace(fr.fields["distribution"]) == "" {
		return graph.Node{}, false
	}
	props := map[string]any{}
	for _, k := range restrictionKeys {
		if v, ok := ev.Props[k]; ok {
			props[k] = v
			delete(ev.Props, k)
		}
	}
	r := ev.Brief().TLPRecord(graph.TLPNone, ev.Sources)
	r.Props, r.FirstSeen, r.LastSeen, r.Aliases = props, ev.FirstSeen, ev.LastSeen, ev.Aliases
	r.Versions = map[string]time.Time{restrictionSource(fr.uuid()): ts}
	return r, true
}

// distributions names MISP's distribution levels.
var distributions = map[string]string{
	"0": "your organisation only", "1": "this community only", "2": "connected communities",
	"3": "all communities", "4": "sharing group", "5": "inherit event",
}

// addSharing adds to props a MISP record's distribution level (its code
// d, named), its sharing group sg (nil for none) and its
// disable_correlation flag. A level 5 (inherit event) is not added.
func addSharing(props map[string]any, d string, sg *rawSharingGroup, noCorrelation bool) {
	if d = strings.TrimSpace(d); d != "" && d != "5" {
		props["distribution"] = nameOr(distributions, d)
	}
	if sg != nil && d == "4" {
		for k, v := range map[string]text{"sharing_group": sg.Name, "sharing_group_uuid": sg.UUID, "sharing_group_releasability": sg.Releasability} {
			if s := strings.TrimSpace(v.String()); s != "" && len(s) <= maxValueBytes {
				props[k] = s
			}
		}
	}
	if noCorrelation {
		props["disable_correlation"] = true
	}
}
