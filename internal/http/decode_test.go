package http

import (
	"bytes"
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/cairnhq/cairn"
)

// TestDecodeErrorsNameAField: every body decode refuses answers 400
// invalid_input naming a field (found by FuzzDecode: an unknown member with
// an empty name was refused with an empty field, and a member name with a
// quote was named wrongly).
func TestDecodeErrorsNameAField(t *testing.T) {
	for _, c := range []struct{ body, field string }{
		{`{"":[] }`, "body"},
		{`{"":1}`, "body"},
		{`{"acton":"x"}`, "acton"},
		{`{"a\"":"x"}`, `a"`},
		{`{"\"":"x"}`, `"`},
		{`{"action":1}`, "action"},
		{`{"labels":{"k":1}}`, "labels"},
		{`{"action":`, "body"},
	} {
		var req cairn.SubmitRequest
		err := decodeBytes([]byte(c.body), MaxBodyBytes, &req)
		var ce *cairn.Error
		if !errors.As(err, &ce) || ce.Code != cairn.EInvalid || ce.Field != c.field {
			t.Errorf("%s: %#v, want 400 invalid_input naming %q", c.body, err, c.field)
		}
	}
}

// decodeBytes runs decode on body as a request would.
func decodeBytes(body []byte, limit int64, v any) error {
	r := httptest.NewRequest("POST", "/", bytes.NewReader(body))
	return decode(httptest.NewRecorder(), r, limit, v)
}
