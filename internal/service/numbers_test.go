package service

import (
	"strings"
	"testing"

	"github.com/cairnhq/cairn"
)

func TestExactNumbers(t *testing.T) {
	ok := []string{
		`{"amount":10000}`, `{"amount":10000.0}`, `{"a":0.1}`, `{"a":1e2}`, `{"a":1E+2}`, `[-0, -0.0, 0e5]`,
		`[9007199254740992, -9007199254740992]`, `[1.7976931348623157e308, 5e-324]`, `[100000000000000000000]`,
		`{"s":"10000.0000000000001","n":null,"b":true}`, `"12345678901234567890"`, `[1.2345678901234567]`,
		`[0.30000000000000004, 123456789012345.6]`,
	}
	for _, in := range ok {
		if err := exactNumbers("input", []byte(in)); err != nil {
			t.Errorf("%s: %v", in, err)
		}
	}
	bad := []struct{ in, field string }{
		{`{"amount":10000.0000000000001}`, "input.amount"},
		{`{"a":{"b":[1, 2, 9007199254740993]}}`, "input.a.b[2]"},
		{`[{"x":1},{"y":[1e400]}]`, "input[1].y[0]"},
		{`{"we ird":[0.1000000000000000055511151231257827]}`, `input["we ird"][0]`},
		{`12345678901234567890`, "input"},
		{`[1e-400]`, "input[0]"},
		{`{"a":{},"b":[],"c":{"d":1.00000000000000001}}`, "input.c.d"},
	}
	for _, tt := range bad {
		err := exactNumbers("input", []byte(tt.in))
		ce, isCE := err.(*cairn.Error)
		if !isCE || ce.Code != cairn.EInvalid || ce.Field != tt.field || !strings.Contains(ce.Message, "float64") {
			t.Errorf("%s: got %v (field %q), want 400 on %s", tt.in, err, fieldOf(err), tt.field)
		}
	}
}

func fieldOf(err error) string {
	if ce, ok := err.(*cairn.Error); ok {
		return ce.Field
	}
	return ""
}
