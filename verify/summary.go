package verify

import (
	"fmt"
	"strings"
)

// Summary renders the report for a person, one fact per line, ending with
// the verdict: "OK" or "FAILED: <first problem>" (and how many more).
func (r *Report) Summary() string {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	line("tenant:      %s (origin %s)", r.Tenant, r.Origin)
	if r.LogKey != "" {
		trust := "trusted key"
		if !r.KeyTrusted {
			trust = "key taken from the bundle, NOT independently trusted"
		}
		line("checkpoint:  tree size %d, root %s", r.TreeSize, r.Root)
		line("signed by:   %s (%s)", r.LogKey, trust)
		if len(r.Cosigners) > 0 {
			line("cosigned by: %s", strings.Join(r.Cosigners, ", "))
		}
	}
	mode := map[string]string{
		"complete":     "complete log, root recomputed from every leaf",
		"range":        "contiguous range, root recomputed with a range proof",
		"proofs":       "selected entries, one inclusion proof each",
		"range+proofs": "a contiguous range plus inclusion proofs",
	}[r.Mode]
	if mode == "" {
		mode = r.Mode
	}
	line("entries:     %d (%s); %d prev_hash links, %d inclusion proofs checked", r.Entries, mode, r.ChainLinks, r.InclusionProofs)
	switch {
	case r.TrustedSize > 0 || r.Consistency != "":
		c := r.Consistency
		if c == "" {
			c = "NOT consistent"
		}
		line("trusted:     checkpoint of size %d: %s", r.TrustedSize, c)
		if len(r.TrustedCosigners) > 0 {
			line("trusted cosigned by: %s", strings.Join(r.TrustedCosigners, ", "))
		}
	default:
		line("trusted:     no trusted checkpoint given: truncation or rewrite of history cannot be detected")
	}
	if r.Witnesses > 0 {
		line("witnesses:   %d distinct given witnesses cosigned", r.Witnesses)
	}
	line("jobs:        %d rows checked, %d job_hashes recomputed", r.Jobs, r.JobHashesVerified)
	if r.JobHashesErased > 0 {
		line("erased:      %d job_hashes erased, not checked (their context payloads were erased)", r.JobHashesErased)
	}
	line("policies:    %d texts; payloads: %d (%d withheld, %d of them erased)", r.Policies, r.Payloads, r.PayloadsWithheld, r.PayloadsErased)
	line("workflows:   %d texts", r.Workflows)
	if r.Pruned > 0 {
		line("pruned:      %d entries pruned by retention (not tampered: their leaf hashes are in the verified tree)", r.Pruned)
		for _, p := range r.PrunedEntries {
			line("pruned:      entry %d leaf %s by retention_compacted %d", p.Index, p.LeafHash, p.PrunedBy)
		}
		if n := r.Pruned - len(r.PrunedEntries); n > 0 {
			line("pruned:      … and %d more", n)
		}
	}
	for _, n := range r.Notes {
		line("note:        %s", n)
	}
	if r.OK {
		line("result:      OK")
		return b.String()
	}
	for _, p := range r.Problems {
		line("problem:     %s", p)
	}
	more := ""
	if n := len(r.Problems) - 1; n > 0 {
		more = fmt.Sprintf(" (and %d more)", n)
	}
	line("result:      FAILED: %s%s", r.Problems[0], more)
	return b.String()
}
