package main

// cairn hook claude-code: Claude Code's own tools governed through Cairn.
// The logic lives in internal/claudehook; this file turns flags into its
// Config and its result into the exit code Claude Code reads.

import (
	"fmt"
	"strings"
	"time"

	"github.com/cairnhq/cairn/client"
	"github.com/cairnhq/cairn/internal/claudehook"
	"github.com/spf13/cobra"
)

// hookExitBlock is the exit code Claude Code treats as blocking: any
// other non-zero code lets the tool run, so every failure of a hook
// command exits with it.
const hookExitBlock = 2

func newHookCmd(g *clientOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hook",
		Short: "Agent hooks: an agent's own tools governed through Cairn",
		Long: `Hooks an agent runtime calls around each tool use. Today: claude-code.
See docs/hooks.md.`,
		Args:          cobra.ArbitraryArgs,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return hookFail(cmd, "name a hook: cairn hook claude-code")
			}
			return hookFail(cmd, fmt.Sprintf("unknown hook %q; the hooks are: claude-code", strings.Join(args, " ")))
		},
	}
	cmd.AddCommand(newHookClaudeCmd(g))
	return cmd
}

// hookClaudeOptions are the flags of cairn hook claude-code.
type hookClaudeOptions struct {
	Wait      time.Duration
	OnTimeout string
	FailOpen  bool
	Lease     time.Duration
	StateDir  string
	LogKey    string
	WorkerID  string
	g         *clientOptions
}

func newHookClaudeCmd(g *clientOptions) *cobra.Command {
	o := &hookClaudeOptions{g: g}
	cmd := &cobra.Command{
		Use:   "claude-code",
		Short: "Claude Code command hook (PreToolUse, PostToolUse): decide, dispatch and record each tool use",
		Long: `Run by Claude Code for each tool use, with the hook event as JSON on stdin.

PreToolUse submits the tool use as job claude.<tool> in run <session id>,
bound to this key's principal as executor, waits up to --wait for the
decision and any approval, and on ALLOW leases the job (recording the
dispatch and its signed receipt) before answering "allow". DENY answers
"deny"; an approval still pending after --wait answers --on-timeout.
PostToolUse completes the job with the tool's response; a QUARANTINE is a
block. An unreachable server denies unless --fail-open is given.

The key (--key-file, CAIRN_KEY_FILE or CAIRN_KEY) needs roles agent and
worker. Exit code 0 carries a JSON answer; 2 (input that cannot be read, a
bad flag) blocks the tool. See docs/hooks.md.`,
		Args:          cobra.NoArgs,
		SilenceErrors: true,
		// As the root's, but a bad environment value blocks the tool use
		// (exit 2) like a bad flag.
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnv(cmd.Flags()); err != nil {
				return hookFail(cmd, err.Error())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SilenceUsage = true
			ctx, cancel := g.context(cmd, false)
			defer cancel()
			code := claudehook.Run(ctx, o.config(), cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr())
			if code != 0 {
				return exitCode(code)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.DurationVar(&o.Wait, "wait", claudehook.DefaultWait, "how long PreToolUse waits for a decision and an approval (keep it below the hook's timeout in settings.json)")
	f.StringVar(&o.OnTimeout, "on-timeout", claudehook.OnTimeoutDeny, "what an approval still pending after --wait answers: deny (the job is cancelled) or ask (Claude Code asks its user)")
	f.BoolVar(&o.FailOpen, "fail-open", false, "allow tool uses when the server cannot be reached (default: deny them)")
	f.DurationVar(&o.Lease, "lease", claudehook.DefaultLease, "how long an allowed tool use may run before its Cairn lease ends (1s..1h)")
	f.StringVar(&o.StateDir, "state-dir", "", "directory of the hook's per-tool-use state (env CAIRN_HOOK_STATE; default <user cache dir>/cairn/hook)")
	f.StringVar(&o.LogKey, "log-key", "", "the log's public key (or a file holding it) that dispatch receipts must verify against; default: fetched from the server")
	f.StringVar(&o.WorkerID, "worker-id", "", "the worker id the dispatch evidence gives this hook (default claude-code:<the key's principal>)")
	cmd.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return hookFail(cmd, err.Error())
	})
	return cmd
}

// config turns the flags into the hook's Config. A problem becomes
// Config.Err, so the event is still read and answered (deny) rather than
// failing open.
func (o *hookClaudeOptions) config() claudehook.Config {
	cfg := claudehook.Config{Server: o.g.Server, Wait: o.Wait, OnTimeout: o.OnTimeout, FailOpen: o.FailOpen,
		Lease: o.Lease, WorkerID: o.WorkerID}
	var err error
	if cfg.StateDir, err = claudehook.StateDir(o.StateDir); err != nil {
		cfg.Err = err
		return cfg
	}
	cfg.LogKey = o.LogKey
	if cfg.LogKey != "" {
		if b, err := readMaybeFile(cfg.LogKey); err == nil {
			cfg.LogKey = strings.TrimSpace(string(b))
		}
	}
	key, err := o.g.resolveKey()
	if err != nil {
		cfg.Err = err
		return cfg
	}
	if cfg.Server == "" {
		cfg.Err = fmt.Errorf("--server is empty")
		return cfg
	}
	cfg.Client = client.New(cfg.Server, key, client.WithUserAgent("cairn-hook/1"), client.WithRetries(2))
	return cfg
}

// hookFail prints msg for Claude Code and exits with the blocking code.
func hookFail(cmd *cobra.Command, msg string) error {
	fmt.Fprintf(cmd.ErrOrStderr(), "cairn hook: %s; the tool use is blocked\n", msg)
	return exitCode(hookExitBlock)
}

// exitCode is an error that asks main to exit with that status, its
// message already printed.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }
