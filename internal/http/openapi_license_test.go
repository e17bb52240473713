package http

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// TestOpenAPILicense checks that the OpenAPI document names the licence the
// repository's LICENSE file holds.
func TestOpenAPILicense(t *testing.T) {
	var doc struct {
		Info struct {
			License struct {
				Name       string `json:"name"`
				Identifier string `json:"identifier"`
			} `json:"license"`
		} `json:"info"`
	}
	if err := json.Unmarshal(openapiSpec, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Info.License.Identifier != "Apache-2.0" || doc.Info.License.Name == "" {
		t.Fatalf("info.license = %+v, want name and identifier Apache-2.0", doc.Info.License)
	}
	text, err := os.ReadFile("../../LICENSE")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Apache License", "Version 2.0, January 2004", "END OF TERMS AND CONDITIONS"} {
		if !strings.Contains(string(text), want) {
			t.Errorf("LICENSE lacks %q", want)
		}
	}
}
