package forward

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the forwarder's configuration file (YAML; docs/siem.md).
type Config struct {
	// BatchSize is the most records one delivery carries (default 1000,
	// at most 10000).
	BatchSize int `yaml:"batch_size"`
	// Wait is how long one read of the feed waits for new entries
	// (default 10s, at most 30s).
	Wait  time.Duration `yaml:"wait"`
	Sinks []SinkConfig  `yaml:"sinks"`
}

// SinkConfig configures one sink; which fields apply depends on Type.
type SinkConfig struct {
	Name string `yaml:"name"`
	// Type: webhook, syslog, splunk_hec or ocsf.
	Type    string        `yaml:"type"`
	Timeout time.Duration `yaml:"timeout"` // per delivery; default 10s
	// TLS configures the client side of TLS: for an https:// url, and for
	// syslog it turns TLS on (an empty tls: {} uses the system roots).
	TLS *TLSConfig `yaml:"tls"`

	// webhook, ocsf, splunk_hec
	URL string `yaml:"url"`
	// webhook and ocsf: the HMAC-SHA256 key, from a file or an environment
	// variable (never inline).
	SecretFile string `yaml:"secret_file"`
	SecretEnv  string `yaml:"secret_env"`
	// splunk_hec: the HEC token, from a file or an environment variable.
	TokenFile  string `yaml:"token_file"`
	TokenEnv   string `yaml:"token_env"`
	Index      string `yaml:"index"`
	Source     string `yaml:"source"`
	Sourcetype string `yaml:"sourcetype"`
	Host       string `yaml:"host"`

	// syslog
	Address  string `yaml:"address"`
	Format   string `yaml:"format"`   // rfc5424 (default) or cef
	Facility *int   `yaml:"facility"` // 0..23; default 16 (local0)
	Hostname string `yaml:"hostname"` // default: this machine's name
	AppName  string `yaml:"app_name"` // default cairn
	SDID     string `yaml:"sd_id"`    // default cairn@32473
}

// TLSConfig is a sink's TLS client configuration.
type TLSConfig struct {
	CAFile     string `yaml:"ca_file"`
	CertFile   string `yaml:"cert_file"`
	KeyFile    string `yaml:"key_file"`
	ServerName string `yaml:"server_name"`
}

// ConfigError names the configuration field that is wrong.
type ConfigError struct {
	Field, Problem string
}

func (e *ConfigError) Error() string { return "config: " + e.Field + ": " + e.Problem }

func bad(field, format string, args ...any) error {
	return &ConfigError{Field: field, Problem: fmt.Sprintf(format, args...)}
}

// ParseConfig reads a YAML configuration; unknown fields are errors.
func ParseConfig(raw []byte) (*Config, error) {
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := c.fill(); err != nil {
		return nil, err
	}
	return &c, nil
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

var sdNameRE = regexp.MustCompile(`^[!#-<>-Z\\^-~]{1,32}$`) // printable US-ASCII except = ] " and space

// fill checks the configuration and sets defaults.
func (c *Config) fill() error {
	if c.BatchSize == 0 {
		c.BatchSize = 1000
	}
	if c.BatchSize < 1 || c.BatchSize > 10000 {
		return bad("batch_size", "must be from 1 to 10000")
	}
	if c.Wait == 0 {
		c.Wait = 10 * time.Second
	}
	if c.Wait < 0 || c.Wait > 30*time.Second {
		return bad("wait", "must be from 1ms to 30s")
	}
	if len(c.Sinks) == 0 {
		return bad("sinks", "at least one sink is required")
	}
	seen := map[string]bool{}
	for i := range c.Sinks {
		s := &c.Sinks[i]
		f := fmt.Sprintf("sinks[%d]", i)
		if !nameRE.MatchString(s.Name) {
			return bad(f+".name", "is required: 1..63 of [A-Za-z0-9._-]")
		}
		if seen[s.Name] {
			return bad(f+".name", "%q is used by another sink (the state file keeps a cursor per name)", s.Name)
		}
		seen[s.Name] = true
		if s.Timeout == 0 {
			s.Timeout = 10 * time.Second
		}
		if s.Timeout < 0 {
			return bad(f+".timeout", "must be positive")
		}
		if err := s.check(f); err != nil {
			return err
		}
	}
	return nil
}

// check checks the fields of the sink's type, and that no other type's
// field is set.
func (s *SinkConfig) check(f string) error {
	fields, ok := sinkFields[s.Type]
	if !ok {
		return bad(f+".type", "must be one of webhook, syslog, splunk_hec, ocsf")
	}
	if err := s.checkFieldsApply(f, fields); err != nil {
		return err
	}
	switch s.Type {
	case "webhook", "ocsf", "splunk_hec":
		return s.checkHTTP(f)
	case "syslog":
		return s.checkSyslog(f)
	}
	return nil
}

// sinkFields are the type-specific fields each sink type takes.
var sinkFields = map[string][]string{
	"webhook":    {"url", "secret_file", "secret_env"},
	"ocsf":       {"url", "secret_file", "secret_env"},
	"splunk_hec": {"url", "token_file", "token_env", "index", "source", "sourcetype", "host"},
	"syslog":     {"address", "format", "facility", "hostname", "app_name", "sd_id"},
}

// checkFieldsApply checks that no type-specific field outside fields is
// set.
func (s *SinkConfig) checkFieldsApply(f string, fields []string) error {
	set := map[string]bool{
		"url": s.URL != "", "secret_file": s.SecretFile != "", "secret_env": s.SecretEnv != "",
		"token_file": s.TokenFile != "", "token_env": s.TokenEnv != "", "index": s.Index != "",
		"source": s.Source != "", "sourcetype": s.Sourcetype != "", "host": s.Host != "",
		"address": s.Address != "", "format": s.Format != "", "facility": s.Facility != nil,
		"hostname": s.Hostname != "", "app_name": s.AppName != "", "sd_id": s.SDID != "",
	}
	ok2 := map[string]bool{}
	for _, x := range fields {
		ok2[x] = true
	}
	for k, v := range set {
		if v && !ok2[k] {
			return bad(f+"."+k, "does not apply to a %s sink", s.Type)
		}
	}
	return nil
}

// checkHTTP checks the url (and tls) of a webhook, ocsf or splunk_hec sink.
func (s *SinkConfig) checkHTTP(f string) error {
	u, err := url.Parse(s.URL)
	if s.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return bad(f+".url", "must be an http:// or https:// URL")
	}
	if u.User != nil {
		return bad(f+".url", "must not carry credentials (use %s)", map[bool]string{true: "token_file", false: "secret_file"}[s.Type == "splunk_hec"])
	}
	if s.TLS != nil && u.Scheme != "https" {
		return bad(f+".tls", "applies only to an https:// url")
	}
	return nil
}

// checkSyslog checks a syslog sink's fields and fills in the defaults.
func (s *SinkConfig) checkSyslog(f string) error {
	if _, _, err := net.SplitHostPort(s.Address); err != nil || s.Address == "" {
		return bad(f+".address", "must be host:port")
	}
	if err := s.checkSyslogFormat(f); err != nil {
		return err
	}
	if s.AppName == "" {
		s.AppName = "cairn"
	}
	if s.SDID == "" {
		s.SDID = DefaultSDID
	}
	if !sdNameRE.MatchString(s.SDID) || !strings.Contains(s.SDID, "@") {
		return bad(f+".sd_id", "must be name@<private enterprise number>, printable ASCII without space, =, ] or \"")
	}
	if headerField(s.AppName, 48) != s.AppName {
		return bad(f+".app_name", "must be 1..48 printable US-ASCII characters without space")
	}
	if s.Hostname != "" && headerField(s.Hostname, 255) != s.Hostname {
		return bad(f+".hostname", "must be 1..255 printable US-ASCII characters without space")
	}
	return nil
}

// checkSyslogFormat checks (and defaults) a syslog sink's format and
// facility.
func (s *SinkConfig) checkSyslogFormat(f string) error {
	if s.Format == "" {
		s.Format = FormatRFC5424
	}
	if s.Format != FormatRFC5424 && s.Format != FormatCEF {
		return bad(f+".format", "must be rfc5424 or cef")
	}
	if s.Facility == nil {
		v := 16
		s.Facility = &v
	}
	if *s.Facility < 0 || *s.Facility > 23 {
		return bad(f+".facility", "must be from 0 to 23")
	}
	return nil
}

// secret reads a secret from a file or an environment variable.
func secret(field, file, env string, fileField, envField string) ([]byte, error) {
	switch {
	case file != "" && env != "":
		return nil, bad(field+"."+fileField, "give %s or %s, not both", fileField, envField)
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, bad(field+"."+fileField, "%v", err)
		}
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			return nil, bad(field+"."+fileField, "the file is empty")
		}
		return b, nil
	case env != "":
		v := strings.TrimSpace(os.Getenv(env))
		if v == "" {
			return nil, bad(field+"."+envField, "the environment variable %s is not set or empty", env)
		}
		return []byte(v), nil
	}
	return nil, bad(field+"."+fileField, "is required (or %s)", envField)
}

// tlsConfig builds the client TLS configuration of a sink.
func (t *TLSConfig) build(field, host string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	if t == nil {
		return c, nil
	}
	if t.ServerName != "" {
		c.ServerName = t.ServerName
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, bad(field+".tls.ca_file", "%v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, bad(field+".tls.ca_file", "holds no PEM certificate")
		}
		c.RootCAs = pool
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return nil, bad(field+".tls.cert_file", "cert_file and key_file go together")
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, bad(field+".tls.cert_file", "%v", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// errNoSinks: Build of a configuration that was not checked.
var errNoSinks = errors.New("no sinks")

// Build makes the sinks of the configuration.
func (c *Config) Build() ([]Sink, error) {
	if len(c.Sinks) == 0 {
		return nil, errNoSinks
	}
	var out []Sink
	for i := range c.Sinks {
		s, err := c.Sinks[i].build(fmt.Sprintf("sinks[%d]", i))
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func (s *SinkConfig) build(f string) (Sink, error) {
	switch s.Type {
	case "webhook", "ocsf", "splunk_hec":
		return s.buildHTTP(f)
	case "syslog":
		host := s.Hostname
		if host == "" {
			host, _ = os.Hostname()
			host = headerField(host, 255)
		}
		sk := &syslogSink{name: s.Name, addr: s.Address, timeout: s.Timeout, format: s.Format, facility: *s.Facility, hostname: host, appName: s.AppName, sdID: s.SDID}
		if s.TLS != nil {
			h, _, _ := net.SplitHostPort(s.Address)
			tc, err := s.TLS.build(f, h)
			if err != nil {
				return nil, err
			}
			sk.tls = tc
		}
		return sk, nil
	}
	return nil, bad(f+".type", "must be one of webhook, syslog, splunk_hec, ocsf")
}

// buildHTTP makes a webhook, ocsf or splunk_hec sink.
func (s *SinkConfig) buildHTTP(f string) (Sink, error) {
	u, _ := url.Parse(s.URL)
	var tc *tls.Config
	if u.Scheme == "https" {
		var err error
		if tc, err = s.TLS.build(f, u.Hostname()); err != nil {
			return nil, err
		}
	}
	h := &httpSink{name: s.Name, url: s.URL, client: newHTTPClient(s.Timeout, tc), timeout: s.Timeout, ctype: "application/x-ndjson"}
	var err error
	if s.Type == "splunk_hec" {
		err = s.setupHEC(f, h, u)
	} else {
		err = s.setupSigned(f, h)
	}
	if err != nil {
		return nil, err
	}
	return h, nil
}

// setupSigned makes h a webhook or ocsf sink: HMAC-signed NDJSON or OCSF.
func (s *SinkConfig) setupSigned(f string, h *httpSink) error {
	key, err := secret(f, s.SecretFile, s.SecretEnv, "secret_file", "secret_env")
	if err != nil {
		return err
	}
	h.header = signHMAC(key)
	h.encode = encodeNDJSON
	if s.Type == "ocsf" {
		h.encode = encodeOCSF
	}
	return nil
}

// setupHEC makes h a Splunk HTTP Event Collector sink.
func (s *SinkConfig) setupHEC(f string, h *httpSink, u *url.URL) error {
	tok, err := secret(f, s.TokenFile, s.TokenEnv, "token_file", "token_env")
	if err != nil {
		return err
	}
	if !strings.HasSuffix(u.Path, "/services/collector/event") {
		h.url = strings.TrimRight(s.URL, "/") + "/services/collector/event"
	}
	auth := "Splunk " + string(tok)
	h.header = func(hd http.Header, _ []byte) { hd.Set("Authorization", auth) }
	src, st := s.Source, s.Sourcetype
	if src == "" {
		src = "cairn"
	}
	if st == "" {
		st = "cairn:ledger"
	}
	enc := &hecEncoder{host: s.Host, source: src, sourcetype: st, index: s.Index}
	h.encode = enc.encode
	h.check = hecCheck
	h.ctype = "application/json"
	return nil
}
