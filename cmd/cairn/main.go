// Command cairn is the Cairn control plane (serve) and its command-line
// client (audit, jobs, approvals, policy, keys, worker, bench), and the
// agent hooks (hook claude-code).
package main

import (
	"errors"
	"os"

	"github.com/spf13/cobra"
)

var rootCmd = &cobra.Command{
	Use:   "cairn",
	Short: "Cairn: a control plane for the actions of autonomous AI agents",
	Long: `Cairn decides every agent action against a content-addressed policy snapshot,
gates it on human approval where policy says so, hands it to a worker, checks
its output, and records every step as tamper-evident evidence.`,
	SilenceUsage: true,
}

func main() {
	if err := rootCmd.Execute(); err != nil {
		var code exitCode
		if errors.As(err, &code) {
			os.Exit(int(code))
		}
		os.Exit(1)
	}
}
