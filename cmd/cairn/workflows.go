package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/client"
	"github.com/cairnhq/cairn/internal/workflow"
	"github.com/spf13/cobra"
)

var workflowsCmd = clientGroup(&cobra.Command{
	Use:   "workflows",
	Short: "Register and read workflow definitions",
})

var workflowsRegisterCmd = &cobra.Command{
	Use:   "register FILE|-",
	Short: "Register a workflow definition (YAML or JSON)",
	Long: `Register a workflow definition (POST /api/v1/workflows). It is checked
first: a problem is reported with its field and line, and nothing is stored.
The id is content-addressed (wf:<tenant>:<name>#sha256:<sha256 of the file>);
registering the same file again returns the same workflow.`,
	Args: cobra.ExactArgs(1),
	RunE: run(func(cmd *cobra.Command, args []string) error {
		var text []byte
		var err error
		if args[0] == "-" {
			text, err = io.ReadAll(io.LimitReader(cmd.InOrStdin(), workflow.MaxBytes+1))
		} else {
			text, err = os.ReadFile(args[0])
		}
		if err != nil {
			return err
		}
		c, err := newClient()
		if err != nil {
			return err
		}
		ctx, cancel := commandContext(cmd, true)
		defer cancel()
		w, err := c.RegisterWorkflow(ctx, string(text))
		if err != nil {
			return err
		}
		if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
			return printJSON(cmd.OutOrStdout(), w)
		}
		_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s  version %d  steps %s\n", w.WorkflowID, w.Version, strings.Join(w.Steps, ","))
		return err
	}),
}

var workflowsListCmd = &cobra.Command{
	Use:   "list",
	Short: "List registered workflows, newest first",
	Args:  cobra.NoArgs,
	RunE: run(func(cmd *cobra.Command, args []string) error {
		name, _ := cmd.Flags().GetString("name")
		c, err := newClient()
		if err != nil {
			return err
		}
		ctx, cancel := commandContext(cmd, true)
		defer cancel()
		l, err := c.ListWorkflows(ctx, client.WorkflowFilter{Name: name, Page: client.Page{Limit: 100}})
		if err != nil {
			return err
		}
		if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
			return printJSON(cmd.OutOrStdout(), l)
		}
		tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "WORKFLOW_ID\tVERSION\tSTEPS\tREGISTERED\tBY")
		for _, w := range l.Items {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\n", clean(w.WorkflowID), w.Version, len(w.Steps), fmtTime(w.CreatedAt), clean(w.CreatedBy))
		}
		return tw.Flush()
	}),
}

var runsCmd = clientGroup(&cobra.Command{
	Use:   "runs",
	Short: "Start, list, cancel and rerun workflow runs; approve their gates",
})

var runsStartCmd = &cobra.Command{
	Use:   "start WORKFLOW",
	Short: "Start a run of a workflow (by id, or by name for its latest version)",
	Args:  cobra.ExactArgs(1),
	RunE: run(func(cmd *cobra.Command, args []string) error {
		f := cmd.Flags()
		req := cairn.StartRunRequest{WorkflowID: args[0]}
		req.RunID, _ = f.GetString("run-id")
		in, _ := f.GetString("input")
		var err error
		if req.Input, err = readJSONArg("input", in, cmd.InOrStdin()); err != nil {
			return err
		}
		c, err := newClient()
		if err != nil {
			return err
		}
		ctx, cancel := commandContext(cmd, true)
		defer cancel()
		r, err := c.StartRun(ctx, req)
		if err != nil {
			return err
		}
		return printRunSummary(cmd, r)
	}),
}

var runsListCmd = &cobra.Command{
	Use:   "list",
	Short: "List runs, newest first",
	Args:  cobra.NoArgs,
	RunE: run(func(cmd *cobra.Command, args []string) error {
		var f client.RunFilter
		f.WorkflowID, _ = cmd.Flags().GetString("workflow")
		f.Status, _ = cmd.Flags().GetString("status")
		f.Limit = 100
		c, err := newClient()
		if err != nil {
			return err
		}
		ctx, cancel := commandContext(cmd, true)
		defer cancel()
		l, err := c.ListRuns(ctx, f)
		if err != nil {
			return err
		}
		if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
			return printJSON(cmd.OutOrStdout(), l)
		}
		tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "RUN_ID\tSTATUS\tWORKFLOW\tSTARTED_BY\tCREATED")
		for _, r := range l.Items {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", clean(r.RunID), orDash(r.Status), orDash(r.WorkflowID), orDash(r.StartedBy), fmtTime(r.CreatedAt))
		}
		return tw.Flush()
	}),
}

var runsCancelCmd = &cobra.Command{
	Use:   "cancel RUN_ID",
	Short: "Cancel a workflow run",
	Args:  cobra.ExactArgs(1),
	RunE: run(func(cmd *cobra.Command, args []string) error {
		reason, _ := cmd.Flags().GetString("reason")
		c, err := newClient()
		if err != nil {
			return err
		}
		ctx, cancel := commandContext(cmd, true)
		defer cancel()
		r, err := c.CancelRun(ctx, args[0], reason)
		if err != nil {
			return err
		}
		return printRunSummary(cmd, r)
	}),
}

var runsRerunCmd = &cobra.Command{
	Use:   "rerun RUN_ID",
	Short: "Start a new run linked to a finished one, from its failed step (or --from-step)",
	Args:  cobra.ExactArgs(1),
	RunE: run(func(cmd *cobra.Command, args []string) error {
		var req cairn.RerunRequest
		req.FromStep, _ = cmd.Flags().GetString("from-step")
		req.RunID, _ = cmd.Flags().GetString("run-id")
		c, err := newClient()
		if err != nil {
			return err
		}
		ctx, cancel := commandContext(cmd, true)
		defer cancel()
		r, err := c.RerunRun(ctx, args[0], req)
		if err != nil {
			return err
		}
		return printRunSummary(cmd, r)
	}),
}

func gateVoteCmd(approve bool) *cobra.Command {
	verb := "reject"
	if approve {
		verb = "approve"
	}
	cmd := &cobra.Command{
		Use:   verb + " RUN_ID STEP_ID --job-hash HASH",
		Short: strings.ToUpper(verb[:1]) + verb[1:] + " a step's gate; --job-hash is the gate's job_hash you reviewed",
		Args:  cobra.ExactArgs(2),
		RunE: run(func(cmd *cobra.Command, args []string) error {
			var req cairn.GateVoteRequest
			req.JobHash, _ = cmd.Flags().GetString("job-hash")
			req.Comment, _ = cmd.Flags().GetString("comment")
			if req.JobHash == "" {
				return usageError("--job-hash is required: the gate's job_hash (cairn audit run %s shows it)", args[0])
			}
			c, err := newClient()
			if err != nil {
				return err
			}
			ctx, cancel := commandContext(cmd, true)
			defer cancel()
			var r *cairn.Run
			if approve {
				r, err = c.ApproveGate(ctx, args[0], args[1], req)
			} else {
				r, err = c.RejectGate(ctx, args[0], args[1], req)
			}
			if err != nil {
				return err
			}
			return printRunSummary(cmd, r)
		}),
	}
	cmd.Flags().String("job-hash", "", "the gate's job_hash, as reviewed")
	cmd.Flags().String("comment", "", "comment recorded with the vote")
	cmd.Flags().Bool("json", false, "print the run as JSON")
	return cmd
}

func printRunSummary(cmd *cobra.Command, r *cairn.Run) error {
	if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
		return printJSON(cmd.OutOrStdout(), r)
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "%s  %s", clean(r.RunID), orDash(r.Status))
	if r.Reason != "" {
		fmt.Fprintf(w, "  (%s)", clean(r.Reason))
	}
	fmt.Fprintln(w)
	for _, st := range r.Steps {
		fmt.Fprintf(w, "  %-24s %s\n", clean(st.StepID), st.Status)
	}
	return nil
}

func init() {
	workflowsRegisterCmd.Flags().Bool("json", false, "print the workflow as JSON")
	workflowsListCmd.Flags().Bool("json", false, "print the list as JSON")
	workflowsListCmd.Flags().String("name", "", "only this workflow name's versions")
	workflowsCmd.AddCommand(workflowsRegisterCmd, workflowsListCmd)
	rootCmd.AddCommand(workflowsCmd)

	runsStartCmd.Flags().String("input", "", "run input: JSON inline, @FILE or - for stdin")
	runsStartCmd.Flags().String("run-id", "", "run id (makes the start idempotent)")
	runsListCmd.Flags().String("workflow", "", "only runs of this workflow id")
	runsListCmd.Flags().String("status", "", "only runs in this status")
	runsCancelCmd.Flags().String("reason", "", "why the run is cancelled")
	runsRerunCmd.Flags().String("from-step", "", "step to rerun from (default: the first failed step)")
	runsRerunCmd.Flags().String("run-id", "", "the new run's id")
	for _, c := range []*cobra.Command{runsStartCmd, runsListCmd, runsCancelCmd, runsRerunCmd} {
		c.Flags().Bool("json", false, "print JSON")
	}
	runsCmd.AddCommand(runsStartCmd, runsListCmd, runsCancelCmd, runsRerunCmd, gateVoteCmd(true), gateVoteCmd(false))
	rootCmd.AddCommand(runsCmd)
}
