package openapigen_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cairnhq/cairn/internal/http/openapigen"
)

type inner struct {
	N int `json:"n"`
}

type Embedded struct {
	E string `json:"e"`
}

type sample struct {
	Embedded
	Name     string            `json:"name"`
	Opt      string            `json:"opt,omitempty"`
	Zero     int               `json:"zero,omitzero"`
	Ptr      *inner            `json:"ptr"`
	PtrOpt   *inner            `json:"ptr_opt,omitempty"`
	At       time.Time         `json:"at"`
	Raw      json.RawMessage   `json:"raw"`
	Labels   map[string]string `json:"labels"`
	Items    []*inner          `json:"items"`
	Tags     []string          `json:"tags" openapi:"nullable"`
	Size     uint64            `json:"size"`
	Maybe    string            `json:"maybe" openapi:"optional"`
	Skip     string            `json:"-"`
	internal string
}

type sampleRequest struct {
	Name string `json:"name"`
}

type selfEncoded struct{}

func (selfEncoded) MarshalJSON() ([]byte, error) { return []byte(`"x"`), nil }

const overlay = `
paths:
  /healthz:
    get: {summary: Health, operationId: health}
  /tlog/{path...}:
    get: {summary: Tiles, operationId: tile}
  /things/{id}:
    get:
      summary: Read a thing
      operationId: getThing
      responses:
        "200": {description: The thing.}
        "404": {description: No such thing.}
    post:
      summary: Make a thing
      operationId: makeThing
      responses:
        "201": {description: Created.}
        "400": {description: Bad input.}
        "413": {description: Too large.}
components:
  schemas:
    Sample:
      description: A sample.
      properties:
        name: {description: Its name., maxLength: 10}
`

var routes = []openapigen.Route{
	{Method: "GET", Path: "/things/{id}", Resp: reflect.TypeFor[sample]()},
	{Method: "POST", Path: "/things/{id}", Req: reflect.TypeFor[sampleRequest](), Resp: reflect.TypeFor[sample]()},
	{Method: "GET", Path: "/healthz", Auth: openapigen.NoKey},
	{Method: "GET", Path: "/tlog/{path...}", Auth: openapigen.KeyOptional},
}

func generate(t *testing.T, routes []openapigen.Route, overlay string) map[string]any {
	t.Helper()
	out, err := openapigen.Generate(routes, []byte(overlay), &openapigen.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

func at(t *testing.T, v any, path string) any {
	t.Helper()
	for _, k := range strings.Split(path, "|") {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%s: %q is not under an object", path, k)
		}
		v = m[k]
	}
	return v
}

func asJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestSchemaFromGoType: members, required, nullability and formats follow
// encoding/json's rules for the Go type; the overlay's prose is merged in.
func TestSchemaFromGoType(t *testing.T) {
	_ = sample{internal: "unexported: not a member"}
	doc := generate(t, routes, overlay)
	s := at(t, doc, "components|schemas|Sample")
	props := at(t, s, "properties").(map[string]any)
	var names []string
	for k := range props {
		names = append(names, k)
	}
	want := "at e items labels maybe name opt ptr ptr_opt raw size tags zero"
	if got := strings.Join(sortStrings(names), " "); got != want {
		t.Errorf("members %q, want %q", got, want)
	}
	if got := asJSON(at(t, s, "required")); got != `["e","name","ptr","at","raw","labels","items","tags","size"]` {
		t.Errorf("required %s", got)
	}
	checks := map[string]string{
		"ptr":     `{"anyOf":[{"$ref":"#/components/schemas/Inner"},{"type":"null"}]}`,
		"ptr_opt": `{"$ref":"#/components/schemas/Inner"}`,
		"at":      `{"format":"date-time","type":"string"}`,
		"raw":     `{"type":["null","boolean","object","array","number","string"]}`,
		"labels":  `{"additionalProperties":{"type":"string"},"type":"object"}`,
		"items":   `{"items":{"$ref":"#/components/schemas/Inner"},"type":"array"}`,
		"tags":    `{"items":{"type":"string"},"type":["array","null"]}`,
		"size":    `{"minimum":0,"type":"integer"}`,
		"name":    `{"description":"Its name.","maxLength":10,"type":"string"}`,
	}
	for m, w := range checks {
		if got := asJSON(props[m]); got != w {
			t.Errorf("%s: %s, want %s", m, got, w)
		}
	}
	if got := at(t, s, "description"); got != "A sample." {
		t.Errorf("description %v", got)
	}
	if _, ok := s.(map[string]any)["additionalProperties"]; ok {
		t.Errorf("an answer's schema forbids unknown members")
	}
	req := at(t, doc, "components|schemas|SampleRequest")
	if got := asJSON(req); got != `{"additionalProperties":false,"properties":{"name":{"type":"string"}},"type":"object"}` {
		t.Errorf("request schema %s", got)
	}
}

// TestOperationsFromRoutes: auth, path parameters, bodies and error
// answers come from the route.
func TestOperationsFromRoutes(t *testing.T) {
	doc := generate(t, routes, overlay)
	get := at(t, doc, "paths|/things/{id}|get")
	if got := asJSON(at(t, get, "parameters")); got != `[{"in":"path","name":"id","required":true,"schema":{"type":"string"}}]` {
		t.Errorf("parameters %s", got)
	}
	if got := asJSON(at(t, get, "responses|200")); got != `{"content":{"application/json":{"schema":{"$ref":"#/components/schemas/Sample"}}},"description":"The thing."}` {
		t.Errorf("200 %s", got)
	}
	if got := asJSON(at(t, get, "responses|404|content")); got != `{"application/json":{"schema":{"$ref":"#/components/schemas/Error"}}}` {
		t.Errorf("404 content %s", got)
	}
	if got := asJSON(at(t, get, "responses|401")); got != `{"$ref":"#/components/responses/Unauthorized"}` {
		t.Errorf("401 %s", got)
	}
	if get.(map[string]any)["security"] != nil {
		t.Errorf("a keyed operation overrides the document's security")
	}
	post := at(t, doc, "paths|/things/{id}|post")
	if got := asJSON(at(t, post, "requestBody")); got != `{"content":{"application/json":{"schema":{"$ref":"#/components/schemas/SampleRequest"}}},"required":true}` {
		t.Errorf("requestBody %s", got)
	}
	if at(t, post, "responses|201|content") == nil || at(t, post, "responses|200") != nil {
		t.Errorf("the answer's schema goes to the documented 2xx status: %s", asJSON(at(t, post, "responses")))
	}
	for _, s := range []string{"400", "413", "408"} {
		if at(t, post, "responses|"+s) == nil {
			t.Errorf("a request body brings %s", s)
		}
	}
	if got := asJSON(at(t, doc, "paths|/healthz|get|security")); got != `[]` {
		t.Errorf("public security %s", got)
	}
	if got := at(t, doc, "paths|/healthz|get|responses|401"); got != nil {
		t.Errorf("public operation has 401")
	}
	if got := asJSON(at(t, doc, "paths|/tlog/{path...}|get|security")); got != `[{"bearerAuth":[]},{}]` {
		t.Errorf("optional-key security %s", got)
	}
}

// TestOverlayCannotReplace: the overlay adds prose; it cannot change what
// the routes and types say, describe members the type has not, or
// operations no route serves, and every route needs its prose.
func TestOverlayCannotReplace(t *testing.T) {
	cases := map[string]struct{ extra, want string }{
		"retype a member":                   {"components: {schemas: {Sample: {properties: {name: {type: integer}}}}}", "Sample/properties/name/type"},
		"a member not in Go":                {"components: {schemas: {Sample: {properties: {gone: {type: string}}}}}", "Sample.gone"},
		"an unknown operation":              {"paths: {/things: {delete: {summary: x}}}", "DELETE /things"},
		"a path parameter the path has not": {"paths: {/healthz: {get: {parameters: [{name: id, in: path}]}}}", `path parameter "id"`},
		"make optional required":            {"components: {schemas: {Sample: {required: [name]}}}", "Sample/required"},
		"an answer's schema":                {`paths: {"/things/{id}": {get: {responses: {"200": {content: {application/json: {schema: {type: string}}}}}}}}`, "beside the generated $ref"},
		"an error status's schema":          {`paths: {"/things/{id}": {get: {responses: {"404": {content: {application/json: {schema: {type: string}}}}}}}}`, "beside the generated $ref"},
		"lower a minimum":                   {"components: {schemas: {Sample: {properties: {size: {minimum: -1}}}}}", "size/minimum"},
		"widen a type":                      {"components: {schemas: {Sample: {properties: {name: {type: [string, \"null\"]}}}}}", "name/type"},
		"a $ref beside a generated schema":  {`components: {schemas: {Sample: {properties: {name: {$ref: "#/components/schemas/Inner"}}}}}`, "puts a $ref"},
		"no prose for a route":              {"paths: {/healthz: {get: {summary: \"\"}}}", "GET /healthz has no prose"},
		"a repeated operationId":            {"paths: {/healthz: {get: {operationId: tile}}}", `operationId "tile"`},
	}
	for name, c := range cases {
		_, err := openapigen.Generate(routes, withOverlay(t, c.extra), &openapigen.Config{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want one naming %q", name, err, c.want)
		}
	}
	// Narrowing what the Go type allows is adding a constraint: allowed.
	doc := generate(t, routes, string(withOverlay(t, "components: {schemas: {Sample: {properties: {size: {minimum: 1}, raw: {type: object}}}}}")))
	if got := asJSON(at(t, doc, "components|schemas|Sample|properties|size|minimum")); got != "1" {
		t.Errorf("raised minimum %s", got)
	}
	if got := asJSON(at(t, doc, "components|schemas|Sample|properties|raw|type")); got != `"object"` {
		t.Errorf("narrowed type %s", got)
	}
}

// withOverlay is the test overlay with extra (YAML) merged over it.
func withOverlay(t *testing.T, extra string) []byte {
	t.Helper()
	var base, add map[string]any
	if err := yaml.Unmarshal([]byte(overlay), &base); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal([]byte(extra), &add); err != nil {
		t.Fatal(err)
	}
	over(base, add)
	b, err := json.Marshal(base)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func over(dst, src map[string]any) {
	for k, v := range src {
		sm, ok := v.(map[string]any)
		dm, ok2 := dst[k].(map[string]any)
		if ok && ok2 {
			over(dm, sm)
			continue
		}
		dst[k] = v
	}
}

// TestSelfEncodingTypeNeedsSchema: a type with its own MarshalJSON says
// nothing by its fields; the generator refuses to guess.
func TestSelfEncodingTypeNeedsSchema(t *testing.T) {
	r := []openapigen.Route{{Method: "GET", Path: "/x", Resp: reflect.TypeFor[struct {
		S selfEncoded `json:"s"`
	}]()}}
	prose := []byte("paths: {/x: {get: {summary: x, operationId: x}}}")
	if _, err := openapigen.Generate(r, prose, &openapigen.Config{}); err == nil || !strings.Contains(err.Error(), "own JSON encoding") {
		t.Fatalf("err = %v", err)
	}
	cfg := &openapigen.Config{Types: map[string]map[string]any{"openapigen_test.selfEncoded": {"type": "string"}}}
	if _, err := openapigen.Generate(r, prose, cfg); err != nil {
		t.Fatal(err)
	}
}

// TestDeterministic: the same input gives the same bytes.
func TestDeterministic(t *testing.T) {
	a, err := openapigen.Generate(routes, []byte(overlay), &openapigen.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		b, _ := openapigen.Generate(routes, []byte(overlay), &openapigen.Config{})
		if string(a) != string(b) {
			t.Fatal("two runs differ")
		}
	}
}

func sortStrings(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

type page[T any] struct {
	Items []T `json:"items"`
}

// TestGenericNames: a generic type is named after its argument, through
// Config.Names when the argument is renamed.
func TestGenericNames(t *testing.T) {
	r := []openapigen.Route{{Method: "GET", Path: "/x", Resp: reflect.TypeFor[page[*inner]]()}}
	prose := []byte("paths: {/x: {get: {summary: x, operationId: x}}}")
	for names, want := range map[string]string{"": "InnerPage", "openapigen_test.inner": "ThingPage"} {
		cfg := &openapigen.Config{Names: map[string]string{names: "Thing"}}
		out, err := openapigen.Generate(r, prose, cfg)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(out, &doc); err != nil {
			t.Fatal(err)
		}
		if at(t, doc, "components|schemas|"+want) == nil {
			t.Errorf("names %q: no schema %s in %s", names, want, asJSON(at(t, doc, "components|schemas")))
		}
	}
}

// TestExtraTypes: a type no route names (the error body) still gets its
// schema.
func TestExtraTypes(t *testing.T) {
	cfg := &openapigen.Config{Extra: []reflect.Type{reflect.TypeFor[inner]()}, Names: map[string]string{"openapigen_test.inner": "Error"}}
	out, err := openapigen.Generate(routes[2:3], []byte("paths: {/healthz: {get: {summary: h, operationId: h}}}"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	if got := asJSON(at(t, doc, "components|schemas|Error")); got != `{"properties":{"n":{"type":"integer"}},"required":["n"],"type":"object"}` {
		t.Errorf("Error schema %s", got)
	}
}
