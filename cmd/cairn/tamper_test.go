package main

import (
	"bytes"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/internal/pack"
	"github.com/cairnhq/cairn/internal/sqlstore"
	"github.com/cairnhq/cairn/ledger"
)

const tamperPolicy = `default: deny
rules:
  - id: prod-write-needs-approval
    match: {actions: ["db.write"], labels: {env: prod}}
    decision: REQUIRE_APPROVAL
    reason: Production writes need manager approval
    approval: {approver_roles: [approver]}
  - id: reads
    match: {actions: ["db.read"]}
    decision: ALLOW
    reason: reads
`

// copyDir copies a stopped store's files.
func copyDir(t *testing.T, from string) string {
	t.Helper()
	to := t.TempDir()
	ents, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return to
}

// tamper edits the stored data directly, as an operator with file access could.
func tamper(t *testing.T, dir string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "cairn.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, trg := range []string{"ledger_no_update", "ledger_no_delete", "ledger_bodies_no_update", "ledger_bodies_no_delete", "payloads_no_update", "payloads_no_delete", "snapshots_no_update",
		"snapshots_no_delete", "ledger_nodes_no_delete", "checkpoints_no_delete", "cosignatures_no_delete", "store_secrets_no_delete"} {
		if _, err := db.Exec("DROP TRIGGER " + trg); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range stmts {
		res, err := db.Exec(s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		n, _ := res.RowsAffected()
		t.Logf("%s: %d rows", s, n)
	}
}

func mustCall(t *testing.T, base, key, method, path string, body, out any, want int) {
	t.Helper()
	st, err := call(base, key, method, path, body, out)
	if err != nil || st != want {
		t.Fatalf("%s %s: %d %v, want %d", method, path, st, err, want)
	}
}

// TestTamperingIsDetected makes each change an operator could make to the
// stored evidence and checks that both GET /api/v1/ledger/verify and
// `cairn verify` on a fresh export detect it.
func TestTamperingIsDetected(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	dataDir := t.TempDir()
	addr := freeAddr(t)
	p := startServer(t, dataDir, addr)
	admin := testAdminKey
	var first cairn.PolicyChange
	mustCall(t, p.base, admin, "POST", "/api/v1/policy/publish", cairn.PublishRequest{Bundle: tamperPolicy}, &first, 201)
	keys := map[string]string{}
	for _, k := range []cairn.CreateKeyRequest{
		{Principal: "agent-7", Kind: "agent", Roles: []string{"agent"}},
		{Principal: "manager-2", Kind: "human", Roles: []string{"approver"}},
		{Principal: "worker-1", Kind: "service", Roles: []string{"worker"}},
	} {
		var ck cairn.CreatedKey
		mustCall(t, p.base, admin, "POST", "/api/v1/keys", k, &ck, 201)
		keys[k.Principal] = ck.Key
	}
	var appr cairn.Job
	mustCall(t, p.base, keys["agent-7"], "POST", "/api/v1/jobs", cairn.SubmitRequest{JobID: "job-appr", RunID: "run-1", Action: "db.write", Labels: map[string]string{"env": "prod"}, Input: json.RawMessage(`{"sql":"UPDATE t SET x=1"}`)}, &appr, 201)
	for i := 0; i < 6; i++ {
		mustCall(t, p.base, keys["agent-7"], "POST", "/api/v1/jobs", cairn.SubmitRequest{JobID: fmt.Sprintf("job-r%d", i), RunID: "run-1", Action: "db.read", Input: json.RawMessage(`{"q":1}`)}, nil, 201)
	}
	mustCall(t, p.base, keys["manager-2"], "POST", "/api/v1/approvals/job-appr/approve", cairn.ResolveRequest{JobHash: appr.JobHash, Comment: "ok"}, nil, 200)
	var lr cairn.LeaseResponse
	mustCall(t, p.base, keys["worker-1"], "POST", "/api/v1/workers/lease", cairn.LeaseRequest{WorkerID: "w", Actions: []string{"db.*"}, Max: 100}, &lr, 200)
	for _, j := range lr.Jobs {
		mustCall(t, p.base, keys["worker-1"], "POST", "/api/v1/jobs/"+j.JobID+"/complete", cairn.CompleteRequest{LeaseID: j.LeaseID, Status: "succeeded", Result: json.RawMessage(`{"ok":true}`)}, nil, 200)
	}
	// One more job: truncation will cut it.
	mustCall(t, p.base, keys["agent-7"], "POST", "/api/v1/jobs", cairn.SubmitRequest{JobID: "job-late", Action: "db.read"}, nil, 201)
	// The auditor (or a witness) keeps a checkpoint covering it.
	var kept struct {
		Note string `json:"note"`
		Size uint64 `json:"size"`
	}
	mustCall(t, p.base, admin, "GET", "/api/v1/ledger/checkpoint?fresh=true", nil, &kept, 200)
	var key struct {
		PublicKey string `json:"public_key"`
	}
	mustCall(t, p.base, admin, "GET", "/api/v1/ledger/key", nil, &key, 200)
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.cmd.Wait()
	// The cases below edit single entries' body rows: first store each body
	// in a row of its own, as stores did before ADR 0045 (the store reads
	// both layouts; the untouched store must still verify).
	splitBodyRows(t, dataDir)

	keptFile := filepath.Join(t.TempDir(), "kept.note")
	os.WriteFile(keptFile, []byte(kept.Note), 0o600)

	// Where things are: the submit decision of job-appr, a middle entry, the late job's entries.
	var decidedIdx, lateFrom, size int64
	var edited []byte // the decision entry's body, its decision changed (stored plain: the store reads either form)
	{
		db, _ := sql.Open("sqlite", "file:"+filepath.Join(dataDir, "cairn.db")+"?mode=ro")
		db.QueryRow(`SELECT min(idx) FROM ledger WHERE job_id = 'job-appr' AND type = 'policy_decided'`).Scan(&decidedIdx)
		db.QueryRow(`SELECT min(idx) FROM ledger WHERE job_id = 'job-late'`).Scan(&lateFrom)
		db.QueryRow(`SELECT max(idx) + 1 FROM ledger`).Scan(&size)
		var stored []byte
		db.QueryRow(`SELECT body FROM ledger_bodies WHERE idx = ?`, decidedIdx).Scan(&stored)
		body, err := sqlstore.Unpack(stored)
		if err != nil {
			t.Fatal(err)
		}
		edited = bytes.Replace(body, []byte(`"decision":"REQUIRE_APPROVAL"`), []byte(`"decision":"ALLOW"`), -1)
		if bytes.Equal(edited, body) {
			t.Fatalf("entry %d holds no REQUIRE_APPROVAL decision: %s", decidedIdx, body)
		}
		db.Close()
	}
	if uint64(lateFrom) >= kept.Size || uint64(size) != kept.Size {
		t.Fatalf("the late job starts at %d, the kept checkpoint has size %d, the ledger %d", lateFrom, kept.Size, size)
	}
	middle := size / 2

	// The untouched store verifies, including against the kept checkpoint.
	checkStore(t, dataDir, addr, key.PublicKey, kept.Note, keptFile, "")

	cases := []struct {
		name  string
		stmts []string
		kind  string // problem the verifier must report
	}{
		{"edit one decision row", []string{
			fmt.Sprintf(`UPDATE ledger_bodies SET body = X'%x' WHERE idx = %d`, edited, decidedIdx),
		}, ""},
		{"delete a middle entry", []string{
			fmt.Sprintf(`DELETE FROM ledger WHERE idx = %d`, middle),
			fmt.Sprintf(`DELETE FROM ledger_bodies WHERE idx = %d`, middle),
		}, ""},
		{"truncate and recompute", []string{
			fmt.Sprintf(`DELETE FROM ledger WHERE idx >= %d`, lateFrom),
			fmt.Sprintf(`DELETE FROM ledger_bodies WHERE idx >= %d`, lateFrom),
			fmt.Sprintf(`DELETE FROM ledger_nodes WHERE ((idx + 1) << level) > %d`, lateFrom),
			fmt.Sprintf(`DELETE FROM checkpoints WHERE size > %d`, lateFrom),
			fmt.Sprintf(`DELETE FROM cosignatures WHERE size > %d`, lateFrom),
			`DELETE FROM jobs WHERE job_id = 'job-late'`,
		}, "truncat"},
		{"reorder two entries", []string{
			fmt.Sprintf(`UPDATE ledger SET idx = -1 WHERE idx = %d`, middle),
			fmt.Sprintf(`UPDATE ledger SET idx = %d WHERE idx = %d`, middle, middle+1),
			fmt.Sprintf(`UPDATE ledger SET idx = %d WHERE idx = -1`, middle+1),
			fmt.Sprintf(`UPDATE ledger_bodies SET idx = -1 WHERE idx = %d`, middle),
			fmt.Sprintf(`UPDATE ledger_bodies SET idx = %d WHERE idx = %d`, middle, middle+1),
			fmt.Sprintf(`UPDATE ledger_bodies SET idx = %d WHERE idx = -1`, middle+1),
		}, ""},
		{"swap a policy text", []string{
			`UPDATE snapshots SET text = 'default: allow' || char(10)`,
		}, "policy"},
		// Payloads are sealed at rest (ADR 0048): a plaintext written in
		// place of the ciphertext does not decrypt, and its hash is not the
		// one the ledger committed to.
		{"change a job's input after approval", []string{
			`UPDATE payloads SET data = CAST('{"sql":"DROP TABLE t"}' AS BLOB), sha256 = '` + ledger.SHA256Hex([]byte(`{"sql":"DROP TABLE t"}`)) + `' WHERE ptr = 'ctx:job-appr'`,
		}, "payload"},
		{"move another job's ciphertext onto a job's input", []string{
			`UPDATE payloads SET data = (SELECT data FROM payloads WHERE ptr <> 'ctx:job-appr' AND ptr LIKE 'ctx:%' LIMIT 1) WHERE ptr = 'ctx:job-appr'`,
		}, "decrypt"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := copyDir(t, dataDir)
			tamper(t, dir, c.stmts...)
			if db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "cairn.db")+"?mode=ro"); err == nil {
				var n, cps int64
				db.QueryRow(`SELECT count(*) FROM ledger`).Scan(&n)
				db.QueryRow(`SELECT max(size) FROM checkpoints`).Scan(&cps)
				t.Logf("after tampering: %d ledger rows, latest checkpoint %d", n, cps)
				db.Close()
			}
			checkStore(t, dir, freeAddr(t), key.PublicKey, kept.Note, keptFile, c.kind)
		})
	}
}

// checkStore starts a server on dir, asks it to verify itself, exports the
// whole ledger and runs `cairn verify` on the bundle. wantKind "" means the
// store must verify; otherwise both must fail, mentioning wantKind when it
// is not "" (any problem counts for "-").
func checkStore(t *testing.T, dir, addr, pubKey, keptNote, keptFile, wantKind string) {
	t.Helper()
	p := startServer(t, dir, addr)
	defer func() { p.cmd.Process.Signal(syscall.SIGTERM); p.cmd.Wait() }()
	var repText json.RawMessage
	trusted := base64.RawURLEncoding.EncodeToString([]byte(keptNote))
	st, err := call(p.base, testAdminKey, "GET", "/api/v1/ledger/verify?trusted_checkpoint="+trusted, nil, &repText)
	if err != nil || st != 200 {
		t.Fatalf("GET /ledger/verify: %d %v\n%s", st, err, p.logs.String())
	}
	var rep struct {
		OK bool `json:"ok"`
	}
	json.Unmarshal(repText, &rep)
	bundle := filepath.Join(t.TempDir(), "bundle.json")
	cmd := exec.Command(cairnBinary(t), "export", "--server", p.base, "--key", testAdminKey, "-o", bundle)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cairn export: %v: %s", err, out)
	}
	cmd = exec.Command(cairnBinary(t), "verify", "--key", pubKey, "--trusted-checkpoint", keptFile, bundle)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	verr := cmd.Run()
	if wantKind == "" && !strings.Contains(t.Name(), "/") {
		// the untouched store
		if !rep.OK {
			t.Fatalf("untouched store: GET /ledger/verify reports problems: %s", repText)
		}
		if verr != nil {
			t.Fatalf("untouched store: cairn verify failed: %v\n%s", verr, out.String())
		}
		return
	}
	if rep.OK {
		t.Fatalf("GET /ledger/verify did not detect the tampering: %s", repText)
	}
	if verr == nil {
		t.Fatalf("cairn verify exited 0 on a tampered store:\n%s", out.String())
	}
	if wantKind != "" {
		if !strings.Contains(strings.ToLower(string(repText)), wantKind) {
			t.Errorf("GET /ledger/verify does not name %q: %s", wantKind, repText)
		}
		if !strings.Contains(strings.ToLower(out.String()), wantKind) {
			t.Errorf("cairn verify does not name %q:\n%s", wantKind, out.String())
		}
	}
	t.Logf("detected; cairn verify said:\n%s", firstLines(out.String(), 3))
}

// splitBodyRows rewrites every ledger_bodies row holding several entries
// (ADR 0045) as one row per entry, each body packed alone, directly in the
// database file of a stopped server; the append-only trigger is put back
// as it was.
func splitBodyRows(t *testing.T, dir string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "cairn.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	type row struct {
		tenant string
		first  int64
		bodies [][]byte
	}
	var batches []row
	rows, err := db.Query(`SELECT tenant, idx, n, body FROM ledger_bodies WHERE n > 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var r row
		var n int
		var stored []byte
		if err := rows.Scan(&r.tenant, &r.first, &n, &stored); err != nil {
			t.Fatal(err)
		}
		if r.bodies, err = pack.UnpackBatch(stored, n); err != nil {
			t.Fatal(err)
		}
		batches = append(batches, r)
	}
	rows.Close()
	var trigger string
	if err := db.QueryRow(`SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'ledger_bodies_no_delete'`).Scan(&trigger); err != nil {
		t.Fatal(err)
	}
	stmts := []func() error{func() error { _, err := db.Exec(`DROP TRIGGER ledger_bodies_no_delete`); return err }}
	for _, r := range batches {
		stmts = append(stmts, func() error {
			_, err := db.Exec(`DELETE FROM ledger_bodies WHERE tenant = ? AND idx = ?`, r.tenant, r.first)
			return err
		})
		for k, b := range r.bodies {
			stmts = append(stmts, func() error {
				stored, err := pack.Pack(b)
				if err == nil {
					_, err = db.Exec(`INSERT INTO ledger_bodies(tenant, idx, n, body) VALUES (?, ?, 1, ?)`, r.tenant, r.first+int64(k), stored)
				}
				return err
			})
		}
	}
	stmts = append(stmts, func() error { _, err := db.Exec(trigger); return err })
	for _, f := range stmts {
		if err := f(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("split %d body rows into one row per entry", len(batches))
}

func firstLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
