package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/store"

	"github.com/spf13/cobra"
)

// showOptions are the argument and flags of intel show.
type showOptions struct {
	node   string
	format string
}

func (a *app) showCommand() *cobra.Command {
	var o showOptions
	cmd := &cobra.Command{
		Use:         "show <node id | source id | kind:key | kind:alias | kind:external-id>",
		Annotations: readOnlyCut,
		Short:       "Show a node: names, aliases, external ids, sources, lifecycle, degree",
		Long: `show prints one node: its kind, key, name and id; the other names its
sources give it (aliases, synonyms); its external ids (ATT&CK, CVE, ...); the
source ids feeds used for it (STIX ids, MISP uuids) with the newest version
stored of each (STIX modified, a MISP event's timestamp); the feeds that reported
it; whether it is revoked (and by what) or deprecated; and how many relations
it has per relation class (intelligence, containment, provenance, lifecycle)
(and, when sighted, how many times, in how many sightings and when)
and per type, and per type the links from it that only older versions of
its objects state (superseded: kept, not walked); and the names it claims that other entities with ids of their
own claim too (ambiguous aliases, never merged), or that only withdrawn
(revoked or deprecated) entities claim besides it (theirs do not count: the
names are this node's).

A relationship id a feed gave (relationship--…, a MISP object reference's
uuid as misp--<uuid>) shows that relationship and the nodes it links.

The node is named as for related: a node id, a source id with or without its
type prefix (a bare MISP uuid), kind:key, kind:alias or kind:external-id. A
name that several nodes share is refused with the candidates listed (exit
code 5; a reference naming nothing exits 4). A revoked object (ATT&CK's T1086) resolves to its replacement (T1059.001),
following chains; the output says so ("T1086 revoked by T1059.001").`,
		Example: `  intel show intrusion-set:apt28
  intel show attack-pattern:T1059.001 --format json
  intel show relationship--2f7a9c1e-55b3-4d0a-9c0e-7d1b3a5e9f10
  intel show 5a1e4a7f-0c94-4b6e-9b35-41a2c0a80164`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.node = args[0]
			return a.runShow(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.format, "format", "table", "table or json")
	return cmd
}

func (a *app) runShow(ctx context.Context, o showOptions) error {
	if err := formatFlag(o.format, "table", "json"); err != nil {
		return err
	}
	if err := checkNodeRef(o.node); err != nil {
		return err
	}
	st, err := a.openReader(ctx)
	if err != nil {
		return err
	}
	r, err := a.resolve(ctx, st, o.node)
	if errors.Is(err, store.ErrNotFound) {
		// Not a node: maybe a relationship a feed named (relation_ids).
		rec, rerr := st.RelationByID(ctx, o.node)
		if errors.Is(rerr, store.ErrNotFound) {
			return err
		}
		if rerr != nil {
			return rerr
		}
		if o.format == "json" {
			return writeJSON(a.stdout, rec)
		}
		return writeRelationRecord(a.stdout, rec)
	}
	if err != nil {
		return err
	}
	d, err := st.NodeDetails(ctx, r.Node.ID)
	if err != nil {
		return err
	}
	d.ResolvedFrom, d.Note = r.Replaced, r.Note()
	var w io.Writer = a.stdout
	if o.format == "json" {
		return writeJSON(w, d)
	}
	return writeNodeDetails(w, d)
}

// resolve resolves a node reference for a command (store.Resolve) and,
// when it named a revoked object or a node keyed by its name that stands
// for an entity, says on stderr which: "intel: T1086 revoked by T1059.001;
// using the replacement …".
// checkNodeRef refuses an empty node reference as a usage error (exit 2,
// as search does with empty text): it was looked up and "not found", exit
// 4, as if the graph lacked a node the command line never named.
func checkNodeRef(ref string) error {
	if strings.TrimSpace(ref) == "" {
		return usagef("the node reference is empty: name a node by its id, a source id, kind:key, kind:alias or kind:external-id")
	}
	return nil
}

func (a *app) resolve(ctx context.Context, st *store.Store, ref string) (graph.Resolution, error) {
	r, err := st.Resolve(ctx, ref)
	if err != nil {
		return r, lookupFailed(err)
	}
	if note := r.Note(); note != "" {
		// A note on stderr that cannot be written does not fail the command.
		what := "the replacement"
		if r.SameAs != nil {
			what = "the entity"
		}
		_, _ = fmt.Fprintf(a.stderr, "intel: %s; using %s %s [%s]\n", note, what, r.Node.Brief().Label(), r.Node.ID)
	}
	return r, nil
}
