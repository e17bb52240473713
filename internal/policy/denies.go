package policy

import (
	"context"

	"github.com/cairnhq/cairn"
)

// DeniesEveryInput reports whether the bundle denies every job with in's
// action, labels, risk tags and principal, whatever its input and, when
// anyResource is true, whatever its resource. It reads the rules in order
// as Evaluate does, without running any `when`: a rule whose match holds
// and that has no `when` (and no resource condition left open) decides
// every such job; one with a `when` may or may not, so a non-DENY rule of
// that kind means some input is not denied, and a DENY rule of that kind
// leaves the rest to the rules after it. The MCP gateway uses it to leave
// out tools no call could ever run.
func (b *Bundle) DeniesEveryInput(in cairn.PolicyInput, anyResource bool) bool {
	t := &text{}
	act := activation{ctx: context.Background(), in: &in, now: cairn.Now(), weight: -1}
	for _, r := range b.rules {
		static := *r
		static.prg = nil
		conditional := r.prg != nil
		if anyResource && r.resources != nil {
			static.resources = nil
			conditional = true
		}
		if ok, _, _ := static.try(&in, &act, t); !ok {
			continue
		}
		if r.out.decision != cairn.Deny {
			return false
		}
		if !conditional {
			return true
		}
	}
	return b.def.decision == cairn.Deny
}
