package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ransomeye/intel/ingest/engine"
)

// writeLoadReport writes a load report for a person; the report of a dry
// run says what would be written. Its totals add up: the records read are
// mapped or dropped, and the nodes (relations) sent are inserted, merged,
// unchanged (pending) or repeated: sent again in the same batch, where they
// are combined into one row before it is written. For relations, unchanged
// and repeated are one figure (the upsert does not tell them apart), and the
// relations released from pending, inserted or merged in this load but sent
// by an earlier batch or load, are not counted as sent.
func writeLoadReport(w io.Writer, r *engine.Report, dryRun bool) error {
	var b strings.Builder
	ws := r.Written
	fmt.Fprintf(&b, "feed %s (%s)\n", r.Feed, r.Format)
	fmt.Fprintf(&b, "  records read     %d\n", r.RecordsRead)
	fmt.Fprintf(&b, "  records mapped   %d\n", r.RecordsMapped)
	if dryRun {
		fmt.Fprintf(&b, "  nodes            %d (would insert or merge %d)\n", r.Nodes, ws.NodesInserted)
		fmt.Fprintf(&b, "  relations        %d (would insert or merge %d)\n", r.Relations, ws.RelationsInserted)
	} else {
		fmt.Fprintf(&b, "  nodes            %d (inserted %d, merged %d, unchanged %d, repeated %d)\n",
			r.Nodes, ws.NodesInserted, ws.NodesMerged, ws.NodesUnchanged,
			r.Nodes-ws.NodesInserted-ws.NodesMerged-ws.NodesUnchanged-ws.NodesRefused)
		// A released relation (parked earlier, its endpoints now known) is
		// inserted or merged by the batch that releases it, without being
		// one of the records sent then: it is taken out of those counts.
		// So are the records written to the ends of a relationship named
		// by its id (expanded), which were not sent either.
		// A relation only an older version of its object states than one
		// loaded before (stale) is kept, not walked: neither inserted,
		// merged nor pending.
		stale := ""
		if ws.RelationsStale > 0 {
			stale = fmt.Sprintf(", stated by an older version than one loaded %d", ws.RelationsStale)
		}
		fmt.Fprintf(&b, "  relations        %d (inserted %d, merged %d, pending %d%s, unchanged or repeated %d; released from pending %d",
			r.Relations, ws.RelationsInserted, ws.RelationsMerged, ws.RelationsPending, stale,
			max(0, r.Relations+ws.RelationsExpandedInto-(ws.RelationsInserted+ws.RelationsMerged-ws.RelationsReleased)-ws.RelationsPending-ws.RelationsRefused-ws.RelationsStale), ws.RelationsReleased)
		if ws.RelationsExpanded > 0 {
			fmt.Fprintf(&b, "; %d naming a relationship id expanded into %d to its ends", ws.RelationsExpanded, ws.RelationsExpandedInto)
		}
		b.WriteString(")\n")
		if ws.RelationsSuperseded > 0 {
			fmt.Fprintf(&b, "  superseded       %d relations (an older version of their object stated them, the newer one loaded does not; kept, no longer walked)\n",
				ws.RelationsSuperseded)
		}
		if ws.RelationsUnlinked > 0 {
			fmt.Fprintf(&b, "  unlinked         %d relations (links naming a relationship, taken off the ends its newer version no longer names)\n",
				ws.RelationsUnlinked)
		}
	}
	if ws.NodesRefused+ws.RelationsRefused > 0 {
		// Records of records mapped that the store did not write: not
		// repeated, not dropped records.
		fmt.Fprintf(&b, "  refused          %d nodes, %d relations (not written; by reason:", ws.NodesRefused, ws.RelationsRefused)
		for _, reason := range slices.Sorted(maps.Keys(ws.Dropped)) {
			fmt.Fprintf(&b, " %s %d", reason, ws.Dropped[reason])
		}
		b.WriteString(")\n")
	}
	fmt.Fprintf(&b, "  sightings        %d\n", r.Sightings)
	if ws.AliasesAmbiguous > 0 {
		fmt.Fprintf(&b, "  ambiguous names  %d (aliases now claimed by two or more entities with ids of their own; not merged, see intel show)\n", ws.AliasesAmbiguous)
	}
	if r.Skipped > 0 {
		fmt.Fprintf(&b, "  skipped          %d (unchanged)\n", r.Skipped)
	}
	fmt.Fprintf(&b, "  dropped          %d\n", r.DroppedTotal())
	reasons := make([]string, 0, len(r.Dropped))
	for reason := range r.Dropped {
		reasons = append(reasons, string(reason))
	}
	sort.Strings(reasons)
	for _, reason := range reasons {
		fmt.Fprintf(&b, "    %-28s %d\n", reason, r.Dropped[engine.Reason(reason)])
	}
	if n := r.PartsDroppedTotal(); n > 0 {
		// Parts of records that loaded (not in dropped: read = mapped +
		// dropped holds).
		fmt.Fprintf(&b, "  parts dropped    %d (of records that loaded without them)\n", n)
		for _, reason := range slices.Sorted(maps.Keys(r.PartsDropped)) {
			fmt.Fprintf(&b, "    %-28s %d\n", reason, r.PartsDropped[reason])
		}
	}
	fmt.Fprintf(&b, "  bytes            %d in %s (%.1f MB/s)\n", r.Bytes, r.Duration.Round(time.Millisecond), r.MBPerSecond())
	if r.Error != "" {
		fmt.Fprintf(&b, "  error            %s\n", r.Error)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
