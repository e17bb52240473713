package main

import (
	"context"
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

func newWorkflowsCmd(g *clientOptions) *cobra.Command {
	cmd := clientGroup(&cobra.Command{
		Use:   "workflows",
		Short: "Register and read workflow definitions",
	})
	cmd.AddCommand(newWorkflowsRegisterCmd(g), newWorkflowsListCmd(g))
	return cmd
}

func newWorkflowsRegisterCmd(g *clientOptions) *cobra.Command {
	o := &jsonOption{g: g}
	cmd := &cobra.Command{
		Use:   "register FILE|-",
		Short: "Register a workflow definition (YAML or JSON)",
		Long: `Register a workflow definition (POST /api/v1/workflows). It is checked
first: a problem is reported with its field and line, and nothing is stored.
The id is content-addressed (wf:<tenant>:<name>#sha256:<sha256 of the file>);
registering the same file again returns the same workflow.`,
		Args: cobra.ExactArgs(1),
		RunE: g.run(func(cmd *cobra.Command, args []string) error { return o.registerWorkflow(cmd, args[0]) }),
	}
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print the workflow as JSON")
	return cmd
}

func (o *jsonOption) registerWorkflow(cmd *cobra.Command, path string) error {
	var text []byte
	var err error
	if path == "-" {
		text, err = io.ReadAll(io.LimitReader(cmd.InOrStdin(), workflow.MaxBytes+1))
	} else {
		text, err = os.ReadFile(path)
	}
	if err != nil {
		return err
	}
	c, ctx, cancel, err := o.g.session(cmd, true)
	if err != nil {
		return err
	}
	defer cancel()
	w, err := c.RegisterWorkflow(ctx, string(text))
	if err != nil {
		return err
	}
	if o.JSON {
		return printJSON(cmd.OutOrStdout(), w)
	}
	_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s  version %d  steps %s\n", w.WorkflowID, w.Version, strings.Join(w.Steps, ","))
	return err
}

// workflowsListOptions are the flags of cairn workflows list.
type workflowsListOptions struct {
	Name string
	JSON bool
	g    *clientOptions
}

func newWorkflowsListCmd(g *clientOptions) *cobra.Command {
	o := &workflowsListOptions{g: g}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List registered workflows, newest first",
		Args:  cobra.NoArgs,
		RunE:  g.run(func(cmd *cobra.Command, _ []string) error { return o.run(cmd) }),
	}
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print the list as JSON")
	cmd.Flags().StringVar(&o.Name, "name", "", "only this workflow name's versions")
	return cmd
}

func (o *workflowsListOptions) run(cmd *cobra.Command) error {
	c, ctx, cancel, err := o.g.session(cmd, true)
	if err != nil {
		return err
	}
	defer cancel()
	l, err := c.ListWorkflows(ctx, client.WorkflowFilter{Name: o.Name, Page: client.Page{Limit: 100}})
	if err != nil {
		return err
	}
	if o.JSON {
		return printJSON(cmd.OutOrStdout(), l)
	}
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WORKFLOW_ID\tVERSION\tSTEPS\tREGISTERED\tBY")
	for _, w := range l.Items {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\n", clean(w.WorkflowID), w.Version, len(w.Steps), fmtTime(w.CreatedAt), clean(w.CreatedBy))
	}
	return tw.Flush()
}

func newRunsCmd(g *clientOptions) *cobra.Command {
	cmd := clientGroup(&cobra.Command{
		Use:   "runs",
		Short: "Start, list, cancel and rerun workflow runs; approve their gates",
	})
	cmd.AddCommand(newRunsStartCmd(g), newRunsListCmd(g), newRunsCancelCmd(g), newRunsRerunCmd(g), newGateVoteCmd(g, true), newGateVoteCmd(g, false))
	return cmd
}

// runOptions are the flags of the runs commands; each binds those it has.
type runOptions struct {
	Input, RunID, Workflow, Status, Reason, FromStep, JobHash, Comment string
	JSON                                                               bool
	g                                                                  *clientOptions
}

// do runs call with a client and the command's context and prints the run
// it answers.
func (o *runOptions) do(cmd *cobra.Command, call func(context.Context, *client.Client) (*cairn.Run, error)) error {
	c, ctx, cancel, err := o.g.session(cmd, true)
	if err != nil {
		return err
	}
	defer cancel()
	r, err := call(ctx, c)
	if err != nil {
		return err
	}
	return o.printRun(cmd, r)
}

func newRunsStartCmd(g *clientOptions) *cobra.Command {
	o := &runOptions{g: g}
	cmd := &cobra.Command{
		Use:   "start WORKFLOW",
		Short: "Start a run of a workflow (by id, or by name for its latest version)",
		Args:  cobra.ExactArgs(1),
		RunE: g.run(func(cmd *cobra.Command, args []string) error {
			req := cairn.StartRunRequest{WorkflowID: args[0], RunID: o.RunID}
			var err error
			if req.Input, err = readJSONArg("input", o.Input, cmd.InOrStdin()); err != nil {
				return err
			}
			return o.do(cmd, func(ctx context.Context, c *client.Client) (*cairn.Run, error) { return c.StartRun(ctx, req) })
		}),
	}
	cmd.Flags().StringVar(&o.Input, "input", "", "run input: JSON inline, @FILE or - for stdin")
	cmd.Flags().StringVar(&o.RunID, "run-id", "", "run id (makes the start idempotent)")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print JSON")
	return cmd
}

func newRunsListCmd(g *clientOptions) *cobra.Command {
	o := &runOptions{g: g}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List runs, newest first",
		Args:  cobra.NoArgs,
		RunE:  g.run(func(cmd *cobra.Command, _ []string) error { return o.list(cmd) }),
	}
	cmd.Flags().StringVar(&o.Workflow, "workflow", "", "only runs of this workflow id")
	cmd.Flags().StringVar(&o.Status, "status", "", "only runs in this status")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print JSON")
	return cmd
}

func (o *runOptions) list(cmd *cobra.Command) error {
	c, ctx, cancel, err := o.g.session(cmd, true)
	if err != nil {
		return err
	}
	defer cancel()
	l, err := c.ListRuns(ctx, client.RunFilter{WorkflowID: o.Workflow, Status: o.Status, Page: client.Page{Limit: 100}})
	if err != nil {
		return err
	}
	if o.JSON {
		return printJSON(cmd.OutOrStdout(), l)
	}
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN_ID\tSTATUS\tWORKFLOW\tSTARTED_BY\tCREATED")
	for _, r := range l.Items {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", clean(r.RunID), orDash(r.Status), orDash(r.WorkflowID), orDash(r.StartedBy), fmtTime(r.CreatedAt))
	}
	return tw.Flush()
}

func newRunsCancelCmd(g *clientOptions) *cobra.Command {
	o := &runOptions{g: g}
	cmd := &cobra.Command{
		Use:   "cancel RUN_ID",
		Short: "Cancel a workflow run",
		Args:  cobra.ExactArgs(1),
		RunE: g.run(func(cmd *cobra.Command, args []string) error {
			return o.do(cmd, func(ctx context.Context, c *client.Client) (*cairn.Run, error) {
				return c.CancelRun(ctx, args[0], o.Reason)
			})
		}),
	}
	cmd.Flags().StringVar(&o.Reason, "reason", "", "why the run is cancelled")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print JSON")
	return cmd
}

func newRunsRerunCmd(g *clientOptions) *cobra.Command {
	o := &runOptions{g: g}
	cmd := &cobra.Command{
		Use:   "rerun RUN_ID",
		Short: "Start a new run linked to a finished one, from its failed step (or --from-step)",
		Args:  cobra.ExactArgs(1),
		RunE: g.run(func(cmd *cobra.Command, args []string) error {
			req := cairn.RerunRequest{FromStep: o.FromStep, RunID: o.RunID}
			return o.do(cmd, func(ctx context.Context, c *client.Client) (*cairn.Run, error) { return c.RerunRun(ctx, args[0], req) })
		}),
	}
	cmd.Flags().StringVar(&o.FromStep, "from-step", "", "step to rerun from (default: the first failed step)")
	cmd.Flags().StringVar(&o.RunID, "run-id", "", "the new run's id")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print JSON")
	return cmd
}

func newGateVoteCmd(g *clientOptions, approve bool) *cobra.Command {
	verb := "reject"
	if approve {
		verb = "approve"
	}
	o := &runOptions{g: g}
	cmd := &cobra.Command{
		Use:   verb + " RUN_ID STEP_ID --job-hash HASH",
		Short: strings.ToUpper(verb[:1]) + verb[1:] + " a step's gate; --job-hash is the gate's job_hash you reviewed",
		Args:  cobra.ExactArgs(2),
		RunE: g.run(func(cmd *cobra.Command, args []string) error {
			if o.JobHash == "" {
				return usageError("--job-hash is required: the gate's job_hash (cairn audit run %s shows it)", args[0])
			}
			req := cairn.GateVoteRequest{JobHash: o.JobHash, Comment: o.Comment}
			return o.do(cmd, func(ctx context.Context, c *client.Client) (*cairn.Run, error) {
				if approve {
					return c.ApproveGate(ctx, args[0], args[1], req)
				}
				return c.RejectGate(ctx, args[0], args[1], req)
			})
		}),
	}
	cmd.Flags().StringVar(&o.JobHash, "job-hash", "", "the gate's job_hash, as reviewed")
	cmd.Flags().StringVar(&o.Comment, "comment", "", "comment recorded with the vote")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print the run as JSON")
	return cmd
}

// printRun prints a run's status and its steps, or the run as JSON.
func (o *runOptions) printRun(cmd *cobra.Command, r *cairn.Run) error {
	if o.JSON {
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
