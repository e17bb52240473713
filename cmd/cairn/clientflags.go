package main

// The flags and helpers shared by the client commands (everything except
// serve): where the server is, which key to use, and how errors and
// records are printed.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
	"unicode"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/client"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

const defaultServer = "http://127.0.0.1:8081"

// defaultKeyFile is where `cairn serve` writes the first admin key; the
// client commands fall back to it so that a fresh local install works from
// the directory it was started in.
var defaultKeyFile = filepath.Join("cairn-data", "admin.key")

// clientOptions are the root's persistent flags: where the server is,
// which key to use, and the deadline of a command's API calls. Every
// client command gets the one instance the root binds.
type clientOptions struct {
	Server  string
	Key     string
	KeyFile string
	Timeout time.Duration
	// server is the --server flag, to tell whether it was given.
	server *pflag.Flag
}

// bind defines the persistent flags on pf.
func (g *clientOptions) bind(pf *pflag.FlagSet) {
	g.server = envStringVar(pf, &g.Server, "server", "CAIRN_SERVER", defaultServer, "Cairn server URL (env CAIRN_SERVER)")
	pf.StringVar(&g.Key, "key", "", "API key (env CAIRN_KEY; prefer the env var or --key-file: flags are visible to other local users)")
	pf.StringVar(&g.KeyFile, "key-file", "", "file holding the API key (env CAIRN_KEY_FILE; default ./"+filepath.ToSlash(defaultKeyFile)+" if it exists)")
	pf.DurationVar(&g.Timeout, "timeout", 30*time.Second, "deadline for a command's API calls (not for the worker command)")
}

// serverGiven reports whether --server or CAIRN_SERVER chose the server.
func (g *clientOptions) serverGiven() bool {
	return g.server != nil && g.server.Changed || os.Getenv("CAIRN_SERVER") != ""
}

// keyGiven reports whether --key, --key-file, CAIRN_KEY or CAIRN_KEY_FILE
// names a key.
func (g *clientOptions) keyGiven() bool {
	return g.Key != "" || g.KeyFile != "" || os.Getenv("CAIRN_KEY") != "" || os.Getenv("CAIRN_KEY_FILE") != ""
}

// resolveKey finds the API key: --key, --key-file, CAIRN_KEY,
// CAIRN_KEY_FILE, then ./cairn-data/admin.key.
func (g *clientOptions) resolveKey() (string, error) {
	if g.Key != "" && g.KeyFile != "" {
		return "", errors.New("use either --key or --key-file, not both")
	}
	if g.Key != "" {
		return strings.TrimSpace(g.Key), nil
	}
	if g.KeyFile != "" {
		return readKeyFile(g.KeyFile)
	}
	if k := strings.TrimSpace(os.Getenv("CAIRN_KEY")); k != "" {
		return k, nil
	}
	if f := os.Getenv("CAIRN_KEY_FILE"); f != "" {
		return readKeyFile(f)
	}
	if _, err := os.Stat(defaultKeyFile); err == nil {
		return readKeyFile(defaultKeyFile)
	}
	return "", errors.New("no API key: pass --key-file FILE or set CAIRN_KEY")
}

func readKeyFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading the key file: %w", err)
	}
	k := strings.TrimSpace(string(b))
	if k == "" {
		return "", fmt.Errorf("key file %s is empty", path)
	}
	return k, nil
}

// newClient builds the API client from --server and the key flags.
func (g *clientOptions) newClient() (*client.Client, error) {
	key, err := g.resolveKey()
	if err != nil {
		return nil, err
	}
	if g.Server == "" {
		return nil, errors.New("--server is empty")
	}
	return client.New(g.Server, key, client.WithUserAgent("cairn-cli/1")), nil
}

// session is what a client command starts with: the API client and the
// command's context (see context). The caller defers cancel.
func (g *clientOptions) session(cmd *cobra.Command, timeout bool) (*client.Client, context.Context, context.CancelFunc, error) {
	c, err := g.newClient()
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := g.context(cmd, timeout)
	return c, ctx, cancel, nil
}

// context is the context of one command: cancelled by Ctrl-C or SIGTERM
// and, unless timeout is false, by --timeout.
func (g *clientOptions) context(cmd *cobra.Command, timeout bool) (context.Context, context.CancelFunc) {
	parent := cmd.Context()
	if parent == nil {
		parent = context.Background()
	}
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	if !timeout || g.Timeout <= 0 {
		return ctx, stop
	}
	ctx, cancel := context.WithTimeout(ctx, g.Timeout)
	return ctx, func() { cancel(); stop() }
}

// cliError is an error already worded for a person. Cobra prints it after
// the "error:" prefix the client commands set.
type cliError struct {
	msg string
	err error
}

func (e *cliError) Error() string { return e.msg }
func (e *cliError) Unwrap() error { return e.err }

// describe words err for the terminal: an API error as
// "<code>: <message> (field)", an unreachable server as such.
func (g *clientOptions) describe(err error) error {
	if err == nil {
		return nil
	}
	var ce *cliError
	if errors.As(err, &ce) {
		return err
	}
	var ae *client.APIError
	if errors.As(err, &ae) {
		return &cliError{msg: clean(ae.Error()), err: err}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &cliError{msg: fmt.Sprintf("timeout: no answer from %s within %s (--timeout)", g.Server, g.Timeout), err: err}
	}
	if errors.Is(err, context.Canceled) {
		return &cliError{msg: "interrupted", err: err}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return &cliError{msg: fmt.Sprintf("unavailable: cannot reach %s: %v", g.Server, ue.Err), err: err}
	}
	return &cliError{msg: err.Error(), err: err}
}

// run adapts a command body: usage is printed for flag and argument
// mistakes only, not for failures of the call itself, and errors are
// worded by describe.
func (g *clientOptions) run(fn func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		cmd.SilenceUsage = true
		return g.describe(fn(cmd, args))
	}
}

// clientGroup marks a top-level client command: its errors (and its
// subcommands') print as "error: …".
func clientGroup(cmd *cobra.Command) *cobra.Command {
	cmd.SetErrPrefix("error:")
	return cmd
}

// usageError is a mistake in the arguments found by a command body.
func usageError(format string, args ...any) error {
	return &cliError{msg: fmt.Sprintf(format, args...)}
}

// ---- Output helpers ----

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// clean makes a server-supplied string safe to print on a terminal: control
// characters (escape sequences, newlines) are shown escaped, not obeyed.
func clean(s string) string {
	if strings.IndexFunc(s, unsafeRune) < 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unsafeRune(r) {
			q := fmt.Sprintf("%+q", string(r))
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// unsafeRune reports whether r may change how a terminal shows what
// follows: a control character, a line or paragraph separator, or a
// bidirectional override or isolate.
func unsafeRune(r rune) bool {
	return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || (r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069)
}

// orDash is clean(s), or "-" when s is empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return clean(s)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func fmtTimePtr(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return fmtTime(*t)
}

func fmtLabels(m map[string]string) string {
	if len(m) == 0 {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = clean(k) + "=" + clean(m[k])
	}
	return strings.Join(parts, ",")
}

// ---- Input helpers ----

// parseLabels turns repeated k=v flags into a map.
func parseLabels(kvs []string) (map[string]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usageError("invalid --label %q: want key=value", kv)
		}
		m[k] = v
	}
	return m, nil
}

// readJSONArg reads a JSON value given inline, as @FILE, or as - (stdin).
func readJSONArg(flag, v string, stdin io.Reader) (json.RawMessage, error) {
	if v == "" {
		return nil, nil
	}
	var b []byte
	switch {
	case v == "-":
		var err error
		if b, err = io.ReadAll(io.LimitReader(stdin, 64<<20)); err != nil {
			return nil, fmt.Errorf("reading --%s from stdin: %w", flag, err)
		}
	case strings.HasPrefix(v, "@"):
		var err error
		if b, err = os.ReadFile(v[1:]); err != nil {
			return nil, fmt.Errorf("reading --%s: %w", flag, err)
		}
	default:
		b = []byte(v)
	}
	if !json.Valid(b) {
		return nil, usageError("--%s is not valid JSON", flag)
	}
	return json.RawMessage(strings.TrimSpace(string(b))), nil
}

// parseTimeFlag accepts RFC 3339 or a duration meaning "that long ago"
// (e.g. 24h).
func parseTimeFlag(flag, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse("2006-01-02", v); err == nil {
		return t.UTC(), nil
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return cairn.Now().Add(-d), nil
	}
	return time.Time{}, usageError("invalid --%s %q: want RFC 3339 (2026-04-01T14:10:32Z), a date, or a duration ago (24h)", flag, v)
}
