package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/ransomeye/intel/ingest"
	"github.com/ransomeye/intel/ingest/engine"
	"github.com/ransomeye/intel/store"
)

// feedRow is one feed of intel feeds: its bookkeeping, the status to show
// (a running load whose process is gone is stale) and the counts of its
// last report.
type feedRow struct {
	store.FeedState
	Status    string `json:"status"`
	Records   int64  `json:"records"`
	Nodes     int64  `json:"nodes"`
	Relations int64  `json:"relations"`
	Dropped   int64  `json:"dropped"`
	// PartsDropped counts the parts of loaded records the last load
	// dropped (engine.Report.PartsDropped: an indicator pattern not
	// understood).
	PartsDropped int64 `json:"parts_dropped"`
	// Edges counts the telemetry edges a telemetry feed's last load
	// stored; its Nodes and Relations are the endpoint nodes and the
	// links (has-hash, …) it wrote for them.
	Edges int64 `json:"edges,omitempty"`
}

func (a *app) feedsCommand() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:         "feeds",
		Annotations: readOnlyCut,
		Short:       "List the feeds loaded so far: status, last load, counts and last error",
		Long: `feeds lists every feed intel has loaded, with the status of its last load (ok,
skipped, failed, interrupted, or running), when it last loaded, the counts of
its last report (records read, nodes, relations, records dropped, and "+N parts":
parts of loaded records dropped, such as an indicator pattern not understood;
for a telemetry feed the lines read, the endpoint nodes and links written, and
the edges stored, in DETAIL) and its last error. A load recorded as running whose process is gone (killed, crashed, its
host rebooted) shows as stale: on this host the recorded process id and start
time are checked; a load from another host is stale when it has given no sign
of life (a heartbeat every 30s) for 5 minutes. Load it again to replace it.
A feed loaded by an intel that maps its format otherwise (intel version shows
this one's mapping versions) says so in DETAIL: the next run loads it again,
even unchanged.`,
		Example: "  intel feeds\n  intel feeds --format json",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := formatFlag(format, "table", "json"); err != nil {
				return err
			}
			rows, err := a.feedRows(cmd.Context())
			if err != nil {
				return err
			}
			return printAs(a.stdout, format, rows, writeFeedsTable)
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "table or json")
	return cmd
}

// feedRows reads the feeds' bookkeeping (no partition upkeep: this only
// reads).
func (a *app) feedRows(ctx context.Context) ([]feedRow, error) {
	pool, err := a.openPool(ctx)
	if err != nil {
		return nil, err
	}
	if err := a.checkSchema(ctx, pool); err != nil {
		return nil, err
	}
	feeds, err := store.NewStore(pool).Feeds(ctx)
	if err != nil {
		return nil, err
	}
	// A heartbeat is the server's now(): judge it by the server's clock.
	// By this machine's, one running ahead of the server's by more than
	// ingest.StaleAfter showed the live loads of other hosts stale.
	now := time.Now()
	if err := pool.QueryRow(ctx, "SELECT now()").Scan(&now); err != nil {
		return nil, fmt.Errorf("read the server's clock: %w", err)
	}
	rows := make([]feedRow, 0, len(feeds))
	for _, f := range feeds {
		rows = append(rows, newFeedRow(f, now))
	}
	return rows, nil
}

// newFeedRow is the row of a feed: its status at now and the counts of
// its last report. A telemetry feed maps no graph records: its counts are
// the edges it stored and the endpoint nodes and links it wrote for them.
func newFeedRow(f store.FeedState, now time.Time) feedRow {
	r := feedRow{FeedState: f, Status: ingest.FeedStatus(f, now)}
	var rep engine.Report
	if len(f.LastReport) > 0 && json.Unmarshal(f.LastReport, &rep) == nil {
		r.Records, r.Nodes, r.Relations, r.Dropped = rep.RecordsRead, rep.Nodes, rep.Relations, rep.DroppedTotal()
		r.PartsDropped = rep.PartsDroppedTotal()
		if t := rep.Telemetry; t != nil {
			r.Edges = t.Edges
			r.Nodes += t.Nodes.NodesInserted + t.Nodes.NodesMerged + t.Nodes.NodesUnchanged
			r.Relations += t.Nodes.RelationsInserted + t.Nodes.RelationsMerged + t.Nodes.RelationsPending
		}
	}
	return r
}

// writeFeedsTable writes the feeds as a table, one line each.
func writeFeedsTable(w io.Writer, rows []feedRow) error {
	if len(rows) == 0 {
		_, err := fmt.Fprintln(w, "no feeds loaded yet (intel ingest stix|misp|feeds|telemetry)")
		return err
	}
	tw := newTable(w)
	tw.row("FEED", "FORMAT", "STATUS", "UPDATED", "LAST LOADED", "RECORDS", "NODES", "RELATIONS", "DROPPED", "DETAIL")
	for _, r := range rows {
		tw.row(r.Name, r.Format, r.Status, when(&r.UpdatedAt), when(r.LastLoadedAt),
			r.Records, r.Nodes, r.Relations, droppedCell(r), feedDetail(r))
	}
	return tw.flush("feeds table")
}

// droppedCell is the DROPPED column: the records dropped, and the parts
// of loaded records dropped when there are any ("0 (+2 parts)").
func droppedCell(r feedRow) string {
	if r.PartsDropped == 0 {
		return fmt.Sprint(r.Dropped)
	}
	return fmt.Sprintf("%d (+%d parts)", r.Dropped, r.PartsDropped)
}

// feedDetail is the last column of intel feeds: the process of a running
// or stale load, or the last error.
func feedDetail(r feedRow) string {
	switch r.Status {
	case ingest.StatusRunning, ingest.StatusStale:
		d := "process unknown"
		if r.RunningPID > 0 {
			d = fmt.Sprintf("pid %d on %s", r.RunningPID, r.RunningHost)
		}
		if r.StartedAt != nil {
			d += ", started " + when(r.StartedAt)
		}
		if r.Status == ingest.StatusStale {
			d += ": the process is gone"
		}
		return d
	}
	if m := ingest.MappingVersion(r.Format); m != r.Mapping && r.LastLoadedAt != nil &&
		(r.Status == ingest.StatusOK || r.Status == ingest.StatusSkipped) {
		by := "an intel that recorded no mapping"
		if r.Mapping != "" {
			by = "mapping " + r.Mapping
		}
		return fmt.Sprintf("loaded by %s (this intel maps %s %s): the next run loads it again", by, r.Format, m)
	}
	if r.LastError == "" {
		if r.Edges > 0 {
			return fmt.Sprintf("%d telemetry edges", r.Edges)
		}
		return ""
	}
	const maxDetail = 100
	e := oneLine(r.LastError)
	if runes := []rune(e); len(runes) > maxDetail {
		e = string(runes[:maxDetail-1]) + "…"
	}
	return e
}

// when formats a time for a table, "-" when there is none.
func when(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}
