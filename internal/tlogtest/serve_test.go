package tlogtest

import (
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/cairnhq/cairn/ledger/tree"
	"github.com/transparency-dev/witness/persistence/inmemory"
)

// TestServeWitnessFlag runs the cairn command itself: `cairn serve
// --witness URL=vkey --public-tlog` pushes to an omniwitness, the lag
// gauge is on /metrics, and the public tlog checkpoint carries the
// witness's cosignature.
func TestServeWitnessFlag(t *testing.T) {
	bin := cairnBinary(t)
	dir := t.TempDir()
	k := logKey(t)
	keyFile := filepath.Join(dir, "ledger.key")
	if err := os.WriteFile(keyFile, []byte(k.SignerKey()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wk := witnessKey(t, "omni.test/serve", 4)
	o := startOmni(t, "", inmemory.New(), origin, logVKey(t), wk)
	addr := freeAddr(t)
	logs := &logBuffer{}
	cmd := exec.Command(bin, "serve", "--data", filepath.Join(dir, "data"), "--addr", addr, "--ledger-key", keyFile,
		"--witness", o.URL()+"="+cosigV1Key(t, wk), "--witness-interval", "50ms", "--public-tlog")
	cmd.Env = append(os.Environ(), "CAIRN_ADMIN_KEY="+adminKey)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	base := "http://" + addr
	eventually(t, "cairn serve listening", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	for i := 0; i < 5; i++ {
		req, _ := nethttp.NewRequest("POST", base+"/api/v1/jobs", strings.NewReader(fmt.Sprintf(`{"action":"db.read","input":{"i":%d}}`, i)))
		req.Header.Set("Authorization", "Bearer "+adminKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := nethttp.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 201 {
			t.Fatalf("submit: %d", resp.StatusCode)
		}
	}
	get := func(path string) string {
		resp, err := nethttp.Get(base + path)
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	eventually(t, "the public checkpoint cosigned by the witness", func() bool {
		cp := get("/tlog/default/checkpoint")
		return strings.Contains(cp, "— omni.test/serve ") && strings.HasPrefix(cp, origin+"\n")
	})
	eventually(t, "lag 0 on /metrics", func() bool {
		return strings.Contains(get("/metrics"), `cairn_witness_lag_entries{witness="omni.test/serve"} 0`+"\n")
	})
	// The checkpoint served verifies with the log key and the witness key.
	cp := get("/tlog/default/checkpoint")
	logV, _ := tree.NewVerifier(logVKey(t))
	wv, _ := tree.NewWitnessVerifier(cosigV1Key(t, wk))
	c, err := tree.OpenCheckpoint([]byte(cp), logV, wv)
	if err != nil || len(c.Cosigners) != 1 {
		t.Fatalf("served checkpoint: %v %+v\n%s", err, c, cp)
	}
	if !strings.Contains(logs.String(), "pushing checkpoints to witness") {
		t.Errorf("serve did not log the witness:\n%s", logs.String())
	}
}
