package main

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cairnhq/cairn/internal/serve"
)

// TestEnvFallbackPrecedence: a flag given on the command line wins over
// its variable, the variable over the default; an empty variable is
// unset; a value that does not parse is an error naming the variable.
func TestEnvFallbackPrecedence(t *testing.T) {
	parse := func(args []string, env string) (int, time.Duration, string, error) {
		t.Setenv("CAIRN_TEST_N", env)
		t.Setenv("CAIRN_TEST_D", "")
		t.Setenv("CAIRN_TEST_S", "from-env")
		var n int
		var d time.Duration
		var s string
		fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
		envIntVar(fs, &n, "n", "CAIRN_TEST_N", 7, "")
		envDurationVar(fs, &d, "d", "CAIRN_TEST_D", time.Second, "")
		envStringVar(fs, &s, "s", "CAIRN_TEST_S", "default", "")
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return n, d, s, applyEnv(fs)
	}
	if n, d, s, err := parse(nil, ""); err != nil || n != 7 || d != time.Second || s != "from-env" {
		t.Errorf("defaults and env: %d %s %q %v", n, d, s, err)
	}
	if n, _, _, err := parse(nil, "12"); err != nil || n != 12 {
		t.Errorf("env: %d %v", n, err)
	}
	if n, _, s, err := parse([]string{"--n", "3", "--s", "flag"}, "12"); err != nil || n != 3 || s != "flag" {
		t.Errorf("flag over env: %d %q %v", n, s, err)
	}
	if n, _, _, err := parse([]string{"--n", "3"}, "junk"); err != nil || n != 3 {
		t.Errorf("a given flag does not read its variable: %d %v", n, err)
	}
	if _, _, _, err := parse(nil, "junk"); err == nil || err.Error() != `CAIRN_TEST_N="junk": not an integer` {
		t.Errorf("bad env: %v", err)
	}
}

// serveConfigFrom runs `cairn serve args...` through the whole command
// tree with a run that records the Config instead of serving.
func serveConfigFrom(t *testing.T, args ...string) (serve.Config, error) {
	t.Helper()
	root := newRootCmd()
	old, _, err := root.Find([]string{"serve"})
	if err != nil {
		t.Fatal(err)
	}
	root.RemoveCommand(old)
	var got serve.Config
	root.AddCommand(newServeCmdRunning(func(_ context.Context, cfg serve.Config) error {
		got = cfg
		return nil
	}))
	root.SetArgs(append([]string{"serve"}, args...))
	root.SetOut(io.Discard)
	root.SetErr(io.Discard)
	err = root.Execute()
	return got, err
}

// clearServeEnv unsets the variables serve reads for the test.
func clearServeEnv(t *testing.T) {
	for _, v := range []string{"CAIRN_DATA", "CAIRN_ADDR", "CAIRN_STORE", "CAIRN_RATE_LIMIT", "CAIRN_RATE_BURST", "CAIRN_MAX_INFLIGHT", "CAIRN_MAX_EXPORTS", "CAIRN_DRAIN", "CAIRN_ADMIN_KEY", "CAIRN_METRICS_ADDR", "CAIRN_MCP_GATEWAY", "CAIRN_LOG_LEVEL"} {
		t.Setenv(v, "")
	}
}

// TestServeFlagsAndEnv: serve's flags and CAIRN_* variables reach the
// Config, flags first.
func TestServeFlagsAndEnv(t *testing.T) {
	clearServeEnv(t)
	t.Setenv("GOGC", "")
	want := serve.DefaultConfig()
	want.GCPercent = serve.DefaultGCPercent
	cfg, err := serveConfigFrom(t)
	if err != nil || !reflect.DeepEqual(cfg, want) {
		t.Errorf("no flags: %v\n got %+v\nwant %+v", err, cfg, want)
	}
	t.Setenv("CAIRN_DATA", "/env/data")
	t.Setenv("CAIRN_RATE_LIMIT", "5")
	t.Setenv("CAIRN_RATE_BURST", "10")
	t.Setenv("CAIRN_MAX_INFLIGHT", "64")
	t.Setenv("CAIRN_MAX_EXPORTS", "3")
	t.Setenv("CAIRN_DRAIN", "7s")
	t.Setenv("CAIRN_ADMIN_KEY", "ck_admin_from_env_0000")
	t.Setenv("CAIRN_MCP_GATEWAY", "/env/gateway.yaml")
	want.MCPGateway = "/env/gateway.yaml"
	want.DataDir, want.RateLimit, want.RateBurst, want.MaxInflight, want.MaxExports = "/env/data", 2, 10, 64, 3
	want.Drain, want.MaxPolls, want.AdminKey = 7*time.Second, 9, "ck_admin_from_env_0000"
	want.Tlog.WitnessInterval, want.Tlog.Public = 3*time.Second, true
	cfg, err = serveConfigFrom(t, "--rate-limit", "2", "--max-polls", "9", "--witness-interval", "3s", "--public-tlog")
	if err != nil || !reflect.DeepEqual(cfg, want) {
		t.Errorf("flags and env: %v\n got %+v\nwant %+v", err, cfg, want)
	}
}

// TestServeRefusesBadValues: the message of a bad value names the
// variable or the flag, and nothing is served.
func TestServeRefusesBadValues(t *testing.T) {
	clearServeEnv(t)
	for _, c := range []struct {
		env, val, arg, want string
	}{
		{"CAIRN_RATE_LIMIT", "abc", "", `CAIRN_RATE_LIMIT="abc": not a number`},
		{"CAIRN_RATE_LIMIT", "-1", "", "--rate-limit -1: must be from 0"},
		{"CAIRN_RATE_BURST", "x", "", `CAIRN_RATE_BURST="x": not an integer`},
		{"CAIRN_MAX_INFLIGHT", "-1", "", "--max-inflight -1"},
		{"CAIRN_MAX_EXPORTS", "65", "", "--max-exports 65"},
		{"CAIRN_DRAIN", "soon", "", `CAIRN_DRAIN="soon": not a duration`},
		{"", "", "--auth-fail-burst=0", "--auth-fail-burst 0"},
		{"", "", "--body-timeout=1h", "--body-timeout 1h0m0s"},
		{"", "", "--log-level=loud", "--log-level"},
	} {
		t.Run(c.env+c.arg, func(t *testing.T) {
			if c.env != "" {
				t.Setenv(c.env, c.val)
			}
			var args []string
			if c.arg != "" {
				args = append(args, c.arg)
			}
			cfg, err := serveConfigFrom(t, args...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("want %q, got %v", c.want, err)
			}
			if cfg.Addr != "" {
				t.Error("a bad value reached serve.Run")
			}
		})
	}
}

// TestEnvBindings: the variables the flags fall back to are exactly the
// documented ones, and each flag whose help names "(env X)" is bound to X.
func TestEnvBindings(t *testing.T) {
	got := map[string]string{}
	helpEnv := regexp.MustCompile(`env (CAIRN_[A-Z_]+)\b`)
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		visit := func(f *pflag.Flag) {
			env := f.Annotations[envAnnotation]
			if len(env) == 1 {
				got[c.CommandPath()+" --"+f.Name] = env[0]
			}
			if m := helpEnv.FindStringSubmatch(f.Usage); m != nil && m[1] != "CAIRN_KEY" && m[1] != "CAIRN_KEY_FILE" && m[1] != "CAIRN_HOOK_STATE" {
				if len(env) != 1 || env[0] != m[1] {
					t.Errorf("%s --%s: the help names %s, the flag falls back to %v", c.CommandPath(), f.Name, m[1], env)
				}
			}
		}
		c.LocalFlags().VisitAll(visit)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd())
	want := map[string]string{
		"cairn --server":             "CAIRN_SERVER",
		"cairn serve --data":         "CAIRN_DATA",
		"cairn serve --addr":         "CAIRN_ADDR",
		"cairn serve --log-level":    "CAIRN_LOG_LEVEL",
		"cairn serve --store":        "CAIRN_STORE",
		"cairn serve --ledger-key":   "CAIRN_LEDGER_KEY_FILE",
		"cairn serve --salt-file":    "CAIRN_SALT_FILE",
		"cairn serve --rate-limit":   "CAIRN_RATE_LIMIT",
		"cairn serve --rate-burst":   "CAIRN_RATE_BURST",
		"cairn serve --max-inflight": "CAIRN_MAX_INFLIGHT",
		"cairn serve --max-exports":  "CAIRN_MAX_EXPORTS",
		"cairn serve --metrics-addr": "CAIRN_METRICS_ADDR",
		"cairn serve --mcp-gateway":  "CAIRN_MCP_GATEWAY",
		"cairn serve --drain":        "CAIRN_DRAIN",
		"cairn serve --retention":    "CAIRN_RETENTION",
		"cairn migrate --store":      "CAIRN_STORE",
		"cairn migrate --data":       "CAIRN_DATA",
		"cairn mcp gateway --config": "CAIRN_GATEWAY_CONFIG",
		// Encryption at rest (ADR 0048).
		"cairn serve --payload-key":                   "CAIRN_PAYLOAD_KEY_FILE",
		"cairn keys rotate-payload-key --data":        "CAIRN_DATA",
		"cairn keys rotate-payload-key --store":       "CAIRN_STORE",
		"cairn keys rotate-payload-key --payload-key": "CAIRN_PAYLOAD_KEY_FILE",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s falls back to %q, want %q", k, got[k], v)
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s falls back to %s, which this test does not know", k, v)
		}
	}
}

// TestNoFlagReadByName: no command reads a flag by its name (GetString,
// GetBool, Lookup, Changed...), where a mistyped name is silently empty;
// every flag is bound to a typed field when it is defined. markRequired,
// the one place a name is repeated, panics on a name that is not a flag.
func TestNoFlagReadByName(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	byName := regexp.MustCompile(`^(Get[A-Z][A-Za-z0-9]*|Lookup|Changed|ShorthandLookup|MarkFlag[A-Za-z]*)$`)
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || !byName.MatchString(sel.Sel.Name) || len(call.Args) == 0 {
				return true
			}
			if lit, ok := call.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
				t.Errorf("%s: %s(%s) reads a flag by name", fset.Position(call.Pos()), sel.Sel.Name, lit.Value)
			}
			return true
		})
	}
	defer func() {
		if recover() == nil {
			t.Error("markRequired accepted a name that is not a flag")
		}
	}()
	markRequired(&cobra.Command{Use: "x"}, "no-such-flag")
}

// TestCommandTree: the tree builds (every constructor runs, so every
// markRequired name is a flag), each build is independent, and the
// commands the docs show are there.
func TestCommandTree(t *testing.T) {
	a, b := newRootCmd(), newRootCmd()
	for _, path := range []string{"serve", "migrate", "copy", "bench", "audit job", "audit run", "jobs submit", "jobs get", "jobs list",
		"approvals list", "approvals approve", "approvals reject", "policy publish", "policy rollback", "policy show",
		"policy snapshots", "policy audit", "policy simulate", "keys create", "keys list", "keys revoke", "keys rotate-payload-key", "worker",
		"workflows register", "workflows list", "runs start", "runs list", "runs cancel", "runs rerun", "runs approve",
		"runs reject", "export", "verify", "witness", "forward", "hook claude-code", "mcp gateway"} {
		ca, _, err := a.Find(strings.Fields(path))
		if err != nil || ca.Name() != strings.Fields(path)[len(strings.Fields(path))-1] {
			t.Errorf("cairn %s: %v", path, err)
			continue
		}
		cb, _, _ := b.Find(strings.Fields(path))
		if ca == cb || slices.ContainsFunc(ca.Commands(), func(c *cobra.Command) bool { return slices.Contains(cb.Commands(), c) }) {
			t.Errorf("cairn %s: two trees share commands", path)
		}
	}
	if err := a.ParseFlags([]string{"--server", "http://a.example"}); err != nil {
		t.Fatal(err)
	}
	if f := b.PersistentFlags().Lookup("server"); f.Value.String() == "http://a.example" {
		t.Error("two trees share flag values")
	}
}
