package openapigen

import "github.com/cairnhq/cairn"

// Config says what reflection cannot: schema names, the schemas of types
// that encode themselves, and enumerations.
type Config struct {
	// Names overrides a struct type's component name ("pkg.Type" keys).
	Names map[string]string
	// Types gives the schema of a type that encodes itself.
	Types map[string]map[string]any
	// StructShaped lists types with their own MarshalJSON whose JSON is
	// still the struct's members (they serve stored bytes of that shape).
	StructShaped map[string]bool
	// Components are schemas of types that encode themselves, referred to
	// from Types.
	Components map[string]map[string]any
	// Enums are string schemas whose values are the domain's constants.
	Enums map[string][]string
}

// Cairn is the configuration of Cairn's API document.
func Cairn() *Config {
	return &Config{
		Names: map[string]string{
			"http.checkpointView": "Checkpoint",
			"http.cosignRequest":  "CosignRequest",
			"service.Proof":       "InclusionProofAnswer",
			"service.Consistency": "ConsistencyProofAnswer",
			"verify.Report":       "VerifyReport",
		},
		Types: map[string]map[string]any{
			// Opt encodes "" as null.
			"cairn.Opt": {"type": []any{"string", "null"}},
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
