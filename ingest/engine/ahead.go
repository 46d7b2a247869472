package engine

import "github.com/ransomeye/intel/graph"

// aheadBatches bounds the relations kept by relationsAhead, in batches;
// aheadRefs the node references it remembers (twice that at most).
const (
	aheadBatches = 8
	aheadRefs    = 1 << 15
)

// relationsAhead keeps, in input order, the relations that name a node
// reference (node--<uuid> or alias) no record of the input has given yet,
// until records give every one of their ends: a feed that names objects
// before it gives them (a STIX collection's object refs, a relationship
// listed before its target) would otherwise have the store park each such
// relation (pending_relations) and release it when its endpoint comes,
// writing it three times instead of once. A relation joins the batch
// being collected as soon as its last missing end is given (in that
// batch, whose nodes are written before its relations), so which batch a
// relation goes to depends on the input alone.
//
// At most limit relations wait. When one more would wait, the oldest
// leaves, and with it every relation waiting for a reference it misses:
// that reference is given up (a node the input gives late or never, such
// as an event's own node after its attributes), and relations naming it
// no longer wait; the store parks them as before. The last flush takes
// those left: names of nodes the input never gives (written earlier, or
// relationship ids).
//
// Memory is bounded whatever the input: it remembers the references of
// the last aheadRefs to 2*aheadRefs nodes given (a relation naming an
// older one waits, and leaves when it is given up), and at most aheadRefs
// references given up.
type relationsAhead struct {
	limit int
	// seen and old hold the references of the nodes collected lately
	// (old the generation before seen), givenUp those no relation waits
	// for any more.
	seen, old, givenUp map[graph.Ref]struct{}
	// queue holds the waiting relations, oldest first (and some that
	// left already, done); waiting indexes them by the ends they miss.
	queue   []*aheadRelation
	waiting map[graph.Ref][]*aheadRelation
	n       int // relations waiting
	// stale counts the relations that left while still missing an end:
	// waiting keeps them until compact.
	stale int
}

type aheadRelation struct {
	r       graph.Relation
	missing int  // ends not given yet
	done    bool // left: released or pushed out
}

// add records the references of nodes and returns out with the relations
// that may be written now appended: those of rels whose ends are all
// known (or given up), and the waiting ones that nodes complete, in input
// order of completion; the others wait.
func (a *relationsAhead) add(out []graph.Relation, nodes []graph.Node, rels []graph.Relation) []graph.Relation {
	if a.limit <= 0 {
		return append(out, rels...)
	}
	if a.seen == nil {
		a.seen, a.givenUp, a.waiting = map[graph.Ref]struct{}{}, map[graph.Ref]struct{}{}, map[graph.Ref][]*aheadRelation{}
	}
	for i := range nodes {
		out = a.see(out, nodes[i].Ref())
		for _, alias := range nodes[i].Aliases {
			out = a.see(out, graph.Ref(alias))
		}
	}
	for _, r := range rels {
		if a.passes(r.Src) && a.passes(r.Dst) {
			out = append(out, r)
			continue
		}
		w := &aheadRelation{r: r}
		a.index(w)
		a.queue = append(a.queue, w)
		a.n++
	}
	for a.n > a.limit {
		out = a.leave(out)
	}
	if a.stale > a.limit || len(a.queue) > 2*a.n+a.limit {
		a.compact()
	}
	return out
}

// passes reports whether a relation need not wait for ref: a node gave
// it, or it was given up.
func (a *relationsAhead) passes(ref graph.Ref) bool {
	if a.given(ref) {
		return true
	}
	_, ok := a.givenUp[ref]
	return ok
}

// given reports whether a node collected lately gave ref.
func (a *relationsAhead) given(ref graph.Ref) bool {
	if _, ok := a.seen[ref]; ok {
		return true
	}
	_, ok := a.old[ref]
	return ok
}

// index counts the ends w misses and files it under each.
func (a *relationsAhead) index(w *aheadRelation) {
	if !a.given(w.r.Src) {
		w.missing++
		a.waiting[w.r.Src] = append(a.waiting[w.r.Src], w)
	}
	if !a.given(w.r.Dst) && w.r.Dst != w.r.Src {
		w.missing++
		a.waiting[w.r.Dst] = append(a.waiting[w.r.Dst], w)
	}
}

// compact forgets the relations that left: memory stays within a few
// times limit relations, whatever the input.
func (a *relationsAhead) compact() {
	queue := make([]*aheadRelation, 0, a.n)
	a.waiting = map[graph.Ref][]*aheadRelation{}
	for _, w := range a.queue {
		if !w.done {
			queue = append(queue, w)
			w.missing = 0
			a.index(w)
		}
	}
	a.queue, a.stale = queue, 0
}

// see marks ref as given and releases the relations that waited for it
// alone.
func (a *relationsAhead) see(out []graph.Relation, ref graph.Ref) []graph.Relation {
	if a.given(ref) {
		return out
	}
	if len(a.seen) == aheadRefs {
		a.old, a.seen = a.seen, make(map[graph.Ref]struct{}, aheadRefs)
	}
	a.seen[ref] = struct{}{}
	delete(a.givenUp, ref)
	for _, w := range a.waiting[ref] {
		if w.missing--; w.missing == 0 && !w.done {
			w.done = true
			a.n--
			out = append(out, w.r)
		}
	}
	delete(a.waiting, ref)
	return out
}

// leave appends the oldest waiting relation to out, gives up the
// references it misses and appends the relations waiting for those too,
// in input order.
func (a *relationsAhead) leave(out []graph.Relation) []graph.Relation {
	for len(a.queue) > 0 {
		w := a.queue[0]
		a.queue[0] = nil
		a.queue = a.queue[1:]
		if w.done {
			continue
		}
		out = a.push(out, w)
		for _, end := range []graph.Ref{w.r.Src, w.r.Dst} {
			if a.given(end) {
				continue
			}
			if len(a.givenUp) == aheadRefs {
				clear(a.givenUp)
			}
			a.givenUp[end] = struct{}{}
			for _, x := range a.waiting[end] {
				out = a.push(out, x)
			}
			delete(a.waiting, end)
		}
		return out
	}
	return out
}

// push appends w's relation to out unless it left already.
func (a *relationsAhead) push(out []graph.Relation, w *aheadRelation) []graph.Relation {
	if w.done {
		return out
	}
	w.done = true
	a.n--
	a.stale++
	return append(out, w.r)
}

// drain appends every waiting relation to out, oldest first.
func (a *relationsAhead) drain(out []graph.Relation) []graph.Relation {
	for _, w := range a.queue {
		out = a.push(out, w)
	}
	a.queue, a.waiting, a.stale = nil, map[graph.Ref][]*aheadRelation{}, 0
	return out
}
