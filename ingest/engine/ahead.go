package engine

import "github.com/ransomeye/intel/graph"

// aheadBatches bounds the relations kept by relationsAhead, in batches.
const aheadBatches = 32

// relationsAhead keeps, in input order, the relations that name a node
// reference (node--<uuid> or alias) no record of the input has given yet,
// until records give every one of their ends: a feed that names objects
// before it gives them (a STIX collection's object refs, a relationship
// listed before its target) would otherwise have the store park each such
// relation (pending_relations) and release it when its endpoint comes,
// writing it three times instead of once. A relation joins the batch
// being collected as soon as its last missing end is given (in that
// batch, whose nodes are written before its relations), so which batch a
// relation goes to depends on the input alone. At most limit relations
// wait, the oldest leaving first (the store parks it as before), and the
// last flush takes those left: names of nodes the input never gives,
// written earlier, or relationship ids.
type relationsAhead struct {
	limit int
	// seen holds the references of the nodes collected so far.
	seen map[graph.Ref]struct{}
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
// known, and the waiting ones that nodes complete, in input order of
// completion; the others wait.
func (a *relationsAhead) add(out []graph.Relation, nodes []graph.Node, rels []graph.Relation) []graph.Relation {
	if a.seen == nil {
		a.seen, a.waiting = map[graph.Ref]struct{}{}, map[graph.Ref][]*aheadRelation{}
	}
	for i := range nodes {
		out = a.see(out, nodes[i].Ref())
		for _, alias := range nodes[i].Aliases {
			out = a.see(out, graph.Ref(alias))
		}
	}
	for _, r := range rels {
		if a.limit <= 0 || a.known(r) {
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

// compact forgets the relations that left: memory stays within a few
// times limit relations, whatever the input.
func (a *relationsAhead) compact() {
	queue := make([]*aheadRelation, 0, a.n)
	a.waiting = map[graph.Ref][]*aheadRelation{}
	for _, w := range a.queue {
		if w.done {
			continue
		}
		queue = append(queue, w)
		w.missing = 0
		a.index(w)
	}
	a.queue, a.stale = queue, 0
}

// known reports whether records gave both ends of r.
func (a *relationsAhead) known(r graph.Relation) bool {
	_, src := a.seen[r.Src]
	_, dst := a.seen[r.Dst]
	return src && dst
}

// index counts the ends w misses and files it under each.
func (a *relationsAhead) index(w *aheadRelation) {
	if _, ok := a.seen[w.r.Src]; !ok {
		w.missing++
		a.waiting[w.r.Src] = append(a.waiting[w.r.Src], w)
	}
	if _, ok := a.seen[w.r.Dst]; !ok && w.r.Dst != w.r.Src {
		w.missing++
		a.waiting[w.r.Dst] = append(a.waiting[w.r.Dst], w)
	}
}

// see marks ref as given and releases the relations that waited for it
// alone.
func (a *relationsAhead) see(out []graph.Relation, ref graph.Ref) []graph.Relation {
	if _, ok := a.seen[ref]; ok {
		return out
	}
	a.seen[ref] = struct{}{}
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

// leave appends the oldest waiting relation to out and forgets it.
func (a *relationsAhead) leave(out []graph.Relation) []graph.Relation {
	for len(a.queue) > 0 {
		w := a.queue[0]
		a.queue[0] = nil
		a.queue = a.queue[1:]
		if !w.done {
			w.done = true
			a.n--
			a.stale++
			return append(out, w.r)
		}
	}
	return out
}

// drain appends every waiting relation to out, oldest first.
func (a *relationsAhead) drain(out []graph.Relation) []graph.Relation {
	for a.n > 0 {
		out = a.leave(out)
	}
	a.queue, a.waiting, a.stale = nil, map[graph.Ref][]*aheadRelation{}, 0
	return out
}
