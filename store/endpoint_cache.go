package store

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/ransomeye/intel/db/gen"
	"github.com/ransomeye/intel/graph"
)

// endpointCache remembers the graph records AppendTelemetry has committed
// through this Store — endpoint nodes and implied nodes by id, implied
// relations by their key, each with the first/last seen it has written for
// it (seenCache) — so a stream that names the same hosts, processes and
// files over and over writes each of them once rather than once per chunk:
// the telemetry edges keep every observation. A record's first/last seen
// still span all its observations, by one rule for nodes and relations (a
// file's has-hash link to each hash node): a record written in a chunk
// carries the earliest first seen and the latest last seen of its
// occurrences there (claim, mergeSeen); a later occurrence outside the
// range the cache remembers is kept as a pending extension (seenCache's
// pending), written for many records at once by flushSeen (nodes, then
// relations; the upserts merge the times with least/greatest): at the end
// of every AppendTelemetry, when the TelemetryWriter closes, and whenever
// pendingSeenNodes are pending or pendingSeenInterval has passed. So a
// completed load leaves every node's and implied relation's times exact,
// and the nodes, relations and relation_records rows the same, whatever
// chunks or runs the input came in, at the cost of about one more upsert
// per record per flush (not one per chunk). A load cut short (a kill, a
// crash, the server's death) may leave the times it extended since its
// last flush unwritten: for a checkpointed input each flush records how
// far the input's committed edges have their times written (seen_edges,
// see inputProgress), and a rerun reads the edges past that again for
// their records' times alone (replaySeen). An earlier design wrote a node again at once when an
// occurrence lay more than a tolerance outside its range: with an hour,
// BenchmarkTelemetryCopy's timed rows (a week, each of 50,000 endpoints
// named about 20 times) upserted 815,630 times (a quarter of psql's rate),
// with 24 hours 306,151 times (a half), against 50,000 for untimed
// endpoints. Records enter the cache only once their transaction has
// committed, so a record found in it exists in the database (and a cached
// relation's endpoints do: its pending extension never waits for them).
// While a record is being written it is claimed (see claim), so concurrent
// appends of this Store do not write it again. Its memory is bounded (see
// genMap): a service that sees new processes every day keeps the ones it
// meets again and forgets the rest, and a record forgotten is simply
// written again.
type endpointCache struct {
	mu sync.Mutex
	// The nodes by id and the implied relations by key, each with the
	// range of times written and the extensions pending (seenCache).
	nodes seenCache[uuid.UUID, graph.Node]
	rels  seenCache[relationKey, graph.Relation]
	// The records being written now, and the write (claim) of each.
	nodeClaims map[uuid.UUID]*recordClaim
	relClaims  map[relationKey]*recordClaim
	// lastFlush is when flushSeen last took the pending extensions.
	lastFlush time.Time
	// flushMu serialises flushSeen, so a flush that returns has seen every
	// extension pending when it began written (by itself or by the flush
	// it waited for).
	flushMu sync.Mutex
	// inputs are the checkpointed inputs being appended through this
	// Store (see inputProgress).
	inputs map[*inputProgress]struct{}
}

// inputProgress is a checkpointed input being appended: how many of its
// edges are committed (the checkpoint's edges, set by the copier), and
// how many of those the checkpoint says have their records' first/last
// seen written (seen_edges). Every occurrence of a committed chunk is
// written with its records or pending in the endpoint cache before the
// chunk commits, so a flush that takes the pending extensions after the
// chunk committed writes its times: when it succeeds, the input's
// seen_edges moves to where its edges were at the take (recordSeen).
type inputProgress struct {
	in        TelemetryInput
	committed atomic.Int64
	seen      atomic.Int64
}

// track registers in as being appended, its checkpoint at seen edges
// with their times written; the returned func ends it.
func (c *endpointCache) track(in TelemetryInput, seen int64) (*inputProgress, func()) {
	p := &inputProgress{in: in}
	p.committed.Store(seen)
	p.seen.Store(seen)
	c.mu.Lock()
	c.inputs[p] = struct{}{}
	c.mu.Unlock()
	return p, func() {
		c.mu.Lock()
		delete(c.inputs, p)
		c.mu.Unlock()
	}
}

// seenMark is an input's committed edges at a flush's take.
type seenMark struct {
	p     *inputProgress
	edges int64
}

// lagging reports whether an input's committed edges are past its
// recorded seen_edges. Called with mu held.
func (c *endpointCache) lagging() bool {
	for p := range c.inputs {
		if p.committed.Load() > p.seen.Load() {
			return true
		}
	}
	return false
}

// marks returns the inputs whose committed edges are past their recorded
// seen_edges, with those edges. Called with mu held.
func (c *endpointCache) marks() []seenMark {
	var out []seenMark
	for p := range c.inputs {
		if n := p.committed.Load(); n > p.seen.Load() {
			out = append(out, seenMark{p: p, edges: n})
		}
	}
	return out
}

// pendingSeenNodes is the fewest pending extensions (nodes, or relations)
// that make flushSeen run in the middle of a load (seenCache.pendingFull),
// bounding their memory (a record each, about 300 bytes: 20 MiB at this
// number), and pendingSeenInterval how old they may get in a
// long stream (the TelemetryWriter of a service, a followed input) before
// they are: what a load cut short may leave unwritten. A load whose
// working set of nodes is larger than pendingSeenNodes flushes them every
// few chunks (with 1<<14, BenchmarkTelemetryCopy's 50,000 timed endpoints
// were flushed nearly every chunk; with nodes and relations counted
// together against 1<<16, make bench-telemetry-cli's 63,334 nodes and
// their has-hash links were flushed every chunk: 0.16x psql against 0.70x).
const (
	pendingSeenNodes    = 1 << 16
	pendingSeenInterval = 30 * time.Second
)

// seenRecord is a record whose first/last seen the endpoint cache keeps
// exact: an endpoint or implied node, or an implied relation.
type seenRecord interface{ graph.Node | graph.Relation }

// seenTimes returns pointers to the first and last seen of record r.
func seenTimes[R seenRecord](r *R) (first, last *time.Time) {
	switch r := any(r).(type) {
	case *graph.Node:
		return &r.FirstSeen, &r.LastSeen
	case *graph.Relation:
		return &r.FirstSeen, &r.LastSeen
	}
	panic("unreachable: seenRecord is a node or a relation")
}

// seenRange is the first and last seen of a record (graph.Seen); zero for
// a record without times (untimed: they never change the stored ones).
type seenRange struct{ first, last time.Time }

func seenOf[R seenRecord](r *R) seenRange {
	first, last := seenTimes(r)
	if first.IsZero() && last.IsZero() {
		return seenRange{}
	}
	f, l := graph.Seen(*first, *last, time.Time{})
	return seenRange{first: f, last: l}
}

func (r seenRange) untimed() bool { return r.first.IsZero() }

// union is the range spanning r and o.
func (r seenRange) union(o seenRange) seenRange {
	switch {
	case o.untimed():
		return r
	case r.untimed():
		return o
	}
	return seenRange{first: minTime(r.first, o.first), last: maxTime(r.last, o.last)}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// seenChange is what an occurrence of a cached record needs.
type seenChange int

const (
	seenWithin seenChange = iota // nothing: its times are written already
	seenNear                     // a pending extension
	seenFar                      // the record written again now: its first times
)

// change is what occurrence o of a record needs when the cache has written
// r for it.
func (r seenRange) change(o seenRange) seenChange {
	switch {
	case o.untimed():
		return seenWithin
	case r.untimed(): // a record with times replaces the load time stored
		return seenFar
	case !o.first.Before(r.first) && !o.last.After(r.last):
		return seenWithin
	}
	return seenNear
}

// mergeSeen widens record into to span n too: it becomes the record of the
// two with the later last seen (whose rank, graph.Node.Ranks or
// graph.Relation.Ranks, the database's merge would keep), with the earlier
// first seen. A record with times replaces one without. For the records
// telemetry repeats (the same node or relation at other times) that is
// what merging every occurrence gives.
func mergeSeen[R seenRecord](into, n *R) {
	if a, ok := any(into).(*graph.Node); ok {
		mergeNodeSeen(a, any(n).(*graph.Node))
		return
	}
	a, b := any(into).(*graph.Relation), any(n).(*graph.Relation)
	r, o := seenOf(into), seenOf(n)
	if !o.untimed() && !r.untimed() && (!sameRelationContent(a, b) || (a.Merged() && !o.last.After(r.last))) {
		*a = graph.MergeRelation(*a, *b) // the rule itself, as mergeNodeSeen
		return
	}
	switch {
	case o.untimed():
		return
	case r.untimed():
		*into = *n
		return
	}
	if o.last.After(r.last) {
		*into = *n
	}
	u := r.union(o)
	first, last := seenTimes(into)
	*first, *last = u.first, u.last
}

// mergeNodeSeen is mergeSeen of two occurrences of a node: when they say
// the same (name, props, labels, sources, aliases, confidence, TLP) the
// later one with the times of both, as mergeSeen; when they differ, or the
// later is not n and into already merged records of other content,
// graph.MergeNode, the rule itself. So an occurrence that names no process
// image never takes the name an earlier one gave (graph.MergeNode keeps
// the highest-ranked non-empty name), and the common case, one endpoint
// repeated with the same content, costs no rank.
func mergeNodeSeen(into, n *graph.Node) {
	r, o := seenOf(into), seenOf(n)
	switch {
	case o.untimed():
		return
	case r.untimed():
		*into = *n
		return
	}
	if !sameNodeContent(into, n) || (into.Merged() && !o.last.After(r.last)) {
		*into = graph.MergeNode(*into, *n)
		return
	}
	if o.last.After(r.last) {
		*into = *n
	}
	u := r.union(o)
	into.FirstSeen, into.LastSeen = u.first, u.last
}

// sameNodeContent reports whether a and b, occurrences of one node, hold
// the same content apart from their times: then merging them keeps the
// later one's (what mergeSeen does).
func sameNodeContent(a, b *graph.Node) bool {
	if a.Name != b.Name || a.Kind != b.Kind || a.Key != b.Key || a.TLP != b.TLP ||
		!slices.Equal(a.Labels, b.Labels) || !slices.Equal(a.Sources, b.Sources) || !slices.Equal(a.Aliases, b.Aliases) ||
		!slices.Equal(a.OtherNames, b.OtherNames) {
		return false
	}
	if (a.Confidence == nil) != (b.Confidence == nil) || a.Confidence != nil && *a.Confidence != *b.Confidence {
		return false
	}
	if len(a.Versions) != 0 || len(b.Versions) != 0 {
		if !maps.Equal(a.Versions, b.Versions) {
			return false
		}
	}
	if len(a.Props) == 0 && len(b.Props) == 0 {
		return true
	}
	return reflect.DeepEqual(a.Props, b.Props)
}

// sameRelationContent is sameNodeContent of two occurrences of a relation.
func sameRelationContent(a, b *graph.Relation) bool {
	if !slices.Equal(a.Sources, b.Sources) || !slices.Equal(a.IDs, b.IDs) || !maps.Equal(a.StatedBy, b.StatedBy) {
		return false
	}
	if (a.Confidence == nil) != (b.Confidence == nil) || a.Confidence != nil && *a.Confidence != *b.Confidence {
		return false
	}
	if len(a.Props) == 0 && len(b.Props) == 0 {
		return true
	}
	return reflect.DeepEqual(a.Props, b.Props)
}

// restMark is what seenEntry.rest keeps of a record written: a hash of
// what it says besides its times and (a node's) name — sources, labels,
// aliases, TLP, confidence, props, ids — when it is one record, else 0.
// An occurrence inside the times written is covered only when it says
// the same: one from another source, say, is merged (its source added).
func restMark[R seenRecord](rec *R) uint64 {
	var h maphash.Hash
	h.SetSeed(nameSeed)
	strs := func(ss []string) {
		for _, s := range ss {
			h.WriteString(s)
			h.WriteByte(0)
		}
		h.WriteByte(1)
	}
	conf := func(c *int) {
		if c != nil {
			h.WriteString(strconv.Itoa(*c))
		}
		h.WriteByte(1)
	}
	var props map[string]any
	switch r := any(rec).(type) {
	case *graph.Node:
		if r.Merged() {
			return 0
		}
		h.WriteString(string(r.TLP))
		h.WriteByte(0)
		conf(r.Confidence)
		strs(r.Sources)
		strs(r.Labels)
		strs(r.Aliases)
		strs(r.OtherNames)
		props = r.Props
		if len(r.Versions) > 0 {
			_, _ = fmt.Fprint(&h, r.Versions) // sorted by key; a maphash.Hash write never fails
		}
	case *graph.Relation:
		if r.Merged() {
			return 0
		}
		conf(r.Confidence)
		strs(r.Sources)
		strs(r.IDs)
		props = r.Props
		if len(r.StatedBy) > 0 {
			_, _ = fmt.Fprint(&h, r.StatedBy)
		}
	}
	if len(props) > 0 {
		b, err := json.Marshal(props)
		if err != nil {
			return 0
		}
		h.Write(b)
	}
	return h.Sum64() | 1
}

// markAfter is a seenEntry mark (name or rest) once a record of mark m is
// written over one whose mark was e (known: it was cached): m while every
// write gave the same mark, else 0 for good.
func markAfter(e uint64, known bool, m uint64) uint64 {
	if known && e != m {
		return 0
	}
	return m
}

// nameSeed keys nodeNameMark's hash.
var nameSeed = maphash.MakeSeed()

// nodeNameMark is what seenEntry.name keeps of a node written: a hash of
// its name (never 0) when it is one record's and has a name, else 0.
func nodeNameMark(n *graph.Node) uint64 {
	if n.Name == "" || n.Merged() {
		return 0
	}
	return maphash.String(nameSeed, n.Name) | 1
}

// namesDiffer is seenEntry.name once the writes of a node gave it more
// than one name mark (a name and another, or a name and none): even, so
// no nodeNameMark equals it, and never 0, which says no write named it.
const namesDiffer = 2

// nameAfter is seenEntry.name once r is written over e (known: e was
// cached): r's mark while every write of the record was one record of that
// one name; 0 while no write named it (nameless or merged ones); else
// namesDiffer, for good (a nameless write and a named one, or another
// name: the stored name may rank below the times written, so a named
// occurrence inside them is written, not covered).
func nameAfter[R seenRecord](e seenEntry[R], known bool, r *R) uint64 {
	n, ok := any(r).(*graph.Node)
	if !ok {
		return 0
	}
	m := nodeNameMark(n)
	if !known || e.name == m {
		return m
	}
	return namesDiffer
}

// entryAfter is the seenEntry of a record once r is written over e.
func (s *seenCache[K, R]) entryAfter(e seenEntry[R], known bool, r *R) seenEntry[R] {
	return seenEntry[R]{seen: e.seen.union(seenOf(r)), pend: e.pend, name: nameAfter(e, known, r),
		rest: markAfter(e.rest, known, restMark(r))}
}

// seenCache is what the endpoint cache keeps of one sort of record, nodes
// by id or relations by key: the range of times written for each record
// committed (bounded, see genMap), and per cached record the occurrences
// outside it, merged into one pending extension (mergeSeen) that flushSeen
// writes. Its methods run with endpointCache.mu held.
type seenCache[K comparable, R seenRecord] struct {
	written genMap[K, seenEntry[R]]
	pending map[K]*R // a pointer: an occurrence merges into it in place
}

// seenEntry is what the cache keeps of a record written: the range of
// times written, and its pending extension if it has one (the same pointer
// as in seenCache.pending), so that an occurrence outside the range costs
// one look-up, not two.
type seenEntry[R seenRecord] struct {
	seen seenRange
	pend *R
	// name, for a node, is nameAfter its writes: the mark (nodeNameMark)
	// of the one name every write gave it, or 0. An occurrence that names
	// the node is covered by the times written only when it names the same
	// (its rank is then no higher than the stored name's); otherwise it
	// joins the pending extension, whose write merges it by the rule
	// (graph.MergeNode), so a name is never lost to the times covering it.
	name uint64
	// rest is markAfter of the writes' restMark: an occurrence inside the
	// times written is covered only when it says the same.
	rest uint64
}

func newSeenCache[K comparable, R seenRecord](generation int) seenCache[K, R] {
	return seenCache[K, R]{written: newGenMap[K, seenEntry[R]](generation), pending: map[K]*R{}}
}

// has reports whether record k is cached (written).
func (s *seenCache[K, R]) has(k K) bool { return s.written.has(k) }

// pendingFull reports whether so many extensions are pending that they are
// written now (flushDue): pendingSeenNodes, or half a generation of the
// cache when that is more (a Store sized for a large working set:
// tuning.Plan.EndpointCacheKeys), so that a working set the cache holds
// is flushed once per pendingSeenInterval, not every few chunks.
func (s *seenCache[K, R]) pendingFull() bool {
	return len(s.pending) >= max(pendingSeenNodes, s.written.size/2)
}

// covered reports whether occurrence r of record k needs no write now: its
// times are written already, or it is added to k's pending extension. False
// when k is not cached, or cached without times while r has some (seenFar):
// the caller takes it.
func (s *seenCache[K, R]) covered(k K, r *R) bool {
	e, ok := s.written.get(k)
	if !ok {
		return false
	}
	change := e.seen.change(seenOf(r))
	if change == seenWithin && !saysNothingNew(e, r) {
		change = seenNear
	}
	switch change {
	case seenWithin:
		return true
	case seenNear:
		if e.pend != nil {
			mergeSeen(e.pend, r)
		} else {
			s.addPending(k, r)
		}
		return true
	}
	return false
}

// saysNothingNew reports whether occurrence r, inside the times written
// for its record (entry e), says what was written: the same rest (restMark)
// and, for a node, the one name written, or no name where no write named
// it or before the last seen written. A nameless occurrence at the last
// seen written ties the confidence and time of a named record written
// there, and the digest of [name, props] decides which ranks higher
// (graph.RecordRank): it may outrank it, so it is merged by the rule (its
// props_rank kept when higher), not taken as written.
func saysNothingNew[R seenRecord](e seenEntry[R], r *R) bool {
	if e.rest == 0 || restMark(r) != e.rest {
		return false
	}
	n, ok := any(r).(*graph.Node)
	if !ok {
		return true
	}
	if n.Name == "" {
		return e.name == 0 || seenOf(r).last.Before(e.seen.last)
	}
	return nodeNameMark(n) == e.name
}

// addPending adds occurrence r of record k to its pending extension.
func (s *seenCache[K, R]) addPending(k K, r *R) {
	if p := s.pending[k]; p != nil {
		mergeSeen(p, r)
		return
	}
	c := *r
	s.pending[k] = &c
	s.written.update(k, func(e *seenEntry[R]) { e.pend = &c })
}

// dropPending forgets k's pending extension p (taken to be written).
func (s *seenCache[K, R]) dropPending(k K, p *R) {
	delete(s.pending, k)
	s.written.update(k, func(e *seenEntry[R]) {
		if e.pend == p {
			e.pend = nil
		}
	})
}

// taken merges k's pending extension, if any, into the record taken to be
// written now, r.
func (s *seenCache[K, R]) taken(k K, r *R) {
	if p := s.pending[k]; p != nil {
		mergeSeen(r, p)
		s.dropPending(k, p)
	}
}

// wrote records the end of a write of r, the record of k: when stored,
// the range written grows to span it; when not (the write failed), a
// cached record keeps r's times pending, so they are not lost with it.
func (s *seenCache[K, R]) wrote(k K, r *R, stored bool) {
	e, known := s.written.get(k)
	switch {
	case stored:
		s.written.put(k, s.entryAfter(e, known, r))
	case known:
		s.addPending(k, r)
	}
}

// takePending returns the pending extensions and forgets them.
func (s *seenCache[K, R]) takePending() []R {
	if len(s.pending) == 0 {
		return nil
	}
	out := make([]R, 0, len(s.pending))
	for k, p := range s.pending {
		out = append(out, *p)
		s.dropPending(k, p)
	}
	s.pending = map[K]*R{} // not the emptied map: it keeps its size
	return out
}

// flushed records the end of flushSeen's write of r, the pending extension
// of k: when it failed r is pending again; when it succeeded the range of
// a record still cached grows to span it (one forgotten meanwhile stays
// forgotten, to be written whole by its next occurrence).
func (s *seenCache[K, R]) flushed(k K, r *R, failed bool) {
	e, known := s.written.get(k)
	switch {
	case failed:
		s.addPending(k, r)
	case known:
		s.written.put(k, s.entryAfter(e, known, r))
	}
}

// recordClaim is one write of records in progress; done is closed when it
// has ended, committed or not.
type recordClaim struct{ done chan struct{} }

// relationKey identifies a relation as RelationUpsertMany merges it.
type relationKey struct {
	src, dst graph.Ref
	typ      string
}

func keyOf(r graph.Relation) relationKey {
	return relationKey{src: r.Src, dst: r.Dst, typ: strings.ToLower(r.Type)}
}

// endpointCacheGeneration is how many keys one generation of the cache's
// maps holds by default (WithEndpointCache sets it): each map holds at
// most two generations (about 10 MiB of relation keys, and 3 MiB of their
// seen ranges). Measured with
// make bench-scale (7 simulated days, a new process per host and pid
// every day): with 1<<17 for both sets the client's peak RSS grew 1.44×
// from day 1 to day 7, with 1<<15 1.18×.
const endpointCacheGeneration = 1 << 15

// endpointNodeGeneration is the least generation of the node-id map. A
// node id and its entry are 72 bytes, 100-170 in the map (a generation of
// 1<<16 is 6-11 MiB), and a working set larger than a generation is
// written again once per generation: BenchmarkTelemetryCopy's 50,000
// endpoints upserted 159,596 times with 1<<15, 50,000 with 1<<16 and 1<<17.
// make bench-scale (7 simulated days of 67,000 new nodes each, the
// default cache) grew the client's peak RSS 1.37-1.55x from day 1 to day 7
// with 1<<17 (its working set filled four generations' worth over days),
// 1.17x with 1<<16 and 1.19x with 1<<15 (2026-12-05, one run each, load
// 1.8-3.0; within a run the days' peaks spread by about 10 %).
const endpointNodeGeneration = 1 << 16

// newEndpointCache returns a cache of generation keys per generation of
// relation keys, and at least endpointNodeGeneration of node ids.
func newEndpointCache(generation int) *endpointCache {
	return &endpointCache{nodes: newSeenCache[uuid.UUID, graph.Node](max(generation, endpointNodeGeneration)),
		rels:       newSeenCache[relationKey, graph.Relation](generation),
		nodeClaims: map[uuid.UUID]*recordClaim{}, relClaims: map[relationKey]*recordClaim{},
		lastFlush: time.Now(), inputs: map[*inputProgress]struct{}{}}
}

// genMap is a map bounded by two generations: keys go into the current
// one; when it is full it becomes the old one (the previous old one is
// dropped) and a new current one starts. A key found in the old generation
// moves to the current one with its value, so keys in use stay while keys
// not seen for a generation are forgotten.
type genMap[K comparable, V any] struct {
	cur, old map[K]V
	size     int
}

func newGenMap[K comparable, V any](size int) genMap[K, V] {
	return genMap[K, V]{cur: map[K]V{}, old: map[K]V{}, size: size}
}

func (g *genMap[K, V]) has(k K) bool {
	_, ok := g.get(k)
	return ok
}

func (g *genMap[K, V]) get(k K) (V, bool) {
	if v, ok := g.cur[k]; ok {
		return v, true
	}
	if v, ok := g.old[k]; ok {
		g.put(k, v)
		return v, true
	}
	var zero V
	return zero, false
}

// update changes the value of k in place, if k is kept, without moving
// it between generations.
func (g *genMap[K, V]) update(k K, f func(*V)) {
	for _, m := range [2]map[K]V{g.cur, g.old} {
		if v, ok := m[k]; ok {
			f(&v)
			m[k] = v
			return
		}
	}
}

func (g *genMap[K, V]) put(k K, v V) {
	if _, ok := g.cur[k]; !ok && len(g.cur) >= g.size {
		g.old, g.cur = g.cur, make(map[K]V, g.size/4)
	}
	g.cur[k] = v
}

// claim returns the endpoint nodes and implied records of chunk that are
// neither cached, nor being written by another append, nor refused already
// (skip), each once, and claims them: the caller writes them and then
// calls finish with the claim it gets (nil when there is nothing to
// write). A node or relation taken spans all its occurrences in chunk
// (mergeSeen), and the extension pending for it, if any. An occurrence of
// a cached record outside the range the cache has written for it is added
// to the record's pending extension (flushSeen writes it; the relation is
// cached, so its endpoints have committed). waits are the other appends'
// claims on records of chunk, which the caller waits for before it asks
// again: on that turn a record they wrote is cached, and its occurrences
// here within or pending. An implied relation whose endpoint node another
// append is writing is left for the next turn (its claim is in waits), so
// a relation is never written before its endpoints have committed.
func (c *endpointCache) claim(chunk []graph.TelemetryEdge, skip *droppedSet) (b graph.Batch, mine *recordClaim, waits []*recordClaim) {
	var nodes map[uuid.UUID]int  // taken in this chunk: index in b.Nodes
	var rels map[relationKey]int // and in b.Relations
	wait := func(other *recordClaim) {
		if !slices.Contains(waits, other) {
			waits = append(waits, other)
		}
	}
	node := func(n *graph.Node) { // a pointer: a node is copied only when taken
		if i, ok := nodes[n.ID]; ok {
			mergeSeen(&b.Nodes[i], n)
			return
		}
		if skip.nodes[n.ID] || c.nodes.covered(n.ID, n) {
			return
		}
		if other := c.nodeClaims[n.ID]; other != nil {
			wait(other)
			return
		}
		if nodes == nil {
			nodes = map[uuid.UUID]int{}
		}
		nodes[n.ID] = len(b.Nodes)
		b.Nodes = append(b.Nodes, *n)
	}
	// pending is the other append's claim on an endpoint of a relation.
	pending := func(ref graph.Ref) *recordClaim {
		if id, ok := graph.ParseNodeRef(ref); ok {
			return c.nodeClaims[id]
		}
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range chunk {
		e := &chunk[i]
		node(&e.Src)
		node(&e.Dst)
		for j := range e.Implied.Nodes {
			node(&e.Implied.Nodes[j])
		}
		for j := range e.Implied.Relations {
			r := &e.Implied.Relations[j]
			k := keyOf(*r)
			if i, ok := rels[k]; ok {
				mergeSeen(&b.Relations[i], r)
				continue
			}
			if skip.rels[k] || c.rels.covered(k, r) {
				continue
			}
			other := c.relClaims[k]
			if other == nil {
				other = pending(r.Src)
			}
			if other == nil {
				other = pending(r.Dst)
			}
			if other != nil {
				wait(other)
				continue
			}
			if rels == nil {
				rels = map[relationKey]int{}
			}
			rels[k] = len(b.Relations)
			b.Relations = append(b.Relations, *r)
		}
	}
	if b.Len() == 0 {
		return b, nil, waits
	}
	mine = &recordClaim{done: make(chan struct{})}
	for id, i := range nodes { // a pending extension is written with its record now
		c.nodeClaims[id] = mine
		c.nodes.taken(id, &b.Nodes[i])
	}
	for k, i := range rels {
		c.relClaims[k] = mine
		c.rels.taken(k, &b.Relations[i])
	}
	return b, mine, waits
}

// finish ends the claim on b's records: when committed, it remembers those
// the database did not refuse (dropped), with the range of times written
// for each, and it wakes the appends waiting for them. When not committed,
// a record the cache knows keeps its times as a pending extension, so they
// are not lost with the write.
func (c *endpointCache) finish(mine *recordClaim, b graph.Batch, dropped droppedSet, committed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range b.Nodes {
		n := &b.Nodes[i]
		delete(c.nodeClaims, n.ID)
		if committed && dropped.nodes[n.ID] {
			continue
		}
		c.nodes.wrote(n.ID, n, committed)
	}
	for i := range b.Relations {
		r := &b.Relations[i]
		k := keyOf(*r)
		delete(c.relClaims, k)
		if committed && dropped.rels[k] {
			continue
		}
		c.rels.wrote(k, r, committed)
	}
	close(mine.done)
}

// flushDue says whether pending extensions should be written now, in the
// middle of a load: there are many, or they have waited long, or an
// input's seen_edges has not moved with its checkpoint for as long.
func (c *endpointCache) flushDue() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes.pendingFull() || c.rels.pendingFull() ||
		time.Since(c.lastFlush) >= pendingSeenInterval && (len(c.nodes.pending)+len(c.rels.pending) > 0 || c.lagging())
}

// flushSeen writes the endpoint cache's pending extensions: each node's
// record spanning them through the node upsert (one set-based statement
// per batch of nodes, UpsertNodes), then, once the nodes have committed,
// each implied relation's through the relation upsert the chunks' writes
// use (writeChecked: RelationUpsertMany, which merges relation_records and
// relations alike); both spread over the Store's writers, since a flush at
// the end of a load has the database to itself. Both merges keep the earliest first seen and the latest
// last seen, and the ranks (graph.Node.Ranks, graph.Relation.Ranks) of the
// record with the latest — the same rows as writing every occurrence would
// leave. A plain UPDATE of the times would leave the ranks of an earlier
// record, so the rows would depend on how the input was cut. A pending
// relation's endpoints have committed (it is cached: it was written with
// them), so writing it after the nodes never parks it. When flushSeen
// returns without error, every extension pending when it was called is
// written; on error the ones not written stay pending. When it succeeds,
// the checkpoint of each input being appended records that its edges
// committed before the flush began have their times written (recordSeen).
func (s *Store) flushSeen(ctx context.Context) (graph.WriteStats, error) {
	c := s.endpoints
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	c.mu.Lock()
	marks := c.marks() // before the take: what committed by now has its extensions pending, or written
	nodes, rels := c.nodes.takePending(), c.rels.takePending()
	c.lastFlush = time.Now()
	c.mu.Unlock()
	ws, err := s.writeSeen(ctx, nodes, rels)
	if err == nil {
		s.recordSeen(ctx, marks)
	}
	return ws, err
}

// recordSeen moves the checkpoint of each input in marks to say its first
// edges, as many as the mark holds, have their records' times written. A
// failure is logged, not returned: the times are written; a rerun after a
// cut would read those edges again for nothing.
func (s *Store) recordSeen(ctx context.Context, marks []seenMark) {
	for _, m := range marks {
		err := s.retry(ctx, "record telemetry checkpoint times", func(ctx context.Context) error {
			return s.q.TelemetryCheckpointSeen(ctx, gen.TelemetryCheckpointSeenParams{
				Input: m.p.in.Name, ContentHash: m.p.in.ContentHash, SeenEdges: m.edges})
		})
		if err != nil {
			s.log.WarnContext(ctx, "could not record that the telemetry endpoints' times are written", "input", m.p.in.Name, "err", err)
			continue
		}
		for { // never back: a later flush may have moved it further
			old := m.p.seen.Load()
			if old >= m.edges || m.p.seen.CompareAndSwap(old, m.edges) {
				break
			}
		}
	}
}

// writeSeen is flushSeen's write of the extensions it took.
func (s *Store) writeSeen(ctx context.Context, nodes []graph.Node, rels []graph.Relation) (graph.WriteStats, error) {
	c := s.endpoints
	var ws graph.WriteStats
	var err error
	if len(nodes) > 0 {
		slices.SortFunc(nodes, func(a, b graph.Node) int { return slices.Compare(a.ID[:], b.ID[:]) })
		ws, err = s.UpsertNodes(ctx, nodes)
		c.mu.Lock()
		for i := range nodes {
			c.nodes.flushed(nodes[i].ID, &nodes[i], err != nil)
		}
		c.mu.Unlock()
		if err != nil {
			err = fmt.Errorf("write the first/last seen of %d telemetry endpoint nodes: %w", len(nodes), err)
		}
	}
	if len(rels) == 0 {
		return ws, err
	}
	if err != nil { // the relations wait for the next flush, as the nodes do
		c.mu.Lock()
		for i := range rels {
			c.rels.addPending(keyOf(rels[i]), &rels[i])
		}
		c.mu.Unlock()
		return ws, err
	}
	slices.SortFunc(rels, func(a, b graph.Relation) int {
		return cmp.Or(strings.Compare(string(a.Src), string(b.Src)), strings.Compare(a.Type, b.Type),
			strings.Compare(string(a.Dst), string(b.Dst)))
	})
	rs, dropped, err := s.writeRelationsSpread(ctx, rels)
	ws.Add(rs)
	c.mu.Lock()
	for i := range rels {
		k := keyOf(rels[i])
		if err == nil && dropped.rels[k] { // refused: not written, not pending again
			continue
		}
		c.rels.flushed(k, &rels[i], err != nil)
	}
	c.mu.Unlock()
	if err != nil {
		return ws, fmt.Errorf("write the first/last seen of %d telemetry implied relations: %w", len(rels), err)
	}
	return ws, nil
}

// writeRelationsSpread writes rels, sorted by key, as up to s.writers
// transactions side by side, each a contiguous run of at least a batch
// (writeChecked through spreadWrites, as UpsertNodes spreads nodes), so a
// flush of many implied relations uses every writer instead of one
// connection while the others idle. On error some runs may have committed;
// writing them again merges nothing new (the merge is idempotent).
func (s *Store) writeRelationsSpread(ctx context.Context, rels []graph.Relation) (graph.WriteStats, droppedSet, error) {
	parts := min(s.writers, len(rels)/max(s.batchSize, 1))
	if parts <= 1 {
		return s.writeChecked(ctx, graph.Batch{Relations: rels}, true)
	}
	return spreadWrites(ctx, parts, rels, (len(rels)+parts-1)/parts,
		func(ctx context.Context, run []graph.Relation) (graph.WriteStats, droppedSet, error) {
			return s.writeChecked(ctx, graph.Batch{Relations: run}, true)
		})
}

// waitClaims waits for the writes of claims to end, or for ctx.
func waitClaims(ctx context.Context, claims []*recordClaim) error {
	for _, cl := range claims {
		select {
		case <-cl.done:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	return nil
}

// recheckDays asks the DayEnsurer again, at the end of a load, for the
// days of the window whose partitions this Store made or found. A day's
// partition dropped or detached while the load ran, after the Store had
// made it, sent that day's later rows to the default partition unseen (the
// report said none went there). Ensuring the day makes its partition again
// and moves those rows into it. It returns the partitions made; a failure
// is logged, not returned: the rows are stored, and `intel partitions
// check` finds any left in the default partition.
func (s *Store) recheckDays(ctx context.Context) int {
	if s.ensurer == nil {
		return 0
	}
	today := graph.UTCDay(s.now())
	days := s.days.confirmed(today.AddDate(0, 0, -s.window.Back), today.AddDate(0, 0, s.window.Ahead+1))
	if len(days) == 0 {
		return 0
	}
	var out DayOutcome
	err := s.retry(ctx, "check day partitions", func(ctx context.Context) error {
		var err error
		out, err = s.ensureDays(ctx, days)
		return err
	})
	if err != nil {
		s.log.WarnContext(ctx, "could not check at the end of the load that its day partitions still exist", "err", err)
		return 0
	}
	if out.Created > 0 {
		s.log.WarnContext(ctx, "day partitions this load wrote to were gone (dropped or detached while it ran?): "+
			"made them again, and moved into them the rows that had gone to the default partition", "partitions", out.Created)
	}
	return out.Created
}
