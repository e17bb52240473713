package metrics_test

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cairnhq/cairn/internal/metrics"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.yaml.in/yaml/v3"
)

// external are metrics other processes expose: cairn forward's lag (its
// own metrics endpoint) and the witness lag of the transparency-log work.
var external = map[string][]string{
	"cairn_forward_lag_entries": nil,
	"cairn_forward_lag_seconds": nil,
	"cairn_witness_lag_entries": {"witness"},
}

var (
	metricName = regexp.MustCompile(`\bcairn_[a-zA-Z0-9_]+\b`)
	byClause   = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
	// legendVar is a label in a Grafana legend ({{rule}}) or an alert
	// annotation ({{ $labels.witness }}); $value is not a label.
	legendVar = regexp.MustCompile(`\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}|\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)`)
)

// dashboardQueries returns every expr (and its legend) of the dashboard.
func dashboardQueries(t *testing.T) [][2]string {
	raw, err := os.ReadFile("../../docs/metrics/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr   string `json:"expr"`
				Legend string `json:"legendFormat"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	var out [][2]string
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			out = append(out, [2]string{q.Expr, q.Legend})
		}
	}
	return out
}

type rule struct {
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

// alertRules parses the Prometheus rule file.
func alertRules(t *testing.T) []rule {
	raw, err := os.ReadFile("../../docs/metrics/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []rule `yaml:"rules"`
		} `yaml:"groups"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("alerts.yaml: %v", err)
	}
	var out []rule
	for _, g := range f.Groups {
		out = append(out, g.Rules...)
	}
	return out
}

// TestDashboardAndAlertsNameExposedMetrics checks that every metric the
// Grafana dashboard and the alert rules query is one a Cairn server
// exposes (scraped from a test server that ran every path), or one of the
// forwarder's and witness's, and that the labels they group by exist.
func TestDashboardAndAlertsNameExposedMetrics(t *testing.T) {
	mid, end := flow(t, false)
	labels := map[string]map[string]bool{} // sample name -> label names
	for _, fams := range []map[string]*dto.MetricFamily{mid, end} {
		for name := range exposedNames(fams) {
			if labels[name] == nil {
				labels[name] = map[string]bool{}
			}
		}
		for name, f := range fams {
			for _, m := range f.Metric {
				for _, l := range m.Label {
					for _, n := range []string{name, name + "_bucket", name + "_sum", name + "_count"} {
						if labels[n] != nil {
							labels[n][l.GetName()] = true
						}
					}
				}
			}
			if f.GetType() == dto.MetricType_HISTOGRAM {
				labels[name+"_bucket"]["le"] = true
			}
		}
	}
	described := describedNames()
	for name, ls := range external {
		labels[name] = map[string]bool{}
		for _, l := range ls {
			labels[name][l] = true
		}
	}
	check := func(where, expr, legend string) {
		names := metricName.FindAllString(expr, -1)
		if len(names) == 0 {
			t.Errorf("%s: %q queries no cairn metric", where, expr)
		}
		have := map[string]bool{}
		for _, n := range names {
			if labels[n] == nil {
				t.Errorf("%s: %q names %s, which no Cairn process exposes", where, expr, n)
				continue
			}
			for l := range labels[n] {
				have[l] = true
			}
		}
		var used []string
		for _, m := range byClause.FindAllStringSubmatch(expr, -1) {
			for _, l := range strings.Split(m[1], ",") {
				if l = strings.TrimSpace(l); l != "" {
					used = append(used, l)
				}
			}
		}
		for _, m := range legendVar.FindAllStringSubmatch(legend, -1) {
			used = append(used, m[1]+m[2])
		}
		for _, l := range used {
			if !have[l] {
				t.Errorf("%s: %q uses label %q, which %v do not have", where, expr+" "+legend, l, names)
			}
		}
	}
	queries := dashboardQueries(t)
	if len(queries) < 10 {
		t.Fatalf("the dashboard has %d queries", len(queries))
	}
	covered := map[string]bool{}
	for _, q := range queries {
		check("dashboard", q[0], q[1])
		for _, n := range metricName.FindAllString(q[0], -1) {
			covered[strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_count")] = true
		}
	}
	rules := alertRules(t)
	alerted := map[string]bool{}
	for _, r := range rules {
		if r.Alert == "" || r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
			t.Errorf("rule %+v lacks alert, severity or summary", r)
		}
		if r.For != "" {
			if _, err := time.ParseDuration(r.For); err != nil {
				t.Errorf("rule %s: for %q: %v", r.Alert, r.For, err)
			}
		}
		check("alert "+r.Alert, r.Expr, r.Annotations["summary"])
		for _, n := range metricName.FindAllString(r.Expr, -1) {
			alerted[n] = true
		}
	}
	// The starting alerts: approvals near expiry, checkpoint age,
	// forwarder lag, fsync failures.
	for _, n := range []string{metrics.NameNextExpiry, metrics.NameCheckpointAge, "cairn_forward_lag_seconds", metrics.NameFsyncFailures} {
		if !alerted[n] {
			t.Errorf("no alert rule on %s", n)
		}
	}
	// Every governance metric is on the dashboard.
	for n := range described {
		if n != metrics.NameLastScrapeSeconds && !covered[n] {
			t.Errorf("the dashboard shows nothing of %s", n)
		}
	}
	for _, n := range []string{metrics.NameDecisions, metrics.NameResolution, metrics.NameTransitions, metrics.NameLeaseExpiries, metrics.NameOutputVerdicts, metrics.NameLedgerAppends} {
		if !covered[n] {
			t.Errorf("the dashboard shows nothing of %s", n)
		}
	}
}

// describedNames are the metric names the store collector describes.
func describedNames() map[string]bool {
	ch := make(chan *prometheus.Desc, 64)
	metrics.NewCollector(nil, nil).Describe(ch)
	close(ch)
	out := map[string]bool{}
	for d := range ch {
		if m := regexp.MustCompile(`fqName: "([^"]+)"`).FindStringSubmatch(d.String()); m != nil {
			out[m[1]] = true
		}
	}
	return out
}
