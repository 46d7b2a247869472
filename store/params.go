package store

import (
	"bytes"
	"cmp"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/ransomeye/intel/db/gen"
	"github.com/ransomeye/intel/graph"
)

type aliasRow struct {
	sourceID string
	nodeID   uuid.UUID
	source   string
}

// aliasBefore reports whether a wins a source id over b: the smaller node
// id, then a non-empty source over an empty one, then the smaller source.
func aliasBefore(a, b aliasRow) bool {
	return cmp.Or(bytes.Compare(a.nodeID[:], b.nodeID[:]), cmp.Compare(boolInt(a.source == ""), boolInt(b.source == "")),
		strings.Compare(a.source, b.source)) < 0
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// aliasRows lists each node's aliases, one row per source id, sorted by
// source id. When several nodes name a source id, the one with the smallest
// id (byte order) wins, then the smallest non-empty source: the rule
// NodeAliasUpsertMany applies across batches, so the mapping does not depend
// on the order nodes arrive in.
func aliasRows(nodes []graph.Node) []aliasRow {
	idx := map[string]int{}
	var out []aliasRow
	for _, n := range nodes {
		src := ""
		for _, s := range n.Sources {
			if s != "" {
				src = s
				break
			}
		}
		for _, a := range n.Aliases {
			if a == "" {
				continue
			}
			row := aliasRow{a, n.ID, src}
			if i, ok := idx[a]; ok {
				if aliasBefore(row, out[i]) {
					out[i] = row
				}
				continue
			}
			idx[a] = len(out)
			out = append(out, row)
		}
	}
	slices.SortFunc(out, func(a, b aliasRow) int { return strings.Compare(a.sourceID, b.sourceID) })
	return out
}

func nodeParams(nodes []graph.Node, versioned map[uuid.UUID]bool, now time.Time) gen.NodeUpsertManyParams {
	k := len(nodes)
	p := gen.NodeUpsertManyParams{
		IDs: make([]uuid.UUID, 0, k), Kinds: make([]string, 0, k), Keys: make([]string, 0, k), Names: make([]string, 0, k),
		Props: make([]json.RawMessage, 0, k), Labels: make([]string, 0, k), Confidences: make([]int16, 0, k),
		TLPs: make([]string, 0, k), FirstSeens: make([]time.Time, 0, k), LastSeens: make([]time.Time, 0, k),
		Sources: make([]string, 0, k), NameRanks: make([]string, 0, k), PropsRanks: make([]string, 0, k),
		PropsKeyRanks: make([]json.RawMessage, 0, k), Untimed: make([]bool, 0, k), Recorded: make([]bool, 0, k),
	}
	for _, n := range nodes {
		p.Untimed = append(p.Untimed, n.FirstSeen.IsZero() && n.LastSeen.IsZero())
		p.Recorded = append(p.Recorded, versioned[n.ID])
		first, last := graph.Seen(n.FirstSeen, n.LastSeen, now)
		p.IDs = append(p.IDs, n.ID)
		p.Kinds = append(p.Kinds, string(n.Kind))
		p.Keys = append(p.Keys, n.Key)
		p.Names = append(p.Names, n.Name)
		props, digest := marshalProps(n.Props)
		p.Props = append(p.Props, props)
		p.Labels = append(p.Labels, textArrayLiteral(n.Labels))
		p.Confidences = append(p.Confidences, confidenceParam(n.Confidence))
		p.TLPs = append(p.TLPs, string(n.TLP.Normalize()))
		p.FirstSeens = append(p.FirstSeens, first)
		p.LastSeens = append(p.LastSeens, last)
		p.Sources = append(p.Sources, textArrayLiteral(n.Sources))
		ranks := n.RanksWithProps(digest)
		p.NameRanks = append(p.NameRanks, ranks.Name)
		p.PropsRanks = append(p.PropsRanks, ranks.Props)
		p.PropsKeyRanks = append(p.PropsKeyRanks, jsonStrings(ranks.Keys))
	}
	return p
}

// textArrayLiteral writes ss as a PostgreSQL text[] literal, sorted in byte
// order (the order NodeUpsertMany's merge sorts in: COLLATE "C") and without
// duplicates, every element quoted so that any string survives:
// ["b", "a\"x", "b"] gives {"a\"x","b"}.
func textArrayLiteral(ss []string) string {
	if len(ss) == 0 {
		return "{}"
	}
	sorted := ss
	if !strictlySorted(ss) { // usually they already are: no copy then
		sorted = slices.Compact(slices.Sorted(slices.Values(ss)))
	}
	var b strings.Builder
	size := 2
	for _, s := range sorted {
		size += len(s) + 3
	}
	b.Grow(size)
	b.WriteByte('{')
	for i, s := range sorted {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		for j := 0; j < len(s); j++ {
			if s[j] == '"' || s[j] == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(s[j])
		}
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// strictlySorted reports whether ss is sorted in byte order without
// duplicates.
func strictlySorted(ss []string) bool {
	for i := 1; i < len(ss); i++ {
		if ss[i-1] >= ss[i] {
			return false
		}
	}
	return true
}

func confidenceParam(c *int) int16 { return int16(graph.ConfidenceOf(c)) }

// jsonStrings returns m as a JSON object ("{}" when empty).
func jsonStrings(m map[string]string) json.RawMessage {
	if len(m) == 0 {
		return json.RawMessage("{}")
	}
	b, _ := json.Marshal(m)
	return b
}

// marshalProps returns the props parameter (jsonObject's bytes) and the
// bytes the rank digest hashes (graph.Node.RanksWithProps): the same slice,
// so props are encoded once; nil when json.Marshal fails and the parameter
// is jsonObject's stand-in, so the rank is computed from the props instead.
func marshalProps(m map[string]any) (param json.RawMessage, digest []byte) {
	if len(m) == 0 {
		return json.RawMessage("{}"), json.RawMessage("{}")
	}
	buf := propsBuffers.Get().(*[]byte)
	b, ok := appendMarshal((*buf)[:0], m) // json.Marshal's bytes, faster
	props := slices.Clone(b)
	*buf = b
	propsBuffers.Put(buf)
	if !ok {
		return jsonObject(m), nil
	}
	return props, props
}

// propsBuffers holds the buffers marshalProps encodes into before copying
// the props out at their size (as json.Marshal does).
var propsBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func jsonObject(m map[string]any) json.RawMessage {
	if len(m) == 0 {
		return json.RawMessage("{}")
	}
	b, err := json.Marshal(m)
	if err != nil {
		// Props come from decoded JSON and always marshal; keep the error visible.
		b, _ = json.Marshal(map[string]string{"_marshal_error": err.Error()})
	}
	return b
}
