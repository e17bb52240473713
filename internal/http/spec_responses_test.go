package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	nethttp "net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/dlclark/regexp2/v2"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/cairnhq/cairn/internal/apitest"
)

// Every answer the tests of this package get from a server is checked
// against http/openapi.json by an independent OpenAPI implementation
// (kin-openapi's response validation): its status must be documented for
// the operation, and its body must match that response's schema. One
// answer per distinct shape is kept per operation and status, so the check
// stays quick.

// shapesPerCase bounds the distinct answer shapes kept per operation and
// status; one exchange is kept per shape (its JSON members and their
// kinds), so a rare shape of an answer is checked too, not only the first
// few answers.
const shapesPerCase = 32

type exchanges struct {
	mu     sync.Mutex
	kept   map[string][]apitest.Exchange // "METHOD path status" -> one per shape
	shapes map[string]bool               // "METHOD path status shape"
}

func (x *exchanges) add(e apitest.Exchange) {
	k := fmt.Sprintf("%s %s %d", e.Method, e.Path, e.Status)
	shape := shapeOf(e.Body)
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.shapes[k+" "+shape] || len(x.kept[k]) >= shapesPerCase {
		return
	}
	x.shapes[k+" "+shape] = true
	x.kept[k] = append(x.kept[k], e)
}

// shapeOf describes a JSON body by its members and their kinds (arrays by
// the shapes of their first elements); "" for a body that is not JSON.
func shapeOf(body []byte) string {
	var v any
	if len(body) > 256<<10 || json.Unmarshal(body, &v) != nil {
		return ""
	}
	var b strings.Builder
	writeShape(&b, v, 0)
	return b.String()
}

func writeShape(b *strings.Builder, v any, depth int) {
	if depth > 6 {
		return
	}
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteByte('{')
		for _, k := range keys {
			b.WriteString(k)
			b.WriteByte(':')
			writeShape(b, v[k], depth+1)
			b.WriteByte(',')
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		seen := map[string]bool{}
		for i, x := range v {
			if i == 4 {
				break
			}
			var e strings.Builder
			writeShape(&e, x, depth+1)
			if !seen[e.String()] {
				seen[e.String()] = true
				b.WriteString(e.String())
			}
		}
		b.WriteByte(']')
	case string:
		if v == "" {
			b.WriteString("s0")
		} else {
			b.WriteByte('s')
		}
	case nil:
		b.WriteByte('n')
	default:
		fmt.Fprintf(b, "%T", v)
	}
}

func TestMain(m *testing.M) {
	x := &exchanges{kept: map[string][]apitest.Exchange{}, shapes: map[string]bool{}}
	apitest.Record(x.add)
	code := m.Run()
	apitest.Record(nil)
	if code == 0 && os.Getenv("CAIRN_SKIP_SPEC_CHECK") == "" {
		if problems := x.check(); len(problems) > 0 {
			fmt.Fprintf(os.Stderr, "responses that do not match http/openapi.json (%d):\n%s\n", len(problems), strings.Join(problems, "\n"))
			code = 1
		}
	}
	os.Exit(code)
}

// ecmaRegexp compiles the spec's patterns as ECMA-262 regular expressions,
// as JSON Schema defines them (Go's regexp has no lookahead).
func ecmaRegexp(expr string) (openapi3.RegexMatcher, error) {
	re, err := regexp2.Compile(expr, regexp2.ECMAScript)
	if err != nil {
		return nil, err
	}
	return ecma{re}, nil
}

type ecma struct{ re *regexp2.Regexp }

func (e ecma) MatchString(s string) bool {
	ok, err := e.re.MatchString(s)
	return ok && err == nil
}

// check validates the kept exchanges and returns one line per distinct
// problem.
func (x *exchanges) check() []string {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile("openapi.json")
	if err != nil {
		return []string{"loading openapi.json: " + err.Error()}
	}
	doc.Servers = openapi3.Servers{{URL: "/"}}
	router, err := legacy.NewRouter(doc, openapi3.SetRegexCompiler(ecmaRegexp))
	if err != nil {
		return []string{"routing openapi.json: " + err.Error()}
	}
	seen := map[string]bool{}
	var out []string
	keys := make([]string, 0, len(x.kept))
	for k := range x.kept {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, e := range x.kept[k] {
			if msg := validate(router, e); msg != "" && !seen[msg] {
				seen[msg] = true
				out = append(out, msg)
			}
		}
	}
	return out
}

// validate checks one exchange; "" when it matches or is not the spec's
// to judge (a path the API does not serve, a truncated body).
func validate(router routers.Router, e apitest.Exchange) string {
	if !strings.HasPrefix(e.Path, "/api/") || e.Truncated {
		return ""
	}
	u := &url.URL{Path: e.Path, RawQuery: e.RawQuery}
	req, _ := nethttp.NewRequest(e.Method, u.String(), nil)
	req.Header = e.ReqHeader
	route, params, err := router.FindRoute(req)
	if err != nil {
		return "" // a path or method the API does not serve (the hostile tests ask for them)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 e.Status,
		Header:                 e.Header,
		Body:                   io.NopCloser(bytes.NewReader(e.Body)),
		Options: &openapi3filter.Options{
			IncludeResponseStatus: true,
			MultiError:            true,
			RegexCompiler:         ecmaRegexp,
			AuthenticationFunc:    openapi3filter.NoopAuthenticationFunc,
		},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		return fmt.Sprintf("- %s %s → %d: %s", e.Method, route.Path, e.Status, oneLine(err.Error()))
	}
	return ""
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 600 {
		s = s[:600] + "…"
	}
	return s
}
