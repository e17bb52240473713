package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"iter"
	"os"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/client"
	"github.com/spf13/cobra"
)

func newPolicyCmd(g *clientOptions) *cobra.Command {
	cmd := clientGroup(&cobra.Command{
		Use:   "policy",
		Short: "Publish, roll back, show, audit and simulate policy",
	})
	cmd.AddCommand(newPolicyPublishCmd(g), newPolicyRollbackCmd(g), newPolicyShowCmd(g), newPolicySnapshotsCmd(g),
		newPolicyAuditCmd(g), newPolicySimulateCmd(g))
	return cmd
}

// policyChangeOptions are the flags of cairn policy publish and rollback.
type policyChangeOptions struct {
	Message string
	JSON    bool
	g       *clientOptions
}

func (o *policyChangeOptions) bind(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&o.Message, "message", "m", "", "why (recorded in the policy audit)")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print the answer as JSON")
}

func newPolicyPublishCmd(g *clientOptions) *cobra.Command {
	o := &policyChangeOptions{g: g}
	cmd := &cobra.Command{
		Use:   "publish <file|-> [-m message]",
		Short: "Publish a policy bundle; it becomes the active snapshot",
		Long: `Publish a YAML policy bundle (- reads stdin). The snapshot id is the
SHA-256 of the file's exact bytes, so sha256sum reproduces it. An invalid
bundle is refused with the line and the problem, and changes nothing.`,
		Args: cobra.ExactArgs(1),
		RunE: g.run(func(cmd *cobra.Command, args []string) error { return o.publish(cmd, args[0]) }),
	}
	o.bind(cmd)
	return cmd
}

func (o *policyChangeOptions) publish(cmd *cobra.Command, path string) error {
	bundle, err := readBundle(path, cmd.InOrStdin())
	if err != nil {
		return err
	}
	c, ctx, cancel, err := o.g.session(cmd, true)
	if err != nil {
		return err
	}
	defer cancel()
	ch, err := c.PublishPolicy(ctx, cairn.PublishRequest{Bundle: bundle, Message: o.Message})
	if err != nil {
		return err
	}
	if o.JSON {
		return printJSON(cmd.OutOrStdout(), ch)
	}
	if want := snapshotOf(bundle); ch.PolicySnapshot != want {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: the server named the snapshot %s, but the file's SHA-256 gives %s\n", clean(ch.PolicySnapshot), want)
	}
	return printPolicyChange(cmd.OutOrStdout(), "published", ch)
}

func newPolicyRollbackCmd(g *clientOptions) *cobra.Command {
	o := &policyChangeOptions{g: g}
	cmd := &cobra.Command{
		Use:   "rollback <snapshot> [-m message]",
		Short: "Make an earlier snapshot active again",
		Long: `Make an earlier published snapshot active again. <snapshot> is the full
id (cfg:system:policy#sha256:<hex>), sha256:<hex>, or the bare hex.`,
		Args: cobra.ExactArgs(1),
		RunE: g.run(func(cmd *cobra.Command, args []string) error { return o.rollback(cmd, args[0]) }),
	}
	o.bind(cmd)
	return cmd
}

func (o *policyChangeOptions) rollback(cmd *cobra.Command, snapshot string) error {
	c, ctx, cancel, err := o.g.session(cmd, true)
	if err != nil {
		return err
	}
	defer cancel()
	ch, err := c.RollbackPolicy(ctx, cairn.RollbackRequest{To: snapshotID(snapshot), Message: o.Message})
	if err != nil {
		return err
	}
	if o.JSON {
		return printJSON(cmd.OutOrStdout(), ch)
	}
	return printPolicyChange(cmd.OutOrStdout(), "rolled back to", ch)
}

// policyShowOptions are the flags of cairn policy show.
type policyShowOptions struct {
	Snapshot string
	JSON     bool
	g        *clientOptions
}

func newPolicyShowCmd(g *clientOptions) *cobra.Command {
	o := &policyShowOptions{g: g}
	cmd := &cobra.Command{
		Use:   "show [--snapshot ID]",
		Short: "Show the active policy (or a published snapshot) and its text",
		Args:  cobra.NoArgs,
		RunE:  g.run(func(cmd *cobra.Command, _ []string) error { return o.run(cmd) }),
	}
	cmd.Flags().StringVar(&o.Snapshot, "snapshot", "", "show this published snapshot instead of the active one")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print as JSON")
	return cmd
}

func (o *policyShowOptions) run(cmd *cobra.Command) error {
	c, ctx, cancel, err := o.g.session(cmd, true)
	if err != nil {
		return err
	}
	defer cancel()
	w := cmd.OutOrStdout()
	if o.Snapshot != "" {
		s, err := c.GetSnapshot(ctx, snapshotID(o.Snapshot))
		if err != nil {
			return err
		}
		if o.JSON {
			return printJSON(w, s)
		}
		fmt.Fprintf(w, "Snapshot      %s\nPublished     by %s at %s\n\n", clean(s.ID), orDash(s.CreatedBy), fmtTime(s.CreatedAt))
		_, err = io.WriteString(w, s.Text)
		return err
	}
	p, err := c.GetPolicy(ctx)
	if err != nil {
		return err
	}
	if o.JSON {
		return printJSON(w, p)
	}
	if p.PolicySnapshot == "" {
		_, err = fmt.Fprintln(w, "no policy published yet")
		return err
	}
	fmt.Fprintf(w, "Snapshot      %s\nActive since  %s\n\n", clean(string(p.PolicySnapshot)), fmtTime(p.ActivatedAt))
	_, err = io.WriteString(w, p.Text)
	return err
}

func newPolicySnapshotsCmd(g *clientOptions) *cobra.Command {
	o := &jsonOption{g: g}
	cmd := &cobra.Command{
		Use:   "snapshots",
		Short: "List every published policy snapshot",
		Args:  cobra.NoArgs,
		RunE:  g.run(func(cmd *cobra.Command, _ []string) error { return o.snapshots(cmd) }),
	}
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print as a JSON array")
	return cmd
}

func (o *jsonOption) snapshots(cmd *cobra.Command) error {
	c, ctx, cancel, err := o.g.session(cmd, true)
	if err != nil {
		return err
	}
	defer cancel()
	snaps, err := collect(c.AllSnapshots(ctx, client.Page{Limit: 1000}), 0)
	if err != nil {
		return err
	}
	if o.JSON {
		return printJSON(cmd.OutOrStdout(), snaps)
	}
	if len(snaps) == 0 {
		_, err = fmt.Fprintln(cmd.OutOrStdout(), "no snapshots")
		return err
	}
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SNAPSHOT\tCREATED\tCREATED_BY")
	for _, s := range snaps {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", clean(s.ID), fmtTime(s.CreatedAt), orDash(s.CreatedBy))
	}
	return tw.Flush()
}

// policyAuditOptions are the flags of cairn policy audit.
type policyAuditOptions struct {
	Action, Actor string
	pagedList
	g *clientOptions
}

func newPolicyAuditCmd(g *clientOptions) *cobra.Command {
	o := &policyAuditOptions{g: g}
	cmd := &cobra.Command{
		Use:   "audit [flags]",
		Short: "The publish/rollback audit stream, newest first",
		Args:  cobra.NoArgs,
		RunE:  g.run(func(cmd *cobra.Command, _ []string) error { return o.run(cmd) }),
	}
	f := cmd.Flags()
	f.StringVar(&o.Action, "action", "", "publish or rollback")
	f.StringVar(&o.Actor, "actor", "", "principal who made the change")
	o.Range.bind(f, "")
	f.IntVar(&o.Limit, "limit", 0, "print at most N entries (0 = all)")
	f.BoolVar(&o.JSON, "json", false, "print the entries as a JSON array")
	return cmd
}

func (o *policyAuditOptions) run(cmd *cobra.Command) error {
	f := client.AuditFilter{Action: o.Action, Actor: o.Actor}
	return printPaged(cmd, o.g, o.pagedList, func(ctx context.Context, c *client.Client, since, until time.Time, page int) iter.Seq2[*cairn.PolicyAudit, error] {
		f.Since, f.Until, f.Limit = since, until, page
		return c.AllPolicyAudit(ctx, f)
	}, printPolicyAudit)
}

// policySimulateOptions are the flags of cairn policy simulate.
type policySimulateOptions struct {
	jobFlags
	Bundle, Snapshot, As string
	JSON                 bool
	g                    *clientOptions
}

func newPolicySimulateCmd(g *clientOptions) *cobra.Command {
	o := &policySimulateOptions{g: g}
	cmd := &cobra.Command{
		Use:   "simulate --action A [flags]",
		Short: "Evaluate a job against the policy without side effects",
		Long: `Evaluate a job as it would be submitted, against the active policy, a
published snapshot (--snapshot) or a candidate bundle file (--bundle),
and explain which rule decided and why. Nothing is recorded.`,
		Args: cobra.NoArgs,
		RunE: g.run(func(cmd *cobra.Command, _ []string) error { return o.run(cmd) }),
	}
	f := cmd.Flags()
	o.bind(f)
	f.StringVar(&o.Bundle, "bundle", "", "evaluate this candidate bundle file instead of the active policy")
	f.StringVar(&o.Snapshot, "snapshot", "", "evaluate against this published snapshot")
	f.StringVar(&o.As, "as", "", "evaluate as this principal id (default: you)")
	f.BoolVar(&o.JSON, "json", false, "print the decision as JSON")
	markRequired(cmd, "action")
	return cmd
}

// request builds the simulate request, reading --input and --bundle.
func (o *policySimulateOptions) request(stdin io.Reader) (cairn.SimulateRequest, error) {
	var req cairn.SimulateRequest
	var err error
	if req.Job, err = o.jobFlags.request(stdin); err != nil {
		return req, err
	}
	req.SubmittedAs = o.As
	if o.Bundle != "" {
		if req.Bundle, err = readBundle(o.Bundle, stdin); err != nil {
			return req, err
		}
	}
	if o.Snapshot != "" {
		if req.Bundle != "" {
			return req, usageError("use either --bundle or --snapshot, not both")
		}
		req.Snapshot = snapshotID(o.Snapshot)
	}
	return req, nil
}

func (o *policySimulateOptions) run(cmd *cobra.Command) error {
	req, err := o.request(cmd.InOrStdin())
	if err != nil {
		return err
	}
	c, ctx, cancel, err := o.g.session(cmd, true)
	if err != nil {
		return err
	}
	defer cancel()
	d, err := c.Simulate(ctx, req)
	if err != nil {
		return err
	}
	if o.JSON {
		return printJSON(cmd.OutOrStdout(), d)
	}
	return printSimulation(cmd.OutOrStdout(), &d.Decision)
}

// maxBundle bounds a bundle read from a file or stdin.
const maxBundle = 8 << 20

func readBundle(path string, stdin io.Reader) (string, error) {
	var r io.Reader = stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return "", err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxBundle+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxBundle {
		return "", usageError("%s: bundle larger than %d bytes", path, maxBundle)
	}
	return string(b), nil
}

// snapshotOf is the snapshot id of a bundle's exact bytes.
func snapshotOf(bundle string) string {
	sum := sha256.Sum256([]byte(bundle))
	return cairn.SnapshotPrefix + hex.EncodeToString(sum[:])
}

var hexRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// snapshotID expands sha256:<hex> and bare hex to a full snapshot id.
func snapshotID(s string) string {
	s = strings.TrimSpace(s)
	h := strings.TrimPrefix(s, "sha256:")
	if hexRE.MatchString(strings.ToLower(h)) {
		return cairn.SnapshotPrefix + strings.ToLower(h)
	}
	return s
}

func printPolicyChange(w io.Writer, verb string, ch *cairn.PolicyChange) error {
	c := &card{w: w}
	if !ch.Changed {
		c.line("Unchanged", "%s is already active", orDash(ch.PolicySnapshot))
	} else {
		c.line("Active", "%s (%s)", orDash(ch.PolicySnapshot), verb)
	}
	if a := ch.Audit; a != nil {
		c.line("Audit", "%s %s by %s at %s", orDash(a.AuditID), orDash(a.Action), orDash(a.Actor), fmtTime(a.Timestamp))
		if a.SnapshotBefore != "" {
			c.sub("before", "%s", clean(string(a.SnapshotBefore)))
		}
		if a.Message != "" {
			c.sub("message", "%s", clean(a.Message))
		}
	}
	return c.err
}

func printPolicyAudit(w io.Writer, items []*cairn.PolicyAudit) error {
	if len(items) == 0 {
		_, err := fmt.Fprintln(w, "no policy changes")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIMESTAMP\tACTION\tACTOR\tBEFORE\tAFTER\tMESSAGE\tLEDGER")
	for _, a := range items {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", fmtTime(a.Timestamp), orDash(a.Action), orDash(a.Actor),
			orDash(string(a.SnapshotBefore)), orDash(a.SnapshotAfter), orDash(a.Message), ledgerPos(a.Ledger))
	}
	return tw.Flush()
}

// printSimulation explains a simulated decision.
func printSimulation(w io.Writer, d *cairn.Decision) error {
	c := &card{w: w}
	c.line("Decision", "%s  rule %s", orDash(d.Decision), ruleName(string(d.PolicyRuleID)))
	if d.PolicyReason != "" {
		c.sub("reason", "%s", clean(d.PolicyReason))
	}
	c.sub("snapshot", "%s", orDash(string(d.PolicySnapshot)))
	if d.JobHash != "" {
		c.line("Job hash", "%s", clean(d.JobHash))
	}
	if d.Explanation != "" {
		c.line("Why", "%s", clean(d.Explanation))
	}
	if a := d.Approval; a != nil {
		line := "roles " + orDash(strings.Join(a.ApproverRoles, ", "))
		if a.ExpiresIn != "" {
			line += " · expires in " + clean(a.ExpiresIn)
		}
		c.line("Approval", "%s", line)
	}
	if len(d.Constraints) > 0 && string(d.Constraints) != "null" {
		c.line("Constraints", "%s", clean(string(d.Constraints)))
	}
	if len(d.RulesTried) > 0 {
		c.line("Rules tried", "%d", len(d.RulesTried))
		if c.err == nil {
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			for _, t := range d.RulesTried {
				m := "no match"
				if t.Matched {
					m = "MATCH"
				}
				fmt.Fprintf(tw, "  %s\t%s\t%s\n", orDash(t.RuleID), m, orDash(t.Why))
			}
			c.err = tw.Flush()
		}
	}
	return c.err
}
