package main

import (
	"context"
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
	"github.com/spf13/pflag"
)

func newJobsCmd(g *clientOptions) *cobra.Command {
	cmd := clientGroup(&cobra.Command{
		Use:   "jobs",
		Short: "Submit, get and list jobs",
	})
	cmd.AddCommand(newJobsSubmitCmd(g), newJobsGetCmd(g), newJobsListCmd(g))
	return cmd
}

// jobsSubmitOptions are the flags of cairn jobs submit.
type jobsSubmitOptions struct {
	jobFlags
	Trace, JobID string
	JSON         bool
	g            *clientOptions
}

// jobFlags are the flags that describe a job: jobs submit sends it,
// policy simulate evaluates it.
type jobFlags struct {
	Action, Resource, Run, Step, Input string
	Labels, RiskTags                   []string
}

func (j *jobFlags) bind(f *pflag.FlagSet) {
	f.StringVar(&j.Action, "action", "", "action name, e.g. db.write (required)")
	f.StringVar(&j.Resource, "resource", "", "resource the action touches")
	f.StringArrayVar(&j.Labels, "label", nil, "label key=value (repeatable)")
	f.StringArrayVar(&j.RiskTags, "risk-tag", nil, "risk tag (repeatable)")
	f.StringVar(&j.Run, "run", "", "workflow run id")
	f.StringVar(&j.Step, "step", "", "workflow step id")
	f.StringVar(&j.Input, "input", "", "input JSON: inline, @FILE or - for stdin")
}

// request is the job the flags describe, reading --input from stdin when
// it is "-".
func (j *jobFlags) request(stdin io.Reader) (cairn.SubmitRequest, error) {
	req := cairn.SubmitRequest{Action: j.Action, Resource: j.Resource, RunID: j.Run, WorkflowStepID: j.Step, RiskTags: j.RiskTags}
	var err error
	if req.Labels, err = parseLabels(j.Labels); err != nil {
		return req, err
	}
	req.Input, err = readJSONArg("input", j.Input, stdin)
	return req, err
}

func newJobsSubmitCmd(g *clientOptions) *cobra.Command {
	o := &jobsSubmitOptions{g: g}
	cmd := &cobra.Command{
		Use:   "submit --action ACTION [flags]",
		Short: "Submit an action; the policy decision is in the answer",
		Long: `Submit an agent action (POST /api/v1/jobs). The policy decides before the
answer: a DENY is recorded as a job in state DENIED (exit status 0, the
job exists as evidence). --input takes JSON inline, @FILE, or - for stdin.
With --job-id the submit is idempotent: the same job again returns the
existing one.`,
		Args: cobra.NoArgs,
		RunE: g.run(func(cmd *cobra.Command, _ []string) error { return o.run(cmd) }),
	}
	f := cmd.Flags()
	o.bind(f)
	f.StringVar(&o.Trace, "trace", "", "trace id")
	f.StringVar(&o.JobID, "job-id", "", "job id (makes the submit idempotent)")
	f.BoolVar(&o.JSON, "json", false, "print the job as JSON")
	markRequired(cmd, "action")
	return cmd
}

// request builds the submit request, reading --input.
func (o *jobsSubmitOptions) request(stdin io.Reader) (cairn.SubmitRequest, error) {
	req, err := o.jobFlags.request(stdin)
	req.TraceID, req.JobID = o.Trace, o.JobID
	return req, err
}

func (o *jobsSubmitOptions) run(cmd *cobra.Command) error {
	req, err := o.request(cmd.InOrStdin())
	if err != nil {
		return err
	}
	c, ctx, cancel, err := o.g.session(cmd, true)
	if err != nil {
		return err
	}
	defer cancel()
	job, replayed, err := c.SubmitJobReplayed(ctx, req)
	if err != nil {
		return err
	}
	if o.JSON {
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
}

// jsonOption is a command whose only flag is --json.
type jsonOption struct {
	JSON bool
	g    *clientOptions
}

func newJobsGetCmd(g *clientOptions) *cobra.Command {
	o := &jsonOption{g: g}
	cmd := &cobra.Command{
		Use:   "get <job_id>",
		Short: "Show a job's current state",
		Args:  cobra.ExactArgs(1),
		RunE: g.run(func(cmd *cobra.Command, args []string) error {
			c, ctx, cancel, err := o.g.session(cmd, true)
			if err != nil {
				return err
			}
			defer cancel()
			job, err := c.GetJob(ctx, args[0])
			if err != nil {
				return err
			}
			if o.JSON {
				return printJSON(cmd.OutOrStdout(), job)
			}
			return printJobCard(cmd.OutOrStdout(), job)
		}),
	}
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print the job as JSON")
	return cmd
}

// timeRange is a --since/--until pair: RFC 3339, a date, or a duration
// ago. bind's what prefixes the flags' help ("created ").
type timeRange struct {
	Since, Until string
}

func (t *timeRange) bind(f *pflag.FlagSet, what string) {
	f.StringVar(&t.Since, "since", "", what+"at or after (RFC 3339, date, or duration ago)")
	f.StringVar(&t.Until, "until", "", what+"before (RFC 3339, date, or duration ago)")
}

// parse parses both bounds; an error names the flag.
func (t *timeRange) parse() (since, until time.Time, err error) {
	if since, err = parseTimeFlag("since", t.Since); err != nil {
		return
	}
	until, err = parseTimeFlag("until", t.Until)
	return
}

// jobsListOptions are the flags of cairn jobs list.
type jobsListOptions struct {
	State, Action, Run, Decision, Rule, SubmittedBy string
	pagedList
	g *clientOptions
}

func newJobsListCmd(g *clientOptions) *cobra.Command {
	o := &jobsListOptions{g: g}
	cmd := &cobra.Command{
		Use:   "list [flags]",
		Short: "List jobs, newest first",
		Long: `List jobs, newest first. --since/--until take RFC 3339, a date, or a
duration ago (24h). --limit caps how many are printed (0 = all).`,
		Args: cobra.NoArgs,
		RunE: g.run(func(cmd *cobra.Command, _ []string) error { return o.run(cmd) }),
	}
	f := cmd.Flags()
	f.StringVar(&o.State, "state", "", "state, e.g. PENDING_APPROVAL")
	f.StringVar(&o.Action, "action", "", "action")
	f.StringVar(&o.Run, "run", "", "run id")
	f.StringVar(&o.Decision, "decision", "", "decision, e.g. DENY")
	f.StringVar(&o.Rule, "rule", "", "deciding policy rule id")
	f.StringVar(&o.SubmittedBy, "submitted-by", "", "submitting principal")
	o.Range.bind(f, "created ")
	f.IntVar(&o.Limit, "limit", 100, "print at most N jobs (0 = all)")
	f.BoolVar(&o.JSON, "json", false, "print the jobs as a JSON array")
	return cmd
}

func (o *jobsListOptions) run(cmd *cobra.Command) error {
	f := client.JobFilter{State: strings.ToUpper(o.State), Action: o.Action, RunID: o.Run, Decision: strings.ToUpper(o.Decision),
		PolicyRuleID: o.Rule, SubmittedBy: o.SubmittedBy}
	return printPaged(cmd, o.g, o.pagedList, func(ctx context.Context, c *client.Client, since, until time.Time, page int) iter.Seq2[*cairn.Job, error] {
		f.Since, f.Until, f.Limit = since, until, page
		return c.AllJobs(ctx, f)
	}, printJobsTable)
}

func newApprovalsCmd(g *clientOptions) *cobra.Command {
	cmd := clientGroup(&cobra.Command{
		Use:   "approvals",
		Short: "List, approve and reject pending approvals",
	})
	cmd.AddCommand(newApprovalsListCmd(g), newResolveCmd(g, "approve"), newResolveCmd(g, "reject"))
	return cmd
}

// approvalsListOptions are the flags of cairn approvals list.
type approvalsListOptions struct {
	All                   bool
	Run, Rule, ResolvedBy string
	pagedList
	g *clientOptions
}

func newApprovalsListCmd(g *clientOptions) *cobra.Command {
	o := &approvalsListOptions{g: g}
	cmd := &cobra.Command{
		Use:   "list [flags]",
		Short: "List the approval queue (pending only unless --all)",
		Args:  cobra.NoArgs,
		RunE:  g.run(func(cmd *cobra.Command, _ []string) error { return o.run(cmd) }),
	}
	f := cmd.Flags()
	f.BoolVar(&o.All, "all", false, "include resolved approvals")
	f.StringVar(&o.Run, "run", "", "run id")
	f.StringVar(&o.Rule, "rule", "", "policy rule id")
	f.StringVar(&o.ResolvedBy, "resolved-by", "", "resolving principal")
	o.Range.bind(f, "requested ")
	f.IntVar(&o.Limit, "limit", 100, "print at most N approvals (0 = all)")
	f.BoolVar(&o.JSON, "json", false, "print the approvals as a JSON array")
	return cmd
}

func (o *approvalsListOptions) run(cmd *cobra.Command) error {
	f := client.ApprovalFilter{IncludeResolved: o.All, RunID: o.Run, PolicyRuleID: o.Rule, ResolvedBy: o.ResolvedBy}
	return printPaged(cmd, o.g, o.pagedList, func(ctx context.Context, c *client.Client, since, until time.Time, page int) iter.Seq2[*cairn.Approval, error] {
		f.Since, f.Until, f.Limit = since, until, page
		return c.AllApprovals(ctx, f)
	}, printApprovalsTable)
}

// resolveOptions are the flags of cairn approvals approve and reject.
type resolveOptions struct {
	verb          string
	Hash, Comment string
	Yes, JSON     bool
	g             *clientOptions
}

func newResolveCmd(g *clientOptions, verb string) *cobra.Command {
	o := &resolveOptions{verb: verb, g: g}
	cmd := &cobra.Command{
		Use:   verb + " <job_id> [--hash JOB_HASH] [-m comment]",
		Short: strings.ToUpper(verb[:1]) + verb[1:] + " a job's pending approval",
		Long: `Resolve a job's pending approval. --hash must be the job_hash you reviewed:
the server refuses the resolution if the job is not that exact request.
Without --hash the job is fetched and shown; add --yes to ` + verb + ` the job
hash shown.`,
		Args: cobra.ExactArgs(1),
		RunE: g.run(func(cmd *cobra.Command, args []string) error { return o.run(cmd, args[0]) }),
	}
	cmd.Flags().StringVar(&o.Hash, "hash", "", "the job_hash you reviewed")
	cmd.Flags().StringVarP(&o.Comment, "message", "m", "", "comment recorded with the resolution")
	cmd.Flags().BoolVar(&o.Yes, "yes", false, "without --hash: resolve the job hash fetched from the server")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print the approval as JSON")
	return cmd
}

// review fetches and prints the job for the approver; with --yes its hash
// is the one resolved.
func (o *resolveOptions) review(ctx context.Context, cmd *cobra.Command, c *client.Client, jobID string) (string, error) {
	job, err := c.GetJob(ctx, jobID)
	if err != nil {
		return "", err
	}
	input, inErr := c.GetContext(ctx, jobID)
	if err := printReview(cmd.OutOrStdout(), job, input, inErr, o.g.describe); err != nil {
		return "", err
	}
	if !o.Yes {
		return "", &cliError{msg: fmt.Sprintf("confirmation_required: review the job above, then run: cairn approvals %s %s --hash %s (or add --yes)", o.verb, clean(jobID), clean(job.JobHash))}
	}
	return job.JobHash, nil
}

func (o *resolveOptions) run(cmd *cobra.Command, jobID string) error {
	c, ctx, cancel, err := o.g.session(cmd, true)
	if err != nil {
		return err
	}
	defer cancel()
	hash := o.Hash
	if hash == "" {
		if hash, err = o.review(ctx, cmd, c, jobID); err != nil {
			return err
		}
	}
	req := cairn.ResolveRequest{JobHash: hash, Comment: o.Comment}
	resolve := c.Reject
	if o.verb == "approve" {
		resolve = c.Approve
	}
	a, err := resolve(ctx, jobID, req)
	if err != nil {
		return err
	}
	if o.JSON {
		return printJSON(cmd.OutOrStdout(), a)
	}
	_, err = fmt.Fprintf(cmd.OutOrStdout(), "job %s %s by %s at %s (job_hash %s)\n",
		clean(a.JobID), orDash(string(a.Resolution)), orDash(string(a.ResolvedBy)),
		fmtTimePtr(a.ResolvedAt), orDash(a.JobHash))
	return err
}

// markRequired marks flags of cmd required; a name that is not a flag of
// cmd panics when the command tree is built (every test builds it).
func markRequired(cmd *cobra.Command, names ...string) {
	for _, n := range names {
		if err := cmd.MarkFlagRequired(n); err != nil {
			panic(fmt.Sprintf("%s: %v", cmd.CommandPath(), err))
		}
	}
}

// pagedList is what the paged list commands (jobs list, approvals list,
// policy audit) share: --since/--until, --limit and --json.
type pagedList struct {
	Range timeRange
	Limit int
	JSON  bool
}

// printPaged fetches the items fetch pages through (given the parsed time
// range and the page size for --limit), at most --limit of them, and
// prints them as a JSON array or with table.
func printPaged[T any](cmd *cobra.Command, g *clientOptions, l pagedList,
	fetch func(ctx context.Context, c *client.Client, since, until time.Time, page int) iter.Seq2[T, error],
	table func(io.Writer, []T) error) error {
	since, until, err := l.Range.parse()
	if err != nil {
		return err
	}
	c, ctx, cancel, err := g.session(cmd, true)
	if err != nil {
		return err
	}
	defer cancel()
	items, err := collect(fetch(ctx, c, since, until, pageSize(l.Limit)), l.Limit)
	if err != nil {
		return err
	}
	if l.JSON {
		return printJSON(cmd.OutOrStdout(), items)
	}
	return table(cmd.OutOrStdout(), items)
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
	c.ids(string(j.RunID), string(j.WorkflowStepID), j.TraceID)
	c.action(j.Action, string(j.Resource))
	if len(j.Labels) > 0 {
		c.line("Labels", "%s", fmtLabels(j.Labels))
	}
	if len(j.RiskTags) > 0 {
		c.line("Risk tags", "%s", clean(strings.Join(j.RiskTags, ", ")))
	}
	c.line("Submitted by", "%s at %s", orDash(j.SubmittedBy), fmtTime(j.CreatedAt))
	c.line("State", "%s", orDash(j.State))
	c.decision(j.Decision, string(j.PolicyRuleID), j.PolicyReason, string(j.PolicySnapshot))
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
		c.output(o.Decision, string(o.RuleID), o.Findings)
	}
	c.jobProgress(j)
	return c.err
}

// jobProgress writes a job's attempts, lease, error, payload pointers and
// times.
func (c *card) jobProgress(j *cairn.Job) {
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
func printReview(w io.Writer, j *cairn.Job, input json.RawMessage, inputErr error, describe func(error) error) error {
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
