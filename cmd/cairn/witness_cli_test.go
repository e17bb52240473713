package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/ledger/tree"
)

// TestWitnessAndVerifyCLI runs the real binary end to end: `cairn witness`
// cosigns the log's checkpoint with cosignature/v1 and prints its 0x04 key;
// it keeps working from its state file as the log grows; an auditor keeps
// the witness-cosigned checkpoint and `cairn verify --witness-key
// --min-witnesses` accepts a bundle against it, and fails (witness_missing)
// when too few of the given witnesses cosigned.
func TestWitnessAndVerifyCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	p := startServer(t, t.TempDir(), freeAddr(t))
	defer func() { p.cmd.Process.Signal(syscall.SIGTERM); p.cmd.Wait() }()
	admin := testAdminKey
	mustCall(t, p.base, admin, "POST", "/api/v1/policy/publish", cairn.PublishRequest{Bundle: tamperPolicy}, nil, 201)
	var ck cairn.CreatedKey
	mustCall(t, p.base, admin, "POST", "/api/v1/keys", cairn.CreateKeyRequest{Principal: "agent-7", Kind: "agent", Roles: []string{"agent"}}, &ck, 201)
	var key struct {
		PublicKey string `json:"public_key"`
	}
	mustCall(t, p.base, admin, "GET", "/api/v1/ledger/key", nil, &key, 200)
	dir := t.TempDir()
	logKeyFile := filepath.Join(dir, "log.pub")
	os.WriteFile(logKeyFile, []byte(key.PublicKey+"\n"), 0o644)
	state, wkeyFile := filepath.Join(dir, "state.json"), filepath.Join(dir, "witness.key")

	run := func(args ...string) (string, error) {
		t.Helper()
		cmd := exec.Command(cairnBinary(t), args...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}
	witness := func() (size uint64, wkey string) {
		t.Helper()
		out, err := run("witness", "--server", p.base, "--key", admin, "--log-key", logKeyFile, "--state", state, "--witness-key", wkeyFile, "--name", "witness.example")
		if err != nil {
			t.Fatalf("cairn witness: %v\n%s", err, out)
		}
		m := regexp.MustCompile(`cosigned checkpoint of size (\d+)\nwitness key: (\S+)`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("cairn witness output:\n%s", out)
		}
		fmt.Sscan(m[1], &size)
		return size, m[2]
	}
	size1, wkey := witness()
	wv, err := tree.NewWitnessVerifier(wkey)
	if err != nil {
		t.Fatalf("printed witness key %q: %v", wkey, err)
	}
	if _, err := tree.NewVerifier(wkey); err == nil {
		t.Fatalf("printed witness key %q is a plain Ed25519 key, want cosignature/v1 (0x04)", wkey)
	}
	// The log grows; the witness goes on from its state file (the same
	// format earlier versions wrote: the last checkpoint note).
	mustCall(t, p.base, ck.Key, "POST", "/api/v1/jobs", cairn.SubmitRequest{JobID: "j1", Action: "db.read", Input: json.RawMessage(`{"q":1}`)}, nil, 201)
	var st struct {
		Checkpoint string `json:"checkpoint"`
	}
	raw, _ := os.ReadFile(state)
	if err := json.Unmarshal(raw, &st); err != nil || !strings.Contains(st.Checkpoint, fmt.Sprintf("\n%d\n", size1)) {
		t.Fatalf("state file: %v %s", err, raw)
	}
	size2, wkey2 := witness()
	if size2 <= size1 || wkey2 != wkey {
		t.Fatalf("second run: size %d after %d, key %q then %q", size2, size1, wkey, wkey2)
	}

	// The auditor keeps the cosigned checkpoint of size2.
	var cp struct {
		NoteWithCosignatures string `json:"note_with_cosignatures"`
	}
	mustCall(t, p.base, admin, "GET", fmt.Sprintf("/api/v1/ledger/checkpoints/%d", size2), nil, &cp, 200)
	logV, _ := tree.NewVerifier(key.PublicKey)
	if c, err := tree.OpenCheckpoint([]byte(cp.NoteWithCosignatures), logV, wv); err != nil || len(c.Cosigners) != 1 {
		t.Fatalf("served checkpoint: %v %+v", err, c)
	}
	kept := filepath.Join(dir, "kept.note")
	os.WriteFile(kept, []byte(cp.NoteWithCosignatures), 0o600)
	wkeyPub := filepath.Join(dir, "witness.pub")
	os.WriteFile(wkeyPub, []byte(wkey+"\n"), 0o644)
	bundle := filepath.Join(dir, "bundle.json")
	if out, err := run("export", "--server", p.base, "--key", admin, "-o", bundle); err != nil {
		t.Fatalf("cairn export: %v\n%s", err, out)
	}

	verifyArgs := func(extra ...string) []string {
		return append(append([]string{"verify", "--key", logKeyFile, "--trusted-checkpoint", kept}, extra...), bundle)
	}
	out, err := run(verifyArgs("--witness-key", wkey, "--min-witnesses", "1")...)
	if err != nil || !strings.Contains(out, "trusted cosigned by: witness.example") || !strings.Contains(out, "result:      OK") {
		t.Fatalf("verify with the witness: %v\n%s", err, out)
	}
	// The key from a file works the same.
	if out, err := run(verifyArgs("--witness-key", wkeyPub, "--min-witnesses", "1")...); err != nil {
		t.Fatalf("verify with the witness key file: %v\n%s", err, out)
	}
	// Too few witnesses, no witness key, another witness's key: witness_missing.
	_, otherKey, _ := tree.GenerateKey("witness.example")
	otherV1, _ := (func() (string, error) {
		k, _ := tree.NewKeyFromSeed("witness.example", bytes.Repeat([]byte{3}, 32))
		return k.CosignatureV1VerifierKey()
	})()
	for name, extra := range map[string][]string{
		"two required":       {"--witness-key", wkey, "--min-witnesses", "2"},
		"no witness key":     {"--min-witnesses", "1"},
		"another witness":    {"--witness-key", otherV1, "--min-witnesses", "1"},
		"another plain key":  {"--witness-key", otherKey, "--min-witnesses", "1"},
		"the same key twice": {"--witness-key", wkey, "--witness-key", wkeyPub, "--min-witnesses", "2"},
	} {
		out, err := run(verifyArgs(append(extra, "--json")...)...)
		if err == nil || !strings.Contains(out, `"code": "witness_missing"`) && !strings.Contains(out, `"code":"witness_missing"`) {
			t.Errorf("%s: %v\n%s", name, err, out)
		}
	}
	// Without --min-witnesses the witness is reported, not required.
	if out, err := run(verifyArgs()...); err != nil {
		t.Fatalf("verify without witnesses: %v\n%s", err, out)
	}
}
