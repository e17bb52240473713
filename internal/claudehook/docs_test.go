package claudehook_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// TestDocsMatchTests: the policy docs/hooks.md shows is the one the tests
// publish, and its settings.json snippet is valid JSON that runs the hook
// for PreToolUse and PostToolUse on every tool.
func TestDocsMatchTests(t *testing.T) {
	doc := string(readFile(t, filepath.Join("..", "..", "docs", "hooks.md")))
	policy := string(readFile(t, filepath.Join("testdata", "policy.yaml")))
	if !strings.Contains(doc, "```yaml\n"+policy+"```") {
		t.Error("docs/hooks.md does not show testdata/policy.yaml verbatim")
	}
	start := strings.Index(doc, "```json\n")
	end := strings.Index(doc[start+1:], "```\n")
	if start < 0 || end < 0 {
		t.Fatal("no settings.json snippet")
	}
	var settings struct {
		Hooks map[string][]struct {
			Matcher string
			Hooks   []struct{ Type, Command string }
		}
	}
	snippet := doc[start+len("```json\n") : start+1+end]
	if err := json.Unmarshal([]byte(snippet), &settings); err != nil {
		t.Fatalf("settings snippet: %v", err)
	}
	for _, ev := range []string{"PreToolUse", "PostToolUse"} {
		hs := settings.Hooks[ev]
		if len(hs) != 1 || hs[0].Matcher != "*" || len(hs[0].Hooks) != 1 || !strings.HasPrefix(hs[0].Hooks[0].Command, "cairn hook claude-code ") {
			t.Errorf("%s: %+v", ev, hs)
		}
	}
}
