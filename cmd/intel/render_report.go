package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/ransomeye/intel/ingest/engine"
)

// writeLoadReport writes a load report for a person.
func writeLoadReport(w io.Writer, r *engine.Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "feed %s (%s)\n", r.Feed, r.Format)
	fmt.Fprintf(&b, "  records read     %d\n", r.RecordsRead)
	fmt.Fprintf(&b, "  records mapped   %d\n", r.RecordsMapped)
	fmt.Fprintf(&b, "  nodes            %d (inserted %d, merged %d, unchanged %d)\n",
		r.Nodes, r.Written.NodesInserted, r.Written.NodesMerged, r.Written.NodesUnchanged)
	fmt.Fprintf(&b, "  relations        %d (inserted %d, merged %d, pending %d, released %d)\n",
		r.Relations, r.Written.RelationsInserted, r.Written.RelationsMerged,
		r.Written.RelationsPending, r.Written.RelationsReleased)
	fmt.Fprintf(&b, "  sightings        %d\n", r.Sightings)
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
	fmt.Fprintf(&b, "  bytes            %d in %s (%.1f MB/s)\n", r.Bytes, r.Duration.Round(time.Millisecond), r.MBPerSecond())
	if r.Error != "" {
		fmt.Fprintf(&b, "  error            %s\n", r.Error)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
