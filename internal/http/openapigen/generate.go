// Package openapigen builds Cairn's OpenAPI document from the HTTP route
// table and the Go types of request and answer bodies, and merges in the
// hand-written prose of an overlay file (ADR 0052). What the routes and
// types say (paths, methods, path parameters, security, request and answer
// schemas, error answers) is generated; the overlay may add descriptions,
// examples, query parameters and constraints, never replace them.
package openapigen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Auth is how a route authenticates.
type Auth int

const (
	// KeyRequired routes need a bearer API key (401 without one).
	KeyRequired Auth = iota
	// NoKey routes are public.
	NoKey
	// KeyOptional routes take a key or none, depending on the server's
	// configuration (the tlog-tiles routes and --public-tlog).
	KeyOptional
)

// Route is one operation of the route table.
type Route struct {
	Method, Path string
	Auth         Auth
	Req, Resp    reflect.Type // JSON request body and success answer; nil: none or not a fixed Go type
}

const (
	errorRef      = "#/components/schemas/Error"
	responsesPath = "#/components/responses/"
)

// Generate returns the OpenAPI document (indented JSON) for routes, with
// the prose of the YAML overlay merged in.
func Generate(routes []Route, overlayYAML []byte, cfg *Config) ([]byte, error) {
	doc, err := parseOverlay(overlayYAML)
	if err != nil {
		return nil, err
	}
	if err := checkOverlayPaths(doc, routes); err != nil {
		return nil, err
	}
	if err := checkProse(doc, routes); err != nil {
		return nil, err
	}
	gen, named, err := build(routes, doc, cfg)
	if err != nil {
		return nil, err
	}
	if err := checkOverlayMembers(doc, named); err != nil {
		return nil, err
	}
	if err := merge(doc, gen, ""); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// build makes the generated part of the document: paths from the routes
// (doc, the overlay, is read for the statuses it documents) and
// components.schemas from the Go types; named are the schemas of Go types.
func build(routes []Route, doc object, cfg *Config) (gen object, named map[string]object, err error) {
	g := newSchemas(cfg)
	gen = object{"paths": object{}}
	bodies := make([][2]object, len(routes))
	g.strict = true
	for i, r := range routes {
		if r.Req != nil {
			bodies[i][0] = g.ref(r.Req)
		}
	}
	g.strict = false
	for i, r := range routes {
		if r.Resp != nil {
			bodies[i][1] = g.ref(r.Resp)
		}
	}
	for _, t := range cfg.Extra {
		g.ref(t)
	}
	if g.err != nil {
		return nil, nil, g.err
	}
	paths := gen["paths"].(object)
	for i, r := range routes {
		if paths[r.Path] == nil {
			paths[r.Path] = object{}
		}
		paths[r.Path].(object)[strings.ToLower(r.Method)] = operation(r, overlayOp(doc, r), bodies[i][0], bodies[i][1])
	}
	comps := object{}
	for name, s := range g.named {
		comps[name] = s
	}
	for name, s := range cfg.Components {
		comps[name] = clone(s)
	}
	for name, values := range cfg.Enums {
		comps[name] = object{"type": "string", "enum": toAny(values)}
	}
	gen["components"] = object{"schemas": comps}
	return gen, g.named, nil
}

// parseOverlay reads the YAML overlay as a JSON document.
func parseOverlay(src []byte) (object, error) {
	var y any
	if err := yaml.Unmarshal(src, &y); err != nil {
		return nil, fmt.Errorf("openapigen: overlay: %w", err)
	}
	b, err := json.Marshal(y)
	if err != nil {
		return nil, fmt.Errorf("openapigen: overlay is not a JSON document (quote keys such as \"200\"): %w", err)
	}
	var doc object
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("openapigen: overlay: %w", err)
	}
	if doc == nil {
		doc = object{}
	}
	return doc, nil
}

var methods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// checkOverlayPaths: the overlay describes only operations of the table.
func checkOverlayPaths(doc object, routes []Route) error {
	known := map[string]bool{}
	for _, r := range routes {
		known[strings.ToLower(r.Method)+" "+r.Path] = true
	}
	paths, _ := doc["paths"].(object)
	var bad []string
	for p, ops := range paths {
		opm, _ := ops.(object)
		for m, op := range opm {
			if slices.Contains(methods, m) && !known[m+" "+p] {
				bad = append(bad, strings.ToUpper(m)+" "+p)
			}
			if name := foreignPathParam(p, op); name != "" {
				return fmt.Errorf("openapigen: the overlay describes path parameter %q of %s %s, which the path has not", name, strings.ToUpper(m), p)
			}
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return fmt.Errorf("openapigen: the overlay describes operations no route serves: %s", strings.Join(bad, ", "))
	}
	return nil
}

// checkProse: every route has its prose in the overlay (a summary and a
// unique operationId at least), so a new route cannot ship undocumented.
func checkProse(doc object, routes []Route) error {
	ids := map[string]string{}
	for _, r := range routes {
		op := overlayOp(doc, r)
		where := fmt.Sprintf("paths.%q.%s", r.Path, strings.ToLower(r.Method))
		summary, _ := op["summary"].(string)
		id, _ := op["operationId"].(string)
		if summary == "" || id == "" {
			return fmt.Errorf("openapigen: route %s %s has no prose: give %s a summary, an operationId, a description and its answers' descriptions in the overlay", r.Method, r.Path, where)
		}
		if prev, dup := ids[id]; dup {
			return fmt.Errorf("openapigen: operationId %q is used by %s and %s", id, prev, where)
		}
		ids[id] = where
	}
	return nil
}

// foreignPathParam names a path parameter the overlay's operation
// describes and the path has not ("" when there is none).
func foreignPathParam(path string, op any) string {
	opm, _ := op.(object)
	params, _ := opm["parameters"].([]any)
	for _, p := range params {
		pm, _ := p.(object)
		name, _ := pm["name"].(string)
		if pm["in"] == "path" && !strings.Contains(path, "{"+name+"}") {
			return name
		}
	}
	return ""
}

// checkOverlayMembers: the overlay describes only members the Go types
// have, so a removed member cannot linger in the document.
func checkOverlayMembers(doc object, named map[string]object) error {
	comps, _ := doc["components"].(object)
	schemas, _ := comps["schemas"].(object)
	for name, gen := range named {
		ov, _ := schemas[name].(object)
		props, _ := ov["properties"].(object)
		genProps, _ := gen["properties"].(object)
		for m := range props {
			if _, ok := genProps[m]; !ok {
				return fmt.Errorf("openapigen: the overlay describes %s.%s, which the Go type has not", name, m)
			}
		}
	}
	return nil
}

func overlayOp(doc object, r Route) object {
	paths, _ := doc["paths"].(object)
	ops, _ := paths[r.Path].(object)
	op, _ := ops[strings.ToLower(r.Method)].(object)
	return op
}

var pathParam = regexp.MustCompile(`\{([^}]+)\}`)

// operation is what the route and its types say about one operation; ov is
// the overlay's operation, read for the statuses it documents.
func operation(r Route, ov object, req, resp object) object {
	op := object{}
	if params := pathParams(r.Path, ov); params != nil {
		op["parameters"] = params
	}
	ovResponses, _ := ov["responses"].(object)
	responses := object{}
	// shared puts a shared answer (components.responses) at status unless
	// the overlay describes that status for this operation itself.
	shared := func(status, name string) {
		if ovResponses[status] == nil || isRef(ovResponses[status]) {
			responses[status] = object{"$ref": responsesPath + name}
		}
	}
	switch r.Auth {
	case NoKey:
		op["security"] = []any{}
	case KeyOptional:
		op["security"] = []any{object{"bearerAuth": []any{}}, object{}}
		responses["401"] = object{"$ref": responsesPath + "Unauthorized"}
	default:
		responses["401"] = object{"$ref": responsesPath + "Unauthorized"}
		shared("429", "TooManyRequests") // admission (ADR 0015)
	}
	if req != nil {
		op["requestBody"] = object{"required": true, "content": jsonContent(req)}
		responses["400"] = object{}
		responses["413"] = object{}
		shared("408", "RequestTimeout")
	}
	if resp != nil {
		ok := successStatuses(ovResponses)
		for _, status := range ok {
			responses[status] = object{"content": jsonContent(resp)}
		}
	}
	errorBodies(responses, ovResponses)
	op["responses"] = responses
	return op
}

// pathParams are the parameters of the path's {name} segments.
func pathParams(path string, ov object) []any {
	var params []any
	for _, m := range pathParam.FindAllStringSubmatch(path, -1) {
		p := object{"name": m[1], "in": "path", "required": true}
		if !overlayParamHasSchema(ov, m[1]) {
			p["schema"] = object{"type": "string"}
		}
		params = append(params, p)
	}
	return params
}

// errorBodies gives every 4xx and 5xx answer of the operation (generated
// or documented by the overlay) the Error body, except shared answers
// (components.responses), which carry their own.
func errorBodies(responses, ovResponses object) {
	for status := range ovResponses {
		if isError(status) && responses[status] == nil {
			responses[status] = object{}
		}
	}
	for status, x := range responses {
		if xm := x.(object); isError(status) && xm["$ref"] == nil && !isRef(ovResponses[status]) {
			xm["content"] = jsonContent(object{"$ref": errorRef})
		}
	}
}

// overlayParamHasSchema: the overlay types path parameter name itself
// (an integer, a pattern); the route says only that it is a string.
func overlayParamHasSchema(ov object, name string) bool {
	params, _ := ov["parameters"].([]any)
	for _, p := range params {
		if pm, ok := p.(object); ok && pm["in"] == "path" && pm["name"] == name && pm["schema"] != nil {
			return true
		}
	}
	return false
}

// successStatuses are the 2xx statuses the overlay documents, else 200.
func successStatuses(ov object) []string {
	var out []string
	for status := range ov {
		if strings.HasPrefix(status, "2") {
			out = append(out, status)
		}
	}
	if out == nil {
		out = []string{"200"}
	}
	sort.Strings(out)
	return out
}

// isError: a 4xx or 5xx status.
func isError(status string) bool {
	return len(status) == 3 && (status[0] == '4' || status[0] == '5')
}

func isRef(v any) bool {
	m, ok := v.(object)
	return ok && m["$ref"] != nil
}

func jsonContent(schema object) object {
	return object{"application/json": object{"schema": schema}}
}

func toAny(values []string) []any {
	out := make([]any, len(values))
	for i, v := range values {
		out[i] = v
	}
	return out
}
