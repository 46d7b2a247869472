#!/usr/bin/env python3
"""feed-answers.py: check intel's depth-1 answers on loaded STIX and MISP feeds
against what the raw files state, computed independently from the files.

Usage: scripts/feed-answers.py DATABASE_URL FILE [FILE...]
(run from the repository root after `make build`; INTEL overrides bin/intel;
FEED_ANSWERS_MAX_STARTS caps the start nodes per run, every k-th node then,
default 400). Load every FILE into DATABASE_URL first (intel ingest stix|misp
FILE --database-url ...); files given together are checked together (links
one file states are expected whatever file holds their ends). A file is MISP
when it holds {"Event": ...}, {"response": [...]} or an object with "Attribute",
else STIX (bundle, TAXII envelope, a page of STIX objects in "items",
array or single object).

What the files state (the expected links), each with the statement behind it (the STIX objects of all FILEs read as one set, so the
newest version of an id is the newest any file holds):
STIX
  relationship   src -type-> dst, stated by the relationship id (`ids`)
                 relationship_type lower-cased, words joined by hyphens; provenance (derived-from, ...)
                 and lifecycle (revoked-by, duplicate-of) types are not walked
                 by default, so not expected.
  sighting       sighting -sighting-of-> sighting_of_ref (false-positive-of for
                 an OpenCTI negative one, no-sighting-of for a count of 0), -where-sighted-> where_sighted_refs,
                 -observed-> observed_data_refs, stated by the sighting
                 (`objects`).
  report, grouping, note, opinion, observed-data
                 -object-> each object_refs, stated by the container.
  embedded references (any object but a relationship)
                 obj -<name>-> each STIX id of a *_ref / *_refs property
                 at any depth (up to 8; not in granular_markings,
                 external_references, object_marking_refs,
                 kill_chain_phases, a sighting's own refs, a 2.0
                 observed-data's objects), <name> the property's name
                 without the suffix, underscores as hyphens (image_ref:
                 image, parent_directory_ref: parent-directory); stated by
                 the object; created-by and the other provenance names are
                 not walked, so not expected. Every copy of the newest
                 version counts: copies without a version (observables)
                 each state theirs, and intel keeps the union.
MISP (per event)
  event -object-> each attribute and object (not deleted), stated by the event
  (an event-level to_ids attribute is its indicator, misp--<uuid> an alias of
  indicator--<uuid>, its value one hop further by based-on: not compared; so
  is an object with to_ids attributes of the kinds misp-stix exports as one
  indicator of the object (file, domain-ip, email, url, ...): misp--<object
  uuid> an alias of indicator--<object uuid>, which holds the object's
  references; both reached through the alias, as this checker names them);
  object -<relationship_type>-> referenced_uuid (ObjectReference), stated by
  misp--<reference uuid> (`ids`); event -object-> each cluster of its Galaxy
  list (misp--<cluster uuid>); an attribute's clusters: attribute -indicates->
  (to_ids) or -related-to-> cluster, unless the cluster carries its own
  relationship_type; attribute sightings: sighting -sighting-of-> attribute
  (type 0), -false-positive-of-> (type 1); expiration (2) is lifecycle.
created_by_ref / Orgc (provenance) is not walked by default and not checked.

How intel is asked: every id a file names is resolved with `intel show ID
--format json` (its node, and the node's source_ids, so objects that merged
into one node are checked as that one node); each node is then walked with
`intel related NODE --depth 1 --format json --explain`, and every edge at the
node is read as (relation, direction, peer node, statements), the statements
being the relationship ids and objects its `stated_by` names. An expected
link is found when an edge of that relation, direction and peer names its
statement. An edge is extra when it names a statement the checker models
(a relationship id or MISP object reference id of the files, or a container,
sighting or MISP event for the relation it states) that the files do not
state for that node; edges stated otherwise (indicator patterns, has-hash,
has-attribute, resolves-to of domain|ip, STIX 2.0 observed-data objects) are
counted per relation, not compared. An edge of an older version of a
relationship (another type or other ends than its newest version gives) is
superseded, so extra when intel walks it (stated by the relationship id).

Rules of intel's the checker models (README, ingest/stix/doc.go,
ingest/misp/doc.go):
- ids compare case-insensitively in their uuid part (stored lower-case);
- newest version per id by `modified` (sightings and containers state what
  their newest version states; older versions' links are superseded); a
  relationship is withdrawn when its newest version is revoked or
  x_mitre_deprecated (the strings "true"/"false" count too), and not expected;
- a link to a revoked or deprecated object is not walked, and a withdrawn
  object is not checked as a start; a MISP galaxy cluster revoked-by another
  (GalaxyClusterRelation) whose replacement a file holds (ATT&CK's STIX id is
  the replacement cluster's uuid) has its event's link shown on that
  replacement: accepted, counted;
- a link whose end the files do not hold waits pending: not expected;
- a reference to a relationship id (object_refs, sighting_of_ref) links to
  both ends of that relationship (PendingRelationExpand);
- objects that resolve to one node (an observable merged by value, MISP
  attributes of one value, STIX and MISP ids of one entity) are one start,
  and a link both of whose ends are that node is no edge (no self-edge);
- MISP deleted attributes and objects are not loaded; MISP uuids are the
  aliases misp--<uuid>.

Exit status 1 when anything is not as expected.
"""
import collections, datetime, json, os, re, subprocess, sys

INTEL = os.environ.get("INTEL", "bin/intel")
MAX_STARTS = int(os.environ.get("FEED_ANSWERS_MAX_STARTS", "400"))
NOT_WALKED = {"revoked-by", "duplicate-of", "expiration-of", "created-by", "x-mitre-modified-by",
              "object-marking", "marking", "granular-marking", "derived-from", "x-mitre-contents",
              "x-inthreat-sources"}
CONTAINERS = ("report", "grouping", "note", "opinion", "observed-data")
SIGHTING_RELS = {"sighting-of", "where-sighted", "observed", "false-positive-of", "no-sighting-of"}


def canon(i):
    if not isinstance(i, str):
        return None
    i = i.strip()
    if "--" in i:
        t, u = i.split("--", 1)
        return t + "--" + u.lower()
    return i.lower()


def rel_type(v):
    """A STIX relationship type as intel keeps it (graph.RelationType):
    lower case, words written with spaces or underscores joined by hyphens
    (Cortex XSOAR writes "related to")."""
    return "-".join(w for w in re.split(r"[\s_]+", str(v or "").strip().lower()) if w)


def flag(v):
    return v is True or (isinstance(v, str) and v.strip().lower() == "true")


ORDERED = (("created", "modified"), ("first_seen", "last_seen"), ("first_observed", "last_observed"),
           ("start_time", "stop_time"), ("valid_from", "valid_until"))


def ts(v):
    try:
        return datetime.datetime.fromisoformat(str(v).replace("Z", "+00:00"))
    except ValueError:
        return None


# The STIX 2.1 cyber-observable types (section 6): they have none of the
# ORDERED properties, so a producer's own created/modified on one (Cortex
# XSOAR's) are custom and their order drops nothing.
SCO_TYPES = {"artifact", "autonomous-system", "directory", "domain-name", "email-addr", "email-message", "file",
             "ipv4-addr", "ipv6-addr", "mac-addr", "mutex", "network-traffic", "process", "software", "url",
             "user-account", "windows-registry-key", "x509-certificate"}


def out_of_order(o):
    """intel drops an object whose timestamps the specification orders are
    reversed (modified before created, last_seen before first_seen, ...),
    unless it is a cyber-observable, which has no such timestamps."""
    if str(o.get("id") or "").split("--")[0] in SCO_TYPES:
        return None
    for a, b in ORDERED:
        if a in o and b in o:
            x, y = ts(o[a]), ts(o[b])
            if x and y and y < x:
                return f"{b} before {a}"
    return None


def withdrawn(o):
    return flag(o.get("revoked")) or flag(o.get("x_mitre_deprecated"))


def intel(args, url):
    p = subprocess.run([INTEL] + args + ["--database-url", url, "--no-partition-maintenance", "--log-level", "error"],
                       capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


class Resolver:
    """Source id -> intel node id, through `intel show`."""

    def __init__(self, url):
        self.url, self.node, self.ids_of = url, {}, collections.defaultdict(set)

    def __call__(self, i):
        if i not in self.node:
            rc, out, err = intel(["show", i, "--format", "json"], self.url)
            if rc != 0:
                self.node[i] = None
            else:
                d = json.loads(out)
                if "node" not in d:  # a relationship id: no node
                    self.node[i] = None
                    return None
                n = d["node"]["id"]
                self.node[i] = n
                for s in d.get("source_ids") or []:
                    self.node.setdefault(canon(s["id"]), n)
                    self.ids_of[n].add(canon(s["id"]))
                self.ids_of[n].add(i)
        return self.node[i]


# ---------------------------------------------------------------- reading

def read_json(path):
    raw = open(path, "rb").read()
    for enc in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            text = raw.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    try:
        return json.loads(text), None
    except json.JSONDecodeError as e:
        err = e
    # NDJSON, or a trailing comma (ESET's PyPI export)
    try:
        return [json.loads(l) for l in text.splitlines() if l.strip()], None
    except json.JSONDecodeError:
        pass
    try:
        return json.loads(re.sub(r",(\s*[\]}])", r"\1", text)), "a trailing comma (%s)" % err
    except json.JSONDecodeError:
        return None, "not JSON (%s)" % err


def misp_events(d):
    if isinstance(d, list):
        for x in d:
            yield from misp_events(x)
    elif isinstance(d, dict):
        if "response" in d:
            yield from misp_events(d["response"])
        elif "Event" in d and isinstance(d["Event"], dict):
            yield d["Event"]
        elif "Attribute" in d or "Object" in d and "info" in d:
            yield d


def is_misp(d):
    if isinstance(d, list):
        return bool(d) and isinstance(d[0], dict) and ("Event" in d[0] or "Attribute" in d[0])
    return isinstance(d, dict) and ("Event" in d or "response" in d or ("Attribute" in d and "type" not in d))


def stix_objects(d):
    if isinstance(d, list):
        for x in d:
            yield from stix_objects(x)
    elif isinstance(d, dict):
        if isinstance(d.get("objects"), list) and d.get("type") in ("bundle", None):
            yield from stix_objects(d["objects"])
        elif isinstance(d.get("items"), list) and "type" not in d and "objects" not in d:
            # an API page listing STIX objects in items (Sekoia.io's)
            yield from stix_objects(d["items"])
        elif "type" in d and "id" in d:
            yield d


# ---------------------------------------------------------------- expected

class Expect:
    def __init__(self):
        self.links = []            # (src_id, rel, dst_id, stmt)
        self.modeled = {}          # stmt -> relations it is checked for (None: any)
        self.starts = set()        # source ids to check as starts
        self.optional = set()      # ids that may name no node (MISP object attributes)
        self.dead = set()          # withdrawn ids
        self.known = set()         # ids the files hold
        self.rel_ends = {}         # relationship id -> (src, dst)
        self.loose = collections.Counter()
        self.events = set()        # MISP event aliases: every walked link at the event node is checked
        self.tag_names = set()     # MISP galaxy tag values (and without their ATT&CK suffix)
        self.versionless = set()   # containers and sightings without modified/created
        self.embedded = {}         # STIX 2.0 observed-data id -> embedded objects
        self.replaced = collections.defaultdict(set)  # MISP event alias -> uuids its revoked clusters name as revoked-by

    def link(self, s, r, d, stmt):
        self.links.append((s, r, d, stmt))


def version(o):
    """The version an object's copy states (modified, else created), as a
    time (string order puts 2017-01-27T13:49:53.935382Z before …53.935Z)."""
    v = o.get("modified") or o.get("created")
    return (ts(v) or datetime.datetime.min.replace(tzinfo=datetime.timezone.utc), str(v or "")) if v else None


def add_stix(ex, objs):
    newest, copies = {}, collections.defaultdict(list)
    for o in objs:
        i = canon(o.get("id"))
        if not i:
            continue
        if out_of_order(o):
            ex.loose["objects intel drops as invalid (" + out_of_order(o) + ")"] += 1
            continue
        o = dict(o, id=i)
        p = newest.get(i)
        vo, vp = version(o), p and version(p)
        if p is None or (vo or ()) >= (vp or ()):
            if p is not None and (vo or ()) > (vp or ()):
                copies[i] = []
            newest[i] = o
            copies[i].append(o)
    for i, o in newest.items():
        ex.known.add(i)
        if withdrawn(o):
            ex.dead.add(i)
        elif o.get("type") != "relationship":
            ex.starts.add(i)
        if o.get("type") == "relationship":
            ex.rel_ends[i] = (canon(o.get("source_ref")), canon(o.get("target_ref")))
    for i, o in newest.items():
        t = o.get("type")
        if t == "relationship":
            ex.modeled[i] = None
            if withdrawn(o):
                continue
            rt = rel_type(o.get("relationship_type"))
            if rt and rt not in NOT_WALKED:
                ex.link(canon(o.get("source_ref")), rt, canon(o.get("target_ref")), i)
        elif t == "sighting":
            ex.modeled[i] = SIGHTING_RELS
            ext = (o.get("extensions") or {}).get("extension-definition--ea279b3e-5c71-4632-ac08-831c66a786ba") or {}
            neg = flag(o.get("x_opencti_negative")) if "x_opencti_negative" in o else flag(ext.get("negative"))
            of = canon(o.get("sighting_of_ref"))
            zero = str(o.get("count")).strip() in ("0", "0.0")  # looked for, not seen
            if of:
                ex.link(i, "false-positive-of" if neg else "no-sighting-of" if zero else "sighting-of", of, i)
            for w in o.get("where_sighted_refs") or []:
                ex.link(i, "where-sighted", canon(w), i)
            for w in o.get("observed_data_refs") or []:
                ex.link(i, "observed", canon(w), i)
        if not o.get("modified"):
            # an object without a version (no modified: every cyber-
            # observable) states its links standing alone: --explain names
            # no object for them (and their src_ref is the node's,
            # node--<uuid>)
            ex.versionless.add(i)
        # embedded references (every copy of the newest version: copies
        # without a version each state theirs, and intel keeps the union)
        types = set()
        for c in copies[i]:
            for rt, r in ref_links(c):
                types.add(rt)
                if rt not in NOT_WALKED:
                    ex.link(i, rt, r, i)
        if types - NOT_WALKED:
            m = ex.modeled.get(i, set())
            ex.modeled[i] = None if m is None else m | (types - NOT_WALKED)
        if t in CONTAINERS:
            # every copy of the newest version states its objects (a
            # misp-stix export of one event in STIX 2.0 and in 2.1: the
            # same observed-data, its objects embedded in one and referred
            # to in the other); intel keeps the union
            ex.modeled[i] = {"object"}
            embedded = 0
            for c in copies[i]:
                for r in c.get("object_refs") or []:
                    ex.link(i, "object", canon(r), i)
                if t == "observed-data" and isinstance(c.get("objects"), dict):
                    embedded += len(c["objects"])
            if embedded:
                # STIX 2.0 embedded objects: nodes keyed by their STIX 2.1
                # deterministic ids, which this checker does not compute;
                # an object edge from the observed-data to a node no file
                # id names is accepted, up to one per embedded object.
                ex.embedded[i] = embedded


REF_SKIP = {"granular_markings", "external_references", "object_marking_refs", "kill_chain_phases"}
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def is_identifier(v):
    """stixid.ParseID: <type>--<uuid>, no upper-case letter in the type."""
    if not isinstance(v, str) or "--" not in v:
        return False
    t, u = v.split("--", 1)
    return bool(t) and not any("A" <= ch <= "Z" for ch in t) and bool(UUID.fullmatch(u))


def ref_links(o):
    """(relation, target) of the object's embedded references as intel links
    them (ingest/stix refRelations): every property named *_ref or *_refs
    at any depth (up to 8) but inside the top-level granular_markings,
    external_references, object_marking_refs, kill_chain_phases and the
    properties the type maps itself (a relationship's ends, a sighting's
    refs, a STIX 2.0 observed-data's objects), typed by the name without
    the suffix, underscores as hyphens; x_mitre_contents[] is
    x-mitre-contents."""
    t = o.get("type")
    if t in ("relationship", "bundle"):
        return []
    own = set()
    if t == "sighting":
        own = {"sighting_of_ref", "where_sighted_refs", "observed_data_refs"}
    elif t == "observed-data" and isinstance(o.get("objects"), dict):
        own = {"objects"}
    out = []

    def walk(path, v, depth):
        if depth > 8:
            return
        if isinstance(v, dict):
            for k in sorted(v):
                if depth == 0 and (k in own or k in REF_SKIP):
                    continue
                p = k if not path else path + "." + k
                if k.endswith("_ref") or k.endswith("_refs"):
                    vals = v[k] if isinstance(v[k], list) else [v[k]]
                    for r in vals:
                        if is_identifier(r):
                            n = k[:-5] if k.endswith("_refs") else k[:-4]
                            rt = n.replace("_", "-") or "ref"
                            if p.startswith("x_mitre_contents[]"):
                                rt = "x-mitre-contents"
                            out.append((rt, canon(r)))
                    continue
                if isinstance(v[k], (dict, list)):
                    walk(p, v[k], depth + 1)
        elif isinstance(v, list):
            for e in v:
                walk(path + "[]", e, depth + 1)

    walk("", o, 0)
    return out


def add_misp(ex, events):
    for e in events:
        eu = canon(e.get("uuid"))
        if not eu:
            continue
        ev = "misp--" + eu
        ex.known.add(ev)
        ex.starts.add(ev)
        ex.modeled[ev] = {"object", "indicates", "related-to"}
        ex.events.add(ev)

        def clusters(holder):
            for g in holder.get("Galaxy") or []:
                for c in g.get("GalaxyCluster") or []:
                    if not c.get("uuid"):
                        continue
                    by = [canon(r.get("referenced_galaxy_cluster_uuid")) for r in c.get("GalaxyClusterRelation") or []
                          if str(r.get("referenced_galaxy_cluster_type")).lower() == "revoked-by"]
                    if by:
                        # a revoked cluster: the walk hides links to it (or
                        # shows them on its replacement, which the event
                        # may not hold, and another file may)
                        ex.replaced[ev].update(u for u in by if u)
                        ex.dead.add("misp--" + canon(c["uuid"]))
                        ex.known.add("misp--" + canon(c["uuid"]))
                        continue
                    yield c

        # galaxy tags: the cluster a tag names without a Galaxy entry of the
        # event is named by the tag (kind and key not computed here): an
        # edge from the event or attribute to a node of that name is accepted
        holders = [e] + list(e.get("Attribute") or [])
        for o in e.get("Object") or []:
            holders += list(o.get("Attribute") or [])
        for h in holders:  # a cluster copy without uuid is named by its value
            for g in h.get("Galaxy") or []:
                for c in g.get("GalaxyCluster") or []:
                    if not c.get("uuid") and c.get("value"):
                        h.setdefault("Tag", []).append({"name": 'misp-galaxy:x="%s"' % c["value"]})
        for holder in holders:
            for t in holder.get("Tag") or []:
                m = re.match(r'misp-galaxy:[^=]+="(.*)"$', str(t.get("name") or ""))
                if m:
                    v = m.group(1)
                    ex.tag_names.add(v.lower())
                    ex.tag_names.add(re.sub(r"\s+-\s+[A-Z]+\d+(\.\d+)?$", "", v).lower())
                    mm = re.search(r"\s-\s([A-Z]+\d+(\.\d+)?)$", v)
                    if mm:
                        ex.tag_names.add(mm.group(1).lower())

        def attr(a, member):
            if flag(a.get("deleted")):
                return None
            u = canon(a.get("uuid"))
            if not u:
                return None
            ai = "misp--" + u
            ex.known.add(ai)
            # an object's attribute that names no entity is a prop of the
            # object's node (or of the event's link to it): no node of its own
            (ex.starts if member else ex.optional).add(ai)
            if member:
                ex.link(ev, "object", ai, ev)
            for c in clusters(a):
                ci = "misp--" + canon(c["uuid"])
                ex.known.add(ci)
                ex.starts.add(ci)
                rt = c.get("relationship_type") or ("indicates" if flag(a.get("to_ids")) else "related-to")
                ex.link(ai, rt, ci, ev)
            for s in a.get("Sighting") or []:
                su = canon(s.get("uuid"))
                if not su:
                    continue
                si = "misp--" + su
                ex.known.add(si)
                ex.starts.add(si)
                ex.modeled[si] = {"sighting-of", "false-positive-of"}
                ex.versionless.add(si)  # stands alone: explain names no object for it
                ty = str(s.get("type", "0"))
                if ty == "0":
                    ex.link(si, "sighting-of", ai, si)
                elif ty == "1":
                    ex.link(si, "false-positive-of", ai, si)
            return ai

        for a in e.get("Attribute") or []:
            attr(a, True)
        for o in e.get("Object") or []:
            if flag(o.get("deleted")) or not canon(o.get("uuid")):
                continue
            oi = "misp--" + canon(o["uuid"])
            ex.known.add(oi)
            ex.starts.add(oi)
            ex.link(ev, "object", oi, ev)
            for a in o.get("Attribute") or []:
                attr(a, False)
            for r in o.get("ObjectReference") or []:
                if flag(r.get("deleted")) or not canon(r.get("uuid")) or not canon(r.get("referenced_uuid")):
                    continue
                ri = "misp--" + canon(r["uuid"])
                ex.modeled[ri] = None
                rt = str(r.get("relationship_type") or "").strip().lower()
                if rt and rt not in NOT_WALKED:
                    ex.link(oi, rt, "misp--" + canon(r["referenced_uuid"]), ri)
        for c in clusters(e):
            ci = "misp--" + canon(c["uuid"])
            ex.known.add(ci)
            ex.starts.add(ci)
            ex.link(ev, c.get("relationship_type") or "object", ci, ev)


# ---------------------------------------------------------------- compare

def expand(ex, x, stmt, depth=0):
    """The ends a reference stands for: a relationship id stands for both
    ends of the relationship (PendingRelationExpand), recursively."""
    if x in ex.rel_ends and x != stmt and depth < 4:
        return [y for e in ex.rel_ends[x] for y in expand(ex, e, stmt, depth + 1)]
    return [x]


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    url, files = sys.argv[1], sys.argv[2:]
    ex = Expect()
    stix = []
    for f in files:
        d, bad = read_json(f)
        if bad and (d is None or not is_misp(d)):
            # the MISP loader reads a trailing comma; intel ingest stix
            # stops a feed at a syntax error (keeping what comes before it)
            print(f"{f}: {bad}: intel ingest stix stops at the syntax error; not checked")
            ex.loose["files that are not valid JSON, not checked"] += 1
            continue
        if is_misp(d):
            add_misp(ex, list(misp_events(d)))
        else:
            stix += list(stix_objects(d))
    # the STIX objects of all files at once: the newest version of an id
    # is the newest of any file (stix2arango's sro-original/sro-updated)
    add_stix(ex, stix)
    res = Resolver(url)
    skipped = collections.Counter()

    # Expand references to relationships into both ends; drop what intel does not walk.
    want = collections.defaultdict(set)  # node -> (rel, dir, peer node, stmt)
    for s, r, d, stmt in ex.links:
        ends = [expand(ex, s, stmt), expand(ex, d, stmt)]
        for s1 in ends[0]:
            for d1 in ends[1]:
                if s1 not in ex.known or d1 not in ex.known:
                    skipped["end not in the files (pending)"] += 1
                    continue
                if s1 in ex.dead or d1 in ex.dead:
                    skipped["end withdrawn"] += 1
                    continue
                ns, nd = res(s1), res(d1)
                if (ns is None and s1 in ex.optional) or (nd is None and d1 in ex.optional):
                    skipped["end is a MISP object attribute with no node of its own"] += 1
                    continue
                if ns is None or nd is None:
                    want_err = (s1 if ns is None else d1)
                    print("UNRESOLVED", want_err, "(named by", stmt + ")")
                    want[None].add(("unresolved", want_err, stmt, ""))
                    continue
                if ns == nd:
                    skipped["both ends one node (no self-edge)"] += 1
                    continue
                want[ns].add((r, "out", nd, stmt))
                want[nd].add((r, "in", ns, stmt))

    nodes = set()
    for i in sorted((ex.starts | ex.optional) - ex.dead):
        n = res(i)
        if n is None and i in ex.optional:
            skipped["MISP object attribute with no node of its own"] += 1
        elif n is None:
            print("NOT FOUND start", i)
            want[None].add(("not-found", i, "", ""))
        else:
            nodes.add(n)
    nodes = sorted(nodes)
    if len(nodes) > MAX_STARTS:
        k = -(-len(nodes) // MAX_STARTS)
        nodes = nodes[::k]
    bad = collections.defaultdict(list)
    if None in want:
        for w in want[None]:
            bad[w[0]].append(w)
    other = collections.Counter()
    compared = 0
    for n in nodes:
        rc, out, err = intel(["related", n, "--depth", "1", "--format", "json", "--explain",
                              "--fanout", "1000000", "--max-nodes", "1000000"], url)
        if rc != 0:
            bad["related failed"].append((n, err.strip()))
            continue
        d = json.loads(out)
        start, kinds = d["start"], {x["id"]: x for x in d["nodes"]}
        got = collections.defaultdict(set)  # (rel, dir, peer) -> stmts
        for e in d["edges"]:
            for end, peer, dr in ((e["src"], e["dst"], "out"), (e["dst"], e["src"], "in")):
                if end != start or peer == start:
                    continue
                st = set()
                for s in e.get("stated_by") or []:
                    st.update(canon(x) for x in (s.get("ids") or []) + (s.get("objects") or []))
                got[(e["relation"], dr, peer)] |= st
        w = want.get(n, set())
        compared += len(w)
        for (r, dr, peer, stmt) in sorted(w):
            g = got.get((r, dr, peer))
            if g is not None and stmt in ex.versionless and not any(x in ex.modeled for x in g):
                ex.loose["links of an object without a version (an observable; MISP sightings too), found by relation and peer (explain names nothing)"] += 1
                continue
            if stmt not in (g or ()):
                bad["missing"].append((sorted(res.ids_of[n])[:3], r, dr, sorted(res.ids_of[peer])[:3], "stated by " + stmt,
                                       "intel has: " + str(sorted((k[0], k[1]) for k, v in got.items() if k[2] == peer))))
        wk = {(r, dr, peer, stmt) for (r, dr, peer, stmt) in w}
        for (r, dr, peer), stmts in got.items():
            modeled = [s for s in stmts if s in ex.modeled and (ex.modeled[s] is None or r in ex.modeled[s]
                                                                 or (s in ex.events and res.node.get(s) == start))]
            for s in modeled:
                if (r, dr, peer, s) not in wk and r == "object" and s in ex.embedded and not res.ids_of.get(peer) \
                        and not any(res.node.get(x) == peer for x in ex.known):
                    ex.embedded[s] -= 1
                    if ex.embedded[s] >= 0:
                        ex.loose["STIX 2.0 observed-data embedded objects, accepted"] += 1
                        continue
                p = kinds.get(peer, {})
                if (r, dr, peer, s) not in wk and s.startswith("misp--") and r in ("object", "indicates", "related-to") \
                        and ((p.get("name") or "").lower() in ex.tag_names or (p.get("key") or "").lower() in ex.tag_names):
                    ex.loose["MISP galaxy tag clusters, found by name"] += 1
                    continue
                if (r, dr, peer, s) not in wk and any(res(u) == peer for u in ex.replaced.get(s, ())):
                    ex.loose["MISP revoked galaxy clusters, shown on the replacement another file holds"] += 1
                    continue
                if (r, dr, peer, s) not in wk:
                    bad["extra"].append((sorted(res.ids_of[n])[:3], r, dr, p.get("kind"), p.get("key"), "stated by " + s))
            if not modeled:
                other[(kinds.get(start, {}).get("kind"), r, dr)] += 1
    total = sum(len(v) for v in bad.values())
    print(f"files: {len(files)}; start nodes walked: {len(nodes)} (of {len(set(x for x in res.node.values() if x))} resolved); "
          f"expected links compared: {compared}; mismatches: {total}")
    for k, v in sorted(skipped.items()):
        print(f"  not expected, as modeled: {k}: {v}")
    for k, v in sorted(ex.loose.items()):
        print(f"  {k}: {v}")
    for k, v in sorted(other.items()):
        print("  other edges", k, v)
    for kind, items in sorted(bad.items()):
        print(f"{kind.upper()} ({len(items)})")
        for it in items[:40]:
            print("  ", *it)
        if len(items) > 40:
            print(f"   ... {len(items) - 40} more")
    sys.exit(1 if total else 0)


if __name__ == "__main__":
    main()
