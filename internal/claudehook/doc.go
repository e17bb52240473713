// Package claudehook governs Claude Code's own tools through Cairn. It is
// the logic of `cairn hook claude-code`, a Claude Code command hook: Claude
// Code runs it before and after each tool use with the event as JSON on
// stdin, and reads its answer as JSON on stdout.
//
// PreToolUse submits the tool use as a Cairn job (action claude.<tool>,
// input the tool's arguments, run the Claude Code session, job id derived
// from the tool use id, executor the hook key's own principal), waits for
// the decision and any approval, and on ALLOW leases the job by its id,
// which records the dispatch re-decision and its signed receipt, before it
// answers "allow". Claude Code then runs the tool itself: the executor of
// the job is the agent, not a Cairn worker, and the evidence says so.
// PostToolUse completes the job with the tool's response, so the output
// rules check it; a QUARANTINE is reported back to Claude Code as a block.
//
// Everything fails closed: an unreachable control plane, a missing key or a
// dispatch receipt that does not verify is a "deny" (unless the operator
// passes --fail-open for an unreachable server), and input the hook cannot
// read exits 2, which Claude Code treats as blocking. See docs/hooks.md and
// docs/adr/0018-claude-code-hook.md.
package claudehook
