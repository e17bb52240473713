package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cairnhq/cairn/internal/forward"
	"github.com/cairnhq/cairn/ledger"
)

// rsyslogd finds rsyslogd: the test fails without it when
// CAIRN_REQUIRE_RSYSLOG=1 (CI), and is skipped otherwise.
func rsyslogd(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"rsyslogd", "/usr/sbin/rsyslogd"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CAIRN_REQUIRE_RSYSLOG") == "1" {
		t.Fatal("rsyslogd is not installed (Debian package rsyslog) and CAIRN_REQUIRE_RSYSLOG=1")
	}
	t.Skip("rsyslogd is not installed (Debian package rsyslog); set CAIRN_REQUIRE_RSYSLOG=1 to make this a failure")
	return ""
}

// rsyslog is a real rsyslogd run as a child with its own configuration:
// imtcp on a loopback port, every message's MSGID and structured data
// written to a file, nothing else (no system log sockets).
type rsyslog struct {
	bin, dir, conf, out string
	cefOut              string // the CEF input's file: each message's MSG
	port, cefPort       int
	cmd                 *exec.Cmd
	log                 bytes.Buffer
}

func startRsyslog(t *testing.T) *rsyslog {
	t.Helper()
	r := &rsyslog{bin: rsyslogd(t), dir: t.TempDir()}
	for _, p := range []*int{&r.port, &r.cefPort} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		*p = ln.Addr().(*net.TCPAddr).Port
		ln.Close() // free for rsyslogd
	}
	r.out = filepath.Join(r.dir, "out.log")
	r.cefOut = filepath.Join(r.dir, "cef.log")
	r.conf = filepath.Join(r.dir, "rsyslog.conf")
	writeFile(t, r.conf, fmt.Sprintf(`global(workDirectory=%q maxMessageSize="256k")
module(load="imtcp")
template(name="cairn" type="string" string="%%msgid%%\t%%structured-data%%\n")
template(name="cef" type="string" string="%%msg%%\n")
ruleset(name="cairn") {
  action(type="omfile" file=%q template="cairn")
}
ruleset(name="cef") {
  action(type="omfile" file=%q template="cef")
}
input(type="imtcp" address="127.0.0.1" port="%d" ruleset="cairn")
input(type="imtcp" address="127.0.0.1" port="%d" ruleset="cef")
`, r.dir, r.out, r.cefOut, r.port, r.cefPort))
	r.start(t)
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *rsyslog) addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

func (r *rsyslog) cefAddr() string { return "127.0.0.1:" + strconv.Itoa(r.cefPort) }

func (r *rsyslog) start(t *testing.T) {
	t.Helper()
	r.cmd = exec.Command(r.bin, "-n", "-f", r.conf, "-i", filepath.Join(r.dir, "rsyslogd.pid"))
	r.cmd.Stdout, r.cmd.Stderr = &r.log, &r.log
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, func() bool {
		for _, a := range []string{r.addr(), r.cefAddr()} {
			c, err := net.Dial("tcp", a)
			if err != nil {
				return false
			}
			c.Close()
		}
		return true
	}, func() string { return "rsyslogd does not listen: " + r.log.String() })
}

// stop stops rsyslogd the ordinary way (SIGTERM) and waits for it to exit.
func (r *rsyslog) stop(t *testing.T) {
	if r.cmd == nil || r.cmd.ProcessState != nil {
		return
	}
	r.cmd.Process.Signal(syscall.SIGTERM)
	if err := r.cmd.Wait(); err != nil {
		t.Logf("rsyslogd: %v: %s", err, r.log.String())
	}
}

// lines parses the output file: per line, the MSGID and the record carried
// in the cairn structured data element.
func (r *rsyslog) records(t *testing.T) ([]forward.Record, []string) {
	t.Helper()
	f, err := os.Open(r.out)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var recs []forward.Record
	var ids []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasSuffix(line, "]") {
			break // being written
		}
		msgid, sd, ok := strings.Cut(line, "\t")
		if !ok {
			t.Fatalf("rsyslog output line without structured data: %q", line)
		}
		p, err := forward.ParseSDElement([]byte(sd))
		if err != nil {
			t.Fatalf("rsyslog's structured data %q: %v", tail(sd, 200), err)
		}
		if !strings.HasPrefix(sd, "["+forward.DefaultSDID+" ") {
			t.Fatalf("structured data element %q", tail(sd, 200))
		}
		n, err := strconv.ParseUint(p["index"], 10, 64)
		if err != nil {
			t.Fatalf("index %q: %v", p["index"], err)
		}
		recs = append(recs, forward.Record{Index: n, LeafHash: p["leaf_hash"], Body: []byte(p["body"])})
		ids = append(ids, msgid)
	}
	return recs, ids
}

// count is the number of complete lines in the output file.
func (r *rsyslog) count(t *testing.T) int {
	raw, _ := os.ReadFile(r.out)
	return bytes.Count(raw, []byte("\n"))
}

// has reports whether both output files hold the record of ledger index i.
func (r *rsyslog) has(i uint64) bool {
	raw, _ := os.ReadFile(r.out)
	cef, _ := os.ReadFile(r.cefOut)
	return bytes.Contains(raw, []byte(fmt.Sprintf("[%s index=\"%d\" ", forward.DefaultSDID, i))) &&
		bytes.Contains(cef, []byte(fmt.Sprintf(" cn1=%d ", i)))
}

// cefRecords parses the CEF file: each line a CEF message carrying a record.
func (r *rsyslog) cefRecords(t *testing.T) []forward.Record {
	t.Helper()
	f, err := os.Open(r.cefOut)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := forward.ExtractRecords(f, "")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(r.cefOut)
	if lines := bytes.Count(raw, []byte("\n")); lines != len(recs) || !bytes.HasPrefix(raw, []byte("CEF:0|Cairn|Cairn|1|")) {
		t.Fatalf("CEF file: %d lines, %d records; starts %q", lines, len(recs), tail(string(raw[:min(len(raw), 200)]), 200))
	}
	return recs
}

// TestForwardRsyslogAtLeastOnceInOrder: 10,000 ledger entries reach a real
// rsyslog (RFC 5424 over TCP, octet counting) while the test stops and
// restarts rsyslog twice and SIGKILLs the forwarder (the built binary)
// twice. Parsing rsyslog's output file: every entry arrived, in order,
// each body hashing to its leaf hash, duplicates only where delivery
// started again, and the file verifies against a signed checkpoint.
func TestForwardRsyslogAtLeastOnceInOrder(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	rs := startRsyslog(t)
	e := newForwardEnv(t)
	e.fill(t, 10000) // all there first: the faults hit a forwarder that is busy
	dir := t.TempDir()
	const batch = 50 // small: the faults land while the forwarder is mid-stream
	config := filepath.Join(dir, "forward.yaml")
	writeFile(t, config, fmt.Sprintf("batch_size: %d\nwait: 2s\nsinks:\n  - name: rsyslog\n    type: syslog\n    address: %s\n    hostname: cairn-test\n    timeout: 5s\n  - name: rsyslog-cef\n    type: syslog\n    format: cef\n    address: %s\n    timeout: 5s\n", batch, rs.addr(), rs.cefAddr()))
	state := filepath.Join(dir, "forward.state")

	fw := startForwarder(t, e, config, state)
	for i, at := range []int{1500, 3500, 5500, 7500} {
		waitFor(t, 3*time.Minute, func() bool { return rs.count(t) >= at }, func() string {
			return fmt.Sprintf("%d delivered; forwarder: %s; rsyslog: %s", rs.count(t), tail(fw.stderr.String(), 2000), rs.log.String())
		})
		t.Logf("fault %d (%s) with %d lines in rsyslog's file", i+1, map[bool]string{true: "rsyslog restart", false: "forwarder SIGKILL"}[i%2 == 0], rs.count(t))
		if i%2 == 0 {
			rs.stop(t)
			rs.start(t)
		} else {
			fw.kill(t)
			fw = startForwarder(t, e, config, state)
		}
	}
	// Then more entries while it tails the feed (long polls).
	total := e.fill(t, e.size(t)+300)
	waitFor(t, 3*time.Minute, func() bool { return rs.has(total - 1) }, func() string {
		return fmt.Sprintf("%d delivered of %d; forwarder: %s", rs.count(t), total, tail(fw.stderr.String(), 2000))
	})
	fw.stop()
	rs.stop(t)

	recs, msgids := rs.records(t)
	got := make([]uint64, len(recs))
	for i, r := range recs {
		got[i] = r.Index
		if h := ledger.HashHex(ledger.LeafHash(r.Body)); h != r.LeafHash {
			t.Fatalf("index %d: the body rsyslog wrote hashes to %s, its leaf_hash is %s", r.Index, h, r.LeafHash)
		}
		env, err := r.Envelope()
		if err != nil || env.Index != r.Index || msgids[i] != env.Event.Type {
			t.Fatalf("index %d: MSGID %q, body %s (%v)", r.Index, msgids[i], tail(string(r.Body), 300), err)
		}
	}
	// Two forwarder kills redeliver their unrecorded batch; an rsyslog
	// stop may cut a batch mid-way, which is then sent again whole.
	checkDelivery(t, got, total, 4, batch)

	// The CEF variant, through the same rsyslog and the same faults.
	cef := rs.cefRecords(t)
	got = got[:0]
	for _, r := range cef {
		got = append(got, r.Index)
		if h := ledger.HashHex(ledger.LeafHash(r.Body)); h != r.LeafHash {
			t.Fatalf("CEF, index %d: the body hashes to %s, its cs1 is %s", r.Index, h, r.LeafHash)
		}
	}
	checkDelivery(t, got, total, 4, batch)

	for _, file := range []string{rs.out, rs.cefOut} {
		cmd := exec.Command(cairnBinary(t), "forward", "--verify", "--server", e.URL, "--key-file", e.keyFile, "--log-key", e.logKey, file)
		res, err := cmd.CombinedOutput()
		if err != nil || !bytes.Contains(res, []byte(fmt.Sprintf("ok: ledger entries 0..%d", total-1))) {
			t.Fatalf("forward --verify %s: %v: %s", filepath.Base(file), err, res)
		}
		t.Logf("%s: %s", filepath.Base(file), bytes.TrimSpace(res))
	}
}
