package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/client"
	"github.com/cairnhq/cairn/internal/workflow"
	"github.com/spf13/cobra"
)

func newAuditCmd(g *clientOptions) *cobra.Command {
	cmd := clientGroup(&cobra.Command{
		Use:   "audit",
		Short: "Show the evidence of a job or a workflow run",
	})
	cmd.AddCommand(newAuditJobCmd(g), newAuditRunCmd(g))
	return cmd
}

// auditJobOptions are the flags of cairn audit job.
type auditJobOptions struct {
	JSON bool
	g    *clientOptions
}

func newAuditJobCmd(g *clientOptions) *cobra.Command {
	o := &auditJobOptions{g: g}
	cmd := &cobra.Command{
		Use:   "job <job_id>",
		Short: "Who approved a job, under which policy, and what happened next",
		Long: `Print a job's joined decision record (GET /api/v1/jobs/{id}/evidence):
the request, the policy decision with its rule, reason and snapshot, the
job_hash, the approval and who resolved it, every policy evaluation, the
output-safety verdict and the payload pointers. --json prints the record
itself.`,
		Args: cobra.ExactArgs(1),
		RunE: g.run(func(cmd *cobra.Command, args []string) error { return o.run(cmd, args[0]) }),
	}
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print the decision record as JSON")
	return cmd
}

func (o *auditJobOptions) run(cmd *cobra.Command, jobID string) error {
	c, ctx, cancel, err := o.g.session(cmd, true)
	if err != nil {
		return err
	}
	defer cancel()
	rec, err := c.GetEvidence(ctx, jobID)
	if err != nil {
		return err
	}
	if o.JSON {
		return printJSON(cmd.OutOrStdout(), rec)
	}
	return printEvidenceCard(cmd.OutOrStdout(), rec)
}

// runAudit is what `cairn audit run --json` prints.
type runAudit struct {
	Run      *cairn.Run     `json:"run"`
	DAG      []*dagStep     `json:"dag,omitempty"` // workflow runs only
	Timeline []*cairn.Event `json:"timeline"`
}

// dagStep is one step of a workflow run as the audit shows it: where it sits
// in the DAG, and the evidence of its last job.
type dagStep struct {
	StepID     string   `json:"step_id"`
	DependsOn  []string `json:"depends_on"`
	Depth      int      `json:"depth"`
	Status     string   `json:"status"`
	Attempts   int      `json:"attempts"`
	JobID      string   `json:"job_id,omitempty"`
	Decision   string   `json:"decision,omitempty"`
	RuleID     string   `json:"policy_rule_id,omitempty"`
	Approvers  []string `json:"approvers"` // gate votes and the job's policy approval
	Output     string   `json:"output_safety,omitempty"`
	GateStatus string   `json:"gate,omitempty"`
	GateHash   string   `json:"gate_job_hash,omitempty"`
	Error      string   `json:"error,omitempty"`
	FromRun    string   `json:"from_run,omitempty"`
}

// runDAG joins a workflow run's steps with its definition and each step's
// last job's evidence.
func runDAG(ctx context.Context, c *client.Client, r *cairn.Run) ([]*dagStep, error) {
	w, err := c.GetWorkflow(ctx, r.WorkflowID)
	if err != nil {
		return nil, err
	}
	def, err := workflow.Parse([]byte(w.Definition))
	if err != nil {
		return nil, err
	}
	depth := map[string]int{}
	var out []*dagStep
	for _, id := range def.Order {
		step := def.Step(id)
		d := &dagStep{StepID: id, DependsOn: step.DependsOn, Approvers: []string{}}
		for _, dep := range step.DependsOn {
			if depth[dep]+1 > d.Depth {
				d.Depth = depth[dep] + 1
			}
		}
		depth[id] = d.Depth
		if st := r.Step(id); st != nil {
			d.Status, d.Attempts, d.JobID, d.Error, d.FromRun = st.Status, st.Attempts, st.JobID, st.Error, st.FromRun
			if st.Gate != nil {
				d.GateStatus, d.GateHash = st.Gate.Status, st.Gate.JobHash
				for _, v := range st.Gate.Votes {
					d.Approvers = append(d.Approvers, v.By+" ("+v.Resolution+", gate)")
				}
			}
		}
		if d.JobID != "" {
			rec, err := c.GetEvidence(ctx, d.JobID)
			if err != nil {
				return nil, err
			}
			d.Decision, d.RuleID = rec.Decision, string(rec.PolicyRuleID)
			if rec.ResolvedBy != "" {
				d.Approvers = append(d.Approvers, string(rec.ResolvedBy)+" ("+string(rec.Resolution)+", policy)")
			}
			if rec.OutputSafety != nil && rec.OutputSafety.Decision != "" {
				d.Output = rec.OutputSafety.Decision
				if rec.OutputSafety.RuleID != "" {
					d.Output += " (" + string(rec.OutputSafety.RuleID) + ")"
				}
			}
		}
		out = append(out, d)
	}
	return out, nil
}

func printDAG(w io.Writer, dag []*dagStep) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  STEP\tNEEDS\tSTATUS\tTRIES\tJOB\tDECISION\tAPPROVERS\tOUTPUT")
	for _, d := range dag {
		name := strings.Repeat("  ", d.Depth) + clean(d.StepID)
		if d.Depth > 0 {
			name = strings.Repeat("  ", d.Depth-1) + "└ " + clean(d.StepID)
		}
		dec := orDash(d.Decision)
		if d.Decision != "" {
			dec += " (" + ruleName(d.RuleID) + ")"
		}
		status := d.Status
		if d.GateStatus != "" {
			status += " gate:" + d.GateStatus
		}
		if d.FromRun != "" {
			status += " from " + clean(d.FromRun)
		}
		approvers := "-"
		if len(d.Approvers) > 0 {
			approvers = clean(strings.Join(d.Approvers, ", "))
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", name, orDash(strings.Join(d.DependsOn, ",")), status, d.Attempts,
			orDash(d.JobID), dec, approvers, orDash(d.Output))
	}
	return tw.Flush()
}

// auditRunOptions are the flags of cairn audit run.
type auditRunOptions struct {
	JSON  bool
	Limit int
	g     *clientOptions
}

func newAuditRunCmd(g *clientOptions) *cobra.Command {
	o := &auditRunOptions{g: g}
	cmd := &cobra.Command{
		Use:   "run <run_id>",
		Short: "Print a workflow run and its whole timeline",
		Long: `Print a workflow run (GET /api/v1/workflow-runs/{id}) and every event of
its append-only timeline, oldest first, one line each: seq, timestamp, type,
job, actor, the evidence the event carries, and its ledger index. --limit is
the page size used to walk the timeline; every page is printed.`,
		Args: cobra.ExactArgs(1),
		RunE: g.run(func(cmd *cobra.Command, args []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			return o.run(cmd, args[0])
		}),
	}
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print the run and its timeline as JSON")
	cmd.Flags().IntVar(&o.Limit, "limit", 200, "timeline page size (1-1000)")
	return cmd
}

// Validate checks --limit.
func (o *auditRunOptions) Validate() error {
	if o.Limit < 1 || o.Limit > 1000 {
		return usageError("--limit must be between 1 and 1000")
	}
	return nil
}

func (o *auditRunOptions) run(cmd *cobra.Command, runID string) error {
	c, ctx, cancel, err := o.g.session(cmd, true)
	if err != nil {
		return err
	}
	defer cancel()
	r, err := c.GetRun(ctx, runID)
	if err != nil {
		return err
	}
	events := []*cairn.Event{}
	for ev, err := range c.AllTimeline(ctx, runID, client.TimelineFilter{Page: client.Page{Limit: o.Limit}}) {
		if err != nil {
			return err
		}
		events = append(events, ev)
	}
	var dag []*dagStep
	if r.IsWorkflow() {
		if dag, err = runDAG(ctx, c, r); err != nil {
			return err
		}
	}
	if o.JSON {
		return printJSON(cmd.OutOrStdout(), runAudit{Run: r, DAG: dag, Timeline: events})
	}
	return printRunTimeline(cmd.OutOrStdout(), r, dag, events)
}

// card writes "Label      value" lines with aligned values.
type card struct {
	w   io.Writer
	err error
}

const cardIndent = 14

func (c *card) line(label, format string, args ...any) {
	if c.err != nil {
		return
	}
	v := fmt.Sprintf(format, args...)
	if label == "" {
		_, c.err = fmt.Fprintf(c.w, "%s%s\n", strings.Repeat(" ", cardIndent), v)
		return
	}
	_, c.err = fmt.Fprintf(c.w, "%-*s%s\n", cardIndent, label, v)
}

// sub writes an indented "  label    value" line under a section.
func (c *card) sub(label, format string, args ...any) {
	c.line("  "+label, format, args...)
}

func (c *card) raw(s string) {
	if c.err == nil {
		_, c.err = io.WriteString(c.w, s)
	}
}

// ruleName names the deciding rule; a decision without one was made by the
// bundle's default.
func ruleName(rule string) string {
	if rule == "" {
		return "(default)"
	}
	return clean(rule)
}

// printEvidenceCard prints a decision record for a person.
func printEvidenceCard(w io.Writer, r *cairn.DecisionRecord) error {
	c := &card{w: w}
	c.line("Job", "%s", clean(r.JobID))
	c.ids(string(r.RunID), string(r.WorkflowStepID), r.TraceID)
	c.action(r.Action, string(r.Resource))
	c.line("Submitted by", "%s", orDash(r.Submitted))
	c.line("State", "%s", orDash(r.State))
	c.decision(r.Decision, string(r.PolicyRuleID), r.PolicyReason, string(r.PolicySnapshot))
	c.line("Job hash", "%s", orDash(r.JobHash))
	c.approval(r)

	// Every policy evaluation.
	c.line("Decisions", "%d", len(r.Decisions))
	if len(r.Decisions) > 0 {
		c.table(func(tw io.Writer) {
			for _, d := range r.Decisions {
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", orDash(d.Phase), orDash(d.Decision),
					ruleName(string(d.PolicyRuleID)), orDash(string(d.PolicySnapshot)), fmtTime(d.EvaluatedAt))
			}
		})
	}

	if o := r.OutputSafety; o != nil {
		c.output(o.Decision, string(o.RuleID), o.Findings)
	} else {
		c.line("Output", "not checked (no result)")
	}

	c.line("Pointers", "context %s", orDash(r.ContextPtr))
	c.line("", "result  %s", orDash(string(r.ResultPtr)))

	if len(r.Events) > 0 {
		c.line("Events", "%d", len(r.Events))
		c.table(func(tw io.Writer) {
			for _, ev := range r.Events {
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", ledgerPos(ev.Ledger), fmtTime(ev.Timestamp), orDash(ev.Type), orDash(ev.Actor))
			}
		})
	}
	c.line("Recorded", "%s", fmtTime(r.Timestamp))
	return c.err
}

// ids writes the run, step and trace a job belongs to, when it has any.
func (c *card) ids(run, step, trace string) {
	var ids []string
	if run != "" {
		ids = append(ids, "run "+clean(run))
	}
	if step != "" {
		ids = append(ids, "step "+clean(step))
	}
	if trace != "" {
		ids = append(ids, "trace "+clean(trace))
	}
	if len(ids) > 0 {
		c.line("", "%s", strings.Join(ids, " · "))
	}
}

// action writes "Action  <action> on <resource>".
func (c *card) action(action, resource string) {
	line := orDash(action)
	if resource != "" {
		line += " on " + clean(resource)
	}
	c.line("Action", "%s", line)
}

// decision writes the policy decision, its rule, reason and snapshot.
func (c *card) decision(decision, rule, reason, snapshot string) {
	c.line("Decision", "%s  rule %s", orDash(decision), ruleName(rule))
	if reason != "" {
		c.sub("reason", "%s", clean(reason))
	}
	c.sub("snapshot", "%s", orDash(snapshot))
}

// output writes the output-safety verdict and its findings.
func (c *card) output(decision, rule string, findings []cairn.Finding) {
	line := orDash(decision)
	if rule != "" {
		line += "  rule " + clean(rule)
	}
	c.line("Output", "%s", line)
	if len(findings) > 0 {
		c.sub("findings", "%s", fmtFindings(findings))
	}
}

// table writes aligned rows (unless an earlier write failed).
func (c *card) table(rows func(tw io.Writer)) {
	if c.err != nil {
		return
	}
	tw := tabwriter.NewWriter(c.w, 0, 0, 2, ' ', 0)
	rows(tw)
	c.err = tw.Flush()
}

// approval writes a decision record's approval: whether one was required,
// its resolution, and the request.
func (c *card) approval(r *cairn.DecisionRecord) {
	a := r.Approval
	if !r.ApprovalRequired && a == nil {
		c.line("Approval", "not required")
		return
	}
	what := "required"
	if !r.ApprovalRequired {
		what = "recorded"
	}
	when := ""
	if a != nil && a.ResolvedAt != nil {
		when = " at " + fmtTimePtr(a.ResolvedAt)
	}
	switch res := string(r.Resolution); res {
	case "":
		c.line("Approval", "%s · pending", what)
	case cairn.ResolutionExpired:
		c.line("Approval", "%s · expired%s", what, when)
	default:
		c.line("Approval", "%s · %s by %s%s", what, clean(res), orDash(string(r.ResolvedBy)), when)
	}
	if r.ResolvedComment != "" {
		c.sub("comment", "%s", strconv.Quote(string(r.ResolvedComment)))
	}
	if a != nil {
		c.approvalRequest(a, r.JobHash)
	}
}

// approvalRequest writes who requested an approval, from whom, until when.
func (c *card) approvalRequest(a *cairn.Approval, jobHash string) {
	if len(a.ApproverRoles) > 0 {
		c.sub("roles", "%s", clean(strings.Join(a.ApproverRoles, ", ")))
	}
	c.sub("requested", "by %s at %s", orDash(a.RequestedBy), fmtTime(a.RequestedAt))
	if a.ExpiresAt != nil {
		c.sub("expires", "%s", fmtTimePtr(a.ExpiresAt))
	}
	if a.JobHash != "" && a.JobHash != jobHash {
		c.sub("job hash", "%s (differs from the job's)", clean(a.JobHash))
	}
}

// fmtFindings lists findings as type@offset+length.
func fmtFindings(fs []cairn.Finding) string {
	parts := make([]string, len(fs))
	for i, f := range fs {
		t := f.Type
		if t == "" {
			t = f.Scanner
		}
		parts[i] = fmt.Sprintf("%s@%d+%d", orDash(t), f.Offset, f.Length)
	}
	return strings.Join(parts, ", ")
}

func ledgerPos(l *cairn.LedgerRef) string {
	if l == nil {
		return "-"
	}
	return "#" + strconv.FormatUint(l.Index, 10)
}

// eventEvidence is the evidence an event carries, as key=value pairs.
func eventEvidence(ev *cairn.Event) string {
	if ev.Pruned && ev.PrunedBy != nil {
		return fmt.Sprintf("pruned by retention (ledger #%d)", *ev.PrunedBy)
	}
	var p []string
	if ev.Decision != "" {
		s := "decision=" + clean(ev.Decision)
		if ev.PolicyRuleID != "" {
			s += " rule=" + clean(ev.PolicyRuleID)
		}
		p = append(p, s)
	}
	if ev.Resolution != "" {
		s := "resolution=" + clean(ev.Resolution)
		if ev.ResolvedBy != "" {
			s += " by=" + clean(ev.ResolvedBy)
		}
		p = append(p, s)
	}
	if ev.State != "" {
		p = append(p, "state="+clean(ev.State))
	}
	// Workflow step events: the step's status, attempt and error.
	if st, ok := ev.DataMap()["step_status"].(string); ok {
		p = append(p, "step="+clean(st))
	}
	if n, ok := ev.DataMap()["attempt"].(float64); ok {
		p = append(p, fmt.Sprintf("attempt=%d", int(n)))
	}
	if msg, ok := ev.DataMap()["error"].(string); ok && msg != "" && strings.HasPrefix(ev.Type, "step_") {
		p = append(p, "error="+strconv.Quote(truncateText(clean(msg), 80)))
	}
	if o := ev.OutputSafety; o != nil {
		s := "output=" + orDash(o.Decision)
		if o.RuleID != "" {
			s += " rule=" + clean(string(o.RuleID))
		}
		if len(o.Findings) > 0 {
			s += " findings=" + fmtFindings(o.Findings)
		}
		p = append(p, s)
	}
	if len(p) == 0 {
		return "-"
	}
	return strings.Join(p, " ")
}

// printRunTimeline prints a run, its jobs and its timeline.
func printRunTimeline(w io.Writer, r *cairn.Run, dag []*dagStep, events []*cairn.Event) error {
	c := &card{w: w}
	c.line("Run", "%s  (%s)", clean(r.RunID), orDash(r.Status))
	c.line("Started", "by %s at %s", orDash(r.StartedBy), fmtTime(r.CreatedAt))
	if r.CompletedAt != nil {
		c.line("Completed", "%s", fmtTimePtr(r.CompletedAt))
	}
	if r.Reason != "" {
		c.line("Reason", "%s", clean(r.Reason))
	}
	if r.IsWorkflow() {
		c.line("Workflow", "%s", clean(r.WorkflowID))
		if r.RerunOf != "" {
			c.line("Rerun of", "%s from step %s", clean(r.RerunOf), clean(r.RerunFrom))
		}
		c.line("Steps", "%d", len(dag))
		if c.err == nil {
			c.err = printDAG(w, dag)
		}
	}
	if r.JobsTruncated {
		c.line("Jobs", "the first %d (the run has more; cairn jobs list --run %s lists them all)", len(r.Jobs), clean(r.RunID))
	} else {
		c.line("Jobs", "%d", len(r.Jobs))
	}
	if len(r.Jobs) > 0 && c.err == nil {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, j := range r.Jobs {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", clean(j.JobID), orDash(string(j.WorkflowStepID)), orDash(j.Action), orDash(j.Decision), orDash(j.State))
		}
		c.err = tw.Flush()
	}
	c.line("Timeline", "%d events", len(events))
	if len(events) == 0 || c.err != nil {
		return c.err
	}
	c.raw("\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIMESTAMP\tTYPE\tJOB\tACTOR\tEVIDENCE\tLEDGER")
	for _, ev := range events {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", ev.Seq, fmtTime(ev.Timestamp), orDash(ev.Type),
			orDash(string(ev.JobID)), orDash(ev.Actor), eventEvidence(ev), ledgerPos(ev.Ledger))
	}
	if c.err == nil {
		c.err = tw.Flush()
	}
	return c.err
}

func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
