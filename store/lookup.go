package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/ransomeye/intel/db/gen"
	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/stixid"
)

// ErrAmbiguous is returned (wrapped, with the candidates) when a reference
// names more than one node.
var ErrAmbiguous = errors.New("ambiguous")

// refHelp says what ResolveNode accepts, for its errors.
const refHelp = "want a node id, a source id (STIX id, MISP uuid, with or without its prefix), " +
	"kind:key (ipv4-addr:198.51.100.7, malware:lockbit), kind:alias (intrusion-set:sofacy), kind:external-id (attack-pattern:T1059.001) " +
	"or a hash value (MD5, SHA-1, SHA-256, ...)"

// ResolveNode finds the node a person names, the one resolver every
// command uses. In this order:
//
//   - a node id (a uuid), or node--<id>;
//   - a source id a feed used (malware--<uuid>, misp--<uuid>; the UUID in
//     either case), or its bare uuid (without the type prefix);
//   - kind:key, the key normalized as the mappers do for named kinds,
//     single-value observables and hashes (ipv4-addr:198.51.100.7,
//     domain-name:Example.COM., malware:lockbit, hash:SHA-256:<hex>;
//     hostname:<value> as domain-name, graph.ProducerObservableKind);
//   - kind:name, kind:alias or kind:external-id: a node of that kind whose
//     name, alias or synonym (props), or external id (ATT&CK T1059.001,
//     S0606, CVE) is the text, case-insensitively (file:invoice.exe finds a
//     file keyed by its hash);
//   - a name, alias or external id alone (T1059.001), when one node has it;
//   - a hash value alone or as hash:<value>, without its algorithm: the
//     hash node of the one fixed-length algorithm of its length that has
//     one (resolveDigest; an MD5's 32 hex digits are tried as a uuid
//     first).
//
// A name alias that several entities with external ids of their own claim
// (alias_claims) is ambiguous too; a withdrawn entity's claim of a name a
// live one claims too does not count (alias_claim_entities, migration
// 00032), so the name finds the live one, also when given alone. A revoked
// object resolves to its live replacement (see Resolve).
//
// It returns an error wrapping ErrNotFound when nothing matches, and one
// wrapping ErrAmbiguous, listing the candidates, when several nodes do.
func (s *Store) ResolveNode(ctx context.Context, ref string) (graph.Node, error) {
	r, err := s.Resolve(ctx, ref)
	return r.Node, err
}

// Resolve is ResolveNode, saying what it followed: when ref names a revoked
// object (one with a revoked-by relation), the result is its replacement,
// following chains (A revoked by B revoked by C gives C) and stopping at a
// cycle, and Replaced lists the revoked nodes followed (Resolution.Note:
// "T1086 revoked by T1059.001"). When a node has several replacements the
// first in kind and key order is followed (node_replacement_chain, the rule
// the walks use too). When the node reached is keyed by its name and one
// entity claims its names (a MISP threat-actor cluster "Sofacy" and APT28,
// G0007: node_entities), the result is that entity and SameAs the node.
func (s *Store) Resolve(ctx context.Context, ref string) (graph.Resolution, error) {
	n, err := s.resolveNamed(ctx, ref)
	if err != nil {
		return graph.Resolution{}, err
	}
	res, err := s.followReplacements(ctx, n)
	if err != nil || res.SameAs != nil || len(res.Replaced) > 0 {
		return res, err
	}
	return res, s.namedStandIn(ctx, ref, &res)
}

// namedStandIn sets res.SameAs when ref is kind:name and the entity it
// reached (through the names entities claim) is of another kind, and a node
// of the kind asked, keyed by that name, stands for it: "threat-actor:Sofacy"
// reaches APT28 (G0007) through MISP's threat-actor cluster Sofacy, which the
// note then names, as when the cluster is named by its id.
func (s *Store) namedStandIn(ctx context.Context, ref string, res *graph.Resolution) error {
	kind, key, ok := strings.Cut(strings.TrimSpace(ref), ":")
	if !ok || kind == "" || key == "" || graph.Kind(kind) == res.Node.Kind {
		return nil
	}
	for _, candidate := range keyCandidates(graph.Kind(kind), key) {
		r, err := s.q.NodeGetByKey(ctx, gen.NodeGetByKeyParams{Kind: kind, Key: candidate})
		if errors.Is(err, pgx.ErrNoRows) {
			continue
		}
		if err != nil {
			return Interpret(fmt.Sprintf("resolve %q", ref), err)
		}
		m := nodeFromRow(r)
		e, err := s.q.NodeEntityOf(ctx, m.ID)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return nil
		case err != nil:
			return Interpret(fmt.Sprintf("entity of %s", m.ID), err)
		}
		if e.Reason == "alias" && e.EntityID == res.Node.ID {
			b := m.Brief()
			res.SameAs, res.VersionOf = &b, e.VersionOf
		}
		return nil
	}
	return nil
}

// maxReplacements bounds a revoked-by chain (node_replacement_chain).
const maxReplacements = 64

// followReplacements follows n's revoked-by chain to the live node, then
// the entity that node stands for by its names.
func (s *Store) followReplacements(ctx context.Context, n graph.Node) (graph.Resolution, error) {
	res := graph.Resolution{Node: n}
	chain, err := s.q.NodeReplacementChain(ctx, n.ID)
	if err != nil {
		return res, Interpret(fmt.Sprintf("revoked-by of %s", n.ID), err)
	}
	last := n.Brief()
	for _, c := range chain[min(1, len(chain)):] {
		if c.Cycle {
			res.Cycle = true
			break
		}
		res.Replaced = append(res.Replaced, last)
		last = graph.NodeBrief{ID: c.ID, Kind: graph.Kind(c.Kind), Key: c.Key, Name: c.Name}
	}
	res.Cycle = res.Cycle || len(chain) > maxReplacements
	target := last.ID
	e, err := s.q.NodeEntityOf(ctx, last.ID)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return res, Interpret(fmt.Sprintf("entity of %s", last.ID), err)
	case e.Reason == "alias":
		res.SameAs = &last
		res.VersionOf = e.VersionOf
		target = e.EntityID
	}
	if target == n.ID {
		return res, nil
	}
	res.Node, err = s.GetNode(ctx, target)
	return res, err
}

// resolveNamed is ResolveNode without following replacements.
func (s *Store) resolveNamed(ctx context.Context, ref string) (graph.Node, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return graph.Node{}, fmt.Errorf("resolve: empty reference: %w (%s)", ErrNotFound, refHelp)
	}
	if id, ok := graph.ParseNodeRef(graph.Ref(ref)); ok {
		return s.GetNode(ctx, id)
	}
	if id, err := uuid.Parse(ref); err == nil {
		n, err := s.GetNode(ctx, id)
		if !errors.Is(err, ErrNotFound) {
			return n, err
		}
		n, err = s.resolveBareUUID(ctx, ref, id)
		if errors.Is(err, ErrNotFound) && !strings.Contains(ref, "-") {
			// 32 hex digits are an MD5 (or imphash) as much as a uuid.
			if h, herr := s.resolveDigest(ctx, ref, ref); !errors.Is(herr, ErrNotFound) {
				return h, herr
			}
		}
		return n, err
	}
	kind, key, ok := strings.Cut(ref, ":")
	aliases := []string{ref}
	if c, _ := stixid.CanonicalID(ref); c != ref {
		// Source ids are stored with their UUID lower-case (an alias a
		// database loaded before kept as written is tried first).
		aliases = append(aliases, c)
	}
	if ok {
		// A name alias is spelled as the mappers spell it (graph.NameAlias:
		// normalised name), so "malware:Bad Rabbit" finds "malware:bad rabbit".
		if a := graph.NameAlias(graph.Kind(kind), key); a != "" && a != ref {
			aliases = append(aliases, a)
		}
	}
	for _, a := range aliases {
		if graph.IsNameAlias(a) {
			if err := s.checkClaims(ctx, ref, a); err != nil {
				return graph.Node{}, err
			}
			// The claimants whose claims count (a live one's, when a
			// withdrawn one claims the name too), the smallest node id as
			// node_aliases keeps it.
			ids, err := s.q.AliasClaimCounted(ctx, a)
			if err != nil {
				return graph.Node{}, Interpret(fmt.Sprintf("resolve %q", ref), err)
			}
			if len(ids) > 0 {
				return s.GetNode(ctx, ids[0])
			}
		}
		rows, err := s.q.NodeAliasResolve(ctx, []string{a})
		if err != nil {
			return graph.Node{}, Interpret(fmt.Sprintf("resolve %q", ref), err)
		}
		if len(rows) > 0 {
			return s.GetNode(ctx, rows[0].NodeID)
		}
	}
	if ok && kind != "" && key != "" && !strings.ContainsAny(kind, " \t") {
		if k, producer := graph.ProducerObservableKind(kind); producer {
			kind = string(k) // hostname:<value> is the domain-name OpenCTI's hostname is kept as
		}
		if _, single := graph.Kind(kind).ValueProperty(); single {
			// The node the mappers make of the value (normalised, an IP
			// address under its family's kind), whatever form it is given in.
			n, err := s.GetNode(ctx, graph.ValueNode(graph.Kind(kind), key).ID)
			if !errors.Is(err, ErrNotFound) {
				return n, err
			}
		}
		for _, candidate := range keyCandidates(graph.Kind(kind), key) {
			r, err := s.q.NodeGetByKey(ctx, gen.NodeGetByKeyParams{Kind: kind, Key: candidate})
			if err == nil {
				return nodeFromRow(r), nil
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return graph.Node{}, Interpret(fmt.Sprintf("resolve %q", ref), err)
			}
		}
		if graph.Kind(kind) == graph.KindHash {
			if h, err := s.resolveDigest(ctx, ref, key); !errors.Is(err, ErrNotFound) {
				return h, err
			}
		}
		n, err := s.resolveName(ctx, ref, kind, key)
		if errors.Is(err, ErrNotFound) {
			// Not kind:key but a value or name with a colon in it: a URL
			// (https://…, hxxps://…), an IPv6 address, "Operation: X".
			n, err = s.resolveName(ctx, ref, "", ref)
			if errors.Is(err, ErrNotFound) {
				n, err = s.resolveValue(ctx, ref)
			}
			if !errors.Is(err, ErrNotFound) {
				return n, err
			}
			return graph.Node{}, fmt.Errorf("resolve %q: no %s node with key, name, alias or external id %q%s: %w",
				ref, kind, key, s.otherKindHint(ctx, ref, key), ErrNotFound)
		}
		return n, err
	}
	n, err := s.resolveName(ctx, ref, "", ref)
	if errors.Is(err, ErrNotFound) {
		n, err = s.resolveClaimedName(ctx, ref)
	}
	if errors.Is(err, ErrNotFound) {
		n, err = s.resolveDigest(ctx, ref, ref)
	}
	if errors.Is(err, ErrNotFound) {
		n, err = s.resolveValue(ctx, ref)
	}
	if errors.Is(err, ErrNotFound) {
		return graph.Node{}, fmt.Errorf("resolve %q: %w (%s)", ref, ErrNotFound, refHelp)
	}
	return n, err
}

// valueKinds are the kinds of observable a value alone may name when it is
// written otherwise than the node's key: defanged as reports write IoCs
// (evil[.]example, hxxps://…, 198.51.100[.]7), in upper case, with a
// final dot, internationalized (bücher.example for xn--bcher-kva.example),
// with its scheme's default port. graph.ValueNode reads it as the mappers
// do.
var valueKinds = []graph.Kind{graph.KindDomainName, graph.KindIPv4Addr, graph.KindIPv6Addr, graph.KindURL, graph.KindEmailAddr}

// valueNodes returns the stored nodes that text, read as a value of each
// of valueKinds, names (each once), or none when every reading is the text
// itself in another case: the search and look-ups by name, which ignore
// case, find those already.
func (s *Store) valueNodes(ctx context.Context, text string) ([]graph.Node, error) {
	text = strings.TrimSpace(text)
	var out []graph.Node
	seen := map[uuid.UUID]bool{}
	for _, k := range valueKinds {
		v := graph.ValueNode(k, text)
		if seen[v.ID] || strings.EqualFold(v.Key, text) {
			continue
		}
		seen[v.ID] = true
		n, err := s.GetNode(ctx, v.ID)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// resolveValue resolves a value alone written otherwise than its node's
// key (valueNodes): `intel show evil[.]example` as `domain-name:evil[.]example`
// does.
func (s *Store) resolveValue(ctx context.Context, ref string) (graph.Node, error) {
	nodes, err := s.valueNodes(ctx, ref)
	switch {
	case err != nil:
		return graph.Node{}, err
	case len(nodes) == 1:
		return nodes[0], nil
	case len(nodes) > 1:
		return graph.Node{}, ambiguousNodes(ref, nodes, "by id or kind:key")
	}
	return graph.Node{}, fmt.Errorf("resolve %q: %w", ref, ErrNotFound)
}

// otherKindHint names the one node of another kind that the key names as
// a name, alias or external id, for the error of a kind:key that names
// none of its kind: "intrusion-set:sofacy" when MISP's threat-actor galaxy
// gave Sofacy and nothing else did. Empty when the key names no node or
// several, or the look-up fails (the error stays "not found").
func (s *Store) otherKindHint(ctx context.Context, ref, key string) string {
	n, err := s.resolveName(ctx, ref, "", key)
	if err != nil {
		return ""
	}
	return fmt.Sprintf(" (a %s node has it: %s:%s [%s])", n.Kind, n.Kind, n.Key, n.ID)
}

// claimKinds are the kinds whose name aliases (graph.NameAlias) a name
// given alone is tried as, when no node has it as its name, alias or
// external id.
var claimKinds = []graph.Kind{
	graph.KindAttackPattern, graph.KindCampaign, graph.KindCourseOfAction,
	graph.KindIntrusionSet, graph.KindMalware, graph.KindTool,
}

// resolveClaimedName resolves a name given alone through the name aliases
// entities claim (alias_claims), as kind:name does for one kind: a node
// that two sources describe keeps one source's alias list in its props
// (node_lookup_names), but every source's names are claimed. So "menuPass",
// a synonym of MISP's mitre-intrusion-set cluster "menuPass - G0045" that
// the threat-actor galaxy's APT10 (G0045, the same node) does not list,
// finds APT10 as "intrusion-set:menuPass" did, instead of "not found".
// Claims of several kinds that are several entities are ambiguous.
func (s *Store) resolveClaimedName(ctx context.Context, ref string) (graph.Node, error) {
	var ids []uuid.UUID
	var cands []string
	for _, k := range claimKinds {
		a := graph.NameAlias(k, ref)
		if a == "" {
			continue
		}
		if err := s.checkClaims(ctx, ref, a); err != nil {
			return graph.Node{}, err
		}
		claimants, err := s.q.AliasClaimCounted(ctx, a)
		if err != nil {
			return graph.Node{}, Interpret(fmt.Sprintf("resolve %q", ref), err)
		}
		if len(claimants) > 0 && !slices.Contains(ids, claimants[0]) {
			ids = append(ids, claimants[0])
			cands = append(cands, fmt.Sprintf("%s [%s]", a, claimants[0]))
		}
	}
	switch len(ids) {
	case 0:
		return graph.Node{}, ErrNotFound
	case 1:
		return s.GetNode(ctx, ids[0])
	}
	return graph.Node{}, fmt.Errorf("resolve %q: %w: %d candidates: %s; name one by kind:name",
		ref, ErrAmbiguous, len(ids), strings.Join(cands, ", "))
}

// checkClaims refuses a name alias that several entities claim
// (ambiguous_aliases: claimants that are one entity through revoked-by are
// one), listing the claimants.
func (s *Store) checkClaims(ctx context.Context, ref, alias string) error {
	ambiguous, err := s.q.AliasAmbiguous(ctx, alias)
	if err != nil || !ambiguous {
		return Interpret(fmt.Sprintf("resolve %q", ref), err)
	}
	rows, err := s.q.AliasClaimNodes(ctx, alias)
	if err != nil {
		return Interpret(fmt.Sprintf("resolve %q", ref), err)
	}
	cands := make([]string, 0, len(rows))
	for _, r := range rows {
		b := graph.NodeBrief{ID: r.ID, Kind: graph.Kind(r.Kind), Key: r.Key, Name: r.Name}
		cands = append(cands, fmt.Sprintf("%s (%s) [%s]", b.Label(), b.Key, b.ID))
	}
	return fmt.Errorf("resolve %q: %w: alias %q names %d entities with ids of their own: %s; name one by id or kind:external-id",
		ref, ErrAmbiguous, alias, len(rows), strings.Join(cands, ", "))
}

// resolveBareUUID resolves a uuid that is no node id through the source
// ids ending in --<uuid>.
func (s *Store) resolveBareUUID(ctx context.Context, ref string, id uuid.UUID) (graph.Node, error) {
	rows, err := s.q.NodeAliasesByUUID(ctx, id.String())
	if err != nil {
		return graph.Node{}, Interpret(fmt.Sprintf("resolve %q", ref), err)
	}
	var ids []uuid.UUID
	var names []string
	for _, r := range rows {
		if !containsID(ids, r.NodeID) {
			ids = append(ids, r.NodeID)
			names = append(names, r.SourceID)
		}
	}
	switch len(ids) {
	case 0:
		return graph.Node{}, fmt.Errorf("resolve %q: no node and no source id with this uuid: %w", ref, ErrNotFound)
	case 1:
		return s.GetNode(ctx, ids[0])
	}
	var cands []string
	for i, id := range ids {
		cands = append(cands, fmt.Sprintf("%s [%s]", names[i], id))
	}
	return graph.Node{}, fmt.Errorf("resolve %q: %w: %d candidates: %s; name one by source id or node id",
		ref, ErrAmbiguous, len(ids), strings.Join(cands, ", "))
}

// resolveDigest finds the hash node of a value given without its algorithm
// (graph.HashKeysOfDigest: "2f70…" of 32 hex digits is an MD5 or an
// imphash), as analysts paste hashes from alerts and reports: the one such
// node, ambiguous when two algorithms have a node of that value, else
// ErrNotFound.
func (s *Store) resolveDigest(ctx context.Context, ref, digest string) (graph.Node, error) {
	var found []graph.Node
	for _, key := range graph.HashKeysOfDigest(digest) {
		r, err := s.q.NodeGetByKey(ctx, gen.NodeGetByKeyParams{Kind: string(graph.KindHash), Key: key})
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return graph.Node{}, Interpret(fmt.Sprintf("resolve %q", ref), err)
		default:
			found = append(found, nodeFromRow(r))
		}
	}
	switch len(found) {
	case 0:
		return graph.Node{}, fmt.Errorf("resolve %q: no hash node of this value: %w", ref, ErrNotFound)
	case 1:
		return found[0], nil
	}
	return graph.Node{}, ambiguousNodes(ref, found, "as hash:<algorithm>:<value>")
}

// ambiguousNodes is the error of a reference that names several nodes:
// each candidate's kind, name and id, and how to name one.
func ambiguousNodes(ref string, nodes []graph.Node, how string) error {
	cands := make([]string, 0, len(nodes))
	for _, n := range nodes {
		cands = append(cands, fmt.Sprintf("%s %s [%s]", n.Kind, n.Name, n.ID))
	}
	return fmt.Errorf("resolve %q: %w: %d candidates: %s; name one %s", ref, ErrAmbiguous, len(nodes), strings.Join(cands, ", "), how)
}

func containsID(ids []uuid.UUID, id uuid.UUID) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// resolveName resolves a name, alias or external id (of kind, or of any
// kind when kind is empty) through node_lookup_names.
func (s *Store) resolveName(ctx context.Context, ref, kind, text string) (graph.Node, error) {
	rows, err := s.q.NodeLookupExact(ctx, gen.NodeLookupExactParams{Kind: kind, Pattern: likeEscape(lookupText(text))})
	if err != nil {
		return graph.Node{}, Interpret(fmt.Sprintf("resolve %q", ref), err)
	}
	if len(rows) > 1 && graph.IsATTACKID(strings.ToUpper(strings.TrimSpace(text))) {
		// An ATT&CK id names the node keyed by it; other nodes only cite it
		// (the threat-actor galaxy's "Lazarus Group" lists G0032 and G0082
		// and is keyed by its name, so G0032 alone was ambiguous).
		keyed := slices.DeleteFunc(slices.Clone(rows), func(r gen.NodeLookupExactRow) bool {
			return !strings.EqualFold(r.Key, strings.TrimSpace(text))
		})
		if len(keyed) == 1 {
			rows = keyed
		}
	}
	if len(rows) > 1 {
		if rows, err = s.dropDiscountedClaimants(ctx, text, rows); err != nil {
			return graph.Node{}, Interpret(fmt.Sprintf("resolve %q", ref), err)
		}
	}
	if len(rows) > 1 {
		if rows, err = s.preferLiveEntities(ctx, rows); err != nil {
			return graph.Node{}, err
		}
	}
	switch len(rows) {
	case 0:
		return graph.Node{}, ErrNotFound
	case 1:
		return s.GetNode(ctx, rows[0].ID)
	}
	var cands []string
	for i, r := range rows {
		if i == 20 {
			cands = append(cands, "…")
			break
		}
		b := graph.NodeBrief{ID: r.ID, Kind: graph.Kind(r.Kind), Key: r.Key, Name: r.Name}
		cands = append(cands, fmt.Sprintf("%s [%s]", b.Label(), r.ID))
	}
	return graph.Node{}, fmt.Errorf("resolve %q: %w: %d candidates: %s; name one by id or kind:key",
		ref, ErrAmbiguous, len(rows), strings.Join(cands, ", "))
}

// dropDiscountedClaimants leaves out of the nodes named text those that
// claim text as a name alias of their kind with a claim that does not
// count (AliasClaimDiscounted: a withdrawn entity's, when a live one
// claims the name too), so a name a deprecated object shared with a live
// one finds the live one.
func (s *Store) dropDiscountedClaimants(ctx context.Context, text string, rows []gen.NodeLookupExactRow) ([]gen.NodeLookupExactRow, error) {
	var aliases []string
	for _, r := range rows {
		if a := graph.NameAlias(graph.Kind(r.Kind), text); a != "" && !slices.Contains(aliases, a) {
			aliases = append(aliases, a)
		}
	}
	if len(aliases) == 0 {
		return rows, nil
	}
	discounted, err := s.q.AliasClaimDiscounted(ctx, aliases)
	if err != nil || len(discounted) == 0 {
		return rows, err
	}
	return slices.DeleteFunc(rows, func(r gen.NodeLookupExactRow) bool {
		a := graph.NameAlias(graph.Kind(r.Kind), text)
		return slices.ContainsFunc(discounted, func(c gen.AliasClaim) bool { return c.Alias == a && c.NodeID == r.ID })
	}), nil
}

// preferLiveEntities narrows the nodes a name matched the way
// alias_claim_entities narrows the claimants of a name alias: each node is
// taken as the entity it resolves to (its revoked-by replacement, the
// entity a name-keyed node is: followReplacements); when any of those is
// live, the nodes whose entity is withdrawn are no candidates, and nodes
// that are one entity are one candidate (the entity's own node when it is
// among them). A revoked or deprecated object claims no name alias, but its
// name is still its name (node_lookup_names), so without this "APT34", the
// name of ATT&CK for ICS's revoked G0057 and an alias of OilRig (G0049),
// which replaced it, and "EKANS", the name of ICS's deprecated S0017 and of
// the live S0605, were refused as ambiguous while "intrusion-set:APT34" and
// "malware:EKANS" found the live one.
func (s *Store) preferLiveEntities(ctx context.Context, rows []gen.NodeLookupExactRow) ([]gen.NodeLookupExactRow, error) {
	type candidate struct {
		row    gen.NodeLookupExactRow
		entity uuid.UUID
		live   bool
	}
	cands := make([]candidate, 0, len(rows))
	anyLive := false
	for _, r := range rows {
		if graph.Kind(r.Kind).IsObservable() {
			// An observable is never withdrawn and stands for no other
			// entity: no statements for it (a file name many files share
			// has many candidates).
			cands = append(cands, candidate{row: r, entity: r.ID, live: true})
			anyLive = true
			continue
		}
		n, err := s.GetNode(ctx, r.ID)
		if err != nil {
			return rows, err
		}
		res, err := s.followReplacements(ctx, n)
		if err != nil {
			return rows, err
		}
		live := graph.Lifecycle(res.Node.Props) == ""
		anyLive = anyLive || live
		cands = append(cands, candidate{row: r, entity: res.Node.ID, live: live})
	}
	var out []gen.NodeLookupExactRow
	var entities []uuid.UUID
	for _, c := range cands {
		if anyLive && !c.live {
			continue
		}
		if i := slices.Index(entities, c.entity); i >= 0 {
			if c.row.ID == c.entity {
				out[i] = c.row
			}
			continue
		}
		entities = append(entities, c.entity)
		out = append(out, c.row)
	}
	return out, nil
}

// lookupText is text as node_lookup_names stores it: trimmed, lower-case,
// without newlines (which separate the entries).
func lookupText(text string) string {
	return strings.ToLower(strings.TrimSpace(strings.ReplaceAll(text, "\n", " ")))
}

// likeEscape escapes LIKE's metacharacters (the default escape, \).
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// keyCandidates lists the keys kind:key may be stored under: as typed, and
// normalized the way the mappers key that kind.
func keyCandidates(kind graph.Kind, key string) []string {
	c := []string{key}
	switch {
	case kind == graph.KindHash:
		if alg, v, ok := strings.Cut(key, ":"); ok {
			c = append(c, graph.HashKey(alg, v))
		}
	case !kind.IsObservable():
		c = append(c, graph.NamedKey(kind, key))
	}
	return c
}

// Search finds nodes whose name, alias, synonym or external id equals
// text, starts with it or (unless opts.Exact) resembles it (pg_trgm word
// similarity), through the trigram index on node_lookup_names: exact
// matches first, then prefixes, then the most similar; at most opts.Limit
// (default 20). Telemetry-only endpoints the index leaves out (process
// instances and connections, search_excluded_kinds() of migration 00017)
// are found only when text is their exact key ("host-12:4242"); hashes,
// also left out of it (migration 00021), by their digest or a prefix of at
// least MinDigestPrefix hex digits of it, with or without the algorithm
// ("9f86d081", "sha256:9f86d081…").
func (s *Store) Search(ctx context.Context, text string, opts graph.SearchOptions) ([]graph.SearchHit, error) {
	q := lookupText(text)
	if q == "" {
		return nil, fmt.Errorf("search: empty text")
	}
	if opts.Limit <= 0 {
		opts.Limit = graph.DefaultSearchLimit
	}
	kinds := make([]string, 0, len(opts.Kinds))
	for _, k := range opts.Kinds {
		kinds = append(kinds, string(k))
	}
	alg, digest := digestQuery(q)
	rows, err := s.q.NodeSearch(ctx, gen.NodeSearchParams{
		Pattern: likeEscape(q), Query: q, Fuzzy: !opts.Exact, Kinds: kinds, MaxResults: int32(opts.Limit),
		Key: strings.TrimSpace(text), Digest: digest, DigestAlgorithm: likeEscape(alg),
		LifecycleKeys: graph.LifecycleProps,
	})
	if err != nil {
		return nil, Interpret(fmt.Sprintf("search %q", text), s.explainTrgm(ctx, err))
	}
	hits := make([]graph.SearchHit, 0, len(rows))
	for _, r := range rows {
		h := graph.SearchHit{
			NodeBrief: graph.NodeBrief{ID: r.ID, Kind: graph.Kind(r.Kind), Key: r.Key, Name: r.Name},
			Sources:   r.Sources, Similarity: float64(r.Similarity),
			Match: [...]string{"exact", "prefix", "fuzzy"}[min(max(int(r.MatchRank), 0), 2)],
		}
		h.Matched = matchedEntry(r.Names, q, h.Match)
		var lifecycle map[string]any
		if err := json.Unmarshal(r.Lifecycle, &lifecycle); err != nil {
			return nil, fmt.Errorf("search %q: lifecycle of %s: %w", text, r.ID, err)
		}
		h.Withdrawn = graph.Lifecycle(lifecycle)
		hits = append(hits, h)
	}
	if hits, err = s.addValueNodes(ctx, text, opts, hits); err != nil {
		return nil, err
	}
	return s.addClaimedNames(ctx, text, opts, hits)
}

// addValueNodes puts first among hits, as exact matches, the nodes a value
// written otherwise than their key names (valueNodes: evil[.]example,
// bücher.example), which the text search finds fuzzily or not at all.
func (s *Store) addValueNodes(ctx context.Context, text string, opts graph.SearchOptions, hits []graph.SearchHit) ([]graph.SearchHit, error) {
	nodes, err := s.valueNodes(ctx, text)
	if err != nil || len(nodes) == 0 {
		return hits, err
	}
	var first []graph.SearchHit
	for _, n := range nodes {
		if len(opts.Kinds) > 0 && !slices.Contains(opts.Kinds, n.Kind) {
			continue
		}
		hits = slices.DeleteFunc(hits, func(h graph.SearchHit) bool { return h.ID == n.ID })
		first = append(first, graph.SearchHit{
			NodeBrief: graph.NodeBrief{ID: n.ID, Kind: n.Kind, Key: n.Key, Name: n.Name},
			Sources:   n.Sources, Matched: n.Key, Match: "exact", Similarity: 1,
			Withdrawn: graph.Lifecycle(n.Props),
		})
	}
	out := append(first, hits...)
	return out[:min(len(out), opts.Limit)], nil
}

// addClaimedNames adds to hits, as exact matches after those found, the
// nodes that claim text as a name (alias_claims, the claims that count):
// a node two sources describe keeps one source's names in its props, which
// node_lookup_names reads, but every source's names are claimed, and a name
// alone resolves through them (resolveClaimedName). So search finds by an
// exact name the node show finds by it: "menuPass", which only MISP's
// mitre-intrusion-set galaxy lists for G0045, finds the node the
// threat-actor galaxy's APT10 shares. So do the nodes a source's record
// names so (NodeRecordNamed): a producer's "Log4Shell" that lost the
// node's name to its CVE id.
func (s *Store) addClaimedNames(ctx context.Context, text string, opts graph.SearchOptions, hits []graph.SearchHit) ([]graph.SearchHit, error) {
	q := lookupText(text)
	exact := 0
	for exact < len(hits) && hits[exact].Match == "exact" {
		exact++
	}
	var ids []uuid.UUID
	for _, k := range claimKinds {
		a := graph.NameAlias(k, text)
		if a == "" {
			continue
		}
		claimants, err := s.q.AliasClaimCounted(ctx, a)
		if err != nil {
			return nil, Interpret(fmt.Sprintf("search %q", text), err)
		}
		ids = append(ids, claimants...)
	}
	named, err := s.q.NodeRecordNamed(ctx, q)
	if err != nil {
		return nil, Interpret(fmt.Sprintf("search %q", text), err)
	}
	ids = append(ids, named...)
	var add []graph.SearchHit
	for _, id := range ids {
		if slices.ContainsFunc(hits[:exact], func(h graph.SearchHit) bool { return h.ID == id }) ||
			slices.ContainsFunc(add, func(h graph.SearchHit) bool { return h.ID == id }) {
			continue
		}
		n, err := s.GetNode(ctx, id)
		if err != nil {
			return nil, err
		}
		if len(opts.Kinds) > 0 && !slices.Contains(opts.Kinds, n.Kind) {
			continue
		}
		add = append(add, graph.SearchHit{NodeBrief: n.Brief(), Sources: n.Sources, Matched: q, Match: "exact", Similarity: 1,
			Withdrawn: graph.Lifecycle(n.Props)})
	}
	if len(add) == 0 {
		return hits, nil
	}
	// The node found again as a prefix or fuzzy match is the exact one.
	rest := slices.DeleteFunc(slices.Clone(hits[exact:]), func(h graph.SearchHit) bool {
		return slices.ContainsFunc(add, func(a graph.SearchHit) bool { return a.ID == h.ID })
	})
	out := append(append(slices.Clone(hits[:exact]), add...), rest...)
	return out[:min(len(out), opts.Limit)], nil
}

// MinDigestPrefix is the fewest hex digits Search takes as a prefix of a
// hash node's digest.
const MinDigestPrefix = 8

// digestQuery reads search text (lower-cased) as a hash digest or digest
// prefix, optionally after "algorithm:": the algorithm in STIX spelling
// (graph.NormalizeHashAlgorithm, "" when none is given) and the digest, or
// two empty strings when the text is no digest of at least
// MinDigestPrefix hex digits.
func digestQuery(q string) (alg, digest string) {
	if i := strings.LastIndexByte(q, ':'); i >= 0 {
		alg, q = graph.NormalizeHashAlgorithm(q[:i]), q[i+1:]
	}
	if len(q) < MinDigestPrefix || strings.Trim(q, "0123456789abcdef") != "" {
		return "", ""
	}
	return alg, q
}

// matchedEntry picks the entry of a node_lookup_names text that matched q.
func matchedEntry(names, q, match string) string {
	entries := strings.Split(strings.Trim(names, "\n"), "\n")
	for _, e := range entries {
		if (match == "exact" && e == q) || (match == "prefix" && strings.HasPrefix(e, q)) {
			return e
		}
	}
	// Fuzzy: the entry sharing the most trigram-ish substrings; a simple
	// stand-in is the entry containing the longest prefix of q.
	best, bestLen := "", -1
	for _, e := range entries {
		n := 0
		for n < len(q) && n < len(e) && strings.Contains(e, q[:n+1]) {
			n++
		}
		if n > bestLen {
			best, bestLen = e, n
		}
	}
	return best
}

// NodeDetails returns what intel show prints about a node: its source ids,
// other names, external ids, lifecycle markers and degree per relation
// class and type.
func (s *Store) NodeDetails(ctx context.Context, id uuid.UUID) (graph.NodeDetails, error) {
	n, err := s.GetNode(ctx, id)
	if err != nil {
		return graph.NodeDetails{}, err
	}
	d := graph.NodeDetails{Node: n, SourceIDs: []graph.SourceID{}, Degree: map[graph.RelationClass]int64{},
		Relations: []graph.RelationDegree{}}
	aliases, err := s.q.NodeAliasesOf(ctx, id)
	if err != nil {
		return d, Interpret(fmt.Sprintf("aliases of %s", id), err)
	}
	for _, a := range aliases {
		sid := graph.SourceID{ID: a.SourceID, Feed: a.Source}
		if a.Version.After(time.Unix(0, 0)) {
			v := a.Version.UTC()
			sid.Version = &v
		}
		d.SourceIDs = append(d.SourceIDs, sid)
	}
	d.Names = graph.AliasNames(n.Name, n.Props)
	d.ExternalIDs = graph.ExternalIDs(n.Props)
	// An object may be both (ATT&CK marks revoked objects deprecated too);
	// graph.Lifecycle gives the one the walk filters on, revoked first.
	lc := graph.Lifecycle(n.Props)
	deprecated, _ := graph.LifecycleFlag(n.Props["x_mitre_deprecated"])
	d.Revoked, d.Deprecated = lc == graph.LifecycleRevoked, lc == graph.LifecycleDeprecated || deprecated
	degrees, err := s.q.NodeDegrees(ctx, id)
	if err != nil {
		return d, Interpret(fmt.Sprintf("degree of %s", id), err)
	}
	for _, r := range degrees {
		c := graph.ClassOf(r.Relation)
		d.Degree[c] += r.Edges
		d.Relations = append(d.Relations, graph.RelationDegree{Relation: r.Relation, Class: c, Direction: r.Direction, Edges: r.Edges,
			Withdrawn: r.Withdrawn, Through: r.Through, Itself: r.Itself})
	}
	graph.SortRelationDegrees(d.Relations)
	superseded, err := s.q.NodeSuperseded(ctx, id)
	if err != nil {
		return d, Interpret(fmt.Sprintf("superseded links of %s", id), err)
	}
	for _, r := range superseded {
		d.Superseded = append(d.Superseded, graph.RelationDegree{Relation: r.Relation, Class: graph.ClassOf(r.Relation), Direction: "out", Edges: r.Edges})
	}
	sighted, err := s.sightings(ctx, []uuid.UUID{id}, graph.RelSightingOf)
	if err != nil {
		return d, err
	}
	d.Sighted = sighted[id]
	expired, err := s.sightings(ctx, []uuid.UUID{id}, graph.RelExpirationOf)
	if err != nil {
		return d, err
	}
	d.Expiration = expired[id]
	peers, err := s.q.NodeRelationPeers(ctx, gen.NodeRelationPeersParams{NodeID: id, Relation: graph.RelRevokedBy})
	if err != nil {
		return d, Interpret(fmt.Sprintf("revoked-by of %s", id), err)
	}
	for _, p := range peers {
		d.RevokedBy = append(d.RevokedBy, graph.NodeBrief{ID: p.ID, Kind: graph.Kind(p.Kind), Key: p.Key, Name: p.Name})
	}
	d.Revoked = d.Revoked || len(d.RevokedBy) > 0
	members, err := s.q.NodeEntityMembers(ctx, id)
	if err != nil {
		return d, Interpret(fmt.Sprintf("nodes standing for %s", id), err)
	}
	for _, m := range members {
		b := graph.NodeBrief{ID: m.ID, Kind: graph.Kind(m.Kind), Key: m.Key, Name: m.Name}
		switch {
		case m.Reason == "alias" && m.VersionOf != "":
			d.OlderVersions = append(d.OlderVersions, b)
		case m.Reason == "alias":
			d.SameEntity = append(d.SameEntity, b)
		default:
			d.Replaces = append(d.Replaces, b)
		}
	}
	amb, err := s.q.AliasClaimAmbiguousOf(ctx, id)
	if err != nil {
		return d, Interpret(fmt.Sprintf("ambiguous aliases of %s", id), err)
	}
	for _, a := range amb {
		d.Ambiguous = addAmbiguous(d.Ambiguous, a.Alias, graph.NodeBrief{ID: a.ID, Kind: graph.Kind(a.Kind), Key: a.Key, Name: a.Name})
	}
	withdrawn, err := s.q.AliasClaimWithdrawnOf(ctx, id)
	if err != nil {
		return d, Interpret(fmt.Sprintf("withdrawn claimants of the aliases of %s", id), err)
	}
	for _, a := range withdrawn {
		d.WithdrawnClaims = addAmbiguous(d.WithdrawnClaims, a.Alias, graph.NodeBrief{ID: a.ID, Kind: graph.Kind(a.Kind), Key: a.Key, Name: a.Name})
	}
	return d, s.nodeEntity(ctx, &d)
}

// nodeEntity fills d.Entity, or for an ambiguous node d.Ambiguous, from
// what node_entities says the node stands for by its names.
func (s *Store) nodeEntity(ctx context.Context, d *graph.NodeDetails) error {
	id := d.Node.ID
	e, err := s.q.NodeEntityOf(ctx, id)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil
	case err != nil:
		return Interpret(fmt.Sprintf("entity of %s", id), err)
	case e.Reason == "alias":
		n, err := s.GetNode(ctx, e.EntityID)
		if err != nil {
			return err
		}
		b := n.Brief()
		d.Entity, d.EntityVersionOf = &b, e.VersionOf
	case e.Reason == "ambiguous":
		rows, err := s.q.NodeNameClaimants(ctx, id)
		if err != nil {
			return Interpret(fmt.Sprintf("claimants of the names of %s", id), err)
		}
		for _, r := range rows {
			d.Ambiguous = addAmbiguous(d.Ambiguous, r.Alias, graph.NodeBrief{ID: r.ID, Kind: graph.Kind(r.Kind), Key: r.Key, Name: r.Name})
		}
	}
	return nil
}

// addAmbiguous adds other to the claimants of alias, the last entry of
// list or a new one (rows come in alias order).
func addAmbiguous(list []graph.AmbiguousAlias, alias string, other graph.NodeBrief) []graph.AmbiguousAlias {
	if len(list) == 0 || list[len(list)-1].Alias != alias {
		list = append(list, graph.AmbiguousAlias{Alias: alias})
	}
	last := &list[len(list)-1]
	last.Others = append(last.Others, other)
	return list
}

// KindsWithNodes returns those of kinds that some node has: a walk filtered
// on a kind none has (a typo) can reach nothing of it.
func (s *Store) KindsWithNodes(ctx context.Context, kinds []graph.Kind) ([]graph.Kind, error) {
	names := make([]string, 0, len(kinds))
	for _, k := range kinds {
		names = append(names, string(k))
	}
	rows, err := s.q.KindsWithNodes(ctx, names)
	if err != nil {
		return nil, Interpret("kinds with nodes", err)
	}
	out := make([]graph.Kind, 0, len(rows))
	for _, r := range rows {
		out = append(out, graph.Kind(r))
	}
	return out, nil
}

// RelationTypesInUse returns those of relations that some stored relation
// has, or some telemetry edge observed in [since, until): a walk filtered on
// a type none has (a typo) can follow nothing of it. Only the types the
// project does not classify (graph.ExplicitClass) need asking.
func (s *Store) RelationTypesInUse(ctx context.Context, relations []string, since, until time.Time) ([]string, error) {
	rows, err := s.q.RelationTypesInUse(ctx, gen.RelationTypesInUseParams{Relations: relations, Since: since, Until: until})
	if err != nil {
		return nil, Interpret("relation types in use", err)
	}
	return rows, nil
}
