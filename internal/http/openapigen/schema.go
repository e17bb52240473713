package openapigen

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode"
)

// object is a JSON object of the document being built.
type object = map[string]any

var (
	timeType      = reflect.TypeFor[time.Time]()
	rawType       = reflect.TypeFor[json.RawMessage]()
	marshalerType = reflect.TypeFor[json.Marshaler]()
	textType      = reflect.TypeFor[encoding.TextMarshaler]()
)

// schemas builds components.schemas from Go types by reflection over what
// encoding/json does with them: a struct's members are its json names
// (embedded structs flattened), a member without omitempty, omitzero or an
// openapi:"optional" tag is required, a pointer may be null, time.Time is a date-time string,
// json.RawMessage and interfaces are any JSON value.
type schemas struct {
	cfg   *Config
	named map[string]object       // component name -> schema
	types map[string]reflect.Type // component name -> the type it came from
	// strict is set while request types are built: the server rejects
	// unknown members there, so their schemas say additionalProperties false.
	strict       bool
	requestTypes []string
	err          error
}

func newSchemas(cfg *Config) *schemas {
	return &schemas{cfg: cfg, named: map[string]object{}, types: map[string]reflect.Type{}}
}

// ref returns a reference to typ's component schema, building it (and the
// components it needs) the first time.
func (g *schemas) ref(typ reflect.Type) object {
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	return g.schema(typ)
}

// schema is the schema of one Go type: a $ref for named structs, inline
// for everything else.
func (g *schemas) schema(typ reflect.Type) object {
	if typ.Kind() == reflect.Pointer {
		return nullable(g.schema(typ.Elem()))
	}
	if s, ok := g.cfg.Types[typeKey(typ)]; ok {
		return clone(s)
	}
	if typ == timeType {
		return object{"type": "string", "format": "date-time"}
	}
	if typ == rawType || typ.Kind() == reflect.Interface {
		return anyJSON()
	}
	if g.customJSON(typ) {
		g.fail(fmt.Errorf("openapigen: %s has its own JSON encoding; give its schema in Config.Types or list it in Config.StructShaped", typeKey(typ)))
		return object{}
	}
	switch typ.Kind() {
	case reflect.Struct:
		return g.component(typ)
	case reflect.Slice, reflect.Array:
		if typ.Elem().Kind() == reflect.Uint8 {
			return object{"type": "string", "contentEncoding": "base64"}
		}
		return object{"type": "array", "items": g.element(typ.Elem())}
	case reflect.Map:
		return object{"type": "object", "additionalProperties": g.element(typ.Elem())}
	}
	return g.scalar(typ)
}

// element is the schema of a list's or map's elements: pointers there
// share values and are never nil, so they are not null.
func (g *schemas) element(typ reflect.Type) object {
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	return g.schema(typ)
}

func (g *schemas) scalar(typ reflect.Type) object {
	switch typ.Kind() {
	case reflect.Bool:
		return object{"type": "boolean"}
	case reflect.String:
		return object{"type": "string"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return object{"type": "integer"}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return object{"type": "integer", "minimum": 0}
	case reflect.Float32, reflect.Float64:
		return object{"type": "number"}
	}
	g.fail(fmt.Errorf("openapigen: no JSON schema for %s (kind %s)", typeKey(typ), typ.Kind()))
	return object{}
}

// customJSON reports whether typ (or its pointer) encodes itself, so its
// fields say nothing about its JSON, unless the configuration says it keeps
// the struct's shape.
func (g *schemas) customJSON(typ reflect.Type) bool {
	if g.cfg.StructShaped[typeKey(typ)] {
		return false
	}
	p := reflect.PointerTo(typ)
	return typ.Implements(marshalerType) || p.Implements(marshalerType) ||
		typ.Implements(textType) || p.Implements(textType)
}

// component returns a $ref to a named struct's schema, or the inline
// schema of an anonymous struct.
func (g *schemas) component(typ reflect.Type) object {
	name := g.name(typ)
	if name == "" {
		return g.object(typ)
	}
	if prev, ok := g.types[name]; ok {
		if prev != typ {
			g.fail(fmt.Errorf("openapigen: %s and %s both want the schema name %s; name one in Config.Names", typeKey(prev), typeKey(typ), name))
		}
		return object{"$ref": "#/components/schemas/" + name}
	}
	g.types[name] = typ
	g.named[name] = nil // placeholder: a recursive type refers to itself
	g.named[name] = g.object(typ)
	return object{"$ref": "#/components/schemas/" + name}
}

// name is the component name of a struct type: Config.Names, else the Go
// name with a capital first letter; a generic type is named after its type
// argument (List[*cairn.Job] is JobList).
func (g *schemas) name(typ reflect.Type) string {
	if n, ok := g.cfg.Names[typeKey(typ)]; ok {
		return n
	}
	n := typ.Name()
	if n == "" {
		return ""
	}
	if base, arg, ok := strings.Cut(n, "["); ok {
		n = g.argName(strings.TrimSuffix(arg, "]")) + capitalise(base)
	}
	return capitalise(n)
}

// argName is the component name of a generic type's argument, given as
// reflect spells it ("*github.com/cairnhq/cairn.Job"): Config.Names, else
// the Go name with a capital first letter.
func (g *schemas) argName(arg string) string {
	arg = strings.TrimLeft(arg, "*[]")
	pkgPath, name := "", arg
	if i := strings.LastIndex(arg, "."); i >= 0 {
		pkgPath, name = arg[:i], arg[i+1:]
	}
	key := pkgPath[strings.LastIndex(pkgPath, "/")+1:] + "." + name
	if n, ok := g.cfg.Names[key]; ok {
		return n
	}
	return capitalise(name)
}

func capitalise(s string) string {
	r := []rune(s)
	r[0] = unicode.ToUpper(r[0])
	return string(r)
}

// object is the schema of a struct's JSON members.
func (g *schemas) object(typ reflect.Type) object {
	props := object{}
	var required []any
	for _, f := range jsonFields(typ) {
		t := f.typ
		if f.optional && t.Kind() == reflect.Pointer {
			t = t.Elem() // omitted when nil, never null
		}
		s := g.schema(t)
		if f.nullable {
			s = nullable(s)
		}
		props[f.name] = s
		if !f.optional && !g.strict {
			required = append(required, f.name)
		}
	}
	out := object{"type": "object", "properties": props}
	if g.strict {
		// The server rejects unknown members; which members a request
		// must have is validation, not the type: the overlay says.
		out["additionalProperties"] = false
		g.requestTypes = append(g.requestTypes, typeKey(typ))
	}
	if len(required) > 0 {
		out["required"] = required
	}
	return out
}

// field is one JSON member of a struct.
type field struct {
	name     string
	typ      reflect.Type
	optional bool // omitempty, omitzero or tagged openapi:"optional": the member may be absent
	nullable bool // tagged openapi:"nullable": the member may be null
}

// jsonFields lists a struct's JSON members as encoding/json sees them,
// embedded structs without a json name flattened.
func jsonFields(typ reflect.Type) []field {
	var out []field
	for i := range typ.NumField() {
		f := typ.Field(i)
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" && opts == "" || !f.IsExported() && !f.Anonymous {
			continue
		}
		if f.Anonymous && name == "" {
			et := f.Type
			for et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				out = append(out, jsonFields(et)...)
				continue
			}
			if !f.IsExported() {
				continue
			}
		}
		if name == "" {
			name = f.Name
		}
		api := strings.Split(f.Tag.Get("openapi"), ",")
		optional := slices.Contains(api, "optional")
		for _, o := range strings.Split(opts, ",") {
			optional = optional || o == "omitempty" || o == "omitzero"
		}
		out = append(out, field{name: name, typ: f.Type, optional: optional, nullable: slices.Contains(api, "nullable")})
	}
	return out
}

// anyJSON is the schema of any JSON value, null included. It names every
// type rather than being {}: OpenAPI 3.0 tools (kin-openapi among them)
// read {} as "not null".
func anyJSON() object {
	return object{"type": []any{"null", "boolean", "object", "array", "number", "string"}}
}

// nullable widens a schema to also allow null.
func nullable(s object) object {
	switch t := s["type"].(type) {
	case string:
		out := clone(s)
		out["type"] = []any{t, "null"}
		return out
	case []any:
		for _, x := range t {
			if x == "null" {
				return s
			}
		}
		out := clone(s)
		out["type"] = append(append([]any{}, t...), "null")
		return out
	}
	return object{"anyOf": []any{s, object{"type": "null"}}}
}

func (g *schemas) fail(err error) {
	if g.err == nil {
		g.err = err
	}
}

// typeKey names a type as "pkg.Name" (the last element of its package
// path), the key of Config's maps.
func typeKey(typ reflect.Type) string {
	if typ.Name() == "" {
		return typ.String()
	}
	pkg := typ.PkgPath()
	pkg = pkg[strings.LastIndex(pkg, "/")+1:]
	name := typ.Name()
	if i := strings.Index(name, "["); i >= 0 {
		name = name[:i]
	}
	return pkg + "." + name
}

// clone deep-copies a JSON value.
func clone[T any](v T) T {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	var out T
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return out
}
