package ledger

import (
	"bytes"
	"encoding/json"
	"sync"

	"github.com/go-json-experiment/json/jsontext"
)

// RFC 8785 (JCS) is computed by jsontext (github.com/go-json-experiment/json,
// the package that became Go's encoding/json/jsontext): jsontext.Value's
// Canonicalize, which implements RFC 8785. github.com/gowebpki/jcs stays
// the definition of every result: jcs.Transform is what existing ledgers
// were hashed with, and anything jsontext does not handle exactly as
// jcs.Transform does goes to jcs.Transform. FuzzTransformJCSMatchesJCS,
// FuzzCanonicalMatchesJCS and FuzzComputeJobHash check that the two agree.

// jcsOptions are the options of jsontext.Value.Canonicalize (documented
// as equivalent to Format with them), for AppendFormat, which leaves its
// source alone. The other options keep their defaults: duplicate names and
// invalid UTF-8 are errors, and nothing is escaped for HTML or JavaScript.
var jcsOptions = []jsontext.Options{
	jsontext.CanonicalizeRawInts(true),
	jsontext.CanonicalizeRawFloats(true),
	jsontext.ReorderRawObjects(true),
}

// maxFloatText is how JCS writes ±math.MaxFloat64. jsontext writes a
// number beyond the binary64 range as ±math.MaxFloat64, where
// jcs.Transform reports an error ("Number out of range").
var maxFloatText = []byte("1.7976931348623157e+308")

// appendCanonical appends the RFC 8785 form of the JSON text in to dst,
// computed by jsontext. ok is false when jcs.Transform might not give the
// same result: whenever jsontext reports an error (malformed JSON, invalid
// UTF-8, an escaped surrogate that is not part of a pair, a repeated member
// name, nesting deeper than 10000), and whenever the output holds the text
// of ±math.MaxFloat64 (a number out of range, or a string that merely
// holds that text). dst is then in an undefined state.
func appendCanonical(dst, in []byte) (out []byte, ok bool) {
	out, err := jsontext.AppendFormat(dst, in, jcsOptions...)
	if err != nil || bytes.Contains(out[len(dst):], maxFloatText) {
		return out, false
	}
	return out, true
}

// marshalCanonical marshals v with encoding/json and puts the JSON text in
// RFC 8785 form with appendCanonical. HTML escaping is off: the escapes it
// adds are undone by JCS. ok is false when either step fails.
func marshalCanonical(v any) (out []byte, ok bool) {
	buf := marshalPool.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= 64<<10 {
			marshalPool.Put(buf)
		}
	}()
	buf.Reset()
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, false
	}
	b := buf.Bytes()
	b = b[:len(b)-1] // Encode's newline
	return appendCanonical(make([]byte, 0, len(b)+16), b)
}

var marshalPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}
