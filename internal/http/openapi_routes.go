package http

import (
	"reflect"

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
