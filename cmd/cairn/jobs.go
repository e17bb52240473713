package main

import (
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/client"
	"github.com/spf13/cobra"
)

var jobsCmd = clientGroup(&cobra.Command{
	Use:   "jobs",
	Short: "Submit, get and list jobs",
})

var jobsSubmitCmd = &cobra.Command{
	Use:   "submit --action ACTION [flags]",
	Short: "Submit an action; the policy decision is in the answer",
	Long: `Submit an agent action (POST /api/v1/jobs). The policy decides before the
answer: a DENY is recorded as a job in state DENIED (exit status 0, the
job exists as evidence). --input takes JSON inline, @FILE, or - for stdin.
With --job-id the submit is idempotent: the same job again returns the
existing one.`,
	Args: cobra.NoArgs,
	RunE: run(func(cmd *cobra.Command, args []string) error {
		f := cmd.Flags()
		var req cairn.SubmitRequest
		req.Action, _ = f.GetString("action")
		req.Resource, _ = f.GetString("resource")
		req.RunID, _ = f.GetString("run")
		req.WorkflowStepID, _ = f.GetString("step")
		req.TraceID, _ = f.GetString("trace")
		req.JobID, _ = f.GetString("job-id")
		req.RiskTags, _ = f.GetStringArray("risk-tag")
		labels, _ := f.GetStringArray("label")
		var err error
		if req.Labels, err = parseLabels(labels); err != nil {
			return err
		}
		in, _ := f.GetString("input")
		if req.Input, err = readJSONArg("input", in, cmd.InOrStdin()); err != nil {
			return err
		}
		c, err := newClient()
		if err != nil {
			return err
		}
		ctx, cancel := commandContext(cmd, true)
		defer cancel()
		job, replayed, err := c.SubmitJobReplayed(ctx, req)
		if err != nil {
			return err
		}
		if asJSON, _ := f.GetBool("json"); asJSON {
			return printJSON(cmd.OutOrStdout(), job)
		}
		errw := cmd.ErrOrStderr()
		if replayed {
			fmt.Fprintf(errw, "job %s already existed with this job_hash: this is the recorded job\n", clean(job.JobID))
		}
		if err := printJobCard(cmd.OutOrStdout(), job); err != nil {
			return err
		}
		if job.State == cairn.StatePendingApproval {
			fmt.Fprintf(errw, "waiting for approval: cairn approvals approve %s --hash %s\n", clean(job.JobID), clean(job.JobHash))
		}
		return nil
	}),
}

var jobsGetCmd = &cobra.Command{
	Use:   "get <job_id>",
	Short: "Show a job's current state",
	Args:  cobra.ExactArgs(1),
	RunE: run(func(cmd *cobra.Command, args []string) error {
		c, err := newClient()
		if err != nil {
			return err
		}
		ctx, cancel := commandContext(cmd, true)
		defer cancel()
		job, err := c.GetJob(ctx, args[0])
		if err != nil {
			return err
		}
		if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
			return printJSON(cmd.OutOrStdout(), job)
		}
		return printJobCard(cmd.OutOrStdout(), job)
	}),
}

var jobsListCmd = &cobra.Command{
	Use:   "list [flags]",
	Short: "List jobs, newest first",
	Long: `List jobs, newest first. --since/--until take RFC 3339, a date, or a
duration ago (24h). --limit caps how many are printed (0 = all).`,
	Args: cobra.NoArgs,
	RunE: run(func(cmd *cobra.Command, args []string) error {
		fl := cmd.Flags()
		var f client.JobFilter
		f.State, _ = fl.GetString("state")
		f.Action, _ = fl.GetString("action")
		f.RunID, _ = fl.GetString("run")
		f.Decision, _ = fl.GetString("decision")
		f.PolicyRuleID, _ = fl.GetString("rule")
		f.SubmittedBy, _ = fl.GetString("submitted-by")
		var err error
		if f.Since, err = timeFlag(cmd, "since"); err != nil {
			return err
		}
		if f.Until, err = timeFlag(cmd, "until"); err != nil {
			return err
		}
		f.State = strings.ToUpper(f.State)
		f.Decision = strings.ToUpper(f.Decision)
		limit, _ := fl.GetInt("limit")
		c, err := newClient()
		if err != nil {
			return err
		}
		ctx, cancel := commandContext(cmd, true)
		defer cancel()
		f.Limit = pageSize(limit)
		jobs, err := collect(c.AllJobs(ctx, f), limit)
		if err != nil {
			return err
		}
		if asJSON, _ := fl.GetBool("json"); asJSON {
			return printJSON(cmd.OutOrStdout(), jobs)
		}
		return printJobsTable(cmd.OutOrStdout(), jobs)
	}),
}

var approvalsCmd = clientGroup(&cobra.Command{
	Use:   "approvals",
	Short: "List, approve and reject pending approvals",
})

var approvalsListCmd = &cobra.Command{
	Use:   "list [flags]",
	Short: "List the approval queue (pending only unless --all)",
	Args:  cobra.NoArgs,
	RunE: run(func(cmd *cobra.Command, args []string) error {
		fl := cmd.Flags()
		var f client.ApprovalFilter
		f.IncludeResolved, _ = fl.GetBool("all")
		f.RunID, _ = fl.GetString("run")
		f.PolicyRuleID, _ = fl.GetString("rule")
		f.ResolvedBy, _ = fl.GetString("resolved-by")
		var err error
		if f.Since, err = timeFlag(cmd, "since"); err != nil {
			return err
		}
		if f.Until, err = timeFlag(cmd, "until"); err != nil {
			return err
		}
		limit, _ := fl.GetInt("limit")
		c, err := newClient()
		if err != nil {
			return err
		}
		ctx, cancel := commandContext(cmd, true)
		defer cancel()
		f.Limit = pageSize(limit)
		items, err := collect(c.AllApprovals(ctx, f), limit)
		if err != nil {
			return err
		}
		if asJSON, _ := fl.GetBool("json"); asJSON {
			return printJSON(cmd.OutOrStdout(), items)
		}
		return printApprovalsTable(cmd.OutOrStdout(), items)
	}),
}

func resolveCmd(verb string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   verb + " <job_id> [--hash JOB_HASH] [-m comment]",
		Short: strings.ToUpper(verb[:1]) + verb[1:] + " a job's pending approval",
		Long: `Resolve a job's pending approval. --hash must be the job_hash you reviewed:
the server refuses the resolution if the job is not that exact request.
Without --hash the job is fetched and shown; add --yes to ` + verb + ` the job
hash shown.`,
		Args: cobra.ExactArgs(1),
	}
	cmd.RunE = run(func(cmd *cobra.Command, args []string) error {
		fl := cmd.Flags()
		hash, _ := fl.GetString("hash")
		comment, _ := fl.GetString("message")
		yes, _ := fl.GetBool("yes")
		c, err := newClient()
		if err != nil {
			return err
		}
		ctx, cancel := commandContext(cmd, true)
		defer cancel()
		jobID := args[0]
		if hash == "" {
			job, err := c.GetJob(ctx, jobID)
			if err != nil {
				return err
			}
			input, inErr := c.GetContext(ctx, jobID)
			if err := printReview(cmd.OutOrStdout(), job, input, inErr); err != nil {
				return err
			}
			if !yes {
				return &cliError{msg: fmt.Sprintf("confirmation_required: review the job above, then run: cairn approvals %s %s --hash %s (or add --yes)", verb, clean(jobID), clean(job.JobHash))}
			}
			hash = job.JobHash
		}
		req := cairn.ResolveRequest{JobHash: hash, Comment: comment}
		var a *cairn.Approval
		if verb == "approve" {
			a, err = c.Approve(ctx, jobID, req)
		} else {
			a, err = c.Reject(ctx, jobID, req)
		}
		if err != nil {
			return err
		}
		if asJSON, _ := fl.GetBool("json"); asJSON {
			return printJSON(cmd.OutOrStdout(), a)
		}
		_, err = fmt.Fprintf(cmd.OutOrStdout(), "job %s %s by %s at %s (job_hash %s)\n",
			clean(a.JobID), orDash(string(a.Resolution)), orDash(string(a.ResolvedBy)),
			fmtTimePtr(a.ResolvedAt), orDash(a.JobHash))
		return err
	})
	cmd.Flags().String("hash", "", "the job_hash you reviewed")
	cmd.Flags().StringP("message", "m", "", "comment recorded with the resolution")
	cmd.Flags().Bool("yes", false, "without --hash: resolve the job hash fetched from the server")
	cmd.Flags().Bool("json", false, "print the approval as JSON")
	return cmd
}

func init() {
	f := jobsSubmitCmd.Flags()
	f.String("action", "", "action name, e.g. db.write (required)")
	f.String("resource", "", "resource the action touches")
	f.StringArray("label", nil, "label key=value (repeatable)")
	f.StringArray("risk-tag", nil, "risk tag (repeatable)")
	f.String("run", "", "workflow run id (a new id starts a run)")
	f.String("step", "", "workflow step id")
	f.String("trace", "", "trace id")
	f.String("job-id", "", "job id (makes the submit idempotent)")
	f.String("input", "", "input JSON: inline, @FILE or - for stdin")
	f.Bool("json", false, "print the job as JSON")
	_ = jobsSubmitCmd.MarkFlagRequired("action")

	jobsGetCmd.Flags().Bool("json", false, "print the job as JSON")

	f = jobsListCmd.Flags()
	f.String("state", "", "state, e.g. PENDING_APPROVAL")
	f.String("action", "", "action")
	f.String("run", "", "run id")
	f.String("decision", "", "decision, e.g. DENY")
	f.String("rule", "", "deciding policy rule id")
	f.String("submitted-by", "", "submitting principal")
	f.String("since", "", "created at or after (RFC 3339, date, or duration ago)")
	f.String("until", "", "created before (RFC 3339, date, or duration ago)")
	f.Int("limit", 100, "print at most N jobs (0 = all)")
	f.Bool("json", false, "print the jobs as a JSON array")
	jobsCmd.AddCommand(jobsSubmitCmd, jobsGetCmd, jobsListCmd)

	f = approvalsListCmd.Flags()
	f.Bool("all", false, "include resolved approvals")
	f.String("run", "", "run id")
	f.String("rule", "", "policy rule id")
	f.String("resolved-by", "", "resolving principal")
	f.String("since", "", "requested at or after (RFC 3339, date, or duration ago)")
	f.String("until", "", "requested before (RFC 3339, date, or duration ago)")
	f.Int("limit", 100, "print at most N approvals (0 = all)")
	f.Bool("json", false, "print the approvals as a JSON array")
	approvalsCmd.AddCommand(approvalsListCmd, resolveCmd("approve"), resolveCmd("reject"))

	rootCmd.AddCommand(jobsCmd, approvalsCmd)
}

func timeFlag(cmd *cobra.Command, name string) (time.Time, error) {
	v, _ := cmd.Flags().GetString(name)
	return parseTimeFlag(name, v)
}

// pageSize is the page size for printing at most limit items.
func pageSize(limit int) int {
	if limit <= 0 || limit > 1000 {
		return 1000
	}
	return limit
}

// collect gathers at most limit items (0 = all) from seq.
func collect[T any](seq iter.Seq2[T, error], limit int) ([]T, error) {
	out := []T{}
	for it, err := range seq {
		if err != nil {
			return nil, err
		}
		out = append(out, it)
		if limit > 0 && len(out) >= limit {
			break
		}
	}
	return out, nil
}

// printJobCard prints a job's state for a person.
func printJobCard(w io.Writer, j *cairn.Job) error {
	c := &card{w: w}
	c.line("Job", "%s", clean(j.JobID))
	var ids []string
	if j.RunID != "" {
		ids = append(ids, "run "+clean(string(j.RunID)))
	}
	if j.WorkflowStepID != "" {
		ids = append(ids, "step "+clean(string(j.WorkflowStepID)))
	}
	if j.TraceID != "" {
		ids = append(ids, "trace "+clean(j.TraceID))
	}
	if len(ids) > 0 {
		c.line("", "%s", strings.Join(ids, " · "))
	}
	action := orDash(j.Action)
	if j.Resource != "" {
		action += " on " + clean(string(j.Resource))
	}
	c.line("Action", "%s", action)
	if len(j.Labels) > 0 {
		c.line("Labels", "%s", fmtLabels(j.Labels))
	}
	if len(j.RiskTags) > 0 {
		c.line("Risk tags", "%s", clean(strings.Join(j.RiskTags, ", ")))
	}
	c.line("Submitted by", "%s at %s", orDash(j.SubmittedBy), fmtTime(j.CreatedAt))
	c.line("State", "%s", orDash(j.State))
	c.line("Decision", "%s  rule %s", orDash(j.Decision), ruleName(string(j.PolicyRuleID)))
	if j.PolicyReason != "" {
		c.sub("reason", "%s", clean(j.PolicyReason))
	}
	c.sub("snapshot", "%s", orDash(string(j.PolicySnapshot)))
	if len(j.Constraints) > 0 && string(j.Constraints) != "null" {
		c.sub("constraints", "%s", clean(string(j.Constraints)))
	}
	c.line("Job hash", "%s", orDash(j.JobHash))
	if j.ApprovalRequired {
		c.line("Approval", "required")
	} else {
		c.line("Approval", "not required")
	}
	if o := j.OutputSafety; o != nil {
		line := orDash(o.Decision)
		if o.RuleID != "" {
			line += "  rule " + clean(string(o.RuleID))
		}
		c.line("Output", "%s", line)
		if len(o.Findings) > 0 {
			c.sub("findings", "%s", fmtFindings(o.Findings))
		}
	}
	c.line("Attempts", "%d", j.Attempts)
	if j.LeaseOwner != "" {
		c.line("Lease", "%s until %s", clean(string(j.LeaseOwner)), fmtTimePtr(j.LeaseExpiresAt))
	}
	if j.Error != "" {
		c.line("Error", "%s", clean(string(j.Error)))
	}
	c.line("Pointers", "context %s%s", orDash(j.ContextPtr), sha(j.ContextSHA256))
	c.line("", "result  %s%s", orDash(string(j.ResultPtr)), sha(string(j.ResultSHA256)))
	c.line("Updated", "%s", fmtTime(j.UpdatedAt))
	if j.CompletedAt != nil {
		c.line("Completed", "%s", fmtTimePtr(j.CompletedAt))
	}
	return c.err
}

func sha(h string) string {
	if h == "" {
		return ""
	}
	return "  sha256 " + clean(h)
}

// maxReviewInput bounds how much of a job's input the review shows.
const maxReviewInput = 4096

// printReview shows an approver what they are about to resolve.
func printReview(w io.Writer, j *cairn.Job, input json.RawMessage, inputErr error) error {
	if err := printJobCard(w, j); err != nil {
		return err
	}
	c := &card{w: w}
	switch {
	case inputErr != nil:
		c.line("Input", "(not readable: %s)", clean(describe(inputErr).Error()))
	case len(input) == 0:
		c.line("Input", "(none)")
	default:
		s := string(input)
		more := ""
		if len(s) > maxReviewInput {
			s, more = s[:maxReviewInput], fmt.Sprintf(" … (%d bytes in all)", len(input))
		}
		c.line("Input", "%s%s", clean(s), more)
	}
	return c.err
}

func printJobsTable(w io.Writer, jobs []*cairn.Job) error {
	if len(jobs) == 0 {
		_, err := fmt.Fprintln(w, "no jobs")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB_ID\tSTATE\tDECISION\tRULE\tACTION\tRESOURCE\tRUN\tSUBMITTED_BY\tCREATED")
	for _, j := range jobs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", clean(j.JobID), orDash(j.State), orDash(j.Decision),
			orDash(string(j.PolicyRuleID)), orDash(j.Action), orDash(string(j.Resource)), orDash(string(j.RunID)),
			orDash(j.SubmittedBy), fmtTime(j.CreatedAt))
	}
	return tw.Flush()
}

func printApprovalsTable(w io.Writer, as []*cairn.Approval) error {
	if len(as) == 0 {
		_, err := fmt.Fprintln(w, "no approvals")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB_ID\tACTION\tRULE\tREQUESTED_BY\tREQUESTED\tEXPIRES\tSTATUS\tRESOLUTION\tRESOLVED_BY\tJOB_HASH")
	for _, a := range as {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", clean(a.JobID), orDash(a.Action),
			orDash(string(a.PolicyRuleID)), orDash(a.RequestedBy), fmtTime(a.RequestedAt), fmtTimePtr(a.ExpiresAt),
			orDash(a.Status), orDash(string(a.Resolution)), orDash(string(a.ResolvedBy)), orDash(a.JobHash))
	}
	return tw.Flush()
}
