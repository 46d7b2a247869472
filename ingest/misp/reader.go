package misp

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/ransomeye/intel/ingest/engine"
)

// fileSource is the engine.Source of one MISP document: it walks the
// document token by token and emits its records (attributes, objects,
// galaxies, clusters, sightings, the ends of events). Only records and small
// event members are held in memory.
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
}

// Read reads the document to its end.
func (s *fileSource) Read(ctx context.Context, emit func(engine.Record[*job]) error) error {
	s.emit = emit
	var in io.Reader = s.count
	if !s.opts.Strict {
		in = newCommaReader(s.count, func(off int64) {
			attrs := []any{"offset", off}
			if s.file != "" {
				attrs = append(attrs, "file", s.file)
			}
			s.log.Warn("trailing comma read as white space", attrs...)
		})
	}
	return s.read(ctx, in)
}

// Bytes is the number of bytes read.
func (s *fileSource) Bytes() int64 { return s.count.n }

// send emits a record of j.
func (s *fileSource) send(offset int64, raw []byte, j *job) error {
	rec := engine.Record[*job]{Index: s.index, Offset: offset, Raw: raw, Meta: j}
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
				return syntaxError(err, dec)
			}
			if values == 0 {
				return fmt.Errorf("%w: no JSON value", ErrNotMISP)
			}
			return nil
		case '{':
			err = s.readFrame(ctx, dec, false)
		case '[':
			err = s.readArray(ctx, dec, func() error { return s.frameOrSkip(ctx, dec, false) })
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

// frameOrSkip reads an object as a frame and skips anything else.
func (s *fileSource) frameOrSkip(ctx context.Context, dec *jsontext.Decoder, wrapped bool) error {
	if dec.PeekKind() == '{' {
		return s.readFrame(ctx, dec, wrapped)
	}
	if err := dec.SkipValue(); err != nil {
		return syntaxError(err, dec)
	}
	return nil
}

// nested reads the value of "Event" or "response": a frame or an array of
// frames.
func (s *fileSource) nested(ctx context.Context, dec *jsontext.Decoder, wrapped bool) error {
	if dec.PeekKind() == '[' {
		return s.readArray(ctx, dec, func() error { return s.frameOrSkip(ctx, dec, wrapped) })
	}
	return s.frameOrSkip(ctx, dec, wrapped)
}

// readFrame reads one object at the document level. Whatever happens, the
// frame is closed: an event cut short by a syntax error is still written
// with what was read of it.
func (s *fileSource) readFrame(ctx context.Context, dec *jsontext.Decoder, wrapped bool) error {
	fr := newFrame(wrapped, dec.InputOffset())
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
		switch name {
		case "Event":
			err = s.nested(ctx, dec, true)
		case "response":
			err = s.nested(ctx, dec, false)
		case "Attribute":
			err = s.records(ctx, dec, fr, recAttribute)
		case "Object":
			err = s.records(ctx, dec, fr, recObject)
		case "Sighting":
			err = s.records(ctx, dec, fr, recSighting)
		case "Galaxy":
			err = s.records(ctx, dec, fr, recGalaxy)
		case "GalaxyCluster", "values":
			if name == "GalaxyCluster" {
				s.tally.add(func(t *Tally) { t.Galaxies++ })
			}
			err = s.records(ctx, dec, fr, recCluster)
		case "Tag":
			err = s.frameTags(dec, fr)
		case "Orgc":
			fr.marked = true
			err = s.frameOrg(dec, fr)
		default:
			err = s.frameScalar(dec, fr, name)
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
func (s *fileSource) frameScalar(dec *jsontext.Decoder, fr *frame, name string) error {
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
func (s *fileSource) frameTags(dec *jsontext.Decoder, fr *frame) error {
	off := dec.InputOffset()
	raw, err := dec.ReadValue()
	if err != nil {
		return syntaxError(err, dec)
	}
	var tags list[rawTag]
	if err := unmarshal(raw, &tags); err != nil {
		s.log.Warn("MISP event tags ignored", "offset", off, "event", fr.uuid(), "error", err.Error())
		return nil
	}
	fr.tags = append(fr.tags, tags...)
	return nil
}

func (s *fileSource) frameOrg(dec *jsontext.Decoder, fr *frame) error {
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
func (s *fileSource) records(ctx context.Context, dec *jsontext.Decoder, fr *frame, kind recordKind) error {
	switch dec.PeekKind() {
	case '[':
		return s.readArray(ctx, dec, func() error { return s.record(ctx, dec, fr, kind) })
	case 'n':
		if _, err := dec.ReadToken(); err != nil {
			return syntaxError(err, dec)
		}
		return nil
	}
	return s.record(ctx, dec, fr, kind)
}

// record reads one record and emits it.
func (s *fileSource) record(ctx context.Context, dec *jsontext.Decoder, fr *frame, kind recordKind) error {
	j := &job{kind: kind, fr: fr, file: s.file, evUUID: fr.evUUID}
	offset := dec.InputOffset()
	if kind == recCluster {
		j.galaxyType = fr.fields["type"]
	}
	j.first, j.last = fr.seen()
	if dec.PeekKind() != '{' {
		if err := dec.SkipValue(); err != nil {
			return syntaxError(err, dec)
		}
		s.tally.countRead(kind)
		d := j.dropped(kind.String(), "", engine.ReasonNotObject, fmt.Errorf("%s is not a JSON object", kind))
		j.drop = &d
		return s.send(offset, nil, j)
	}
	raw, err := dec.ReadValue()
	if err != nil {
		return syntaxError(err, dec)
	}
	if int64(len(raw)) > s.opts.MaxRecordBytes {
		s.tally.countRead(kind)
		d := j.dropped(kind.String(), "", engine.ReasonTooLarge, fmt.Errorf("%d bytes, limit %d", len(raw), s.opts.MaxRecordBytes))
		j.drop = &d
		return s.send(offset, nil, j)
	}
	if fr.evRef != "" && !fr.stubSent && kind != recCluster && !j.last.IsZero() {
		fr.stubSent = true
		stub := fr.stub(s.feed)
		j.stub = &stub
	}
	j.linked, j.evRef = fr.stubSent, fr.evRef
	raw = bytes.Clone(raw) // the decoder reuses its buffer
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
	if len(fr.late) > 0 {
		first, last := fr.seen()
		for _, rec := range fr.late {
			rec.Meta.first, rec.Meta.last = first, last
			rec.Meta.linked, rec.Meta.evRef, rec.Meta.evUUID = fr.stubSent, fr.evRef, fr.evUUID
			if err := s.send(rec.Offset, rec.Raw, rec.Meta); err != nil {
				return err
			}
		}
		fr.late = nil
	}
	if !fr.isEvent() {
		return nil
	}
	s.tally.add(func(t *Tally) {
		t.Events++
		t.EventTags += int64(len(fr.tags))
	})
	fr.settle()
	return s.send(fr.offset, nil, &job{kind: recEvent, fr: fr, file: s.file, evUUID: fr.evUUID, readErr: readErr})
}
