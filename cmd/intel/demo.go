package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ransomeye/intel/db/migrations"
	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest"
	"github.com/ransomeye/intel/ingest/engine"
	"github.com/ransomeye/intel/ingest/telemetry"
	"github.com/ransomeye/intel/partman"

	"github.com/jackc/pgx/v5/stdlib"
)

// demoSighting is a file an agent wrote whose hash a demo feed names.
type demoSighting struct {
	agent, process, file, sha256 string
}

// The demo's endpoint story: two agents write files whose SHA-256 the demo
// feeds know (a HelloKitty indicator in the Unit 42 STIX playbook, a Zebrocy
// dropper in the ESET MISP event); others do ordinary things.
var demoHits = []demoSighting{
	{"ws-finance-07", "powershell.exe", `C:\Users\jdoe\AppData\Local\Temp\invoice_2026.exe`,
		"b4f90cff1e3900a3906c3b74f307498760462d719c31d008fc01937f5400fb85"},
	{"ws-hr-02", "outlook.exe", "AcrobatReader.exe",
		"aeaca9985b50ebe1db0fcda9b3fbf02275d17737b748963b63c14da3e988d801"},
}

// demoOptions are the flags of intel demo.
type demoOptions struct {
	feedsDir string // directory of the sample feeds
	dotPath  string // where to write the DOT graph
}

func (a *app) demoCommand() *cobra.Command {
	var o demoOptions
	cmd := &cobra.Command{
		Use:         "demo",
		Annotations: cutNote("run it again: what it loaded is kept, unchanged feeds are skipped"),
		Short:       "Run the whole product end to end on real sample feeds",
		Long: `demo shows the main job on the local PostgreSQL (or --database-url):
it migrates the schema, makes the day partitions, loads the sample feeds in
testdata/demo (a Unit 42 STIX playbook and an ESET MISP event; see
testdata/demo/SOURCES.md), writes endpoint telemetry for a few agents, one of
which drops a file whose hash a feed knows, and then traces that file to the
intrusion set behind it, printing the tree and writing a Graphviz DOT file.
It can be run again: unchanged feeds are skipped and telemetry is appended.`,
		Example: "  make demo\n  intel demo --dot /tmp/related.dot && dot -Tsvg /tmp/related.dot > related.svg",
		Args:    noArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return a.runDemo(cmd.Context(), o) },
	}
	cmd.Flags().StringVar(&o.feedsDir, "feeds", filepath.Join("testdata", "demo"), "directory of the sample feeds")
	cmd.Flags().StringVar(&o.dotPath, "dot", "demo-related.dot", "where to write the DOT graph of the result")
	return cmd
}

// runDemo runs the whole product end to end on the sample feeds.
func (a *app) runDemo(ctx context.Context, o demoOptions) error {
	feedsDir, dotPath := o.feedsDir, o.dotPath
	start := time.Now()
	out := a.stdout
	step := func(format string, args ...any) { out.printf("\n==> "+format+"\n", args...) }

	files := []ingest.Feed{
		{Name: "unit42-hellokitty", Path: filepath.Join(feedsDir, "hellokitty-ransomware.json"), Format: ingest.FormatSTIX},
		{Name: "eset-zebrocy", Path: filepath.Join(feedsDir, "sednit_2018-11-20_Zebrocy.json"), Format: ingest.FormatMISP},
	}
	for _, f := range files {
		if _, err := os.Stat(f.Path); err != nil {
			return fmt.Errorf("demo feed %s not found (run from the repository root, or pass --feeds DIR): %w", f.Path, err)
		}
	}

	step("database")
	pool, err := a.openPool(ctx)
	if err != nil {
		return err
	}
	where := "the database at --database-url"
	if a.local {
		where = "the local PostgreSQL (intel local status)"
	}
	out.printf("using %s\n", where)

	step("migrate (goose, embedded migrations)")
	db := stdlib.OpenDBFromPool(pool)
	p, err := migrations.NewProvider(db)
	if err != nil {
		db.Close()
		return err
	}
	res, err := migrateUp(ctx, p, a.log, a.serverStartWait)
	db.Close()
	if err != nil {
		return fmt.Errorf("migrate up: %w", err)
	}
	if err := a.printResults("table", res); err != nil {
		return err
	}

	step("partitions: today-1 through today+6 (UTC)")
	ens, err := partman.Ensure(ctx, pool, partman.Options{Logger: a.quietLog()})
	if err != nil {
		return err
	}
	out.printf("%d day partitions in place, %d made now\n", len(ens.Days), ens.Created())

	step("load feeds (%s)", feedsDir)
	st, err := a.newStore(ctx, pool)
	if err != nil {
		return err
	}
	results, err := ingest.Run(ctx, st, files, ingest.Options{Concurrency: 2, Logger: a.log})
	if perr := a.printFeedResults("table", results); perr != nil {
		return perr
	}
	if err != nil {
		return err
	}

	step("endpoint telemetry from %d agents", len(demoHits)+2)
	var lines strings.Builder
	now := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	emit := func(v map[string]any) {
		b, _ := json.Marshal(v)
		lines.Write(b)
		lines.WriteByte('\n')
	}
	for i, h := range demoHits {
		proc := map[string]any{"kind": "process", "key": h.agent + ":" + h.process, "name": h.process}
		at := now.Add(time.Duration(i) * time.Minute)
		emit(map[string]any{"src": proc, "relation": "wrote", "agent_id": h.agent, "observed_at": at.Format(time.RFC3339),
			"dst": map[string]any{"kind": "file", "name": h.file, "hashes": map[string]string{"SHA-256": h.sha256}}})
		emit(map[string]any{"src": proc, "relation": "connected-to", "agent_id": h.agent,
			"observed_at": at.Add(30 * time.Second).Format(time.RFC3339), "dst": "ipv4-addr:203.0.113.66"})
	}
	for _, agent := range []string{"ws-dev-11", "srv-db-01"} {
		proc := map[string]any{"kind": "process", "key": agent + ":chrome.exe", "name": "chrome.exe"}
		for j := 0; j < 5; j++ {
			emit(map[string]any{"src": proc, "relation": "resolved", "agent_id": agent,
				"observed_at": now.Add(time.Duration(j) * time.Minute).Format(time.RFC3339),
				"dst":         fmt.Sprintf("domain-name:cdn%d.example.com", j)})
		}
	}
	trep, err := telemetry.Load(ctx, strings.NewReader(lines.String()), st, engine.Options{Feed: "demo-edr", Logger: a.log})
	if err != nil {
		return err
	}
	out.printf("%d edges written (COPY), %d dropped\n", trep.Telemetry.Edges, trep.DroppedTotal())

	hit := demoHits[0]
	file, _, _ := graph.FileNode(map[string]string{"SHA-256": hit.sha256}, hit.file)
	step("what is related to %s seen on %s? (depth 4, one query)", hit.file, hit.agent)
	nb, err := st.FindRelated(ctx, file.ID, graph.RelatedOptions{Depth: 4})
	if err != nil {
		return err
	}
	if err := writeTree(out, nb); err != nil {
		return err
	}

	step("from each flagged file to the actor behind it")
	for i, h := range demoHits {
		hb := nb
		if i > 0 {
			f, _, _ := graph.FileNode(map[string]string{"SHA-256": h.sha256}, h.file)
			if hb, err = st.FindRelated(ctx, f.ID, graph.RelatedOptions{Depth: 4}); err != nil {
				return err
			}
		}
		path := actorPath(hb)
		if path == "" {
			return fmt.Errorf("demo: no intrusion set or threat actor within 4 hops of %s", h.file)
		}
		out.printf("%s on %s:\n  %s\n", h.file, h.agent, path)
	}
	if err := writeDOTFile(dotPath, nb); err != nil {
		return err
	}
	out.printf("\nDOT graph written to %s (render: dot -Tsvg %s > related.svg)\n", dotPath, dotPath)
	out.printf("demo finished in %s; try:\n  intel related hash:SHA-256:%s --depth 3\n", time.Since(start).Round(time.Millisecond), hit.sha256)
	out.printf("  intel related %s --paths-to intrusion-set   # the actor behind the file, by which chain\n", file.ID)
	return nil
}

// actorPath renders the first path from the start to an intrusion set or
// threat actor, or "".
func actorPath(nb *graph.Neighbourhood) string {
	actors := graph.PathKinds([]graph.Kind{graph.KindIntrusionSet})
	for _, n := range nb.Nodes {
		if !slices.Contains(actors, n.Kind) {
			continue
		}
		var parts []string
		for i, s := range nb.PathTo(n.ID) {
			if i > 0 {
				parts = append(parts, stepArrow(s.Via))
			}
			parts = append(parts, nodeLabel(s.Node))
		}
		return strings.Join(parts, " ")
	}
	return ""
}

func writeDOTFile(path string, nb *graph.Neighbourhood) error {
	err := writeFile(path, func(w io.Writer) error { return writeDOT(w, nb) })
	if err != nil {
		return fmt.Errorf("write DOT file: %w", err)
	}
	return nil
}
