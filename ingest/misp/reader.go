package misp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/ransomeye/intel/ingest/engine"
	"github.com/ransomeye/intel/ingest/internal/jsonguard"
)

// fileSource is the engine.Source of one MISP document: it walks the
// document token by token and emits its records (attributes, objects,
// galaxies, clusters, sightings, the ends of events). Only records and small
// event members are held in memory: the document goes through a
// jsonguard.Guard, which squeezes runs of white space, replaces values
// nested deeper than Options.MaxDepth, and cuts a record or a single
// string or number at Options.MaxRecordBytes, so the decoder never buffers
// more than about one record limit.
type fileSource struct {
	feed  string
	file  string
	opts  Options
	log   *slog.Logger
	tally *Tally
	count *countingReader
	// emit is the engine's, for the duration of Read.
	emit  func(engine.Record[*job]) error
	index int64
	guard *jsonguard.Guard
	// head keeps the input's first bytes, to say what it is when it is
	// no JSON (notJSONLayout).
	head *headReader
}

// Read reads the document to its end.
func (s *fileSource) Read(ctx context.Context, emit func(engine.Record[*job]) error) error {
	s.emit = emit
	s.head = &headReader{r: s.count}
	s.guard = jsonguard.New(s.head, jsonguard.Options{MaxDepth: s.opts.MaxDepth, MaxToken: s.opts.MaxRecordBytes})
	var in io.Reader = s.guard
	if !s.opts.Strict {
		in = newCommaReader(s.guard, func(off int64) {
			attrs := []any{"offset", s.guard.FeedOffset(off)}
			if s.file != "" {
				attrs = append(attrs, "file", s.file)
			}
			s.log.Warn("trailing comma read as white space", attrs...)
		})
	}
	err := s.read(ctx, in)
	if oe := (*engine.OffsetError)(nil); errors.As(err, &oe) {
		oe.Offset = s.guard.FeedOffset(oe.Offset)
	}
	return err
}

// Bytes is the number of bytes read.
func (s *fileSource) Bytes() int64 { return s.count.n }

// send emits a record of j, which starts at stream offset offset.
func (s *fileSource) send(offset int64, raw []byte, j *job) error {
	rec := engine.Record[*job]{Index: s.index, Offset: s.guard.FeedOffset(offset), Raw: raw, Meta: j}
	s.index++
	return s.emit(rec)
}

// read walks the document token by token.
func (s *fileSource) read(ctx context.Context, r io.Reader) error {
	dec := jsontext.NewDecoder(r, jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	values := 0
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var err error
		switch k := dec.PeekKind(); k {
		case 0:
			if _, err := dec.ReadToken(); err != io.EOF {
				if l := s.layout(values); l != "" {
					return fmt.Errorf("%w: %s; nothing was loaded", ErrNotMISP, l)
				}
				return syntaxError(err, dec)
			}
			if values == 0 {
				return fmt.Errorf("%w: no JSON value", ErrNotMISP)
			}
			return nil
		case '{':
			err = s.readFrame(ctx, dec, false, nil, false)
		case '[':
			err = s.readArray(ctx, dec, func() error { return s.frameOrSkip(ctx, dec, false, nil, true) })
		default:
			if l := s.layout(values); l != "" {
				return fmt.Errorf("%w: %s; nothing was loaded", ErrNotMISP, l)
			}
			return fmt.Errorf("%w: the document is a JSON %v, not an object or array", ErrNotMISP, k)
		}
		values++
		if err != nil {
			return err
		}
	}
}

// layout says what the input is when its first value (values is how many
// were read) is no JSON object or array (notJSONLayout), else "".
func (s *fileSource) layout(values int) string {
	if values > 0 || s.head == nil {
		return ""
	}
	return notJSONLayout(s.head.head)
}

// readArray reads '[', calls each for every element, and reads ']'.
func (s *fileSource) readArray(ctx context.Context, dec *jsontext.Decoder, each func() error) error {
	if _, err := dec.ReadToken(); err != nil {
		return syntaxError(err, dec)
	}
	for dec.PeekKind() != ']' {
		if err := ctx.Err(); err != nil {
			return err
		}
		if dec.PeekKind() == 0 {
			_, err := dec.ReadToken()
			return syntaxError(err, dec)
		}
		if err := each(); err != nil {
			return err
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return syntaxError(err, dec)
	}
	return nil
}

// frameOrSkip reads an object as a frame (nested in parent, or nil) and
// skips anything else.
func (s *fileSource) frameOrSkip(ctx context.Context, dec *jsontext.Decoder, wrapped bool, parent *frame, element bool) error {
	if dec.PeekKind() == '{' {
		return s.readFrame(ctx, dec, wrapped, parent, element)
	}
	if err := dec.SkipValue(); err != nil {
		return syntaxError(err, dec)
	}
	return s.guardDrops(dec, nil, "document value")
}

// nested reads the value of "Event" or "response" of the frame parent: a
// frame or an array of frames.
func (s *fileSource) nested(ctx context.Context, dec *jsontext.Decoder, wrapped bool, parent *frame) error {
	if dec.PeekKind() == '[' {
		return s.readArray(ctx, dec, func() error { return s.frameOrSkip(ctx, dec, wrapped, parent, true) })
	}
	return s.frameOrSkip(ctx, dec, wrapped, parent, false)
}

// readFrame reads one object at the document level (nested in the frame
// parent, or nil; an element of an array when element is set). Whatever
// happens, the frame is closed: an event cut short by a syntax error is
// still written with what was read of it.
func (s *fileSource) readFrame(ctx context.Context, dec *jsontext.Decoder, wrapped bool, parent *frame, element bool) error {
	fr := newFrame(wrapped, dec.InputOffset())
	fr.parent, fr.element = parent, element
	if _, err := dec.ReadToken(); err != nil {
		return syntaxError(err, dec)
	}
	err := s.frameMembers(ctx, dec, fr)
	if eerr := s.endFrame(ctx, fr, err); err == nil {
		err = eerr
	}
	return err
}

func (s *fileSource) frameMembers(ctx context.Context, dec *jsontext.Decoder, fr *frame) error {
	for dec.PeekKind() != '}' {
		if err := ctx.Err(); err != nil {
			return err
		}
		tok, err := dec.ReadToken()
		if err != nil {
			return syntaxError(err, dec)
		}
		name := tok.String()
		kind, isList := recordLists[name]
		switch {
		case name == "Event":
			fr.holdsEvent = true
			err = s.nested(ctx, dec, true, fr)
		case name == "response":
			err = s.nested(ctx, dec, false, fr)
		case isList:
			if kind == recAttribute || kind == recObject || kind == recEventReport {
				fr.members = true
			}
			err = s.records(ctx, dec, fr, kind)
		case name == "GalaxyCluster", name == "values":
			if name == "GalaxyCluster" {
				s.tally.add(func(t *Tally) { t.Galaxies++ })
			}
			err = s.records(ctx, dec, fr, recCluster)
		case name == "Tag":
			err = s.frameTags(dec, fr)
		case name == "EventTag" && dec.PeekKind() == '[':
			err = s.eventTags(dec, fr)
		case name == "AttributeTag" && dec.PeekKind() == '[':
			err = s.attributeTags(dec, fr)
		case name == "Orgc":
			fr.marked = true
			err = s.frameOrg(dec, fr)
		case name == "SharingGroup" && dec.PeekKind() == '{':
			err = s.frameSharingGroup(dec, fr)
		default:
			err = s.frameScalar(dec, fr, name)
		}
		if err != nil {
			return err
		}
		if err := s.guardDrops(dec, fr, "event member "+truncate(name, 80)); err != nil {
			return err
		}
		fr.settle()
	}
	if _, err := dec.ReadToken(); err != nil {
		return syntaxError(err, dec)
	}
	return nil
}

// guardDrops emits a dropped record for every value just read that the
// guard cut or replaced outside any record (an event "info" over the
// record limit, an unknown member or a document element nested too
// deeply); the value, cut short, was not kept (see frameScalar). fr may be
// nil.
func (s *fileSource) guardDrops(dec *jsontext.Decoder, fr *frame, what string) error {
	for _, ev := range s.guard.Take(dec.InputOffset()) {
		j := &job{kind: recEvent, fr: fr, file: s.file}
		id := ""
		if fr != nil {
			j.evUUID, id = fr.evUUID, fr.uuid()
		}
		reason, err := s.guardReason(ev)
		d := j.dropped(what, id, reason, err)
		j.drop = &d
		if err := s.send(ev.Out, nil, j); err != nil {
			return err
		}
	}
	return nil
}

// guardReason is the drop reason of a guard event, with the details.
func (s *fileSource) guardReason(ev jsonguard.Event) (engine.Reason, error) {
	if ev.Kind == jsonguard.TooDeep {
		return engine.ReasonTooDeep, fmt.Errorf("arrays and objects nested deeper than %d levels at byte offset %d", s.opts.MaxDepth, ev.Feed)
	}
	return engine.ReasonTooLarge, fmt.Errorf("more than %d bytes from byte offset %d, limit %d", ev.Size, ev.Feed, s.opts.MaxRecordBytes)
}

// cut reports whether the guard changed the value read from stream offset
// from on (the decoder is just past it).
func (s *fileSource) cut(dec *jsontext.Decoder, from int64) bool {
	return s.guard.Pending(from, dec.InputOffset())
}

// frameScalar keeps a scalar member the frame needs and skips the rest.
func (s *fileSource) frameScalar(dec *jsontext.Decoder, fr *frame, name string) error {
	if eventMarkers[name] {
		fr.marked = true
	}
	switch k := dec.PeekKind(); {
	case frameKeys[name] && k != '{' && k != '[' && k != 0:
		from := dec.InputOffset()
		v, err := readScalar(dec)
		if err != nil {
			return syntaxError(err, dec)
		}
		if s.cut(dec, from) {
			return nil // cut short: dropped by memberDrops
		}
		fr.fields[name] = v
		if name == "date" || name == "timestamp" {
			fr.seenValid = false
		}
	default:
		if err := dec.SkipValue(); err != nil {
			return syntaxError(err, dec)
		}
	}
	return nil
}

// frameTags reads the event's tags; tags of the wrong shape are logged and
// ignored.
func (s *fileSource) frameTags(dec *jsontext.Decoder, fr *frame) error {
	off := dec.InputOffset()
	raw, err := s.readValue(dec)
	if err != nil || raw == nil {
		return err
	}
	var tags list[rawTag]
	if err := unmarshal(raw, &tags); err != nil {
		s.log.Warn("MISP event tags ignored", "offset", s.guard.FeedOffset(off), "event", fr.uuid(), "error", err.Error())
		return nil
	}
	fr.tags = append(fr.tags, tags...)
	return nil
}

// eventTags reads an "EventTag" list: MISP's join rows of an event and
// its tags ([{"id", "event_id", "tag_id", "local", "Tag": {"name", …}}]),
// which events/index and the events of GET /events give instead of a Tag
// list. Their tags are the event's, as a Tag list's are (a tlp:amber among
// them is the event's TLP). Beside an event rather than in it (a ZMQ
// misp_json_event message: {"Event": {…}, "Orgc": {…}, "EventTag": […]})
// they are the event's too (frame.takeWrapper).
func (s *fileSource) eventTags(dec *jsontext.Decoder, fr *frame) error {
	tags, _, err := s.tagRows(dec, fr, "EventTag")
	fr.tags = append(fr.tags, tags...)
	return err
}

// tagRows reads a list of join rows ({"tag_id": …, "Tag": {"name": …}},
// MISP's EventTag and AttributeTag) and returns their named tags and the
// list's offset; a list of the wrong shape is said at WARN, naming what,
// and gives none.
func (s *fileSource) tagRows(dec *jsontext.Decoder, fr *frame, what string) ([]rawTag, int64, error) {
	off := dec.InputOffset()
	raw, err := s.readValue(dec)
	if err != nil || raw == nil {
		return nil, off, err
	}
	var rows list[struct {
		Tag *rawTag `json:"Tag"`
	}]
	if err := unmarshal(raw, &rows); err != nil {
		s.log.Warn("MISP "+what+" list ignored", "offset", s.guard.FeedOffset(off), "event", fr.uuid(), "error", err.Error())
		return nil, off, nil
	}
	var tags []rawTag
	for _, r := range rows {
		if r.Tag != nil && r.Tag.Name != "" {
			tags = append(tags, *r.Tag)
		}
	}
	return tags, off, nil
}

// attributeTags reads an "AttributeTag" list beside an attribute (a ZMQ
// misp_json_attribute message's, as older MISP releases publish the
// attribute's tags: rows {"tag_id": …, "Tag": {"name": …}}; empty in
// MISP's documented example): its tags are kept for the frame's end, where
// the message's one attribute, held there, takes them (endFrame); a list
// given to no such attribute is said at WARN.
func (s *fileSource) attributeTags(dec *jsontext.Decoder, fr *frame) error {
	tags, off, err := s.tagRows(dec, fr, "AttributeTag")
	fr.attrTags = append(fr.attrTags, tags...)
	if len(tags) > 0 && fr.attrTagsOffset == 0 {
		fr.attrTagsOffset = off
	}
	return err
}

func (s *fileSource) frameOrg(dec *jsontext.Decoder, fr *frame) error {
	raw, err := s.readValue(dec)
	if err != nil || raw == nil {
		return err
	}
	var org rawOrg
	if err := unmarshal(raw, &org); err == nil {
		fr.orgc = org
	}
	return nil
}

// frameSharingGroup reads the frame's SharingGroup (an event's; beside an
// attribute in a ZMQ misp_json_attribute message, the attribute's, given
// to it at the frame's end: endFrame).
func (s *fileSource) frameSharingGroup(dec *jsontext.Decoder, fr *frame) error {
	raw, err := s.readValue(dec)
	if err != nil || raw == nil {
		return err
	}
	var sg rawSharingGroup
	if err := unmarshal(raw, &sg); err == nil {
		fr.sharingGroup = &sg
	}
	return nil
}

// records reads the value of a record member: an array of records, one
// record, or null.
func (s *fileSource) records(ctx context.Context, dec *jsontext.Decoder, fr *frame, kind recordKind) error {
	switch dec.PeekKind() {
	case '[':
		if kind != recCluster && fr.waits() {
			// A list read before anything says what the frame is (a
			// bare event with sorted keys), or before the event's uuid
			// and timestamp (sorted keys): kept to the frame's end.
			fr.spooling = true
			defer func() { fr.spooling = false }()
		}
		return s.readArray(ctx, dec, func() error { return s.record(ctx, dec, fr, kind) })
	case 'n':
		if _, err := dec.ReadToken(); err != nil {
			return syntaxError(err, dec)
		}
		return nil
	}
	if kind == recAttribute && fr.parent == nil && dec.PeekKind() == '{' {
		// One attribute at the top of a document (a ZMQ
		// misp_json_attribute message: {"Attribute": {…}, "Event": {…},
		// "SharingGroup": {…}}) waits for the frame's end, where the
		// SharingGroup beside it, its own, is known.
		fr.holdAttribute = true
		defer func() { fr.holdAttribute = false }()
	}
	if kind == recSighting && fr.parent == nil && dec.PeekKind() == '{' {
		// One sighting at the top of a document that is no event (a ZMQ
		// misp_json_sighting message: {"Sighting": {…}, "action": …})
		// waits for the frame's end, where its "action" is known.
		fr.holdSighting = true
		defer func() { fr.holdSighting = false }()
	}
	return s.record(ctx, dec, fr, kind)
}

// jobFor is the job of a record of kind read in fr now: what it needs of
// its frame as far as the frame is known.
func (s *fileSource) jobFor(fr *frame, kind recordKind) *job {
	j := &job{kind: kind, fr: fr, file: s.file, evUUID: fr.evUUID}
	if fr.isEvent() {
		j.version, j.evFrame = parseTime(fr.fields["timestamp"]), true
	}
	if kind == recCluster {
		j.galaxyType = fr.fields["type"]
	}
	j.first, j.last = fr.seen()
	return j
}

// record reads one record and emits it.
func (s *fileSource) record(ctx context.Context, dec *jsontext.Decoder, fr *frame, kind recordKind) error {
	j := s.jobFor(fr, kind)
	fr.ownRecords = true
	offset := dec.InputOffset()
	if dec.PeekKind() != '{' {
		if err := dec.SkipValue(); err != nil {
			return syntaxError(err, dec)
		}
		s.tally.countRead(kind)
		reason, err := engine.ReasonNotObject, fmt.Errorf("%s is not a JSON object", kind)
		if evs := s.guard.Take(dec.InputOffset()); len(evs) > 0 {
			reason, err = s.guardReason(evs[0])
		}
		d := j.dropped(kind.String(), "", reason, err)
		j.drop = &d
		return s.send(offset, nil, j)
	}
	raw, err := s.readValue(dec)
	if err != nil {
		return err
	}
	if raw == nil {
		s.tally.countRead(kind)
		reason, err := s.guardReason(s.guard.Take(dec.InputOffset())[0])
		d := j.dropped(kind.String(), "", reason, err)
		j.drop = &d
		return s.send(offset, nil, j)
	}
	if els := indexMap(raw); els != nil && (kind == recAttribute || kind == recObject || kind == recSighting || kind == recEventReport) {
		// A list written as an object of indexed entries: each entry
		// is a record.
		for _, el := range els {
			je := *j
			if err := s.recordOrSpool(fr, kind, offset, el, &je); err != nil {
				return err
			}
		}
		return nil
	}
	return s.recordOrSpool(fr, kind, offset, raw, j)
}

// recordOrSpool emits the record raw of kind, read at offset, as j, or
// keeps it for the frame's end while what the frame is waits to be told
// (frame.spooling).
func (s *fileSource) recordOrSpool(fr *frame, kind recordKind, offset int64, raw []byte, j *job) error {
	if fr.spooling {
		if fr.spool == nil {
			fr.spool = &spool{}
		}
		return fr.spool.add(kind, offset, raw)
	}
	return s.recordRaw(fr, kind, offset, raw, j)
}

// replaySpool emits, at the end of fr, the records it kept while what the
// frame is was not known (a bare event with sorted keys): mapped as what
// the frame turned out to be, with its uuid, version and times.
func (s *fileSource) replaySpool(ctx context.Context, fr *frame) error {
	sp := fr.spool
	if sp == nil {
		return nil
	}
	fr.spool = nil
	if fr.isEvent() && strings.TrimSpace(fr.fields["uuid"]) == "" {
		// An event written without a uuid is keyed by the one derived
		// from what it says (derivedEventUUID), known now: its records
		// are mapped as its own.
		if u := derivedEventUUID(fr); u != "" {
			fr.fields["uuid"] = u
			fr.settle()
		}
	}
	if !fr.isEvent() {
		s.log.Debug("MISP records held to their frame's end: it is no event", "offset", s.guard.FeedOffset(fr.offset), "records", sp.n)
	}
	return sp.each(func(r spooled) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return s.recordRaw(fr, r.kind, r.offset, r.raw, s.jobFor(fr, r.kind))
	})
}

// recordRaw emits the record raw of kind, read at offset, as j.
func (s *fileSource) recordRaw(fr *frame, kind recordKind, offset int64, raw []byte, j *job) error {
	if kind == recAttribute && s.holdFile(fr, offset, raw, j) {
		return nil
	}
	if fr.evRef != "" && !fr.stubSent && kind != recCluster && !j.last.IsZero() {
		fr.stubSent = true
		stub := fr.stub(s.feed)
		j.stub = &stub
	}
	j.linked, j.evRef = fr.stubSent, fr.evRef
	if (kind == recSighting && fr.holdSighting || kind == recAttribute && fr.holdAttribute) && !fr.isEvent() {
		fr.late = append(fr.late, engine.Record[*job]{Offset: offset, Raw: raw, Meta: j})
		return nil
	}
	if kind == recGalaxy && j.last.IsZero() {
		// Its clusters would get the time of loading; wait for the event's.
		fr.late = append(fr.late, engine.Record[*job]{Offset: offset, Raw: raw, Meta: j})
		return nil
	}
	return s.send(offset, raw, j)
}

// endFrame emits the galaxies of the frame that waited for its times and,
// for an event, the end of the event, which writes the event node with its
// tags, creator, clusters and the links kept while it was not yet written.
func (s *fileSource) endFrame(ctx context.Context, fr *frame, readErr error) error {
	if err := s.replaySpool(ctx, fr); err != nil {
		return err
	}
	if len(fr.late) > 0 {
		first, last := fr.seen()
		for _, rec := range fr.late {
			if rec.Meta.kind == recEvent {
				// A copy of an event without its members held by
				// its wrapper: a ZMQ misp_json_event message with
				// "action": "delete" (and no records of its own)
				// says MISP deleted the event.
				rec.Meta.deletedAtSource = !fr.ownRecords && strings.EqualFold(strings.TrimSpace(fr.fields["action"]), "delete")
				if fr.holdsEvent && fr.nestedEvents == 1 {
					// The creator and tags the message gives
					// beside its event, read after it.
					given := rec.Meta.fr.takeWrapper(fr)
					s.tally.add(func(t *Tally) { t.EventTags += int64(given) })
				}
				if err := s.send(rec.Offset, rec.Raw, rec.Meta); err != nil {
					return err
				}
				continue
			}
			if rec.Meta.kind == recSighting {
				rec.Meta.deletedAtSource = strings.EqualFold(strings.TrimSpace(fr.fields["action"]), "delete")
			}
			if rec.Meta.kind == recAttribute && !fr.isEvent() {
				// The SharingGroup and AttributeTag list beside the
				// attribute are its own.
				rec.Meta.sharingGroup, rec.Meta.tags = fr.sharingGroup, fr.attrTags
				fr.attrTags = nil
				if ev := fr.nestedEvent; fr.nestedEvents == 1 && ev != nil {
					// The restriction of the copy of its event
					// beside it: part of its record, in its version
					// (attributeRecord).
					rec.Meta.evSharing = briefSharing(ev.fields["distribution"], ev.sharingGroup)
					rec.Meta.besideEvent = true
				}
			}
			rec.Meta.first, rec.Meta.last = first, last
			rec.Meta.linked, rec.Meta.evRef, rec.Meta.evUUID = fr.stubSent, fr.evRef, fr.evUUID
			if err := s.send(rec.Offset, rec.Raw, rec.Meta); err != nil {
				return err
			}
		}
		fr.late = nil
	}
	if err := s.sendFiles(fr); err != nil {
		return err
	}
	if n := len(fr.attrTags); n > 0 {
		// An AttributeTag list beside no attribute held for it (beside a
		// list of attributes, or in an event): whose tags they are is
		// not said.
		s.log.Warn("MISP AttributeTag list beside an attribute not read: its tags (a TLP among them) are not applied; give them in the attribute's Tag list",
			"offset", s.guard.FeedOffset(fr.attrTagsOffset), "event", fr.uuid(), "tags", n)
		fr.attrTags = nil
	}
	if !fr.isEvent() {
		if n := len(fr.tags) - fr.tagsGiven; n > 0 {
			// Tags beside an event already written (one holding
			// attributes or objects, written before the wrapper's
			// end), or beside several events.
			s.log.Warn("MISP tags beside an event not applied: the event was written before them, or the wrapper holds several events; give them in the event's Tag list",
				"offset", s.guard.FeedOffset(fr.offset), "tags", n)
		}
		if !fr.ownRecords {
			return nil
		}
		// Records read outside an event: their sightings take their
		// attributes' TLP, and records beside a copy of their event (a
		// ZMQ misp_json_attribute message: {"Attribute": …, "Event": …,
		// "Sighting": […]}) are linked from it as the event itself
		// links them.
		j := &job{kind: recFrameEnd, fr: fr, file: s.file}
		if ev := fr.nestedEvent; fr.nestedEvents == 1 && ev != nil && ev.evUUID != "" {
			j.evRef, j.evUUID = ev.evRef, ev.evUUID
			j.evSharing = briefSharing(ev.fields["distribution"], ev.sharingGroup)
		}
		return s.send(fr.offset, nil, j)
	}
	if p := fr.parent; p != nil && p.holdsEvent && !p.isEvent() && p.nestedEvents == 0 {
		// What a ZMQ misp_json_event message gives beside its
		// event and read before it: the event's creator and tags.
		fr.takeWrapper(p)
	}
	s.tally.add(func(t *Tally) {
		t.Events++
		t.EventTags += int64(len(fr.tags))
	})
	fr.settle()
	j := &job{kind: recEvent, fr: fr, file: s.file, evUUID: fr.evUUID, readErr: readErr}
	if n, err := strconv.Atoi(strings.TrimSpace(fr.fields["attribute_count"])); err == nil && n > 0 && !fr.members {
		// Set on the events sent here, not on a copy in a message
		// (below), which says what it holds beside it.
		j.listedOnly = strconv.Itoa(n)
	}
	if p := fr.parent; p != nil {
		p.nestedEvents++
		p.nestedEvent = fr
		if p.parent == nil && !p.isEvent() && !fr.members {
			// A copy of the event without its members in a message
			// ({"Event": {…}, "action": "delete"}): its end waits for
			// the message's, where its action is known.
			j.listedOnly = ""
			p.late = append(p.late, engine.Record[*job]{Offset: fr.offset, Meta: j})
			return nil
		}
	}
	return s.send(fr.offset, nil, j)
}

// readValue reads the next value with the guard armed to cut it at the
// record limit, and returns a copy of it, or nil when the guard cut it or
// replaced a part nested too deeply (its events are then left to Take).
func (s *fileSource) readValue(dec *jsontext.Decoder) ([]byte, error) {
	from := dec.InputOffset()
	if k := dec.PeekKind(); k == '{' || k == '[' {
		start := from + int64(bytes.IndexByte(dec.UnreadBuffer(), byte(k)))
		s.guard.Arm(start, dec.StackDepth(), s.opts.MaxRecordBytes)
	}
	raw, err := dec.ReadValue()
	s.guard.Disarm()
	if err != nil {
		return nil, syntaxError(err, dec)
	}
	if s.cut(dec, from) {
		return nil, nil
	}
	return bytes.Clone(raw), nil // the decoder reuses its buffer
}

// recordLists are the members of an event (or of a response) that are
// lists of records, each of its kind.
var recordLists = map[string]recordKind{
	"Attribute": recAttribute, "Object": recObject, "Sighting": recSighting, "Galaxy": recGalaxy,
	"EventReport": recEventReport, "Note": recNote, "Opinion": recOpinion, "Relationship": recRelationship,
}

// indexMap returns the elements of raw when it is a JSON object whose
// every member is named by a decimal index and is itself an object
// ({"0": {…}, "3": {…}}): the list MISP's PHP writes as an object when
// entries were removed from it (enforceWarninglist filtering a
// restSearch answer's attributes, MISP/MISP#3166; older exports), in the
// order written. nil for anything else.
func indexMap(raw []byte) [][]byte {
	// The common case, a record, is told from its first bytes.
	rest := bytes.TrimLeft(bytes.TrimPrefix(bytes.TrimLeft(raw, " \t\r\n"), []byte("{")), " \t\r\n")
	if len(rest) < 2 || rest[0] != '"' || rest[1] < '0' || rest[1] > '9' {
		return nil
	}
	dec := jsontext.NewDecoder(bytes.NewReader(raw), jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return nil
	}
	var out [][]byte
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return nil
		}
		name := tok.String()
		if name == "" || strings.Trim(name, "0123456789") != "" || dec.PeekKind() != '{' {
			return nil
		}
		v, err := dec.ReadValue()
		if err != nil {
			return nil
		}
		out = append(out, bytes.Clone(v))
	}
	return out
}
