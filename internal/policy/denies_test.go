package policy_test

import (
	"testing"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/policy"
)

func TestDeniesEveryInput(t *testing.T) {
	b, err := policy.Compile([]byte(`default: deny
rules:
  - id: no-delete
    match: {actions: ["mcp.*.delete"]}
    decision: DENY
    reason: r
  - id: big-writes
    match: {actions: ["mcp.files.write"]}
    when: 'input.size > 100'
    decision: DENY
    reason: r
  - id: prod-resources
    match: {actions: ["mcp.files.read"], resources: ["/prod/*"]}
    decision: DENY
    reason: r
  - id: agents-only
    match: {actions: ["mcp.files.*"], principal: {kinds: [agent]}}
    decision: ALLOW
    reason: r
  - id: maybe
    match: {actions: ["mcp.web.*"]}
    when: 'input.url.startsWith("https://")'
    decision: ALLOW
    reason: r
`))
	if err != nil {
		t.Fatal(err)
	}
	agent := cairn.Principal{Tenant: "default", ID: "a", Kind: cairn.KindAgent, Roles: []string{"agent"}}
	human := cairn.Principal{Tenant: "default", ID: "h", Kind: cairn.KindHuman, Roles: []string{"agent"}}
	for _, c := range []struct {
		action      string
		p           cairn.Principal
		resource    string
		anyResource bool
		want        bool
	}{
		{"mcp.files.delete", agent, "", true, true},       // an unconditional DENY
		{"mcp.files.write", agent, "", true, false},       // DENY only for some inputs, then ALLOW
		{"mcp.files.write", human, "", true, true},        // ALLOW is for agents; default deny
		{"mcp.files.read", agent, "", true, false},        // the resource may or may not be /prod
		{"mcp.files.read", agent, "/prod/x", false, true}, // a fixed resource under /prod
		{"mcp.web.get", agent, "", true, false},           // ALLOW for some inputs
		{"mcp.other.x", agent, "", true, true},            // nothing but the default
	} {
		in := cairn.PolicyInput{Tenant: "default", Action: c.action, Resource: c.resource, Principal: c.p}
		if got := b.DeniesEveryInput(in, c.anyResource); got != c.want {
			t.Errorf("%s as %s (resource %q, any %v): %v, want %v", c.action, c.p.Kind, c.resource, c.anyResource, got, c.want)
		}
	}
}
