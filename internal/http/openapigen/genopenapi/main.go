// Command genopenapi writes internal/http/openapi.json from the route
// table, the Go types and the overlay's prose (ADR 0052). Run it with
// `go generate ./internal/http/`.
package main

import (
	"flag"
	"fmt"
	"os"

	cairnhttp "github.com/cairnhq/cairn/internal/http"
	"github.com/cairnhq/cairn/internal/http/openapigen"
)

func main() {
	overlay := flag.String("overlay", "openapi.overlay.yaml", "the prose overlay (YAML)")
	out := flag.String("out", "openapi.json", "where to write the document")
	flag.Parse()
	if err := run(*overlay, *out); err != nil {
		fmt.Fprintln(os.Stderr, "genopenapi:", err)
		os.Exit(1)
	}
}

func run(overlayPath, outPath string) error {
	src, err := os.ReadFile(overlayPath)
	if err != nil {
		return err
	}
	doc, err := openapigen.Generate(cairnhttp.APIRoutes(), src, openapigen.Cairn())
	if err != nil {
		return err
	}
	return os.WriteFile(outPath, doc, 0o644)
}
