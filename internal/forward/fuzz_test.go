package forward

import (
	"bytes"
	"testing"
)

// FuzzSyslogCEFRoundTrip: whatever bytes a ledger body holds, the RFC 5424
// structured data and the CEF extension carry them back unchanged through
// ExtractRecords (escaping and unescaping are inverse), and the extractors
// never panic on a damaged line.
func FuzzSyslogCEFRoundTrip(f *testing.F) {
	for _, s := range []string{`{"a":"b"}`, `x"y\z]w=v`, "line\nbreak\r", `\\]"=`, `]`, `\`, "é ü ∑", "cn1=3 cs6=x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var sd bytes.Buffer
		sd.WriteString("[" + DefaultSDID)
		sdParam(&sd, "index", "5")
		sdParam(&sd, "leaf_hash", "ab")
		sdParam(&sd, "body", body)
		sd.WriteString("]")
		p, err := ParseSDElement(sd.Bytes())
		if err != nil || p["body"] != body || p["index"] != "5" {
			t.Fatalf("SD %q: %v %q", sd.String(), err, p["body"])
		}
		var cef bytes.Buffer
		cef.WriteString("CEF:0|Cairn|Cairn|1|t|t|3|cn1=5 cs1=ab cs6=")
		cefValue(&cef, body)
		cef.WriteString(" cs6Label=ledgerBody")
		ext, err := parseCEFExtension(cef.Bytes())
		if err != nil || ext["cs6"] != body || ext["cn1"] != "5" || ext["cs6Label"] != "ledgerBody" {
			t.Fatalf("CEF %q: %v %q", cef.String(), err, ext["cs6"])
		}
		// Damaged lines: errors, not panics.
		ParseSDElement([]byte("[" + DefaultSDID + " " + body))
		parseCEFExtension([]byte("CEF:0|" + body))
		ExtractRecords(bytes.NewReader([]byte(body)), "")
	})
}
