package ledger

import (
	"bytes"
	"testing"

	"github.com/go-json-experiment/json/jsontext"
)

// walk reads every token; names via ReadValue.
func BenchmarkProbeWalkValue(b *testing.B) {
	body := []byte(sampleBodies[1])
	var d jsontext.Decoder
	for b.Loop() {
		d.Reset(bytes.NewBuffer(body), readOptions...)
		for {
			k := d.PeekKind()
			if k == 0 {
				break
			}
			if k == '{' || k == '[' || k == '}' || k == ']' {
				d.ReadToken()
				continue
			}
			v, _ := d.ReadValue()
			_ = v
		}
	}
}

func BenchmarkProbeWalkToken(b *testing.B) {
	body := []byte(sampleBodies[1])
	var d jsontext.Decoder
	for b.Loop() {
		d.Reset(bytes.NewBuffer(body), readOptions...)
		for {
			t, err := d.ReadToken()
			if err != nil {
				break
			}
			_ = t.Kind()
		}
	}
}
