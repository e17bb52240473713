package http_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/service"
	"github.com/cairnhq/cairn/ledger/bundle"
)

// TestDocumentedBundleWithholdsWhatExportsWithhold: an export carries a
// quarantined result in full (auditors only), and docs/evidence.md §5's
// example shows payloads as exports do: withheld only when missing from
// the store (issue 11 §3.10).
func TestDocumentedBundleWithholdsWhatExportsWithhold(t *testing.T) {
	e := newEnv(t)
	e.publish(seedPolicy)
	e.Submit("agent-1", cairn.SubmitRequest{JobID: "j-q", Action: "db.read"})
	e.work(succeed("key AKIAIOSFODNN7EXAMPLE leaked"), "db.read")
	if j := e.job("j-q"); j.OutputSafety == nil || j.OutputSafety.Decision != cairn.OutputQuarantine {
		t.Fatalf("output_safety %+v", j.OutputSafety)
	}
	b := e.export("?job_id=j-q")
	var res *bundle.Payload
	for i := range b.Payloads {
		if b.Payloads[i].Ptr == "res:j-q" {
			res = &b.Payloads[i]
		}
	}
	if res == nil || res.Withheld || !strings.Contains(string(res.Data), "AKIA") {
		t.Fatalf("the quarantined result in the export: %+v", res)
	}

	doc, err := os.ReadFile(filepath.Join(moduleRoot(t), "docs", "evidence.md"))
	if err != nil {
		t.Fatal(err)
	}
	sec := string(doc)
	sec = sec[strings.Index(sec, "## 5. Evidence bundle"):]
	m := regexp.MustCompile("(?s)```json\n(.*?)\n```").FindStringSubmatch(sec)
	if m == nil {
		t.Fatal("no example in docs/evidence.md §5")
	}
	payloads := regexp.MustCompile(`\{"ptr": [^}]*\}`).FindAllString(m[1][strings.Index(m[1], `"payloads"`):], -1)
	if len(payloads) == 0 {
		t.Fatal("no payloads in the §5 example")
	}
	for _, p := range payloads {
		var pl struct {
			Withheld bool   `json:"withheld"`
			Reason   string `json:"reason"`
		}
		if err := json.Unmarshal([]byte(p), &pl); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if pl.Withheld && pl.Reason != service.WithheldMissing {
			t.Errorf("docs/evidence.md §5 shows a payload withheld for %q; exports withhold only %q", pl.Reason, service.WithheldMissing)
		}
	}
}
