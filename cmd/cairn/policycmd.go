package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"text/tabwriter"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/client"
	"github.com/spf13/cobra"
)

var policyCmd = clientGroup(&cobra.Command{
	Use:   "policy",
	Short: "Publish, roll back, show, audit and simulate policy",
})

var policyPublishCmd = &cobra.Command{
	Use:   "publish <file|-> [-m message]",
	Short: "Publish a policy bundle; it becomes the active snapshot",
	Long: `Publish a YAML policy bundle (- reads stdin). The snapshot id is the
SHA-256 of the file's exact bytes, so sha256sum reproduces it. An invalid
bundle is refused with the line and the problem, and changes nothing.`,
	Args: cobra.ExactArgs(1),
	RunE: run(func(cmd *cobra.Command, args []string) error {
		msg, _ := cmd.Flags().GetString("message")
		bundle, err := readBundle(args[0], cmd.InOrStdin())
		if err != nil {
			return err
		}
		c, err := newClient()
		if err != nil {
			return err
		}
		ctx, cancel := commandContext(cmd, true)
		defer cancel()
		ch, err := c.PublishPolicy(ctx, cairn.PublishRequest{Bundle: bundle, Message: msg})
		if err != nil {
			return err
		}
		if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
			return printJSON(cmd.OutOrStdout(), ch)
		}
		if want := snapshotOf(bundle); ch.PolicySnapshot != want {
			fmt.Fprintf(cmd.ErrOrStderr(), "warning: the server named the snapshot %s, but the file's SHA-256 gives %s\n", clean(ch.PolicySnapshot), want)
		}
		return printPolicyChange(cmd.OutOrStdout(), "published", ch)
	}),
}

var policyRollbackCmd = &cobra.Command{
	Use:   "rollback <snapshot> [-m message]",
	Short: "Make an earlier snapshot active again",
	Long: `Make an earlier published snapshot active again. <snapshot> is the full
id (cfg:system:policy#sha256:<hex>), sha256:<hex>, or the bare hex.`,
	Args: cobra.ExactArgs(1),
	RunE: run(func(cmd *cobra.Command, args []string) error {
		msg, _ := cmd.Flags().GetString("message")
		c, err := newClient()
		if err != nil {
			return err
		}
		ctx, cancel := commandContext(cmd, true)
		defer cancel()
		ch, err := c.RollbackPolicy(ctx, cairn.RollbackRequest{To: snapshotID(args[0]), Message: msg})
		if err != nil {
			return err
		}
		if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
			return printJSON(cmd.OutOrStdout(), ch)
		}
		return printPolicyChange(cmd.OutOrStdout(), "rolled back to", ch)
	}),
}

var policyShowCmd = &cobra.Command{
	Use:   "show [--snapshot ID]",
	Short: "Show the active policy (or a published snapshot) and its text",
	Args:  cobra.NoArgs,
	RunE: run(func(cmd *cobra.Command, args []string) error {
		snap, _ := cmd.Flags().GetString("snapshot")
		asJSON, _ := cmd.Flags().GetBool("json")
		c, err := newClient()
		if err != nil {
			return err
		}
		ctx, cancel := commandContext(cmd, true)
		defer cancel()
		w := cmd.OutOrStdout()
		if snap != "" {
			s, err := c.GetSnapshot(ctx, snapshotID(snap))
			if err != nil {
				return err
			}
			if asJSON {
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
		if asJSON {
			return printJSON(w, p)
		}
		if p.PolicySnapshot == "" {
			_, err = fmt.Fprintln(w, "no policy published yet")
			return err
		}
		fmt.Fprintf(w, "Snapshot      %s\nActive since  %s\n\n", clean(string(p.PolicySnapshot)), fmtTime(p.ActivatedAt))
		_, err = io.WriteString(w, p.Text)
		return err
	}),
}

var policySnapshotsCmd = &cobra.Command{
	Use:   "snapshots",
	Short: "List every published policy snapshot",
	Args:  cobra.NoArgs,
	RunE: run(func(cmd *cobra.Command, args []string) error {
		c, err := newClient()
		if err != nil {
			return err
		}
		ctx, cancel := commandContext(cmd, true)
		defer cancel()
		snaps, err := collect(c.AllSnapshots(ctx, client.Page{Limit: 1000}), 0)
		if err != nil {
			return err
		}
		if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
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
	}),
}

var policyAuditCmd = &cobra.Command{
	Use:   "audit [flags]",
	Short: "The publish/rollback audit stream, newest first",
	Args:  cobra.NoArgs,
	RunE: run(func(cmd *cobra.Command, args []string) error {
		fl := cmd.Flags()
		var f client.AuditFilter
		f.Action, _ = fl.GetString("action")
		f.Actor, _ = fl.GetString("actor")
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
		items, err := collect(c.AllPolicyAudit(ctx, f), limit)
		if err != nil {
			return err
		}
		if asJSON, _ := fl.GetBool("json"); asJSON {
			return printJSON(cmd.OutOrStdout(), items)
		}
		return printPolicyAudit(cmd.OutOrStdout(), items)
	}),
}

var policySimulateCmd = &cobra.Command{
	Use:   "simulate --action A [flags]",
	Short: "Evaluate a job against the policy without side effects",
	Long: `Evaluate a job as it would be submitted, against the active policy, a
published snapshot (--snapshot) or a candidate bundle file (--bundle),
and explain which rule decided and why. Nothing is recorded.`,
	Args: cobra.NoArgs,
	RunE: run(func(cmd *cobra.Command, args []string) error {
		fl := cmd.Flags()
		var req cairn.SimulateRequest
		req.Job.Action, _ = fl.GetString("action")
		req.Job.Resource, _ = fl.GetString("resource")
		req.Job.RunID, _ = fl.GetString("run")
		req.Job.WorkflowStepID, _ = fl.GetString("step")
		req.Job.RiskTags, _ = fl.GetStringArray("risk-tag")
		req.SubmittedAs, _ = fl.GetString("as")
		labels, _ := fl.GetStringArray("label")
		var err error
		if req.Job.Labels, err = parseLabels(labels); err != nil {
			return err
		}
		in, _ := fl.GetString("input")
		if req.Job.Input, err = readJSONArg("input", in, cmd.InOrStdin()); err != nil {
			return err
		}
		if b, _ := fl.GetString("bundle"); b != "" {
			if req.Bundle, err = readBundle(b, cmd.InOrStdin()); err != nil {
				return err
			}
		}
		if s, _ := fl.GetString("snapshot"); s != "" {
			if req.Bundle != "" {
				return usageError("use either --bundle or --snapshot, not both")
			}
			req.Snapshot = snapshotID(s)
		}
		c, err := newClient()
		if err != nil {
			return err
		}
		ctx, cancel := commandContext(cmd, true)
		defer cancel()
		d, err := c.Simulate(ctx, req)
		if err != nil {
			return err
		}
		if asJSON, _ := fl.GetBool("json"); asJSON {
			return printJSON(cmd.OutOrStdout(), d)
		}
		return printSimulation(cmd.OutOrStdout(), &d.Decision)
	}),
}

func init() {
	policyPublishCmd.Flags().StringP("message", "m", "", "why (recorded in the policy audit)")
	policyPublishCmd.Flags().Bool("json", false, "print the answer as JSON")
	policyRollbackCmd.Flags().StringP("message", "m", "", "why (recorded in the policy audit)")
	policyRollbackCmd.Flags().Bool("json", false, "print the answer as JSON")
	policyShowCmd.Flags().String("snapshot", "", "show this published snapshot instead of the active one")
	policyShowCmd.Flags().Bool("json", false, "print as JSON")
	policySnapshotsCmd.Flags().Bool("json", false, "print as a JSON array")

	f := policyAuditCmd.Flags()
	f.String("action", "", "publish or rollback")
	f.String("actor", "", "principal who made the change")
	f.String("since", "", "at or after (RFC 3339, date, or duration ago)")
	f.String("until", "", "before (RFC 3339, date, or duration ago)")
	f.Int("limit", 0, "print at most N entries (0 = all)")
	f.Bool("json", false, "print the entries as a JSON array")

	f = policySimulateCmd.Flags()
	f.String("action", "", "action name (required)")
	f.String("resource", "", "resource")
	f.StringArray("label", nil, "label key=value (repeatable)")
	f.StringArray("risk-tag", nil, "risk tag (repeatable)")
	f.String("run", "", "workflow run id")
	f.String("step", "", "workflow step id")
	f.String("input", "", "input JSON: inline, @FILE or - for stdin")
	f.String("bundle", "", "evaluate this candidate bundle file instead of the active policy")
	f.String("snapshot", "", "evaluate against this published snapshot")
	f.String("as", "", "evaluate as this principal id (default: you)")
	f.Bool("json", false, "print the decision as JSON")
	_ = policySimulateCmd.MarkFlagRequired("action")

	policyCmd.AddCommand(policyPublishCmd, policyRollbackCmd, policyShowCmd, policySnapshotsCmd, policyAuditCmd, policySimulateCmd)
	rootCmd.AddCommand(policyCmd)
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
