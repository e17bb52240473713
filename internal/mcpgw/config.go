package mcpgw

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strings"
	"text/template"
	"time"

	"go.yaml.in/yaml/v3"
)

// MaxConfigBytes bounds a gateway config file.
const MaxConfigBytes = 1 << 20

// Config is a gateway's configuration file, decoded strictly: an unknown
// member, a wrong type or a bad value is an error naming its line.
type Config struct {
	Server       string        `yaml:"server"`        // the Cairn API; env CAIRN_SERVER overrides
	KeyFile      string        `yaml:"key_file"`      // the gateway's key (roles agent and worker); env CAIRN_KEY_FILE overrides
	ApprovalWait time.Duration `yaml:"approval_wait"` // how long one tools/call waits for a human
	CallTimeout  time.Duration `yaml:"call_timeout"`  // per upstream call
	HideDenied   bool          `yaml:"hide_denied"`   // leave out tools the active policy denies for every input
	Upstreams    []Upstream    `yaml:"upstreams"`
}

// Upstream is one MCP server behind the gateway: a command it starts
// (stdio) or a streamable HTTP URL.
type Upstream struct {
	Name     string            `yaml:"name"`
	Command  []string          `yaml:"command"`
	Env      map[string]string `yaml:"env"`
	URL      string            `yaml:"url"`
	Labels   map[string]string `yaml:"labels"`
	Resource string            `yaml:"resource"`

	resource *template.Template
	line     int
}

// Defaults for the durations a config may leave out.
const (
	DefaultApprovalWait = 30 * time.Second
	DefaultCallTimeout  = 60 * time.Second
	// MaxApprovalWait bounds approval_wait: a tools/call is a request the
	// MCP client holds open.
	MaxApprovalWait = time.Hour
)

var upstreamName = regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)

// ConfigError is a problem in a config file, with its line (0 when it
// concerns the whole file).
type ConfigError struct {
	Path string
	Line int
	Msg  string
}

func (e *ConfigError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, e.Msg)
	}
	return e.Path + ": " + e.Msg
}

// LoadConfig reads and checks a config file.
func LoadConfig(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &ConfigError{Path: path, Msg: err.Error()}
	}
	defer f.Close()
	buf := make([]byte, MaxConfigBytes+1)
	n, _ := readFull(f, buf)
	if n > MaxConfigBytes {
		return nil, &ConfigError{Path: path, Msg: fmt.Sprintf("is larger than %d bytes", MaxConfigBytes)}
	}
	return ParseConfig(path, buf[:n])
}

// ParseConfig decodes and checks config text; path only names it in errors.
func ParseConfig(path string, text []byte) (*Config, error) {
	if len(bytes.TrimSpace(text)) == 0 {
		return nil, &ConfigError{Path: path, Msg: "is empty"}
	}
	if bytes.Contains(text, []byte("\t")) {
		line := bytes.Count(text[:bytes.IndexByte(text, '\t')], []byte("\n")) + 1
		return nil, &ConfigError{Path: path, Line: line, Msg: "tabs are not allowed in YAML indentation; use spaces"}
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(text))
	if err := dec.Decode(&doc); err != nil {
		return nil, yamlError(path, err)
	}
	if len(doc.Content) == 0 {
		return nil, &ConfigError{Path: path, Msg: "is empty"}
	}
	if err := refuseAliases(path, &doc); err != nil {
		return nil, err
	}
	var c Config
	strict := yaml.NewDecoder(bytes.NewReader(text))
	strict.KnownFields(true)
	if err := strict.Decode(&c); err != nil {
		return nil, yamlError(path, err)
	}
	c.lines(doc.Content[0])
	if err := c.check(path); err != nil {
		return nil, err
	}
	return &c, nil
}

// lines records each upstream's line for later messages.
func (c *Config) lines(root *yaml.Node) {
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "upstreams" || root.Content[i+1].Kind != yaml.SequenceNode {
			continue
		}
		for j, n := range root.Content[i+1].Content {
			if j < len(c.Upstreams) {
				c.Upstreams[j].line = n.Line
			}
		}
	}
}

func (c *Config) check(path string) error {
	if c.ApprovalWait == 0 {
		c.ApprovalWait = DefaultApprovalWait
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = DefaultCallTimeout
	}
	if c.ApprovalWait < 0 || c.ApprovalWait > MaxApprovalWait {
		return &ConfigError{Path: path, Msg: fmt.Sprintf("approval_wait must be from 0s to %s", MaxApprovalWait)}
	}
	if c.CallTimeout < 0 || c.CallTimeout > time.Hour {
		return &ConfigError{Path: path, Msg: "call_timeout must be from 0s to 1h"}
	}
	if len(c.Upstreams) == 0 {
		return &ConfigError{Path: path, Msg: "upstreams: at least one upstream is required"}
	}
	seen := map[string]bool{}
	for i := range c.Upstreams {
		u := &c.Upstreams[i]
		if msg := u.check(seen); msg != "" {
			return &ConfigError{Path: path, Line: u.line, Msg: fmt.Sprintf("upstreams[%d]: ", i) + msg}
		}
	}
	return nil
}

// check checks an upstream (seen holds the names of those before it, and
// gets its name) and compiles its resource template; it returns what is
// wrong, or "".
func (u *Upstream) check(seen map[string]bool) string {
	if msg := u.checkShape(seen); msg != "" {
		return msg
	}
	seen[u.Name] = true
	for k := range u.Labels {
		if k == "" || len(k) > 64 {
			return fmt.Sprintf("labels: key %q must be 1 to 64 bytes", clip(k))
		}
	}
	if u.Resource != "" {
		t, err := template.New(u.Name).Option("missingkey=zero").Parse(u.Resource)
		if err != nil {
			return fmt.Sprintf("resource: %v", err)
		}
		u.resource = t
	}
	return ""
}

// checkShape checks an upstream's name (well-formed, unused) and that it
// has either a command or a url.
func (u *Upstream) checkShape(seen map[string]bool) string {
	switch {
	case !upstreamName.MatchString(u.Name):
		return fmt.Sprintf("name %q must be 1 to 64 of [a-z0-9_-]", clip(u.Name))
	case strings.Contains(u.Name, "__"):
		return fmt.Sprintf("name %q must not contain \"__\", which separates upstream and tool in tool names", u.Name)
	case seen[u.Name]:
		return fmt.Sprintf("name %q is used twice", u.Name)
	case len(u.Command) == 0 && u.URL == "":
		return "needs command (stdio) or url (streamable HTTP)"
	case len(u.Command) > 0 && u.URL != "":
		return "has both command and url; give one"
	case len(u.Command) > 0 && u.Command[0] == "":
		return "command[0] must name a program"
	case u.URL != "" && !strings.HasPrefix(u.URL, "http://") && !strings.HasPrefix(u.URL, "https://"):
		return "url must start with http:// or https://"
	case len(u.Env) > 0 && u.URL != "":
		return "env applies to command upstreams only"
	}
	return ""
}

func refuseAliases(path string, n *yaml.Node) error {
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		return &ConfigError{Path: path, Line: n.Line, Msg: "anchors and aliases are not allowed"}
	}
	for _, c := range n.Content {
		if err := refuseAliases(path, c); err != nil {
			return err
		}
	}
	return nil
}

var yamlLine = regexp.MustCompile(`line (\d+): `)

// yamlError turns a yaml.v3 error into a ConfigError with its line.
func yamlError(path string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n  ")
	if m := yamlLine.FindStringSubmatchIndex(msg); m != nil {
		var line int
		fmt.Sscanf(msg[m[2]:m[3]], "%d", &line)
		rest := msg[:m[0]] + msg[m[1]:]
		if i := strings.IndexByte(rest, '\n'); i >= 0 {
			rest = rest[:i]
		}
		return &ConfigError{Path: path, Line: line, Msg: strings.TrimSpace(rest)}
	}
	return &ConfigError{Path: path, Msg: msg}
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

func readFull(f *os.File, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := f.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
