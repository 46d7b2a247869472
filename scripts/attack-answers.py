#!/usr/bin/env python3
"""attack-answers.py: check intel's answers on a loaded ATT&CK STIX bundle
against ground truth computed independently from the raw bundle.

Usage: scripts/attack-answers.py DATABASE_URL BUNDLE.json [relations|names|both]
(run from the repository root after `make build`; INTEL overrides bin/intel).
Load BUNDLE into DATABASE_URL first (intel ingest stix BUNDLE --database-url ...).

Ground truth is ATT&CK's own (mitreattack-python): a link counts when the
relationship and both its ends are neither revoked nor x_mitre_deprecated;
revoked-by is lifecycle, not a link.

relations: for every live intrusion-set, malware, tool, campaign,
  attack-pattern, course-of-action, x-mitre-detection-strategy and
  x-mitre-asset, the uses/mitigates/targets/detects/attributed-to/
  subtechnique-of edges at the start of `intel related <stix id> --depth 1
  --format json` equal the bundle's (compared by relation, direction, peer
  type and name). Other edges (tactic, x-mitre-analytic, containment) are
  counted and listed, not compared.
names: `intel show` of every ATT&CK id (a revoked one: its revoked-by
  replacement), and of every live object's name and aliases, finds the
  object (the node holds its STIX id); a name two live objects claim may be
  refused as ambiguous.

Exit status 1 when anything is not as expected. ATT&CK for ICS 18.1 takes
about a minute per part on a 2-core machine (one intel process per query).
"""
import collections, json, os, subprocess, sys

INTEL = os.environ.get("INTEL", "bin/intel")
SRO = {"uses", "mitigates", "targets", "detects", "attributed-to", "subtechnique-of"}
START_TYPES = ["intrusion-set", "malware", "tool", "campaign", "attack-pattern",
               "course-of-action", "x-mitre-detection-strategy", "x-mitre-asset"]
NAMED_TYPES = ("intrusion-set", "malware", "tool", "campaign", "attack-pattern", "course-of-action")


def attack_id(o):
    for r in o.get("external_references") or []:
        if r.get("source_name") in ("mitre-attack", "mitre-ics-attack", "mitre-mobile-attack") and r.get("external_id"):
            return r["external_id"]
    return None


def withdrawn(o):
    return o.get("revoked") is True or o.get("x_mitre_deprecated") is True


def intel(args, url):
    p = subprocess.run([INTEL] + args + ["--database-url", url, "--no-partition-maintenance", "--log-level", "error"],
                       capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def check_relations(url, objs):
    by = {o["id"]: o for o in objs}
    exp = collections.defaultdict(set)
    for o in objs:
        if o["type"] != "relationship" or o["relationship_type"] == "revoked-by" or withdrawn(o):
            continue
        s, t = by.get(o["source_ref"]), by.get(o["target_ref"])
        if s is None or t is None or withdrawn(s) or withdrawn(t):
            continue
        exp[s["id"]].add((o["relationship_type"], "out", t["id"]))
        exp[t["id"]].add((o["relationship_type"], "in", s["id"]))
    bad, checked, other = 0, 0, collections.Counter()
    for o in objs:
        if o["type"] not in START_TYPES or withdrawn(o):
            continue
        rc, out, err = intel(["related", o["id"], "--depth", "1", "--format", "json"], url)
        if rc != 0:
            print("ERROR", o["type"], attack_id(o), o.get("name"), err.strip()); bad += 1
            continue
        checked += 1
        d = json.loads(out)
        nodes, start, got = {n["id"]: n for n in d["nodes"]}, d["start"], set()
        for e in d["edges"]:
            for end, peer, dr in ((e["src"], e["dst"], "out"), (e["dst"], e["src"], "in")):
                if end == start and peer in nodes:
                    p = nodes[peer]
                    if e["relation"] in SRO:
                        got.add((e["relation"], dr, p["kind"], p.get("name")))
                    else:
                        other[(o["type"], e["relation"], dr, p["kind"])] += 1
        want = {(r, dr, by[p]["type"], by[p].get("name")) for (r, dr, p) in exp.get(o["id"], ())}
        if got != want:
            bad += 1
            print("MISMATCH", o["type"], attack_id(o), repr(o.get("name")), "missing", sorted(want - got),
                  "extra", sorted(got - want), "(truncated)" if d.get("truncated") else "")
    print(f"relations: {checked} live starts, {bad} not as expected")
    for k, v in sorted(other.items()):
        print("  other edges", k, v)
    return bad


def check_names(url, objs):
    by = {o["id"]: o for o in objs}
    rep = {o["source_ref"]: o["target_ref"] for o in objs
           if o["type"] == "relationship" and o["relationship_type"] == "revoked-by" and not withdrawn(o)}

    def final(i):
        seen = set()
        while i in rep and i not in seen:
            seen.add(i); i = rep[i]
        return i
    named = [o for o in objs if o["type"] in NAMED_TYPES and attack_id(o)]
    claims = collections.defaultdict(set)
    for o in named:
        if not withdrawn(o):
            for n in [o["name"]] + (o.get("aliases") or []) + (o.get("x_mitre_aliases") or []):
                claims[n.lower()].add(attack_id(o))
    bad = n = 0
    for o in named:
        want = by[final(o["id"])]
        queries = [attack_id(o)]
        if not withdrawn(o):
            queries += [o["name"]] + [a for a in (o.get("aliases") or []) + (o.get("x_mitre_aliases") or []) if a != o["name"]]
        for q in queries:
            n += 1
            rc, out, err = intel(["show", q, "--format", "json"], url)
            if rc != 0:
                if len(claims.get(q.lower(), ())) > 1 and "ambiguous" in err:
                    continue
                bad += 1
                print("FAIL", o["type"], attack_id(o), repr(q), "->", (err.strip().splitlines() or ["?"])[-1])
                continue
            d = json.loads(out)
            if want["id"] not in {x["id"] for x in d.get("source_ids") or []}:
                bad += 1
                print("WRONG", o["type"], attack_id(o), repr(q), "->", d["node"]["kind"], d["node"]["key"],
                      d["node"].get("name"), "want", attack_id(want))
    print(f"names: {n} lookups, {bad} not as expected")
    return bad


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    url, bundle = sys.argv[1], sys.argv[2]
    what = sys.argv[3] if len(sys.argv) > 3 else "both"
    objs = json.load(open(bundle))["objects"]
    bad = 0
    if what in ("relations", "both"):
        bad += check_relations(url, objs)
    if what in ("names", "both"):
        bad += check_names(url, objs)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
