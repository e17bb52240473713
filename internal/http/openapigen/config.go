package openapigen

import "reflect"

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
	// Extra are answer types no route names but the document needs (the
	// error body).
	Extra []reflect.Type
}
