package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ransomeye/intel/scaleout"
	"github.com/ransomeye/intel/store"
)

// citusBudgetError is the cause of the end of a command that only read,
// cut when its --citus-budget was spent (armReadBudget).
type citusBudgetError struct {
	what   string // the command: "intel related"
	budget time.Duration
}

func (e *citusBudgetError) Error() string {
	return fmt.Sprintf("the Citus cluster did not answer %s within --citus-budget %s", e.what, e.budget)
}

// readOnlyCommand reports whether cmd only reads (its cut annotation says
// so).
func readOnlyCommand(cmd *cobra.Command) bool {
	return cmd.Annotations[cutAnnotation] == readOnlyCut[cutAnnotation]
}

// Bounds of the check of the workers once a budget is spent: a frozen
// worker costs silentWorkerWait, and the check as a whole no more than
// silentWorkersCheck.
const (
	silentWorkerWait   = 3 * time.Second
	silentWorkersCheck = 15 * time.Second
)

// explainCitusBudget turns the error of a command that a --citus-budget
// cut (a read's, whose context it ended, or a write's that wraps
// store.ErrRetryBudget) into one that says so and names the workers that
// do not answer the coordinator, and what to do; other errors are
// returned as they are.
func (a *app) explainCitusBudget(err error) error {
	read := a.readBudget.Load()
	if read == nil && !errors.Is(err, store.ErrRetryBudget) {
		return err
	}
	note := a.silentWorkersNote() + "; or give a longer --citus-budget (0: no limit)"
	if read != nil {
		return &budgetCutError{msg: read.Error() + ": " + note + "; it only reads: nothing is left half done",
			errs: []error{read, err}}
	}
	return &budgetCutError{msg: err.Error() + ": " + note, errs: []error{err}}
}

// budgetCutError is a command cut by its --citus-budget, saying so once:
// a read's (its budget and its own error, context canceled, in the chain)
// or a write's (its error, which wraps store.ErrRetryBudget).
type budgetCutError struct {
	msg  string
	errs []error
}

func (e *budgetCutError) Error() string {
	if len(e.errs) > 1 {
		return e.msg + " (the read in flight: " + e.errs[1].Error() + ")"
	}
	return e.msg
}
func (e *budgetCutError) Unwrap() []error { return e.errs }

// silentWorkersNote says which workers do not answer a new connection
// from the coordinator (scaleout.SilentWorkers), and what to do.
func (a *app) silentWorkersNote() string {
	if a.pool == nil {
		return "the workers could not be checked"
	}
	ctx, cancel := context.WithTimeout(context.Background(), silentWorkersCheck)
	defer cancel()
	silent, err := scaleout.SilentWorkers(ctx, a.pool, silentWorkerWait)
	switch {
	case err != nil:
		return fmt.Sprintf("the workers could not be checked (%v)", err)
	case len(silent) == 0:
		return "every worker answers a new connection from the coordinator now (the wait was elsewhere: " +
			"a lock another session holds, a slow statement, or a worker that came back)"
	case len(silent) == 1:
		return fmt.Sprintf("worker %s does not answer the coordinator (a new connection waited %s): its host hung, "+
			"its server stopped or the network between them is cut; bring it back, or take it out of the cluster "+
			"(SELECT citus_disable_node(…))", silent[0], silentWorkerWait)
	}
	return fmt.Sprintf("workers %s do not answer the coordinator (a new connection waited %s each): their hosts hung, "+
		"their servers stopped or the network is cut; bring them back, or take them out of the cluster "+
		"(SELECT citus_disable_node(…))", strings.Join(silent, ", "), silentWorkerWait)
}
