// Command cairn is the Cairn control plane (serve) and its command-line
// client (audit, jobs, approvals, policy, keys, worker, bench), and the
// agent hooks (hook claude-code).
//
// Each command is built by a constructor that binds its flags into a typed
// options struct; the struct's Validate checks them and its run method
// does the work (ADR 0050). There are no package-level commands or flag
// variables: newRootCmd builds a fresh tree.
package main

import (
	"errors"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		var code exitCode
		if errors.As(err, &code) {
			os.Exit(int(code))
		}
		os.Exit(1)
	}
}

// newRootCmd builds the whole command tree.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "cairn",
		Short: "Cairn: a control plane for the actions of autonomous AI agents",
		Long: `Cairn decides every agent action against a content-addressed policy snapshot,
gates it on human approval where policy says so, hands it to a worker, checks
its output, and records every step as tamper-evident evidence.`,
		SilenceUsage: true,
		// Flags the command line did not set take their environment
		// variable (CAIRN_*), before any command validates its options.
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return applyEnv(cmd.Flags())
		},
	}
	g := &clientOptions{}
	g.bind(root.PersistentFlags())
	root.AddCommand(
		newServeCmd(),
		newMigrateCmd(),
		newCopyCmd(),
		newBenchCmd(g),
		newAuditCmd(g),
		newJobsCmd(g),
		newApprovalsCmd(g),
		newPolicyCmd(g),
		newKeysCmd(g),
		newWorkerCmd(g),
		newWorkflowsCmd(g),
		newRunsCmd(g),
		newExportCmd(g),
		newVerifyCmd(),
		newWitnessCmd(g),
		newForwardCmd(g),
		newHookCmd(g),
		newMCPCmd(g),
	)
	return root
}
