package pack

import (
	"bytes"
	"strings"
	"testing"

	"github.com/cairnhq/cairn/ledger"
)

// A body in the shape of a policy_decided envelope (its hashes and ids
// made up), the largest body of the submit path.
var sampleBody = []byte(`{"event":{"actor":"agent-7","data":{"decision":{"constraints":null,"decision":"ALLOW","decision_id":"dec_251f6d96534e94ed5822b647","default_rule":false,"evaluated_at":"2026-12-06T02:11:25.389110023Z","explanation":"rule reads-are-fine matched: action db.read matches db.read","job_hash":"3a28a30ede6e4fa44b39f36a916f84cae499f1a1618f549a5d05a1362d0624b6","job_id":"job-31-0","phase":"submit","policy_reason":"Read-only actions","policy_rule_id":"reads-are-fine","policy_snapshot":"cfg:system:policy#sha256:6a065ad1ee74f8bb7368b22db52432a28883162d182a881e91483ab7e35ac9fe","rules_tried":[{"matched":false,"rule_id":"prod-write-needs-approval","why":"action db.read does not match [db.write]"},{"matched":true,"rule_id":"reads-are-fine","why":"action db.read matches db.read"}]},"phase":"submit"},"decision":"ALLOW","job_hash":"3a28a30ede6e4fa44b39f36a916f84cae499f1a1618f549a5d05a1362d0624b6","job_id":"job-31-0","policy_rule_id":"reads-are-fine","policy_snapshot":"cfg:system:policy#sha256:6a065ad1ee74f8bb7368b22db52432a28883162d182a881e91483ab7e35ac9fe","run_id":"run-31-0","timestamp":"2026-12-06T02:11:25.389110023Z","type":"policy_decided","workflow_step_id":null},"index":5,"prev_hash":"c237374cf619059632bdbe1a9a10a4ee95b9897b302b8757fb4628b5c670babf","run_seq":3,"tenant":"default"}`)

// TestPackRoundTrip: Unpack returns exactly the bytes Pack was given, for
// bodies large and small, and compresses the submit path's bodies.
func TestPackRoundTrip(t *testing.T) {
	for _, body := range [][]byte{sampleBody, []byte(`{}`), []byte(`{"a":"` + strings.Repeat("\u00e9\\u0000x", 30000) + `"}`)} {
		stored, err := Pack(body)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(stored, zstdMagic) {
			t.Fatalf("stored form %x is not a zstd frame", stored[:8])
		}
		got, err := Unpack(stored)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("round trip of %d bytes: %d bytes back, %v", len(body), len(got), err)
		}
	}
	stored, _ := Pack(sampleBody)
	if len(stored) > len(sampleBody)/3 {
		t.Errorf("a %d-byte decision envelope packs to %d bytes, want at most a third", len(sampleBody), len(stored))
	}
}

// TestUnpackPlainAndCorrupt: a plain body (written before compression)
// reads back as it is; a damaged frame is an error, never other bytes.
func TestUnpackPlainAndCorrupt(t *testing.T) {
	if got, err := Unpack(sampleBody); err != nil || !bytes.Equal(got, sampleBody) {
		t.Fatalf("plain body: %v", err)
	}
	stored, _ := Pack(sampleBody)
	for _, i := range []int{len(stored) / 2, len(stored) - 2} {
		bad := bytes.Clone(stored)
		bad[i] ^= 0x40
		if got, err := Unpack(bad); err == nil {
			t.Errorf("frame damaged at byte %d unpacked to %d bytes without an error", i, len(got))
		}
	}
	if _, err := Unpack(stored[:len(stored)-5]); err == nil {
		t.Error("a truncated frame unpacked without an error")
	}
}

func BenchmarkPack(b *testing.B) {
	b.SetBytes(int64(len(sampleBody)))
	for b.Loop() {
		if _, err := Pack(sampleBody); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnpack(b *testing.B) {
	stored, _ := Pack(sampleBody)
	b.SetBytes(int64(len(sampleBody)))
	for b.Loop() {
		if _, err := Unpack(stored); err != nil {
			b.Fatal(err)
		}
	}
}

// TestEnvelopeFromPrefix: an envelope stored as the packed head made ahead
// of the transaction and its tail packed after it unpacks to exactly the
// envelope; a head made from other bytes is not used.
func TestEnvelopeFromPrefix(t *testing.T) {
	canon := []byte(`{"actor":"agent-7","job_id":"job-31-0","timestamp":"2026-12-06T02:11:25.389110023Z","type":"job_submitted","workflow_step_id":null}`)
	env, err := ledger.EnvelopeBody("default", 5, strings.Repeat("c2", 32), 3, canon)
	if err != nil {
		t.Fatal(err)
	}
	p, err := PackPrefix(canon)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := Envelope(p, env)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Unpack(stored); err != nil || !bytes.Equal(got, env) {
		t.Fatalf("envelope from a prefix unpacks to %q, %v", got, err)
	}
	if n := bytes.Count(stored, zstdMagic); n != 2 || !bytes.HasPrefix(stored, p.Frame) {
		t.Errorf("stored envelope holds %d frames, want the prefix's and the tail's", n)
	}
	other := bytes.Replace(canon, []byte("agent-7"), []byte("agent-8"), 1)
	stale, _ := PackPrefix(other)
	stored, err = Envelope(stale, env)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Unpack(stored); err != nil || !bytes.Equal(got, env) || bytes.HasPrefix(stored, stale.Frame) {
		t.Fatalf("envelope with a stale prefix unpacks to %q, %v", got, err)
	}
	if n := bytes.Count(stored, zstdMagic); n != 1 {
		t.Errorf("envelope with a stale prefix holds %d frames, want 1", n)
	}
}

func BenchmarkEnvelopeTail(b *testing.B) {
	i := bytes.Index(sampleBody, []byte(`,"index":`))
	canon := sampleBody[len(EnvelopeHead):i]
	p, _ := PackPrefix(canon)
	stored, _ := Envelope(p, sampleBody)
	b.Logf("head %d bytes, tail %d, the envelope as one frame %d", len(p.Frame), len(stored)-len(p.Frame), len(must(Pack(sampleBody))))
	for b.Loop() {
		if _, err := Envelope(p, sampleBody); err != nil {
			b.Fatal(err)
		}
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
