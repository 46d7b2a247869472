package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/scaleout"
	"github.com/ransomeye/intel/store"
)

func (a *app) citusCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "citus",
		Short: "Run on a Citus cluster (distribute the schema)",
		Long: `citus prepares a database of a Citus coordinator for intel: the same schema,
library and CLI then run on a coordinator and its workers. See docs/scale.md.`,
		Example: `  intel migrate up && intel citus distribute`,
	}
	distribute := &cobra.Command{
		Use:         "distribute",
		Annotations: cutNote("the tables shown distributed are; run it again for the rest (it changes nothing done)"),
		Short:       "Distribute the migrated schema over the Citus workers (idempotent)",
		Long: `distribute places the tables of the migrated schema on the Citus cluster:
telemetry_edges is hash-distributed by agent_id over the workers (its day
partitions with it); the intelligence graph (nodes, relations, aliases, feeds)
stays on the coordinator. Run it once on the coordinator after intel migrate
up; a database loaded before has its telemetry moved to the workers, with
no copy left on the coordinator. Running it again changes nothing. It fails on a server
without the citus extension. On Citus, intel related walks level by level
(--engine levels). docs/scale.md says why each table is where it is.`,
		Example: `  intel --database-url postgres://intel@coordinator:5432/intel citus distribute`,
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runCitusDistribute(cmd.Context())
		},
	}
	return group(cmd, distribute)
}

func (a *app) runCitusDistribute(ctx context.Context) error {
	pool, err := a.openPool(ctx)
	if err != nil {
		return err
	}
	if err := a.checkSchema(ctx, pool); err != nil {
		return err
	}
	done, err := scaleout.Distribute(ctx, pool)
	if errors.Is(err, scaleout.ErrNotCitus) {
		return fmt.Errorf("citus distribute: %w", err)
	}
	w := newTablePrinter(a.stdout)
	w.println("TABLE\tPLACEMENT\tNOW\tWHY")
	for _, st := range done {
		place := string(st.Method)
		if st.Column != "" {
			place += " by " + st.Column
		}
		now := "unchanged"
		if st.Done {
			now = "distributed"
		}
		w.printf("%s\t%s\t%s\t%s\n", st.Name, place, now, st.Why)
	}
	if ferr := w.flush(); err == nil {
		err = ferr
	}
	return err
}

// Walk engines of intel related --engine.
const (
	engineAuto      = "auto"
	engineRecursive = "recursive"
	engineLevels    = "levels"
)

// findRelated walks with the engine asked for; auto picks levels on Citus
// (which refuses the recursive query) and recursive elsewhere.
func (a *app) findRelated(ctx context.Context, s *store.Store, start uuid.UUID, opts graph.RelatedOptions, engine string) (*graph.Neighbourhood, error) {
	if engine == engineAuto {
		engine = engineRecursive
		citus, err := scaleout.IsCitus(ctx, a.pool)
		if err != nil {
			return nil, err
		}
		if citus {
			engine = engineLevels
		}
	}
	if engine == engineLevels {
		return s.FindRelatedLevels(ctx, start, opts)
	}
	return s.FindRelated(ctx, start, opts)
}
