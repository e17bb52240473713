package forward

import (
	"bytes"
	"strconv"
	"strings"
)

// cefLine writes r as an ArcSight Common Event Format line:
// CEF:0|Cairn|Cairn|1|<type>|<name>|<severity>|<extension>. The extension
// carries the ledger index (cn1, externalId), the leaf hash (cs1) and the
// entry's canonical body (cs6), so a CEF consumer can detect duplicates
// and gaps and re-check the leaf hash.
func cefLine(b *bytes.Buffer, r *Record, env *Envelope) {
	ev := &env.Event
	sev := "3"
	if ev.Decision == "DENY" || (ev.OutputSafety != nil && ev.OutputSafety.Decision == "QUARANTINE") {
		sev = "6"
	}
	b.WriteString("CEF:0|Cairn|Cairn|1|")
	b.WriteString(cefHeader(ev.Type))
	b.WriteByte('|')
	b.WriteString(cefHeader(strings.ReplaceAll(ev.Type, "_", " ")))
	b.WriteByte('|')
	b.WriteString(sev)
	b.WriteByte('|')
	ext := [][2]string{
		{"rt", strconv.FormatInt(r.Time().UnixMilli(), 10)},
		{"externalId", strconv.FormatUint(r.Index, 10)},
		{"cn1", strconv.FormatUint(r.Index, 10)},
		{"cn1Label", "ledgerIndex"},
		{"cs1", r.LeafHash},
		{"cs1Label", "leafHash"},
		{"cs2", env.Tenant},
		{"cs2Label", "tenant"},
		{"suser", ev.Actor},
		{"act", ev.Decision},
		{"cs3", ev.JobID},
		{"cs3Label", "jobId"},
		{"cs4", ev.PolicyRuleID},
		{"cs4Label", "policyRuleId"},
		{"cs5", ev.PolicySnapshot},
		{"cs5Label", "policySnapshot"},
		{"outcome", ev.State},
		{"cs6", string(r.Body)},
		{"cs6Label", "ledgerBody"},
	}
	first := true
	for _, kv := range ext {
		if kv[1] == "" {
			continue
		}
		if !first {
			b.WriteByte(' ')
		}
		first = false
		b.WriteString(kv[0])
		b.WriteByte('=')
		cefValue(b, kv[1])
	}
}

// cefHeader escapes '\' and '|' in a CEF header field.
func cefHeader(s string) string {
	return strings.NewReplacer(`\`, `\\`, `|`, `\|`).Replace(s)
}

// cefValue writes an extension value, escaping '\', '=' and line breaks.
func cefValue(b *bytes.Buffer, s string) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\', '=':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		default:
			b.WriteByte(c)
		}
	}
}
