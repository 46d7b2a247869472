package stix

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/engine"
	"github.com/ransomeye/intel/stixid"
	"github.com/ransomeye/intel/store"
)

// Format is the Report.Format of STIX loads.
const Format = "stix"

// readBuffer is the buffer between the feed and the JSON decoder.
const readBuffer = 256 << 10

// Load reads a STIX feed from r, maps it and writes it to sink in batches,
// and returns the load report. The feed may be a STIX 2.0 or 2.1 bundle
// (with "objects" anywhere among its members), a bare JSON array of
// objects, a single object, or NDJSON (objects or bundles, one per line).
//
// The feed is read token by token and never held whole, and goes through
// the engine (package engine): Options.Workers goroutines map records,
// which are written in feed order, so the result does not depend on the
// number of workers; a record's nodes, aliases and relations go to the sink
// in the same batch. A record larger than Options.MaxRecordBytes, or
// nested deeper than Options.MaxDepth, is skipped without being buffered
// (and counted under engine.ReasonTooLarge or engine.ReasonTooDeep); runs of
// white space are skipped without being buffered too.
//
// A record that is valid JSON but not valid STIX is logged at WARN (feed,
// record index, byte offset, id, reason), counted in the report's Dropped
// and skipped; so is an NDJSON line that is not valid JSON (with its line
// number, under engine.ReasonInvalidJSON). Any other JSON syntax error, a
// truncated feed or a read error stops the load: everything before it is
// written, and the error is an *engine.OffsetError (wrapping
// engine.ErrSyntax or engine.ErrRead) with the byte offset. A sink error or
// the end of ctx also stops it. The report is returned in every case, with
// Error set when the load stopped early.
func Load(ctx context.Context, r io.Reader, sink graph.Sink, opts Options) (*engine.Report, error) {
	opts = opts.WithDefaults()
	opts.RelationsWaitAhead = true // a bundle names objects it gives later
	report := engine.NewReport(opts.Feed, Format)
	start := time.Now()
	src := newFeedSource(r, opts.MaxRecordBytes, opts.MaxDepth)
	l := &loader{mp: newMapper(opts.Feed), log: opts.Logger.With("feed", opts.Feed)}
	opts.AtEnd = l.atEnd // the records held for references never given
	err := engine.Run(ctx, src, l.mapRecord, sink, opts, report)
	report.Duration = time.Since(start)
	if err != nil {
		report.Error = err.Error()
		// The caller reports the error; a log line would repeat it.
		l.log.Debug("stix feed stopped", "offset", engine.ErrorOffset(err), "records", report.RecordsRead, "err", err)
	}
	return report, err
}

// note is what the reader knew of a record without decoding it: its id,
// and why it dropped it (too large, not an object, a bad NDJSON line).
type note struct {
	id   string
	drop *recordError
}

// feedSource is the engine.Source of a STIX feed: the token-level reader.
type feedSource struct {
	rd  *reader
	err error
}

func newFeedSource(in io.Reader, max int64, depth int) *feedSource {
	br := bufio.NewReaderSize(in, readBuffer)
	bom := 0
	if b, err := br.Peek(3); err == nil && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF {
		_, _ = br.Discard(3)
		bom = 3
	}
	rd := newGuardedReader(br, max, depth, int64(bom))
	return &feedSource{rd: rd}
}

// Read emits the feed's records.
func (s *feedSource) Read(ctx context.Context, emit func(engine.Record[note]) error) error {
	for {
		rec, err := s.rd.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			s.err = err
			return err
		}
		if err := emit(engine.Record[note]{Index: rec.index, Offset: rec.offset, Line: rec.line, Raw: rec.raw,
			Meta: note{id: rec.id, drop: rec.drop}}); err != nil {
			return err
		}
	}
}

// Bytes is the bytes read: up to the error that stopped the feed, if any.
func (s *feedSource) Bytes() int64 {
	if s.err == nil {
		return s.rd.guard.FeedOffset(s.rd.src.pos)
	}
	return max(engine.ErrorOffset(s.err), s.rd.guard.FeedOffset(s.rd.offset()))
}

// loader is the state of one STIX load kept across records, on the
// engine's batcher goroutine: the TLP marking definitions seen so far.
type loader struct {
	mp  *mapper
	log *slog.Logger
	// markings maps the ids of the marking definitions the feed defined to
	// their TLP level ("" for one that is no TLP).
	markings map[string]graph.TLP
	// waiting holds, for each marking reference not defined yet, the
	// nodes and relations that named it (at most maxWaiting in all): a
	// TLP marking defined later in the feed marks them then.
	waiting     map[string][]marked
	nWaiting    int
	waitingFull bool
	// claims maps the name aliases of the feed's ATT&CK-keyed entities to
	// the first key that claimed each; ambiguous holds those reported.
	claims    map[string]string
	ambiguous map[string]bool
	// scos maps the ids of the feed's cyber-observables to their nodes,
	// and observedWaiting the ids an observed-data named before their
	// object came to the times it gave them (at most maxObserved each):
	// an SCO has no time of its own, and is seen when the observed-data
	// naming it says (observe).
	scos            map[string]sco
	observedWaiting map[string][]observation
	nObserved       int
	// held are the records (in feed order) whose cyber-observables' keys
	// wait for objects their ID-contributing references name that the
	// feed has not given yet (at most maxHeld at a time, nHeld), heldFor
	// them by reference, and ready those whose references are all known
	// now (rekey).
	held     []*heldRecord
	nHeld    int
	heldFor  map[string][]*heldRecord
	ready    []*heldRecord
	heldFull bool
}

// heldRecord is a record held until the objects its observables'
// ID-contributing references name are known: what it mapped to, its
// batch, how many of those references are not known yet, and the ident
// of each that came after the loader stopped remembering observables.
type heldRecord struct {
	out     *mapped
	batch   graph.Batch
	missing int
	idents  map[string]string
	done    bool
}

// mapRecord is the engine.Mapper of STIX: it runs on a worker.
func (l *loader) mapRecord(rec engine.Record[note]) engine.Result {
	out := l.mp.mapRecord(rec.Raw, rec.Meta)
	res := engine.Result{Read: 1}
	if out.drop != nil {
		res.Drops = []engine.Drop{{Reason: out.drop.reason, ID: out.id, Detail: out.drop.detail, Attrs: []any{"type", out.typ}}}
		return res
	}
	res.Mapped, res.Sightings, res.Batch = 1, int64(out.sightings), out.batch
	if out.nested {
		// A bundle read as one record: its objects are the records, and
		// an empty one (an empty TAXII page) counts none.
		res.Read, res.Mapped = int64(out.objects+len(out.nestedDrops)), int64(out.objects)
		for _, d := range out.nestedDrops {
			res.Drops = append(res.Drops, engine.Drop{Reason: d.drop.reason, ID: d.id,
				Detail: "object of a nested bundle: " + d.drop.detail, Attrs: []any{"type", d.typ}})
		}
	}
	if len(out.warnings) > 0 || len(out.markings) > 0 || len(out.fixups) > 0 || len(out.claims) > 0 ||
		len(out.scos) > 0 || len(out.observed) > 0 || len(out.rekeys) > 0 {
		res.Ordered = func(res *engine.Result) { l.ordered(rec, &out, res) }
	}
	return res
}

// ordered handles a mapped record in feed order: logs its warnings,
// remembers the TLP marking definition it is, and resolves its marking
// references against the marking definitions seen so far.
func (l *loader) ordered(rec engine.Record[note], out *mapped, res *engine.Result) {
	for _, w := range out.warnings {
		id, typ := out.id, out.typ
		if w.id != "" || w.typ != "" {
			id, typ = w.id, w.typ // an object of a nested bundle
		}
		if w.reason != "" {
			res.PartDrops = append(res.PartDrops, engine.Drop{Reason: w.reason, ID: id,
				Detail: w.message, Attrs: []any{"type", typ, "property", w.property, "value", w.value}})
			continue
		}
		l.log.Warn("stix record loaded with a problem", "record", rec.Index, "offset", rec.Offset,
			"id", id, "type", typ, "property", w.property, "value", w.value, "problem", w.message)
	}
	// The record's own marking definitions (a bundle found as a record
	// holds any number) are known before its fixups are resolved.
	for _, d := range out.markings {
		if l.markings == nil {
			l.markings = map[string]graph.TLP{}
		}
		l.markings[d.id] = d.tlp // "" for a marking that is no TLP
		l.markLate(d.id, d.tlp, &res.Batch)
	}
	if l.hold(out, res) {
		return
	}
	l.settle(out, &res.Batch)
}

// settle finishes a record in feed order once its observables can be
// keyed: keys them (rekey), resolves its marking references, checks its
// claims and dates its observables (observe); then settles the records
// held for the observables it gave, b taking their batches (unless b is
// one the engine drops: they then wait for a later record or the end).
func (l *loader) settle(out *mapped, b *graph.Batch) {
	l.rekey(out, b, nil)
	l.applyFixups(out.fixups, b)
	l.checkClaims(out)
	l.observe(out, b)
	if len(l.ready) == 0 {
		return
	}
	if reason, _ := store.CheckBatch(b); reason != "" {
		return // b is dropped whole (engine): they go out with a later record
	}
	for len(l.ready) > 0 {
		h := l.ready[0]
		l.ready = l.ready[1:]
		if !h.done {
			l.release(h, b)
		}
	}
}

// release settles a held record, appending its batch to b.
func (l *loader) release(h *heldRecord, b *graph.Batch) {
	h.done = true
	l.nHeld--
	l.rekey(h.out, &h.batch, h.idents)
	l.settle(h.out, &h.batch)
	b.Nodes = append(b.Nodes, h.batch.Nodes...)
	b.Relations = append(b.Relations, h.batch.Relations...)
	if l.nHeld < len(l.held)/2 {
		l.held = slices.DeleteFunc(l.held, func(h *heldRecord) bool { return h.done })
	}
}

// maxHeld bounds the records a load holds for the objects their
// observables' references name (rekey).
const maxHeld = 1 << 14

// hold keeps the record whose observables' ID-contributing references name
// cyber-observables the feed has not given yet (a network-traffic before
// its endpoints' ipv4-addr objects): its batch waits, and goes out with the
// record that gives the last of them, or at the end of the feed (atEnd),
// so its key is the same in any order. It reports whether it held it.
func (l *loader) hold(out *mapped, res *engine.Result) bool {
	var missing []string
	for _, r := range out.rekeys {
		for _, ref := range r.refs {
			if _, ok := l.scos[ref]; !ok && !slices.Contains(missing, ref) && !slices.ContainsFunc(out.scos, func(s sco) bool { return s.id == ref }) {
				missing = append(missing, ref)
			}
		}
	}
	if len(missing) == 0 {
		return false
	}
	if reason, _ := store.CheckBatch(&res.Batch); reason != "" {
		return false // dropped whole (engine): nothing to hold
	}
	if l.nHeld >= maxHeld {
		if !l.heldFull {
			l.heldFull = true
			l.log.Warn("stix: too many observables name objects not given yet; the rest are keyed by the references as written",
				"held", maxHeld)
		}
		return false
	}
	h := &heldRecord{out: out, batch: res.Batch, missing: len(missing)}
	res.Batch = graph.Batch{}
	if l.heldFor == nil {
		l.heldFor = map[string][]*heldRecord{}
	}
	for _, ref := range missing {
		l.heldFor[ref] = append(l.heldFor[ref], h)
	}
	l.held = append(l.held, h)
	l.nHeld++
	return true
}

// known notes that the feed gave the cyber-observable s: the records held
// for it (hold) are ready once it was the last they waited for.
func (l *loader) known(s sco) {
	for _, h := range l.heldFor[s.id] {
		if h.idents == nil {
			h.idents = map[string]string{}
		}
		h.idents[s.id] = s.ident
		if h.missing--; h.missing == 0 {
			l.ready = append(l.ready, h)
		}
	}
	delete(l.heldFor, s.id)
}

// atEnd settles, at the end of the feed, the records still held for
// objects the feed never gave: their references stay as written in their
// keys.
func (l *loader) atEnd(res *engine.Result) {
	held := l.held
	l.held, l.heldFor, l.ready = nil, nil, nil
	for _, h := range held {
		if !h.done {
			l.release(h, &res.Batch)
		}
	}
}

// rekey keys each cyber-observable of the record whose ID-contributing
// properties name others by what those resolve to (their idents: the
// record's own observables, the feed's, or idents), not by their ids,
// which producers make up: two feeds' network-traffic of one flow, their
// endpoints' ipv4-addr objects of random ids each, are one node. A reference the feed
// has not given stays as written. The node in b gets the new id, key and
// deterministic alias, and the relations from and to it follow.
func (l *loader) rekey(out *mapped, b *graph.Batch, idents map[string]string) {
	own := map[string]string{} // the record's own observables (a bundle's)
	for _, s := range out.scos {
		own[s.id] = s.ident
	}
	for _, r := range out.rekeys {
		resolved := map[string]string{}
		for _, ref := range r.refs {
			if id, ok := own[ref]; ok {
				resolved[ref] = id
			} else if s, ok := l.scos[ref]; ok {
				resolved[ref] = s.ident
			} else if id, ok := idents[ref]; ok {
				resolved[ref] = id
			}
		}
		nn, ok := graph.ObservableNode(r.typ, rewriteRefs(r.obj, resolved).(map[string]any))
		n := &b.Nodes[r.node]
		if !ok || nn.ID == n.ID {
			continue
		}
		old := n.Ref()
		n.ID, n.Key = nn.ID, nn.Key
		// Its first alias is the deterministic id it was keyed by
		// (graph.ObservableNode); the feed's own id stays an alias, also
		// when it was that id (a producer that computed it over the
		// references as written).
		if n.Aliases[0] == r.det {
			n.Aliases[0] = nn.Aliases[0]
		}
		if !slices.Contains(n.Aliases, r.id) {
			n.Aliases = append(n.Aliases, r.id)
		}
		for i := range b.Relations {
			if rel := &b.Relations[i]; rel.Src == old {
				rel.Src = n.Ref()
			}
			if rel := &b.Relations[i]; rel.Dst == old {
				rel.Dst = n.Ref()
			}
		}
		for i := range out.scos {
			if out.scos[i].id == r.id {
				out.scos[i].ident, out.scos[i].brief = nn.Aliases[0], n.Brief()
			}
		}
	}
	out.rekeys = nil
}

// isSCORef reports whether ref names a cyber-observable: a type mapped as
// one (mapObject).
func isSCORef(ref string) bool {
	typ, _, ok := stixid.ParseID(ref)
	return ok && (stixid.HasDeterministicID(typ) || graph.Kind(typ).IsObservable())
}

// observedRef reports whether ref may name an object an observed-data
// dates: a cyber-observable, or a type STIX does not define (a custom
// observable, which has no time of its own either).
func observedRef(ref string) bool {
	typ, _, ok := stixid.ParseID(ref)
	return ok && (isSCORef(ref) || !sdoTypes[typ])
}

// maxObserved bounds the cyber-observables a load remembers, and the
// references to them it keeps waiting, for observe: past it, an SCO an
// observed-data names is seen only as its own records say.
const maxObserved = 1 << 16

// observe gives each cyber-observable a STIX 2.1 observed-data names in
// object_refs (and each object without a time of its own: a custom
// observable) when the observed-data observed it, as the objects a STIX 2.0
// observed-data embeds get them (mapObservedData), whichever comes first
// in the feed: a record of the node with those times alone
// (graph.NodeBrief.SeenRecord), which the merge adds to what its own
// records say.
func (l *loader) observe(out *mapped, b *graph.Batch) {
	for _, s := range out.scos {
		if l.scos == nil {
			l.scos = map[string]sco{}
		}
		if len(l.scos) < maxObserved {
			l.scos[s.id] = s
		}
		l.known(s)
		for _, ob := range l.observedWaiting[s.id] {
			b.Nodes = append(b.Nodes, s.brief.SeenRecord(ob.first, ob.last, l.mp.sources))
		}
		if w, ok := l.observedWaiting[s.id]; ok {
			l.nObserved -= len(w)
			delete(l.observedWaiting, s.id)
		}
	}
	for _, ob := range out.observed {
		for _, ref := range ob.refs {
			if s, ok := l.scos[ref]; ok {
				b.Nodes = append(b.Nodes, s.brief.SeenRecord(ob.first, ob.last, l.mp.sources))
				continue
			}
			if !observedRef(ref) || l.nObserved >= maxObserved {
				continue
			}
			if l.observedWaiting == nil {
				l.observedWaiting = map[string][]observation{}
			}
			l.observedWaiting[ref] = append(l.observedWaiting[ref], observation{first: ob.first, last: ob.last})
			l.nObserved++
		}
	}
}

// checkClaims reports a name alias that two entities with ATT&CK ids of
// their own claim (ATT&CK for ICS: "Berserk Bear" for G0035 and G0074): the
// alias is ambiguous. The entities are never merged; a lookup by the alias
// finds one of them (the smallest node id, as for every alias).
func (l *loader) checkClaims(out *mapped) {
	for _, c := range out.claims {
		if l.claims == nil {
			l.claims, l.ambiguous = map[string]string{}, map[string]bool{}
		}
		first, seen := l.claims[c.alias]
		switch {
		case !seen:
			l.claims[c.alias] = c.key
		case first != c.key && !l.ambiguous[c.alias]:
			l.ambiguous[c.alias] = true
			l.log.Warn("ambiguous alias: it names two entities with their own ATT&CK ids; not merged, a lookup by it is refused with both as candidates",
				"alias", c.alias, "key", first, "other_key", c.key, "id", out.id)
		}
	}
}

// maxWaiting bounds the nodes and relations a load keeps for marking
// definitions not seen yet.
const maxWaiting = 1 << 18

// marked is a node or relation that named a marking definition not seen
// yet: enough of it to write a record of its TLP alone.
type marked struct {
	node graph.NodeBrief
	// versions are the node record's (graph.Node.Versions): the TLP
	// record is of the object in that version, so a newer version of the
	// object without the marking replaces it (node_records).
	versions map[string]time.Time
	rel      *graph.Relation
}

// markLate marks with tlp the nodes and relations read before the TLP
// marking definition id that named it: b gets a record of the TLP alone
// for each (the merge keeps the strictest TLP of a node; a relation gets
// props tlp where no record of it has one).
func (l *loader) markLate(id string, tlp graph.TLP, b *graph.Batch) {
	for _, m := range l.waiting[id] {
		if tlp == graph.TLPNone {
			break
		}
		if m.rel != nil {
			// Stated by the object that stated the relation, in its
			// version: a record without it would stand on its own and
			// keep a link the object's newer version dropped.
			b.Relations = append(b.Relations, graph.Relation{Src: m.rel.Src, Type: m.rel.Type, Dst: m.rel.Dst,
				Sources: m.rel.Sources, StatedBy: m.rel.StatedBy, Props: map[string]any{"tlp": string(tlp)}})
			continue
		}
		rec := m.node.TLPRecord(tlp, l.mp.sources)
		rec.Versions = m.versions
		b.Nodes = append(b.Nodes, rec)
	}
	l.nWaiting -= len(l.waiting[id])
	delete(l.waiting, id)
}

// wait keeps m for the marking definitions in refs not seen yet.
func (l *loader) wait(refs []string, m marked) {
	for _, ref := range refs {
		if _, ok := l.markings[ref]; ok || !strings.HasPrefix(ref, "marking-definition--") {
			continue
		}
		if l.nWaiting >= maxWaiting {
			if !l.waitingFull {
				l.waitingFull = true
				l.log.Warn("stix: too many objects name marking definitions not defined yet; a TLP marking defined later does not mark the rest",
					"kept", maxWaiting)
			}
			return
		}
		if l.waiting == nil {
			l.waiting = map[string][]marked{}
		}
		l.waiting[ref] = append(l.waiting[ref], m)
		l.nWaiting++
	}
}

// applyFixups gives the nodes and relations that name marking definitions
// defined earlier in the feed the TLP level those define, and keeps those
// that name one not defined yet (wait).
func (l *loader) applyFixups(fixups []fixup, b *graph.Batch) {
	for _, f := range fixups {
		if f.node >= 0 {
			l.wait(f.refs, marked{node: b.Nodes[f.node].Brief(), versions: b.Nodes[f.node].Versions})
		}
		if f.rel >= 0 {
			r := b.Relations[f.rel]
			l.wait(f.refs, marked{rel: &graph.Relation{Src: r.Src, Type: r.Type, Dst: r.Dst, Sources: r.Sources, StatedBy: r.StatedBy}})
		}
	}
	if len(l.markings) == 0 {
		return
	}
	for _, f := range fixups {
		tlp := graph.TLPNone
		for _, ref := range f.refs {
			tlp = tlp.Stricter(l.markings[ref])
		}
		if tlp == "" {
			continue
		}
		if f.node >= 0 {
			n := &b.Nodes[f.node]
			n.TLP = n.TLP.Stricter(tlp)
		}
		if f.rel >= 0 {
			r := &b.Relations[f.rel]
			cur, _ := r.Props["tlp"].(string)
			if r.Props == nil {
				r.Props = map[string]any{}
			}
			r.Props["tlp"] = string(graph.TLP(cur).Stricter(tlp))
		}
	}
}
