package http

import (
	"reflect"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/http/openapigen"
)

// The OpenAPI document openapi.json is generated from the route table, the
// Go types it names and the prose in openapi.overlay.yaml (ADR 0052);
// TestOpenAPIGenerated fails when the committed file is not what this
// produces.
//go:generate go run ./openapigen/genopenapi -overlay openapi.overlay.yaml -out openapi.json

// APIRoutes describes the route table for the OpenAPI generator.
func APIRoutes() []openapigen.Route {
	table := (&Server{}).table()
	out := make([]openapigen.Route, len(table))
	for i, r := range table {
		auth := openapigen.KeyRequired
		switch {
		case r.keyOptional:
			auth = openapigen.KeyOptional
		case r.public != nil:
			auth = openapigen.NoKey
		}
		out[i] = openapigen.Route{Method: r.method, Path: r.path, Auth: auth, Req: typeOf(r.req), Resp: typeOf(r.resp)}
	}
	return out
}

func typeOf(v any) reflect.Type {
	if v == nil {
		return nil
	}
	return reflect.TypeOf(v)
}

// OpenAPIConfig says what reflection cannot about the API's types: schema
// names, the schemas of types that encode themselves, enumerations from the
// domain's constants, and the error body.
func OpenAPIConfig() *openapigen.Config {
	return &openapigen.Config{
		Names: map[string]string{
			"http.checkpointView": "Checkpoint",
			"http.cosignRequest":  "CosignRequest",
			"service.Proof":       "InclusionProofAnswer",
			"service.Consistency": "ConsistencyProofAnswer",
			"verify.Report":       "VerifyReport",
			"http.errorBody":      "Error",
			"http.errorDetail":    "ErrorDetail",
		},
		Types: map[string]map[string]any{
			// Opt encodes "" as null.
			"ledger.Opt": {"type": []any{"string", "null"}},
			// verify.Error encodes itself as a Problem.
			"verify.Error": {"$ref": "#/components/schemas/Problem"},
		},
		Components: map[string]map[string]any{
			"Problem": {
				"type": "object",
				"properties": map[string]any{
					"code":    map[string]any{"type": "string"},
					"record":  map[string]any{"type": "string"},
					"index":   map[string]any{"type": []any{"integer", "null"}, "minimum": 0},
					"message": map[string]any{"type": "string"},
				},
				"required": []any{"code", "record", "index", "message"},
			},
		},
		StructShaped: map[string]bool{
			"cairn.Approval": true,
			"cairn.Event":    true,
		},
		Extra: []reflect.Type{reflect.TypeFor[errorBody]()},
		Enums: map[string][]string{
			"JobState":       cairn.AllStates,
			"PolicyDecision": cairn.AllDecisions,
			"Role":           cairn.AllRoles,
			// The domain has these as constants without a list.
			"PrincipalKind":  {cairn.KindHuman, cairn.KindAgent, cairn.KindService},
			"Phase":          {cairn.PhaseSubmit, cairn.PhaseDispatch, cairn.PhaseSimulate},
			"OutputDecision": {cairn.OutputAllow, cairn.OutputRedact, cairn.OutputQuarantine},
			"Resolution":     {cairn.ResolutionApproved, cairn.ResolutionRejected, cairn.ResolutionExpired, cairn.ResolutionCancelled},
		},
	}
}
