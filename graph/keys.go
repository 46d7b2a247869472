package graph

import (
	"regexp"
	"slices"
	"strings"
	"unicode"

	"github.com/google/uuid"
	"golang.org/x/text/unicode/norm"
)

// Namespace is the UUIDv5 namespace of the ids of non-observable nodes
// (named objects, hashes, sightings): id = UUIDv5(Namespace, kind + "--" + key).
var Namespace = uuid.MustParse("7a3e6c2e-4a8f-5b8e-9a51-52616e736f6d")

// NamedID is the id of a node that is not a STIX observable: a UUIDv5 over
// its kind and key, so every source naming the same key meets in one node.
func NamedID(kind Kind, key string) uuid.UUID {
	return uuid.NewSHA1(Namespace, []byte(string(kind)+"--"+key))
}

var (
	cveID   = regexp.MustCompile(`(?i)^CVE-\d{4}-\d{4,}$`)
	attckID = regexp.MustCompile(`^(T\d{4}(\.\d{3})?|[GSCM]\d{4}|TA\d{4}|DS\d{4})$`)
)

// NormalizeName is the merge key of a named object: in Unicode NFC (a
// decomposed "Cafe\u0301" is "Café"), without the invisible characters
// text pasted from documents carries (zero-width space, word joiner, byte
// order mark), every run of white space of any kind (a no-break or an
// ideographic space too) one space, trimmed, lower-cased. Punctuation,
// diacritics and the spaces between words are kept: names that differ so
// are often different actors.
func NormalizeName(name string) string {
	name = strings.Map(func(r rune) rune {
		switch r {
		case '\u200b', '\u2060', '\ufeff':
			return -1
		}
		if unicode.IsSpace(r) {
			return ' '
		}
		return r
	}, norm.NFC.String(name))
	return strings.ToLower(strings.Join(strings.Fields(name), " "))
}

// IsCVE reports whether s is a CVE id such as CVE-2021-44228.
func IsCVE(s string) bool { return cveID.MatchString(strings.TrimSpace(s)) }

// IsATTACKID reports whether s is a MITRE ATT&CK id (technique T1059 or
// T1059.001, tactic TA0001, group G0007, software S0001, campaign C0001,
// mitigation M1036, data source DS0001).
func IsATTACKID(s string) bool { return attckID.MatchString(strings.TrimSpace(s)) }

// attackSuffix is the " - G0007" ATT&CK id that MISP galaxies and
// MISP's STIX exports append to names ("APT16 - G0023").
var attackSuffix = regexp.MustCompile(`\s+-\s+((?:T\d{4}(?:\.\d{3})?)|(?:TA|[GSMC])\d{4})\s*$`)

// SplitATTACKSuffix splits "APT16 - G0023" into "APT16" and "G0023"; a name
// without such a suffix comes back trimmed, with an empty id.
func SplitATTACKSuffix(name string) (string, string) {
	name = strings.TrimSpace(name)
	if m := attackSuffix.FindStringSubmatchIndex(name); m != nil {
		return strings.TrimSpace(name[:m[0]]), name[m[2]:m[3]]
	}
	return name, ""
}

// attackPrefixes are the ATT&CK id prefixes that identify an object of
// each named kind: an ATT&CK id of another kind names a related object, not
// this one.
var attackPrefixes = map[Kind][]string{
	KindAttackPattern:  {"T"},
	KindIntrusionSet:   {"G"},
	KindThreatActor:    {"G"},
	KindMalware:        {"S"},
	KindTool:           {"S"},
	KindCampaign:       {"C"},
	KindCourseOfAction: {"M"},
}

// ATTACKIDFor returns the first of ids that is an ATT&CK id of an object
// of kind (T… for attack patterns, G… for intrusion sets and threat
// actors, S… for malware and tools, C… for campaigns, M… for courses of
// action), upper-cased, or "".
func ATTACKIDFor(kind Kind, ids ...string) string {
	prefixes := attackPrefixes[kind]
	for _, id := range ids {
		id = strings.ToUpper(strings.TrimSpace(id))
		if !IsATTACKID(id) || strings.HasPrefix(id, "TA") {
			continue
		}
		for _, p := range prefixes {
			if strings.HasPrefix(id, p) {
				return id
			}
		}
	}
	return ""
}

// attackURL is an ATT&CK page: https://attack.mitre.org/groups/G0007/,
// .../techniques/T1059/001/.
var attackURL = regexp.MustCompile(`(?i)attack\.mitre\.org/(?:groups|software|techniques|tactics|campaigns|mitigations|datasources)/((?:T|TA|G|S|C|M|DS)\d{4})(?:/(\d{3}))?`)

// ATTACKIDFromURL returns the ATT&CK id of an attack.mitre.org page URL
// (T1059.001 for .../techniques/T1059/001/), or "".
func ATTACKIDFromURL(u string) string {
	m := attackURL.FindStringSubmatch(u)
	if m == nil {
		return ""
	}
	id := strings.ToUpper(m[1])
	if m[2] != "" {
		id += "." + m[2]
	}
	return id
}

// NamedKey returns the merge key of a named object of kind with the given
// name and external ids (CVE ids, ATT&CK ids from external_references):
//   - vulnerability: the CVE id (upper case) when the name or an external id
//     is one, else the normalized name;
//   - attack pattern, intrusion set, threat actor, malware, tool, campaign,
//     course of action: its ATT&CK id when one of the kind's is given
//     (ATTACKIDFor), the name is one or the name says it is one (a
//     producer's label carrying it: NameATTACKID), so that an ATT&CK object and its
//     deprecated copy with an id of its own (S0606 and S1001, both "Bad
//     Rabbit") are two nodes, and technique names repeated across ATT&CK
//     domains do not meet; else the normalized name;
//   - every other kind: the normalized name.
//
// A trailing ATT&CK id in the name ("APT16 - G0023") is not part of the
// name: it counts as an external id.
func NamedKey(kind Kind, name string, externalIDs ...string) string {
	name, suffix := SplitATTACKSuffix(name)
	if suffix != "" {
		externalIDs = append(externalIDs, suffix)
	}
	switch kind {
	case KindVulnerability:
		if IsCVE(name) {
			return strings.ToUpper(strings.TrimSpace(name))
		}
		for _, id := range externalIDs {
			if IsCVE(id) {
				return strings.ToUpper(strings.TrimSpace(id))
			}
		}
	default:
		if id := ATTACKIDFor(kind, append(externalIDs, name, NameATTACKID(kind, name))...); id != "" {
			return id
		}
	}
	return NormalizeName(name)
}

// identityKind is the kind whose id space a named kind shares: threat
// actors and intrusion sets are one actor entity (a MISP threat-actor
// cluster and ATT&CK's intrusion set of the same key are one node, whose
// kind is intrusion-set, the smaller).
func identityKind(kind Kind) Kind {
	if kind == KindThreatActor {
		return KindIntrusionSet
	}
	return kind
}

// NameAlias is the lookup alias of a named object's name or alias
// ("malware:bad rabbit", "intrusion-set:sofacy"): live named nodes carry
// one for their name and every alias the source gives (STIX aliases,
// x_mitre_aliases, MISP synonyms), so `related intrusion-set:sofacy` finds
// APT28. Threat actors use the intrusion-set form (identityKind).
func NameAlias(kind Kind, name string) string {
	n, _ := SplitATTACKSuffix(name)
	n = NormalizeName(n)
	if n == "" {
		return ""
	}
	return string(identityKind(kind)) + ":" + n
}

// RelTactic links an ATT&CK technique to the tactic of one of its
// kill_chain_phases (technique → x-mitre-tactic), through TacticAlias.
const RelTactic = "tactic"

// TacticAlias is the alias by which a technique's kill chain phase names
// its tactic: "kill-chain-phase:mitre-attack:execution". ATT&CK tactic
// objects carry it (their x_mitre_shortname in the kill chain of each of
// their domains), techniques link to it (RelTactic), and the link waits in
// pending_relations until the tactic is loaded, in whichever order.
func TacticAlias(killChain, phase string) string {
	return "kill-chain-phase:" + strings.ToLower(strings.TrimSpace(killChain)) + ":" + strings.ToLower(strings.TrimSpace(phase))
}

// ExternalIDAlias is the lookup alias of an ATT&CK id ("mitre-attack:S0606").
func ExternalIDAlias(id string) string {
	return "mitre-attack:" + strings.ToUpper(strings.TrimSpace(id))
}

// HashKey is the key of a hash node: the algorithm in STIX spelling
// (MD5, SHA-1, SHA-256, SHA-512, SSDEEP, TLSH, ...) and the value without
// white space, hex in lower case, e.g. "SHA-256:e3b0c442..." (NormalizeHash, which
// also checks the value; a caller that needs the check calls it first).
func HashKey(algorithm, value string) string {
	if alg, h, err := NormalizeHash(algorithm, value); err == nil {
		return alg + ":" + h
	}
	return NormalizeHashAlgorithm(algorithm) + ":" + strings.ToLower(strings.Join(strings.Fields(value), ""))
}

// HashKeysOfDigest are the keys (HashKey) a hash value given without its
// algorithm can have: one per fixed-length algorithm whose length in hex
// digits it has ("2f70…" of 32 digits is an MD5 or an imphash), in
// algorithm order; none when the value is no hex digest of such a length.
func HashKeysOfDigest(value string) []string {
	h := strings.ToLower(strings.Join(strings.Fields(value), ""))
	if !hexDigits.MatchString(h) {
		return nil
	}
	var keys []string
	for alg, n := range hashHexLen {
		if n == len(h) {
			keys = append(keys, alg+":"+h)
		}
	}
	slices.Sort(keys)
	return keys
}

// NormalizeHashAlgorithm maps the spellings feeds use (sha256, SHA256,
// 'SHA-256', sha-1; misp-stix's SHA3224 and SHA3384, which it writes for
// MISP's sha3-224 and sha3-384; SHA512/256) to the STIX hash algorithm
// names, and MISP's names of the others (SHA3-224, SHA-512/256) where
// STIX has none.
func NormalizeHashAlgorithm(alg string) string {
	a := strings.ToUpper(strings.Trim(strings.TrimSpace(alg), `'"`))
	switch strings.ReplaceAll(a, "-", "") {
	case "SHA3224":
		return "SHA3-224"
	case "SHA3384":
		return "SHA3-384"
	case "SHA512/224":
		return "SHA-512/224"
	case "SHA512/256":
		return "SHA-512/256"
	case "MD5":
		return "MD5"
	case "SHA1":
		return "SHA-1"
	case "SHA224":
		return "SHA-224"
	case "SHA256":
		return "SHA-256"
	case "SHA384":
		return "SHA-384"
	case "SHA512":
		return "SHA-512"
	case "SHA3256":
		return "SHA3-256"
	case "SHA3512":
		return "SHA3-512"
	}
	return a
}

// nameAliasKinds are the kinds whose lookup aliases NameAlias spells (a
// threat actor's are intrusion-set's).
var nameAliasKinds = map[Kind]bool{
	KindIntrusionSet: true, KindMalware: true, KindTool: true, KindAttackPattern: true,
	KindCampaign: true, KindCourseOfAction: true,
}

// IsNameAlias reports whether a node alias is a name alias (NameAlias:
// "intrusion-set:sofacy"), not a source id (STIX id, misp--<uuid>) or
// another lookup alias (mitre-attack:S0606, kill-chain-phase:…). Only
// entities keyed by an external id of their own claim name aliases, so two
// nodes claiming one is an ambiguity.
func IsNameAlias(alias string) bool {
	kind, name, ok := strings.Cut(alias, ":")
	return ok && name != "" && nameAliasKinds[Kind(kind)]
}

// IsSourceID reports whether a node alias is a source's own id for the
// object (a STIX id "malware--<uuid>", a MISP "misp--<uuid>"), not a
// lookup alias (NameAlias, "mitre-attack:S0606", "kill-chain-phase:…").
func IsSourceID(alias string) bool {
	return strings.Contains(alias, "--") && !strings.Contains(alias, ":")
}

// VersionIDs returns the source ids (IsSourceID) of a named node: ids that
// a newer version of the same object may carry under another key (a vendor
// renames a malware family; an ATT&CK technique's id changed, as
// mobile-attack-1.0's MOB-T1036, keyed by its name, became T1433), which
// makes it another node. The store records them (source_id_nodes), and a
// node keyed by its name one of whose ids another node holds in a newer
// version stands for that node, in any load order. A node keyed by an
// ATT&CK id gives its ids too, as the newer version an older name-keyed
// one stands for; it never stands for another itself (it claims names of
// its own: node_name_entities). Other nodes (observables, CVEs) give none.
func VersionIDs(n Node) []string {
	if !nameAliasKinds[identityKind(n.Kind)] {
		return nil
	}
	var out []string
	for _, a := range n.Aliases {
		if IsSourceID(a) {
			out = append(out, a)
		}
	}
	return out
}

// NameUses returns the name aliases (NameAlias) of a live named node keyed
// by its name, not by an external id of its own (a MISP threat-actor
// cluster "Sofacy", a vendor's intrusion set, a galaxy technique tagged by
// name only): its name, every alias or synonym its props list
// (AliasNames) and its OtherNames, each once. Such a node claims none of them (it would take
// them from the entity with an id that does); the store records them
// (name_uses) and resolves the node to the entity when exactly one claims
// any of them, across every feed and in any load order. Other nodes give
// none.
func NameUses(n Node) []string {
	if !nameAliasKinds[identityKind(n.Kind)] || Lifecycle(n.Props) != "" || ATTACKIDFor(n.Kind, n.Key) != "" {
		return nil
	}
	var out []string
	for _, name := range slices.Concat([]string{n.Name}, AliasNames(n.Name, n.Props), n.OtherNames) {
		if a := NameAlias(n.Kind, name); a != "" && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}
