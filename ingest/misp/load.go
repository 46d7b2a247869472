package misp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/engine"
)

// Format is the Report.Format of MISP loads.
const Format = "misp"

// LoadFile reads one MISP document from r — a single event ({"Event": …} or
// bare), REST search output ({"response": …}), an array of events, a galaxy
// or a galaxy cluster file — and writes what it maps to sink.
//
// A record that cannot be mapped is logged at WARN and counted in the
// report's Dropped by reason; the rest loads. A JSON syntax error stops the
// load with an *engine.OffsetError naming the byte offset; everything read
// before it is written. The report is returned in every case.
func LoadFile(ctx context.Context, r io.Reader, sink graph.Sink, opts Options) (*engine.Report, error) {
	opts = opts.withDefaults("")
	report := engine.NewReport(opts.Feed, Format)
	start := time.Now()
	m := newMapper(opts)
	err := m.load(ctx, r, "", sink, report)
	report.Duration = time.Since(start)
	if err != nil {
		report.Error = err.Error()
	}
	if n := report.Dropped[ReasonDeleted]; err == nil && n > 0 && report.RecordsRead == n {
		// Deleted records are logged at DEBUG one by one; a document of
		// nothing else says what it held.
		m.log.Warn("every MISP record read is flagged deleted (deleted: true, or a ZMQ message with \"action\": \"delete\"): nothing loaded; what an earlier load wrote of them stays",
			"deleted", n)
	}
	return report, err
}

// LoadPath opens and loads one MISP file; the feed is named after the file
// unless opts.Feed is set.
func LoadPath(ctx context.Context, path string, sink graph.Sink, opts Options) (*engine.Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open MISP file: %w", err)
	}
	defer f.Close() //nolint:errcheck // read-only
	if opts.Feed == "" {
		opts.Feed = filepath.Base(path)
	}
	return LoadFile(ctx, f, sink, opts)
}

// bomAsSpace reads r with a leading UTF-8 byte order mark (which some
// exporters write and JSON does not allow) turned into three spaces, so
// that the byte offsets of later errors stay those of the file.
func bomAsSpace(r io.Reader) io.Reader {
	br := bufio.NewReader(r)
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, utf8BOM) {
		_, _ = br.Discard(3)
		return io.MultiReader(strings.NewReader("   "), br)
	}
	return br
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// job is the context of one record on its way through the engine
// (engine.Record.Meta): what kind of record it is and what it needs of its
// event, as the reader knew it when it read the record.
type job struct {
	kind       recordKind
	fr         *frame // the enclosing frame (event), or nil
	file       string // the event file in LoadDir
	galaxyType string // for galaxy clusters read outside a galaxy
	// deletedAtSource is set on a sighting of a ZMQ message whose action
	// is "delete" (MISP's Sighting::beforeDelete), and on the event of a
	// ZMQ misp_json_event message whose action is "delete" (MISP's
	// Event::beforeDelete): MISP removed it.
	deletedAtSource bool
	// listedOnly is set on an event read alone, without its Attribute and
	// Object lists, that says it has attributes (attribute_count): an
	// entry of an /events/index answer or a metadata-only search
	// (ReasonAttributesNotIncluded).
	listedOnly string
	// first and last are the event's first/last seen when the record was
	// read, for what has no time of its own (galaxies of the event).
	first, last time.Time
	// linked is set when the event node was queued before this record:
	// its links from the event are relations from evRef, else they are
	// kept for the end of the event.
	linked bool
	evRef  graph.Ref
	evUUID string
	// stub is the event node written early, ahead of this record's nodes.
	stub *graph.Node
	// version is the event's timestamp as read before the record (zero
	// when the event gives it later or not at all): the version of the
	// event its links and objects state (graph.Relation.StatedBy).
	version time.Time
	// evFrame is set when the record was read in an event: what it states
	// is its event's statement, once the event's uuid and version are
	// known (eventStated).
	evFrame bool
	// drop is set when the reader dropped the record (not an object, too
	// large).
	drop *engine.Drop
	// readErr is, for the end of an event, the error that cut it short.
	readErr error
	// fileHashes are, for an event-level attribute naming a file by name
	// and hash, every hash its event gives that file (samplefiles.go);
	// nil when the attribute's own hash is all.
	fileHashes map[string]string
	// sharingGroup is, for an attribute read outside any event, the
	// SharingGroup its document gives beside it (a ZMQ
	// misp_json_attribute message's): its own, when it has none inside.
	sharingGroup *rawSharingGroup
	// tags are, for such an attribute, the tags of the AttributeTag list
	// beside it: its own.
	tags []rawTag
	// evSharing is, for the end of a frame that is no event (recFrameEnd)
	// holding records beside one copy of their event, that event's
	// restriction of them (briefSharing), nil for none; for the one
	// attribute of such a frame held to its end (a ZMQ
	// misp_json_attribute message's), the same, which its own node's
	// record takes in its version (attributeRecord).
	evSharing map[string]any
	// besideEvent is set on the one attribute of a frame that is no event
	// held to its end beside one copy of its event (a ZMQ
	// misp_json_attribute message's): evSharing is that copy's
	// restriction of it, nil for none.
	besideEvent bool

	// Set by the mapper for the record being mapped.
	raw    []byte
	index  int64
	offset int64
	out    *mapping
}

// mapping is what mapping one record gives: the engine result, and the
// links to the event it keeps for the event's end.
type mapping struct {
	res   engine.Result
	links []link
	// own are the nodes of the record that are its event's alone (keyed
	// by a uuid of the event's records, not shared by value or name): the
	// event's TLP, read only at its end, applies to them (frame.own).
	own []ownNode
	// stated are the relations its event states, kept for the event's end
	// because its uuid or version was not known yet (eventStated).
	stated []graph.Relation
	// tlps are the TLPs of its attributes tagged with one, by uuid, and
	// sighted the sightings it wrote of attributes named by uuid alone
	// (the event's Sighting list): such a sighting takes its attribute's
	// TLP at the event's end (frame.sightingTLPs).
	tlps    map[string]graph.TLP
	sighted []sighted
	// held are its event's own nodes (and the relations naming them) a
	// record read before its event's uuid or version wrote, kept for the
	// event's end to be written as the event's records in its version
	// (frame.held).
	held     []graph.Node
	heldRels []graph.Relation
	// ownVersions are, for the one attribute of a ZMQ
	// misp_json_attribute message, the versions of its own node's record:
	// those of the restriction its message's Event gives the sightings
	// beside it (frame.ownVersions, endFrameRecords).
	ownVersions map[string]time.Time
}

type recordKind int

const (
	recAttribute recordKind = iota
	recObject
	recGalaxy
	recCluster
	recSighting
	recEventReport
	recNote
	recOpinion
	recRelationship
	// recEvent is the end of an event: its node, written with its links.
	recEvent
	// recFrameEnd is the end of a frame that is no event holding
	// records: their sightings' TLP records and, beside a copy of their
	// event (a ZMQ attribute message), the event's links to them.
	recFrameEnd
)

func (k recordKind) String() string {
	return [...]string{"attribute", "object", "galaxy", "galaxy-cluster", "sighting", "event report", "analyst note", "analyst opinion", "analyst relationship", "event", "frame end"}[k]
}

// mapper maps MISP records (on the engine's workers) and keeps, on the
// engine's batcher goroutine, what lasts across records: the events closed.
type mapper struct {
	opts  Options
	feed  string
	log   *slog.Logger
	tally *Tally
	// events counts the events closed, on the batcher goroutine.
	events int64
	// fileID is the event uuid the feed directory names the event file
	// being loaded by (LoadDir), "" otherwise. Set before the file's load
	// starts, read on its batcher goroutine.
	fileID string
}

func newMapper(opts Options) *mapper {
	return &mapper{opts: opts, feed: opts.Feed, log: opts.Logger.With("feed", opts.Feed, "format", Format), tally: opts.Tally}
}

// load reads one input through the engine, counting into report.
func (m *mapper) load(ctx context.Context, r io.Reader, file string, sink graph.Sink, report *engine.Report) error {
	src := &fileSource{feed: m.feed, file: file, opts: m.opts, log: m.log, tally: m.tally, count: &countingReader{r: bomAsSpace(r)}}
	return engine.Run(ctx, src, m.mapRecord, sink, m.opts.Options, report)
}

// mapRecord is the engine.Mapper of MISP: it runs on a worker.
func (m *mapper) mapRecord(rec engine.Record[*job]) engine.Result {
	j := *rec.Meta
	var out mapping
	j.raw, j.index, j.offset, j.out = rec.Raw, rec.Index, rec.Offset, &out
	if j.drop != nil {
		return engine.Result{Read: 1, Drops: []engine.Drop{*j.drop}}
	}
	b := &out.res.Batch
	if j.stub != nil {
		b.Nodes = append(b.Nodes, *j.stub)
	}
	switch j.kind {
	case recAttribute:
		m.attributeRecord(j, b)
	case recObject:
		m.objectRecord(j, b)
	case recGalaxy:
		m.galaxyRecord(j, b)
	case recCluster:
		m.clusterRecord(j, b)
	case recSighting:
		m.sightingRecord(j, b)
	case recEventReport:
		m.eventReportRecord(j, b)
	case recNote:
		m.analystRecord(j, b, j.raw, graph.KindNote, recNote.String(), j.evRef, j.first, j.last)
	case recOpinion:
		m.analystRecord(j, b, j.raw, graph.KindOpinion, recOpinion.String(), j.evRef, j.first, j.last)
	case recRelationship:
		m.analystRelationships(j, b, list[jsontext.Value]{j.raw}, j.evRef, j.first, j.last)
	case recEvent:
		return engine.Result{Ordered: func(res *engine.Result) { m.endEvent(j, res) }}
	case recFrameEnd:
		return engine.Result{Ordered: func(res *engine.Result) { m.endFrameRecords(j, res) }}
	}
	if j.linked && j.evUUID != "" {
		graph.MarkStated(b.Relations, alias(j.evUUID), j.version, j.evRef)
	}
	if j.evFrame && j.evUUID != "" && !j.version.IsZero() {
		stampOwn(b.Nodes, out.own, alias(j.evUUID), j.version)
	}
	b.Nodes = graph.MergeNodes(b.Nodes)
	if j.evFrame {
		// What the event states but could not yet say in which version
		// waits for the event's end (eventStated).
		b.Relations = slices.DeleteFunc(b.Relations, func(r graph.Relation) bool {
			if _, later := r.StatedBy[stateLater]; later {
				delete(r.StatedBy, stateLater) // what is left: the fallback
				if len(r.StatedBy) == 0 {
					r.StatedBy = nil
				}
				out.stated = append(out.stated, r)
				return true
			}
			return false
		})
	}
	if j.evFrame && (j.evUUID == "" || j.version.IsZero()) && len(out.own) > 0 {
		// Its event's own nodes, read before the event's uuid or version
		// (sorted keys put "uuid" and "timestamp" after "Attribute" and
		// "Object"), are the event's records in its version all the same:
		// held, with the relations naming them, for the event's end,
		// which stamps them (endEvent). Written now unversioned, a newer
		// version of the event could take nothing away from them.
		out.held, out.heldRels = holdOwn(b, out.own)
	}
	if j.fr != nil && (len(out.links) > 0 || len(out.own) > 0 || len(out.stated) > 0 || len(out.tlps) > 0 || len(out.sighted) > 0 || len(out.held) > 0 || out.ownVersions != nil) {
		fr, links, own, stated, tlps, sighted := j.fr, out.links, out.own, out.stated, out.tlps, out.sighted
		held, heldRels, ownVersions := out.held, out.heldRels, out.ownVersions
		out.res.Ordered = func(res *engine.Result) {
			if ownVersions != nil {
				fr.ownVersions = ownVersions
			}
			fr.keep(links)
			fr.keepOwn(own)
			fr.keepSighted(tlps, sighted)
			if rest := fr.keepStated(stated); len(rest) > 0 {
				// Too many kept: written now, stated as the record
				// could state them alone (eventStated's fallback).
				res.Batch.Relations = append(res.Batch.Relations, rest...)
			}
			if nodes, rels := fr.keepHeld(held, heldRels); len(nodes)+len(rels) > 0 {
				// Too many kept (maxHeld): written now, unversioned,
				// as before the event's end was told to stamp them.
				res.Batch.Nodes = append(res.Batch.Nodes, nodes...)
				res.Batch.Relations = append(res.Batch.Relations, rels...)
			}
		}
	}
	return out.res
}

// stateLater is the StatedBy mark, on the workers, of a relation that the
// record's event states once the event's uuid and version are known: the
// record is read before one of them (sorted keys put "uuid" and
// "timestamp" after "Object" and "EventReport"). mapRecord keeps such
// relations for the end of the event (frame.stated), which states them.
const stateLater = "\x00misp-event-later"

// eventStated marks the relations of rels whose Src is one of srcs as
// stated by the record's event in its version (graph.MarkStated): now
// when both are known, else at the event's end (stateLater). A newer
// version of the event that no longer states one supersedes it. own is
// the record's own uuid, or "": an event that never gives its uuid leaves
// them stated by it in the event's version, as far as known then.
func eventStated(j job, rels []graph.Relation, own string, srcs ...graph.Ref) {
	switch {
	case j.evUUID != "" && !j.version.IsZero():
		graph.MarkStated(rels, alias(j.evUUID), j.version, srcs...)
	case j.evFrame:
		for i := range rels {
			if slices.Contains(srcs, rels[i].Src) {
				rels[i].StatedBy = map[string]time.Time{stateLater: {}}
				if own != "" && !j.version.IsZero() {
					rels[i].StatedBy[alias(own)] = j.version
				}
			}
		}
	}
}

// addLink returns the relation from the record's event to the node of
// l.dst when the event node was queued before the record, and otherwise
// keeps the link for the end of the event.
func (m *mapper) addLink(j job, l link) (graph.Relation, bool) {
	if j.fr == nil {
		return graph.Relation{}, false
	}
	if j.linked {
		return l.relation(j.evRef), true
	}
	j.out.links = append(j.out.links, l)
	return graph.Relation{}, false
}

// drop counts a dropped record and says why; records deleted on purpose
// are logged at DEBUG, the others at WARN.
func (m *mapper) drop(j job, what, id string, reason engine.Reason, err error) {
	d := j.dropped(what, id, reason, err)
	j.out.res.Drops = append(j.out.res.Drops, d)
}

// dropped is the engine.Drop of a record of j.
func (j job) dropped(what, id string, reason engine.Reason, err error) engine.Drop {
	d := engine.Drop{Reason: reason, ID: truncate(id, 80), Quiet: reason == ReasonDeleted, Attrs: []any{"kind", what}}
	if j.file != "" {
		d.Attrs = append(d.Attrs, "file", j.file)
	}
	if j.evUUID != "" {
		d.Attrs = append(d.Attrs, "event", j.evUUID)
	}
	if err != nil {
		d.Detail = err.Error()
	}
	return d
}

// endEvent writes the event node with its tags, creator, clusters and the
// links kept while it was not yet written, in feed order after all its
// records, and reports the event through Options.OnEvent.
func (m *mapper) endEvent(j job, res *engine.Result) {
	fr := j.fr
	m.events++
	res.Read++
	if j.deletedAtSource {
		res.Drops = append(res.Drops, j.dropped("event", fr.uuid(), ReasonDeleted,
			errors.New(`event deleted: a ZMQ misp_json_event message with "action": "delete"`)))
		return
	}
	if fr.uuid() == "" && strings.TrimSpace(fr.fields["uuid"]) == "" {
		// An event written without a uuid (VMRay's MISP feed, PyMISP's
		// MISPEvent before a server saves it) is keyed by who wrote it,
		// what it is and its date (derivedEventUUID); one given and not
		// valid is still dropped.
		if u := derivedEventUUID(fr); u != "" {
			fr.fields["uuid"] = u
			fr.settle()
		}
	}
	ev := EventResult{UUID: fr.uuid(), Info: fr.fields["info"], Timestamp: parseTime(fr.fields["timestamp"]), File: j.file, Err: j.readErr}
	if m.fileID != "" && ev.UUID != m.fileID {
		// The feed's bookkeeping is by file: the event is reported under
		// the uuid its file is named by, so that the file is recorded
		// (and skipped while unchanged), and the mismatch is said.
		m.log.Warn("MISP event file holds an event whose uuid is not the one its file is named by; loaded under its own uuid",
			"file", j.file, "file_uuid", m.fileID, "event", fr.fields["uuid"])
		ev.UUID = m.fileID
	}
	defer func() {
		if m.opts.OnEvent != nil {
			m.opts.OnEvent(ev)
		}
	}()
	for _, field := range []string{"date", "timestamp", "publish_timestamp"} {
		if _, err := parseTimeChecked(fr.fields[field]); err != nil {
			m.badTime(j, "event", fr.fields["uuid"], fmt.Errorf("%s: %w", field, err))
		}
	}
	stated := fr.stated
	fr.stated = nil
	held, heldRels := fr.held, fr.heldRels
	fr.held, fr.heldRels = nil, nil
	sightingTLPs := fr.sightingTLPs(m.feed)
	if fr.uuid() == "" {
		res.Drops = append(res.Drops, j.dropped("event", fr.fields["uuid"], engine.ReasonMissingID,
			fmt.Errorf("event %q has no valid uuid; its records load without it", truncate(fr.fields["info"], 80))))
		res.Batch = graph.Batch{Nodes: append(sightingTLPs, held...), Relations: append(stated, heldRels...)} // as their records could state them
		return
	}
	nodes, rels := fr.buildEvent(m.feed)
	nodes = append(nodes, sightingTLPs...)
	for _, d := range fr.deferred {
		rels = append(rels, d.relation(fr.evRef))
	}
	// The event states its links in this version (its timestamp): a newer
	// version without one supersedes it (an attribute deleted or changed).
	// A copy without its members (no Attribute or Object list: metadata
	// only) is no such version: had it one, loading it after the full event
	// would supersede every link the event holds; its links stand alone.
	version := parseTime(fr.fields["timestamp"])
	if !fr.members {
		version = time.Time{}
	}
	if n := j.listedOnly; n != "" {
		d := j.dropped("event", fr.uuid(), ReasonAttributesNotIncluded, fmt.Errorf(
			"event %q is listed with %s attributes and none of them (an /events/index answer or a metadata-only search): "+
				"its node, tags and creator load; load the event itself (/events/view/<uuid>, restSearch without metadata, or its feed file) for its attributes",
			truncate(fr.fields["info"], 80), n))
		res.PartDrops = append(res.PartDrops, d)
	}
	if v := version; !v.IsZero() {
		nodes[0].Versions = map[string]time.Time{alias(fr.uuid()): v}
		graph.MarkStated(rels, alias(fr.uuid()), v, fr.evRef)
	}
	fr.deferred = nil
	if fr.overflow {
		m.log.Warn("MISP event links dropped: uuid came after too many records", "event", fr.uuid(), "kept", maxDeferred)
	}
	for i := range rels {
		rels[i].Sources = []string{m.feed}
	}
	// What its records stated before its uuid or version was read, the
	// event states in this version (without a timestamp, as the records
	// could state them alone).
	if v := version; !v.IsZero() {
		for i := range stated {
			stated[i].StatedBy = map[string]time.Time{alias(fr.uuid()): v}
		}
	}
	rels = append(rels, stated...)
	// The own nodes its records wrote before its uuid or version was read
	// are its records in this version, as if read after them (stampOwn).
	if v := version; !v.IsZero() {
		for i := range held {
			vs := maps.Clone(held[i].Versions)
			if vs == nil {
				vs = map[string]time.Time{}
			}
			vs[alias(fr.uuid())] = v
			held[i].Versions = vs
		}
	}
	rels = append(rels, heldRels...)
	// The event's TLP marks its own content too (attributes keyed by their
	// uuid, objects, sightings), never the observables and clusters other
	// events share: MISP writes the event's tags after its attributes, so
	// each gets a record of the TLP alone now, which the merge (strictest
	// TLP) adds to what its record wrote. The record is the event's, in its
	// version (node_records: graph.RecordSource), so a newer version of the
	// event replaces it: one that lost the tag takes the TLP away. A node
	// whose record was written in this version (stampOwn) has that record
	// replaced by the newer version's; one read before the event's uuid or
	// version gets a record without a TLP too, to be replaced.
	tlp := nodes[0].TLP
	var versions map[string]time.Time
	if !version.IsZero() {
		versions = map[string]time.Time{alias(fr.uuid()): version}
	}
	sources := []string{m.feed} // shared: a merge copies, never modifies
	for _, o := range fr.own {
		if tlp != graph.TLPNone || (versions != nil && !o.stamped) {
			rec := o.tlpRecord(tlp, sources)
			rec.Versions = versions
			nodes = append(nodes, rec)
		}
	}
	// So does its distribution when it restricts them: MISP shows an
	// attribute or object only to those who may see its event too, so
	// "all communities" inside an event of a sharing group is that
	// group's. Each own node gets a record of the event's restriction
	// (eventSharing), beside its own distribution, which it keeps.
	// That record is the event's, in its version, as the TLP's is: a
	// newer version that no longer restricts them (of all communities
	// now) takes it away.
	if rec := eventSharing(nodes[0].Props); rec != nil {
		for _, o := range fr.own {
			r := o.propsRecord(rec, []string{m.feed})
			r.Versions = versions
			nodes = append(nodes, r)
		}
	}
	// The event's own restriction is a record of its own, in the version
	// of the copy that gives it (restrictionRecord), kept apart from the
	// event's record as the held records are.
	restriction, restricted := restrictionRecord(nodes[0], fr)
	if fr.sightsOverflow {
		m.log.Warn("MISP attribute TLP not applied to all the event's sightings: too many", "event", fr.uuid(), "kept", maxDeferred)
	}
	if fr.ownOverflow {
		m.log.Warn("MISP event TLP and distribution not applied to all its records: too many", "event", fr.uuid(), "kept", maxDeferred)
	}
	if fr.heldOverflow {
		m.log.Warn("MISP event records read before its uuid and timestamp written without its version: too many to keep for its end (a newer version of the event replaces only those kept)", "event", fr.uuid(), "kept", maxHeld)
	}
	fr.own = nil
	// The held records stay apart from the TLP and restriction records,
	// as a record written in this version before is (stampOwn): merged
	// into one, a record of an indicator whose own version equals the
	// event's would be the indicator's (graph.RecordSource), and the TLP
	// in it one that no newer version of the event takes away.
	res.Batch = graph.Batch{Nodes: append(graph.MergeNodes(nodes), held...), Relations: rels}
	if restricted {
		res.Batch.Nodes = append(res.Batch.Nodes, restriction)
	}
	res.Mapped++
}

// endFrameRecords ends a frame that is no event (j.fr) holding records: it
// writes the TLP records of their sightings, and the links its records
// kept from the one event read beside them, if any (j.evRef: the Event of
// a ZMQ misp_json_attribute message, {"Attribute": …, "Event": …}): the
// same relation, direction and props as the event itself gives (mapping
// the attribute in the event's Attribute list), so loading the event
// later adds no second record of the link. They are stated by no version
// of the event, as the links of an attribute search result naming its
// event are not: such a copy of the event holds one attribute and says
// nothing of the others. Called in feed order on the batcher goroutine.
func (m *mapper) endFrameRecords(j job, res *engine.Result) {
	fr := j.fr
	// The sightings of its Sighting list take their attributes' TLP, as
	// in an event (frame.sightingTLPs).
	res.Batch.Nodes = append(res.Batch.Nodes, fr.sightingTLPs(m.feed)...)
	if fr.sightsOverflow {
		m.log.Warn("MISP attribute TLP not applied to all the sightings beside them: too many", "kept", maxDeferred)
	}
	// Its records' own nodes are bounded by their event's restriction,
	// as in their event (endEvent).
	own := fr.own
	fr.own = nil
	if j.evSharing != nil || fr.ownVersions != nil {
		for _, o := range own {
			// Beside the one attribute of a ZMQ message, in that
			// attribute's version (fr.ownVersions, nil for none), as its
			// own restriction is (attributeRecord): a newer message of
			// the attribute replaces it.
			r := o.propsRecord(j.evSharing, []string{m.feed})
			r.Versions = fr.ownVersions
			res.Batch.Nodes = append(res.Batch.Nodes, r)
		}
	}
	if j.evRef == "" {
		fr.deferred = nil // no event to link them from
		return
	}
	for _, l := range fr.deferred {
		rel := l.relation(j.evRef)
		rel.Sources = []string{m.feed}
		res.Batch.Relations = append(res.Batch.Relations, rel)
	}
	if fr.overflow {
		m.log.Warn("MISP event links dropped: too many records beside their event", "event", j.evUUID, "kept", maxDeferred)
	}
	fr.deferred = nil
}

// badTime logs a time field dropped from a record that loads without it
// (an event, object or reference), under ReasonInvalidTimestamp. It is
// safe on the workers.
func (m *mapper) badTime(j job, what, id string, err error) {
	args := []any{"kind", what, "id", truncate(id, 80), "reason", ReasonInvalidTimestamp, "detail", err.Error()}
	if j.file != "" {
		args = append(args, "file", j.file)
	}
	if j.evUUID != "" {
		args = append(args, "event", j.evUUID)
	}
	m.log.Warn("MISP time field dropped; the record loads without it", args...)
}

// moveReserved keeps the properties a source named itself (an object's
// attributes by object_relation) whose names the graph reserves for its
// marks under another key (graph.MoveReservedProps), each with a warning,
// so that only the mapper's own detection (a galaxy's revoked-by) sets
// graph.PropLifecycle.
func (m *mapper) moveReserved(j job, what, id string, props map[string]any) {
	for _, k := range graph.MoveReservedProps(props) {
		args := []any{"kind", what, "id", truncate(id, 80), "property", k, "kept_as", graph.SourcePropKey(k)}
		if j.file != "" {
			args = append(args, "file", j.file)
		}
		if j.evUUID != "" {
			args = append(args, "event", j.evUUID)
		}
		m.log.Warn("MISP property name is reserved for the graph's own marks; kept under another name", args...)
	}
}

// syntaxError converts a decoder error into an *engine.OffsetError at its
// offset.
func syntaxError(err error, dec *jsontext.Decoder) error {
	var se *jsontext.SyntacticError
	if errors.As(err, &se) {
		return engine.SyntaxAt(se.ByteOffset, se.Err)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return engine.SyntaxAt(dec.InputOffset(), io.ErrUnexpectedEOF)
	}
	return err
}
