package bundle

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// readObject matches the JSON pointers of the objects a bundle reader reads
// (as opposed to the values of unknown members, which it skips).
var readObject = regexp.MustCompile(`^(/range|/(entries|inclusion_proofs|consistency_proofs|policies|workflows|payloads|jobs)/[0-9]+)?$`)

// goldenBundles are the committed golden bundles (../../testdata/bundles), as
// fuzzing seeds.
func goldenBundles(f *testing.F) [][]byte {
	paths, err := filepath.Glob("../../testdata/bundles/*.json")
	if err != nil || len(paths) == 0 {
		f.Fatalf("no golden bundles: %v", err)
	}
	var out [][]byte
	for _, p := range paths {
		if filepath.Base(p) == "expected.json" {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func encodeBundle(t *testing.T, b *Bundle) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := EncodeBundle(&buf, b); err != nil {
		t.Fatalf("encoding %+v: %v", b, err)
	}
	return buf.Bytes()
}

// refBundle is a bundle as a plain, exact JSON reader reads it: job rows
// without JobRow.UnmarshalJSON, which reads with encoding/json (names
// matched ignoring case) for callers that decode a Bundle with it.
type refBundle struct {
	Bundle
	Jobs []exactJobRow `json:"jobs"`
}

type exactJobRow JobRow

func (r *refBundle) bundle() *Bundle {
	b := r.Bundle
	b.Jobs = nil
	if r.Jobs != nil {
		b.Jobs = make([]JobRow, len(r.Jobs))
		for i, j := range r.Jobs {
			b.Jobs[i] = JobRow(j)
		}
	}
	return &b
}

// smallBundle has every member of a bundle, once.
const smallBundle = `{"format":"cairn-evidence-bundle/v1","tenant":"t","origin":"o","public_key":"k","checkpoint":"c\n",
"range":{"from":0,"to":1,"left":[],"right":["ab"]},"entries":[{"index":0,"leaf_hash":"00","body":"{\"a\":1}"}],
"inclusion_proofs":[{"index":0,"size":1,"hashes":["00"]}],"consistency_proofs":[{"from":1,"to":2,"hashes":["00"]}],
"policies":[{"policy_snapshot":"s","text":"t"}],"workflows":[{"workflow_id":"w","name":"n","version":1,"text":"x"}],
"payloads":[{"ptr":"ctx:j","sha256":"00","data":"AA=="},{"ptr":"res:j","withheld":true,"reason":"r"}],
"jobs":[{"job_id":"j","job_hash":"h","state":"SUCCEEDED","decision":"ALLOW","resolved_by":null}]}`

// FuzzUnmarshalBundle: UnmarshalBundle never panics; what it accepts is
// valid JSON, reads as a strict JSON reader (exact member names, no
// repeated names) reads it, and round-trips through EncodeBundle.
func FuzzUnmarshalBundle(f *testing.F) {
	for _, b := range goldenBundles(f) {
		f.Add(b)
	}
	f.Add([]byte(smallBundle))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := UnmarshalBundle(data)
		if err != nil {
			return
		}
		if !json.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		enc := encodeBundle(t, b)
		back, err := UnmarshalBundle(enc)
		if err != nil {
			t.Fatalf("%q: its encoding %s does not read back: %v", data, enc, err)
		}
		if enc2 := encodeBundle(t, back); !bytes.Equal(enc, enc2) {
			t.Fatalf("%q: round trip %s then %s", data, enc, enc2)
		}
		// Repeated names are refused in the objects a reader reads; inside
		// unknown members (ignored) they are not looked at.
		var ref refBundle
		err = jsonv2.Unmarshal(data, &ref)
		var se *jsontext.SyntacticError
		if errors.As(err, &se) && errors.Is(err, jsontext.ErrDuplicateName) && !readObject.MatchString(string(se.JSONPointer)) {
			ref = refBundle{}
			err = jsonv2.Unmarshal(data, &ref, jsontext.AllowDuplicateNames(true))
		}
		if err != nil {
			t.Fatalf("%q: accepted, but a strict reader refuses it: %v", data, err)
		}
		if refEnc := encodeBundle(t, ref.bundle()); !bytes.Equal(enc, refEnc) {
			t.Fatalf("%q: read as\n%s\na strict reader reads\n%s", data, enc, refEnc)
		}
	})
}
