package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/cairnhq/cairn"
)

// requestTypes builds an empty value of every request body the API decodes.
var requestTypes = []func() any{
	func() any { return new(cairn.SubmitRequest) },
	func() any { return new(cairn.LeaseRequest) },
	func() any { return new(cairn.CompleteRequest) },
	func() any { return new(cairn.ResolveRequest) },
	func() any { return new(cairn.PublishRequest) },
	func() any { return new(cairn.RollbackRequest) },
	func() any { return new(cairn.SimulateRequest) },
	func() any { return new(cairn.CreateKeyRequest) },
	func() any { return new(cairn.CancelRequest) },
	func() any { return new(cairn.RegisterWorkflowRequest) },
	func() any { return new(cairn.StartRunRequest) },
	func() any { return new(cairn.CancelRunRequest) },
	func() any { return new(cairn.RerunRequest) },
	func() any { return new(cairn.GateVoteRequest) },
	func() any { return new(cosignRequest) },
}

// FuzzDecode: decode never panics; it either decodes (and then the body is
// valid JSON within the limit, encoding/json reads the same value, and the
// value round-trips through its own encoding) or answers a *cairn.Error: 413
// body_too_large, or 400 invalid_input naming a field.
func FuzzDecode(f *testing.F) {
	for i, s := range []string{
		`{"job_id":"j1","action":"db.write","resource":"db://x","labels":{"env":"prod"},"risk_tags":["pii"],"input":{"a":[1,2.5,"x"]}}`,
		`{"worker_id":"w1","actions":["db.*"],"max":10,"wait_ms":0,"lease_ms":1000,"job_id":"j1"}`,
		`{"lease_id":"l1","status":"succeeded","result":{"ok":true},"error":""}`,
		`{"job_hash":"` + string(bytes.Repeat([]byte("a"), 64)) + `","comment":"ok"}`,
		`{"bundle":"default: deny\n","message":"m"}`,
		`{"to":"cfg:system:policy#sha256:00","message":"back"}`,
		`{"job":{"action":"db.read","input":null},"bundle":"default: allow\n","submitted_as":"agent-1"}`,
		`{"principal":"p","kind":"agent","roles":["agent"],"tenant":"t"}`,
		`{"reason":"no longer needed"}`,
		`{"definition":"name: a\nsteps:\n  - {id: a, action: x}\n"}`,
		`{"workflow_id":"refund","input":{"order":"o1"}}`,
		`{"reason":"stop"}`,
		`{"from_step":"a","run_id":"r2"}`,
		`{"job_hash":"00","comment":""}`,
		`{"witness_key":"w+00+AA","note":"origin\n1\nAA\n"}`,
	} {
		f.Add(uint8(i), uint16(4096), []byte(s))
	}
	for _, s := range []string{``, ` `, `null`, `[]`, `{"action":1}`, `{"max":1e400}`, `{} {}`, `{}]`, "{\"a\xff\":1}",
		`{"job":{"labels":{"k":2}}}`, `{"input":` + string(bytes.Repeat([]byte("["), 70)) + `}`, `{"x":"\ud800"}`, `{"Action":"a","action":"b"}`} {
		f.Add(uint8(0), uint16(64), []byte(s))
		f.Add(uint8(6), uint16(4096), []byte(s))
	}
	f.Fuzz(func(t *testing.T, kind uint8, limit uint16, body []byte) {
		newValue := requestTypes[int(kind)%len(requestTypes)]
		lim := int64(limit) + 1
		v := newValue()
		err := decodeBytes(body, lim, v)
		if err != nil {
			checkDecodeError(t, err, body, lim)
			return
		}
		if int64(len(body)) > lim || !utf8.Valid(body) || !json.Valid(body) {
			t.Fatalf("decoded %q (limit %d)", body, lim)
		}
		std := newValue()
		if err := json.Unmarshal(body, std); err != nil || !reflect.DeepEqual(std, v) {
			t.Fatalf("encoding/json reads %q as %+v (%v); decode as %+v", body, std, err, v)
		}
		enc, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("decoded %q but cannot encode %+v: %v", body, v, err)
		}
		v2 := newValue()
		if err := decodeBytes(enc, MaxBodyBytes, v2); err != nil {
			t.Fatalf("decoded %q; its encoding %s does not decode: %v", body, enc, err)
		}
		if enc2, _ := json.Marshal(v2); !bytes.Equal(enc, enc2) {
			t.Fatalf("round trip of %q: %s then %s", body, enc, enc2)
		}
	})
}

func checkDecodeError(t *testing.T, err error, body []byte, limit int64) {
	t.Helper()
	var ce *cairn.Error
	if !errors.As(err, &ce) {
		t.Fatalf("%q: error %T %v is not a *cairn.Error", body, err, err)
	}
	switch {
	case ce.Code == cairn.ETooLarge:
		if int64(len(body)) <= limit {
			t.Fatalf("%q: 413 under the limit %d", body, limit)
		}
	case ce.Code == cairn.EInvalid:
		if ce.Field == "" || len(ce.Field) > 64+len("…") || !utf8.ValidString(ce.Field) {
			t.Fatalf("%q: field %q", body, ce.Field)
		}
	default:
		t.Fatalf("%q: code %q", body, ce.Code)
	}
	if ce.Message == "" || !utf8.ValidString(ce.Message) {
		t.Fatalf("%q: message %q", body, ce.Message)
	}
	// The error body the client gets is JSON with the code and the field.
	s := &Server{}
	w := httptest.NewRecorder()
	s.writeError(w, httptest.NewRequest("POST", "/", nil), err)
	var eb errorBody
	if json.Unmarshal(w.Body.Bytes(), &eb) != nil || eb.Error.Code != ce.Code || eb.Error.Field != ce.Field || w.Code != map[string]int{cairn.ETooLarge: 413, cairn.EInvalid: 400}[ce.Code] {
		t.Fatalf("%q: error body %d %s", body, w.Code, w.Body.Bytes())
	}
}
