package claudehook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/cairnhq/cairn/client"
)

// The values of Config.OnTimeout.
const (
	OnTimeoutDeny = "deny"
	OnTimeoutAsk  = "ask"
)

// Defaults of the hook's settings.
const (
	DefaultWait  = 50 * time.Second
	DefaultLease = 10 * time.Minute
	// callTimeout bounds one API call made outside the wait for a decision.
	callTimeout = 10 * time.Second
)

// Config is how the hook reaches Cairn and how long it waits.
type Config struct {
	// Client calls the Cairn server with the hook's key (roles agent and
	// worker). Nil when Err says why there is none.
	Client *client.Client
	// Err is a configuration problem found before the event was read (no
	// key, bad flags); every tool use is then refused with it.
	Err error
	// Server is the server's base URL, for console links.
	Server string
	// Wait bounds how long PreToolUse waits for a decision and an approval.
	Wait time.Duration
	// OnTimeout is what a still-pending approval answers when Wait ends:
	// OnTimeoutDeny (the default) or OnTimeoutAsk.
	OnTimeout string
	// FailOpen allows tool uses when the server cannot be reached. Off
	// unless asked for explicitly.
	FailOpen bool
	// Lease is how long a dispatched tool use may run before its lease
	// expires (1s..1h; the server's bounds).
	Lease time.Duration
	// StateDir holds the state files PreToolUse leaves for PostToolUse.
	StateDir string
	// LogKey, when set, pins the log key dispatch receipts must verify
	// against; otherwise it is taken from the server.
	LogKey string
	// WorkerID names the hook in the dispatch evidence (the actor of
	// job_dispatched and job_completed is "worker:<WorkerID>"). Empty means
	// "claude-code:<the key's principal>".
	WorkerID string
}

// Check reports a setting the hook cannot run with.
func (c *Config) Check() error {
	switch {
	case c.OnTimeout != OnTimeoutDeny && c.OnTimeout != OnTimeoutAsk:
		return fmt.Errorf("--on-timeout must be deny or ask, not %q", c.OnTimeout)
	case c.Wait < 0:
		return errors.New("--wait must not be negative")
	case c.Lease < time.Second || c.Lease > time.Hour:
		return fmt.Errorf("--lease must be between 1s and 1h, not %s", c.Lease)
	}
	return nil
}

// Run handles one hook event read from stdin and writes Claude Code's
// answer to stdout. It returns the process exit code: 0 with a JSON answer,
// or 2 with a message on stderr when the event cannot be read (Claude Code
// blocks the tool on 2). It never panics.
func Run(ctx context.Context, cfg Config, stdin io.Reader, stdout, stderr io.Writer) (code int) {
	defer func() {
		if p := recover(); p != nil {
			fmt.Fprintf(stderr, "cairn hook: internal error (%v); the tool use is blocked\n", p)
			code = 2
		}
	}()
	ev, err := ReadEvent(stdin)
	if err != nil {
		fmt.Fprintf(stderr, "cairn hook: malformed hook input: %v; the tool use is blocked\n", err)
		return 2
	}
	ans := Handle(ctx, cfg, ev)
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ans); err != nil {
		fmt.Fprintf(stderr, "cairn hook: writing the answer: %v\n", err)
		return 2
	}
	return 0
}

// Handle decides the answer to one valid event.
func Handle(ctx context.Context, cfg Config, ev *Event) Answer {
	if cfg.Err == nil {
		cfg.Err = cfg.Check()
	}
	h := &hook{cfg: cfg, c: cfg.Client, ev: ev, jobID: ev.JobID()}
	if ev.HookEventName == PreToolUse {
		if cfg.Err != nil {
			return deny(fmt.Sprintf("Cairn hook is not configured (%v); nothing was allowed.", cfg.Err))
		}
		return h.pre(ctx)
	}
	if cfg.Err != nil {
		return block(ev.HookEventName, fmt.Sprintf("Cairn hook is not configured (%v); this tool use's output was not recorded or checked.", cfg.Err))
	}
	return h.post(ctx)
}

// hook is the handling of one event.
type hook struct {
	cfg   Config
	c     *client.Client
	ev    *Event
	jobID string
}

// call is a context for one API call outside the wait.
func (h *hook) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, callTimeout)
}

// unreachable reports whether err means the control plane could not be
// reached or could not answer (transport errors, timeouts, 5xx), as
// opposed to an answer refusing the request.
func unreachable(err error) bool {
	var ae *client.APIError
	if errors.As(err, &ae) {
		return ae.Status >= 500
	}
	return err != nil
}

// describe words an error from the API for a reason.
func (h *hook) describe(err error) string {
	var ae *client.APIError
	if errors.As(err, &ae) {
		return clip(ae.Error(), 300)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "no answer in time"
	}
	return clip(strings.TrimPrefix(err.Error(), "cairn: "), 300)
}
