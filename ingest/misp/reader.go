package misp

import (
	"fmt"
	"io"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/ransomeye/intel/graph"
)

// read walks the document token by token. Only records (attributes,
// objects, galaxies, clusters, sightings) and small event members are held
// in memory, one record at a time per worker.
func (l *loader) read(r io.Reader) error {
	dec := jsontext.NewDecoder(r, jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	values := 0
	for {
		if err := l.ctx.Err(); err != nil {
			return err
		}
		var err error
		switch k := dec.PeekKind(); k {
		case 0:
			if _, err := dec.ReadToken(); err != io.EOF {
				return syntaxError(err, dec)
			}
			if values == 0 {
				return fmt.Errorf("%w: no JSON value", ErrNotMISP)
			}
			return nil
		case '{':
			err = l.readFrame(dec, false)
		case '[':
			err = l.readArray(dec, func() error { return l.frameOrSkip(dec, false) })
		default:
			return fmt.Errorf("%w: the document is a JSON %v, not an object or array", ErrNotMISP, k)
		}
		values++
		if err != nil {
			return err
		}
	}
}

// readArray reads '[', calls each for every element, and reads ']'.
func (l *loader) readArray(dec *jsontext.Decoder, each func() error) error {
	if _, err := dec.ReadToken(); err != nil {
		return syntaxError(err, dec)
	}
	for dec.PeekKind() != ']' {
		if err := l.ctx.Err(); err != nil {
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

// frameOrSkip reads an object as a frame and skips anything else.
func (l *loader) frameOrSkip(dec *jsontext.Decoder, wrapped bool) error {
	if dec.PeekKind() == '{' {
		return l.readFrame(dec, wrapped)
	}
	if err := dec.SkipValue(); err != nil {
		return syntaxError(err, dec)
	}
	return nil
}

// nested reads the value of "Event" or "response": a frame or an array of
// frames.
func (l *loader) nested(dec *jsontext.Decoder, wrapped bool) error {
	if dec.PeekKind() == '[' {
		return l.readArray(dec, func() error { return l.frameOrSkip(dec, wrapped) })
	}
	return l.frameOrSkip(dec, wrapped)
}

// readFrame reads one object at the document level. Whatever happens, the
// frame is closed: an event cut short by a syntax error is still written
// with what was read of it.
func (l *loader) readFrame(dec *jsontext.Decoder, wrapped bool) error {
	fr := newFrame(wrapped, dec.InputOffset())
	if _, err := dec.ReadToken(); err != nil {
		return syntaxError(err, dec)
	}
	err := l.frameMembers(dec, fr)
	l.endFrame(fr, err)
	return err
}

func (l *loader) frameMembers(dec *jsontext.Decoder, fr *frame) error {
	for dec.PeekKind() != '}' {
		if err := l.ctx.Err(); err != nil {
			return err
		}
		tok, err := dec.ReadToken()
		if err != nil {
			return syntaxError(err, dec)
		}
		name := tok.String()
		switch name {
		case "Event":
			err = l.nested(dec, true)
		case "response":
			err = l.nested(dec, false)
		case "Attribute":
			err = l.records(dec, fr, recAttribute)
		case "Object":
			err = l.records(dec, fr, recObject)
		case "Sighting":
			err = l.records(dec, fr, recSighting)
		case "Galaxy":
			err = l.records(dec, fr, recGalaxy)
		case "GalaxyCluster", "values":
			if name == "GalaxyCluster" {
				l.tally.add(func(t *Tally) { t.Galaxies++ })
			}
			err = l.records(dec, fr, recCluster)
		case "Tag":
			err = l.frameTags(dec, fr)
		case "Orgc":
			fr.marked = true
			err = l.frameOrg(dec, fr)
		default:
			err = l.frameScalar(dec, fr, name)
		}
		if err != nil {
			return err
		}
		fr.settle()
	}
	if _, err := dec.ReadToken(); err != nil {
		return syntaxError(err, dec)
	}
	return nil
}

// frameScalar keeps a scalar member the frame needs and skips the rest.
func (l *loader) frameScalar(dec *jsontext.Decoder, fr *frame, name string) error {
	if eventMarkers[name] {
		fr.marked = true
	}
	switch k := dec.PeekKind(); {
	case frameKeys[name] && k != '{' && k != '[' && k != 0:
		v, err := readScalar(dec)
		if err != nil {
			return syntaxError(err, dec)
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
func (l *loader) frameTags(dec *jsontext.Decoder, fr *frame) error {
	off := dec.InputOffset()
	raw, err := dec.ReadValue()
	if err != nil {
		return syntaxError(err, dec)
	}
	var tags list[rawTag]
	if err := unmarshal(raw, &tags); err != nil {
		l.log.Warn("MISP event tags ignored", "offset", off, "event", fr.uuid(), "error", err.Error())
		return nil
	}
	fr.tags = append(fr.tags, tags...)
	return nil
}

func (l *loader) frameOrg(dec *jsontext.Decoder, fr *frame) error {
	raw, err := dec.ReadValue()
	if err != nil {
		return syntaxError(err, dec)
	}
	var org rawOrg
	if err := unmarshal(raw, &org); err == nil {
		fr.orgc = org
	}
	return nil
}

// records reads the value of a record member: an array of records, one
// record, or null.
func (l *loader) records(dec *jsontext.Decoder, fr *frame, kind recordKind) error {
	switch dec.PeekKind() {
	case '[':
		return l.readArray(dec, func() error { return l.record(dec, fr, kind) })
	case 'n':
		if _, err := dec.ReadToken(); err != nil {
			return syntaxError(err, dec)
		}
		return nil
	}
	return l.record(dec, fr, kind)
}

// record reads one record and dispatches it.
func (l *loader) record(dec *jsontext.Decoder, fr *frame, kind recordKind) error {
	j := job{kind: kind, fr: fr, index: l.index.Add(1), offset: dec.InputOffset()}
	if kind == recCluster {
		j.galaxyType = fr.fields["type"]
	}
	j.first, j.last = fr.seen()
	if dec.PeekKind() != '{' {
		if err := dec.SkipValue(); err != nil {
			return syntaxError(err, dec)
		}
		l.report.AddRead(1)
		l.countRead(kind)
		l.drop(j, kind.String(), "", ReasonMalformed, fmt.Errorf("%s is not a JSON object", kind))
		return nil
	}
	raw, err := dec.ReadValue()
	if err != nil {
		return syntaxError(err, dec)
	}
	if int64(len(raw)) > l.opts.MaxRecordBytes {
		l.report.AddRead(1)
		l.countRead(kind)
		l.drop(j, kind.String(), "", ReasonTooLarge, fmt.Errorf("%d bytes, limit %d", len(raw), l.opts.MaxRecordBytes))
		return nil
	}
	if ref := fr.ref(); ref != "" && !fr.stubSent && kind != recCluster && !j.last.IsZero() {
		fr.stubSent = true
		l.emit(graph.Batch{Nodes: []graph.Node{fr.stub(l.feed)}})
		fr.mu.Lock()
		fr.linked = true
		fr.mu.Unlock()
	}
	j.raw = raw
	if kind == recGalaxy && j.last.IsZero() {
		// Its clusters would get the time of loading; wait for the event's.
		j.raw = append([]byte(nil), raw...)
		fr.late = append(fr.late, j)
		return nil
	}
	l.dispatch(j)
	l.progress(false)
	return nil
}

// countRead tallies a record that never reached a worker.
func (l *loader) countRead(kind recordKind) {
	l.tally.add(func(t *Tally) {
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
		}
	})
}

// endFrame waits for the frame's records and, for an event, writes the
// event node with its tags, creator, clusters and the links kept while its
// uuid was unknown.
func (l *loader) endFrame(fr *frame, readErr error) {
	fr.pending.Wait()
	if len(fr.late) > 0 {
		first, last := fr.seen()
		for _, j := range fr.late {
			j.first, j.last = first, last
			l.dispatch(j)
		}
		fr.late = nil
		fr.pending.Wait()
	}
	if !fr.isEvent() {
		return
	}
	l.events.Add(1)
	l.report.AddRead(1)
	l.tally.add(func(t *Tally) {
		t.Events++
		t.EventTags += int64(len(fr.tags))
	})
	res := EventResult{UUID: fr.uuid(), Info: fr.fields["info"], Timestamp: parseTime(fr.fields["timestamp"]), File: l.file, Err: readErr}
	defer func() {
		if l.opts.OnEvent != nil {
			l.opts.OnEvent(res)
		}
	}()
	j := job{fr: fr, index: l.index.Add(1), offset: fr.offset}
	if fr.uuid() == "" {
		l.drop(j, "event", truncate(fr.fields["uuid"], 80), ReasonMissingUUID, fmt.Errorf("event %q has no valid uuid; its records load without it", truncate(fr.fields["info"], 80)))
		return
	}
	fr.settle()
	nodes, rels := fr.buildEvent(l.feed)
	fr.mu.Lock()
	for _, d := range fr.deferred {
		rels = append(rels, d.relation(fr.evRef))
	}
	fr.deferred = nil
	overflow := fr.overflow
	fr.mu.Unlock()
	if overflow {
		l.log.Warn("MISP event links dropped: uuid came after too many records", "event", fr.uuid(), "kept", maxDeferred)
	}
	for i := range rels {
		rels[i].Sources = []string{l.feed}
	}
	l.emit(graph.Batch{Nodes: nodes, Relations: rels})
	l.report.AddMapped(1)
}
