package main

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/ledger/bundle"
)

const exportWorkflow = `name: nightly
description: read, then read again
steps:
  - id: first
    action: db.read
    input: {q: "${{ input.q }}"}
  - id: second
    action: db.read
    depends_on: [first]
`

// TestExportVerifiesWorkflowDefinitions runs the server, registers a
// workflow and starts a run of it, then checks that `cairn export` carries
// the definition's exact text and `cairn verify` checks it offline; and
// that after the stored definition is swapped in the database, both
// `cairn verify` and GET /api/v1/ledger/verify report workflow_mismatch.
func TestExportVerifiesWorkflowDefinitions(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	dataDir := t.TempDir()
	p := startServer(t, dataDir, freeAddr(t))
	mustCall(t, p.base, testAdminKey, "POST", "/api/v1/policy/publish", cairn.PublishRequest{Bundle: tamperPolicy}, nil, 201)
	var w cairn.Workflow
	mustCall(t, p.base, testAdminKey, "POST", "/api/v1/workflows", cairn.RegisterWorkflowRequest{Definition: exportWorkflow}, &w, 201)
	var r cairn.Run
	mustCall(t, p.base, testAdminKey, "POST", "/api/v1/workflow-runs", cairn.StartRunRequest{WorkflowID: w.WorkflowID, RunID: "run-n1", Input: json.RawMessage(`{"q":"x"}`)}, &r, 201)
	var key struct {
		PublicKey string `json:"public_key"`
	}
	mustCall(t, p.base, testAdminKey, "GET", "/api/v1/ledger/key", nil, &key, 200)

	export := func(base string, args ...string) (string, *bundle.Bundle) {
		t.Helper()
		out := filepath.Join(t.TempDir(), "bundle.json")
		cmd := exec.Command(cairnBinary(t), append([]string{"export", "--server", base, "--key", testAdminKey, "-o", out}, args...)...)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("cairn export: %v: %s", err, b)
		}
		b, err := bundle.ReadBundleFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return out, b
	}
	verifyFile := func(file string) (string, error) {
		cmd := exec.Command(cairnBinary(t), "verify", "--key", key.PublicKey, file)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}

	for _, args := range [][]string{nil, {"--run", "run-n1"}} {
		file, b := export(p.base, args...)
		if len(b.Workflows) != 1 || b.Workflows[0].WorkflowID != w.WorkflowID || b.Workflows[0].Text != exportWorkflow ||
			b.Workflows[0].Name != "nightly" || b.Workflows[0].Version != 1 {
			t.Fatalf("export %v: workflows %+v", args, b.Workflows)
		}
		out, err := verifyFile(file)
		if err != nil || !strings.Contains(out, "workflows:   1 texts") || !strings.Contains(out, "result:      OK") {
			t.Fatalf("cairn verify (export %v): %v\n%s", args, err, out)
		}
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.cmd.Wait()

	// An operator swaps the stored definition (the append-only trigger
	// dropped first): the export carries what is stored, and the verifier
	// catches it.
	dir := copyDir(t, dataDir)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "cairn.db"))
	if err != nil {
		t.Fatal(err)
	}
	swapped := strings.Replace(exportWorkflow, "db.read", "db.drop", 1)
	for _, s := range []string{`DROP TRIGGER workflows_no_update`,
		`UPDATE workflows SET body = json_set(body, '$.definition', '` + swapped + `')`} {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	db.Close()
	p = startServer(t, dir, freeAddr(t))
	defer func() { p.cmd.Process.Signal(syscall.SIGTERM); p.cmd.Wait() }()
	file, b := export(p.base)
	if len(b.Workflows) != 1 || b.Workflows[0].Text != swapped {
		t.Fatalf("export of the swapped store: %+v", b.Workflows)
	}
	out, err := verifyFile(file)
	if err == nil || !strings.Contains(out, "workflow "+w.WorkflowID+": workflow mismatch: text hashes to") {
		t.Fatalf("cairn verify on a swapped definition: %v\n%s", err, out)
	}
	var rep struct {
		OK       bool `json:"ok"`
		Problems []struct {
			Code   string `json:"code"`
			Record string `json:"record"`
		} `json:"problems"`
	}
	mustCall(t, p.base, testAdminKey, "GET", "/api/v1/ledger/verify", nil, &rep, 200)
	if rep.OK || len(rep.Problems) == 0 || rep.Problems[0].Code != "workflow_mismatch" || rep.Problems[0].Record != "workflow "+w.WorkflowID {
		t.Fatalf("GET /ledger/verify: %+v", rep)
	}
}
