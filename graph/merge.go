package graph

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// This file is the merge contract of the README ("Merging"), written once.
// The store's batch de-duplication, the MISP and STIX mappers and the
// telemetry writer all merge through it, and the SQL upserts
// (db/queries/nodes.sql, relations.sql, with props_merge from migration
// 00007) implement the same rules in the database; a property test in
// package store holds the two together.
//
// The merge is a semilattice: MergeNode(a, b) equals MergeNode(b, a),
// MergeNode(MergeNode(a, b), c) equals MergeNode(a, MergeNode(b, c)) and
// MergeNode(a, a) equals a, so the stored graph does not depend on the order
// or grouping in which records arrive. For that:
//
//   - Every record has a rank, a string whose byte order is (live before
//     revoked or deprecated, see Lifecycle; confidence, -1 when unknown; its own last-seen, or its first-seen when it has only
//     that, or nothing when it has no times; a content digest: the first 8
//     bytes of SHA-256 over the JSON of [name, props]). Two records of equal
//     rank have the same confidence, time, name and props, so ties between
//     different contents cannot happen and no tie depends on arrival.
//   - The name is the name of the highest-ranked record with a non-empty
//     name; Ranks.Name keeps that record's rank. A record whose name spells
//     the ATT&CK id that keys it (NamesItsKey) has its name ranked below
//     every other record's (producerNamePrefix), and a record whose name is
//     the CVE id that keys it (IsItsCVEName) above every other record's
//     (keyNamePrefix); props and the rest as any record's.
//   - Each props key takes its value from the highest-ranked record that has
//     the key: the winner (the highest-ranked record of all, Ranks.Props)
//     gives all of its keys, and lower-ranked records add only keys that
//     every higher-ranked record lacks. Ranks.Keys keeps the rank of each key
//     that did not come from the winner (usually none), so that a later
//     merge compares a key with the record it really came from rather than
//     with a mix of several records.
//   - Kind and key, which records of one id share unless two kinds derive
//     the same id (threat-actor and intrusion-set share their id space, so
//     a MISP threat actor and ATT&CK's intrusion set of one key meet), are
//     the smallest (kind, key) in byte order.
//   - Confidence is the highest, TLP the strictest (TLP.Stricter), first-seen
//     the earliest and last-seen the latest of the records that have times
//     (a record with only one time has it as both); labels, sources and
//     aliases are sorted unions; a node's Versions and a relation's
//     StatedBy keep the latest time per id (a relation record that stands
//     on its own, without StatedBy, adds StandsAlone).
//
// A merged node carries its Ranks (the store keeps them in nodes.name_rank,
// props_rank and props_key_ranks, and the same for relations); a single
// record's are computed from its content. Keeping the rank of the record a
// value came from, rather than comparing with the row's confidence and
// last-seen (maxima over several records), is what makes the merge
// associative; keeping per-key ranks only for keys that did not come from
// the top record keeps the common row (all keys from one record) free of
// them, and lets the SQL skip rows whose incoming keys all rank lower.
//
// Outside this file, the store applies two more rules of the same kind: a
// source id (alias) belongs to the smallest node id naming it, and relations
// are re-keyed when a source id moves (store.Write, relation_records).

// Ranks say which records a merged node's or relation's name and props came
// from. They are strings compared byte by byte (PostgreSQL: COLLATE "C").
type Ranks struct {
	// Name is the rank of the record the name came from; "" when the name
	// is empty.
	Name string
	// Props is the highest rank of the merged records: the winner whose
	// props keys all count.
	Props string
	// Keys holds, for each props key whose value came from a record ranked
	// below Props, that record's rank.
	Keys map[string]string
}

// keyRank returns the rank of the record that gave props key k.
func (r Ranks) keyRank(k string) string {
	if kr, ok := r.Keys[k]; ok {
		return kr
	}
	return r.Props
}

// Ranks returns the node's ranks: those kept by MergeNode, or for a single
// record its own (see RecordRank).
func (n Node) Ranks() Ranks {
	if n.ranks != nil {
		return *n.ranks
	}
	return nodeRecordRanks(n, recordRank(n.Confidence, n.FirstSeen, n.LastSeen, n.Name, n.Props))
}

// Merged reports whether n is the result of MergeNode (its name and props
// may come from different records, so its ranks are kept) rather than one
// record, whose ranks are its own.
func (n Node) Merged() bool { return n.ranks != nil }

// RanksWithProps is Ranks for a caller that has already encoded the node's
// props: props must be what json.Marshal gives for n.Props ("{}" when there
// are none), the bytes the digest covers, so that the rank is computed
// without encoding them again. The store passes the props parameter it sends.
// nil props means "not encoded": the rank is Ranks'.
func (n Node) RanksWithProps(props []byte) Ranks {
	if n.ranks != nil || props == nil {
		return n.Ranks()
	}
	return nodeRecordRanks(n, retiredRank(n.Props, recordRankJSON(n.Confidence, n.FirstSeen, n.LastSeen, n.Name, props)))
}

func nodeRecordRanks(n Node, r string) Ranks {
	out := Ranks{Props: r}
	if n.Name != "" {
		out.Name = r
		switch {
		case NamesItsKey(n):
			out.Name = producerNamePrefix + r
		case IsItsCVEName(n):
			out.Name = keyNamePrefix + r
		}
	}
	return out
}

// producerNamePrefix starts the name rank of a record whose name is a
// producer's own for an object keyed by an ATT&CK id (NamesItsKey): ","
// sorts below "-" (retiredPrefix) and every digit, so such a name is the
// node's only while no record names the object otherwise.
const producerNamePrefix = ","

// keyNamePrefix starts the name rank of a record whose name is the CVE id
// that keys it (IsItsCVEName): "~" sorts above every digit, "-"
// (retiredPrefix) and "," (producerNamePrefix), so such a name is the
// node's whatever other records name it.
const keyNamePrefix = "~"

// IsItsCVEName reports whether n is a vulnerability keyed by a CVE id and
// named by that id ("CVE-2021-44228": cve2stix, NVD, MISP's vulnerability
// attributes), in any case. The CVE id is the vulnerability's own name, as
// ATT&CK's is an ATT&CK object's: a producer's name for it ("Log4Shell",
// "log4j RCE (CVE-2021-44228)") is its label, which the CVE's node keeps
// found (search) but not as its name. Such a record's name ranks above
// every record's whose name is not the id (nodeRecordRanks), in any order
// of loading, whatever the records' confidence and times.
func IsItsCVEName(n Node) bool {
	return n.Kind == KindVulnerability && IsCVE(n.Key) && strings.EqualFold(strings.TrimSpace(n.Name), n.Key)
}

// NamesItsKey reports whether n is keyed by an ATT&CK id (T1539, G0023,
// S0154, ...) that its name spells out: CISA's AIS "Credential Access -
// Steal Web Session Cookie [T1539]", a MISP galaxy's "Steal Web Session
// Cookie - T1539". Such a name is a producer's label for the ATT&CK
// object it maps onto; ATT&CK names its objects without their ids, and its
// name is the object's (README, "Merging"): the record's name ranks below
// every record whose name does not spell the id (nodeRecordRanks), in any
// order of loading, whatever the records' confidence and times.
func NamesItsKey(n Node) bool {
	if !IsATTACKID(n.Key) {
		return false
	}
	name, key := strings.ToUpper(n.Name), strings.ToUpper(n.Key)
	for i := 0; ; {
		j := strings.Index(name[i:], key)
		if j < 0 {
			return false
		}
		j += i
		end := j + len(key)
		// A sub-technique's id (T1539.001) does not spell T1539.
		subtechnique := end+1 < len(name) && name[end] == '.' && isDigit(name[end+1])
		if (j == 0 || !idByte(name[j-1])) && (end == len(name) || !idByte(name[end])) && !subtechnique {
			return true
		}
		i = j + 1
	}
}

// leadingATTACKID is an ATT&CK id leading a name, before the name it
// labels: "T1190 - Exploit Public-Facing Application", "T1566.002 -
// Phishing: Spearphishing Link - Initial Access" (the STIX elevator's
// idioms), "T1071: Application Layer Protocol" (Unit 42's playbooks),
// "[T1190] Exploit Public-Facing Application". The id stands alone and a
// separator follows it: a colon, a dash between spaces (a hyphen joined to
// a word, "T1190-like", is no separator), or the closing bracket of one
// opened before it.
var leadingATTACKID = func() *regexp.Regexp {
	const id = `(T\d{4}(?:\.\d{3})?|TA\d{4}|[GSMC]\d{4})`
	const dash = `[\-\x{2013}\x{2014}]`
	return regexp.MustCompile(`(?i)^(?:\[\s*` + id + `\s*\]\s*(?::|` + dash + `)?|\(\s*` + id + `\s*\)\s*(?::|` + dash + `)?|` +
		id + `\s*:|` + id + `\s+` + dash + `\s)\s*\S`)
}()

// NameATTACKID returns the ATT&CK id of an object of kind
// (ATTACKIDFor) that its name says it is, by a producer's label that
// carries it: at its start ("T1190 - Exploit Public-Facing Application",
// leadingATTACKID) or in brackets at its end (CISA's AIS advisories:
// "Credential Access - Steal Web Session Cookie [T1539]", with no
// external_references), upper-cased; or "". An id the name merely mentions
// ("Like T1190", "T1190-like behaviour") or of another kind (a technique's
// T1190 in a malware's name) says nothing. NamedKey keys the object by it
// when no external reference gives one, and the name then spells its key
// (NamesItsKey): ATT&CK's name for the object outranks it. OpenCTI keys an
// attack pattern by x_mitre_id or its whole name; it reads no id out of a
// name, so such a label was an object of its own there and here before.
// (A trailing " - T1190", MISP's galaxies' form, is SplitATTACKSuffix's.)
func NameATTACKID(kind Kind, name string) string {
	name = strings.TrimSpace(name)
	if m := leadingATTACKID.FindStringSubmatch(name); m != nil {
		for _, id := range m[1:] {
			if id != "" {
				return ATTACKIDFor(kind, id)
			}
		}
	}
	if m := bracketedATTACKID.FindStringSubmatch(name); m != nil {
		return ATTACKIDFor(kind, m[1])
	}
	return ""
}

// bracketedATTACKID is an ATT&CK id in brackets ending a name, as CISA's
// AIS STIX 2.1 advisories name their attack patterns.
var bracketedATTACKID = regexp.MustCompile(`\[\s*((?:T\d{4}(?:\.\d{3})?)|(?:[GSMC]\d{4}))\s*\]$`)

// idByte reports whether b may continue an ATT&CK id or a word.
func idByte(b byte) bool {
	return b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || isDigit(b) || b == '_'
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

// Ranks returns the relation's ranks (Name is always ""): those kept by
// MergeRelation, or for a single record its own.
func (r Relation) Ranks() Ranks {
	if r.ranks != nil {
		return *r.ranks
	}
	return Ranks{Props: recordRank(r.Confidence, r.FirstSeen, r.LastSeen, "", r.Props)}
}

// Merged reports whether r is the result of MergeRelation rather than one
// record (see Node.Merged).
func (r Relation) Merged() bool { return r.ranks != nil }

// RanksWithProps is Ranks given the JSON of r.Props as json.Marshal writes
// it (see Node.RanksWithProps).
func (r Relation) RanksWithProps(props []byte) Ranks {
	if r.ranks != nil || props == nil {
		return r.Ranks()
	}
	return Ranks{Props: retiredRank(r.Props, recordRankJSON(r.Confidence, r.FirstSeen, r.LastSeen, "", props))}
}

// RecordRank returns the rank of one record: "ccc.ttttttttttttttttttttt.dddddddddddddddd",
// confidence + 1 in three digits (000 when unknown), the record's last-seen
// (its first-seen when it has no last-seen) in microseconds since year 1 in
// 20 digits (all zero when it has no times), and the first 8 bytes of
// SHA-256 over the JSON of [name, props] in hex, prefixed by "-" when
// props mark the record revoked or deprecated (Lifecycle), so that it ranks
// below every live record. Byte order is rank order.
func RecordRank(confidence *int, first, last time.Time, name string, props map[string]any) string {
	return recordRank(confidence, first, last, name, props)
}

func recordRank(confidence *int, first, last time.Time, name string, props map[string]any) string {
	if props == nil {
		props = map[string]any{}
	}
	content, err := json.Marshal(props)
	if err != nil {
		return retiredRank(props, formatRank(confidence, first, last, sha256.Sum256([]byte(name+"\x00"+err.Error()))))
	}
	return retiredRank(props, recordRankJSON(confidence, first, last, name, content))
}

// retiredPrefix starts the rank of a revoked or deprecated record
// (Lifecycle): "-" sorts below every digit, so such a record ranks below
// any live record of the same entity, whatever its confidence and times,
// and never gives the name or a props key a live record has.
const retiredPrefix = "-"

func retiredRank(props map[string]any, rank string) string {
	if Lifecycle(props) != "" {
		return retiredPrefix + rank
	}
	return rank
}

// recordRankJSON is RecordRank given the JSON of props: the digest covers
// [name, props] exactly as json.Marshal([]any{name, props}) writes them.
func recordRankJSON(confidence *int, first, last time.Time, name string, props []byte) string {
	nameJSON, _ := json.Marshal(name) // a string always encodes
	content := make([]byte, 0, len(nameJSON)+len(props)+3)
	content = append(append(append(append(append(content, '['), nameJSON...), ','), props...), ']')
	return formatRank(confidence, first, last, sha256.Sum256(content))
}

// formatRank writes "%03d.%020d.%x" of confidence + 1, the record's
// microseconds since year 1 and the first 8 bytes of sum, without fmt.
func formatRank(confidence *int, first, last time.Time, sum [sha256.Size]byte) string {
	_, seen := Seen(first, last, time.Time{})
	var micros int64
	if !seen.IsZero() {
		micros = seen.UnixMicro() - zeroTimeMicros
	}
	c := confidenceOf(confidence) + 1
	if c < 0 || c > 999 { // out of range (the store rejects it): as %03d writes it
		return fmt.Sprintf("%03d.%020d.%x", c, max(micros, 0), sum[:8])
	}
	var b [3 + 1 + 20 + 1 + 16]byte
	putDigits(b[0:3], uint64(c))
	b[3] = '.'
	putDigits(b[4:24], uint64(max(micros, 0)))
	b[24] = '.'
	hex.Encode(b[25:], sum[:8])
	return string(b[:])
}

// putDigits writes v in decimal into all of b, zero-padded on the left.
func putDigits(b []byte, v uint64) {
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
}

// zeroTimeMicros is time.Time{}.UnixMicro(): ranks count from year 1.
var zeroTimeMicros = time.Time{}.UnixMicro()

// MergeNode merges two records of the same node by the rules above: name
// and props values from the highest-ranked records that have them, earliest
// first-seen, latest last-seen, union of labels, sources, aliases and
// other names,
// highest confidence, strictest TLP. Neither input is modified.
func MergeNode(a, b Node) Node {
	if cmp.Or(strings.Compare(string(b.Kind), string(a.Kind)), strings.Compare(b.Key, a.Key)) < 0 {
		a.Kind, a.Key = b.Kind, b.Key
	}
	ra, rb := a.Ranks(), b.Ranks()
	ranks := Ranks{Name: max(ra.Name, rb.Name)}
	if rb.Name > ra.Name {
		a.Name = b.Name
	}
	a.Props, ranks.Props, ranks.Keys = mergeProps(a.Props, ra, b.Props, rb)
	a.ranks = &ranks
	if confidenceOf(b.Confidence) > confidenceOf(a.Confidence) {
		a.Confidence = b.Confidence
	}
	a.TLP = a.TLP.Stricter(b.TLP)
	a.FirstSeen, a.LastSeen = mergeSeen(a.FirstSeen, a.LastSeen, b.FirstSeen, b.LastSeen)
	a.Labels = Union(a.Labels, b.Labels)
	a.Sources = Union(a.Sources, b.Sources)
	a.Aliases = Union(a.Aliases, b.Aliases)
	a.OtherNames = Union(a.OtherNames, b.OtherNames)
	a.Versions = LatestVersions(a.Versions, b.Versions)
	return a
}

// MergeRelation merges two records of the same (src, type, dst) by the
// rules above: props values from the highest-ranked records that have them,
// earliest first-seen, latest last-seen, union of sources, highest
// confidence; StatedBy the latest version per id, with the StandsAlone
// entry when one record stands on its own (StatedBy empty: telemetry, a
// copy of the object without a version), which no
// newer version of an object supersedes. Neither input is modified.
func MergeRelation(a, b Relation) Relation {
	ra, rb := a.Ranks(), b.Ranks()
	var ranks Ranks
	a.Props, ranks.Props, ranks.Keys = mergeProps(a.Props, ra, b.Props, rb)
	a.ranks = &ranks
	if confidenceOf(b.Confidence) > confidenceOf(a.Confidence) {
		a.Confidence = b.Confidence
	}
	a.FirstSeen, a.LastSeen = mergeSeen(a.FirstSeen, a.LastSeen, b.FirstSeen, b.LastSeen)
	a.Sources = Union(a.Sources, b.Sources)
	if len(a.StatedBy) > 0 || len(b.StatedBy) > 0 {
		a.StatedBy = LatestVersions(standing(a.StatedBy), standing(b.StatedBy))
	}
	return a
}

// StandsAlone is the StatedBy entry (the empty id) of a relation merged
// from a record that stands on its own (no StatedBy) and one that an object
// states: no version of any object outdates it, so the relation is never
// superseded, as the record standing alone would not be.
const StandsAlone = ""

// standing is m, or the StandsAlone entry when m is empty.
func standing(m map[string]time.Time) map[string]time.Time {
	if len(m) == 0 {
		return map[string]time.Time{StandsAlone: {}}
	}
	return m
}

// mergeSeen returns the earliest first-seen and the latest last-seen of two
// records, each read as Seen reads it (one time stands for both); a record
// without times adds none.
func mergeSeen(af, al, bf, bl time.Time) (time.Time, time.Time) {
	af, al = Seen(af, al, time.Time{})
	bf, bl = Seen(bf, bl, time.Time{})
	return earliest(af, bf), latest(al, bl)
}

// mergeProps merges the props of two records or merged records: each key's
// value comes from the higher-ranked side (equal ranks mean the same
// record, so the same value). It returns the props, the higher of the two
// Props ranks, and the ranks of the keys that came from below it.
func mergeProps(pa map[string]any, ra Ranks, pb map[string]any, rb Ranks) (map[string]any, string, map[string]string) {
	top := max(ra.Props, rb.Props)
	if len(pa) == 0 && len(pb) == 0 {
		return nil, top, nil
	}
	out := make(map[string]any, len(pa)+len(pb))
	keyRanks := make(map[string]string, len(pa)+len(pb))
	for k, v := range pa {
		out[k], keyRanks[k] = v, ra.keyRank(k)
	}
	for k, v := range pb {
		kr := rb.keyRank(k)
		if cur, ok := keyRanks[k]; !ok || kr > cur {
			out[k], keyRanks[k] = v, kr
		}
	}
	var below map[string]string
	for k, kr := range keyRanks {
		if kr < top {
			if below == nil {
				below = map[string]string{}
			}
			below[k] = kr
		}
	}
	return out, top, below
}

// MergeNodes combines nodes with the same id by MergeNode and returns them
// sorted by id (the order the store writes rows in).
func MergeNodes(in []Node) []Node {
	byID := make(map[uuid.UUID]int, len(in))
	out := make([]Node, 0, len(in))
	for _, n := range in {
		if i, ok := byID[n.ID]; ok {
			out[i] = MergeNode(out[i], n)
			continue
		}
		byID[n.ID] = len(out)
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b Node) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	return out
}

// RelationKey identifies a relation: one row per (src, type, dst).
type RelationKey struct {
	Src  Ref
	Type string
	Dst  Ref
}

// Key returns the relation's key, its type lower-cased.
func (r Relation) Key() RelationKey {
	return RelationKey{r.Src, strings.ToLower(r.Type), r.Dst}
}

// MergeRelations combines relations with the same key by MergeRelation and
// returns them sorted by key, their types lower-cased.
func MergeRelations(in []Relation) []Relation {
	byKey := make(map[RelationKey]int, len(in))
	out := make([]Relation, 0, len(in))
	for _, r := range in {
		r.Type = strings.ToLower(r.Type)
		k := r.Key()
		if i, ok := byKey[k]; ok {
			out[i] = MergeRelation(out[i], r)
			continue
		}
		byKey[k] = len(out)
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Relation) int {
		return cmp.Or(strings.Compare(string(a.Src), string(b.Src)), strings.Compare(a.Type, b.Type), strings.Compare(string(a.Dst), string(b.Dst)))
	})
	return out
}

// Seen fills missing first/last-seen times: a single one stands for both,
// none means now, and a pair given the wrong way round is swapped.
func Seen(first, last, now time.Time) (time.Time, time.Time) {
	switch {
	case first.IsZero() && last.IsZero():
		return now, now
	case first.IsZero():
		return last, last
	case last.IsZero():
		return first, first
	case last.Before(first):
		return last, first
	}
	return first, last
}

// ConfidenceOf returns c, or -1 (the database's "unknown") when c is nil.
func ConfidenceOf(c *int) int { return confidenceOf(c) }

func confidenceOf(c *int) int {
	if c == nil {
		return -1
	}
	return *c
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// MarkStated marks what an object states through its own properties in
// one version: the relations whose Src is one of srcs get StatedBy {id:
// v}. Nothing when id or v is unknown (the relations then stand on their
// own). The STIX and MISP mappers both mark through it.
func MarkStated(rels []Relation, id string, v time.Time, srcs ...Ref) {
	if id == "" || v.IsZero() {
		return
	}
	for i := range rels {
		if slices.Contains(srcs, rels[i].Src) {
			rels[i].StatedBy = map[string]time.Time{id: v}
		}
	}
}

// LatestVersions returns the union of two id → version maps, each id with
// its latest version (Node.Versions, Relation.StatedBy); neither input is
// modified, and either is returned as it is when the other adds nothing.
func LatestVersions(a, b map[string]time.Time) map[string]time.Time {
	if len(b) == 0 {
		return a
	}
	if len(a) == 0 {
		return b
	}
	out := maps.Clone(a)
	for k, v := range b {
		if cur, ok := out[k]; !ok || v.After(cur) {
			out[k] = v
		}
	}
	return out
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Union returns the sorted (byte order), duplicate-free union of two
// string sets (labels, sources, aliases), so a merge gives the same slice
// whichever record came first; neither input is modified.
func Union(a, b []string) []string {
	if len(a) == 0 && len(b) == 0 {
		return a
	}
	out := make([]string, 0, len(a)+len(b))
	out = append(append(out, a...), b...)
	slices.Sort(out)
	return slices.Compact(out)
}

// RecordSource returns the source object a node record comes from and its
// version: of the entries of its Versions with an id and a version (a STIX
// object's id at its modified, a MISP event's uuid at its timestamp, the
// notion source_versions keeps), the newest, the smallest id among equally
// new ones; "" for a record with no version. The store keeps, for a node
// with such a record, one record per source object at its newest version
// (node_records): a newer version of the object replaces what an older one
// gave the node's name, props, labels, confidence and TLP.
//
// A record stated by several objects (a MISP object that is an indicator:
// the indicator's id at the object's timestamp, its event's uuid at the
// event's) belongs to the newest: the event, whose every version restates
// the object and its TLP, so its next version replaces the record. The
// choice is the record's alone, so the stored records, and the node, do
// not depend on the order records come in.
func RecordSource(n Node) (string, time.Time) {
	var src string
	var at time.Time
	for id, v := range n.Versions {
		if id == "" || v.IsZero() {
			continue
		}
		if src == "" || v.After(at) || (v.Equal(at) && id < src) {
			src, at = id, v
		}
	}
	return src, at
}

// WithoutContent returns n without what a newer version of its source
// object replaces: no name, props, labels, confidence or TLP, and ranks
// below every record, so that merged into another record it changes none
// of those; its kind, key, times, sources, aliases and versions still
// merge. The store merges an older version's record so.
func (n Node) WithoutContent() Node {
	n.Name, n.Props, n.Labels, n.Confidence, n.TLP = "", nil, nil, nil, ""
	n.ranks = &Ranks{}
	return n
}
