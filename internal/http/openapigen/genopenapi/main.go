// Command genopenapi writes internal/http/openapi.json from the route
// table, the Go types and the overlay's prose (ADR 0052). Run it with
// `go generate ./internal/http/`.
//
// With -absorb FILE it first adds the prose of a hand-edited OpenAPI
// document to the overlay (a branch's openapi.json from before the
// document was generated): in internal/http,
//
//	go run ./openapigen/genopenapi -absorb /tmp/theirs.json -base /tmp/base.json
//
// -base is the document the branch started from (its merge base's
// openapi.json): where the branch changed a value, its value replaces the
// overlay's. -tidy drops from the overlay what the routes and Go types
// make anyway.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"

	cairnhttp "github.com/cairnhq/cairn/internal/http"
	"github.com/cairnhq/cairn/internal/http/openapigen"
)

func main() {
	overlay := flag.String("overlay", "openapi.overlay.yaml", "the prose overlay (YAML)")
	out := flag.String("out", "openapi.json", "where to write the document")
	absorb := flag.String("absorb", "", "a hand-edited OpenAPI document (JSON) whose prose to add to the overlay first")
	base := flag.String("base", "", "with -absorb: the document the branch started from; what the branch changed replaces the overlay's value")
	tidy := flag.Bool("tidy", false, "drop from the overlay what the routes and Go types make anyway")
	flag.Parse()
	if *tidy {
		if err := tidyOverlay(*overlay); err != nil {
			fmt.Fprintln(os.Stderr, "genopenapi:", err)
			os.Exit(1)
		}
	}
	if *absorb != "" {
		if err := absorbInto(*overlay, *absorb, *base); err != nil {
			fmt.Fprintln(os.Stderr, "genopenapi:", err)
			os.Exit(1)
		}
	}
	if err := run(*overlay, *out); err != nil {
		fmt.Fprintln(os.Stderr, "genopenapi:", err)
		os.Exit(1)
	}
}

// absorbInto adds the prose of a hand-edited document to the overlay file
// (see openapigen.Absorb) and says what it added and left out.
func absorbInto(overlayPath, handPath, basePath string) error {
	src, err := os.ReadFile(overlayPath)
	if err != nil {
		return err
	}
	hand, err := os.ReadFile(handPath)
	if err != nil {
		return err
	}
	var base []byte
	if basePath != "" {
		if base, err = os.ReadFile(basePath); err != nil {
			return err
		}
	}
	merged, report, err := openapigen.Absorb(cairnhttp.APIRoutes(), src, hand, base, cairnhttp.OpenAPIConfig())
	if err != nil {
		return err
	}
	for _, line := range report {
		fmt.Println(line)
	}
	return os.WriteFile(overlayPath, merged, 0o644)
}

// tidyOverlay rewrites the overlay as the prose of the document it
// generates now, absorbed into an empty overlay: what the generator makes
// anyway (after a route names its answer type, say) leaves the file.
func tidyOverlay(overlayPath string) error {
	src, err := os.ReadFile(overlayPath)
	if err != nil {
		return err
	}
	routes, cfg := cairnhttp.APIRoutes(), cairnhttp.OpenAPIConfig()
	doc, err := openapigen.Generate(routes, src, cfg)
	if err != nil {
		return err
	}
	tidy, _, err := openapigen.Absorb(routes, nil, doc, nil, cfg)
	if err != nil {
		return err
	}
	again, err := openapigen.Generate(routes, tidy, cfg)
	if err != nil {
		return err
	}
	if !bytes.Equal(again, doc) {
		return fmt.Errorf("the tidied overlay would change the document; overlay left as it was")
	}
	return os.WriteFile(overlayPath, tidy, 0o644)
}

func run(overlayPath, outPath string) error {
	src, err := os.ReadFile(overlayPath)
	if err != nil {
		return err
	}
	doc, err := openapigen.Generate(cairnhttp.APIRoutes(), src, cairnhttp.OpenAPIConfig())
	if err != nil {
		return err
	}
	return os.WriteFile(outPath, doc, 0o644)
}
